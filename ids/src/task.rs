//! A task's id: the `tasks` row id, shown to the technician and passed to
//! the client as `marrow.task=`.

use std::fmt;
use std::str::FromStr;

use crate::error::IdError;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct TaskId(pub i64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TaskId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        s.parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(TaskId)
            .ok_or_else(|| IdError::NotTaskId {
                value: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positive_numbers_only_and_names_the_bad_text() {
        assert_eq!("17".parse::<TaskId>(), Ok(TaskId(17)));
        for bad in ["0", "-3", "x", ""] {
            let err = bad.parse::<TaskId>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn serializes_as_a_bare_number() {
        assert_eq!(serde_json::to_string(&TaskId(5)).unwrap(), "5");
        assert_eq!(serde_json::from_str::<TaskId>("5").unwrap(), TaskId(5));
    }
}
