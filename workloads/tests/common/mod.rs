//! What the workload tests share: load a scenario, sweep seeds of it (plans adjusted), and
//! assert a planted bug is found within its stated seeds while the correct version passes.

use std::path::Path;
use std::sync::Arc;

use orrery_sim::disk::DiskStats;
use orrery_sim::harness::Harness;
use orrery_sim::runner::{sweep, Planner, SeedReport, SweepOptions};
use orrery_sim::scenario::{load, Expect, RunPlan, Scenario};
use orrery_sim::workload::{ParamValue, Setup, Simulation};
use orrery_sim::Instant;

/// The scenario at `relative` (from the repository root), loaded against every workload.
pub fn scenario(relative: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    load(&path, &orrery_workloads::registry())
        .unwrap_or_else(|errors| panic!("{relative} does not load:\n{errors}"))
}

/// Runs `seeds` of `scenario` on every core, each plan adjusted by `adjust`; results in seed
/// order.
pub fn run(
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

/// One line per failed seed: seed, check, message.
pub fn failures(reports: &[SeedReport]) -> Vec<String> {
    reports
        .iter()
        .filter_map(|report| {
            let failure = report.failure.as_ref()?;
            Some(format!("seed {}: {}: {}", report.seed, failure.check, failure.message))
        })
        .collect()
}

/// Sets the boolean workload parameter `name` of a plan.
pub fn with_flag(name: &'static str, on: bool) -> impl Fn(&mut RunPlan) + Send + Sync + 'static {
    move |plan| {
        plan.params.insert(name.to_string(), ParamValue::Bool(on));
    }
}

/// Asserts every seed of `seeds` of the scenario passes with `flag` off.
pub fn assert_correct_passes(path: &str, seeds: std::ops::Range<u64>, flag: &'static str) {
    let expected = seeds.end - seeds.start;
    let reports = run(scenario(path), seeds, with_flag(flag, false));
    assert_eq!(reports.len() as u64, expected);
    let failed = failures(&reports);
    assert!(failed.is_empty(), "{} seeds failed:\n{}", failed.len(), failed.join("\n"));
}

/// Asserts the bug scenario at `path` fails within its stated seeds, every failure being one
/// of `checks` (not a panic or a limit), and that with `flag` off the same seeds pass.
/// Returns how many of the stated seeds found the bug.
pub fn assert_bug_found(path: &str, flag: &'static str, checks: &[&str]) -> (usize, u64) {
    let bug = scenario(path);
    let Expect::Fail { within_seeds } = bug.expect() else {
        panic!("{path} must expect a failure");
    };
    let reports = run(bug, 0..within_seeds, with_flag(flag, true));
    let found: Vec<&SeedReport> = reports.iter().filter(|r| r.failure.is_some()).collect();
    assert!(!found.is_empty(), "no seed in 0..{within_seeds} of {path} found {flag}");
    for report in &found {
        let check = report.failure.as_ref().map(|f| f.check.as_str()).unwrap_or_default();
        assert!(
            checks.contains(&check),
            "seed {} failed otherwise: {:?}",
            report.seed,
            report.failure
        );
    }
    assert_correct_passes(path, 0..within_seeds, flag);
    eprintln!("{flag}: found by {} of the first {within_seeds} seeds", found.len());
    (found.len(), within_seeds)
}

/// Disk statistics of every node summed over `seeds` of the scenario's chaos phase, built by
/// a workload's public `build` so the test can look inside the world.
pub fn chaos_disk_stats<M: Clone + std::fmt::Debug + 'static>(
    path: &str,
    seeds: std::ops::Range<u64>,
    build: impl Fn(&RunPlan, &Setup<'_>) -> Result<Harness<M>, String>,
) -> DiskStats {
    let scenario = scenario(path);
    let mut total = DiskStats::default();
    for seed in seeds {
        let plan = scenario.sample(seed);
        let setup = Setup {
            seed,
            n_nodes: plan.topology.len(),
            params: &plan.params,
            recording: false,
            fingerprint_history: false,
        };
        let mut harness = build(&plan, &setup).expect("the plan builds");
        for (at, action) in &plan.faults {
            harness.schedule(*at, action.clone());
        }
        harness.run_until_time(Instant::ZERO + plan.phases.chaos);
        total.merge(&harness.world().disk_stats());
    }
    total
}
