//! The runner: one seed through its phases (chaos → heal → converge → final checks), and
//! sweeps of many seeds in parallel.
//!
//! A failing check, a panicking process (caught), an exhausted limit and a hang are all
//! failures of their seed; the sweep goes on. Results come back in seed order whatever the
//! thread count. The wall clock is used only by the hang watchdog and for reporting speed;
//! it never feeds back into a simulation.

mod merge;
mod report;
mod test_run;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub use merge::{merge_json_lines, MergeError, MergedScenario};
pub use report::{
    first_failures, json_line, json_summary, render_failure, render_summary, replay_command,
    sweep_fingerprint, Summary, SweepScope,
};
pub use test_run::{TestOutcome, TestRun};

use crate::check::fault_coverage;
use crate::fault::ControlAction;
use crate::node::NodeId;
use crate::scenario::RunPlan;
use crate::time::Instant;
use crate::trace::{first_divergence, Trace};
use crate::workload::{CheckKind, CheckResult, Registry, Setup, Simulation};
use crate::world::{Limit, Outcome};

/// What kind of failure a seed had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureKind {
    /// An invariant failed after some event.
    Invariant,
    /// A liveness check did not hold by the converge deadline.
    Liveness,
    /// A final check (e.g. linearizability) failed.
    Check,
    /// A process (or the workload) panicked.
    Panic,
    /// `events_max` or `vtime_max` was exhausted.
    Limit,
    /// The seed made no progress within the wall-clock watchdog's timeout.
    Hang,
    /// The same seed gave two different runs.
    Nondeterminism,
    /// The workload could not be set up from the plan.
    Setup,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Invariant => "invariant",
            FailureKind::Liveness => "liveness",
            FailureKind::Check => "check",
            FailureKind::Panic => "panic",
            FailureKind::Limit => "limit",
            FailureKind::Hang => "hang",
            FailureKind::Nondeterminism => "nondeterminism",
            FailureKind::Setup => "setup",
        }
    }

    /// The kind with this `name()`.
    pub fn from_name(name: &str) -> Option<FailureKind> {
        [
            FailureKind::Invariant,
            FailureKind::Liveness,
            FailureKind::Check,
            FailureKind::Panic,
            FailureKind::Limit,
            FailureKind::Hang,
            FailureKind::Nondeterminism,
            FailureKind::Setup,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

/// Why a seed failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// The check's name, or the failure kind for failures that are not a named check.
    pub check: String,
    pub message: String,
    pub vtime: Instant,
}

/// The result of one seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub seed: u64,
    pub fingerprint: u64,
    pub events: u64,
    pub vtime: Instant,
    pub failure: Option<Failure>,
    /// Checks that could not decide (e.g. a search budget ran out), with why.
    pub unknown: Vec<(String, String)>,
    pub stats: String,
    /// Sometimes-points of this run (engine fault points and declared ones): (label, reached).
    pub coverage: Vec<(String, bool)>,
}

/// Options of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Record the full trace (for capsules, `--trace` and replays).
    pub recording: bool,
    /// Keep per-event fingerprints (to locate a nondeterminism).
    pub fingerprint_history: bool,
}

