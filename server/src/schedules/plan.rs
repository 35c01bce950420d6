//! When a schedule is due, on the caller's clock: the pure half of the
//! scheduler. Cron patterns are evaluated by `croner` in the schedule's
//! time zone (`chrono-tz`), which also settles DST: a fixed time that
//! falls into the spring-forward gap runs at the first instant after it,
//! and one that the fall-back hour repeats runs once.

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The most occurrences looked at in one span (a server down for a year
/// on a once-a-minute pattern need not list each).
const MAX_SPAN: usize = 10_000;

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// A cron pattern (5 fields, or 6 with seconds) in a time zone; `None`
    /// is the server's local zone.
    Cron { pattern: String, tz: Option<String> },
    /// Once, at this Unix time.
    At(i64),
}

/// What to do with a due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Run,
    /// Past its grace period, or superseded by a later due time.
    Missed,
}

pub fn zone(tz: &str) -> Result<Tz> {
    Tz::from_str(tz).map_err(|_| {
        Error::Usage(format!(
            "time zone {tz:?}: give an IANA name such as Europe/Paris or UTC"
        ))
    })
}

fn cron(pattern: &str) -> Result<Cron> {
    Cron::from_str(pattern).map_err(|e| Error::Usage(format!("cron pattern {pattern:?}: {e}")))
}

impl When {
    /// Checks the pattern and zone.
    pub fn check(&self) -> Result<()> {
        if let When::Cron { pattern, tz } = self {
            cron(pattern)?;
            if let Some(tz) = tz {
                zone(tz)?;
            }
        }
        Ok(())
    }

    /// The due times in `(after, upto]`, oldest first.
    pub fn due_between(&self, after: i64, upto: i64) -> Result<Vec<i64>> {
        match self {
            When::At(t) => Ok((after < *t && *t <= upto)
                .then_some(*t)
                .into_iter()
                .collect()),
            When::Cron { pattern, tz } => {
                let c = cron(pattern)?;
                match tz {
                    Some(tz) => Ok(span(&c, &zone(tz)?, after, upto)),
                    None => Ok(span(&c, &chrono::Local, after, upto)),
                }
            }
        }
    }

    /// The next `n` due times after `now`.
    pub fn next(&self, now: i64, n: usize) -> Result<Vec<i64>> {
        match self {
            When::At(t) => Ok((*t > now).then_some(*t).into_iter().collect()),
            When::Cron { pattern, tz } => {
                let c = cron(pattern)?;
                match tz {
                    Some(tz) => Ok(upcoming(&c, &zone(tz)?, now, n)),
                    None => Ok(upcoming(&c, &chrono::Local, now, n)),
                }
            }
        }
    }

    /// `cron 0 22 * * 1-5 (Europe/Paris)` or `at 2026-12-24 17:00:00 UTC`.
    pub fn describe(&self) -> String {
        match self {
            When::Cron { pattern, tz } => format!(
                "cron {pattern} ({})",
                tz.as_deref().unwrap_or("server local time")
            ),
            When::At(t) => format!("at {}", crate::when::format_time(*t)) + " UTC",
        }
    }
}

fn start<Z: TimeZone>(zone: &Z, t: i64) -> DateTime<Z> {
    Utc.timestamp_opt(t, 0)
        .single()
        .unwrap_or_default()
        .with_timezone(zone)
}

fn span<Z: TimeZone>(c: &Cron, zone: &Z, after: i64, upto: i64) -> Vec<i64>
where
    Z::Offset: Copy,
{
    c.iter_after(start(zone, after))
        .map(|t| t.timestamp())
        .take_while(|t| *t <= upto)
        .take(MAX_SPAN)
        .collect()
}

fn upcoming<Z: TimeZone>(c: &Cron, zone: &Z, now: i64, n: usize) -> Vec<i64>
where
    Z::Offset: Copy,
{
    c.iter_after(start(zone, now))
        .map(|t| t.timestamp())
        .take(n)
        .collect()
}

/// The latest due time still within `grace` of `now` runs; every other
/// is missed, so a server that was down runs a schedule once, not once per
/// due time it slept through.
pub fn decide(dues: &[i64], now: i64, grace: i64) -> Vec<(i64, Decision)> {
    let last = dues.iter().copied().filter(|d| now - d <= grace).max();
    dues.iter()
        .map(|&d| {
            let run = Some(d) == last;
            (d, if run { Decision::Run } else { Decision::Missed })
        })
        .collect()
}

