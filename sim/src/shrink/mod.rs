//! Shrinking: a failing run plan becomes the smallest plan, of the same seed, that still fails
//! the same check the same way.
//!
//! What shrinks, in the order the search tries it: the chaos phase's length, a crash and its
//! start merged into one crash with `restart_after`, random disk crash points pinned as
//! `crash_at_disk_operation` where they struck, whole fault families, the fault entries
//! by delta debugging (until no single one can go), nodes (where the workload accepts
//! the smaller topology), workload parameters the workload marks `#[param(shrink)]`, fault
//! rates of the network and disks, each remaining entry's duration, rate and time, and
//! buggify. Labelled random streams are what make this work: removing a fault does not
//! reshuffle the draws of the rest, so what is left fails as it did.
//!
//! Invariants, as absences: no candidate is accepted that does not fail the same check
//! with the same kind (and, with `same_message`, the same text); no choice depends on which
//! candidate finished first, so one thread and many give byte-identical results; no
//! candidate runs without the hang watchdog; nothing is written here (see `output`).

mod candidates;
mod lowering;
mod output;
mod remap;
mod search;

use std::sync::Arc;
use std::time::{Duration as WallDuration, Instant as WallInstant};

use crate::runner::{FailureKind, SeedReport, Stop};
use crate::scenario::{parse, plan_to_yaml, RunPlan};
use crate::workload::Registry;

pub use candidates::fault_count;
pub use output::{group_digits, write_outputs, Outputs, SHRUNK_STEM};

/// How a shrink may spend its effort.
#[derive(Debug, Clone)]
pub struct ShrinkOptions {
    /// Candidates run in parallel on this many threads (the result does not depend on it).
    pub jobs: usize,
    /// At most this many candidates (counted in search order, so the stopping point is the
    /// same on any number of threads).
    pub max_candidates: u64,
    /// At most this much wall-clock time; where it stops depends on the machine.
    pub max_time: WallDuration,
    /// A candidate that processes no event for this long is hung (and not the failure).
    pub hang_timeout: WallDuration,
    /// Require the failure's exact message, not only its check and kind.
    pub same_message: bool,
}

impl Default for ShrinkOptions {
    fn default() -> Self {
        ShrinkOptions {
            jobs: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            max_candidates: MAX_CANDIDATES_DEFAULT,
            max_time: WallDuration::from_secs(MAX_TIME_DEFAULT_SECONDS),
            hang_timeout: WallDuration::from_secs(HANG_TIMEOUT_DEFAULT_SECONDS),
            same_message: false,
        }
    }
}

/// The default `--max-candidates`.
pub const MAX_CANDIDATES_DEFAULT: u64 = 2000;
/// The default `--max-time`, in seconds.
pub const MAX_TIME_DEFAULT_SECONDS: u64 = 600;
/// The default `--hang-timeout` of `orrery shrink`, in seconds.
pub const HANG_TIMEOUT_DEFAULT_SECONDS: u64 = 10;

/// What a candidate must do to count as the same failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: FailureKind,
    pub check: String,
    /// The exact message, when it must match too.
    pub message: Option<String>,
}

impl Target {
    /// Whether `report` fails this way.
    pub fn matches(&self, report: &SeedReport) -> bool {
        report.failure.as_ref().is_some_and(|failure| {
            failure.kind == self.kind
                && failure.check == self.check
                && self.message.as_ref().is_none_or(|message| *message == failure.message)
        })
    }

    /// `state_machine_safety (invariant)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.check, self.kind.name())
    }
}

/// How the search ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A whole round of passes changed nothing: in particular no single remaining fault
    /// entry can be removed.
    Minimal,
    /// The candidate budget ran out.
    Candidates(u64),
    /// The time budget ran out.
    Time(WallDuration),
    /// A signal asked the search to stop (its name).
    Interrupted(String),
}

impl Ending {
    /// `1-minimal (no single remaining fault can be removed)`, `stopped by the budget (...)`.
    pub fn describe(&self) -> String {
        match self {
            Ending::Minimal => "1-minimal: no single remaining fault can be removed".to_string(),
            Ending::Candidates(n) => {
                format!("stopped by the budget of {n} candidates (not proven minimal)")
            }
            Ending::Time(limit) => format!(
                "stopped by the time budget of {} s (not proven minimal)",
                limit.as_secs_f64()
            ),
            Ending::Interrupted(reason) => format!("interrupted by {reason} (not proven minimal)"),
        }
    }
}

/// One accepted change: the candidate's number in search order, the pass that made it and
/// what it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub candidate: u64,
    pub pass: Pass,
    pub change: String,
}

/// The passes of the search, in the order it runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// A shorter chaos phase.
    Chaos,
    /// A crash and its start merged into one crash with `restart_after`.
    Merges,
    /// Random disk crash points pinned where they struck.
    Pins,
    /// A whole family of faults removed (every crash, every partition...).
    Families,
    /// Delta debugging over the fault entries.
    Chunks,
    /// A node removed.
    Nodes,
    /// A workload parameter lowered.
    Params,
    /// A fault rate of the network or disks lowered.
    Rates,
    /// One remaining fault made shorter, milder or earlier.
    Entries,
    /// Buggify off, or fewer sites or firings.
    Buggify,
}

