//! The linearizability checker: is there a total order of the operations, consistent with real
//! time, that a sequential model accepts?
//!
//! The search is Wing & Gong's, with Lowe's memoisation, as in porcupine: call and return entries
//! sit in one doubly linked list ordered by time; the search walks it from the head, tries to
//! linearize each call it meets (the model must accept the call's input and output in the
//! current state), lifts linearized calls out of the list, and backtracks when it meets a return
//! entry whose call could not be linearized before it. A cache of (set of linearized operations,
//! model state) pairs already explored prunes the search, since the future of the search depends
//! only on that pair. A model may split the history into independent parts (keys) that are
//! checked separately (P-compositionality), which turns one exponential search into many small
//! ones.
//!
//! What makes it fast, and why:
//! - the list is three `u32` per entry in one `Vec`, linked by index, never by pointer;
//! - the linearized set is a bitset with an incrementally maintained Zobrist hash, and the cache
//!   stores it compactly: operations are numbered in call order, so the set is mostly a prefix
//!   of all-ones words plus a short window, and only the window is stored;
//! - the cache is our own open-addressing table keyed by a deterministic hash (no `RandomState`);
//! - states move in and out of the backtracking stack without cloning; only a cache insert
//!   clones, and built-in models use `Copy` states of four bytes.
//!
//! Operations whose outcome is unknown (`:info`, or never completed) return at +infinity and are
//! stepped with no output: the model applies them with whatever output they would have had.
//!
//! The search is bounded by a count of steps, never by wall time, so a verdict — including
//! `Unknown` and the step counts — is a pure function of the input.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

/// A sequential specification the checker tests histories against.
///
/// Models must be deterministic in their effect: given a state and an input, the next state
/// may depend on the output only in whether the step is legal. That is what lets an operation
/// with an unknown outcome be stepped with `output = None`.
pub trait Model {
    /// The model's state. Hashed with the checker's own deterministic hasher.
    type State: Clone + Eq + Hash;
    type Input;
    type Output;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after applying `input` that returned `output` to `state`, or `None` if the
    /// model cannot produce `output` in `state`. `output` is `None` for an operation whose
    /// outcome is unknown: the step must then succeed with any output the model allows.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Splits the operations into parts that are linearizable together exactly when each part
    /// is (e.g. one part per key). Each part lists indices into `operations`. By default, one
    /// part holding everything.
    fn partition(&self, operations: &[Invocation<Self::Input, Self::Output>]) -> Vec<Partition> {
        vec![Partition { label: String::new(), operations: (0..operations.len()).collect() }]
    }

    /// A human-readable operation, for explanations: `write 3`, `read -> 1`.
    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;

    /// A human-readable state, for explanations.
    fn describe_state(&self, state: &Self::State) -> String;
}

/// One operation as the checker sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation<I, O> {
    pub process: u64,
    pub call_time: u64,
    pub outcome: Outcome<O>,
    pub input: I,
    /// Which operation of the original history this is, for explanations.
    pub history_index: usize,
}

/// How an invocation ended, as far as the checker knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<O> {
    /// It returned `output` at `time` (time is inclusive: an operation returning at t overlaps
    /// one invoked at t, as in porcupine).
    Returned { time: u64, output: O },
    /// It may or may not have taken effect; it is treated as returning at +infinity.
    Indeterminate,
}

/// One independent part of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// What the part is, for explanations: `key 3`; empty for a history that is not split.
    pub label: String,
    /// Indices into the checked operations.
    pub operations: Vec<usize>,
}

/// The outcome of a check, with the work it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    pub operations_total: usize,
    pub partitions_total: usize,
    /// Partitions searched before the verdict was known (a failure stops the rest).
    pub partitions_checked: usize,
    pub steps_total: u64,
}

/// Whether a history is linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Box<Explanation>),
    /// The step budget ran out before the search finished.
    Unknown {
        steps: u64,
    },
}

