//! The event queue: a min-heap keyed by (time, insertion sequence).
//!
//! Equal-time events pop in the order they were pushed, never by address or hash, so the
//! total order of a run depends only on what was scheduled.
//!
//! The heap holds only small keys (time, sequence, slot: 24 bytes); the events themselves
//! (~50 bytes each) sit still in a slab and are written once on push and read once on pop.
//! Sifting moves keys through a hole (the moving key is kept in a local and written once at
//! its final place), and a pop sinks the hole to the bottom along the smaller children before
//! sifting the last key up from there (Floyd's bottom-up variant, as `std`'s `BinaryHeap`
//! does): the last key almost always belongs near the bottom, so this saves one comparison
//! per level. The heap is 4-ary, which halves the depth of a binary heap for the
//! small-to-medium queues simulations have. Callgrind on the peer workloads: the queue was
//! 40% of the instructions of W3 with whole events swapped level by level. Nothing here
//! allocates per event once the heap and slab have grown to the run's peak queue length.

use crate::time::Instant;

/// A scheduled event with its ordering key.
#[derive(Debug)]
pub struct Scheduled<E> {
    pub time: Instant,
    pub sequence: u64,
    pub event: E,
}

/// What the heap orders, packed into one integer so a comparison is one `u128` compare and a
/// move is 16 bytes: `time << 64 | sequence << SLOT_BITS | slot`. Sequences are unique, so the
/// slot bits below them never decide an order; they only say where the event waits.
#[derive(Debug, Clone, Copy)]
struct Key(u128);

/// Bits of a key that name the event's slot: at most 2^26 (67 million) events queued at once,
/// several GB of events, far beyond any world we run. The sequence gets the other 38 bits:
/// 2.7 * 10^11 events per world, hours of one world at full speed, 2,700 times the default
/// `events_max`. Both limits are asserted, never wrapped.
const SLOT_BITS: u32 = 26;
const SLOTS_MAX: u64 = 1 << SLOT_BITS;
const SEQUENCES_MAX: u64 = 1 << (64 - SLOT_BITS);

impl Key {
    #[inline(always)]
    fn new(time: Instant, sequence: u64, slot: u32) -> Key {
        Key(u128::from(time.as_nanos()) << 64 | u128::from(sequence << SLOT_BITS | u64::from(slot)))
    }

    #[inline(always)]
    fn time(self) -> Instant {
        Instant::from_nanos((self.0 >> 64) as u64)
    }

    #[inline(always)]
    fn sequence(self) -> u64 {
        self.0 as u64 >> SLOT_BITS
    }

    #[inline(always)]
    fn slot(self) -> usize {
        (self.0 as u64 & (SLOTS_MAX - 1)) as usize
    }
}

/// Min-queue of events ordered by (time, sequence).
#[derive(Debug)]
pub struct Scheduler<E> {
    heap: Vec<Key>,
    /// Events by slot; `None` marks a free slot (listed in `free`).
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    next_sequence: u64,
}

const ARITY: usize = 4;

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Scheduler { heap: Vec::new(), slots: Vec::new(), free: Vec::new(), next_sequence: 0 }
    }
}