/// The result of a shrink.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The plan as given, and its run.
    pub original: RunPlan,
    pub original_report: SeedReport,
    /// The smallest failing plan found (as read back from its own YAML), and its run.
    pub plan: RunPlan,
    pub report: SeedReport,
    /// The plan as scenario YAML (without the header `output` adds).
    pub text: String,
    pub target: Target,
    /// Candidates counted in search order up to the last one looked at.
    pub candidates: u64,
    /// Candidates that actually ran (more than `candidates` on several threads: those that
    /// were running when an earlier one was chosen).
    pub candidates_run: u64,
    pub steps: Vec<Step>,
    pub ending: Ending,
    pub wall: WallDuration,
    /// Threads the candidates ran on.
    pub jobs: usize,
    /// Threads left behind in hung candidates.
    pub threads_abandoned: usize,
}

/// Why a plan could not be shrunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShrinkError {
    #[error("seed {seed} passes: there is no failure to shrink")]
    Passes { seed: u64 },
    #[error("seed {seed} fails with {kind}, which does not shrink: {message}")]
    Unshrinkable { seed: u64, kind: &'static str, message: String },
    #[error("the plan does not read back as a scenario: {0}")]
    Unreadable(String),
    #[error("could not start threads: {0}")]
    Threads(String),
    #[error("interrupted by {0} before the original run finished")]
    Interrupted(String),
}

/// What a shrink tells its caller while it runs.
pub trait ShrinkObserver {
    /// Polled every few milliseconds: `Some` stops the search (the best plan so far is kept).
    fn stop_requested(&mut self) -> Option<Stop> {
        None
    }
    /// A candidate was accepted: the plan has `faults` entries now.
    fn accepted(&mut self, _change: &str, _faults: usize, _report: &SeedReport) {}
}

/// An observer that never stops and says nothing.
pub struct Quiet;

impl ShrinkObserver for Quiet {}

/// Shrinks `plan`, which must fail: runs it first to learn how, then searches.
pub fn shrink(
    plan: &RunPlan,
    registry: &Arc<Registry>,
    options: &ShrinkOptions,
    observer: &mut dyn ShrinkObserver,
) -> Result<Shrunk, ShrinkError> {
    #[allow(clippy::disallowed_methods)] // tidy: allow (the --max-time budget and reporting)
    let started = WallInstant::now();
    let (start, text) = readable(plan, registry)?;
    let far = started + WallDuration::from_secs(u64::from(u32::MAX));
    // The original runs under the watchdog too, but with the whole budget's patience.
    let any = Target { kind: FailureKind::Setup, check: String::new(), message: None };
    let first = search::evaluate(vec![start.clone()], registry, options, &any, far, observer)?;
    if let Some(stop) = first.stopped {
        return Err(ShrinkError::Interrupted(stop.reason));
    }
    let Some(original_report) = first.reports.into_iter().next() else {
        return Err(ShrinkError::Threads("the original run did not finish".to_string()));
    };
    let Some(failure) = &original_report.failure else {
        return Err(ShrinkError::Passes { seed: plan.seed });
    };
    if matches!(failure.kind, FailureKind::Setup | FailureKind::Nondeterminism) {
        return Err(ShrinkError::Unshrinkable {
            seed: plan.seed,
            kind: failure.kind.name(),
            message: failure.message.clone(),
        });
    }
    let target = Target {
        kind: failure.kind,
        check: failure.check.clone(),
        message: options.same_message.then(|| failure.message.clone()),
    };
    let mut search = search::Search::new(
        registry,
        options,
        observer,
        target.clone(),
        (start.clone(), text, original_report.clone()),
        started,
    );
    search.run()?;
    let ending = search.ending.clone().unwrap_or(Ending::Minimal);
    let shrunk_text = plan_to_yaml(&search.plan);
    Ok(Shrunk {
        original: start,
        original_report,
        plan: search.plan,
        report: search.report,
        text: shrunk_text,
        target,
        candidates: search.candidates,
        candidates_run: search.candidates_run,
        steps: search.steps,
        ending,
        wall: started.elapsed(),
        jobs: options.jobs.max(1),
        threads_abandoned: search.threads_abandoned,
    })
}

/// The plan the search starts from: `plan` renamed as shrunk, with nothing left of its
/// sampling, as read back from its own YAML (so every candidate is compared with text that
/// loads).
fn readable(plan: &RunPlan, registry: &Registry) -> Result<(RunPlan, String), ShrinkError> {
    let mut plan = plan.clone();
    plan.realized.clear();
    if !plan.scenario.ends_with(SHRUNK_SUFFIX) {
        plan.scenario.push_str(SHRUNK_SUFFIX);
    }
    let text = plan_to_yaml(&plan);
    let scenario = parse("plan.yaml", text.as_bytes(), registry)
        .map_err(|errors| ShrinkError::Unreadable(errors.to_string()))?;
    Ok((scenario.sample(plan.seed), text))
}

/// What a shrunk plan's scenario name ends with.
pub const SHRUNK_SUFFIX: &str = "-shrunk";