/// Why a history is not linearizable: where the search got deepest, and what it could not do
/// there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The partition (key) that failed; empty when the history was not split.
    pub partition: String,
    pub partition_operations_total: usize,
    /// The longest linearizable prefix the search found, in linearization order.
    pub longest_prefix: Vec<DescribedOperation>,
    /// The model state after that prefix.
    pub state_after_prefix: String,
    /// The operations that could be linearized next at that point and were not: each was
    /// illegal in that state, or led only to explored dead ends.
    pub stuck: Vec<DescribedOperation>,
    /// The operation whose return ended the attempt: it had to be linearized before it
    /// returned, and could not be.
    pub deadline: DescribedOperation,
}

/// An operation named for humans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedOperation {
    pub history_index: usize,
    pub process: u64,
    pub call_time: u64,
    /// `None` for an operation with unknown outcome.
    pub return_time: Option<u64>,
    pub description: String,
}

/// A default budget: enough for every history we have seen that a check finishes at all.
pub const STEPS_MAX_DEFAULT: u64 = 100_000_000;

/// Checks `operations` against `model`, spending at most `steps_max` search steps in total.
///
/// Partitions are searched in parallel (as porcupine does), but the report is the one a
/// sequential check in partition order gives: the first partition that fails or that would
/// exhaust the remaining budget decides, whatever the thread count or timing. A partition
/// after one that already failed is skipped, since its result cannot matter.
pub fn check_operations<M>(
    model: &M,
    operations: &[Invocation<M::Input, M::Output>],
    steps_max: u64,
) -> Report
where
    M: Model + Sync,
    M::Input: Sync,
    M::Output: Sync,
{
    let partitions = model.partition(operations);
    for partition in &partitions {
        for &index in &partition.operations {
            assert!(
                index < operations.len(),
                "partition names operation {index} of {}",
                operations.len()
            );
        }
    }
    // The smallest partition index known to end the check: later ones need not run.
    let decided = AtomicUsize::new(usize::MAX);
    let searched: Vec<Option<Searched>> = partitions
        .par_iter()
        .enumerate()
        .map(|(index, partition)| {
            if index > decided.load(Ordering::Relaxed) {
                return None;
            }
            let members = partition.operations.iter().map(|&i| &operations[i]).collect();
            let mut search = Search::new(model, members);
            let result = search.run(steps_max);
            let explanation = match result {
                SearchResult::Linearizable => None,
                SearchResult::BudgetExhausted => {
                    decided.fetch_min(index, Ordering::Relaxed);
                    None
                }
                SearchResult::NotLinearizable => {
                    decided.fetch_min(index, Ordering::Relaxed);
                    Some(Box::new(search.explain(&partition.label)))
                }
            };
            Some(Searched { result, steps: search.steps, explanation })
        })
        .collect();
    let mut report = Report {
        verdict: Verdict::Linearizable,
        operations_total: operations.len(),
        partitions_total: partitions.len(),
        partitions_checked: 0,
        steps_total: 0,
    };
    for searched in searched {
        let Some(searched) = searched else {
            unreachable!("a partition was skipped before the one that decided the check")
        };
        report.partitions_checked += 1;
        let budget = steps_max - report.steps_total;
        if searched.steps > budget || searched.result == SearchResult::BudgetExhausted {
            // Sequentially, this partition would have run out of what was left.
            report.steps_total = steps_max;
            report.verdict = Verdict::Unknown { steps: steps_max };
            return report;
        }
        report.steps_total += searched.steps;
        if let Some(explanation) = searched.explanation {
            report.verdict = Verdict::NotLinearizable(explanation);
            return report;
        }
    }
    report
}

/// One partition's search, as the parallel phase hands it to the ordered fold.
struct Searched {
    result: SearchResult,
    steps: u64,
    explanation: Option<Box<Explanation>>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let work = format!(
            "{} operations, {} of {} partitions checked, {} steps",
            self.operations_total, self.partitions_checked, self.partitions_total, self.steps_total
        );
        match &self.verdict {
            Verdict::Linearizable => write!(f, "linearizable ({work})"),
            Verdict::Unknown { steps } => {
                write!(f, "unknown: the step budget ran out after {steps} steps ({work})")
            }
            Verdict::NotLinearizable(explanation) => {
                write!(f, "not linearizable ({work})\n{explanation}")
            }
        }
    }
}

