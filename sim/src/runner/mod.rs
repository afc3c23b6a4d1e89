//! The runner: one seed through its phases (chaos → heal → converge → final checks), and
//! sweeps of many seeds in parallel (`sweep`), streamed to whoever asked for them.
//!
//! A failing check, a panicking process (caught), an exhausted limit and a hang are all
//! failures of their seed; the sweep goes on. Results come back in seed order whatever the
//! thread count. The wall clock is used only by the hang watchdog and for reporting speed;
//! it never feeds back into a simulation.

mod capsule;
mod history_export;
mod journal;
mod merge;
mod metrics;
mod records;
mod report;
mod seeds;
mod sweep;
mod test_run;
mod worker;

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use capsule::{
    write_new_file, write_views, Capsule, Views, CAPSULES_MAX, CAPSULE_TRACE_BYTES_MAX,
    CAPSULE_VIEWS,
};
pub use history_export::history_edn;
pub use journal::{digest, Journal, JournalError, JournalHeader, Resumed};
pub use merge::{merge_json_lines, merge_outputs, MergeError, MergedScenario};
pub use metrics::{render_metrics, SweepMetrics};
pub use report::{
    json_line, json_summary, render_failure, render_summary, shell_quote, sweep_fingerprint,
    FailureGroup, Replayer, SeedSample, Summary, SweepScope, SweepStatus,
};
pub use seeds::{SeedRange, SeedSet};
pub use sweep::{
    record_seeds, run_sweep, sweep, Planner, Rerun, RerunOutcome, Stop, SweepEnd, SweepError,
    SweepObserver, SweepOptions, FINISH_GRACE, SEED_THREAD_PREFIX, STOP_GRACE, WINDOW,
};
pub use test_run::{TestOutcome, TestRun};

use crate::check::{fault_effects, Coverage};
use crate::fault::ControlAction;
use crate::node::NodeId;
use crate::scenario::RunPlan;
use crate::time::Instant;
use crate::trace::{first_divergence, Stopped, StreamEnd, Trace, TraceStream, Watch};
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
    /// Every fault family the plan configures, with how many times it had an effect
    /// (`check::fault_effects`): (family, effects).
    pub fault_effects: Vec<(String, u64)>,
    /// The seed was run twice and both runs agreed (or the disagreement is its failure).
    pub determinism_checked: bool,
}

impl SeedReport {
    /// The report of a seed that failed before any of it ran (a hang, a stop, a setup error).
    pub fn empty(seed: u64, failure: Failure) -> SeedReport {
        SeedReport {
            seed,
            fingerprint: 0,
            events: 0,
            vtime: Instant::ZERO,
            failure: Some(failure),
            unknown: Vec::new(),
            stats: String::new(),
            coverage: Vec::new(),
            fault_effects: Vec::new(),
            determinism_checked: false,
        }
    }

    /// Whether the seed could not even be set up: a mistake in the scenario or the workload,
    /// never a finding (it cannot be the bug an `expect: fail` scenario looks for).
    pub fn is_setup_failure(&self) -> bool {
        self.failure.as_ref().is_some_and(|f| f.kind == FailureKind::Setup)
    }
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
    match run_plan_controlled(plan, registry, options, RunControl::default()) {
        RunEnd::Finished { report, trace, .. } => (report, trace),
        // Without a watch nothing asks a run to stop; a process that unwinds with the
        // runner's own payload is still a panic of its seed.
        RunEnd::Stopped { .. } => {
            let failure = Failure {
                kind: FailureKind::Panic,
                check: "panic".to_string(),
                message: "a process unwound with the runner's stop payload".to_string(),
                vtime: Instant::ZERO,
            };
            (SeedReport::empty(plan.seed, failure), None)
        }
    }
}

/// What watches a run, and where its records go.
#[derive(Debug, Default)]
pub struct RunControl {
    /// Lets a watchdog on another thread see the run's progress and stop it.
    pub watch: Option<Watch>,
    /// Streams the records here as they happen (recording is turned on for it).
    pub stream: Option<TraceStream>,
}

/// How a controlled run ended.
// One per run, moved once: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum RunEnd {
    /// The run finished (its failure, if any, is in the report).
    Finished {
        report: SeedReport,
        trace: Option<Trace>,
        /// How the stream ended, if the run had one.
        stream: Option<io::Result<StreamEnd>>,
    },
    /// Its watch asked it to stop: nothing of the run is kept.
    Stopped { stream: Option<io::Result<StreamEnd>> },
}

