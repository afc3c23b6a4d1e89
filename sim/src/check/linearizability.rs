//! The linearizability checker: is there a total order of the operations, consistent with real
//! time, that a sequential model accepts?
//!
//! This file owns the contract (the [`Model`] trait, what an operation is) and the schedule of
//! the search over a history's independent parts; the search over one part is `search`, the
//! report and its witness are `report`.
//!
//! A model may split the history into independent parts (keys) that are checked separately
//! (P-compositionality), which turns one exponential search into many small ones. Parts are
//! searched in rounds: every undecided part gets a slice of steps, in parallel, and the slices
//! grow fourfold each round. The first round that proves a violation anywhere ends the check,
//! so a part that fails quickly is found even when another part would exhaust any budget; the
//! witness is the first failing part in cheapest-first order (fewest operations, then the
//! model's order). Slices are counted in steps, never timed, and each part's search resumes
//! where it paused, so the verdict, the witness and the step counts are pure functions of the
//! history and the budget, whatever the thread count or timing.
//!
//! Operations whose outcome is unknown (`:info`, or never completed) return at +infinity and are
//! stepped with no output: the model applies them with whatever output they would have had.

use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::report::{Report, Verdict};
use super::search::{Progress, Search};

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

/// A default budget: enough for every history we have seen that a check finishes at all.
pub const STEPS_MAX_DEFAULT: u64 = 100_000_000;

/// The steps each undecided part gets in the first round; each later round gives four times
/// the previous one.
pub const ROUND_STEPS_FIRST: u64 = 1 << 16;

const ROUND_GROWTH: u64 = 4;

/// A round searches its parts on several threads only when they hold this many operations.
const PARALLEL_OPERATIONS_MIN: usize = 4096;

/// Checks `operations` against `model`, spending at most `steps_max` search steps in total.
///
/// The parts the model splits the history into are searched in rounds (see the module
/// documentation): a violation proven in any part wins over parts still undecided, and the
/// report is the same for any thread count.
pub fn check_operations<'a, M>(
    model: &'a M,
    operations: &'a [Invocation<M::Input, M::Output>],
    steps_max: u64,
) -> Report
where
    M: Model + Sync,
    M::Input: Sync,
    M::Output: Sync,
    M::State: Send,
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
    // Cheapest first: the order in which a round's results are read, so the witness is the
    // smallest failing part of the first round that found one.
    let mut order: Vec<usize> = (0..partitions.len()).collect();
    order.sort_by_key(|&index| (partitions[index].operations.len(), index));
    let mut undecided: Vec<Part<'a, M>> =
        order.into_iter().map(|index| Part { partition: index, search: None }).collect();
    let mut report = Report {
        verdict: Verdict::Linearizable,
        operations_total: operations.len(),
        partitions_total: partitions.len(),
        partitions_checked: 0,
        steps_total: 0,
    };
    let mut round_steps = ROUND_STEPS_FIRST;
    while !undecided.is_empty() {
        let remaining = steps_max - report.steps_total;
        // A part alone needs no slicing: it gets all that is left.
        let slice = if undecided.len() == 1 {
            remaining
        } else {
            round_steps.min(remaining / undecided.len() as u64)
        };
        if slice == 0 {
            report.verdict = Verdict::Unknown {
                steps: report.steps_total,
                undecided: undecided
                    .iter()
                    .map(|part| {
                        let partition = &partitions[part.partition];
                        (partition.label.clone(), partition.operations.len())
                    })
                    .collect(),
            };
            return report;
        }
        // The first position (in cheapest-first order) that failed in this round; parts after
        // it stop early, since their results cannot change the report.
        let first_failure = AtomicUsize::new(usize::MAX);
        let search_part = |position: usize, part: &mut Part<'a, M>| {
            if first_failure.load(Ordering::Relaxed) < position {
                return (Progress::Paused, 0);
            }
            let search = part.search.get_or_insert_with(|| {
                let members = partitions[part.partition].operations.iter().map(|&i| &operations[i]);
                Search::new(model, members.collect())
            });
            let before = search.steps;
            let stop = || first_failure.load(Ordering::Relaxed) < position;
            let progress = search.run(slice, &stop);
            if progress == Progress::NotLinearizable {
                first_failure.fetch_min(position, Ordering::Relaxed);
            }
            (progress, search.steps - before)
        };
        // Threads pay only for enough work: a round over a few small parts (or one part) runs
        // here. Either way the results, read in order below, are the same.
        let pending: usize =
            undecided.iter().map(|part| partitions[part.partition].operations.len()).sum();
        let results: Vec<(Progress, u64)> =
            if undecided.len() == 1 || pending < PARALLEL_OPERATIONS_MIN {
                undecided.iter_mut().enumerate().map(|(i, part)| search_part(i, part)).collect()
            } else {
                undecided.par_iter_mut().enumerate().map(|(i, part)| search_part(i, part)).collect()
            };
        let first_failure = first_failure.into_inner();
        // Only parts up to the first failure count: parts after it may have been stopped at a
        // moment that depends on timing.
        for (position, &(progress, steps)) in results.iter().enumerate() {
            if position > first_failure {
                break;
            }
            report.steps_total += steps;
            if progress != Progress::Paused {
                report.partitions_checked += 1;
            }
        }
        if first_failure != usize::MAX {
            let part = &undecided[first_failure];
            let Some(search) = &part.search else {
                unreachable!("a part that failed was searched")
            };
            let explanation = search.explain(&partitions[part.partition].label);
            report.verdict = Verdict::NotLinearizable(Box::new(explanation));
            return report;
        }
        // Decided parts leave (and free their search); the rest resume next round.
        let mut results = results.into_iter();
        undecided
            .retain(|_| results.next().is_some_and(|(progress, _)| progress == Progress::Paused));
        round_steps = round_steps.saturating_mul(ROUND_GROWTH);
    }
    report
}

