//! The clock: tokens, schedules, TLS certificates and signed images all
//! read it. A clock behind this binary's own build is certainly wrong; an
//! unsynchronized one may drift.

use super::Finding;

pub fn check() -> Finding {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let built = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    judge(now, built, crate::sys::clock_synchronized())
}

/// `built`: when this binary was written; `synchronized`: the kernel's
/// view (adjtimex), `None` when it could not be asked.
pub fn judge(now: i64, built: Option<i64>, synchronized: Option<bool>) -> Finding {
    if let Some(b) = built.filter(|b| now + 86_400 < *b) {
        return Finding::fail(
            "clock",
            format!(
                "the time is {} days before this binary was installed",
                (b - now) / 86_400
            ),
            "set the clock (and enable NTP): tokens, schedules and certificates depend on it",
        );
    }
    match synchronized {
        Some(true) => Finding::ok("clock", "synchronized"),
        Some(false) => Finding::warn(
            "clock",
            "not synchronized (the kernel says so)",
            "enable NTP (systemd-timesyncd or chrony), so schedules run on time",
        ),
        None => Finding::ok("clock", "plausible (synchronization unknown)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn a_clock_behind_the_build_fails_and_an_unsynced_one_warns() {
        let built = 1_800_000_000;
        let f = judge(built - 10 * 86_400, Some(built), Some(true));
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("10 days"), "{}", f.detail);
        assert_eq!(judge(built + 5, Some(built), Some(true)).status, Status::Ok);
        assert_eq!(
            judge(built + 5, Some(built), Some(false)).status,
            Status::Warn
        );
        assert_eq!(judge(built + 5, None, None).status, Status::Ok);
    }
}
