//! `orrery merge`: the JSON-lines outputs of a sweep (shards, interrupted and resumed runs,
//! journals), proven to cover the range. Read line by line: merging takes memory for the
//! gaps and the failures, not for every seed (`--json`, which prints every record in seed
//! order, keeps them all). `--metrics` writes the merged figures as one unsharded run's
//! `--metrics` would.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::runner::{self, json_line, json_summary, render_failure, render_summary};
use crate::runner::{SweepScope, SweepStatus};

use super::args::OverrideArgs;
use super::run::{write_metrics, Swept};
use super::{replayer, Status};

pub(super) fn merge(paths: &[PathBuf], json: bool, metrics: Option<&Path>) -> Status {
    if let Some(metrics) = metrics.filter(|path| path.exists()) {
        return Status::BadInput(format!(
            "--metrics {}: already exists (refusing to overwrite)",
            metrics.display()
        ));
    }
    let mut inputs: Vec<(String, Box<dyn BufRead>)> = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        if path.as_os_str() == "-" {
            inputs.push(("stdin".to_string(), Box::new(std::io::stdin().lock())));
            continue;
        }
        match std::fs::File::open(path) {
            Ok(file) => inputs.push((name, Box::new(std::io::BufReader::new(file)))),
            Err(error) => return Status::BadInput(format!("{name}: {error}")),
        }
    }
    let merged = match runner::merge_outputs(inputs, json) {
        Ok(merged) => merged,
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(|e| format!("error: {e}\n")).collect();
            return Status::BadInputRendered(lines.concat());
        }
    };
    let replayer = replayer(&OverrideArgs::default());
    let out = std::io::stdout();
    let mut out = out.lock();
    let mut status = Status::Passed;
    let mut swept = Vec::new();
    for scenario in &merged {
        let summary = scenario.summary();
        let scope = SweepScope {
            path: scenario.path.clone(),
            workload: scenario.workload.clone(),
            seeds: scenario.seeds.clone(),
            shard: None,
            expect: scenario.expect,
        };
        let sweep = SweepStatus { seeds_planned: summary.seeds_run, interrupted: None };
        if json {
            for report in scenario.reports.iter().flatten() {
                let _ = writeln!(out, "{}", json_line(&scenario.scenario, report));
            }
            let _ = writeln!(out, "{}", json_summary(&summary, &scope, &sweep));
        } else {
            for report in summary.first_failures() {
                let line = render_failure(&scenario.scenario, &scenario.path, report, &replayer);
                let _ = write!(out, "{line}");
            }
            let _ = write!(out, "{}", render_summary(&summary, &sweep));
            let _ = writeln!(
                out,
                "  merged           {} shard(s), every seed of {}..{} exactly once",
                scenario.shards, scenario.seeds.start, scenario.seeds.end
            );
        }
        if let Some(group) = summary.setup_failures() {
            if !matches!(status, Status::BadInput(_)) {
                status = Status::BadInput(format!(
                    "{}: {} seed(s) could not be set up (first: seed {}): a mistake in the \
                     scenario or the workload, not a finding",
                    scenario.scenario, group.seeds.count, group.first.seed
                ));
            }
        } else if !scenario.as_expected() && matches!(status, Status::Passed) {
            status = Status::Failed;
        }
        swept.push(Swept { summary, scope, status: sweep });
    }
    if let Some(path) = metrics {
        if let Err(message) = write_metrics(path, &swept) {
            return Status::BadInput(format!("--metrics: {message}"));
        }
    }
    status
}
