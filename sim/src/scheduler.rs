//! The event queue: a min-heap keyed by (time, insertion sequence).
//!
//! Equal-time events pop in the order they were pushed, never by address or hash, so the
//! total order of a run depends only on what was scheduled. Events are stored inline (no box
//! per event); the heap is a 4-ary implicit heap, which moves fewer cache lines per pop than
//! a binary one for the small-to-medium queues simulations have.

use crate::time::Instant;

/// A scheduled event with its ordering key.
#[derive(Debug)]
pub struct Scheduled<E> {
    pub time: Instant,
    pub sequence: u64,
    pub event: E,
}

/// Min-queue of events ordered by (time, sequence).
#[derive(Debug)]
pub struct Scheduler<E> {
    heap: Vec<Scheduled<E>>,
    next_sequence: u64,
}

const ARITY: usize = 4;

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Scheduler { heap: Vec::new(), next_sequence: 0 }
    }
}

impl<E> Scheduler<E> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The time of the earliest event, if any.
    #[inline]
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.first().map(|scheduled| scheduled.time)
    }

    /// Schedules `event` at `time`; returns its sequence number (the tie-breaker).
    #[inline]
    pub fn push(&mut self, time: Instant, event: E) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.heap.push(Scheduled { time, sequence, event });
        self.sift_up(self.heap.len() - 1);
        sequence
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<Scheduled<E>> {
        let last = self.heap.pop()?;
        if self.heap.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.heap[0], last);
        self.sift_down(0);
        Some(top)
    }

    /// Iterates over queued events in no particular order (for statistics, never for order).
    pub fn iter(&self) -> impl Iterator<Item = &Scheduled<E>> {
        self.heap.iter()
    }

    /// Removes every event for which `keep` returns false. O(n); used by rare control actions.
    pub fn retain(&mut self, mut keep: impl FnMut(&E) -> bool) {
        self.heap.retain(|scheduled| keep(&scheduled.event));
        for index in (0..self.heap.len()).rev() {
            self.sift_down(index);
        }
    }

    #[inline]
    fn less(&self, a: usize, b: usize) -> bool {
        let (a, b) = (&self.heap[a], &self.heap[b]);
        (a.time, a.sequence) < (b.time, b.sequence)
    }

    #[inline]
    fn sift_up(&mut self, mut index: usize) {
        while index > 0 {
            let parent = (index - 1) / ARITY;
            if !self.less(index, parent) {
                break;
            }
            self.heap.swap(index, parent);
            index = parent;
        }
    }

    #[inline]
    fn sift_down(&mut self, mut index: usize) {
        let len = self.heap.len();
        loop {
            let first_child = index * ARITY + 1;
            if first_child >= len {
                break;
            }
            let mut smallest = first_child;
            for child in first_child + 1..(first_child + ARITY).min(len) {
                if self.less(child, smallest) {
                    smallest = child;
                }
            }
            if !self.less(smallest, index) {
                break;
            }
            self.heap.swap(index, smallest);
            index = smallest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    // Proves equal-time events pop in insertion order and earlier times pop first.
    #[test]
    fn orders_by_time_then_insertion_sequence() {
        let mut scheduler = Scheduler::new();
        scheduler.push(Instant::from_nanos(5), "c");
        scheduler.push(Instant::from_nanos(1), "a");
        scheduler.push(Instant::from_nanos(5), "d");
        scheduler.push(Instant::from_nanos(1), "b");
        scheduler.push(Instant::from_nanos(5), "e");
        let order: Vec<&str> = std::iter::from_fn(|| scheduler.pop().map(|s| s.event)).collect();
        assert_eq!(order, ["a", "b", "c", "d", "e"]);
    }

    // Proves the heap agrees with a sort on (time, sequence) over many random pushes and pops.
    #[test]
    fn matches_a_sorted_reference_under_random_operations() {
        let mut stream = Stream::new(1, "scheduler.test");
        let mut scheduler = Scheduler::new();
        let mut reference: Vec<(u64, u64)> = Vec::new();
        for _ in 0..20_000 {
            if stream.bernoulli(0.6) {
                let time = stream.below(50);
                let sequence = scheduler.push(Instant::from_nanos(time), ());
                reference.push((time, sequence));
            } else {
                reference.sort_unstable_by(|a, b| b.cmp(a));
                let expected = reference.pop();
                let got = scheduler.pop().map(|s| (s.time.as_nanos(), s.sequence));
                assert_eq!(got, expected);
            }
        }
        let before = scheduler.len();
        scheduler.retain(|_| stream.bernoulli(0.5));
        assert!(scheduler.len() <= before);
        let mut last = (0, 0);
        while let Some(s) = scheduler.pop() {
            assert!((s.time.as_nanos(), s.sequence) >= last);
            last = (s.time.as_nanos(), s.sequence);
        }
    }
}
