//! `orrery list`: the workloads a binary registers (parameters, checks) and the scenarios
//! under a folder.

use std::path::{Path, PathBuf};

use crate::scenario;
use crate::workload::Registry;

use super::Status;

pub(super) fn list(registry: &Registry, folder: &Path) -> Status {
    println!("workloads:");
    for workload in registry.iter() {
        println!("  {} — {}", workload.name(), workload.description());
        for parameter in workload.parameters() {
            // `orrery shrink` may lower the parameters a workload marks `#[param(shrink)]`.
            let shrinks = if parameter.shrink { " [shrinks]" } else { "" };
            println!(
                "      param {}: {} = {}{shrinks} ({})",
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