/// Runs one plan under `control`; a panic anywhere in it is caught and reported as the seed's
/// failure, a stop requested through the watch ends it with `RunEnd::Stopped`.
pub fn run_plan_controlled(
    plan: &RunPlan,
    registry: &Registry,
    mut options: RunOptions,
    control: RunControl,
) -> RunEnd {
    let RunControl { watch, mut stream } = control;
    options.recording |= stream.is_some();
    let mut simulation: Option<Box<dyn Simulation>> = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        run_phases(plan, registry, options, watch.as_ref(), &mut stream, &mut simulation)
    }));
    // A run that ends outside the event loop says why in its last trace line (before the
    // trace's stream is taken back, so the line reaches the file too).
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
            Err(payload) if !payload.is::<Stopped>() => {
                Some(("panic".to_string(), panic_text(payload.as_ref())))
            }
            _ => None,
        };
        if let Some((reason, detail)) = stop {
            let _ = catch_unwind(AssertUnwindSafe(|| sim.finish(&reason, Some(detail))));
        }
    }
    // The stream comes back from the trace it was given to; a simulation that did not lend
    // its trace kept the records in memory, and they are written now.
    if let Some(sim) = &mut simulation {
        match sim.trace_mut() {
            Some(trace) => stream = trace.take_stream().or(stream),
            None => {
                if let Some(stream) = &mut stream {
                    for record in sim.trace().records() {
                        stream.write(record);
                    }
                }
            }
        }
    }
    let stream = stream.map(TraceStream::finish);
    let result = match result {
        Err(payload) if payload.is::<Stopped>() => return RunEnd::Stopped { stream },
        other => other,
    };
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
    let (coverage, fault_effects) = match &simulation {
        Some(sim) => {
            let effects =
                fault_effects(plan, &sim.net_stats(), &sim.disk_stats(), sim.pauses_applied());
            let mut coverage = Coverage::default();
            for family in &effects {
                coverage.sometimes(family.label, family.effects > 0);
            }
            coverage.merge(&sim.coverage());
            (
                coverage.points().map(|(label, reached)| (label.to_string(), reached)).collect(),
                effects.iter().map(|family| (family.family.to_string(), family.effects)).collect(),
            )
        }
        None => (Vec::new(), Vec::new()),
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
        fault_effects,
        determinism_checked: false,
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
    RunEnd::Finished { report, trace, stream }
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
    watch: Option<&Watch>,
    stream: &mut Option<TraceStream>,
    slot: &mut Option<Box<dyn Simulation>>,
) -> Result<Vec<(String, String)>, Failure> {
    // Progress outside the event loop (setup, phase changes, checks) counts for the
    // watchdog too, and is where a stop request is honoured when no events run.
    let beat = || {
        if let Some(watch) = watch {
            watch.beat();
            watch.stop_if_requested();
        }
    };
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
    if let Some(trace) = sim.trace_mut() {
        if let Some(watch) = watch {
            trace.set_watch(watch.clone());
        }
        if let Some(stream) = stream.take() {
            trace.stream_to(stream);
        }
    }
    beat();
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
    beat();
    let heal_end = chaos_end + plan.phases.heal;
    if let Some(failure) = outcome_failure(sim.run_until_time(heal_end), sim.now()) {
        return Err(failure);
    }
    let kinds = workload.checks();
    let kind_of = |name: &str| kinds.iter().find(|c| c.name == name).map(|c| c.kind);
    let deadline = heal_end + plan.phases.converge_deadline;
    sim.mark_phase("converge");
    for check in plan.checks.iter().filter(|c| kind_of(c) == Some(CheckKind::Liveness)) {
        beat();
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
        beat();
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
    let run = |options| Some(run_plan(plan, registry, options));
    checked(run, options).unwrap_or_else(|| run_plan(plan, registry, options))
}

/// One seed of a sweep, watched by `watch`, run twice and compared if `check_determinism`;
/// `None` if the watch stopped it.
pub(crate) fn run_watched(
    plan: &RunPlan,
    registry: &Registry,
    options: RunOptions,
    check_determinism: bool,
    watch: &Watch,
) -> Option<SeedReport> {
    let run = |options| {
        let control = RunControl { watch: Some(watch.clone()), stream: None };
        match run_plan_controlled(plan, registry, options, control) {
            RunEnd::Finished { report, trace, .. } => Some((report, trace)),
            RunEnd::Stopped { .. } => None,
        }
    };
    let check = check_determinism;
    let result = if check { checked(run, options) } else { run(options) };
    result.map(|(report, _)| SeedReport { determinism_checked: check, ..report })
}

/// One seed in `DETERMINISM_SAMPLE` of every sweep is run twice even without
/// `--check-determinism`, chosen by a hash of the seed alone, so the same seeds are sampled
/// whatever the shard, the thread count, the order, or how often the sweep was resumed.
pub const DETERMINISM_SAMPLE: u64 = 64;

/// Whether `seed` is one of the sampled seeds (seed 0 always is, so a one-seed run of the
/// first seed checks too).
pub fn sampled_for_determinism(seed: u64) -> bool {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    seed == 0 || (z ^ (z >> 31)).is_multiple_of(DETERMINISM_SAMPLE)
}

/// The determinism check over any way of running the seed (`None`: the run was stopped).
fn checked(
    run: impl Fn(RunOptions) -> Option<(SeedReport, Option<Trace>)>,
    options: RunOptions,
) -> Option<(SeedReport, Option<Trace>)> {
    let (first, trace) = run(options)?;
    let (second, _) = run(options)?;
    if first.fingerprint == second.fingerprint && first.events == second.events {
        return Some((first, trace));
    }
    let history = RunOptions { fingerprint_history: true, ..options };
    let (_, a) = run(history)?;
    let (_, b) = run(history)?;
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
    Some((SeedReport { failure: Some(failure), ..first }, trace))
}
