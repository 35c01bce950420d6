//! The sender's rate: start at the cap, back off when the room loses
//! packets, probe back up when it does not.
//!
//! Reliable-multicast stacks ship timid defaults (NORM 64 kbit/s, UFTP
//! 1 Mbit/s) and stall under their own congestion control; on a clean LAN
//! the right start is near the cap. The signal is the room's loss, taken
//! as the median over the receivers still on multicast: loss at one
//! receiver (a bad port, a slow disk) is that receiver's problem, which
//! FEC and the unicast fallback deal with, while loss at most of them
//! means the sender is too fast for the network or the receivers.

/// Room loss above which the rate backs off.
pub const BACKOFF_LOSS: f64 = 0.05;
/// Room loss below which the rate probes up.
pub const PROBE_LOSS: f64 = 0.01;
/// The floor: 8 Mbit/s, so a backed-off session still ends.
pub const MIN_RATE_BPS: u64 = 8_000_000;

/// Additive increase, multiplicative decrease on the room's loss.
#[derive(Debug, Clone, PartialEq)]
pub struct RateControl {
    cap: u64,
    rate: u64,
}

impl RateControl {
    /// Starts at `cap` bits per second.
    pub fn new(cap: u64) -> RateControl {
        let cap = cap.max(MIN_RATE_BPS);
        RateControl { cap, rate: cap }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// One interval's room loss (a fraction), or `None` with no receiver
    /// to go by.
    pub fn update(&mut self, room_loss: Option<f64>) {
        match room_loss {
            Some(l) if l > BACKOFF_LOSS => {
                self.rate = (self.rate / 4 * 3).max(MIN_RATE_BPS);
            }
            Some(l) if l < PROBE_LOSS => {
                self.rate = (self.rate + self.cap / 10).min(self.cap);
            }
            _ => {}
        }
    }
}

/// The median of `losses`, or `None` when there are none.
pub fn room_loss(mut losses: Vec<f64>) -> Option<f64> {
    if losses.is_empty() {
        return None;
    }
    losses.sort_by(f64::total_cmp);
    let n = losses.len();
    Some(if n % 2 == 1 {
        losses[n / 2]
    } else {
        (losses[n / 2 - 1] + losses[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_cap_backs_off_on_loss_and_probes_back() {
        let mut r = RateControl::new(400_000_000);
        assert_eq!(r.rate(), 400_000_000);
        r.update(Some(0.2));
        assert_eq!(r.rate(), 300_000_000);
        r.update(Some(0.02));
        assert_eq!(r.rate(), 300_000_000, "between the thresholds it holds");
        r.update(Some(0.0));
        assert_eq!(r.rate(), 340_000_000);
        r.update(None);
        assert_eq!(r.rate(), 340_000_000);
        for _ in 0..5 {
            r.update(Some(0.0));
        }
        assert_eq!(r.rate(), 400_000_000, "never above the cap");
    }

    #[test]
    fn backing_off_stops_at_the_floor() {
        let mut r = RateControl::new(10_000_000);
        for _ in 0..10 {
            r.update(Some(0.9));
        }
        assert_eq!(r.rate(), MIN_RATE_BPS);
    }

    #[test]
    fn one_lossy_receiver_does_not_move_the_room() {
        assert_eq!(room_loss(vec![0.0, 0.0, 0.5, 0.01]), Some(0.005));
        assert_eq!(room_loss(vec![0.1, 0.02, 0.03]), Some(0.03));
        assert_eq!(room_loss(vec![]), None);
    }
}
