//! What the workload tests share: sweep a scenario's seeds, assert a planted bug is found
//! within its stated seeds while the correct version passes the same seeds, and sum the disk
//! statistics of a scenario's chaos phase.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orrery_sim::disk::DiskStats;
use orrery_sim::runner::{sweep, Planner, SeedReport, SweepOptions};
use orrery_sim::scenario::{load, Expect, RunPlan, Scenario};
use orrery_sim::workload::{ParamValue, Setup};
use orrery_sim::{Instant, TestRun};

/// The scenario file at `relative` (from the repository root).
pub fn path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// The scenario at `relative`, loaded against every workload.
pub fn scenario(relative: &str) -> Scenario {
    load(&path(relative), &orrery_workloads::registry())
        .unwrap_or_else(|errors| panic!("{relative} does not load:\n{errors}"))
}

/// Asserts every seed of `seeds` of the scenario at `relative` passes (`ORRERY_SEED(S)`
/// override the range, to replay one).
pub fn assert_passes(relative: &str, seeds: Range<u64>) {
    TestRun::file(path(relative), orrery_workloads::registry()).seeds(seeds).assert_passes();
}

/// Asserts the bug scenario at `relative` fails within its stated seeds, every failure being
/// one of `checks` (not a panic or a limit), and that with the planted-bug parameter `flag`
/// set to `off` the same seeds pass. Returns how many of the stated seeds found the bug, and
/// of how many.
pub fn assert_bug_found(
    relative: &str,
    flag: &'static str,
    off: ParamValue,
    checks: &[&str],
) -> (usize, u64) {
    let bug = scenario(relative);
    let Expect::Fail { within_seeds } = bug.expect() else {
        panic!("{relative} must expect a failure");
    };
    let on = bug.params().get(flag).cloned();
    assert!(on.is_some() && on != Some(off.clone()), "{relative} sets {flag}");
    let outcome = TestRun::file(path(relative), orrery_workloads::registry())
        .seeds(0..within_seeds)
        .assert_expected();
    let found: Vec<&SeedReport> = outcome.failures().collect();
    for report in &found {
        let check = report.failure.as_ref().map(|f| f.check.as_str()).unwrap_or_default();
        assert!(checks.contains(&check), "{relative} failed otherwise:\n{}", outcome.explain());
    }
    let correct = sweep_with(bug, 0..within_seeds, move |plan| {
        plan.params.insert(flag.to_string(), off.clone());
    });
    let failed: Vec<String> = correct
        .iter()
        .filter_map(|report| {
            let failure = report.failure.as_ref()?;
            Some(format!("seed {}: {}: {}", report.seed, failure.check, failure.message))
        })
        .collect();
    assert!(failed.is_empty(), "{relative} without {flag} failed:\n{}", failed.join("\n"));
    eprintln!(
        "{flag} = {}: found by {} of the first {within_seeds} seeds",
        on.unwrap_or(ParamValue::Bool(true)),
        found.len()
    );
    (found.len(), within_seeds)
}

/// Runs `seeds` of `scenario` on every core, each plan adjusted by `adjust` (what `TestRun`
/// cannot do: here, switching a planted bug off).
fn sweep_with(
    scenario: Scenario,
    seeds: Range<u64>,
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

/// Disk statistics of every node summed over `seeds` of the scenario's chaos phase.
pub fn chaos_disk_stats(path: &str, seeds: Range<u64>) -> DiskStats {
    let scenario = scenario(path);
    let registry = orrery_workloads::registry();
    let workload = registry.get(scenario.workload()).expect("registered workload");
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
        let mut simulation = workload.instantiate(&plan, &setup).expect("the plan builds");
        for (at, action) in &plan.faults {
            simulation.schedule(*at, action.clone());
        }
        simulation.run_until_time(Instant::ZERO + plan.phases.chaos);
        total.merge(&simulation.disk_stats());
    }
    total
}