/// Runs one plan; a panic anywhere in it is caught and reported as the seed's failure.
pub fn run_plan(
    plan: &RunPlan,
    registry: &Registry,
    options: RunOptions,
) -> (SeedReport, Option<Trace>) {
    let mut simulation: Option<Box<dyn Simulation>> = None;
    let result =
        catch_unwind(AssertUnwindSafe(|| run_phases(plan, registry, options, &mut simulation)));
    // A run that ends outside the event loop says why in its last trace line.
    if let Some(sim) = simulation.as_mut() {
        let stop = match &result {
            Ok(Err(failure))
                if failure.kind != FailureKind::Invariant && failure.kind != FailureKind::Limit =>
            {
                Some((
                    format!("{}:{}", failure.kind.name(), failure.check),
                    failure.message.clone(),
                ))
            }
            Err(panic) => Some(("panic".to_string(), panic_text(panic.as_ref()))),
            _ => None,
        };
        if let Some((reason, detail)) = stop {
            let _ = catch_unwind(AssertUnwindSafe(|| sim.finish(&reason, Some(detail))));
        }
    }
    let (vtime, fingerprint, events, stats, trace) = match &simulation {
        Some(sim) => (
            sim.now(),
            sim.fingerprint(),
            sim.events_processed(),
            sim.stats_summary(),
            Some(sim.trace().clone()),
        ),
        None => (Instant::ZERO, 0, 0, String::new(), None),
    };
    let coverage = match &simulation {
        Some(sim) => {
            let mut coverage = fault_coverage(plan, &sim.net_stats(), &sim.disk_stats());
            coverage.merge(&sim.coverage());
            coverage.points().map(|(label, reached)| (label.to_string(), reached)).collect()
        }
        None => Vec::new(),
    };
    let mut report = SeedReport {
        seed: plan.seed,
        fingerprint,
        events,
        vtime,
        failure: None,
        unknown: Vec::new(),
        stats,
        coverage,
    };
    match result {
        Ok(Ok(unknown)) => report.unknown = unknown,
        Ok(Err(failure)) => report.failure = Some(failure),
        Err(panic) => {
            let message = panic_text(panic.as_ref());
            report.failure = Some(Failure {
                kind: FailureKind::Panic,
                check: "panic".to_string(),
                message,
                vtime,
            });
        }
    }
    (report, trace)
}

/// A panic's message.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".to_string())
}

fn outcome_failure(outcome: Outcome, now: Instant) -> Option<Failure> {
    match outcome {
        Outcome::Violation { invariant, message, at } => {
            Some(Failure { kind: FailureKind::Invariant, check: invariant, message, vtime: at })
        }
        Outcome::Limit(limit) => {
            let name = match limit {
                Limit::EventsMax => "events_max",
                Limit::VtimeMax => "vtime_max",
            };
            Some(Failure {
                kind: FailureKind::Limit,
                check: name.to_string(),
                message: format!("the run exhausted {name}"),
                vtime: now,
            })
        }
        _ => None,
    }
}