/// `2026-12-24T18:00[:SS]` in `tz` (or the server's zone), or with a
/// trailing `Z` in UTC, to Unix seconds. A time the zone skips (the DST
/// gap) is refused; one it repeats is the first.
pub fn at_in_zone(s: &str, tz: Option<&str>) -> Result<i64> {
    let bad = || {
        Error::Usage(format!(
            "--at {s:?}: give a time such as 2026-12-24T18:00 (in --tz, or the server's zone) or 2026-12-24T17:00Z"
        ))
    };
    let (text, utc) = match s.strip_suffix('Z') {
        Some(t) => (t, true),
        None => (s, false),
    };
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .map_err(|_| bad())?;
    let local = |r: chrono::LocalResult<i64>| {
        r.earliest().ok_or_else(|| {
            Error::Usage(format!(
                "--at {s:?}: that time does not exist there (a DST gap)"
            ))
        })
    };
    if utc {
        return Ok(Utc.from_utc_datetime(&naive).timestamp());
    }
    match tz {
        Some(tz) => local(zone(tz)?.from_local_datetime(&naive).map(|t| t.timestamp())),
        None => local(
            chrono::Local
                .from_local_datetime(&naive)
                .map(|t| t.timestamp()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> i64 {
        at_in_zone(s, Some("UTC")).unwrap()
    }

    fn paris(pattern: &str) -> When {
        When::Cron {
            pattern: pattern.into(),
            tz: Some("Europe/Paris".into()),
        }
    }

    #[test]
    fn weekday_evenings_in_paris_are_22_00_local_across_the_autumn_change() {
        // Europe/Paris leaves summer time on Sunday 2026-10-25 at 03:00.
        let w = paris("0 22 * * 1-5");
        let due = w
            .due_between(utc("2026-10-22T00:00"), utc("2026-10-28T00:00"))
            .unwrap();
        assert_eq!(
            due,
            vec![
                utc("2026-10-22T20:00"), // Thursday, UTC+2
                utc("2026-10-23T20:00"), // Friday
                utc("2026-10-26T21:00"), // Monday, UTC+1
                utc("2026-10-27T21:00"),
            ]
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_runs_once_after_it_and_the_repeated_hour_runs_once() {
        // 2026-03-29 02:30 does not exist in Paris (02:00 → 03:00).
        let gap = paris("30 2 * * *")
            .due_between(utc("2026-03-28T12:00"), utc("2026-03-30T12:00"))
            .unwrap();
        assert_eq!(
            gap,
            vec![
                utc("2026-03-29T01:00"), // 03:00 CEST, the first instant after the gap
                utc("2026-03-30T00:30"), // 02:30 CEST
            ]
        );
        // 2026-10-25 02:30 happens twice in Paris.
        let twice = paris("30 2 * * *")
            .due_between(utc("2026-10-24T12:00"), utc("2026-10-25T12:00"))
            .unwrap();
        assert_eq!(twice.len(), 1, "{twice:?}");
    }

    #[test]
    fn a_server_down_past_the_grace_records_a_miss_and_within_it_runs_once() {
        let w = When::Cron {
            pattern: "0 * * * *".into(),
            tz: Some("UTC".into()),
        };
        let dues = w
            .due_between(utc("2026-12-01T09:30"), utc("2026-12-01T12:20"))
            .unwrap();
        assert_eq!(dues.len(), 3);
        let now = utc("2026-12-01T12:20");
        let d = decide(&dues, now, 3600);
        assert_eq!(
            d,
            vec![
                (utc("2026-12-01T10:00"), Decision::Missed),
                (utc("2026-12-01T11:00"), Decision::Missed),
                (utc("2026-12-01T12:00"), Decision::Run),
            ]
        );
        // Down for longer than the grace: nothing runs.
        let late = utc("2026-12-01T13:30");
        assert!(decide(&dues, late, 3600)
            .iter()
            .all(|(_, d)| *d == Decision::Missed));
    }

    #[test]
    fn a_one_shot_is_due_once_and_bad_patterns_and_zones_are_refused() {
        let t = utc("2026-12-24T17:00");
        let w = When::At(t);
        assert_eq!(w.due_between(t - 1, t).unwrap(), vec![t]);
        assert!(w.due_between(t, t + 100).unwrap().is_empty());
        assert_eq!(
            at_in_zone("2026-12-24T18:00", Some("Europe/Paris")).unwrap(),
            t
        );
        assert_eq!(at_in_zone("2026-12-24T17:00Z", None).unwrap(), t);
        assert!(at_in_zone("2026-03-29T02:30", Some("Europe/Paris")).is_err());
        assert!(at_in_zone("tomorrow", None).is_err());
        assert!(paris("0 25 * * *").check().is_err());
        assert!(When::Cron {
            pattern: "0 22 * * *".into(),
            tz: Some("Mars/Olympus".into())
        }
        .check()
        .is_err());
        assert_eq!(
            paris("0 22 * * 1-5")
                .next(utc("2026-12-04T22:00"), 1)
                .unwrap(),
            vec![utc("2026-12-07T21:00")]
        );
    }
}
