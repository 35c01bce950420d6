//! Sorted, merged byte ranges: the used parts of a partition.

/// Byte ranges as (start, length), sorted and non-overlapping, with
/// adjacent ranges merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a range. Pushing in ascending order is O(1); anything else is
    /// sorted out by `normalize`.
    pub fn push(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        if let Some(last) = self.ranges.last_mut() {
            if start >= last.0 && start <= last.0 + last.1 {
                let end = (start + len).max(last.0 + last.1);
                last.1 = end - last.0;
                return;
            }
        }
        self.ranges.push((start, len));
    }

    /// Sorts and merges after out-of-order pushes.
    pub fn normalize(&mut self) {
        let mut ranges = std::mem::take(&mut self.ranges);
        ranges.sort_unstable();
        for (s, l) in ranges {
            self.push(s, l);
        }
    }

    /// Keeps only what lies inside [0, limit).
    pub fn clamp(&mut self, limit: u64) {
        self.ranges.retain(|&(s, _)| s < limit);
        if let Some(last) = self.ranges.last_mut() {
            last.1 = last.1.min(limit - last.0);
        }
    }

    /// What lies in `self` but not in `other`; both must be normalized
    /// (sorted and merged), as every pushed-in-order set is.
    pub fn subtract(&self, other: &RangeSet) -> RangeSet {
        let mut out = RangeSet::new();
        let mut holes = other.ranges.iter().copied().peekable();
        for &(start, len) in &self.ranges {
            let (mut at, end) = (start, start + len);
            while let Some(&(h_start, h_len)) = holes.peek() {
                let h_end = h_start + h_len;
                if h_end <= at {
                    holes.next();
                    continue;
                }
                if h_start >= end {
                    break;
                }
                out.push(at, h_start.saturating_sub(at));
                at = at.max(h_end);
                if h_end > end {
                    break;
                }
                holes.next();
            }
            if at < end {
                out.push(at, end - at);
            }
        }
        out
    }

    /// The ranges that overlap `[start, end)`, whole.
    pub fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let first = self.ranges.partition_point(|&(s, l)| s + l <= start);
        self.ranges[first..]
            .iter()
            .copied()
            .take_while(move |&(s, _)| s < end)
    }

    pub fn total(&self) -> u64 {
        self.ranges.iter().map(|r| r.1).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtract_cuts_holes_at_edges_and_across_ranges() {
        let mut a = RangeSet::new();
        a.push(0, 100);
        a.push(200, 50);
        let mut b = RangeSet::new();
        b.push(0, 10); // the very start
        b.push(50, 10); // inside
        b.push(90, 120); // across the gap into the second range
        b.push(240, 100); // past the end
        assert_eq!(
            a.subtract(&b).iter().collect::<Vec<_>>(),
            vec![(10, 40), (60, 30), (210, 30)]
        );
        assert_eq!(a.subtract(&RangeSet::new()), a);
        assert!(a.subtract(&a).is_empty());
    }

    #[test]
    fn merges_adjacent_and_overlapping_ranges() {
        let mut r = RangeSet::new();
        r.push(10, 5);
        r.push(15, 5);
        r.push(18, 10);
        r.push(40, 1);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(10, 18), (40, 1)]);
    }

    #[test]
    fn normalize_sorts_out_of_order_pushes() {
        let mut r = RangeSet::new();
        r.push(40, 10);
        r.push(0, 5);
        r.push(3, 4);
        r.normalize();
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(0, 7), (40, 10)]);
        r.clamp(45);
        assert_eq!(r.total(), 12);
    }
}
