//! `orrery merge`: the JSON-lines outputs of a sharded sweep, proven to cover the range.

use std::io::Write;
use std::path::PathBuf;

use crate::runner::{self, json_line, json_summary, render_failure, render_summary, SweepScope};

use super::Status;

pub(super) fn merge(paths: &[PathBuf], json: bool) -> Status {
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
