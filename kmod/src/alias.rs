//! Linux `modules.alias`: which kernel modules claim a device's modalias.
//!
//! `depmod` writes one line per alias a module declares,
//! `alias <pattern> <module>`, where the pattern is an `fnmatch(3)` glob over
//! the modalias string the kernel exposes in `/sys/devices/.../modalias`
//! (for PCI: `pci:v{vendor}d{device}sv{subvendor}sd{subdevice}bc{class}sc{subclass}i{prog-if}`).
//! `modprobe` matches the device's modalias against every pattern with
//! `fnmatch(pattern, modalias, 0)`, so `*`, `?`, `[...]` and `\` escapes all
//! apply and `*` also crosses `/` (kmod `libkmod/libkmod-index.c`,
//! `index_searchwild`).
//!
//! This module is pure: it parses text and matches strings. Reading
//! `modules.alias` and `/sys` is the caller's business.

use crate::error::ModulesError;

type Result<T> = std::result::Result<T, ModulesError>;

/// One `alias` line of `modules.alias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The glob, as written in the file.
    pub pattern: String,
    /// The module that claims the devices the pattern matches.
    pub module: String,
    /// 1-based line number in the file, for error messages and reasons.
    pub line: usize,
    /// The pattern after kmod's `-` → `_` normalisation, used for matching.
    normalized: Vec<char>,
}

/// Every alias of a `modules.alias` file, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AliasTable {
    aliases: Vec<Alias>,
}

impl AliasTable {
    /// Parses the text of a `modules.alias` file.
    ///
    /// Blank lines and lines starting with `#` are skipped. Every other line
    /// must be `alias <pattern> <module>`; anything else is an error naming
    /// the line, because a truncated or foreign file would otherwise silently
    /// match nothing.
    pub fn parse(text: &str) -> Result<AliasTable> {
        let mut aliases = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let bad = |reason| ModulesError::Alias {
                line,
                reason,
                text: raw.to_string(),
            };
            let mut words = trimmed.split_whitespace();
            match words.next() {
                Some("alias") => {}
                _ => return Err(bad("not an alias line")),
            }
            let pattern = words.next().ok_or_else(|| bad("alias without a pattern"))?;
            let module = words
                .next()
                .ok_or_else(|| bad("alias without a module name"))?;
            if words.next().is_some() {
                return Err(bad("text after the module name"));
            }
            aliases.push(Alias {
                pattern: pattern.to_string(),
                module: module.to_string(),
                line,
                normalized: normalize(pattern),
            });
        }
        Ok(AliasTable { aliases })
    }

    /// All aliases, in file order.
    pub fn aliases(&self) -> &[Alias] {
        &self.aliases
    }

    /// The aliases whose pattern matches `modalias`, in file order.
    pub fn matching_aliases<'a>(&'a self, modalias: &str) -> impl Iterator<Item = &'a Alias> {
        let wanted = normalize(modalias.trim());
        self.aliases
            .iter()
            .filter(move |alias| fnmatch(&alias.normalized, &wanted))
    }

    /// The modules whose aliases match `modalias`, in file order, each once.
    pub fn matching_modules(&self, modalias: &str) -> Vec<&str> {
        let mut modules: Vec<&str> = Vec::new();
        for alias in self.matching_aliases(modalias) {
            if !modules.contains(&alias.module.as_str()) {
                modules.push(&alias.module);
            }
        }
        modules
    }
}

