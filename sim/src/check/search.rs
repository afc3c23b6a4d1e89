//! The search over one partition: Wing & Gong's walk of the call/return list with Lowe's cache
//! of explored (linearized set, state) pairs, as in porcupine, resumable in slices of steps.
//!
//! Call and return entries sit in one doubly linked list ordered by time; the search walks it
//! from the head, tries to linearize each call it meets (the model must accept the call's
//! input and output in the current state), lifts linearized calls out of the list, and
//! backtracks when it meets a return entry whose call could not be linearized before it. The
//! future of the search depends only on (linearized set, state), so a pair already explored is
//! never explored again.
//!
//! What makes it fast, and why:
//! - the list is three `u32` per entry in one `Vec`, linked by index, never by pointer;
//! - the linearized set is a bitset with an incrementally maintained Zobrist hash, and the cache
//!   stores it compactly: operations are numbered in call order, so the set is mostly a prefix
//!   of all-ones words plus a short window, and only the window is stored;
//! - the cache is our own open-addressing table keyed by a deterministic hash (no `RandomState`);
//! - states move in and out of the backtracking stack without cloning; only a cache insert
//!   clones, and built-in models use `Copy` states of four bytes;
//! - the explanation's bookkeeping is linear in the steps: the deepest prefix is kept as a copy
//!   of the stack that is refreshed only above the part still shared with the stack, and the
//!   operations stuck there are worked out once, when the explanation is asked for.
//!
//! A search runs for a quota of steps and can be resumed: that is what lets the checker give
//! every partition a slice, round after round, so that a proven violation anywhere is found
//! before an intractable partition exhausts the budget. Steps are counted, never timed, so a
//! search's progress after any sequence of quotas is a pure function of its input.

use super::cache::{hash_state, splitmix64, Bitset, Cache};
use super::linearizability::{Invocation, Model, Outcome};
use super::report::{DescribedOperation, Explanation};

/// What a slice of search ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Progress {
    Linearizable,
    NotLinearizable,
    /// The quota ran out (or the search was told to stop); [`Search::run`] resumes it.
    Paused,
}

/// The search over one partition's operations.
pub(super) struct Search<'a, M: Model> {
    model: &'a M,
    /// The partition's operations, numbered in call order.
    operations: Vec<&'a Invocation<M::Input, M::Output>>,
    nodes: Vec<Node>,
    /// Per operation, the index of its return entry.
    return_entry: Vec<u32>,
    linearized: Bitset,
    linearized_hash: u64,
    cache: Cache<M::State>,
    /// The backtracking stack: each linearized call entry with the state before it.
    calls: Vec<(u32, M::State)>,
    state: M::State,
    /// The entry the walk looks at next.
    cursor: u32,
    /// Steps taken so far, over all slices.
    pub(super) steps: u64,
    deepest: Deepest<M::State>,
}

/// Where the search got deepest, kept for the explanation.
struct Deepest<S> {
    /// The operations of the deepest prefix, in linearization order. Only `prefix[..shared]`
    /// is known to equal the bottom of the current stack.
    prefix: Vec<u32>,
    shared: usize,
    /// The state after the prefix and the return entry that stopped it; `None` until the
    /// search first backtracks.
    point: Option<(S, u32)>,
    /// Operations copied into `prefix` over the whole search: the bookkeeping's cost.
    copied: u64,
}

/// The list's head sentinel and "no entry".
const HEAD: u32 = 0;
const NIL: u32 = u32::MAX;

/// How often (in steps) a running slice looks whether it should stop early.
const CANCEL_CHECK_INTERVAL: u64 = 4096;

/// One call or return entry of the list.
#[derive(Clone, Copy)]
struct Node {
    next: u32,
    prev: u32,
    /// `operation << 1 | is_return`.
    info: u32,
}

