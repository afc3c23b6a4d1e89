//! The command line, as a library so a user's own binary can reuse it with their own
//! workloads registered: `orrery_sim::cli::main(registry)`.
//!
//! Exit codes: 0 all passed (or an `expect: fail` scenario failed as expected), 1 a check
//! failed (or an expected failure did not appear; for `diff`, the traces differ), 2 bad input
//! or usage. Every flag of `run` has an `ORRERY_*` environment mirror. Wall-clock time is read
//! here only to report speed.

use std::io::{IsTerminal, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::check::{check_edn, ModelName, STEPS_MAX_DEFAULT};
use crate::runner::{
    self, json_line, json_summary, render_failure, render_summary, sweep_fingerprint, RunOptions,
    SeedReport, Summary, SweepOptions, SweepScope,
};
use crate::scenario::{self, Expect, Scenario};
use crate::topology::Topology;
use crate::trace::{self as traces, Filter, TraceFile};
use crate::workload::Registry;

#[derive(Parser, Debug)]
#[command(
    name = "orrery",
    version,
    about = "Deterministic simulation testing for distributed systems"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run scenarios over a range of seeds.
    Run {
        /// Scenario files (YAML).
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Seeds as a half-open range `A..B` or inclusive `A..=B` (default: the scenario's).
        #[arg(long, env = "ORRERY_SEEDS", conflicts_with = "seed")]
        seeds: Option<String>,
        /// One seed.
        #[arg(long, env = "ORRERY_SEED")]
        seed: Option<u64>,
        /// Threads (default: all cores).
        #[arg(long, env = "ORRERY_JOBS")]
        jobs: Option<usize>,
        /// This machine's share of the seeds: K/N owns the seeds with seed mod N = K-1.
        #[arg(long, env = "ORRERY_SHARD")]
        shard: Option<String>,
        /// Run every seed twice; a difference is a failure naming the first diverging event.
        #[arg(long, env = "ORRERY_CHECK_DETERMINISM")]
        check_determinism: bool,
        /// Write the full trace of the (single) seed to this file.
        #[arg(long, env = "ORRERY_TRACE")]
        trace: Option<PathBuf>,
        /// JSON lines on stdout: one record per seed, then a summary.
        #[arg(long, env = "ORRERY_JSON")]
        json: bool,
        /// Where failure capsules go.
        #[arg(long, env = "ORRERY_OUT", default_value = "orrery-out")]
        out: PathBuf,
        /// Seconds of wall-clock time after which a seed is reported as hung.
        #[arg(long, env = "ORRERY_HANG_TIMEOUT", default_value_t = 60)]
        hang_timeout: u64,
    },
    /// Re-run one seed of a scenario (or a failure capsule) with its full trace.
    Replay {
        /// A scenario file, or a capsule directory.
        target: PathBuf,
        #[arg(long, env = "ORRERY_SEED")]
        seed: Option<u64>,
        /// Write the trace here instead of stdout.
        #[arg(long)]
        trace: Option<PathBuf>,
    },
    /// Print one seed's trace, filtered, as text or JSON lines, or export it as a timeline.
    Trace {
        /// A scenario file, a capsule directory, or a trace file (text or JSON lines).
        target: PathBuf,
        /// The seed to run (default: the scenario's first).
        #[arg(long, env = "ORRERY_SEED")]
        seed: Option<u64>,
        #[command(flatten)]
        filter: FilterArgs,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
        /// Write the trace here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write a Chrome/Perfetto trace-event timeline here (open it at ui.perfetto.dev); the
        /// trace itself is then printed only if --out is given too.
        #[arg(long)]
        perfetto: Option<PathBuf>,
    },
    /// Show where two traces first diverge, with context, and how the rest differs.
    /// Exit code 0 if they are the same, 1 if they differ.
    Diff {
        /// Two trace files (text or JSON lines), or one scenario with --seeds A B.
        #[arg(required = true, num_args = 1..=2)]
        targets: Vec<PathBuf>,
        /// Two seeds of the one scenario given.
        #[arg(long, num_args = 2, value_names = ["A", "B"])]
        seeds: Option<Vec<u64>>,
        #[command(flatten)]
        filter: FilterArgs,
        /// Events of context shown around the first divergence.
        #[arg(long, default_value_t = 3)]
        context: usize,
    },
    /// List workloads with their parameters and checks, and the scenarios under a folder.
    List {
        #[arg(default_value = "scenarios")]
        folder: PathBuf,
    },
    /// Merge the `--json` outputs of a sharded sweep, checking that every seed of the range
    /// appears exactly once; prints the combined summary (as an unsharded run would).
    Merge {
        /// JSON-lines files written by `orrery run --json` (any order; `-` reads stdin).
        #[arg(required = true)]
        outputs: Vec<PathBuf>,
        /// Print the merged result as JSON lines (seed records, then a summary).
        #[arg(long, env = "ORRERY_JSON")]
        json: bool,
    },
    /// Check an EDN (Jepsen) history for linearizability.
    CheckHistory {
        /// register | cas-register | kv
        #[arg(long)]
        model: String,
        file: PathBuf,
        /// Search step budget; exhausting it gives "unknown".
        #[arg(long, default_value_t = STEPS_MAX_DEFAULT)]
        steps_max: u64,
    },
}

/// Which events `trace` and `diff` look at; see `trace::Filter`.
#[derive(clap::Args, Debug, Clone)]
struct FilterArgs {
    /// Only events at these nodes: `n1,n2`, or the scenario's node names (`s0,c1`) when the
    /// trace comes from a scenario; `-` for the world's own events.
    #[arg(long)]
    node: Option<String>,
    /// Only events of these kinds: `deliver,crash`.
    #[arg(long)]
    kind: Option<String>,
    /// Only events at or after this virtual time: `2s`, `1500ms`.
    #[arg(long)]
    from: Option<String>,
    /// Only events before this virtual time.
    #[arg(long)]
    to: Option<String>,
}

impl FilterArgs {
    /// The filter; node names of `topology` (the scenario's, if known) stand for their ids.
    fn parse(&self, topology: Option<&Topology>) -> Result<Filter, String> {
        let nodes = self.node.as_deref().map(|text| {
            text.split(',')
                .map(|item| match topology.and_then(|t| t.find(item.trim())) {
                    Some(node) => node.to_string(),
                    None => item.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        });
        Filter::parse(
            nodes.as_deref(),
            self.kind.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
        )
        .map_err(|message| match topology {
            Some(topology) if message.starts_with("bad node") => {
                let names: Vec<String> = topology
                    .nodes()
                    .map(|node| match topology.node(node) {
                        Some(spec) if !spec.name.is_empty() => format!("{} ({node})", spec.name),
                        _ => node.to_string(),
                    })
                    .collect();
                format!("{message}, or one of this scenario's nodes: {}", names.join(", "))
            }
            _ => message,
        })
    }
}

/// Exit status of a command.
enum Status {
    Passed,
    Failed,
    BadInput(String),
    /// Bad input whose message is already rendered (scenario errors, compiler style).
    BadInputRendered(String),
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        match status {
            Status::Passed => ExitCode::SUCCESS,
            Status::Failed => ExitCode::from(1),
            Status::BadInput(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
            Status::BadInputRendered(message) => {
                eprint!("{message}");
                ExitCode::from(2)
            }
        }
    }
}

/// Runs the command line with the given workloads.
pub fn main(registry: Registry) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    // A panicking process fails its seed and the message is in the seed's report; printing
    // every one of them as well would bury the summary of a sweep where many seeds panic.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let on_seed_thread = std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with(runner::SEED_THREAD_PREFIX));
        if !on_seed_thread {
            default_hook(info);
        }
    }));
    let registry = Arc::new(registry);
    match cli.command {
        Command::Run {
            scenarios,
            seeds,
            seed,
            jobs,
            shard,
            check_determinism,
            trace,
            json,
            out,
            hang_timeout,
        } => {
            let shard = match shard
                .map_or_else(shard_from_environment, |text| parse_shard(&text).map(Some))
            {
                Ok(shard) => shard,
                Err(message) => return Status::BadInput(message).into(),
            };
            let options = SweepOptions {
                jobs: jobs.unwrap_or_else(|| SweepOptions::default().jobs),
                check_determinism,
                hang_timeout: std::time::Duration::from_secs(hang_timeout),
                run: RunOptions::default(),
            };
            let mut worst = Status::Passed;
            for path in scenarios {
                let request = RunRequest {
                    seeds: seeds.clone(),
                    seed,
                    shard,
                    trace: trace.clone(),
                    json,
                    out: out.clone(),
                };
                match run_scenario(&path, &registry, options, &request) {
                    Status::Passed => {}
                    Status::Failed => worst = Status::Failed,
                    bad @ (Status::BadInput(_) | Status::BadInputRendered(_)) => return bad.into(),
                }
            }
            worst.into()
        }
        Command::Replay { target, seed, trace } => replay(&target, seed, trace, &registry).into(),
        Command::Trace { target, seed, filter, json, out, perfetto } => {
            let outputs = TraceOutputs { json, out, perfetto };
            trace(&target, seed, &filter, &outputs, &registry).into()
        }
        Command::Diff { targets, seeds, filter, context } => {
            diff(&targets, seeds.as_deref(), &filter, context, &registry).into()
        }
        Command::List { folder } => list(&registry, &folder).into(),
        Command::Merge { outputs, json } => merge(&outputs, json).into(),
        Command::CheckHistory { model, file, steps_max } => {
            check_history(&model, &file, steps_max).into()
        }
    }
}