/// How many prefix operations a Display shows; the failure is at the end of the prefix.
const PREFIX_SHOWN_MAX: usize = 10;

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let partition = if self.partition.is_empty() {
            "the history".to_string()
        } else {
            self.partition.clone()
        };
        writeln!(
            f,
            "{partition} ({} operations) has no linearization.",
            self.partition_operations_total
        )?;
        let shown = self.longest_prefix.len().min(PREFIX_SHOWN_MAX);
        writeln!(
            f,
            "longest linearizable prefix: {} operations{}",
            self.longest_prefix.len(),
            if shown < self.longest_prefix.len() {
                format!(", the last {shown}:")
            } else if shown > 0 {
                ":".to_string()
            } else {
                String::new()
            }
        )?;
        for operation in &self.longest_prefix[self.longest_prefix.len() - shown..] {
            writeln!(f, "  {operation}")?;
        }
        writeln!(f, "state after it: {}", self.state_after_prefix)?;
        writeln!(f, "no operation could be linearized next:")?;
        for operation in &self.stuck {
            writeln!(f, "  {operation}")?;
        }
        write!(
            f,
            "yet {} returned at {}.",
            short_name(&self.deadline),
            describe_time(self.deadline.return_time)
        )
    }
}

impl fmt::Display for DescribedOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} process {} [{}, {}] {}",
            short_name(self),
            self.process,
            self.call_time,
            describe_time(self.return_time),
            self.description
        )
    }
}

fn short_name(operation: &DescribedOperation) -> String {
    format!("op #{}", operation.history_index)
}

fn describe_time(time: Option<u64>) -> String {
    time.map_or_else(|| "unknown".to_string(), |time| time.to_string())
}

/// The checker's deterministic hasher: FxHash's word step (rotate, xor, multiply). Its output
/// is a function of the bytes hashed only, unlike std's randomly seeded `RandomState`.
#[derive(Default)]
pub struct FxHasher {
    hash: u64,
}

const FX_MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_MULTIPLIER);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u16(&mut self, value: u16) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// SplitMix64's finaliser: spreads consecutive integers over all 64 bits.
fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The list's head sentinel and "no entry".
const HEAD: u32 = 0;
const NIL: u32 = u32::MAX;

/// One call or return entry of the list.
#[derive(Clone, Copy)]
struct Node {
    next: u32,
    prev: u32,
    /// `operation << 1 | is_return`.
    info: u32,
}

#[derive(PartialEq, Eq)]
enum SearchResult {
    Linearizable,
    NotLinearizable,
    BudgetExhausted,
}

/// Where the search got deepest, kept for the explanation.
struct Deepest<S> {
    prefix: Vec<u32>,
    state: S,
    stuck: Vec<u32>,
    deadline: u32,
}

