//! `orrery run`: sweeps of scenarios, streamed as they go. Each finished seed is appended to
//! the journal in `--out` at once (completion order) and, under `--json`, printed on stdout
//! in seed order; a failing seed gets its capsule as soon as it is released; progress goes to
//! stderr whenever stderr is a terminal. Then the summary and the verdict.
//!
//! Everything that can be checked is checked before the first seed runs: every scenario
//! loads, the seeds and shard make sense, `--trace` names one seed of one scenario and a new
//! file, a `--resume` journal is of the same scenario and range. Interrupted (Ctrl-C,
//! SIGTERM), a sweep winds down, prints what it has with `interrupted: N of M seeds run`,
//! and exits 130 or 143; `--resume` then runs only the seeds the journal lacks.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::ArgMatches;

use crate::runner::{
    self, digest, json_line, json_summary, render_failure, render_summary, Capsule, FailureKind,
    Journal, JournalHeader, Replayer, Rerun, RerunOutcome, Resumed, SeedReport, SeedSet, Stop,
    Summary, SweepMetrics, SweepObserver, SweepOptions, SweepScope, SweepStatus, CAPSULES_MAX,
    CAPSULE_TRACE_BYTES_MAX,
};
use crate::scenario::{Expect, Scenario};
use crate::workload::Registry;

use super::args::{chosen_seeds, given, Given, RunArgs};
use super::shrink::{shrink_failure, Place};
use super::{load, parse_shard, replayer, shard_from_environment, signals, Status};

/// The default `--out`.
pub(super) const OUT_DEFAULT: &str = "orrery-out";

/// One scenario, ready to run.
struct Prepared {
    path: PathBuf,
    scenario: Arc<Scenario>,
    seeds: runner::SeedRange,
    digest: u64,
    /// The journal being resumed, with what it held.
    resumed: Option<(Journal, Resumed)>,
}

pub(super) fn run(
    args: &RunArgs,
    matches: Option<&ArgMatches>,
    registry: &Arc<Registry>,
) -> Status {
    let replayer = replayer(&args.overrides);
    let (prepared, options, out) = match prepare(args, matches, registry) {
        Ok(ready) => ready,
        Err(status) => return status,
    };
    signals::install();
    let mut worst = Status::Passed;
    let mut swept = Vec::new();
    for scenario in prepared {
        let (status, sweep) = run_scenario(scenario, registry, options, args, &out, &replayer);
        swept.extend(sweep);
        match status {
            Status::Passed => {}
            Status::Failed => worst = Status::Failed,
            other => {
                worst = other;
                break;
            }
        }
    }
    // The figures of whatever ran, an interrupted sweep's included: a dashboard needs the
    // nights that went wrong most.
    if let Some(path) = &args.metrics {
        if let Err(message) = write_metrics(path, &swept) {
            return match worst {
                Status::Passed | Status::Failed => {
                    Status::BadInput(format!("--metrics: {message}"))
                }
                other => {
                    eprintln!("error: --metrics: {message}");
                    other
                }
            };
        }
    }
    worst
}

/// One finished (or interrupted) sweep's figures, for `--metrics`.
pub(super) struct Swept {
    pub(super) summary: Summary,
    pub(super) scope: SweepScope,
    pub(super) status: SweepStatus,
}

/// Writes the metrics of `swept` to `path`, a new file.
pub(super) fn write_metrics(path: &Path, swept: &[Swept]) -> Result<(), String> {
    let sweeps: Vec<SweepMetrics<'_>> = swept
        .iter()
        .map(|s| SweepMetrics { summary: &s.summary, scope: &s.scope, status: &s.status })
        .collect();
    let text = runner::render_metrics(&sweeps)?;
    runner::write_new_file(path, &text)
}