struct RunRequest {
    seeds: Option<String>,
    seed: Option<u64>,
    shard: Option<(u64, u64)>,
    trace: Option<PathBuf>,
    json: bool,
    out: PathBuf,
}

/// Parses `A..B` (half-open, as in Rust) or `A..=B` or a single `N`.
pub fn parse_seed_range(text: &str) -> Result<Range<u64>, String> {
    let bad = || format!("invalid seed range {text:?}: expected A..B (half-open), A..=B or N");
    let text = text.trim();
    if let Some((a, b)) = text.split_once("..=") {
        let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        let end = b.checked_add(1).ok_or_else(bad)?;
        return if a <= b { Ok(a..end) } else { Err(format!("empty seed range {text:?}")) };
    }
    if let Some((a, b)) = text.split_once("..") {
        let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        return if a < b { Ok(a..b) } else { Err(format!("empty seed range {text:?}")) };
    }
    let n: u64 = text.parse().map_err(|_| bad())?;
    Ok(n..n + 1)
}

/// Parses `K/N` with K in 1..=N (nextest's partition convention).
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("invalid shard {text:?}: expected K/N with 1 <= K <= N");
    let (k, n) = text.trim().split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The shard from a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, 0-based, with
/// `ORRERY_SHARD_COUNT`) or a Slurm array (`SLURM_ARRAY_TASK_ID`, `_MIN`, `_COUNT`).
fn shard_from_environment() -> Result<Option<(u64, u64)>, String> {
    let var = |name: &str| std::env::var(name).ok();
    let number = |name: &str, text: String| {
        text.trim().parse::<u64>().map_err(|_| format!("{name}={text:?} is not a number"))
    };
    if let Some(index) = var("JOB_COMPLETION_INDEX") {
        let count = var("ORRERY_SHARD_COUNT").ok_or(
            "JOB_COMPLETION_INDEX is set but ORRERY_SHARD_COUNT is not: how many shards are there?",
        )?;
        let (index, count) =
            (number("JOB_COMPLETION_INDEX", index)?, number("ORRERY_SHARD_COUNT", count)?);
        return parse_shard(&format!("{}/{count}", index + 1)).map(Some);
    }
    if let Some(task) = var("SLURM_ARRAY_TASK_ID") {
        let task = number("SLURM_ARRAY_TASK_ID", task)?;
        let min = var("SLURM_ARRAY_TASK_MIN")
            .map(|t| number("SLURM_ARRAY_TASK_MIN", t))
            .transpose()?
            .unwrap_or(0);
        let count = var("SLURM_ARRAY_TASK_COUNT")
            .ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
        let count = number("SLURM_ARRAY_TASK_COUNT", count)?;
        return parse_shard(&format!("{}/{count}", task.saturating_sub(min) + 1)).map(Some);
    }
    Ok(None)
}

