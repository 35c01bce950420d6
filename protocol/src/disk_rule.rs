//! Which disk a task may use: the rule a technician gives with `--disk`,
//! and the pure choice among the disks a client sees.
//!
//! A rule is a comma-separated list of conditions, all of which must hold:
//! `serial=S`, `wwn=W`, `name=vda` (kernel name), `size=MIN-MAX` (either
//! bound may be left out; units K, M, G, T as powers of 1024, or bytes).
//! No rule means "the only internal disk".
//!
//! The choice refuses rather than guesses: no match and more than one match
//! are both errors that list what was seen. USB and removable disks and the
//! boot medium are only chosen when the rule names the disk itself (by
//! serial, WWN or name); a size range alone never picks them.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Serial(String),
    Wwn(String),
    Name(String),
    Size { min: Option<u64>, max: Option<u64> },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiskRule {
    pub conditions: Vec<Condition>,
}

/// What the choice needs to know about one disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFacts {
    pub name: String,
    pub size_bytes: u64,
    pub serial: Option<String>,
    pub wwn: Option<String>,
    pub usb: bool,
    pub removable: bool,
    /// The medium the client itself booted or runs from.
    pub boot_medium: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiskRuleError {
    #[error("disk rule {rule:?}: {reason}")]
    Bad { rule: String, reason: String },
    #[error("no disk matches {rule}; seen: {seen}")]
    NoMatch { rule: String, seen: String },
    #[error("{count} disks match {rule} ({matches}); refusing to guess: give --disk serial=…, wwn=… or size=…")]
    Ambiguous {
        rule: String,
        count: usize,
        matches: String,
    },
}

impl DiskRule {
    pub fn parse(text: &str) -> Result<DiskRule, DiskRuleError> {
        let bad = |reason: String| DiskRuleError::Bad {
            rule: text.to_owned(),
            reason,
        };
        let mut conditions = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                bad(format!(
                    "{part:?} is not KEY=VALUE (serial, wwn, name or size)"
                ))
            })?;
            let value = value.trim();
            if value.is_empty() {
                return Err(bad(format!("{key} has no value")));
            }
            conditions.push(match key.trim() {
                "serial" => Condition::Serial(value.to_owned()),
                "wwn" => Condition::Wwn(value.to_owned()),
                "name" => Condition::Name(value.trim_start_matches("/dev/").to_owned()),
                "size" => {
                    let (lo, hi) = value.split_once('-').ok_or_else(|| {
                        bad(format!(
                            "size {value:?} is not MIN-MAX (say 100G-200G, 100G- or -200G)"
                        ))
                    })?;
                    let bound = |s: &str| -> Result<Option<u64>, DiskRuleError> {
                        let s = s.trim();
                        if s.is_empty() {
                            return Ok(None);
                        }
                        parse_size(s).map(Some).ok_or_else(|| {
                            bad(format!(
                                "size {s:?} is not a number with an optional K, M, G or T"
                            ))
                        })
                    };
                    let (min, max) = (bound(lo)?, bound(hi)?);
                    if let (Some(a), Some(b)) = (min, max) {
                        if a > b {
                            return Err(bad(format!("size range {value:?} is empty")));
                        }
                    }
                    Condition::Size { min, max }
                }
                other => {
                    return Err(bad(format!(
                        "unknown key {other:?}; use serial, wwn, name or size"
                    )))
                }
            });
        }
        Ok(DiskRule { conditions })
    }

    /// Whether the rule names one disk itself rather than describing it.
    fn identifies(&self) -> bool {
        self.conditions
            .iter()
            .any(|c| !matches!(c, Condition::Size { .. }))
    }

    fn matches(&self, d: &DiskFacts) -> bool {
        let eq = |have: &Option<String>, want: &str| {
            have.as_deref()
                .is_some_and(|h| h.trim().eq_ignore_ascii_case(want.trim()))
        };
        self.conditions.iter().all(|c| match c {
            Condition::Serial(s) => eq(&d.serial, s),
            Condition::Wwn(w) => eq(&d.wwn, w),
            Condition::Name(n) => d.name == *n,
            Condition::Size { min, max } => {
                min.is_none_or(|m| d.size_bytes >= m) && max.is_none_or(|m| d.size_bytes <= m)
            }
        })
    }
}

impl fmt::Display for DiskRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.conditions.is_empty() {
            return f.write_str("the only internal disk");
        }
        let parts: Vec<String> = self
            .conditions
            .iter()
            .map(|c| match c {
                Condition::Serial(s) => format!("serial={s}"),
                Condition::Wwn(w) => format!("wwn={w}"),
                Condition::Name(n) => format!("name={n}"),
                Condition::Size { min, max } => format!(
                    "size={}-{}",
                    min.map(|m| m.to_string()).unwrap_or_default(),
                    max.map(|m| m.to_string()).unwrap_or_default()
                ),
            })
            .collect();
        write!(f, "disk rule {}", parts.join(","))
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim_end_matches(['B', 'b']).trim_end_matches(['i', 'I']);
    let (digits, shift) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 10),
        'm' | 'M' => (&s[..s.len() - 1], 20),
        'g' | 'G' => (&s[..s.len() - 1], 30),
        't' | 'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()?
        .checked_mul(1u64 << shift)
}

