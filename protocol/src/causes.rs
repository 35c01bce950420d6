//! How both binaries print a failure: the error, then each cause that adds
//! something. Library errors often end their message with their source's
//! (`store X: chunk Y missing`), and printing that source again as a
//! "caused by" line only repeats it.

use std::error::Error;

/// The lines to print after the error's own message: each cause whose text
/// is not already part of what came before.
pub fn causes(err: &(dyn Error + 'static)) -> Vec<String> {
    let mut shown = err.to_string();
    let mut out = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !shown.contains(&text) {
            shown.push('\n');
            shown.push_str(&text);
            out.push(text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);

    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for E {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let inner = E("permission denied", None);
        let repeated = E("store /srv: permission denied", Some(Box::new(inner)));
        assert!(causes(&repeated).is_empty());
        let new = E("capture failed", Some(Box::new(E("disk gone", None))));
        assert_eq!(causes(&new), vec!["disk gone"]);
    }
}