/// The search over one partition.
struct Search<'a, M: Model> {
    model: &'a M,
    /// The partition's operations, numbered in call order.
    operations: Vec<&'a Invocation<M::Input, M::Output>>,
    nodes: Vec<Node>,
    return_entry: Vec<u32>,
    steps: u64,
    deepest: Option<Deepest<M::State>>,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, mut operations: Vec<&'a Invocation<M::Input, M::Output>>) -> Self {
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
        Search { model, operations, nodes, return_entry, steps: 0, deepest: None }
    }

    fn run(&mut self, steps_max: u64) -> SearchResult {
        let n = self.operations.len();
        let inputs: Vec<&M::Input> =
            self.operations.iter().map(|operation| &operation.input).collect();
        let outputs: Vec<Option<&M::Output>> = self
            .operations
            .iter()
            .map(|operation| match &operation.outcome {
                Outcome::Returned { output, .. } => Some(output),
                Outcome::Indeterminate => None,
            })
            .collect();
        let zobrist: Vec<u64> = (0..n as u64).map(|id| splitmix64(id + 1)).collect();
        let mut linearized = Bitset::new(n);
        let mut linearized_hash = 0u64;
        let mut cache: Cache<M::State> = Cache::new();
        let mut calls: Vec<(u32, M::State)> = Vec::new();
        let mut state = self.model.init();
        let mut entry = self.nodes[HEAD as usize].next;
        while self.nodes[HEAD as usize].next != NIL {
            if self.steps == steps_max {
                return SearchResult::BudgetExhausted;
            }
            self.steps += 1;
            let info = self.nodes[entry as usize].info;
            let id = (info >> 1) as usize;
            if info & 1 == 0 {
                if let Some(next_state) = self.model.step(&state, inputs[id], outputs[id]) {
                    linearized.insert(id);
                    linearized_hash ^= zobrist[id];
                    if cache.insert_if_absent(
                        linearized_hash ^ hash_state(&next_state),
                        &next_state,
                        &linearized,
                    ) {
                        let previous = std::mem::replace(&mut state, next_state);
                        calls.push((entry, previous));
                        self.lift(entry, self.return_entry[id]);
                        entry = self.nodes[HEAD as usize].next;
                        continue;
                    }
                    linearized.remove(id);
                    linearized_hash ^= zobrist[id];
                }
                entry = self.nodes[entry as usize].next;
            } else {
                // A return entry: its call could not be linearized before it. Backtrack.
                if self.deepest.as_ref().is_none_or(|deepest| calls.len() > deepest.prefix.len()) {
                    self.record_deepest(&calls, &state, entry);
                }
                let Some((call, previous)) = calls.pop() else {
                    return SearchResult::NotLinearizable;
                };
                let id = (self.nodes[call as usize].info >> 1) as usize;
                linearized.remove(id);
                linearized_hash ^= zobrist[id];
                state = previous;
                self.unlift(call, self.return_entry[id]);
                entry = self.nodes[call as usize].next;
            }
        }
        SearchResult::Linearizable
    }

    /// Unlinks a call entry and its return entry.
    #[inline]
    fn lift(&mut self, call: u32, ret: u32) {
        let Node { next, prev, .. } = self.nodes[call as usize];
        self.nodes[prev as usize].next = next;
        // A call is always followed by at least its own return, so `next` is an entry.
        self.nodes[next as usize].prev = prev;
        let Node { next, prev, .. } = self.nodes[ret as usize];
        self.nodes[prev as usize].next = next;
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
    }

    /// Relinks what `lift` unlinked; calls are unlifted in reverse order of lifting.
    #[inline]
    fn unlift(&mut self, call: u32, ret: u32) {
        let Node { next, prev, .. } = self.nodes[ret as usize];
        self.nodes[prev as usize].next = ret;
        if next != NIL {
            self.nodes[next as usize].prev = ret;
        }
        let Node { next, prev, .. } = self.nodes[call as usize];
        self.nodes[prev as usize].next = call;
        self.nodes[next as usize].prev = call;
    }

    /// Remembers the current point as the deepest. Every entry between the head and `deadline`
    /// is a call the search could not linearize here.
    fn record_deepest(&mut self, calls: &[(u32, M::State)], state: &M::State, deadline: u32) {
        let prefix = calls.iter().map(|&(call, _)| self.nodes[call as usize].info >> 1).collect();
        let mut stuck = Vec::new();
        let mut entry = self.nodes[HEAD as usize].next;
        while entry != deadline && entry != NIL {
            stuck.push(self.nodes[entry as usize].info >> 1);
            entry = self.nodes[entry as usize].next;
        }
        let deadline = self.nodes[deadline as usize].info >> 1;
        self.deepest = Some(Deepest { prefix, state: state.clone(), stuck, deadline });
    }

    fn explain(&self, partition: &str) -> Explanation {
        let describe = |id: u32, with_output: bool| {
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
                description: self
                    .model
                    .describe_operation(&operation.input, if with_output { output } else { None }),
            }
        };
        // The search always backtracks at least once before failing, so `deepest` is set.
        let Some(deepest) = &self.deepest else {
            unreachable!("a failed search records its deepest point before failing")
        };
        Explanation {
            partition: partition.to_string(),
            partition_operations_total: self.operations.len(),
            longest_prefix: deepest.prefix.iter().map(|&id| describe(id, true)).collect(),
            state_after_prefix: self.model.describe_state(&deepest.state),
            stuck: deepest.stuck.iter().map(|&id| describe(id, true)).collect(),
            deadline: describe(deepest.deadline, true),
        }
    }
}