fn load(path: &Path, registry: &Registry) -> Result<Scenario, Status> {
    scenario::load(path, registry).map_err(|errors| Status::BadInputRendered(format!("{errors}\n")))
}

fn run_scenario(
    path: &Path,
    registry: &Arc<Registry>,
    options: SweepOptions,
    request: &RunRequest,
) -> Status {
    let scenario = match load(path, registry) {
        Ok(scenario) => Arc::new(scenario),
        Err(status) => return status,
    };
    let range = match (&request.seeds, request.seed) {
        (_, Some(seed)) => seed..seed + 1,
        (Some(text), None) => match parse_seed_range(text) {
            Ok(range) => range,
            Err(message) => return Status::BadInput(message),
        },
        (None, None) => scenario.default_seeds(),
    };
    let scope = SweepScope {
        path: path.display().to_string(),
        seeds: range.clone(),
        shard: request.shard,
        expect: scenario.expect(),
    };
    let seeds: Vec<u64> = match request.shard {
        Some((k, n)) => range.filter(|seed| seed % n == k - 1).collect(),
        None => range.collect(),
    };
    if request.trace.is_some() && seeds.len() != 1 {
        return Status::BadInput("--trace needs exactly one seed (use --seed N)".to_string());
    }
    let name = scenario.name().to_string();
    let path_text = path.display().to_string();
    let planner_scenario = scenario.clone();
    let planner: Arc<runner::Planner> = Arc::new(move |seed| planner_scenario.sample(seed));
    let show_progress = !request.json && std::io::stderr().is_terminal() && seeds.len() > 1;
    let bar = show_progress.then(|| {
        let bar = indicatif::ProgressBar::new(seeds.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} seeds, {per_sec}, eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(name.clone());
        bar
    });
    #[allow(clippy::disallowed_methods)] // tidy: allow (reports wall time only)
    let started = std::time::Instant::now();
    let json = request.json;
    let reports = runner::sweep(planner, &seeds, registry.clone(), options, |report, _, _| {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        let _ = report;
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = Summary::new(&name, &reports, started.elapsed().as_secs_f64());
    let out = std::io::stdout();
    let mut out = out.lock();
    if json {
        // In seed order, whatever the thread count, so shard outputs merge by concatenation.
        for report in &reports {
            let _ = writeln!(out, "{}", json_line(&name, report));
        }
        let _ = writeln!(out, "{}", json_summary(&summary, sweep_fingerprint(&reports), &scope));
    } else {
        for report in runner::first_failures(&reports) {
            let _ = write!(out, "{}", render_failure(&name, &path_text, report));
        }
        let _ = write!(out, "{}", render_summary(&summary));
    }
    if let Some(trace_path) = &request.trace {
        if let Some(report) = reports.first() {
            if let Err(message) = write_trace(&scenario, report.seed, registry, trace_path) {
                return Status::BadInput(message);
            }
        }
    }
    let capsules: Vec<&SeedReport> =
        reports.iter().filter(|r| r.failure.is_some()).take(CAPSULES_MAX).collect();
    for report in capsules {
        match write_capsule(&scenario, &path_text, report, registry, &request.out) {
            Ok(dir) if !json => {
                let _ = writeln!(out, "capsule: {}", dir.display());
            }
            Ok(_) => {}
            Err(message) => {
                eprintln!("warning: could not write the capsule of seed {}: {message}", report.seed)
            }
        }
    }
    // Under --json, stdout holds only JSON records so shard outputs concatenate cleanly.
    let mut verdict_out: Box<dyn Write> =
        if json { Box::new(std::io::stderr()) } else { Box::new(out) };
    match scenario.expect() {
        Expect::Pass => {
            if summary.failed() == 0 {
                Status::Passed
            } else {
                Status::Failed
            }
        }
        Expect::Fail { within_seeds } => {
            let found = reports.iter().any(|r| r.failure.is_some());
            if found {
                let _ = writeln!(
                    verdict_out,
                    "expected failure found (expect: fail within {within_seeds} seeds)"
                );
                Status::Passed
            } else {
                let _ = writeln!(
                    verdict_out,
                    "ORRERY EXPECTED FAILURE NOT FOUND scenario={name} seeds={} (expect: fail within {within_seeds})",
                    reports.len()
                );
                Status::Failed
            }
        }
    }
}

/// At most this many capsules per scenario run: a sweep where everything fails should not
/// write thousands of directories.
const CAPSULES_MAX: usize = 10;

fn write_trace(
    scenario: &Scenario,
    seed: u64,
    registry: &Registry,
    path: &Path,
) -> Result<(), String> {
    let plan = scenario.sample(seed);
    let (_, trace) =
        runner::run_plan(&plan, registry, RunOptions { recording: true, ..RunOptions::default() });
    let text = trace_text(&plan, trace.as_ref());
    write_new_file(path, &text)
}

fn trace_text(plan: &scenario::RunPlan, trace: Option<&crate::trace::Trace>) -> String {
    TraceFile::of_run(plan, trace.cloned()).render_text()
}

/// Writes a file that must not exist yet: nothing a user produced is overwritten silently.
fn write_new_file(path: &Path, text: &str) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|error| format!("{}: {error} (refusing to overwrite)", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|error| format!("{}: {error}", path.display()))
}

/// A directory per failing seed: the realized plan as YAML (replayable), the full trace and a
/// summary. An existing directory is never reused: a numbered sibling is made instead.
fn write_capsule(
    scenario: &Scenario,
    scenario_path: &str,
    report: &SeedReport,
    registry: &Registry,
    out: &Path,
) -> Result<PathBuf, String> {
    let base = out.join(format!("{}-seed-{}", sanitize(scenario.name()), report.seed));
    let dir =
        (1..1000)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    PathBuf::from(format!("{}-{n}", base.display()))
                }
            })
            .find(|candidate| !candidate.exists())
            .ok_or("too many capsules with this name")?;
    std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    let plan = scenario.sample(report.seed);
    write_new_file(&dir.join("plan.yaml"), &scenario::plan_to_yaml(&plan))?;
    let (_, trace) =
        runner::run_plan(&plan, registry, RunOptions { recording: true, ..RunOptions::default() });
    write_new_file(&dir.join("trace.txt"), &trace_text(&plan, trace.as_ref()))?;
    let summary = format!(
        "{}\nreplay this capsule: cargo run --release -- replay {}\nreplay from the scenario: {}\nstats: {}\n",
        render_failure(scenario.name(), scenario_path, report).trim_end(),
        dir.display(),
        runner::replay_command(scenario_path, report.seed),
        report.stats
    );
    write_new_file(&dir.join("summary.txt"), &summary)?;
    Ok(dir)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect()
}