/// A part of the history still undecided, with its search once it started.
struct Part<'a, M: Model> {
    partition: usize,
    search: Option<Search<'a, M>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::report::Explanation;

    /// A register of small integers per key, written here so the checker is tested apart from
    /// the built-in models' history conversion. One partition per key, in key order.
    struct TestRegister;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum TestAction {
        Read,
        Write(u8),
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct TestInput {
        key: u8,
        action: TestAction,
    }

    impl Model for TestRegister {
        type State = u8;
        type Input = TestInput;
        type Output = u8;

        fn init(&self) -> u8 {
            0
        }

        fn step(&self, state: &u8, input: &TestInput, output: Option<&u8>) -> Option<u8> {
            match input.action {
                TestAction::Write(value) => Some(value),
                TestAction::Read => match output {
                    Some(read) if read != state => None,
                    _ => Some(*state),
                },
            }
        }

        fn partition(&self, operations: &[TestInvocation]) -> Vec<Partition> {
            let mut by_key = std::collections::BTreeMap::<u8, Vec<usize>>::new();
            for (index, operation) in operations.iter().enumerate() {
                by_key.entry(operation.input.key).or_default().push(index);
            }
            by_key
                .into_iter()
                .map(|(key, operations)| Partition { label: format!("key {key}"), operations })
                .collect()
        }

        fn describe_operation(&self, input: &TestInput, output: Option<&u8>) -> String {
            format!("{:?} -> {output:?}", input.action)
        }

        fn describe_state(&self, state: &u8) -> String {
            state.to_string()
        }
    }

    type TestInvocation = Invocation<TestInput, u8>;

    /// An operation on key 0 called at `call`, returning `output` at `ret` (`None`:
    /// indeterminate).
    fn operation(
        process: u64,
        call: u64,
        ret: Option<u64>,
        action: TestAction,
        output: u8,
    ) -> TestInvocation {
        Invocation {
            process,
            call_time: call,
            outcome: match ret {
                Some(time) => Outcome::Returned { time, output },
                None => Outcome::Indeterminate,
            },
            input: TestInput { key: 0, action },
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
    /// of linearizability, for cross-checking the search on small histories. Returns whether
    /// a complete order exists and the length of the longest legal prefix.
    fn brute_force(operations: &[TestInvocation]) -> (bool, usize) {
        fn extend(
            operations: &[TestInvocation],
            used: &mut Vec<bool>,
            depth: usize,
            state: u8,
            deepest: &mut usize,
        ) -> bool {
            *deepest = (*deepest).max(depth);
            if depth == operations.len() {
                return true;
            }
            for candidate in 0..operations.len() {
                if used[candidate] || blocked(operations, used, candidate) {
                    continue;
                }
                let output = match &operations[candidate].outcome {
                    Outcome::Returned { output, .. } => Some(output),
                    Outcome::Indeterminate => None,
                };
                if let Some(next) = TestRegister.step(&state, &operations[candidate].input, output)
                {
                    used[candidate] = true;
                    if extend(operations, used, depth + 1, next, deepest) {
                        return true;
                    }
                    used[candidate] = false;
                }
            }
            false
        }
        let mut deepest = 0;
        let linearizable =
            extend(operations, &mut vec![false; operations.len()], 0, 0, &mut deepest);
        (linearizable, deepest)
    }

    /// A candidate may go next only if no unused operation returned before it began.
    fn blocked(operations: &[TestInvocation], used: &[bool], candidate: usize) -> bool {
        (0..operations.len()).any(|other| {
            !used[other]
                && other != candidate
                && matches!(operations[other].outcome, Outcome::Returned { time, .. } if time < operations[candidate].call_time)
        })
    }

    /// Checks an explanation against the history it explains: the prefix is a legal order
    /// ending in the stated state, the stuck operations are exactly those outside the prefix
    /// called before the deadline returned, and the deadline is outside the prefix.
    fn assert_explanation_holds(operations: &[TestInvocation], explanation: &Explanation) {
        let mut used = vec![false; operations.len()];
        let mut state = 0;
        for described in &explanation.longest_prefix {
            let index = described.history_index;
            assert!(!blocked(operations, &used, index), "prefix breaks real time at op {index}");
            let operation = &operations[index];
            let output = match &operation.outcome {
                Outcome::Returned { output, .. } => Some(output),
                Outcome::Indeterminate => None,
            };
            state = TestRegister.step(&state, &operation.input, output).expect("prefix is legal");
            used[index] = true;
        }
        assert_eq!(explanation.state_after_prefix, state.to_string());
        let deadline = explanation.deadline.history_index;
        assert!(!used[deadline], "the deadline is linearized in its own prefix");
        let Outcome::Returned { time: deadline_time, .. } = operations[deadline].outcome else {
            panic!("the deadline returned")
        };
        let mut stuck: Vec<usize> = explanation.stuck.iter().map(|s| s.history_index).collect();
        stuck.sort_unstable();
        let expected: Vec<usize> = (0..operations.len())
            .filter(|&i| !used[i] && operations[i].call_time <= deadline_time)
            .collect();
        assert_eq!(stuck, expected, "stuck operations");
    }

    fn verdict_is_linearizable(operations: &[TestInvocation]) -> bool {
        match check_operations(&TestRegister, operations, STEPS_MAX_DEFAULT).verdict {
            Verdict::Linearizable => true,
            Verdict::NotLinearizable(_) => false,
            Verdict::Unknown { steps, .. } => {
                panic!("a tiny history exhausted the budget at {steps}")
            }
        }
    }

    /// A random history of `n` operations on key 0, from a real sequential execution; with
    /// `corrupt`, one read's value is changed (usually making it not linearizable).
    fn random_history(
        rng: &mut crate::rng::Stream,
        n: usize,
        corrupt: bool,
    ) -> Vec<TestInvocation> {
        // Each operation takes effect at a distinct instant inside its interval.
        let mut state = 0u8;
        let mut operations = Vec::with_capacity(n);
        for point in 0..n as u64 {
            let effect_time = point * 10 + 5;
            let action = if rng.bernoulli(0.5) {
                TestAction::Read
            } else {
                TestAction::Write(rng.below(3) as u8)
            };
            let output = match action {
                TestAction::Read => state,
                TestAction::Write(value) => {
                    state = value;
                    0
                }
            };
            let call = effect_time - rng.uniform_u64(0, 25).min(effect_time);
            let ret = effect_time + rng.uniform_u64(0, 25);
            let ret = if rng.bernoulli(0.15) { None } else { Some(ret) };
            operations.push(operation(rng.below(4), call, ret, action, output));
        }
        if corrupt {
            let reads: Vec<usize> = (0..n)
                .filter(|&i| {
                    operations[i].input.action == TestAction::Read
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
        numbered(operations)
    }

    // Proves the checker agrees exactly with brute force on random small histories: generated
    // from a real sequential execution (linearizable by construction), half of them with one
    // read's value changed (usually not linearizable), some operations left indeterminate; and
    // that every witness holds and its prefix is as long as any legal prefix.
    #[test]
    fn search_agrees_with_brute_force_on_random_histories() {
        let mut rng = crate::rng::Stream::new(7, "check.linearizability.cross_check");
        let mut outcomes = [0usize; 2];
        for _ in 0..3000 {
            let n = rng.uniform_u64(1, 7) as usize;
            let corrupt = rng.bernoulli(0.5);
            let operations = random_history(&mut rng, n, corrupt);
            let (expected, deepest) = brute_force(&operations);
            assert_eq!(verdict_is_linearizable(&operations), expected, "history: {operations:#?}");
            if let Verdict::NotLinearizable(explanation) =
                check_operations(&TestRegister, &operations, STEPS_MAX_DEFAULT).verdict
            {
                assert_explanation_holds(&operations, &explanation);
                assert_eq!(explanation.longest_prefix.len(), deepest, "{operations:#?}");
            }
            outcomes[usize::from(expected)] += 1;
        }
        // Both verdicts must be well represented, or the cross-check proves little.
        assert!(outcomes[0] > 300 && outcomes[1] > 300, "outcomes {outcomes:?}");
    }

    /// `n` concurrent writes and reads that cannot all be satisfied: the search must try
    /// very many subsets before it can say so (about 2^(n/2) of them).
    fn intractable(n: u64, key: u8, first_index: usize) -> Vec<TestInvocation> {
        (0..n)
            .map(|i| {
                let action = if i % 2 == 0 { TestAction::Write(i as u8) } else { TestAction::Read };
                let mut operation = operation(i, 0, Some(100), action, 250);
                operation.input.key = key;
                operation.history_index = first_index + i as usize;
                operation
            })
            .collect()
    }

    // Proves a step budget that is too small yields Unknown with the exact steps spent and the
    // undecided part named, and that the same input gives the same report every time.
    #[test]
    fn budget_exhaustion_is_unknown_and_deterministic() {
        let operations = intractable(20, 0, 0);
        let report = check_operations(&TestRegister, &operations, 50);
        assert_eq!(
            report.verdict,
            Verdict::Unknown { steps: 50, undecided: vec![("key 0".to_string(), 20)] }
        );
        assert_eq!(report.steps_total, 50);
        let full = check_operations(&TestRegister, &operations, STEPS_MAX_DEFAULT);
        assert!(matches!(full.verdict, Verdict::NotLinearizable(_)));
        assert_eq!(full, check_operations(&TestRegister, &operations, STEPS_MAX_DEFAULT));
    }

    // Proves a violation proven in one part wins over a part that would exhaust the budget,
    // wherever the two sit in key order and whichever is smaller.
    #[test]
    fn a_proven_violation_beats_an_undecided_part() {
        // A stale read on key 1, 40 operations long, so it is searched after the intractable
        // 32-operation part of key 0 in cheapest-first order.
        let mut stale: Vec<TestInvocation> = (0..39)
            .map(|i| operation(0, i * 10, Some(i * 10 + 5), TestAction::Write(1), 0))
            .collect();
        stale.push(operation(1, 400, Some(405), TestAction::Read, 0));
        for operation in &mut stale {
            operation.input.key = 1;
        }
        let mut operations = intractable(32, 0, 0);
        operations.extend(stale);
        let operations = numbered(operations);
        let steps_max = 1_000_000;
        let report = check_operations(&TestRegister, &operations, steps_max);
        let Verdict::NotLinearizable(explanation) = &report.verdict else {
            panic!("expected the stale read to be the witness, got {report}")
        };
        assert_eq!(explanation.partition, "key 1");
        assert_eq!(explanation.deadline.history_index, 71);
        assert!(report.steps_total < steps_max, "{report}");
        // The intractable part alone, with the same budget, is undecided.
        let alone = check_operations(&TestRegister, &operations[..32], steps_max);
        assert!(matches!(alone.verdict, Verdict::Unknown { .. }), "{alone}");
    }

    // Proves the report — verdict, witness, step and partition counts — is the same on one
    // thread and on several, for histories with many parts of which several fail.
    #[test]
    fn reports_do_not_depend_on_the_thread_count() {
        let mut rng = crate::rng::Stream::new(11, "check.linearizability.threads");
        let mut operations = Vec::new();
        for key in 0..40u8 {
            let corrupt = key % 7 == 3;
            for mut operation in random_history(&mut rng, 6, corrupt) {
                operation.input.key = key;
                operations.push(operation);
            }
        }
        operations.extend(intractable(20, 40, 0));
        let operations = numbered(operations);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
            let pool = pool.expect("a thread pool");
            pool.install(|| check_operations(&TestRegister, &operations, 2_000_000))
        };
        let one = on(1);
        assert!(matches!(one.verdict, Verdict::NotLinearizable(_)), "{one}");
        for _ in 0..5 {
            assert_eq!(on(2), one);
            assert_eq!(on(4), one);
        }
    }

    // Proves operations that merely touch in time (one returns at t, the other is called at t)
    // count as concurrent, as porcupine's closed intervals do.
    #[test]
    fn touching_intervals_are_concurrent() {
        let operations = numbered(vec![
            operation(0, 0, Some(10), TestAction::Read, 1),
            operation(1, 10, Some(20), TestAction::Write(1), 0),
        ]);
        assert!(verdict_is_linearizable(&operations));
    }

    // Proves the witness of a long history is whole: 20,000 sequential writes then a read of a
    // value never written give a 20,000-operation prefix and that read as the deadline.
    #[test]
    fn long_histories_get_their_whole_prefix() {
        let n = 20_000u64;
        let mut operations: Vec<TestInvocation> = (0..n)
            .map(|i| operation(0, i * 10, Some(i * 10 + 5), TestAction::Write((i % 3) as u8), 0))
            .collect();
        operations.push(operation(1, n * 10, Some(n * 10 + 5), TestAction::Read, 7));
        let operations = numbered(operations);
        let report = check_operations(&TestRegister, &operations, STEPS_MAX_DEFAULT);
        let Verdict::NotLinearizable(explanation) = &report.verdict else {
            panic!("expected a violation, got {report}")
        };
        assert_eq!(explanation.longest_prefix.len(), n as usize);
        assert_eq!(explanation.deadline.history_index, n as usize);
        assert!(report.steps_total < 4 * n, "{report}");
    }
}
