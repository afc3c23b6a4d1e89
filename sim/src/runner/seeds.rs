//! Which seeds a sweep runs, without ever listing them: a half-open range, the share of it one
//! shard owns, and the seeds already recorded (when resuming, or when merging) as ranges of
//! positions. A sweep over 10^9 seeds costs the same memory as one over ten.

use std::collections::BTreeMap;
use std::ops::Range;

/// The seeds of a sweep: `range`, or the part of it shard `K/N` owns (`seed mod N = K-1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRange {
    pub range: Range<u64>,
    pub shard: Option<(u64, u64)>,
}

impl SeedRange {
    pub fn new(range: Range<u64>, shard: Option<(u64, u64)>) -> SeedRange {
        debug_assert!(shard.is_none_or(|(k, n)| 1 <= k && k <= n), "shard K/N with 1 <= K <= N");
        SeedRange { range, shard }
    }

    fn stride(&self) -> u64 {
        self.shard.map_or(1, |(_, n)| n)
    }

    /// The first seed this shard owns, if any.
    fn first(&self) -> Option<u64> {
        let Range { start, end } = self.range;
        let first = match self.shard {
            None => start,
            Some((k, n)) => start.checked_add((k - 1 + n - start % n) % n)?,
        };
        (first < end).then_some(first)
    }

    /// How many seeds this shard owns.
    pub fn len(&self) -> u64 {
        match self.first() {
            Some(first) => (self.range.end - 1 - first) / self.stride() + 1,
            None => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `seed` is in the range and owned by this shard.
    pub fn owns(&self, seed: u64) -> bool {
        self.range.contains(&seed) && self.shard.is_none_or(|(k, n)| seed % n == k - 1)
    }

    /// The position of `seed` among the owned seeds (0 for the first), if it is one of them.
    pub fn position(&self, seed: u64) -> Option<u64> {
        let first = self.first()?;
        self.owns(seed).then(|| (seed - first) / self.stride())
    }

    /// The owned seed at `position` (which must be below `len()`).
    pub fn seed_at(&self, position: u64) -> u64 {
        self.first().unwrap_or(self.range.start) + position * self.stride()
    }

    /// The owned seeds not in `done` (positions), in order, generated one at a time.
    pub fn iter_except(&self, done: SeedSet) -> SeedIter {
        SeedIter { seeds: self.clone(), position: 0, len: self.len(), done }
    }
}

/// Owned seeds in order, skipping whole recorded ranges at once.
#[derive(Debug, Clone)]
pub struct SeedIter {
    seeds: SeedRange,
    position: u64,
    len: u64,
    done: SeedSet,
}

impl Iterator for SeedIter {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        while self.position < self.len {
            if let Some(end) = self.done.end_of_run_at(self.position) {
                self.position = end;
                continue;
            }
            let seed = self.seeds.seed_at(self.position);
            self.position += 1;
            return Some(seed);
        }
        None
    }
}

/// A set of positions (or seeds) kept as disjoint, non-touching half-open runs: memory grows
/// with the number of gaps, not of members. Members arriving nearly in order, as a sweep's
/// results do, keep it a handful of runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSet {
    /// start → end of each run.
    runs: BTreeMap<u64, u64>,
    len: u64,
}

impl SeedSet {
    pub fn new() -> SeedSet {
        SeedSet::default()
    }

    /// How many members.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many runs the members form (what the set costs in memory).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The end of the run holding `member`, if it is one.
    fn end_of_run_at(&self, member: u64) -> Option<u64> {
        let (_, &end) = self.runs.range(..=member).next_back()?;
        (member < end).then_some(end)
    }

    pub fn contains(&self, member: u64) -> bool {
        self.end_of_run_at(member).is_some()
    }

    /// Adds `member`; false if it was already there.
    pub fn insert(&mut self, member: u64) -> bool {
        if self.contains(member) {
            return false;
        }
        let Some(next) = member.checked_add(1) else {
            // `u64::MAX` cannot start a half-open run; no seed range reaches it.
            return false;
        };
        let before = self.runs.range(..member).next_back().map(|(&s, &e)| (s, e));
        let after = self.runs.get(&next).copied();
        let start = match before {
            Some((start, end)) if end == member => start,
            _ => member,
        };
        let end = match after {
            Some(end) => {
                self.runs.remove(&next);
                end
            }
            None => next,
        };
        self.runs.insert(start, end);
        self.len += 1;
        true
    }

    /// The gaps of `0..len` that are not members, as runs, in order.
    pub fn gaps(&self, len: u64) -> Vec<Range<u64>> {
        let mut gaps = Vec::new();
        let mut next = 0;
        for (&start, &end) in &self.runs {
            if start >= len {
                break;
            }
            if start > next {
                gaps.push(next..start);
            }
            next = next.max(end);
        }
        if next < len {
            gaps.push(next..len);
        }
        gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a shard owns exactly the seeds with seed mod N = K-1, positions and seeds map both
    // ways, and ranges at the very top of u64 do not overflow.
    #[test]
    fn shards_own_their_residue_class() {
        for (range, shard) in [(0..40, None), (3..41, Some((2, 4))), (5..6, Some((3, 3)))] {
            let seeds = SeedRange::new(range.clone(), shard);
            let owned: Vec<u64> = range.clone().filter(|&s| seeds.owns(s)).collect();
            assert_eq!(seeds.len(), owned.len() as u64, "{range:?} {shard:?}");
            let listed: Vec<u64> = seeds.iter_except(SeedSet::new()).collect();
            assert_eq!(listed, owned);
            for (position, &seed) in owned.iter().enumerate() {
                assert_eq!(seeds.position(seed), Some(position as u64));
                assert_eq!(seeds.seed_at(position as u64), seed);
            }
        }
        assert!(SeedRange::new(5..6, Some((1, 3))).is_empty(), "5 mod 3 is 2, shard 1/3 owns 0");
        let top = SeedRange::new(u64::MAX - 5..u64::MAX, Some((1, 2)));
        assert_eq!(top.iter_except(SeedSet::new()).count() as u64, top.len());
        assert_eq!(SeedRange::new(0..u64::MAX, None).len(), u64::MAX);
    }

    // Proves the set merges neighbours into runs, refuses duplicates, reports gaps, and that a
    // sweep skips recorded seeds without visiting them one by one.
    #[test]
    fn a_seed_set_is_runs_and_skips_them() {
        let mut set = SeedSet::new();
        for member in [5, 3, 4, 9, 0, 1, 2] {
            assert!(set.insert(member));
        }
        assert!(!set.insert(4), "a duplicate is refused");
        assert_eq!((set.len(), set.runs()), (7, 2));
        assert_eq!(set.gaps(12), [6..9, 10..12]);
        let seeds = SeedRange::new(100..112, None);
        assert_eq!(seeds.iter_except(set).collect::<Vec<_>>(), [106, 107, 108, 110, 111]);

        let mut most = SeedSet::new();
        for member in 0..1_000_000 {
            most.insert(member);
        }
        assert_eq!(most.runs(), 1, "a million members in order are one run");
        let huge = SeedRange::new(0..1_000_000_000_000, None);
        assert_eq!(huge.iter_except(most).next(), Some(1_000_000));
    }
}
