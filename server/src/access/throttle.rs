//! Login throttling, on the caller's clock: after [`FREE_FAILURES`]
//! failed logins for one name, each next attempt waits a delay that
//! doubles with every failure, up to [`MAX_DELAY`]. A success forgets the
//! name. Kept in memory: a restart forgives, which an attacker cannot
//! trigger from outside.

use std::collections::HashMap;

pub const FREE_FAILURES: u32 = 5;
/// Seconds.
pub const MAX_DELAY: i64 = 15 * 60;
/// Seconds: the wait after the first failure past the free ones.
pub const FIRST_DELAY: i64 = 30;

#[derive(Debug, Default)]
pub struct Throttle {
    failures: HashMap<String, (u32, i64)>,
}

impl Throttle {
    /// `Err(seconds)` to wait before `name` may try again at `now`.
    pub fn check(&self, name: &str, now: i64) -> Result<(), i64> {
        let Some(&(count, last)) = self.failures.get(&key(name)) else {
            return Ok(());
        };
        let delay = delay_after(count);
        let ready = last + delay;
        if now < ready {
            Err(ready - now)
        } else {
            Ok(())
        }
    }

    pub fn failed(&mut self, name: &str, now: i64) {
        let entry = self.failures.entry(key(name)).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
    }

    pub fn succeeded(&mut self, name: &str) {
        self.failures.remove(&key(name));
    }
}

/// Names are case-insensitive, as the users table is.
fn key(name: &str) -> String {
    name.to_lowercase()
}

/// The wait after `count` consecutive failures: none for the first five,
/// then [`FIRST_DELAY`], doubling. The first wait is long enough that a
/// guesser gets a handful of tries a minute, not one a second, and that a
/// slow password check cannot outlast it.
pub fn delay_after(count: u32) -> i64 {
    match count.checked_sub(FREE_FAILURES) {
        None => 0,
        Some(extra) => FIRST_DELAY
            .checked_shl(extra.min(30))
            .unwrap_or(MAX_DELAY)
            .min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_are_free_then_the_wait_doubles_and_a_success_resets() {
        let mut t = Throttle::default();
        for i in 0..5 {
            assert_eq!(t.check("Alice", 100 + i), Ok(()), "attempt {i}");
            t.failed("alice", 100 + i);
        }
        // The fifth failure was at 104: thirty seconds to wait.
        assert_eq!(t.check("alice", 104), Err(30));
        assert_eq!(t.check("alice", 133), Err(1));
        assert_eq!(t.check("alice", 134), Ok(()));
        t.failed("alice", 134);
        assert_eq!(t.check("ALICE", 134), Err(60));
        t.failed("alice", 194);
        assert_eq!(t.check("alice", 194), Err(120));
        assert_eq!(t.check("bob", 194), Ok(()));
        t.succeeded("alice");
        assert_eq!(t.check("alice", 194), Ok(()));
    }

    #[test]
    fn the_wait_stops_growing_at_the_cap() {
        assert_eq!(delay_after(4), 0);
        assert_eq!(delay_after(5), 30);
        assert_eq!(delay_after(9), 480);
        assert_eq!(delay_after(10), MAX_DELAY);
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }
}