/// Everything checked before any seed runs.
fn prepare(
    args: &RunArgs,
    matches: Option<&ArgMatches>,
    registry: &Registry,
) -> Result<(Vec<Prepared>, SweepOptions, PathBuf), Status> {
    let bad = |message: String| Status::BadInput(message);
    let shard = match &args.shard {
        Some(text) => Some(parse_shard(text).map_err(bad)?),
        None => shard_from_environment().map_err(bad)?,
    };
    let seeds_given = args.seeds.as_deref().zip(given(matches, "seeds", "--seeds", "ORRERY_SEEDS"));
    let seed_given = args.seed.as_deref().zip(given(matches, "seed", "--seed", "ORRERY_SEED"));
    let chosen = chosen_seeds(seeds_given, seed_given).map_err(bad)?;
    let out_given = args.out.clone();
    let (out, resume_file) = match &args.resume {
        Some(target) => {
            let (dir, file) = if target.is_file() {
                (
                    target.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf),
                    Some(target.clone()),
                )
            } else {
                (target.clone(), None)
            };
            if !dir.is_dir() {
                return Err(bad(format!(
                    "--resume {}: no such directory or journal",
                    target.display()
                )));
            }
            if let Some(out) = out_given.as_ref().filter(|out| **out != dir) {
                return Err(bad(format!(
                    "--out {} and --resume {} name different directories: a resumed sweep writes \
                     where its journal is",
                    out.display(),
                    target.display()
                )));
            }
            (dir, file)
        }
        None => (out_given.unwrap_or_else(|| PathBuf::from(OUT_DEFAULT)), None),
    };
    if let Some(trace) = &args.trace {
        if args.scenarios.len() != 1 {
            return Err(bad(format!(
                "--trace records one seed of one scenario; {} scenarios given",
                args.scenarios.len()
            )));
        }
        if args.resume.is_some() {
            return Err(bad(
                "--trace and --resume do not go together: trace one seed with --seed N".to_string(),
            ));
        }
        if trace.exists() {
            return Err(bad(format!(
                "{}: already exists (refusing to overwrite)",
                trace.display()
            )));
        }
    }
    if let Some(metrics) = &args.metrics {
        if metrics.exists() {
            return Err(bad(format!(
                "--metrics {}: already exists (refusing to overwrite)",
                metrics.display()
            )));
        }
    }
    if resume_file.is_some() && args.scenarios.len() != 1 {
        return Err(bad(
            "--resume FILE resumes one journal: give one scenario (or --resume DIR)".to_string()
        ));
    }
    let mut prepared: Vec<Prepared> = Vec::new();
    for path in &args.scenarios {
        let scenario = load(path, registry, &args.overrides)?;
        let mut bytes = std::fs::read(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        // A journal belongs to the scenario as run: its overrides are part of what it is.
        for word in args.overrides.words() {
            bytes.push(0);
            bytes.extend_from_slice(word.as_bytes());
        }
        let digest = digest(&bytes);
        let path_text = path.display().to_string();
        let mut range = chosen.as_ref().map(|(range, ..)| range.clone());
        let mut scenario_shard = shard;
        let resumed = match &args.resume {
            None => None,
            Some(_) => {
                let file = match &resume_file {
                    Some(file) => file.clone(),
                    None => Journal::find(&out, scenario.name(), &path_text)
                        .map_err(|e| bad(e.to_string()))?,
                };
                let (journal, resumed) =
                    check_journal(&file, &scenario, &path_text, digest, &chosen, shard)?;
                range = Some(resumed.header.seeds.clone());
                scenario_shard = resumed.header.shard;
                Some((journal, resumed))
            }
        };
        let range: Range<u64> = range.unwrap_or_else(|| scenario.default_seeds());
        let seeds = runner::SeedRange::new(range.clone(), scenario_shard);
        if seeds.is_empty() {
            let of = scenario_shard.map_or(String::new(), |(k, n)| format!(" for shard {k}/{n}"));
            return Err(bad(format!(
                "{path_text}: no seed to run: {}..{} has none{of}",
                range.start, range.end
            )));
        }
        if args.trace.is_some() && seeds.len() != 1 {
            return Err(bad(format!(
                "--trace needs exactly one seed (use --seed N); {path_text} would run {}",
                seeds.len()
            )));
        }
        if args.metrics.is_some() {
            if let Some(other) = prepared.iter().find(|p| p.scenario.name() == scenario.name()) {
                return Err(bad(format!(
                    "--metrics: {} and {} are both scenario {}: their figures would carry the \
                     same labels",
                    other.path.display(),
                    path_text,
                    scenario.name()
                )));
            }
        }
        prepared.push(Prepared {
            path: path.clone(),
            scenario: Arc::new(scenario),
            seeds,
            digest,
            resumed,
        });
    }
    let defaults = SweepOptions::default();
    let options = SweepOptions {
        jobs: args.jobs.map_or(defaults.jobs, |jobs| usize::try_from(jobs).unwrap_or(usize::MAX)),
        check_determinism: args.check_determinism,
        sample_determinism: true,
        hang_timeout: Duration::from_secs(args.hang_timeout),
        run: runner::RunOptions::default(),
    };
    Ok((prepared, options, out))
}