/// The scenario file a target names: itself, or a capsule directory's `plan.yaml`.
fn scenario_path(target: &Path) -> PathBuf {
    if target.is_dir() {
        target.join("plan.yaml")
    } else {
        target.to_path_buf()
    }
}

/// A trace read from a trace file (text or JSON lines), or recorded by running one seed of a
/// scenario file or capsule directory (default: its first seed).
fn load_trace(
    target: &Path,
    seed: Option<u64>,
    registry: &Registry,
) -> Result<(TraceFile, Option<Topology>), Status> {
    let is_scenario =
        target.is_dir() || target.extension().is_some_and(|e| e == "yaml" || e == "yml");
    if !is_scenario {
        if seed.is_some() {
            let message =
                format!("{}: a seed applies to a scenario, not a trace", target.display());
            return Err(Status::BadInput(message));
        }
        let text = std::fs::read_to_string(target)
            .map_err(|error| Status::BadInput(format!("{}: {error}", target.display())))?;
        return TraceFile::parse(&text)
            .map(|file| (file, None))
            .map_err(|error| Status::BadInput(format!("{}: {error}", target.display())));
    }
    let scenario = load(&scenario_path(target), registry)?;
    let plan = scenario.sample(seed.unwrap_or(scenario.default_seeds().start));
    let (_, trace) =
        runner::run_plan(&plan, registry, RunOptions { recording: true, ..RunOptions::default() });
    Ok((TraceFile::of_run(&plan, trace), Some(plan.topology)))
}

