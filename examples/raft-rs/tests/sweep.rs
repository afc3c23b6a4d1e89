//! raft-rs hosted on Orrery, swept from the user's own tests: the smoke scenario passes, runs
//! are deterministic although raft-rs draws from `thread_rng`, and the planted hosting bug is
//! caught by the election-safety check.

use orrery_example_raft_rs::registry;
use orrery_sim::runner::FailureKind;
use orrery_sim::TestRun;

// Proves raft-rs, with its state on the simulated disk, keeps election safety, state machine
// safety and progress after heal through partitions, crashes with restarts, crash points,
// clogs, pauses, loss and duplication.
#[test]
fn smoke_sweep_passes() {
    let outcome = TestRun::file("scenarios/smoke.yaml", registry()).seeds(0..60).assert_passes();
    assert_eq!(outcome.summary.seeds_run, 60);
}

// Proves every seed replays to the same trace: the host's election-timeout draw from
// `node.rng()` replaces raft-rs's own from the OS before raft-rs ever reads it.
#[test]
fn runs_are_deterministic() {
    for scenario in ["scenarios/smoke.yaml", "scenarios/chaos.yaml"] {
        let outcome =
            TestRun::file(scenario, registry()).seeds(0..6).check_determinism().assert_passes();
        assert_eq!(outcome.summary.seeds_run, 6, "{scenario}");
    }
}

// Proves the hazard the host neutralises is real: left alone, raft-rs draws a different
// election timeout from the OS for identical nodes, so without the host's override a seed
// would not replay.
#[test]
fn raft_rs_alone_draws_its_timeouts_from_the_os() {
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let timeouts: std::collections::BTreeSet<usize> = (0..40)
        .map(|_| {
            let store = raft::storage::MemStorage::new_with_conf_state((vec![1, 2, 3], vec![]));
            let node = raft::RawNode::new(&raft::Config::new(1), store, &logger).expect("valid");
            node.raft.randomized_election_timeout()
        })
        .collect();
    assert!(timeouts.len() > 1, "40 identical nodes drew {timeouts:?}");
}

// Proves the planted hosting bug (the vote is not persisted) is caught, by election safety:
// two leaders in one term.
#[test]
fn a_forgotten_vote_elects_two_leaders() {
    let outcome = TestRun::file("scenarios/forget-vote.yaml", registry()).assert_expected();
    let failure = outcome.failures().next().and_then(|r| r.failure.as_ref()).expect("caught");
    assert_eq!((failure.check.as_str(), failure.kind), ("election_safety", FailureKind::Invariant));
    assert!(failure.message.contains("`leader` disagrees for term="), "{}", failure.message);
}
