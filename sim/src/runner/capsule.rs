//! Failure capsules: a directory per failing seed with everything needed to look at the
//! failure without the sweep. `plan.yaml` (the realized plan, replayable on its own),
//! `scenario.yaml` (the scenario as written, for scenarios that have no file: a `TestRun`'s
//! inline YAML), `summary.txt` (the failure line and the commands that replay it) and
//! `trace.txt` (the full trace, recorded by a re-run of the seed) and `index.html` (its
//! space-time picture, drawn once the trace is recorded); for a failed final check over a
//! client history (linearizability), `history.edn` (the history as Jepsen EDN) and
//! `witness.txt` (the checker's verdict: the longest linearizable prefix and the operation
//! that cannot be placed). `orrery shrink` adds `shrunk.yaml` and its own views.
//!
//! The directory and its small files are written at once, when the failing seed is released;
//! the trace follows when the re-run ends, and `summary.txt` says how it ended. A capsule
//! never replaces an existing directory: a numbered sibling is made instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::history_export::history_edn;
use super::journal::sanitize;
use super::report::{render_failure, Replayer};
use super::sweep::RerunOutcome;
use super::{Failure, FailureKind, SeedReport};
use crate::scenario::{plan_to_yaml, RunPlan};
use crate::trace::TraceFile;
use crate::view::SpaceTime;

/// At most this many capsules per scenario run: a sweep where everything fails should not
/// write thousands of directories.
pub const CAPSULES_MAX: usize = 10;

/// A capsule's trace stops growing past this many bytes (a seed that exhausted `events_max`
/// would otherwise write gigabytes); `orrery replay` records the whole run.
pub const CAPSULE_TRACE_BYTES_MAX: u64 = 256 << 20;

/// A capsule directory, written but for its trace and its picture.
#[derive(Debug, Clone)]
pub struct Capsule {
    pub dir: PathBuf,
    pub seed: u64,
    /// The run, for the picture (`index.html`) drawn once the trace is recorded.
    plan: RunPlan,
    failure: Option<Failure>,
}

impl Capsule {
    /// Writes the capsule of `report` (a failing seed of `plan`'s scenario) under `out`.
    /// `scenario_source` is the scenario's text when it has no file to replay from.
    pub fn create(
        out: &Path,
        plan: &RunPlan,
        report: &SeedReport,
        scenario_path: &str,
        scenario_source: Option<&str>,
        replayer: &Replayer,
    ) -> Result<Capsule, String> {
        let base = out.join(format!("{}-seed-{}", sanitize(&plan.scenario), report.seed));
        std::fs::create_dir_all(out).map_err(|error| format!("{}: {error}", out.display()))?;
        let dir = (1..1000)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    PathBuf::from(format!("{}-{n}", base.display()))
                }
            })
            .find(|candidate| std::fs::create_dir(candidate).is_ok())
            .ok_or_else(|| format!("{}: cannot make a new capsule directory", base.display()))?;
        let capsule =
            Capsule { dir, seed: report.seed, plan: plan.clone(), failure: report.failure.clone() };
        write_new_file(&capsule.dir.join("plan.yaml"), &plan_to_yaml(plan))?;
        let mut replays = Vec::new();
        if let Some(command) = replayer.capsule_command(&capsule.dir) {
            replays.push(format!("replay this capsule: {command}"));
        }
        let from_scenario = match scenario_source {
            Some(source) => {
                let copy = capsule.dir.join("scenario.yaml");
                write_new_file(&copy, source)?;
                replayer.seed_command(&copy.display().to_string(), report.seed)
            }
            None => replayer.seed_command(scenario_path, report.seed),
        };
        replays.push(format!("replay from the scenario: {from_scenario}"));
        if let Some(command) = replayer.shrink_command(&capsule.dir) {
            replays.push(format!("shrink it to the smallest scenario that fails so: {command}"));
        }
        let summary = format!(
            "{}\n{}\nstats: {}\n",
            render_failure(&plan.scenario, scenario_path, report, replayer).trim_end(),
            replays.join("\n"),
            report.stats
        );
        write_new_file(&capsule.dir.join("summary.txt"), &summary)?;
        Ok(capsule)
    }

    /// Where the re-run writes the trace.
    pub fn trace_path(&self) -> PathBuf {
        self.dir.join("trace.txt")
    }

    /// Appends to `summary.txt` how recording the trace ended.
    pub fn note_trace(&self, outcome: &RerunOutcome) -> Result<(), String> {
        let note = match outcome {
            RerunOutcome::Recorded { end, report } => {
                let same = match &report.failure {
                    Some(f) => {
                        format!("the re-run failed the same way ({} {})", f.check, f.kind.name())
                    }
                    None => "the re-run passed: the failure did not replay (nondeterminism?)"
                        .to_string(),
                };
                match end.cut_at {
                    Some((event, time)) => format!(
                        "trace.txt: cut at its size limit, at record {event} of {} ({time}); {same}",
                        end.records
                    ),
                    None => format!("trace.txt: {} records; {same}", end.records),
                }
            }
            RerunOutcome::Failed(message) => format!("trace.txt: not written: {message}"),
            RerunOutcome::Hung { events } => format!(
                "trace.txt: cut short: the re-run made no progress for the hang timeout after \
                 {events} event(s), as the seed did"
            ),
            RerunOutcome::NotRun => {
                "trace.txt: not recorded: the sweep was interrupted; replay the capsule to \
                 record it"
                    .to_string()
            }
        };
        let note = match outcome {
            RerunOutcome::Recorded { .. } => {
                let views = write_views(
                    &self.dir,
                    &self.trace_path(),
                    &self.plan,
                    self.failure.as_ref(),
                    &CAPSULE_VIEWS,
                )?;
                std::iter::once(note).chain(views).collect::<Vec<_>>().join("\n")
            }
            _ => note,
        };
        self.append_summary(&note)
    }

    /// Appends a line (or lines) to `summary.txt`.
    pub fn append_summary(&self, note: &str) -> Result<(), String> {
        let path = self.dir.join("summary.txt");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        writeln!(file, "{note}").map_err(|error| format!("{}: {error}", path.display()))
    }
}

