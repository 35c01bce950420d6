//! Hostname patterns for restores: `--hostname lab-{mac}` or
//! `{group}-{n}` becomes one name per host, checked as an RFC 1123 host
//! label (RFC 1123 §2.1, RFC 952: letters, digits and hyphens, at most
//! 63, no hyphen first or last) so that every system it is written into
//! takes it. Windows's 15-character limit is the client's to check: only
//! it sees which systems the disk holds.

use marrow_protocol::MacAddr;

use crate::error::{Error, Result};

/// What a pattern's fields stand for, for one host.
#[derive(Debug, Clone)]
pub struct HostFacts<'a> {
    pub mac: MacAddr,
    /// Its registered name.
    pub name: Option<&'a str>,
    /// Its group (room).
    pub group: Option<&'a str>,
    /// Its place in its group, from 1, by name and then MAC.
    pub n: Option<usize>,
}

/// The fields a pattern may use.
pub const FIELDS: &str = "{host}, {mac}, {group} and {n}";

/// `pattern` with its fields filled in for `host`, checked.
pub fn expand(pattern: &str, host: &HostFacts<'_>) -> Result<String> {
    let bad = |why: String| Error::Usage(format!("hostname pattern {pattern:?}: {why}"));
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| bad("a '{' is not closed".into()))?;
        let field = &after[..close];
        let value = match field {
            "host" => host.name.map(str::to_string).ok_or_else(|| {
                bad(format!(
                    "host {} has no name; give it one with `marrow host add {} --name NAME`",
                    host.mac, host.mac
                ))
            })?,
            "mac" => host.mac.to_string().replace(':', ""),
            "group" => host
                .group
                .map(str::to_string)
                .ok_or_else(|| bad(format!("host {} is in no group", host.mac)))?,
            "n" => host
                .n
                .map(|n| n.to_string())
                .ok_or_else(|| bad(format!("host {} is in no group to count in", host.mac)))?,
            other => return Err(bad(format!("unknown field {{{other}}}; use {FIELDS}"))),
        };
        out.push_str(&value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    check(&out).map_err(|why| bad(format!("gives {out:?} for host {}, {why}", host.mac)))?;
    Ok(out)
}

/// Checks a pattern before any host is known: its fields are known and
/// its fixed text is of label characters.
pub fn check_pattern(pattern: &str) -> Result<()> {
    let sample = HostFacts {
        mac: MacAddr([0x52, 0x54, 0, 0, 0, 1]),
        name: Some("h"),
        group: Some("g"),
        n: Some(1),
    };
    expand(pattern, &sample).map(|_| ())
}

/// A name's sort key as people count: case left aside, and runs of
/// digits by their value, so `pc-2` comes before `PC-10`.
pub fn natural_key(name: &str) -> Vec<(u64, String)> {
    let mut key = Vec::new();
    let mut text = String::new();
    let mut digits = String::new();
    for c in name.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            key.push((0, std::mem::take(&mut text)));
            key.push((digits.parse().unwrap_or(u64::MAX), String::new()));
            digits.clear();
        }
        if c != '\0' {
            text.extend(c.to_lowercase());
        }
    }
    key.push((0, text));
    key
}

/// Why `name` is no RFC 1123 host label, or `Ok`.
fn check(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err("which is not 1 to 63 characters".into());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("which holds characters other than letters, digits and '-'".into());
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("which starts or ends with '-'".into());
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err("which is all digits".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts<'static> {
        HostFacts {
            mac: "52:54:00:ab:cd:07".parse().unwrap(),
            name: Some("lab-07"),
            group: Some("room-b"),
            n: Some(3),
        }
    }

    #[test]
    fn each_field_is_filled_in() {
        assert_eq!(expand("{host}", &facts()).unwrap(), "lab-07");
        assert_eq!(expand("lab-{mac}", &facts()).unwrap(), "lab-525400abcd07");
        assert_eq!(expand("{group}-{n}", &facts()).unwrap(), "room-b-3");
        assert_eq!(expand("fixed", &facts()).unwrap(), "fixed");
    }

    #[test]
    fn what_a_host_lacks_is_named() {
        let bare = HostFacts {
            name: None,
            group: None,
            n: None,
            ..facts()
        };
        let e = expand("{host}", &bare).unwrap_err().to_string();
        assert!(e.contains("has no name"), "{e}");
        let e = expand("{group}-{n}", &bare).unwrap_err().to_string();
        assert!(e.contains("in no group"), "{e}");
    }

    #[test]
    fn names_sort_as_people_count() {
        let mut names = vec!["pc-10", "PC-2", "pc-1", "lab"];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, ["lab", "pc-1", "PC-2", "pc-10"]);
    }

    #[test]
    fn bad_patterns_and_results_are_refused() {
        for (bad, why) in [
            ("{hots}", "unknown field {hots}"),
            ("lab-{mac", "not closed"),
            ("lab_{n}", "other than letters"),
            ("-{n}", "starts or ends"),
            ("{n}", "all digits"),
            ("", "1 to 63"),
        ] {
            let e = expand(bad, &facts()).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let long = format!("{}{{mac}}", "x".repeat(60));
        assert!(expand(&long, &facts()).is_err());
        assert!(check_pattern("{group}-{n}").is_ok());
        assert!(check_pattern("a b").is_err());
    }
}
