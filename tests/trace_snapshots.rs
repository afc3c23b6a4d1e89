//! Snapshot-diff trace review: the traces of pinned seeds of every smoke scenario are insta
//! snapshots under `traces/`, so a change in behaviour shows up in `cargo insta review` as a
//! diff of events. Its own test binary: insta's `glob!` failure collector is process-global.
//!
//! A snapshot is bounded, yet any change anywhere in the run changes it: the trace's header,
//! its first `WINDOW_EVENTS` events in full, then the milestones of the rest (every event but
//! routine traffic: faults, restarts, the workload's own events), then a summary of the whole
//! run (events by kind, outcome, fingerprint). With `CI` set, insta never writes a file: a mismatch or a
//! missing snapshot only fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use orrery_sim::runner::{self, RunOptions};
use orrery_sim::scenario;
use orrery_sim::trace::TraceFile;
use rayon::prelude::*;

/// The pinned seeds of every smoke scenario.
const SEEDS: [u64; 2] = [0, 1];

/// Events shown in full; after them, only milestones.
const WINDOW_EVENTS: usize = 500;

/// The high-volume kinds left out after the window (counted in the summary).
const ROUTINE_KINDS: [&str; 10] = [
    "send",
    "deliver",
    "timer",
    "disk",
    "disk_done",
    "drop",
    "duplicate",
    "hold",
    "release",
    "reject",
];

/// The snapshot text of one seed of one scenario.
fn snapshot(path: &Path, seed: u64) -> String {
    let registry = orrery_workloads::registry();
    let scenario = scenario::load(path, &registry)
        .unwrap_or_else(|errors| panic!("{}: {errors}", path.display()));
    let plan = scenario.sample(seed);
    let options = RunOptions { recording: true, ..RunOptions::default() };
    let (report, trace) = runner::run_plan(&plan, &registry, options);
    let mut file = TraceFile::of_run(&plan, trace);
    let events_total = file.records.len();
    let kinds: Vec<String> = {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for record in &file.records {
            *counts.entry(record.kind.as_str()).or_default() += 1;
        }
        counts.iter().map(|(kind, n)| format!("{kind}={n}")).collect()
    };
    let outcome = match &report.failure {
        Some(failure) => format!("failed check={}", failure.check),
        None => "passed".to_string(),
    };
    let summary = [
        format!("# summary events={events_total} outcome={outcome}"),
        format!("# summary fingerprint={:016x} vtime={}", report.fingerprint, report.vtime),
        format!("# summary kinds {}", kinds.join(" ")),
    ];
    let window = format!(
        "# window: the first {} of {events_total} events in full, then only milestones (all \
         but {}); the summary at the end covers every event",
        events_total.min(WINDOW_EVENTS),
        ROUTINE_KINDS.join(",")
    );
    let mut index = 0;
    file.records.retain(|record| {
        index += 1;
        index <= WINDOW_EVENTS || !ROUTINE_KINDS.contains(&record.kind.as_str())
    });
    file.render_text_with(&[window]) + &summary.join("\n") + "\n"
}

fn smoke_scenarios() -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("scenarios/smoke exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// In CI, nothing may write a snapshot: insta's default (`INSTA_UPDATE=auto`) already writes
/// nothing when `CI` is set; this refuses the settings that would override it.
fn refuse_writes_in_ci() {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty() && v != "0");
    let ci = set("CI").is_some_and(|v| v != "false");
    let update = set("INSTA_UPDATE").filter(|v| v != "no" && v != "auto");
    let forcing = set("INSTA_FORCE_PASS").or(set("INSTA_FORCE_UPDATE"));
    assert!(
        !ci || (update.is_none() && forcing.is_none()),
        "CI is set: snapshots must be compared, never written or forced \
         (INSTA_UPDATE={update:?}, INSTA_FORCE_*={forcing:?})"
    );
}

// Proves the traces of the pinned seeds of every smoke scenario match their snapshots.
#[test]
fn smoke_traces_match_their_snapshots() {
    refuse_writes_in_ci();
    insta::with_settings!({
        snapshot_path => "../traces",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::glob!("../scenarios/smoke", "*.yaml", |path| {
            for seed in SEEDS {
                insta::assert_snapshot!(format!("seed-{seed}"), snapshot(path, seed));
            }
        });
    });
}

// Proves snapshots are stable across runs and thread counts: the same text twice on this
// thread, and again for every pinned seed run side by side on a 2-thread rayon pool.
#[test]
fn snapshots_are_stable_across_runs_and_threads() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a thread pool");
    for path in smoke_scenarios() {
        let here: Vec<String> = SEEDS.iter().map(|&seed| snapshot(&path, seed)).collect();
        assert_eq!(snapshot(&path, SEEDS[0]), here[0], "{}: two runs differ", path.display());
        let pooled: Vec<String> =
            pool.install(|| SEEDS.par_iter().map(|&seed| snapshot(&path, seed)).collect());
        assert!(pooled == here, "{}: a 2-thread pool changed a trace", path.display());
    }
}