impl<'a, M: Model> Search<'a, M> {
    pub(super) fn new(
        model: &'a M,
        mut operations: Vec<&'a Invocation<M::Input, M::Output>>,
    ) -> Self {
        // Numbering by call time keeps the linearized set close to a prefix (see `Bitset`).
        operations.sort_unstable_by_key(|operation| (operation.call_time, operation.history_index));
        assert!(operations.len() < (u32::MAX / 2) as usize, "too many operations in one partition");
        // Entries sort by time; at equal times calls come first, so that intervals are closed.
        let mut entries: Vec<(u64, bool, u32)> = Vec::with_capacity(operations.len() * 2);
        for (id, operation) in operations.iter().enumerate() {
            let id = id as u32;
            entries.push((operation.call_time, false, id));
            let return_time = match &operation.outcome {
                Outcome::Returned { time, .. } => {
                    assert!(
                        *time >= operation.call_time,
                        "operation {} returns before it is called",
                        operation.history_index
                    );
                    *time
                }
                Outcome::Indeterminate => u64::MAX,
            };
            entries.push((return_time, true, id));
        }
        entries.sort_unstable();
        let mut nodes = Vec::with_capacity(entries.len() + 1);
        nodes.push(Node { next: if entries.is_empty() { NIL } else { 1 }, prev: NIL, info: 0 });
        let mut return_entry = vec![0; operations.len()];
        for (position, &(_, is_return, id)) in entries.iter().enumerate() {
            let index = position as u32 + 1;
            let next = if position + 1 == entries.len() { NIL } else { index + 1 };
            nodes.push(Node { next, prev: index - 1, info: id << 1 | u32::from(is_return) });
            if is_return {
                return_entry[id as usize] = index;
            }
        }
        let n = operations.len();
        let cursor = nodes[HEAD as usize].next;
        Search {
            model,
            operations,
            nodes,
            return_entry,
            linearized: Bitset::new(n),
            linearized_hash: 0,
            cache: Cache::new(),
            calls: Vec::new(),
            state: model.init(),
            cursor,
            steps: 0,
            deepest: Deepest { prefix: Vec::new(), shared: 0, point: None, copied: 0 },
        }
    }

    /// Searches for at most `quota` more steps, or until `stop` says so (it is asked every few
    /// thousand steps; a search told to stop is paused, and its result is not used).
    pub(super) fn run(&mut self, quota: u64, stop: &dyn Fn() -> bool) -> Progress {
        let steps_end = self.steps.saturating_add(quota);
        while self.nodes[HEAD as usize].next != NIL {
            if self.steps == steps_end {
                return Progress::Paused;
            }
            if self.steps.is_multiple_of(CANCEL_CHECK_INTERVAL) && stop() {
                return Progress::Paused;
            }
            self.steps += 1;
            let entry = self.cursor;
            let info = self.nodes[entry as usize].info;
            let id = (info >> 1) as usize;
            if info & 1 == 0 {
                let operation = self.operations[id];
                let output = match &operation.outcome {
                    Outcome::Returned { output, .. } => Some(output),
                    Outcome::Indeterminate => None,
                };
                if let Some(next_state) = self.model.step(&self.state, &operation.input, output) {
                    self.linearized.insert(id);
                    self.linearized_hash ^= zobrist(id);
                    if self.cache.insert_if_absent(
                        self.linearized_hash ^ hash_state(&next_state),
                        &next_state,
                        &self.linearized,
                    ) {
                        let previous = std::mem::replace(&mut self.state, next_state);
                        self.calls.push((entry, previous));
                        lift(&mut self.nodes, entry, self.return_entry[id]);
                        self.cursor = self.nodes[HEAD as usize].next;
                        continue;
                    }
                    self.linearized.remove(id);
                    self.linearized_hash ^= zobrist(id);
                }
                self.cursor = self.nodes[entry as usize].next;
            } else {
                // A return entry: its call could not be linearized before it. Backtrack.
                let deeper = match &self.deepest.point {
                    None => true,
                    Some(_) => self.calls.len() > self.deepest.prefix.len(),
                };
                if deeper {
                    self.record_deepest(entry);
                }
                let Some((call, previous)) = self.calls.pop() else {
                    return Progress::NotLinearizable;
                };
                self.deepest.shared = self.deepest.shared.min(self.calls.len());
                let id = (self.nodes[call as usize].info >> 1) as usize;
                self.linearized.remove(id);
                self.linearized_hash ^= zobrist(id);
                self.state = previous;
                unlift(&mut self.nodes, call, self.return_entry[id]);
                self.cursor = self.nodes[call as usize].next;
            }
        }
        Progress::Linearizable
    }

    /// Remembers the current point as the deepest. Only the part of the stack above what the
    /// recorded prefix still shares with it is copied, so the copies over a whole search cost
    /// no more than its pushes.
    fn record_deepest(&mut self, deadline: u32) {
        let deepest = &mut self.deepest;
        deepest.prefix.truncate(deepest.shared);
        let nodes = &self.nodes;
        deepest.prefix.extend(
            self.calls[deepest.shared..].iter().map(|&(call, _)| nodes[call as usize].info >> 1),
        );
        deepest.copied += (self.calls.len() - deepest.shared) as u64;
        deepest.shared = self.calls.len();
        deepest.point = Some((self.state.clone(), deadline));
    }

