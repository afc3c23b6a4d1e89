//! The command line, as a library so a user's own binary can reuse it with their own
//! workloads registered: `orrery_sim::cli::main(registry)`.
//!
//! Exit codes: 0 all passed (or an `expect: fail` scenario failed as expected; for `shrink`,
//! shrunk), 1 a check failed (or an expected failure did not appear; for `diff`, the traces
//! differ), 2 bad input or usage (zero seeds run is always 2; for `shrink`, a seed that
//! passes), 3 a check could not decide (`check-history` ran out of its step budget), 130/143 a
//! sweep or shrink interrupted by SIGINT/SIGTERM, 141 stdout was closed early
//! (`orrery ... | head`), quietly. Every flag of `run` has an `ORRERY_*` environment mirror; a
//! flag given on the command line beats its variable. Wall-clock time is read here only to
//! report speed.

mod args;
mod ctl;
mod history;
mod list;
mod merge;
mod run;
mod serve;
mod shrink;
mod signals;
mod trace;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::check::STEPS_MAX_DEFAULT;
use crate::runner::{self, RunOptions};
use crate::scenario::{self, Scenario};
use crate::workload::Registry;

pub use args::{parse_boolish, parse_seed_range, parse_shard};
use args::{shard_from_environment, FilterArgs, OverrideArgs, RunArgs};

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
    Run(RunArgs),
    /// Re-run one seed of a scenario (or a failure capsule) with its full trace.
    Replay {
        /// A scenario file, or a capsule directory.
        target: PathBuf,
        /// The seed (for a scenario file; a capsule replays its own).
        #[arg(long, env = "ORRERY_SEED")]
        seed: Option<u64>,
        /// Write the trace here instead of stdout.
        #[arg(long)]
        trace: Option<PathBuf>,
        #[command(flatten)]
        overrides: OverrideArgs,
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
        /// Write a self-contained HTML space-time view here (opens offline, from file://).
        #[arg(long)]
        html: Option<PathBuf>,
        #[command(flatten)]
        overrides: OverrideArgs,
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
        #[command(flatten)]
        overrides: OverrideArgs,
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
        /// Write the merged figures to this new file in the Prometheus text format, as one
        /// unsharded run's `--metrics` would (wall time: the sum of the outputs').
        #[arg(long)]
        metrics: Option<PathBuf>,
    },
    /// Shrink a failure: the smallest scenario of the same seed that still fails the same
    /// check, written into the capsule as shrunk.yaml with its trace.
    Shrink(shrink::ShrinkArgs),
    /// Serve one world of a scenario, paused at time 0, over the control protocol
    /// (docs/CONTROL_PROTOCOL.md); prints the bound address on the first line of stdout.
    Serve(serve::ServeArgs),
    /// Send one operation to a control server; prints the reply as JSON lines.
    Ctl(ctl::CtlArgs),
    /// Check a history (Jepsen EDN, JSON lines, porcupine's formats) for linearizability.
    /// Exit code 0 linearizable, 1 not, 3 unknown (the step budget ran out), 2 bad input.
    CheckHistory {
        /// register | cas-register | kv | set | queue | counter | unique-ids
        #[arg(long)]
        model: String,
        /// The history file; `-` reads stdin.
        file: PathBuf,
        /// edn | jsonl | porcupine-etcd | porcupine-kv (default: recognised from the file).
        #[arg(long)]
        format: Option<String>,
        /// The value before any write, as EDN (`nil`, `""`, `0`); default: the model's, or the
        /// format's (porcupine-kv: `""`).
        #[arg(long)]
        initial: Option<String>,
        /// How a read of a key never written (or an empty dequeue) is written, as EDN;
        /// default: the initial value (queue: nil).
        #[arg(long)]
        missing: Option<String>,
        /// Search step budget; exhausting it gives "unknown".
        #[arg(long, default_value_t = STEPS_MAX_DEFAULT)]
        steps_max: u64,
        /// Write a self-contained HTML view of the history and its verdict here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Print the time spent reading and checking (wall and CPU) to stderr.
        #[arg(long)]
        timings: bool,
    },
}

/// Exit status of a command.
enum Status {
    Passed,
    Failed,
    /// A check could not decide (a linearizability search ran out of budget): exit 3.
    Unknown,
    BadInput(String),
    /// Bad input whose message is already rendered (scenario errors, compiler style).
    BadInputRendered(String),
    /// A sweep stopped by this signal: exit 128 + its number.
    Interrupted(i32),
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        match status {
            Status::Passed => ExitCode::SUCCESS,
            Status::Failed => ExitCode::from(1),
            Status::Unknown => ExitCode::from(3),
            Status::BadInput(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
            Status::BadInputRendered(message) => {
                eprint!("{message}");
                ExitCode::from(2)
            }
            Status::Interrupted(signal) => ExitCode::from(signals::exit_code(signal)),
        }
    }
}

/// Runs the command line with the given workloads.
pub fn main(registry: Registry) -> ExitCode {
    main_with_args(std::env::args_os(), registry)
}