fn hash_state<S: Hash>(state: &S) -> u64 {
    let mut hasher = FxHasher::default();
    state.hash(&mut hasher);
    hasher.finish()
}

/// The set of linearized operations. Operations are numbered in call order and the search
/// linearizes roughly in that order, so the set is "all operations below some point, plus a few
/// after it": words below `low` are all ones and words from `high` on are all zeros, and only
/// `words[low..high]` distinguishes two sets. That window is what the cache stores.
struct Bitset {
    words: Vec<u64>,
    /// The first word that is not all ones.
    low: usize,
    /// One past the last word that is not zero.
    high: usize,
}

impl Bitset {
    fn new(bits: usize) -> Bitset {
        Bitset { words: vec![0; bits.div_ceil(64)], low: 0, high: 0 }
    }

    #[inline]
    fn insert(&mut self, bit: usize) {
        let word = bit / 64;
        self.words[word] |= 1 << (bit % 64);
        self.high = self.high.max(word + 1);
        while self.low < self.words.len() && self.words[self.low] == u64::MAX {
            self.low += 1;
        }
    }

    #[inline]
    fn remove(&mut self, bit: usize) {
        let word = bit / 64;
        self.words[word] &= !(1 << (bit % 64));
        self.low = self.low.min(word);
        while self.high > 0 && self.words[self.high - 1] == 0 {
            self.high -= 1;
        }
    }

    #[inline]
    fn window(&self) -> &[u64] {
        &self.words[self.low..self.high]
    }
}

/// One explored (linearized set, state) pair.
struct CacheEntry<S> {
    state: S,
    low: u32,
    window_length: u32,
    window_offset: usize,
}

/// The set of explored (linearized set, state) pairs: open addressing with linear probing over
/// slots of (hash, entry index + 1), windows of the bitsets kept in one arena.
struct Cache<S> {
    slots: Vec<(u64, u32)>,
    entries: Vec<CacheEntry<S>>,
    windows: Vec<u64>,
    shift: u32,
}

const CACHE_SLOTS_INITIAL: usize = 1 << 10;

impl<S: Clone + Eq> Cache<S> {
    fn new() -> Cache<S> {
        Cache {
            slots: vec![(0, 0); CACHE_SLOTS_INITIAL],
            entries: Vec::new(),
            windows: Vec::new(),
            shift: 64 - CACHE_SLOTS_INITIAL.trailing_zeros(),
        }
    }

    /// Adds the pair unless present; true when it was new.
    #[inline]
    fn insert_if_absent(&mut self, hash: u64, state: &S, linearized: &Bitset) -> bool {
        // Multiply so that the slot, taken from the high bits, depends on every bit of the hash.
        let hash = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mask = self.slots.len() - 1;
        let window = linearized.window();
        let mut slot = (hash >> self.shift) as usize;
        loop {
            let (slot_hash, index) = self.slots[slot];
            if index == 0 {
                break;
            }
            if slot_hash == hash {
                let entry = &self.entries[index as usize - 1];
                if entry.low as usize == linearized.low
                    && entry.window_length as usize == window.len()
                    && entry.state == *state
                    && self.windows[entry.window_offset..entry.window_offset + window.len()]
                        == *window
                {
                    return false;
                }
            }
            slot = (slot + 1) & mask;
        }
        assert!(self.entries.len() < u32::MAX as usize - 1, "cache entries overflow u32");
        self.entries.push(CacheEntry {
            state: state.clone(),
            low: linearized.low as u32,
            window_length: window.len() as u32,
            window_offset: self.windows.len(),
        });
        self.windows.extend_from_slice(window);
        self.slots[slot] = (hash, self.entries.len() as u32);
        // Keep the load under a half so probe sequences stay short.
        if self.entries.len() * 2 > self.slots.len() {
            self.grow();
        }
        true
    }

