//! `--bandwidth`: a token bucket over the bytes a pull reads. Pure, on the
//! caller's clock: `take` says how long to wait before the bytes may count
//! as sent, and the driver sleeps that long.

use std::time::Duration;

#[derive(Debug)]
pub struct TokenBucket {
    /// Bytes per second.
    rate: f64,
    /// The most that may be spent at once: a tenth of a second of rate,
    /// so the cap holds over any stretch longer than that.
    burst: f64,
    tokens: f64,
    last: f64,
}

impl TokenBucket {
    /// A bucket for `bits_per_sec`, full at time `now` (seconds).
    pub fn new(bits_per_sec: u64, now: f64) -> TokenBucket {
        let rate = bits_per_sec as f64 / 8.0;
        TokenBucket {
            rate,
            burst: rate / 10.0,
            tokens: rate / 10.0,
            last: now,
        }
    }

    /// Spends `bytes` at `now`; the wait before that is within the rate
    /// (zero when tokens were there). The debt is kept, so a wait is never
    /// skipped by asking again.
    pub fn take(&mut self, bytes: usize, now: f64) -> Duration {
        let elapsed = (now - self.last).max(0.0);
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_keeps_to_the_rate_on_virtual_time() {
        // 20 Mbit/s = 2.5 MB/s; read 64 KiB at a time for 10 s of bytes.
        let mut b = TokenBucket::new(20_000_000, 0.0);
        let mut now = 0.0;
        let mut sent = 0usize;
        while sent < 25_000_000 {
            now += b.take(65_536, now).as_secs_f64();
            sent += 65_536;
        }
        let rate = sent as f64 * 8.0 / now;
        assert!((rate - 20e6).abs() / 20e6 < 0.02, "{rate}");
    }

    #[test]
    fn idle_time_buys_only_a_burst() {
        let mut b = TokenBucket::new(8_000_000, 0.0);
        // After an hour idle, 1 MB is not free: only 0.1 s of rate is.
        let wait = b.take(1_000_000, 3600.0);
        assert!((wait.as_secs_f64() - 0.9).abs() < 1e-6, "{wait:?}");
    }
}
