//! `orrery trace`, `diff` and `replay`: one seed's trace, read or recorded, viewed, compared.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::runner::{self, render_failure, Failure, RunControl, RunEnd, RunOptions};
use crate::scenario::RunPlan;
use crate::trace::{self as traces, TraceFile, TraceStream};
use crate::view::{self, SpaceTime};
use crate::workload::Registry;

use super::args::{FilterArgs, OverrideArgs};
use super::{load, replayer, run_recorded, scenario_path, write_new_file, Status};

/// A trace, and when it was recorded here, the plan it ran and how it failed.
struct Loaded {
    file: TraceFile,
    plan: Option<RunPlan>,
    failure: Option<Failure>,
}

/// A trace read from a trace file (text or JSON lines), or recorded by running one seed of a
/// scenario file or capsule directory (default: its first seed).
fn load_trace(
    target: &Path,
    seed: Option<u64>,
    overrides: &OverrideArgs,
    registry: &Registry,
) -> Result<Loaded, Status> {
    let is_scenario =
        target.is_dir() || target.extension().is_some_and(|e| e == "yaml" || e == "yml");
    if !is_scenario {
        if seed.is_some() {
            let message =
                format!("{}: a seed applies to a scenario, not a trace", target.display());
            return Err(Status::BadInput(message));
        }
        if !overrides.is_empty() {
            let message =
                format!("{}: --param and --set apply to a scenario, not a trace", target.display());
            return Err(Status::BadInput(message));
        }
        let text = std::fs::read_to_string(target)
            .map_err(|error| Status::BadInput(format!("{}: {error}", target.display())))?;
        return TraceFile::parse(&text)
            .map(|file| Loaded { file, plan: None, failure: None })
            .map_err(|error| Status::BadInput(format!("{}: {error}", target.display())));
    }
    let scenario = load(&scenario_path(target), registry, overrides)?;
    let plan = scenario.sample(seed.unwrap_or(scenario.default_seeds().start));
    let (report, trace) = run_recorded(&plan, registry);
    Ok(Loaded { file: TraceFile::of_run(&plan, trace), plan: Some(plan), failure: report.failure })
}

/// Where `orrery trace` writes.
pub(super) struct TraceOutputs {
    pub(super) json: bool,
    pub(super) out: Option<PathBuf>,
    pub(super) perfetto: Option<PathBuf>,
    pub(super) html: Option<PathBuf>,
}

pub(super) fn trace(
    target: &Path,
    seed: Option<u64>,
    filter: &FilterArgs,
    outputs: &TraceOutputs,
    overrides: &OverrideArgs,
    registry: &Registry,
) -> Status {
    let loaded = match load_trace(target, seed, overrides, registry) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let (file, plan) = (&loaded.file, loaded.plan.as_ref());
    let filter = match filter.parse(plan.map(|plan| &plan.topology)) {
        Ok(filter) => filter,
        Err(message) => return Status::BadInput(message),
    };
    for kind in filter.absent_kinds(file) {
        eprintln!("warning: no event of kind {kind:?} in this trace");
    }
    let view = filter.apply(file);
    if let Some(path) = &outputs.perfetto {
        if let Err(message) = write_new_file(path, &traces::perfetto::export(&view)) {
            return Status::BadInput(message);
        }
    }
    if let Some(path) = &outputs.html {
        let mut picture =
            SpaceTime::new(&view).with_failure(loaded.failure.as_ref().map(Into::into));
        if let Some(plan) = plan {
            picture = picture.with_plan(plan);
        }
        if let Err(message) = write_new_file(path, &view::trace_html(&picture)) {
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
        None if outputs.perfetto.is_some() || outputs.html.is_some() => Status::Passed,
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            Status::Passed
        }
    }
}

pub(super) fn diff(
    targets: &[PathBuf],
    seeds: Option<&[u64]>,
    filter: &FilterArgs,
    context: usize,
    overrides: &OverrideArgs,
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
        match load_trace(target, seed, overrides, registry) {
            Ok(side) => loaded.push(side),
            Err(status) => return status,
        }
    }
    let topology = loaded.iter().find_map(|side| side.plan.as_ref().map(|plan| &plan.topology));
    let filter = match filter.parse(topology) {
        Ok(filter) => filter,
        Err(message) => return Status::BadInput(message),
    };
    let files: Vec<TraceFile> = loaded.iter().map(|side| filter.apply(&side.file)).collect();
    let difference = traces::diff(&files[0], &files[1], context);
    print!("{difference}");
    if difference.is_same() {
        Status::Passed
    } else {
        Status::Failed
    }
}

pub(super) fn replay(
    target: &Path,
    seed: Option<u64>,
    seed_is_explicit: bool,
    trace: Option<PathBuf>,
    overrides: &OverrideArgs,
    registry: &Registry,
) -> Status {
    let scenario_path = scenario_path(target);
    let scenario = match load(&scenario_path, registry, overrides) {
        Ok(scenario) => scenario,
        Err(status) => return status,
    };
    let own = scenario.default_seeds().start;
    let seed = match seed {
        // A capsule's plan is one seed's realized run: replaying it with another seed would
        // be neither run. An `ORRERY_SEED` left in the environment does not apply to it.
        Some(asked) if target.is_dir() && seed_is_explicit && asked != own => {
            return Status::BadInput(format!(
                "{}: a capsule replays its own seed {own}; --seed {asked} applies to a scenario file",
                target.display()
            ))
        }
        Some(_) if target.is_dir() => own,
        Some(asked) => asked,
        None => own,
    };
    let plan = scenario.sample(seed);
    // The trace streams as the run goes: a run of any length replays in bounded memory.
    let out: Box<dyn Write> = match &trace {
        Some(path) => match std::fs::File::create_new(path) {
            Ok(file) => Box::new(std::io::BufWriter::new(file)),
            Err(error) => {
                return Status::BadInput(format!(
                    "{}: {error} (refusing to overwrite)",
                    path.display()
                ))
            }
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let stream = match TraceStream::new(out, &traces::Header::of_plan(&plan), None) {
        Ok(stream) => stream,
        Err(error) => return Status::BadInput(format!("writing the trace: {error}")),
    };
    let control = RunControl { watch: None, stream: Some(stream) };
    let options = RunOptions { recording: true, ..RunOptions::default() };
    let report = match runner::run_plan_controlled(&plan, registry, options, control) {
        RunEnd::Finished { report, stream, .. } => {
            if let Some(Err(error)) = stream {
                return Status::BadInput(format!("writing the trace: {error}"));
            }
            report
        }
        RunEnd::Stopped { .. } => return Status::BadInput("the replay was stopped".to_string()),
    };
    match &report.failure {
        Some(_) => {
            let path = scenario_path.display().to_string();
            print!("{}", render_failure(scenario.name(), &path, &report, &replayer(overrides)));
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