/// The names of the files drawn from a capsule's recorded trace.
#[derive(Debug, Clone, Copy)]
pub struct Views<'a> {
    /// The space-time picture.
    pub picture: &'a str,
    /// The clients' history as Jepsen EDN (a failed final check with a recorded history).
    pub history: &'a str,
    /// The check's verdict on that history: the longest linearizable prefix and the
    /// operation that cannot be placed.
    pub witness: &'a str,
}

/// What a failure capsule draws from `trace.txt`.
pub const CAPSULE_VIEWS: Views<'static> =
    Views { picture: "index.html", history: "history.edn", witness: "witness.txt" };

/// Draws the files named by `names` in `dir` from the trace at `trace` (a run of `plan`
/// that failed as `failure` says): the picture, unless the trace is too big to draw within
/// a capsule's memory bound; for a failed final check whose run recorded a client history,
/// the history as EDN and the check's verdict. Returns the lines to add to a summary.
pub fn write_views(
    dir: &Path,
    trace: &Path,
    plan: &RunPlan,
    failure: Option<&Failure>,
    names: &Views<'_>,
) -> Result<Vec<String>, String> {
    let bytes = std::fs::metadata(trace).map_err(|e| format!("{}: {e}", trace.display()))?.len();
    if bytes > PICTURE_MAX_BYTES {
        return Ok(vec![format!(
            "{}: not drawn: {} is {} MiB (more than {} MiB); `orrery trace` a shorter window \
             with --html",
            names.picture,
            trace.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            bytes >> 20,
            PICTURE_MAX_BYTES >> 20
        )]);
    }
    let text = std::fs::read_to_string(trace).map_err(|e| format!("{}: {e}", trace.display()))?;
    let file = TraceFile::parse(&text).map_err(|e| format!("{}: {e}", trace.display()))?;
    let picture = SpaceTime::new(&file).with_plan(plan).with_failure(failure.map(Into::into));
    write_new_file(&dir.join(names.picture), &crate::view::capsule_html(&picture, None))?;
    let mut notes = Vec::new();
    let final_check = failure.filter(|f| f.kind == FailureKind::Check);
    if let (Some(failure), Some((edn, operations))) = (final_check, history_edn(&file.records)) {
        write_new_file(&dir.join(names.history), &edn)?;
        let verdict = format!("{} failed: {}\n", failure.check, failure.message.trim_end());
        write_new_file(&dir.join(names.witness), &verdict)?;
        notes.push(format!(
            "{}: the clients' history ({operations} operations) as Jepsen EDN; {}: the \
             checker's verdict on it",
            names.history, names.witness
        ));
    }
    Ok(notes)
}

/// The biggest trace a capsule draws: parsing holds the whole trace in memory several times
/// over, and a capsule is written in bounded memory.
const PICTURE_MAX_BYTES: u64 = 32 << 20;

/// Writes a file that must not exist yet: nothing a user produced is overwritten silently.
pub fn write_new_file(path: &Path, text: &str) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|error| format!("{}: {error} (refusing to overwrite)", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|error| format!("{}: {error}", path.display()))
}