/// Opens `file` to resume it, after checking it is a journal of this scenario and range.
fn check_journal(
    file: &Path,
    scenario: &Scenario,
    path: &str,
    digest: u64,
    chosen: &Option<(Range<u64>, Given, String)>,
    shard: Option<(u64, u64)>,
) -> Result<(Journal, Resumed), Status> {
    let bad = |message: String| Status::BadInput(message);
    let (journal, resumed) = Journal::resume(file).map_err(|e| bad(e.to_string()))?;
    let header = &resumed.header;
    let at = file.display();
    if header.scenario != scenario.name() {
        return Err(bad(format!(
            "{at}: a journal of scenario {}, not {}",
            header.scenario,
            scenario.name()
        )));
    }
    if header.digest != digest {
        return Err(bad(format!(
            "{at}: {path} changed since this journal was written: its seeds would not be the same \
             runs (start a new sweep instead)"
        )));
    }
    if let Some((range, _, shown)) = chosen {
        if *range != header.seeds {
            return Err(bad(format!(
                "{at}: the journal is of seeds {}..{}, but {shown} asks for {}..{}",
                header.seeds.start, header.seeds.end, range.start, range.end
            )));
        }
    }
    if shard.is_some() && shard != header.shard {
        let show = |s: Option<(u64, u64)>| {
            s.map_or("no shard".to_string(), |(k, n)| format!("shard {k}/{n}"))
        };
        return Err(bad(format!(
            "{at}: the journal is of {}, not {}",
            show(header.shard),
            show(shard)
        )));
    }
    if let Some((line, bytes)) = resumed.torn {
        eprintln!(
            "warning: {at}:{line}: the last line was cut short by the kill ({bytes} bytes); it is \
             dropped and its seed runs again"
        );
    }
    if resumed.repeated > 0 {
        eprintln!("warning: {at}: {} repeated seed record(s) ignored", resumed.repeated);
    }
    Ok((journal, resumed))
}

fn run_scenario(
    prepared: Prepared,
    registry: &Arc<Registry>,
    options: SweepOptions,
    args: &RunArgs,
    out: &Path,
    replayer: &Replayer,
) -> (Status, Option<Swept>) {
    let Prepared { path, scenario, seeds, digest, resumed } = prepared;
    let name = scenario.name().to_string();
    let path_text = path.display().to_string();
    let header = JournalHeader {
        scenario: name.clone(),
        path: path_text.clone(),
        workload: scenario.workload().to_string(),
        seeds: seeds.range.clone(),
        shard: seeds.shard,
        expect: scenario.expect(),
        digest,
    };
    let created = resumed.is_none();
    // A journal that already has its complete summary gets no second one.
    let already_closed = resumed.as_ref().is_some_and(|(_, resumed)| resumed.complete);
    let (journal, summary, done) = match resumed {
        Some((journal, resumed)) => (journal, resumed.summary, resumed.done),
        None => match Journal::create(out, &header) {
            Ok(journal) => (journal, Summary::new(&name), SeedSet::new()),
            Err(error) => return (Status::BadInput(error.to_string()), None),
        },
    };
    let planned = seeds.len();
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let bar = (std::io::stderr().is_terminal() && planned > 1)
        .then(|| progress_bar(&name, planned, summary.seeds_run));
    let mut sink = RunSink {
        name: &name,
        path: &path_text,
        scenario: &scenario,
        json: args.json,
        journal,
        journal_failed: false,
        summary,
        bar,
        stdout_is_terminal,
        out,
        replayer,
        capsules: BTreeMap::new(),
        trace: args.trace.as_deref(),
        trace_result: None,
    };
    if args.json {
        sink.print(&header.sweep_line());
    }
    let planner_scenario = scenario.clone();
    let planner: Arc<runner::Planner> = Arc::new(move |seed| planner_scenario.sample(seed));
    #[allow(clippy::disallowed_methods)] // tidy: allow (reports wall time only)
    let started = std::time::Instant::now();
    let iter = Box::new(seeds.iter_except(done));
    let end = runner::run_sweep(planner, iter, registry.clone(), options, &mut sink);
    if let Some(bar) = &sink.bar {
        bar.finish_and_clear();
    }
    let end = match end {
        Ok(end) => end,
        Err(error) => {
            // A journal of a sweep that never ran is not left behind as if one had.
            if created && sink.summary.seeds_run == 0 {
                let _ = std::fs::remove_file(sink.journal.path());
            }
            return (Status::BadInput(format!("{name}: no seed ran: {error}")), None);
        }
    };
    sink.summary.wall_seconds = started.elapsed().as_secs_f64();
    let status = SweepStatus {
        seeds_planned: planned,
        interrupted: end.stopped.as_ref().map(|stop| stop.reason.clone()),
    };
    let scope = SweepScope {
        path: path_text.clone(),
        workload: scenario.workload().to_string(),
        seeds: seeds.range.clone(),
        shard: seeds.shard,
        expect: scenario.expect(),
    };
    let closing = json_summary(&sink.summary, &scope, &status);
    if !already_closed && sink.journal.append(&closing).is_err() {
        sink.warn_journal();
    }
    let mut report = String::new();
    if args.json {
        sink.print(&closing);
    } else {
        for failing in sink.summary.first_failures() {
            report.push_str(&render_failure(&name, &path_text, failing, replayer));
        }
        report.push_str(&render_summary(&sink.summary, &status));
        for capsule in sink.capsules.values() {
            report.push_str(&format!("capsule: {}\n", capsule.dir.display()));
        }
    }
    // Under --json, stdout holds only JSON records, so outputs concatenate cleanly.
    let mut notes = String::new();
    if end.threads_abandoned > 0 {
        notes.push_str(&format!(
            "note: {} thread(s) were left behind in hung seeds\n",
            end.threads_abandoned
        ));
    }
    if let Some(Stop { reason, .. }) = &end.stopped {
        if args.json {
            notes.push_str(&format!(
                "interrupted: {} of {planned} seeds run ({reason})\n",
                sink.summary.seeds_run
            ));
        }
        notes.push_str(&format!(
            "journal: {}\nresume with: {} run {} --resume {}\n",
            sink.journal.path().display(),
            runner::shell_quote(&program_path(replayer)),
            runner::shell_quote(&path_text),
            runner::shell_quote(&out.display().to_string())
        ));
    }
    if args.shrink && end.stopped.is_none() {
        let shrinks = shrink_first_failures(&sink, registry, options, args, out, replayer);
        match args.json {
            true => eprint!("{shrinks}"),
            false => report.push_str(&shrinks),
        }
    }
    let verdict = verdict(&sink.summary, &scenario, &end, &mut notes);
    if args.json {
        eprint!("{notes}");
    } else {
        report.push_str(&notes);
        sink.print_raw(&report);
    }
    let verdict = match &sink.trace_result {
        Some(Err(message)) => Status::BadInput(format!("--trace: {message}")),
        _ => verdict,
    };
    (verdict, Some(Swept { summary: sink.summary, scope, status }))
}

