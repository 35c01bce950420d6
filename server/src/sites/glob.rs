//! `--images GLOB`: `*` matches any run of characters and `?` any one;
//! image names have no path separators, so nothing more is needed.

/// Whether `name` matches `pattern`, whole.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matching with one backtrack point: linear in practice,
    // never exponential.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks() {
        for (p, n, want) in [
            ("*", "win11-lab", true),
            ("win11-*", "win11-lab", true),
            ("win11-*", "win10-lab", false),
            ("*-lab", "win11-lab", true),
            ("w?n11*", "win11-lab", true),
            ("win11-lab", "win11-lab", true),
            ("win11-lab", "win11-lab2", false),
            ("*a*b*", "xaxxbx", true),
            ("*a*b", "xaxxbx", false),
            ("", "", true),
            ("", "x", false),
        ] {
            assert_eq!(matches(p, n), want, "{p} ~ {n}");
        }
    }
}
