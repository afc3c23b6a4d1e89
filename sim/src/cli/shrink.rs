//! `orrery shrink CAPSULE | SCENARIO [--seed N]`, and the shrinking `run --shrink` does after
//! its sweep: a failing seed becomes the smallest scenario that still fails the same check
//! (see `shrink`), written into the failure's capsule as `shrunk.yaml` with its trace and
//! summary. A scenario file given with a seed gets its capsule made first, in `--out`.
//!
//! Exit codes: 0 shrunk (whether 1-minimal or stopped by the budget, as the output says); 2
//! a seed that passes, cannot be shrunk (a setup error, nondeterminism) or bad input;
//! 130/143 interrupted (the smallest scenario found so far is still written).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::builder::BoolishValueParser;

use crate::runner::{
    self, record_seeds, Capsule, Planner, Replayer, Rerun, RerunOutcome, SeedReport, Stop,
    SweepOptions, CAPSULE_TRACE_BYTES_MAX,
};
use crate::scenario::RunPlan;
use crate::shrink::{
    self, Outputs, ShrinkError, ShrinkObserver, ShrinkOptions, Shrunk,
    HANG_TIMEOUT_DEFAULT_SECONDS, MAX_CANDIDATES_DEFAULT, MAX_TIME_DEFAULT_SECONDS,
};
use crate::workload::Registry;

use super::{load, replayer, scenario_path, signals, Status};

/// The budget of a shrink, shared by `shrink` and `run --shrink`.
#[derive(clap::Args, Debug, Clone)]
pub(super) struct ShrinkBudget {
    /// Shrinking tries at most this many candidates (counted in search order; the result says
    /// whether it is 1-minimal or stopped by the budget).
    #[arg(long, env = "ORRERY_SHRINK_MAX_CANDIDATES", default_value_t = MAX_CANDIDATES_DEFAULT)]
    pub(super) max_candidates: u64,
    /// Shrinking stops after this many seconds of wall-clock time.
    #[arg(long, env = "ORRERY_SHRINK_MAX_TIME", default_value_t = MAX_TIME_DEFAULT_SECONDS)]
    pub(super) max_time: u64,
    /// A smaller scenario must fail with the same message, not only the same check and kind.
    #[arg(long, env = "ORRERY_SHRINK_SAME_MESSAGE", value_parser = BoolishValueParser::new())]
    pub(super) same_message: bool,
}

/// `orrery shrink`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub(super) struct ShrinkArgs {
    /// A failure capsule directory, or a scenario file (with --seed).
    pub(super) target: PathBuf,
    /// The failing seed of a scenario file (default: its first seed); a capsule shrinks its own.
    #[arg(long, env = "ORRERY_SEED")]
    pub(super) seed: Option<u64>,
    /// Threads the candidates run on (default: all cores); the result does not depend on it.
    #[arg(long, env = "ORRERY_JOBS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) jobs: Option<u64>,
    /// Seconds without progress after which a candidate is hung (and not the failure).
    #[arg(long, env = "ORRERY_HANG_TIMEOUT", default_value_t = HANG_TIMEOUT_DEFAULT_SECONDS, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) hang_timeout: u64,
    /// Where a scenario file's failure capsule is made [default: orrery-out].
    #[arg(long, env = "ORRERY_OUT")]
    pub(super) out: Option<PathBuf>,
    #[command(flatten)]
    pub(super) budget: ShrinkBudget,
    #[command(flatten)]
    pub(super) overrides: super::args::OverrideArgs,
}

impl ShrinkBudget {
    pub(super) fn options(&self, jobs: usize, hang_timeout: Duration) -> ShrinkOptions {
        ShrinkOptions {
            jobs,
            max_candidates: self.max_candidates,
            max_time: Duration::from_secs(self.max_time),
            hang_timeout,
            same_message: self.same_message,
        }
    }
}

/// Stops the search on SIGINT/SIGTERM, and shows how far it got on a terminal's stderr.
struct OnSignal {
    terminal: bool,
    shown: bool,
}

impl ShrinkObserver for OnSignal {
    fn stop_requested(&mut self) -> Option<Stop> {
        signals::received().map(|signal| Stop { reason: signals::name(signal), signal })
    }

    fn accepted(&mut self, change: &str, faults: usize, report: &SeedReport) {
        if self.terminal {
            let mut line =
                format!("shrinking: {faults} faults, {} events: {change}", report.events);
            line.truncate(line.char_indices().nth(100).map_or(line.len(), |(i, _)| i));
            eprint!("\r\x1b[2K{line}");
            self.shown = true;
        }
    }
}

impl OnSignal {
    fn new() -> OnSignal {
        use std::io::IsTerminal;
        OnSignal { terminal: std::io::stderr().is_terminal(), shown: false }
    }

