//! raft-kv end to end: the correct servers pass, every planted bug is caught within its
//! scenario's stated seeds by a real checker, and the linearizability checker alone catches
//! the histories some bugs produce.

use std::path::Path;
use std::sync::Arc;

use orrery_sim::runner::{run_plan, sweep, FailureKind, RunOptions, SeedReport, SweepOptions};
use orrery_sim::scenario::{load, Expect, RunPlan, Scenario};
use orrery_sim::workload::{ParamValue, Registry};

fn scenario(file: &str) -> (Scenario, Registry) {
    let registry = orrery_workloads::registry();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
    match load(&path, &registry) {
        Ok(scenario) => (scenario, registry),
        Err(errors) => panic!("{file} does not load:\n{errors}"),
    }
}

/// Runs `seeds` of `file`, each plan first passed through `adjust`; stops at the first
/// failure if `stop_at_failure`.
fn run(
    file: &str,
    seeds: std::ops::Range<u64>,
    adjust: impl Fn(&mut RunPlan),
    stop_at_failure: bool,
) -> Vec<SeedReport> {
    let (scenario, registry) = scenario(file);
    let mut reports = Vec::new();
    for seed in seeds {
        let mut plan = scenario.sample(seed);
        adjust(&mut plan);
        let (report, _) = run_plan(&plan, &registry, RunOptions::default());
        let failed = report.failure.is_some();
        reports.push(report);
        if failed && stop_at_failure {
            break;
        }
    }
    reports
}

fn describe_failures(reports: &[SeedReport]) -> String {
    reports
        .iter()
        .filter_map(|r| {
            r.failure.as_ref().map(|f| format!("seed {}: {}: {}", r.seed, f.check, f.message))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each planted bug: its scenario and the parameter that plants it.
const BUGS: [(&str, &str); 5] = [
    ("scenarios/bugs/raft-kv-vote-not-persisted.yaml", "vote_not_persisted"),
    ("scenarios/bugs/raft-kv-ack-before-fsync.yaml", "ack_before_fsync"),
    ("scenarios/bugs/raft-kv-commit-previous-term.yaml", "commit_previous_term"),
    ("scenarios/bugs/raft-kv-no-step-down.yaml", "no_step_down"),
    ("scenarios/bugs/raft-kv-stale-reads.yaml", "stale_reads"),
];

fn within_seeds(file: &str) -> u64 {
    match scenario(file).0.expect() {
        Expect::Fail { within_seeds } => within_seeds,
        Expect::Pass => panic!("{file} should expect a failure"),
    }
}

// Proves the correct servers pass the smoke scenario: safety invariants after every event,
// liveness after heal and a linearizable history (ORRERY_RAFT_SEEDS widens the range).
#[test]
fn correct_servers_pass_the_smoke_scenario() {
    let seeds = std::env::var("ORRERY_RAFT_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let reports = run("scenarios/smoke/raft-kv.yaml", 0..seeds, |_| {}, false);
    assert_eq!(describe_failures(&reports), "");
}

// Proves every planted bug is found within its scenario's stated seeds, and by a safety
// check (an invariant or the final linearizability check), never by a crash or a limit.
#[test]
fn each_planted_bug_is_found_within_its_stated_seeds() {
    for (file, _) in BUGS {
        let reports = run(file, 0..within_seeds(file), |_| {}, true);
        let failure = reports.iter().find_map(|r| r.failure.as_ref());
        let Some(failure) = failure else { panic!("{file}: no seed failed") };
        assert!(
            matches!(failure.kind, FailureKind::Invariant | FailureKind::Check),
            "{file}: found by {:?} {}: {}",
            failure.kind,
            failure.check,
            failure.message
        );
    }
}

// Proves the bug scenarios' fault schedules alone fail nothing: with the bug switched off,
// the same seeds pass, so what the bug scenarios find is the bug.
#[test]
fn correct_servers_pass_the_bug_schedules() {
    for (file, bug) in BUGS {
        let switch_off = |plan: &mut RunPlan| {
            plan.params.insert(bug.to_string(), ParamValue::Bool(false));
        };
        let reports = run(file, 0..within_seeds(file), switch_off, false);
        assert_eq!(describe_failures(&reports), "", "{file} without {bug}");
    }
}

// Proves the linearizability checker, with every invariant switched off, catches the
// histories of the bugs that show to clients: stale reads, and acknowledged writes lost.
#[test]
fn linearizability_catches_the_planted_bugs_histories() {
    for file in [
        "scenarios/bugs/raft-kv-stale-reads.yaml",
        "scenarios/bugs/raft-kv-ack-before-fsync.yaml",
        "scenarios/bugs/raft-kv-no-step-down.yaml",
    ] {
        let only_linearizability = |plan: &mut RunPlan| plan.checks = vec!["linearizable".into()];
        let reports = run(file, 0..3 * within_seeds(file), only_linearizability, true);
        let failure = reports.iter().find_map(|r| r.failure.as_ref());
        let Some(failure) = failure else { panic!("{file}: every history was linearizable") };
        assert_eq!(failure.check, "linearizable", "{file}: {}", failure.message);
        assert!(failure.message.contains("not linearizable"), "{}", failure.message);
    }
}

// Proves, nightly (ORRERY_NIGHTLY=1), that the correct servers pass 10,000 seeds of both
// smoke scenarios (the chaos scenario's own 1,000 seeds run through the CLI).
#[test]
fn nightly_ten_thousand_seeds_pass() {
    if std::env::var("ORRERY_NIGHTLY").as_deref() != Ok("1") {
        eprintln!("skipped: set ORRERY_NIGHTLY=1 to run 10,000 seeds of raft-kv");
        return;
    }
    for file in ["scenarios/smoke/raft-kv.yaml", "scenarios/smoke/raft-kv-swarm.yaml"] {
        let (scenario, registry) = scenario(file);
        let scenario = Arc::new(scenario);
        let planner = Arc::new(move |seed| scenario.sample(seed));
        let seeds: Vec<u64> = (0..10_000).collect();
        let reports =
            sweep(planner, &seeds, Arc::new(registry), SweepOptions::default(), |_, _, _| {});
        assert_eq!(reports.len(), seeds.len());
        assert_eq!(describe_failures(&reports), "", "{file}");
    }
}