/// Where `orrery trace` writes.
struct TraceOutputs {
    json: bool,
    out: Option<PathBuf>,
    perfetto: Option<PathBuf>,
}

fn trace(
    target: &Path,
    seed: Option<u64>,
    filter: &FilterArgs,
    outputs: &TraceOutputs,
    registry: &Registry,
) -> Status {
    let (file, topology) = match load_trace(target, seed, registry) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let filter = match filter.parse(topology.as_ref()) {
        Ok(filter) => filter,
        Err(message) => return Status::BadInput(message),
    };
    for kind in filter.absent_kinds(&file) {
        eprintln!("warning: no event of kind {kind:?} in this trace");
    }
    let view = filter.apply(&file);
    if let Some(path) = &outputs.perfetto {
        if let Err(message) = write_new_file(path, &traces::perfetto::export(&view)) {
            return Status::BadInput(message);
        }
    }
    let text = if outputs.json {
        traces::json::render(&view)
    } else {
        let comments: Vec<String> =
            (!filter.is_everything()).then(|| filter.to_string()).into_iter().collect();
        view.render_text_with(&comments)
    };
    match &outputs.out {
        Some(path) => match write_new_file(path, &text) {
            Ok(()) => Status::Passed,
            Err(message) => Status::BadInput(message),
        },
        None if outputs.perfetto.is_some() => Status::Passed,
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            Status::Passed
        }
    }
}

