//! The sender's rate: start at the cap, back off when the room loses
//! packets (to what the room actually took, when that is known), probe
//! back up when it does not.
//!
//! Reliable-multicast stacks ship timid defaults (NORM 64 kbit/s, UFTP
//! 1 Mbit/s) and stall under their own congestion control; on a clean LAN
//! the right start is near the cap. The signal is the room's loss, taken
//! as the median over the receivers still on multicast: loss at one
//! receiver (a bad port, a slow disk) is that receiver's problem, which
//! FEC and the unicast fallback deal with, while loss at most of them
//! means the sender is too fast for the network or the receivers.

/// Room loss above which the rate backs off; at or below it, it probes
/// up. Not lower: a lossy port (2 % is common on a bad patch cable) loses
/// frames at any rate, and must not hold the room's rate down.
pub const BACKOFF_LOSS: f64 = 0.05;
/// The floor: 8 Mbit/s, so a backed-off session still ends.
pub const MIN_RATE_BPS: u64 = 8_000_000;

/// Increase by a tenth a second, decrease on the room's loss.
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

    /// One interval's room loss (a fraction) and the rate at which the
    /// room received (bits per second, at the IP layer), or `None` with no
    /// receiver to go by.
    ///
    /// Backing off to a little above what the room received gets a
    /// sender that started far above what the receivers can take (a cap
    /// of 10 Gbit/s on a 1 Gbit/s LAN, or receivers whose CPU or disk is
    /// the limit) down in one step instead of a dozen; the probe then
    /// climbs 10 % a second.
    pub fn update(&mut self, room: Option<(f64, Option<u64>)>) {
        match room {
            Some((l, got)) if l > BACKOFF_LOSS => {
                let mut next = self.rate / 4 * 3;
                if let Some(g) = got {
                    next = next.min(g / 10 * 11);
                }
                self.rate = next.max(MIN_RATE_BPS);
            }
            Some(_) => {
                self.rate = (self.rate + (self.rate / 10).max(MIN_RATE_BPS)).min(self.cap);
            }
            None => {}
        }
    }
}

/// The median of `values`, or `None` when there are none.
pub fn median(mut values: Vec<u64>) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        values[n / 2 - 1] / 2 + values[n / 2] / 2
    })
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
        r.update(Some((0.2, None)));
        assert_eq!(r.rate(), 300_000_000);
        r.update(Some((0.02, None)));
        assert_eq!(
            r.rate(),
            330_000_000,
            "random loss of a bad port does not hold it"
        );
        r.update(Some((0.0, None)));
        assert_eq!(r.rate(), 363_000_000);
        r.update(None);
        assert_eq!(r.rate(), 363_000_000, "no receiver, no change");
        for _ in 0..5 {
            r.update(Some((0.0, None)));
        }
        assert_eq!(r.rate(), 400_000_000, "never above the cap");
    }

    #[test]
    fn far_above_what_the_room_takes_it_backs_off_to_that_in_one_step() {
        let mut r = RateControl::new(100_000_000_000);
        r.update(Some((0.6, Some(900_000_000))));
        assert_eq!(r.rate(), 990_000_000);
        // Received more than three quarters of the rate: the usual step.
        r.update(Some((0.1, Some(980_000_000))));
        assert_eq!(r.rate(), 742_500_000);
        assert_eq!(median(vec![5, 1, 9]), Some(5));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn backing_off_stops_at_the_floor() {
        let mut r = RateControl::new(10_000_000);
        for _ in 0..10 {
            r.update(Some((0.9, Some(1000))));
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