/// The phases of one run. Returns the checks that were undecided, or the first failure.
fn run_phases(
    plan: &RunPlan,
    registry: &Registry,
    options: RunOptions,
    slot: &mut Option<Box<dyn Simulation>>,
) -> Result<Vec<(String, String)>, Failure> {
    let setup_failure = |message: String| Failure {
        kind: FailureKind::Setup,
        check: "setup".to_string(),
        message,
        vtime: Instant::ZERO,
    };
    let workload = registry
        .get(&plan.workload)
        .ok_or_else(|| setup_failure(format!("unknown workload {}", plan.workload)))?;
    let setup = Setup {
        seed: plan.seed,
        n_nodes: plan.topology.len(),
        params: &plan.params,
        recording: options.recording,
        fingerprint_history: options.fingerprint_history,
    };
    let sim = slot.insert(workload.instantiate(plan, &setup).map_err(setup_failure)?);
    let chaos_end = Instant::ZERO + plan.phases.chaos;
    for (at, action) in &plan.faults {
        if *at < chaos_end {
            sim.schedule(*at, action.clone());
        }
    }
    if let Some(failure) = outcome_failure(sim.run_until_time(chaos_end), sim.now()) {
        return Err(failure);
    }
    // Heal: every fault stops, every node comes back.
    sim.mark_phase("heal");
    let network = [ControlAction::Heal, ControlAction::Unclog, ControlAction::SetLoss(0.0)];
    for action in [ControlAction::StopTriggers]
        .into_iter()
        .chain(network)
        .chain([ControlAction::SetDuplicate(0.0), ControlAction::SetCorrupt(0.0)])
        .chain((0..sim.n_nodes()).flat_map(|i| ControlAction::heal_node(NodeId(i as u32))))
    {
        sim.apply(action);
    }
    let mut healthy_disk = plan.disk;
    healthy_disk.read_error_probability = 0.0;
    healthy_disk.write_error_probability = 0.0;
    healthy_disk.read_corruption_probability = 0.0;
    healthy_disk.latent_corruption_probability = 0.0;
    healthy_disk.misdirected_write_probability = 0.0;
    healthy_disk.crash_probability_per_operation = 0.0;
    sim.apply(ControlAction::SetDisk { node: None, config: healthy_disk });
    let heal_end = chaos_end + plan.phases.heal;
    if let Some(failure) = outcome_failure(sim.run_until_time(heal_end), sim.now()) {
        return Err(failure);
    }
    let kinds = workload.checks();
    let kind_of = |name: &str| kinds.iter().find(|c| c.name == name).map(|c| c.kind);
    let deadline = heal_end + plan.phases.converge_deadline;
    sim.mark_phase("converge");
    for check in plan.checks.iter().filter(|c| kind_of(c) == Some(CheckKind::Liveness)) {
        match sim.run_until_check(check, deadline) {
            Ok(true) => {}
            Ok(false) => {
                let message = match sim.check(check) {
                    CheckResult::Fail(message) => message,
                    _ => "did not hold".to_string(),
                };
                return Err(Failure {
                    kind: FailureKind::Liveness,
                    check: check.clone(),
                    message: format!(
                        "not true by the converge deadline ({}): {message}",
                        plan.phases.converge_deadline
                    ),
                    vtime: sim.now(),
                });
            }
            Err(outcome) => {
                if let Some(failure) = outcome_failure(outcome, sim.now()) {
                    return Err(failure);
                }
            }
        }
    }
    let mut unknown = Vec::new();
    for check in plan
        .checks
        .iter()
        .filter(|c| matches!(kind_of(c), Some(CheckKind::Invariant | CheckKind::Final)))
    {
        match sim.check(check) {
            CheckResult::Pass => {}
            CheckResult::Fail(message) => {
                let kind = if kind_of(check) == Some(CheckKind::Invariant) {
                    FailureKind::Invariant
                } else {
                    FailureKind::Check
                };
                return Err(Failure { kind, check: check.clone(), message, vtime: sim.now() });
            }
            CheckResult::Unknown(why) => unknown.push((check.clone(), why)),
        }
    }
    Ok(unknown)
}

/// Runs a seed twice and compares; a mismatch is a `Nondeterminism` failure naming the first
/// diverging event.
pub fn run_plan_checked(
    plan: &RunPlan,
    registry: &Registry,
    options: RunOptions,
) -> (SeedReport, Option<Trace>) {
    let (first, trace) = run_plan(plan, registry, options);
    let (second, _) = run_plan(plan, registry, options);
    if first.fingerprint == second.fingerprint && first.events == second.events {
        return (first, trace);
    }
    let history = RunOptions { fingerprint_history: true, ..options };
    let (_, a) = run_plan(plan, registry, history);
    let (_, b) = run_plan(plan, registry, history);
    let divergence = match (&a, &b) {
        (Some(a), Some(b)) => first_divergence(a.fingerprint_history(), b.fingerprint_history()),
        _ => None,
    };
    let message = match divergence {
        Some(d) => format!(
            "two runs of the same seed diverge at event {} (runs had {} and {} events)",
            d.event_index, d.left_events, d.right_events
        ),
        None => format!(
            "fingerprints {:016x} and {:016x} differ",
            first.fingerprint, second.fingerprint
        ),
    };
    let failure = Failure {
        kind: FailureKind::Nondeterminism,
        check: "determinism".to_string(),
        message,
        vtime: first.vtime,
    };
    (SeedReport { failure: Some(failure), ..first }, trace)
}

/// Options of a sweep.
#[derive(Debug, Clone, Copy)]
pub struct SweepOptions {
    pub jobs: usize,
    pub check_determinism: bool,
    /// Wall-clock time after which a seed that has not finished is reported as hung.
    pub hang_timeout: std::time::Duration,
    pub run: RunOptions,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            jobs: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            check_determinism: false,
            hang_timeout: std::time::Duration::from_secs(60),
            run: RunOptions::default(),
        }
    }
}

/// The name prefix of a sweep's worker threads: a panic on one of them is a seed's failure,
/// already captured in its report (see `cli::main`'s panic hook).
pub const SEED_THREAD_PREFIX: &str = "orrery-seed-";

