//! When a waiting session starts: a pure decision on its rules, its
//! members and the time.
//!
//! A session starts when any rule holds: `--min-receivers N` receivers
//! have joined, `--max-wait` has passed since the first joined, the time
//! `--at` has come, or `marrow session start` asked for it. Without any
//! rule given, it starts once every member has joined, or 10 minutes after
//! the first did; with `--at` alone, at that time only (the members are
//! woken then, and join the running carousel as they boot).

use crate::db::StartPolicyRow;

/// `--max-wait` when no rule is given.
pub const DEFAULT_MAX_WAIT_SECS: i64 = 600;

/// What the members are doing, as far as the start is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Member tasks still active (pending or running).
    pub members: usize,
    /// Of those, the ones whose client has joined.
    pub joined: usize,
    /// When the first client joined (Unix seconds).
    pub first_join: Option<i64>,
}

/// Starts now, saying why, or waits.
pub fn start_reason(
    rules: &StartPolicyRow,
    requested: bool,
    room: Room,
    now: i64,
) -> Option<String> {
    if requested {
        return Some("started by `marrow session start`".into());
    }
    if let Some(at) = rules.start_at {
        if now >= at {
            return Some("its start time (--at) came".into());
        }
    }
    let explicit = rules.min_receivers.is_some() || rules.max_wait_secs.is_some();
    let only_at = rules.start_at.is_some() && !explicit;
    if only_at {
        return None;
    }
    match rules.min_receivers {
        Some(n) if room.joined >= n as usize => {
            return Some(format!(
                "{} receivers joined (--min-receivers {n})",
                room.joined
            ));
        }
        None if room.members > 0 && room.joined >= room.members => {
            return Some(format!("all {} members joined", room.members));
        }
        _ => {}
    }
    let max_wait = rules.max_wait_secs.unwrap_or(DEFAULT_MAX_WAIT_SECS);
    if let Some(first) = room.first_join {
        if now - first >= max_wait {
            return Some(format!(
                "{} s passed since the first receiver joined (--max-wait), with {} of {} joined",
                now - first,
                room.joined,
                room.members
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(members: usize, joined: usize, first_join: Option<i64>) -> Room {
        Room {
            members,
            joined,
            first_join,
        }
    }

    #[test]
    fn by_default_all_members_or_ten_minutes_after_the_first() {
        let rules = StartPolicyRow::default();
        assert_eq!(
            start_reason(&rules, false, room(3, 2, Some(100)), 200),
            None
        );
        let all = start_reason(&rules, false, room(3, 3, Some(100)), 200).unwrap();
        assert!(all.contains("all 3 members"), "{all}");
        let late = start_reason(&rules, false, room(3, 1, Some(100)), 700).unwrap();
        assert!(
            late.contains("--max-wait") && late.contains("1 of 3"),
            "{late}"
        );
        assert_eq!(start_reason(&rules, false, room(3, 0, None), 10_000), None);
    }

    #[test]
    fn min_receivers_and_max_wait_as_given() {
        let rules = StartPolicyRow {
            min_receivers: Some(2),
            max_wait_secs: Some(30),
            start_at: None,
        };
        assert_eq!(start_reason(&rules, false, room(4, 1, Some(0)), 29), None);
        assert!(start_reason(&rules, false, room(4, 2, Some(0)), 5)
            .unwrap()
            .contains("--min-receivers 2"));
        assert!(start_reason(&rules, false, room(4, 1, Some(0)), 30)
            .unwrap()
            .contains("--max-wait"));
        // With --min-receivers given, all members joining is not a rule.
        let rules = StartPolicyRow {
            min_receivers: Some(5),
            ..rules
        };
        assert_eq!(start_reason(&rules, false, room(4, 4, Some(0)), 10), None);
    }

    #[test]
    fn at_alone_waits_for_its_time_and_start_always_wins() {
        let rules = StartPolicyRow {
            start_at: Some(1000),
            ..StartPolicyRow::default()
        };
        assert_eq!(start_reason(&rules, false, room(2, 2, Some(0)), 999), None);
        assert!(start_reason(&rules, false, room(2, 0, None), 1000)
            .unwrap()
            .contains("--at"));
        assert!(start_reason(&rules, true, room(2, 0, None), 0)
            .unwrap()
            .contains("session start"));
    }
}
