//! The sweep's own determinism check: every sweep runs a hash-chosen sample of its seeds twice
//! and compares fingerprints, `check_determinism` runs all of them twice, and a workload that
//! leaks state between runs (here through a process-wide counter, the kind of global the
//! rules forbid) is caught and named with the first diverging event.

use std::sync::atomic::{AtomicU64, Ordering};

use orrery_sim::prelude::*;
use orrery_sim::runner::{sampled_for_determinism, FailureKind, TestRun, DETERMINISM_SAMPLE};
use orrery_sim::Registry;

/// Bumped by every boot of every leaky node, in every run of this test binary: the second
/// run of a seed sees a different value than the first (fewer than 1000 boots happen in this
/// binary, so the remainder never comes round to the same delay).
static BOOTS: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ping;

#[derive(Debug, Clone, Params)]
struct LeakParams {
    /// Planted bug: the first timer's delay depends on state left by earlier runs.
    leak: bool,
}

struct Pinger {
    leak: bool,
}

impl<N: NodeApi<Ping>> Process<Ping, N> for Pinger {
    fn on_start(&mut self, node: &mut N) {
        let extra = match self.leak {
            true => BOOTS.fetch_add(1, Ordering::Relaxed) % 1000,
            false => 0,
        };
        node.set_timer(us(1000 + extra), 0);
    }
    fn on_message(&mut self, _node: &mut N, _from: NodeId, _message: Ping) {}
    fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
        let to = NodeId((node.id().0 + 1) % node.n_nodes() as u32);
        node.send(to, Ping);
        node.set_timer(ms(3), 0);
    }
}

fn registry() -> Registry {
    let leaky = WorkloadDef::<Ping, LeakParams>::new("leaky", "nodes ping a neighbour")
        .role("*", |init| Pinger { leak: init.params.leak })
        .invariant("nothing", "holds always", |_| Ok(()));
    Registry::new().with(leaky)
}

fn scenario(leak: bool) -> String {
    format!(
        "name: leaky\ntopology: {{count: 3}}\nworkload: {{name: leaky, params: {{leak: {leak}}}}}\n\
         phases: {{chaos: 100ms, heal: 0ms, converge_deadline: 10ms}}\nseeds: 0..40\n"
    )
}

// Proves the sample is about one seed in DETERMINISM_SAMPLE, chosen by the seed alone (so
// shards, thread counts and resumes sample the same seeds), with seed 0 always in it.
#[test]
fn the_sample_is_one_seed_in_sixty_four_by_a_hash_of_the_seed() {
    let sampled = (0..64_000).filter(|&seed| sampled_for_determinism(seed)).count() as u64;
    let expected = 64_000 / DETERMINISM_SAMPLE;
    assert!(
        sampled.abs_diff(expected) < expected / 5,
        "{sampled} sampled, about {expected} expected"
    );
    assert!(sampled_for_determinism(0));
    let again = (0..64_000).filter(|&seed| sampled_for_determinism(seed)).count() as u64;
    assert_eq!(sampled, again);
}

// Proves `check_determinism` catches a workload that leaks state between runs, on every seed,
// naming the first diverging event, and that a sound workload passes the same check with
// every seed counted as run twice.
#[test]
fn check_determinism_catches_state_leaked_between_runs() {
    let sound = TestRun::yaml("sound.yaml", &scenario(false), registry()).check_determinism().run();
    assert_eq!(sound.summary.passed, 40, "{}", sound.explain());
    assert_eq!(sound.summary.determinism_checked, 40);

    let leaky = TestRun::yaml("leaky.yaml", &scenario(true), registry()).check_determinism().run();
    assert_eq!(leaky.summary.determinism_checked, 40);
    let failures: Vec<_> = leaky.failures().collect();
    assert!(failures.len() >= 30, "most seeds diverge: {}", leaky.explain());
    for report in failures {
        let failure = report.failure.as_ref().unwrap();
        assert_eq!(failure.kind, FailureKind::Nondeterminism);
        assert!(
            failure.message.contains("two runs of the same seed diverge at event"),
            "{}",
            failure.message
        );
    }
}

// Proves a sweep without the flag still runs its sampled seeds twice, catches the leak on
// them and only on them, and says how many seeds it compared.
#[test]
fn an_ordinary_sweep_checks_its_sample() {
    let leaky = TestRun::yaml("leaky.yaml", &scenario(true), registry()).run();
    let sampled: Vec<u64> = (0..40).filter(|&seed| sampled_for_determinism(seed)).collect();
    assert_eq!(leaky.summary.determinism_checked, sampled.len() as u64);
    let diverged: Vec<u64> = leaky
        .failures()
        .filter(|r| r.failure.as_ref().unwrap().kind == FailureKind::Nondeterminism)
        .map(|r| r.seed)
        .collect();
    assert!(diverged.contains(&0), "seed 0 is always sampled: {}", leaky.explain());
    assert!(diverged.iter().all(|seed| sampled.contains(seed)), "{diverged:?} vs {sampled:?}");
    let summary = leaky.explain();
    assert!(
        summary.contains(&format!("determinism      {} of 40 seed(s) run twice:", sampled.len())),
        "{summary}"
    );
}