impl<E> Scheduler<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A queue with room for `capacity` events before it allocates again.
    pub fn with_capacity(capacity: usize) -> Self {
        Scheduler {
            heap: Vec::with_capacity(capacity),
            slots: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            next_sequence: 0,
        }
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
        self.heap.first().map(|key| key.time())
    }

    /// Schedules `event` at `time`; returns its sequence number (the tie-breaker).
    #[inline(always)]
    pub fn push(&mut self, time: Instant, event: E) -> u64 {
        let sequence = self.next_sequence;
        assert!(sequence < SEQUENCES_MAX, "more than 2^38 events scheduled in one world");
        self.next_sequence += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                debug_assert!(self.slots[slot as usize].is_none());
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot = self.slots.len() as u32;
                assert!(u64::from(slot) < SLOTS_MAX, "more than 2^26 events queued at once");
                self.slots.push(Some(event));
                slot
            }
        };
        self.heap.push(Key::new(time, sequence, slot));
        self.sift_up(self.heap.len() - 1);
        sequence
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<Scheduled<E>> {
        let last = self.heap.pop()?;
        let top = match self.heap.first_mut() {
            Some(first) => {
                let top = std::mem::replace(first, last);
                self.sift_down_to_bottom();
                top
            }
            None => last,
        };
        let event = self.slots[top.slot()].take().expect("a queued key's slot is full");
        self.free.push(top.slot() as u32);
        Some(Scheduled { time: top.time(), sequence: top.sequence(), event })
    }

    /// Iterates over queued events in no particular order (for statistics, never for order).
    pub fn iter(&self) -> impl Iterator<Item = Scheduled<&E>> {
        self.heap.iter().map(|key| Scheduled {
            time: key.time(),
            sequence: key.sequence(),
            event: self.slots[key.slot()].as_ref().expect("a queued key's slot is full"),
        })
    }

    /// Removes every event for which `keep` returns false. O(n); used by rare control actions.
    pub fn retain(&mut self, mut keep: impl FnMut(&E) -> bool) {
        let (slots, free) = (&mut self.slots, &mut self.free);
        self.heap.retain(|key| {
            let slot = &mut slots[key.slot()];
            let kept = slot.as_ref().is_some_and(&mut keep);
            if !kept {
                *slot = None;
                free.push(key.slot() as u32);
            }
            kept
        });
        for index in (0..self.heap.len()).rev() {
            self.sift_down(index);
        }
    }

    /// Moves the key at `index` up to its place.
    #[inline]
    fn sift_up(&mut self, mut index: usize) {
        let heap = self.heap.as_mut_slice();
        let moving = heap[index];
        while index > 0 {
            let parent = (index - 1) / ARITY;
            if moving.0 >= heap[parent].0 {
                break;
            }
            heap[index] = heap[parent];
            index = parent;
        }
        heap[index] = moving;
    }

    /// Moves the key at `index` down to its place (used by `retain`'s rebuild).
    fn sift_down(&mut self, mut index: usize) {
        let heap = self.heap.as_mut_slice();
        let moving = heap[index];
        while let Some(child) = smallest_child(heap, index) {
            if heap[child].0 >= moving.0 {
                break;
            }
            heap[index] = heap[child];
            index = child;
        }
        heap[index] = moving;
    }

    /// Restores the heap after the root was replaced by the former last key: the hole sinks
    /// along the smaller children to the bottom, then the key rises from there.
    #[inline]
    fn sift_down_to_bottom(&mut self) {
        let heap = self.heap.as_mut_slice();
        let moving = heap[0];
        let mut index = 0;
        let mut first = 1;
        // Every level but the last has all four children: a branch-free tournament.
        while let Some(&[a, b, c, d]) = heap.get(first..first + ARITY) {
            let left = if b.0 < a.0 { (1, b) } else { (0, a) };
            let right = if d.0 < c.0 { (3, d) } else { (2, c) };
            let (offset, smallest) = if right.1 .0 < left.1 .0 { right } else { left };
            heap[index] = smallest;
            index = first + offset;
            first = index * ARITY + 1;
        }
        if let Some(child) = smallest_child(heap, index) {
            heap[index] = heap[child];
            index = child;
        }
        heap[index] = moving;
        self.sift_up(index);
    }
}

/// The index of the smallest child of `index`, if it has children.
fn smallest_child(heap: &[Key], index: usize) -> Option<usize> {
    let first = index * ARITY + 1;
    let children = heap.get(first..)?;
    let children = &children[..children.len().min(ARITY)];
    let (mut best, mut best_key) = (0, *children.first()?);
    for (offset, &child) in children.iter().enumerate().skip(1) {
        if child.0 < best_key.0 {
            (best, best_key) = (offset, child);
        }
    }
    Some(first + best)
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