    /// Why the partition has no linearization: the deepest point the search reached.
    pub(super) fn explain(&self, partition: &str) -> Explanation {
        let describe = |id: u32| {
            let operation = self.operations[id as usize];
            let (return_time, output) = match &operation.outcome {
                Outcome::Returned { time, output } => (Some(*time), Some(output)),
                Outcome::Indeterminate => (None, None),
            };
            DescribedOperation {
                history_index: operation.history_index,
                process: operation.process,
                call_time: operation.call_time,
                return_time,
                description: self.model.describe_operation(&operation.input, output),
            }
        };
        // A failed search backtracked at least once, at depth zero, so the point is set.
        let Some((state, deadline)) = &self.deepest.point else {
            unreachable!("a failed search records its deepest point before failing")
        };
        // At the deepest point the walk had passed every entry before the deadline, and a
        // return entry there would have stopped it sooner: so those entries are exactly the
        // calls of operations outside the prefix.
        let mut in_prefix = vec![false; self.operations.len()];
        for &id in &self.deepest.prefix {
            in_prefix[id as usize] = true;
        }
        let stuck = self.nodes[1..*deadline as usize]
            .iter()
            .filter(|node| node.info & 1 == 0 && !in_prefix[(node.info >> 1) as usize])
            .map(|node| describe(node.info >> 1))
            .collect();
        Explanation {
            partition: partition.to_string(),
            partition_operations_total: self.operations.len(),
            longest_prefix: self.deepest.prefix.iter().map(|&id| describe(id)).collect(),
            state_after_prefix: self.model.describe_state(state),
            stuck,
            deadline: describe(self.nodes[*deadline as usize].info >> 1),
        }
    }
}

/// Unlinks a call entry and its return entry.
#[inline]
fn lift(nodes: &mut [Node], call: u32, ret: u32) {
    let Node { next, prev, .. } = nodes[call as usize];
    nodes[prev as usize].next = next;
    // A call is always followed by at least its own return, so `next` is an entry.
    nodes[next as usize].prev = prev;
    let Node { next, prev, .. } = nodes[ret as usize];
    nodes[prev as usize].next = next;
    if next != NIL {
        nodes[next as usize].prev = prev;
    }
}

/// Relinks what `lift` unlinked; calls are unlifted in reverse order of lifting.
#[inline]
fn unlift(nodes: &mut [Node], call: u32, ret: u32) {
    let Node { next, prev, .. } = nodes[ret as usize];
    nodes[prev as usize].next = ret;
    if next != NIL {
        nodes[next as usize].prev = ret;
    }
    let Node { next, prev, .. } = nodes[call as usize];
    nodes[prev as usize].next = call;
    nodes[next as usize].prev = call;
}

/// The Zobrist key of operation `id` in the linearized-set hash.
#[inline]
fn zobrist(id: usize) -> u64 {
    splitmix64(id as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::linearizability::Partition;

    /// A register of small integers.
    struct Register;

    impl Model for Register {
        type State = u8;
        type Input = Option<u8>;
        type Output = u8;

        fn init(&self) -> u8 {
            0
        }

        fn step(&self, state: &u8, write: &Option<u8>, read: Option<&u8>) -> Option<u8> {
            match (write, read) {
                (Some(value), _) => Some(*value),
                (None, Some(read)) if read != state => None,
                (None, _) => Some(*state),
            }
        }

        fn partition(&self, operations: &[Invocation<Option<u8>, u8>]) -> Vec<Partition> {
            vec![Partition { label: String::new(), operations: (0..operations.len()).collect() }]
        }

        fn describe_operation(&self, write: &Option<u8>, read: Option<&u8>) -> String {
            format!("{write:?} {read:?}")
        }

        fn describe_state(&self, state: &u8) -> String {
            state.to_string()
        }
    }

    // Proves the explanation's bookkeeping is linear: a history that backtracks at every new
    // depth (two concurrent writes, then a read of the first) copies a few operations per
    // backtrack into the recorded prefix, not the whole prefix each time.
    #[test]
    fn deepest_prefix_bookkeeping_is_linear() {
        let groups = 5_000u64;
        let mut operations = Vec::new();
        for group in 0..groups {
            let t = group * 10;
            let returned = |time, output| Outcome::Returned { time, output };
            let op = |process, call_time, outcome, input| Invocation {
                process,
                call_time,
                outcome,
                input,
                history_index: operations_index(group, process),
            };
            operations.push(op(0, t, returned(t + 5, 0), Some(1)));
            operations.push(op(1, t, returned(t + 5, 0), Some(2)));
            operations.push(op(2, t + 6, returned(t + 7, 1), None));
        }
        let mut search = Search::new(&Register, operations.iter().collect());
        assert_eq!(search.run(u64::MAX, &|| false), Progress::Linearizable);
        let copied = search.deepest.copied;
        assert!(copied < 10 * groups, "{copied} operations copied for {groups} groups");
        assert!(search.deepest.prefix.len() as u64 > 3 * (groups - 1), "the deepest prefix");
    }

    fn operations_index(group: u64, process: u64) -> usize {
        (group * 3 + process) as usize
    }
}