fn diff(
    targets: &[PathBuf],
    seeds: Option<&[u64]>,
    filter: &FilterArgs,
    context: usize,
    registry: &Registry,
) -> Status {
    let sides = match (targets, seeds) {
        ([left, right], None) => [(left, None), (right, None)],
        ([scenario], Some(&[left, right])) => [(scenario, Some(left)), (scenario, Some(right))],
        _ => {
            let message = "expected two trace files, or one scenario with --seeds A B";
            return Status::BadInput(message.to_string());
        }
    };
    let mut loaded = Vec::with_capacity(2);
    for (target, seed) in sides {
        match load_trace(target, seed, registry) {
            Ok(side) => loaded.push(side),
            Err(status) => return status,
        }
    }
    let topology = loaded.iter().find_map(|(_, topology)| topology.as_ref());
    let filter = match filter.parse(topology) {
        Ok(filter) => filter,
        Err(message) => return Status::BadInput(message),
    };
    let files: Vec<TraceFile> = loaded.iter().map(|(file, _)| filter.apply(file)).collect();
    let difference = traces::diff(&files[0], &files[1], context);
    print!("{difference}");
    if difference.is_same() {
        Status::Passed
    } else {
        Status::Failed
    }
}

fn replay(target: &Path, seed: Option<u64>, trace: Option<PathBuf>, registry: &Registry) -> Status {
    let scenario_path = scenario_path(target);
    let scenario = match load(&scenario_path, registry) {
        Ok(scenario) => scenario,
        Err(status) => return status,
    };
    let seed = seed.unwrap_or(scenario.default_seeds().start);
    let plan = scenario.sample(seed);
    let (report, recorded) =
        runner::run_plan(&plan, registry, RunOptions { recording: true, ..RunOptions::default() });
    let text = trace_text(&plan, recorded.as_ref());
    match trace {
        Some(path) => {
            if let Err(message) = write_new_file(&path, &text) {
                return Status::BadInput(message);
            }
        }
        None => print!("{text}"),
    }
    match &report.failure {
        Some(_) => {
            print!(
                "{}",
                render_failure(scenario.name(), &scenario_path.display().to_string(), &report)
            );
            Status::Failed
        }
        None => {
            println!(
                "ORRERY PASS scenario={} seed={seed} fingerprint={:016x}",
                scenario.name(),
                report.fingerprint
            );
            Status::Passed
        }
    }
}

