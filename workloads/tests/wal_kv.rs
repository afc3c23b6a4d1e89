//! wal-kv end to end: the correct server survives 1,000 seeds of crashes and restarts, the
//! planted `ack_before_sync` bug is found within its scenario's stated seeds, and the fault
//! mix of the smoke scenario really does crash, tear and lose.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use orrery_sim::runner::{sweep, Planner, SeedReport, SweepOptions};
use orrery_sim::scenario::{load, Expect, RunPlan, Scenario};
use orrery_sim::workload::{ParamValue, Setup, Simulation};
use orrery_sim::Instant;
use orrery_workloads::wal_kv;

const SMOKE: &str = "scenarios/smoke/wal-kv.yaml";
const BUG: &str = "scenarios/bugs/wal-kv-ack-before-sync.yaml";

fn scenario(relative: &str) -> Scenario {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    load(&path, &orrery_workloads::registry())
        .unwrap_or_else(|errors| panic!("{relative} does not load:\n{errors}"))
}

/// Runs `seeds` of `scenario` on every core, each plan adjusted by `adjust`.
fn run(
    scenario: Scenario,
    seeds: std::ops::Range<u64>,
    adjust: impl Fn(&mut RunPlan) + Send + Sync + 'static,
) -> Vec<SeedReport> {
    let planner: Arc<Planner> = Arc::new(move |seed| {
        let mut plan = scenario.sample(seed);
        adjust(&mut plan);
        plan
    });
    let seeds: Vec<u64> = seeds.collect();
    let registry = Arc::new(orrery_workloads::registry());
    sweep(planner, &seeds, registry, SweepOptions::default(), |_, _, _| {})
}

fn failures(reports: &[SeedReport]) -> Vec<String> {
    reports
        .iter()
        .filter_map(|r| {
            r.failure.as_ref().map(|f| format!("seed {}: {}: {}", r.seed, f.check, f.message))
        })
        .collect()
}

fn with_bug(on: bool) -> impl Fn(&mut RunPlan) + Send + Sync + 'static {
    move |plan| {
        plan.params.insert("ack_before_sync".to_string(), ParamValue::Bool(on));
    }
}

// Proves the correct server loses no acknowledged put over 1,000 seeds of server restarts,
// swarm crashes, power cuts inside disk operations, torn/lost/reordered unsynced writes and
// disk I/O errors.
#[test]
fn correct_version_survives_1000_seeds_of_crashes_and_restarts() {
    let reports = run(scenario(SMOKE), 0..1000, with_bug(false));
    assert_eq!(reports.len(), 1000);
    let failed = failures(&reports);
    assert!(failed.is_empty(), "{} seeds failed:\n{}", failed.len(), failed.join("\n"));
}

// Proves the sweep finds acknowledge-before-sync within the bug scenario's stated seeds, by a
// freshness check (not a panic or a limit), while the correct server passes the same seeds.
#[test]
fn ack_before_sync_is_found_within_the_stated_seeds() {
    let bug = scenario(BUG);
    let Expect::Fail { within_seeds } = bug.expect() else {
        panic!("{BUG} must expect a failure");
    };
    let reports = run(bug.clone(), 0..within_seeds, |_| {});
    let found: Vec<&SeedReport> = reports.iter().filter(|r| r.failure.is_some()).collect();
    assert!(!found.is_empty(), "no seed in 0..{within_seeds} found the planted bug");
    for report in &found {
        let check = &report.failure.as_ref().map(|f| f.check.as_str());
        assert!(
            matches!(check, Some("reads_fresh" | "acknowledged_writes_durable")),
            "seed {} failed for another reason: {:?}",
            report.seed,
            report.failure
        );
    }
    eprintln!("ack_before_sync found by {} of {within_seeds} seeds", found.len());
    let correct = run(bug, 0..within_seeds, with_bug(false));
    assert_eq!(failures(&correct), Vec::<String>::new());
}

// Proves the smoke scenario's faults are not idle: over a few seeds the server's disk crashes
// with unsynced data lost and torn, power is cut inside disk operations, I/O errors strike,
// and recovery cuts torn tails off the log.
#[test]
fn smoke_faults_crash_tear_and_lose_unsynced_writes() {
    let smoke = scenario(SMOKE);
    let mut total = orrery_sim::disk::DiskStats::default();
    for seed in 0..20 {
        let plan = smoke.sample(seed);
        let setup = Setup {
            seed,
            n_nodes: plan.topology.len(),
            params: &plan.params,
            recording: false,
            fingerprint_history: false,
        };
        let mut harness = wal_kv::build(&plan, &setup).expect("the smoke plan builds");
        for (at, action) in &plan.faults {
            harness.schedule(*at, action.clone());
        }
        harness.run_until_time(Instant::ZERO + plan.phases.chaos);
        total.merge(&harness.world().disk_stats());
    }
    assert!(total.crashes > 100, "{total:?}");
    assert!(total.unsynced_changes_lost > 0, "{total:?}");
    assert!(total.unsynced_changes_torn > 0, "{total:?}");
    assert!(total.crash_points > 0, "{total:?}");
    assert!(total.write_errors_injected > 0 && total.read_errors_injected > 0, "{total:?}");
    assert!(total.truncates > 0, "recovery never cut a torn tail: {total:?}");
}