    /// Clears the progress line.
    fn done(&self) {
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}

pub(super) fn shrink_command(
    args: &ShrinkArgs,
    seed_is_explicit: bool,
    registry: &Arc<Registry>,
) -> Status {
    let path = scenario_path(&args.target);
    let scenario = match load(&path, registry, &args.overrides) {
        Ok(scenario) => scenario,
        Err(status) => return status,
    };
    let is_capsule = args.target.is_dir();
    let own = scenario.default_seeds().start;
    let seed = match args.seed {
        Some(asked) if is_capsule && seed_is_explicit && asked != own => {
            return Status::BadInput(format!(
                "{}: a capsule shrinks its own seed {own}; --seed {asked} applies to a scenario file",
                args.target.display()
            ))
        }
        Some(asked) if !is_capsule => asked,
        _ => own,
    };
    let plan = scenario.sample(seed);
    let defaults = ShrinkOptions::default();
    let jobs = args.jobs.map_or(defaults.jobs, |j| usize::try_from(j).unwrap_or(usize::MAX));
    let options = args.budget.options(jobs, Duration::from_secs(args.hang_timeout));
    signals::install();
    let capsule = is_capsule.then(|| args.target.clone());
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(super::run::OUT_DEFAULT));
    let place = Place { capsule: capsule.as_deref(), out: &out, scenario_path: &path };
    match shrink_failure(&plan, place, registry, &options, &replayer(&args.overrides)) {
        Ok(done) => {
            print!("{}", done.render());
            match signals::received() {
                Some(signal) => Status::Interrupted(signal),
                None => Status::Passed,
            }
        }
        Err(status) => status,
    }
}

/// Where a shrink writes: into `capsule`, or a new capsule under `out`.
pub(super) struct Place<'a> {
    pub(super) capsule: Option<&'a Path>,
    pub(super) out: &'a Path,
    /// The scenario the plan came from, for the new capsule's replay hints.
    pub(super) scenario_path: &'a Path,
}

/// A finished shrink and where it went.
pub(super) struct Done {
    pub(super) shrunk: Shrunk,
    pub(super) outputs: Outputs,
    pub(super) capsule: PathBuf,
}

impl Done {
    /// What the terminal shows: the summary line, how it ended, where it is, how to run it.
    pub(super) fn render(&self) -> String {
        let mut out =
            format!("{}\n  {}\n", self.shrunk.summary_line(), self.shrunk.ending.describe());
        if let Some(failure) = &self.shrunk.report.failure {
            out.push_str(&format!(
                "  fails: {} at {}: {}\n",
                self.shrunk.target.describe(),
                failure.vtime,
                failure.message.lines().next().unwrap_or("")
            ));
        }
        out.push_str(&format!("  shrunk scenario: {}\n", self.outputs.yaml.display()));
        out.push_str(&format!("  run it: {}\n", self.outputs.run_command));
        out.push_str(&format!("  capsule: {}\n", self.capsule.display()));
        out
    }
}

/// Shrinks the failing `plan` and writes the result into its capsule (made now if `place`
/// names none).
pub(super) fn shrink_failure(
    plan: &RunPlan,
    place: Place<'_>,
    registry: &Arc<Registry>,
    options: &ShrinkOptions,
    replayer: &Replayer,
) -> Result<Done, Status> {
    let mut observer = OnSignal::new();
    let shrunk = shrink::shrink(plan, registry, options, &mut observer);
    observer.done();
    let shrunk = match shrunk {
        Ok(shrunk) => shrunk,
        Err(ShrinkError::Interrupted(_)) => {
            return Err(Status::Interrupted(signals::received().unwrap_or(2)))
        }
        Err(error) => return Err(Status::BadInput(format!("{}: {error}", plan.scenario))),
    };
    let capsule = match place.capsule {
        Some(dir) => dir.to_path_buf(),
        None => new_capsule(plan, &shrunk.original_report, place, registry, options, replayer)
            .map_err(Status::BadInput)?,
    };
    let outputs = shrink::write_outputs(&capsule, &shrunk, registry, options, replayer)
        .map_err(Status::BadInput)?;
    let summary = capsule.join("summary.txt");
    if summary.is_file() {
        let note = outputs.notes.join("\n");
        if let Err(error) = append(&summary, &note) {
            eprintln!("warning: {}: {error}", summary.display());
        }
    }
    Ok(Done { shrunk, outputs, capsule })
}

/// The capsule of `plan`'s failure under `place.out`, with its trace recorded.
fn new_capsule(
    plan: &RunPlan,
    report: &SeedReport,
    place: Place<'_>,
    registry: &Arc<Registry>,
    options: &ShrinkOptions,
    replayer: &Replayer,
) -> Result<PathBuf, String> {
    let path = place.scenario_path.display().to_string();
    let capsule = Capsule::create(place.out, plan, report, &path, None, replayer)?;
    let recorded = plan.clone();
    let planner: Arc<Planner> = Arc::new(move |_| recorded.clone());
    let sweep = SweepOptions {
        jobs: 1,
        check_determinism: false,
        sample_determinism: false,
        hang_timeout: options.hang_timeout,
        run: runner::RunOptions::default(),
    };
    let rerun = Rerun {
        seed: plan.seed,
        path: capsule.trace_path(),
        bytes_max: Some(CAPSULE_TRACE_BYTES_MAX),
    };
    let outcome = record_seeds(planner, registry.clone(), sweep, vec![rerun])
        .map_err(|error| error.to_string())?
        .into_iter()
        .next()
        .map_or(RerunOutcome::NotRun, |(_, outcome)| outcome);
    capsule.note_trace(&outcome)?;
    Ok(capsule.dir)
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
    writeln!(file, "{text}")
}