    fn grow(&mut self) {
        let capacity = self.slots.len() * 2;
        self.shift -= 1;
        let mask = capacity - 1;
        let mut slots = vec![(0u64, 0u32); capacity];
        for &(hash, index) in &self.slots {
            if index == 0 {
                continue;
            }
            let mut slot = (hash >> self.shift) as usize;
            while slots[slot].1 != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = (hash, index);
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register of small integers, written here so the checker is tested apart from the
    /// built-in models' history conversion.
    struct TestRegister;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum TestInput {
        Read,
        Write(u8),
    }

    impl Model for TestRegister {
        type State = u8;
        type Input = TestInput;
        type Output = u8;

        fn init(&self) -> u8 {
            0
        }

        fn step(&self, state: &u8, input: &TestInput, output: Option<&u8>) -> Option<u8> {
            match input {
                TestInput::Write(value) => Some(*value),
                TestInput::Read => match output {
                    Some(read) if read != state => None,
                    _ => Some(*state),
                },
            }
        }

        fn describe_operation(&self, input: &TestInput, output: Option<&u8>) -> String {
            format!("{input:?} -> {output:?}")
        }

        fn describe_state(&self, state: &u8) -> String {
            state.to_string()
        }
    }

    type TestInvocation = Invocation<TestInput, u8>;

    /// An operation called at `call`, returning `output` at `ret` (`None`: indeterminate).
    fn operation(
        process: u64,
        call: u64,
        ret: Option<u64>,
        input: TestInput,
        output: u8,
    ) -> TestInvocation {
        Invocation {
            process,
            call_time: call,
            outcome: match ret {
                Some(time) => Outcome::Returned { time, output },
                None => Outcome::Indeterminate,
            },
            input,
            history_index: 0,
        }
    }

    fn numbered(mut operations: Vec<TestInvocation>) -> Vec<TestInvocation> {
        for (index, operation) in operations.iter_mut().enumerate() {
            operation.history_index = index;
        }
        operations
    }

    /// Every order of the operations that respects real time, tried one by one: the definition
    /// of linearizability, for cross-checking the search on small histories.
    fn brute_force_linearizable(operations: &[TestInvocation]) -> bool {
        fn extend(operations: &[TestInvocation], used: &mut Vec<bool>, state: u8) -> bool {
            if used.iter().all(|&u| u) {
                return true;
            }
            for candidate in 0..operations.len() {
                if used[candidate] {
                    continue;
                }
                // A candidate may go next only if no unused operation returned before it began.
                let blocked = (0..operations.len()).any(|other| {
                    !used[other]
                        && other != candidate
                        && matches!(operations[other].outcome, Outcome::Returned { time, .. } if time < operations[candidate].call_time)
                });
                if blocked {
                    continue;
                }
                let output = match &operations[candidate].outcome {
                    Outcome::Returned { output, .. } => Some(output),
                    Outcome::Indeterminate => None,
                };
                if let Some(next) = TestRegister.step(&state, &operations[candidate].input, output)
                {
                    used[candidate] = true;
                    if extend(operations, used, next) {
                        return true;
                    }
                    used[candidate] = false;
                }
            }
            false
        }
        extend(operations, &mut vec![false; operations.len()], 0)
    }

    fn verdict_is_linearizable(operations: &[TestInvocation]) -> bool {
        match check_operations(&TestRegister, operations, STEPS_MAX_DEFAULT).verdict {
            Verdict::Linearizable => true,
            Verdict::NotLinearizable(_) => false,
            Verdict::Unknown { steps } => panic!("a tiny history exhausted the budget at {steps}"),
        }
    }

    // Proves the checker agrees exactly with brute force on random small histories: generated
    // from a real sequential execution (linearizable by construction), half of them with one
    // read's value changed (usually not linearizable), some operations left indeterminate.
    #[test]
    fn search_agrees_with_brute_force_on_random_histories() {
        let mut rng = crate::rng::Stream::new(7, "check.linearizability.cross_check");
        let mut outcomes = [0usize; 2];
        for _ in 0..3000 {
            let n = rng.uniform_u64(1, 7) as usize;
            // Each operation takes effect at a distinct instant inside its interval.
            let mut state = 0u8;
            let mut operations = Vec::with_capacity(n);
            for point in 0..n as u64 {
                let effect_time = point * 10 + 5;
                let input = if rng.bernoulli(0.5) {
                    TestInput::Read
                } else {
                    TestInput::Write(rng.below(3) as u8)
                };
                let output = match input {
                    TestInput::Read => state,
                    TestInput::Write(value) => {
                        state = value;
                        0
                    }
                };
                let call = effect_time - rng.uniform_u64(0, 25).min(effect_time);
                let ret = effect_time + rng.uniform_u64(0, 25);
                let ret = if rng.bernoulli(0.15) { None } else { Some(ret) };
                operations.push(operation(rng.below(4), call, ret, input, output));
            }
            if rng.bernoulli(0.5) {
                let reads: Vec<usize> = (0..n)
                    .filter(|&i| {
                        operations[i].input == TestInput::Read
                            && operations[i].outcome != Outcome::Indeterminate
                    })
                    .collect();
                if !reads.is_empty() {
                    let chosen = reads[rng.below(reads.len() as u64) as usize];
                    if let Outcome::Returned { output, .. } = &mut operations[chosen].outcome {
                        *output = (*output + 1 + rng.below(2) as u8) % 3;
                    }
                }
            }
            let operations = numbered(operations);
            let expected = brute_force_linearizable(&operations);
            assert_eq!(verdict_is_linearizable(&operations), expected, "history: {operations:#?}");
            outcomes[usize::from(expected)] += 1;
        }
        // Both verdicts must be well represented, or the cross-check proves little.
        assert!(outcomes[0] > 300 && outcomes[1] > 300, "outcomes {outcomes:?}");
    }

    // Proves a step budget that is too small yields Unknown with the exact steps spent, and that
    // the same input gives the same report every time.
    #[test]
    fn budget_exhaustion_is_unknown_and_deterministic() {
        let operations: Vec<TestInvocation> = numbered(
            (0..20)
                .map(|i| {
                    operation(
                        i,
                        0,
                        Some(100),
                        if i % 2 == 0 { TestInput::Write(i as u8) } else { TestInput::Read },
                        250,
                    )
                })
                .collect(),
        );
        let report = check_operations(&TestRegister, &operations, 50);
        assert_eq!(report.verdict, Verdict::Unknown { steps: 50 });
        assert_eq!(report.steps_total, 50);
        let full = check_operations(&TestRegister, &operations, STEPS_MAX_DEFAULT);
        assert!(matches!(full.verdict, Verdict::NotLinearizable(_)));
        assert_eq!(full, check_operations(&TestRegister, &operations, STEPS_MAX_DEFAULT));
    }

    // Proves operations that merely touch in time (one returns at t, the other is called at t)
    // count as concurrent, as porcupine's closed intervals do.
    #[test]
    fn touching_intervals_are_concurrent() {
        let operations = numbered(vec![
            operation(0, 0, Some(10), TestInput::Read, 1),
            operation(1, 10, Some(20), TestInput::Write(1), 0),
        ]);
        assert!(verdict_is_linearizable(&operations));
    }

    // Proves the deterministic hasher hashes by content and the bitset window stays canonical.
    #[test]
    fn hasher_and_bitset_are_canonical() {
        assert_eq!(hash_state(&(1u32, 2u64)), hash_state(&(1u32, 2u64)));
        assert_ne!(hash_state(&1u32), hash_state(&2u32));
        let mut bits = Bitset::new(200);
        for bit in 0..130 {
            bits.insert(bit);
        }
        assert_eq!((bits.low, bits.high), (2, 3));
        bits.remove(129);
        bits.remove(128);
        assert_eq!((bits.low, bits.high, bits.window()), (2, 2, &[][..]));
        bits.remove(3);
        assert_eq!((bits.low, bits.high), (0, 2));
    }
}
