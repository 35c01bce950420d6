//! A set of chunk indexes kept as sorted, disjoint, half-open ranges: what
//! a receiver has, in the form its reports carry. A receiver that listens
//! from the start fills the table in the carousel's order, so its set is a
//! few ranges however many chunks the image has.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(into = "Vec<[u32; 2]>")]
pub struct RangeSet {
    ranges: Vec<(u32, u32)>,
    count: u64,
}

impl From<RangeSet> for Vec<[u32; 2]> {
    fn from(r: RangeSet) -> Self {
        r.ranges.iter().map(|&(a, b)| [a, b]).collect()
    }
}

/// Ranges as they come off the wire: empty, reversed and overlapping ones
/// are refused, so one report cannot make the set ambiguous.
impl TryFrom<Vec<[u32; 2]>> for RangeSet {
    type Error = String;

    fn try_from(v: Vec<[u32; 2]>) -> Result<Self, String> {
        let mut set = RangeSet::default();
        let mut last_end = None;
        for [a, b] in v {
            if a >= b {
                return Err(format!("range [{a}, {b}) is empty or reversed"));
            }
            if last_end.is_some_and(|e| a <= e) {
                return Err(format!(
                    "range [{a}, {b}) is not after the one before it; ranges are sorted and apart"
                ));
            }
            last_end = Some(b);
            set.ranges.push((a, b));
            set.count += (b - a) as u64;
        }
        Ok(set)
    }
}

impl<'de> Deserialize<'de> for RangeSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<[u32; 2]>::deserialize(d)?;
        RangeSet::try_from(v).map_err(serde::de::Error::custom)
    }
}

impl RangeSet {
    pub fn new() -> RangeSet {
        RangeSet::default()
    }

    /// How many indexes the set holds.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }

    /// The index of the first range that ends after `i`.
    fn find(&self, i: u32) -> usize {
        self.ranges.partition_point(|&(_, end)| end <= i)
    }

    pub fn contains(&self, i: u32) -> bool {
        self.ranges
            .get(self.find(i))
            .is_some_and(|&(start, _)| start <= i)
    }

    /// Adds `i`; true when it was not there.
    pub fn insert(&mut self, i: u32) -> bool {
        if self.contains(i) {
            return false;
        }
        let at = self.find(i);
        let joins_prev = at > 0 && self.ranges[at - 1].1 == i;
        let joins_next = self.ranges.get(at).is_some_and(|r| r.0 == i + 1);
        match (joins_prev, joins_next) {
            (true, true) => {
                self.ranges[at - 1].1 = self.ranges[at].1;
                self.ranges.remove(at);
            }
            (true, false) => self.ranges[at - 1].1 = i + 1,
            (false, true) => self.ranges[at].0 = i,
            (false, false) => self.ranges.insert(at, (i, i + 1)),
        }
        self.count += 1;
        true
    }

    /// Every index of `0..n` not in the set, in order.
    pub fn missing(&self, n: u32) -> impl Iterator<Item = u32> + '_ {
        let mut at = 0u32;
        let mut ranges = self.ranges.iter().peekable();
        std::iter::from_fn(move || loop {
            if at >= n {
                return None;
            }
            match ranges.peek() {
                Some(&&(start, end)) if at >= start => {
                    at = at.max(end);
                    ranges.next();
                }
                _ => {
                    let i = at;
                    at += 1;
                    return Some(i);
                }
            }
        })
    }

    /// True when every index of `0..n` is in the set.
    pub fn covers(&self, n: u32) -> bool {
        self.missing(n).next().is_none()
    }
}

impl FromIterator<u32> for RangeSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut s = RangeSet::new();
        for i in iter {
            s.insert(i);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_merge_into_ranges() {
        let mut s = RangeSet::new();
        for i in [5, 1, 2, 3, 7, 6, 0] {
            assert!(s.insert(i));
        }
        assert!(!s.insert(2));
        assert_eq!(s.ranges(), &[(0, 4), (5, 8)]);
        assert_eq!(s.count(), 7);
        assert!(s.contains(0) && s.contains(7) && !s.contains(4) && !s.contains(8));
        assert!(s.insert(4));
        assert_eq!(s.ranges(), &[(0, 8)]);
        assert!(s.covers(8) && !s.covers(9));
    }

    #[test]
    fn missing_is_the_complement_below_n() {
        let s: RangeSet = [1, 2, 5].into_iter().collect();
        assert_eq!(s.missing(7).collect::<Vec<_>>(), [0, 3, 4, 6]);
        assert_eq!(RangeSet::new().missing(3).collect::<Vec<_>>(), [0, 1, 2]);
        let past: RangeSet = [10, 11].into_iter().collect();
        assert!(!past.covers(2));
    }

    #[test]
    fn ranges_round_trip_as_pairs_and_bad_ones_are_refused() {
        let s: RangeSet = [0, 1, 4].into_iter().collect();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "[[0,2],[4,5]]");
        assert_eq!(serde_json::from_str::<RangeSet>(&json).unwrap(), s);
        for bad in [
            "[[3,3]]",
            "[[4,2]]",
            "[[0,5],[4,6]]",
            "[[5,6],[0,1]]",
            "[[0,2],[2,3]]",
        ] {
            assert!(serde_json::from_str::<RangeSet>(bad).is_err(), "{bad}");
        }
    }
}