/// Makes the plan for a seed.
pub type Planner = dyn Fn(u64) -> RunPlan + Send + Sync;

/// Runs `seeds` in parallel on `options.jobs` threads; results in seed order. A seed that
/// hangs (a process stuck in a handler) is reported after `hang_timeout` and a spare thread
/// takes over its worker's remaining share, so the sweep still finishes.
pub fn sweep(
    planner: Arc<Planner>,
    seeds: &[u64],
    registry: Arc<Registry>,
    options: SweepOptions,
    mut progress: impl FnMut(&SeedReport, usize, usize),
) -> Vec<SeedReport> {
    const SPARE_THREADS: usize = 4;
    let total = seeds.len();
    let seeds: Arc<Vec<u64>> = Arc::new(seeds.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let (sender, receiver) = std::sync::mpsc::channel::<(usize, SeedReport)>();
    // Per seed index: the wall-clock start, while it runs.
    let started: Arc<Mutex<Vec<Option<std::time::Instant>>>> =
        Arc::new(Mutex::new(vec![None; total]));
    let jobs = options.jobs.max(1);
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(jobs + SPARE_THREADS)
        .thread_name(|index| format!("{SEED_THREAD_PREFIX}{index}"))
        .build()
    {
        Ok(pool) => pool,
        Err(_) => return Vec::new(),
    };
    let spawn_worker = |pool: &rayon::ThreadPool| {
        let (seeds, next, sender, started, planner, registry) = (
            seeds.clone(),
            next.clone(),
            sender.clone(),
            started.clone(),
            planner.clone(),
            registry.clone(),
        );
        pool.spawn(move || loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(&seed) = seeds.get(index) else { return };
            #[allow(clippy::disallowed_methods)] // tidy: allow (watchdog only; never feeds a run)
            let now = std::time::Instant::now();
            if let Ok(mut started) = started.lock() {
                started[index] = Some(now);
            }
            let plan = planner(seed);
            let (report, _) = if options.check_determinism {
                run_plan_checked(&plan, &registry, options.run)
            } else {
                run_plan(&plan, &registry, options.run)
            };
            if let Ok(mut started) = started.lock() {
                started[index] = None;
            }
            if sender.send((index, report)).is_err() {
                return;
            }
        });
    };
    for _ in 0..jobs {
        spawn_worker(&pool);
    }
    let mut results: Vec<Option<SeedReport>> = vec![None; total];
    let mut done = 0;
    let mut spares_left = SPARE_THREADS;
    while done < total {
        match receiver.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok((index, report)) => {
                if results[index].is_none() {
                    progress(&report, done + 1, total);
                    results[index] = Some(report);
                    done += 1;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let hung: Vec<usize> = match started.lock() {
                    Ok(started) => started
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.is_some_and(|s| s.elapsed() > options.hang_timeout))
                        .map(|(i, _)| i)
                        .collect(),
                    Err(_) => Vec::new(),
                };
                for index in hung {
                    if results[index].is_some() {
                        continue;
                    }
                    if let Ok(mut started) = started.lock() {
                        started[index] = None;
                    }
                    let report = SeedReport {
                        seed: seeds[index],
                        fingerprint: 0,
                        events: 0,
                        vtime: Instant::ZERO,
                        failure: Some(Failure {
                            kind: FailureKind::Hang,
                            check: "hang".to_string(),
                            message: format!(
                                "no result after {:?} of wall-clock time (a process stuck in a handler?)",
                                options.hang_timeout
                            ),
                            vtime: Instant::ZERO,
                        }),
                        unknown: Vec::new(),
                        stats: String::new(),
                        coverage: Vec::new(),
                    };
                    progress(&report, done + 1, total);
                    results[index] = Some(report);
                    done += 1;
                    if spares_left > 0 {
                        spares_left -= 1;
                        spawn_worker(&pool);
                    }
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // A hung thread keeps running; the pool is leaked on purpose rather than joined.
    std::mem::forget(pool);
    results.into_iter().flatten().collect()
}