fn list(registry: &Registry, folder: &Path) -> Status {
    println!("workloads:");
    for workload in registry.iter() {
        println!("  {} — {}", workload.name(), workload.description());
        for parameter in workload.parameters() {
            println!(
                "      param {}: {} = {} ({})",
                parameter.name,
                parameter.kind.name(),
                parameter.default,
                parameter.doc
            );
        }
        for check in workload.checks() {
            println!("      check {} [{:?}]: {}", check.name, check.kind, check.doc);
        }
    }
    let mut files = Vec::new();
    collect_yaml(folder, &mut files);
    files.sort();
    println!("scenarios under {}:", folder.display());
    for file in files {
        match scenario::load(&file, registry) {
            Ok(scenario) => println!("  {} — {}", file.display(), scenario.description()),
            Err(errors) => println!("  {} — INVALID ({} problem(s))", file.display(), errors.len()),
        }
    }
    Status::Passed
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

fn merge(paths: &[PathBuf], json: bool) -> Status {
    let mut outputs = Vec::new();
    for path in paths {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        };
        match text {
            Ok(text) => outputs.push((path.display().to_string(), text)),
            Err(error) => return Status::BadInput(format!("{}: {error}", path.display())),
        }
    }
    let merged = match runner::merge_json_lines(&outputs) {
        Ok(merged) => merged,
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(|e| format!("error: {e}\n")).collect();
            return Status::BadInputRendered(lines.concat());
        }
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    let mut status = Status::Passed;
    for scenario in &merged {
        let summary = scenario.summary();
        let scope = SweepScope {
            path: scenario.path.clone(),
            seeds: scenario.seeds.clone(),
            shard: None,
            expect: scenario.expect,
        };
        if json {
            for report in &scenario.reports {
                let _ = writeln!(out, "{}", json_line(&scenario.scenario, report));
            }
            let _ =
                writeln!(out, "{}", json_summary(&summary, scenario.sweep_fingerprint(), &scope));
        } else {
            for report in runner::first_failures(&scenario.reports) {
                let _ =
                    write!(out, "{}", render_failure(&scenario.scenario, &scenario.path, report));
            }
            let _ = write!(out, "{}", render_summary(&summary));
            let _ = writeln!(
                out,
                "  merged           {} shard(s), every seed of {}..{} exactly once",
                scenario.shards, scenario.seeds.start, scenario.seeds.end
            );
            let _ = writeln!(out, "  sweep fingerprint {:016x}", scenario.sweep_fingerprint());
        }
        if !scenario.as_expected() {
            status = Status::Failed;
        }
    }
    status
}

fn check_history(model: &str, file: &Path, steps_max: u64) -> Status {
    let model: ModelName = match model.parse() {
        Ok(model) => model,
        Err(error) => return Status::BadInput(format!("{error}")),
    };
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(error) => return Status::BadInput(format!("{}: {error}", file.display())),
    };
    match check_edn(&bytes, model, steps_max) {
        Ok(report) => {
            println!("{report}");
            match report.verdict {
                crate::check::Verdict::Linearizable => Status::Passed,
                _ => Status::Failed,
            }
        }
        Err(error) => Status::BadInput(format!("{}:{error}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves seed ranges are half-open as in Rust, `..=` is inclusive, and bad ones are errors.
    #[test]
    fn parses_seed_ranges_and_shards() {
        assert_eq!(parse_seed_range("0..1000"), Ok(0..1000));
        assert_eq!(parse_seed_range("5..=7"), Ok(5..8));
        assert_eq!(parse_seed_range("42"), Ok(42..43));
        for bad in ["", "a..b", "5..5", "9..=3", "1..2..3", "-1..4"] {
            assert!(parse_seed_range(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        for bad in ["0/4", "5/4", "1/0", "x", "1-4"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
