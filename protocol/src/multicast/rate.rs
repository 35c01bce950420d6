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

/// Room loss above its floor at which the rate backs off; at or below
/// it, it probes up. The floor is the lowest room loss of the last
/// [`FLOOR_WINDOW`] intervals: loss that is there at any rate (lossy
/// ports, 10 % on every one of them in the worst room measured) is not
/// congestion, and backing off for it would take the rate to the floor.
pub const BACKOFF_LOSS: f64 = 0.05;
/// Intervals the loss floor is taken over.
pub const FLOOR_WINDOW: usize = 10;
/// The floor: 8 Mbit/s, so a backed-off session still ends.
pub const MIN_RATE_BPS: u64 = 8_000_000;

/// Increase by a tenth a second, decrease on the room's loss.
#[derive(Debug, Clone, PartialEq)]
pub struct RateControl {
    cap: u64,
    rate: u64,
    /// The room's loss of the last intervals, newest last.
    recent: std::collections::VecDeque<f64>,
}

impl RateControl {
    /// Starts at `cap` bits per second.
    pub fn new(cap: u64) -> RateControl {
        let cap = cap.max(MIN_RATE_BPS);
        RateControl {
            cap,
            rate: cap,
            recent: std::collections::VecDeque::new(),
        }
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
        let Some((loss, got)) = room else { return };
        // The floor before this interval: a first interval with loss
        // backs off, and so does one whose loss climbs above the floor.
        let floor = self.recent.iter().copied().reduce(f64::min).unwrap_or(0.0);
        self.recent.push_back(loss);
        while self.recent.len() > FLOOR_WINDOW {
            self.recent.pop_front();
        }
        // Receiving less than half of what is sent is overload whatever
        // the floor says (a room that lost that much at any rate falls
        // back to unicast instead).
        let overloaded = got.is_some_and(|g| g < self.rate / 2);
        if overloaded || loss > floor + BACKOFF_LOSS {
            let mut next = self.rate / 4 * 3;
            if let Some(g) = got {
                next = next.min(g / 10 * 11);
            }
            self.rate = next.max(MIN_RATE_BPS);
        } else {
            self.rate = (self.rate + (self.rate / 10).max(MIN_RATE_BPS)).min(self.cap);
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
    fn loss_that_is_there_at_any_rate_does_not_take_the_rate_down() {
        let mut r = RateControl::new(400_000_000);
        // Ten per cent everywhere: one step back, then it probes again.
        r.update(Some((0.10, Some(360_000_000))));
        assert_eq!(r.rate(), 300_000_000);
        for _ in 0..5 {
            r.update(Some((0.10, None)));
        }
        assert_eq!(r.rate(), 400_000_000);
        // Congestion on top of it: back off.
        r.update(Some((0.20, None)));
        assert_eq!(r.rate(), 300_000_000);
    }

    #[test]
    fn far_above_what_the_room_takes_it_backs_off_to_that_in_one_step() {
        let mut r = RateControl::new(100_000_000_000);
        r.update(Some((0.6, Some(900_000_000))));
        assert_eq!(r.rate(), 990_000_000);
        // The floor is that first interval's loss for one interval, then
        // the lower loss after the step; congestion above it backs off.
        r.update(Some((0.1, Some(891_000_000))));
        assert_eq!(r.rate(), 1_089_000_000);
        r.update(Some((0.2, Some(871_200_000))));
        assert_eq!(r.rate(), 816_750_000);
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