fn describe(d: &DiskFacts) -> String {
    let mut s = format!("{} ({} bytes", d.name, d.size_bytes);
    if let Some(serial) = &d.serial {
        s.push_str(&format!(", serial {serial}"));
    }
    if d.usb {
        s.push_str(", USB");
    } else if d.removable {
        s.push_str(", removable");
    }
    if d.boot_medium {
        s.push_str(", boot medium");
    }
    s.push(')');
    s
}

/// Picks the one disk `rule` allows among `disks`, or says why none.
pub fn choose<'a>(rule: &DiskRule, disks: &'a [DiskFacts]) -> Result<&'a DiskFacts, DiskRuleError> {
    let explicit = rule.identifies();
    let matching: Vec<&DiskFacts> = disks
        .iter()
        .filter(|d| d.size_bytes > 0)
        .filter(|d| explicit || !(d.usb || d.removable || d.boot_medium))
        .filter(|d| rule.matches(d))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(DiskRuleError::NoMatch {
            rule: rule.to_string(),
            seen: if disks.is_empty() {
                "no disks at all".into()
            } else {
                disks.iter().map(describe).collect::<Vec<_>>().join(", ")
            },
        }),
        many => Err(DiskRuleError::Ambiguous {
            rule: rule.to_string(),
            count: many.len(),
            matches: many
                .iter()
                .map(|d| describe(d))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(name: &str, gib: u64, serial: &str) -> DiskFacts {
        DiskFacts {
            name: name.into(),
            size_bytes: gib << 30,
            serial: (!serial.is_empty()).then(|| serial.into()),
            wwn: None,
            usb: false,
            removable: false,
            boot_medium: false,
        }
    }

    #[test]
    fn parses_each_condition() {
        let r = DiskRule::parse("serial=ABC, size=100G-2T,name=/dev/sda,wwn=naa.5000").unwrap();
        assert_eq!(
            r.conditions,
            vec![
                Condition::Serial("ABC".into()),
                Condition::Size {
                    min: Some(100 << 30),
                    max: Some(2 << 40)
                },
                Condition::Name("sda".into()),
                Condition::Wwn("naa.5000".into()),
            ]
        );
        assert_eq!(
            DiskRule::parse("size=-512MiB").unwrap().conditions,
            vec![Condition::Size {
                min: None,
                max: Some(512 << 20)
            }]
        );
    }

    #[test]
    fn refuses_malformed_rules_naming_the_part() {
        for (bad, says) in [
            ("serial", "not KEY=VALUE"),
            ("colour=red", "unknown key \"colour\""),
            ("size=big", "not MIN-MAX"),
            ("size=1X-2G", "\"1X\" is not a number"),
            ("size=2G-1G", "empty"),
            ("serial=", "no value"),
        ] {
            let e = DiskRule::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_only_internal_disk_skips_usb_and_the_boot_medium() {
        let mut usb = disk("sdb", 16, "STICK");
        usb.usb = true;
        let mut boot = disk("sdc", 1, "BOOT");
        boot.boot_medium = true;
        let disks = [disk("sda", 500, "A"), usb, boot];
        assert_eq!(choose(&DiskRule::default(), &disks).unwrap().name, "sda");
    }

    #[test]
    fn two_identical_disks_are_refused_and_listed() {
        let disks = [disk("vda", 8, ""), disk("vdb", 8, "")];
        let e = choose(&DiskRule::default(), &disks)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 disks match the only internal disk"), "{e}");
        assert!(
            e.contains("vda (8589934592 bytes)") && e.contains("vdb"),
            "{e}"
        );
    }

    #[test]
    fn no_disk_at_all_is_refused() {
        let e = choose(&DiskRule::default(), &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "no disk matches the only internal disk; seen: no disks at all"
        );
    }

    #[test]
    fn a_size_range_never_picks_a_usb_stick_but_a_serial_may() {
        let mut usb = disk("sdb", 16, "STICK");
        usb.usb = true;
        let disks = [disk("sda", 500, "A"), usb];
        let range = DiskRule::parse("size=8G-32G").unwrap();
        assert!(matches!(
            choose(&range, &disks),
            Err(DiskRuleError::NoMatch { .. })
        ));
        let serial = DiskRule::parse("serial=stick").unwrap();
        assert_eq!(choose(&serial, &disks).unwrap().name, "sdb");
    }

    #[test]
    fn size_and_serial_pick_among_several() {
        let disks = [disk("sda", 250, "A"), disk("sdb", 1000, "B")];
        let big = DiskRule::parse("size=500G-").unwrap();
        assert_eq!(choose(&big, &disks).unwrap().name, "sdb");
        let a = DiskRule::parse("serial=A").unwrap();
        assert_eq!(choose(&a, &disks).unwrap().name, "sda");
        let empty_cd = DiskFacts {
            size_bytes: 0,
            ..disk("sr0", 0, "")
        };
        assert_eq!(
            choose(&DiskRule::default(), &[disks[0].clone(), empty_cd])
                .unwrap()
                .name,
            "sda"
        );
    }
}