/// `--shrink`: the smallest failing seed of each (check, kind) shrunk into its capsule (made
/// now if the sweep wrote none for it). Returns what to print.
fn shrink_first_failures(
    sink: &RunSink<'_>,
    registry: &Arc<Registry>,
    options: SweepOptions,
    args: &RunArgs,
    out: &Path,
    replayer: &Replayer,
) -> String {
    let shrink_options = args.shrink_budget.options(options.jobs, options.hang_timeout);
    let mut text = String::new();
    for failing in sink.summary.first_failures() {
        let Some(failure) = &failing.failure else { continue };
        if matches!(failure.kind, FailureKind::Setup | FailureKind::Nondeterminism) {
            continue;
        }
        let capsule =
            sink.capsules.values().find(|c| c.seed == failing.seed).map(|c| c.dir.clone());
        let plan = sink.scenario.sample(failing.seed);
        let path = PathBuf::from(sink.path);
        let place = Place { capsule: capsule.as_deref(), out, scenario_path: &path };
        match shrink_failure(&plan, place, registry, &shrink_options, replayer) {
            Ok(done) => text.push_str(&done.render()),
            Err(Status::Interrupted(_)) => {
                text.push_str("shrinking interrupted\n");
                break;
            }
            Err(Status::BadInput(message) | Status::BadInputRendered(message)) => {
                text.push_str(&format!(
                    "could not shrink seed {} ({}): {message}\n",
                    failing.seed, failure.check
                ));
            }
            Err(_) => {}
        }
    }
    text
}

/// Exit status of a finished (or stopped) sweep, with what it says written to `notes`.
fn verdict(
    summary: &Summary,
    scenario: &Scenario,
    end: &runner::SweepEnd,
    notes: &mut String,
) -> Status {
    let name = scenario.name();
    if let Some(stop) = &end.stopped {
        return Status::Interrupted(stop.signal);
    }
    if summary.seeds_run == 0 {
        return Status::BadInput(format!("{name}: no seed ran"));
    }
    if let Some(group) = summary.setup_failures() {
        let first = &group.first;
        let message = first.failure.as_ref().map_or("", |f| f.message.as_str());
        return Status::BadInput(format!(
            "{name}: {} seed(s) could not be set up (seed {}: {message}): a mistake in the scenario \
             or the workload, not a finding",
            group.seeds.count, first.seed
        ));
    }
    match scenario.expect() {
        Expect::Pass if summary.failed() == 0 => Status::Passed,
        Expect::Pass => Status::Failed,
        Expect::Fail { within_seeds } if summary.found_a_failure() => {
            notes.push_str(&format!(
                "expected failure found (expect: fail within {within_seeds} seeds)\n"
            ));
            Status::Passed
        }
        Expect::Fail { within_seeds } => {
            notes.push_str(&format!(
                "ORRERY EXPECTED FAILURE NOT FOUND scenario={name} seeds={} (expect: fail within {within_seeds})\n",
                summary.seeds_run
            ));
            Status::Failed
        }
    }
}