/// Runs the command line `args` (the program name first, as `std::env::args_os` gives it)
/// with the given workloads: what `main` does, for a binary or a test that builds its own
/// arguments.
pub fn main_with_args<I, T>(args: I, registry: Registry) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let parsed = Cli::command().try_get_matches_from(args).and_then(|matches| {
        let cli = Cli::from_arg_matches(&matches)?;
        Ok((cli, matches))
    });
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    // A panicking process fails its seed and the message is in the seed's report; printing
    // every one of them as well would bury the summary of a sweep where many seeds panic.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        exit_quietly_if_output_closed(info);
        let on_seed_thread = std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with(runner::SEED_THREAD_PREFIX));
        if !on_seed_thread {
            default_hook(info);
        }
    }));
    let registry = Arc::new(registry);
    match cli.command {
        Command::Run(args) => run::run(&args, matches.subcommand_matches("run"), &registry).into(),
        Command::Replay { target, seed, trace, overrides } => {
            let seed_is_explicit = matches
                .subcommand_matches("replay")
                .and_then(|m| m.value_source("seed"))
                .is_some_and(|source| source == clap::parser::ValueSource::CommandLine);
            trace::replay(&target, seed, seed_is_explicit, trace, &overrides, &registry).into()
        }
        Command::Trace { target, seed, filter, json, out, perfetto, html, overrides } => {
            let outputs = trace::TraceOutputs { json, out, perfetto, html };
            trace::trace(&target, seed, &filter, &outputs, &overrides, &registry).into()
        }
        Command::Diff { targets, seeds, filter, context, overrides } => {
            trace::diff(&targets, seeds.as_deref(), &filter, context, &overrides, &registry).into()
        }
        Command::Shrink(args) => {
            let seed_is_explicit = matches
                .subcommand_matches("shrink")
                .and_then(|m| m.value_source("seed"))
                .is_some_and(|source| source == clap::parser::ValueSource::CommandLine);
            shrink::shrink_command(&args, seed_is_explicit, &registry).into()
        }
        Command::List { folder } => list::list(&registry, &folder).into(),
        Command::Merge { outputs, json, metrics } => {
            merge::merge(&outputs, json, metrics.as_deref()).into()
        }
        Command::Serve(args) => serve::serve(&args, &registry).into(),
        Command::Ctl(args) => ctl::ctl(&args).into(),
        Command::CheckHistory {
            model,
            file,
            format,
            initial,
            missing,
            steps_max,
            timings,
            html,
        } => {
            let request = history::HistoryRequest {
                model,
                file,
                format,
                initial,
                missing,
                steps_max,
                timings,
                html,
            };
            history::check_history(&request).into()
        }
    }
}

/// A closed stdout (`orrery ... | head`) ends the process quietly, with the status of a process
/// killed by SIGPIPE (128 + 13), as it ends `cat`. Rust ignores SIGPIPE, so a write to a closed
/// pipe is an error, and `println!` turns that error into a panic with this message; the hook
/// catches exactly that panic. SIGPIPE itself stays ignored on purpose: restoring its default
/// would kill the process on any broken pipe or socket, such as a child process's stdin.
fn exit_quietly_if_output_closed(info: &std::panic::PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    let printing = message.starts_with("failed printing to stdout")
        || message.starts_with("failed printing to stderr");
    if printing && message.to_ascii_lowercase().contains("broken pipe") {
        std::process::exit(CLOSED_OUTPUT_EXIT_CODE);
    }
}

/// What a shell reports for a process killed by SIGPIPE.
const CLOSED_OUTPUT_EXIT_CODE: i32 = 141;

/// Loads a scenario with the command line's `--param`/`--set` laid over it.
fn load(path: &Path, registry: &Registry, overrides: &OverrideArgs) -> Result<Scenario, Status> {
    let overrides = overrides.parse().map_err(Status::BadInput)?;
    scenario::load_with(path, registry, &overrides)
        .map_err(|errors| Status::BadInputRendered(format!("{errors}\n")))
}

/// Writes a file that must not exist yet: nothing a user produced is overwritten silently.
fn write_new_file(path: &Path, text: &str) -> Result<(), String> {
    runner::write_new_file(path, text)
}

/// The scenario file a target names: itself, or a capsule directory's `plan.yaml`.
fn scenario_path(target: &Path) -> PathBuf {
    if target.is_dir() {
        target.join("plan.yaml")
    } else {
        target.to_path_buf()
    }
}

/// How failures printed by this binary are replayed: by this binary, wherever it is, with
/// the overrides the scenario was loaded with.
fn replayer(overrides: &OverrideArgs) -> runner::Replayer {
    let program = std::env::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| "orrery".to_string());
    runner::Replayer::Program { program, overrides: overrides.words() }
}

/// One seed run with its full trace recorded.
fn run_recorded(
    plan: &scenario::RunPlan,
    registry: &Registry,
) -> (runner::SeedReport, Option<crate::trace::Trace>) {
    runner::run_plan(plan, registry, RunOptions { recording: true, ..RunOptions::default() })
}
