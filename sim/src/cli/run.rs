//! `orrery run`: sweeps of scenarios, their summaries, JSON lines, capsules and `--trace`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::runner::{
    self, json_line, json_summary, render_failure, render_summary, sweep_fingerprint, SeedReport,
    Summary, SweepOptions, SweepScope,
};
use crate::scenario::{self, Expect, Scenario};
use crate::trace::TraceFile;
use crate::view::SpaceTime;
use crate::workload::Registry;

use super::{load, parse_seed_range, run_recorded, write_new_file, Status};

pub(super) struct RunRequest {
    pub(super) seeds: Option<String>,
    pub(super) seed: Option<u64>,
    pub(super) shard: Option<(u64, u64)>,
    pub(super) trace: Option<PathBuf>,
    pub(super) json: bool,
    pub(super) out: PathBuf,
}

pub(super) fn run_scenario(
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
    let (_, trace) = run_recorded(&plan, registry);
    let text = trace_text(&plan, trace.as_ref());
    write_new_file(path, &text)
}

pub(super) fn trace_text(plan: &scenario::RunPlan, trace: Option<&crate::trace::Trace>) -> String {
    TraceFile::of_run(plan, trace.cloned()).render_text()
}

/// A directory per failing seed: the realized plan as YAML (replayable), the full trace, its
/// picture (`index.html`) and a summary. An existing directory is never reused: a numbered
/// sibling is made instead.
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
    let (_, trace) = run_recorded(&plan, registry);
    let file = TraceFile::of_run(&plan, trace);
    write_new_file(&dir.join("trace.txt"), &file.render_text())?;
    let picture = SpaceTime::new(&file)
        .with_plan(&plan)
        .with_failure(report.failure.as_ref().map(Into::into));
    write_new_file(&dir.join("index.html"), &crate::view::capsule_html(&picture, None))?;
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