fn progress_bar(name: &str, planned: u64, done: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(planned);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} seeds, {per_sec}, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("{name}: 0 failed"));
    bar.set_position(done);
    bar
}

/// The run's observer: journal, stdout, progress, capsules, `--trace`.
struct RunSink<'a> {
    name: &'a str,
    path: &'a str,
    scenario: &'a Scenario,
    json: bool,
    journal: Journal,
    journal_failed: bool,
    summary: Summary,
    bar: Option<indicatif::ProgressBar>,
    stdout_is_terminal: bool,
    out: &'a Path,
    replayer: &'a Replayer,
    /// Capsules by the path of their trace.
    capsules: BTreeMap<PathBuf, Capsule>,
    trace: Option<&'a Path>,
    trace_result: Option<Result<(), String>>,
}

impl RunSink<'_> {
    /// Writes one line to stdout, whole, clear of the progress bar.
    fn print(&self, line: &str) {
        self.print_raw(&format!("{line}\n"));
    }

    fn print_raw(&self, text: &str) {
        let write = || {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        };
        match &self.bar {
            Some(bar) if self.stdout_is_terminal => bar.suspend(write),
            _ => write(),
        }
    }

    fn warn_journal(&mut self) {
        if !self.journal_failed {
            self.journal_failed = true;
            eprintln!(
                "warning: {}: cannot append to the journal; the sweep goes on, but cannot be resumed",
                self.journal.path().display()
            );
        }
    }

    fn capsule(&mut self, report: &SeedReport) -> Option<Rerun> {
        let plan = self.scenario.sample(report.seed);
        match Capsule::create(self.out, &plan, report, self.path, None, self.replayer) {
            Ok(capsule) => {
                let path = capsule.trace_path();
                self.capsules.insert(path.clone(), capsule);
                Some(Rerun { seed: report.seed, path, bytes_max: Some(CAPSULE_TRACE_BYTES_MAX) })
            }
            Err(message) => {
                eprintln!(
                    "warning: could not write the capsule of seed {}: {message}",
                    report.seed
                );
                None
            }
        }
    }
}

impl SweepObserver for RunSink<'_> {
    fn finished(&mut self, report: &SeedReport) {
        if self.journal.append(&json_line(self.name, report)).is_err() {
            self.warn_journal();
        }
        self.summary.add(report);
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if report.failure.is_some() {
                bar.set_message(format!("{}: {} failed", self.name, self.summary.failed()));
            }
        }
    }

    fn released(&mut self, report: SeedReport) -> Vec<Rerun> {
        if self.json {
            self.print(&json_line(self.name, &report));
        }
        let mut reruns = Vec::new();
        if let Some(trace) = self.trace {
            reruns.push(Rerun { seed: report.seed, path: trace.to_path_buf(), bytes_max: None });
        }
        let wants_capsule = report.failure.is_some() && !report.is_setup_failure();
        if wants_capsule && self.capsules.len() < CAPSULES_MAX {
            reruns.extend(self.capsule(&report));
        }
        reruns
    }

    fn rerun_ended(&mut self, rerun: &Rerun, outcome: RerunOutcome) {
        if self.trace == Some(rerun.path.as_path()) {
            self.trace_result = Some(match outcome {
                RerunOutcome::Recorded { .. } => Ok(()),
                RerunOutcome::Failed(message) => Err(message),
                RerunOutcome::Hung { events } => {
                    Err(format!("the seed hung after {events} event(s); the trace is cut short"))
                }
                RerunOutcome::NotRun => {
                    Err("interrupted before the trace was recorded".to_string())
                }
            });
        } else if let Some(capsule) = self.capsules.get(&rerun.path) {
            if let Err(message) = capsule.note_trace(&outcome) {
                eprintln!("warning: {message}");
            }
        }
    }

    fn stop_requested(&mut self) -> Option<Stop> {
        signals::received().map(|signal| Stop { reason: signals::name(signal), signal })
    }
}

/// The program a replayer runs.
fn program_path(replayer: &Replayer) -> String {
    match replayer {
        Replayer::Program { program, .. } => program.clone(),
        Replayer::Test(command) => command.clone(),
    }
}