/// kmod's `alias_normalize`: `-` becomes `_` outside `[...]`, because module
/// and alias names treat the two as the same (`libkmod/libkmod-util.c`).
/// depmod applies it to the patterns it writes into `modules.alias.bin` and
/// modprobe to the name it looks up, so both sides get it here too.
fn normalize(text: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut in_bracket = false;
    for c in text.chars() {
        match c {
            '[' => in_bracket = true,
            ']' => in_bracket = false,
            '-' if !in_bracket => {
                out.push('_');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// `fnmatch(pattern, text, 0)` as glibc implements it for the subset kmod
/// patterns use: `*`, `?`, bracket expressions with `!`/`^` negation and
/// ranges, and `\` escapes. With flags 0, `*` and `?` also match `/` and a
/// leading `.`.
fn fnmatch(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, text index).
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some('*') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match bracket(&pattern[p..], text[t]) {
                Bracket::Match(len) => Some(len),
                Bracket::NoMatch => None,
                // An unterminated `[` is an ordinary character (POSIX).
                Bracket::Literal => (text[t] == '[').then_some(1),
            },
            Some('\\') if p + 1 < pattern.len() => (pattern[p + 1] == text[t]).then_some(2),
            Some(&c) => (c == text[t]).then_some(1),
            None => None,
        };
        match step {
            Some(len) => {
                p += len;
                t += 1;
            }
            None => match star {
                // Let the last `*` swallow one more character and retry.
                Some((after, from)) => {
                    p = after;
                    t = from + 1;
                    star = Some((after, from + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

enum Bracket {
    /// The bracket expression matched; it is this many pattern chars long.
    Match(usize),
    NoMatch,
    /// No closing `]`: the `[` stands for itself.
    Literal,
}

/// Matches one character against the bracket expression at the start of
/// `pattern` (which begins with `[`).
fn bracket(pattern: &[char], c: char) -> Bracket {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let Some(&lo) = pattern.get(i) else {
            return Bracket::Literal;
        };
        // A `]` right after `[` or `[!` is a member, not the end (POSIX).
        if lo == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let (lo, next) = if lo == '\\' && i + 1 < pattern.len() {
            (pattern[i + 1], i + 2)
        } else {
            (lo, i + 1)
        };
        if pattern.get(next) == Some(&'-') && pattern.get(next + 1).is_some_and(|&h| h != ']') {
            let hi = pattern[next + 1];
            if lo <= c && c <= hi {
                matched = true;
            }
            i = next + 2;
        } else {
            if lo == c {
                matched = true;
            }
            i = next;
        }
    }
    if matched != negate {
        Bracket::Match(i)
    } else {
        Bracket::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str, text: &str) -> bool {
        fnmatch(
            &pattern.chars().collect::<Vec<_>>(),
            &text.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn star_matches_any_run_including_empty() {
        assert!(glob("pci:v*d*", "pci:vd"));
        assert!(glob("pci:v*d*", "pci:v00008086d0000100E"));
        assert!(!glob("pci:v*d", "pci:v00008086d0000100E"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
    }

    #[test]
    fn star_crosses_slashes_as_fnmatch_without_flags_does() {
        assert!(glob("of:N*T*", "of:N/soc/uartT<NULL>"));
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        assert!(glob("d0?", "d01"));
        assert!(!glob("d0?", "d0"));
        assert!(!glob("d0?", "d012"));
    }

    #[test]
    fn bracket_ranges_and_negation_match_like_fnmatch() {
        assert!(glob("d0[0-2]*", "d01xx"));
        assert!(!glob("d0[0-2]*", "d03xx"));
        assert!(glob("d0[!0-2]", "d03"));
        assert!(glob("d0[^0-2]", "d03"));
        assert!(!glob("d0[!0-2]", "d01"));
        assert!(glob("x[]]", "x]"));
        assert!(glob("x[abc]y", "xby"));
    }

    #[test]
    fn unterminated_bracket_is_a_literal() {
        assert!(glob("a[b", "a[b"));
        assert!(!glob("a[b", "ab"));
    }

    #[test]
    fn backslash_escapes_the_next_character() {
        assert!(glob(r"a\*b", "a*b"));
        assert!(!glob(r"a\*b", "axb"));
    }

    #[test]
    fn dashes_and_underscores_are_the_same_outside_brackets() {
        let table = AliasTable::parse("alias crypto-twofish twofish_generic\n").unwrap();
        assert_eq!(
            table.matching_modules("crypto_twofish"),
            ["twofish_generic"]
        );
        assert_eq!(
            table.matching_modules("crypto-twofish"),
            ["twofish_generic"]
        );
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let table = AliasTable::parse("# header\n\n   \nalias a b\n").unwrap();
        assert_eq!(table.aliases().len(), 1);
        assert_eq!(table.aliases()[0].line, 4);
    }

    #[test]
    fn matching_modules_are_in_file_order_and_deduplicated() {
        let table = AliasTable::parse(
            "alias pci:v00001AF4d* virtio_pci\nalias pci:v*d00001000* other\nalias pci:v00001AF4d00001000 virtio_pci\n",
        )
        .unwrap();
        assert_eq!(
            table.matching_modules("pci:v00001AF4d00001000"),
            ["virtio_pci", "other"]
        );
    }

    #[test]
    fn a_line_that_is_not_an_alias_is_rejected_with_its_line_number() {
        let err = AliasTable::parse("alias a b\noptions e1000 x=1\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
