//! `--metrics` end to end, validated by a real parser: the Prometheus text the `orrery`
//! binary writes is read back by the Prometheus Python client's own parser
//! (`tests/metrics/parse_prometheus.py`), and its figures must equal the JSON summary's; the
//! metrics `orrery merge` writes for shards equal one unsharded run's; an interrupted sweep
//! still writes its figures; an existing file is never overwritten.
//!
//! The parser is `prometheus_client` from PyPI, installed by this test into a virtual
//! environment under the target directory on first use. Without `python3` (and its `venv`
//! module) or PyPI, the test fails saying so: it never passes without parsing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{orrery, signal, spawn, text, wait, wait_for_lines, TempDir};
use serde_json::Value;

/// The parser's version, pinned: a new release is a deliberate change.
const PROMETHEUS_CLIENT: &str = "prometheus_client==0.26.0";
const STREAM: &str = "scenarios/smoke/stream-backpressure.yaml";
const STREAM_BUG: &str = "scenarios/bugs/stream-backpressure-ack-past-gap.yaml";

/// The Python interpreter of a virtual environment that has the parser, made once.
fn parser_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("prometheus-client-0.26.0");
        let python = venv.join("bin").join("python");
        let has_parser = |python: &Path| {
            Command::new(python)
                .args(["-c", "import prometheus_client.parser"])
                .output()
                .is_ok_and(|output| output.status.success())
        };
        if has_parser(&python) {
            return python;
        }
        let created = Command::new("python3").args(["-m", "venv"]).arg(&venv).output();
        match created {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!(
                "cannot make a Python virtual environment for the metrics parser (install \
                 python3 and python3-venv):\n{}",
                text(&output)
            ),
            Err(error) => panic!(
                "python3 is not runnable ({error}): the metrics test validates with Python's \
                 prometheus_client; install python3 and python3-venv"
            ),
        }
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .arg(PROMETHEUS_CLIENT)
            .output()
            .expect("pip runs");
        assert!(
            installed.status.success(),
            "cannot install {PROMETHEUS_CLIENT} from PyPI for the metrics test:\n{}",
            text(&installed)
        );
        assert!(has_parser(&python), "{PROMETHEUS_CLIENT} installed but not importable");
        python
    })
}

/// One sample as the parser read it: (name, labels) → value.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// Parses `file` with the reference parser; fails the test with the parser's reason if it
/// refuses the file. Returns the samples and each family's (type, help).
fn parse(file: &Path) -> (Samples, BTreeMap<String, (String, String)>) {
    let script = common::root().join("tests/metrics/parse_prometheus.py");
    let output =
        Command::new(parser_python()).arg(script).arg(file).output().expect("the parser runs");
    assert!(output.status.success(), "the parser refuses {}:\n{}", file.display(), text(&output));
    let document: Value = serde_json::from_slice(&output.stdout).expect("the parser prints JSON");
    let mut samples = Samples::new();
    let mut families = BTreeMap::new();
    for family in document["families"].as_array().expect("families") {
        let name = family["name"].as_str().expect("a name").to_string();
        let kind = family["type"].as_str().expect("a type").to_string();
        families.insert(name, (kind, family["help"].as_str().expect("help").to_string()));
        for sample in family["samples"].as_array().expect("samples") {
            let labels = (sample["labels"].as_object().expect("labels").iter())
                .map(|(k, v)| (k.clone(), v.as_str().expect("a text label").to_string()))
                .collect();
            let key = (sample["name"].as_str().expect("a sample name").to_string(), labels);
            samples.insert(key, sample["value"].as_f64().expect("a number"));
        }
    }
    (samples, families)
}

/// The value of sample `name` with exactly `labels`, if present.
fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    samples.get(&(name.to_string(), labels)).copied()
}

/// The value of sample `name` labelled `base` then `extra`; fails the test if absent.
fn labelled(samples: &Samples, name: &str, base: &[(&str, &str)], extra: &[(&str, &str)]) -> f64 {
    let labels: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
    value(samples, name, &labels).unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

/// The summary records of JSON-lines output, by scenario.
fn summaries(stdout: &[u8]) -> BTreeMap<String, Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record["type"] == "summary")
        .map(|record| (record["scenario"].as_str().unwrap_or("").to_string(), record))
        .collect()
}

// Proves the metrics file parses with the reference parser (each family once, typed and
// documented, no repeated sample) and says what the JSON summary says, scenario by scenario:
// seeds by result, failures by check and kind, events, virtual and wall time, fault effects
// per family, sometimes-points per point and in total, the expectation met.
#[test]
fn metrics_parse_and_match_the_json_summary() {
    let dir = TempDir::new("metrics-json");
    let metrics = dir.join("nightly.prom");
    let output = orrery(&[
        "run",
        STREAM,
        STREAM_BUG,
        "--seeds",
        "0..30",
        "--json",
        "--out",
        &dir.arg("out"),
        "--metrics",
        &metrics.display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let (samples, families) = parse(&metrics);
    for (name, kind) in [
        ("orrery_seeds", "counter"),
        ("orrery_seed_failures", "counter"),
        ("orrery_fault_effects", "counter"),
        ("orrery_sometimes_points", "gauge"),
        ("orrery_sweep_info", "gauge"),
    ] {
        assert_eq!(families.get(name).map(|(k, _)| k.as_str()), Some(kind), "{name}");
    }
    let summaries = summaries(&output.stdout);
    assert_eq!(summaries.len(), 2);
    for (scenario, summary) in &summaries {
        let workload = summary["workload"].as_str().expect("the summary names the workload");
        assert_eq!(workload, "stream-backpressure");
        let base = [("scenario", scenario.as_str()), ("workload", workload)];
        let get = |name: &str, extra: &[(&str, &str)]| labelled(&samples, name, &base, extra);
        let number = |key: &str| summary[key].as_f64().unwrap_or_else(|| panic!("{key}"));
        assert_eq!(get("orrery_seeds_total", &[("result", "passed")]), number("passed"));
        assert_eq!(get("orrery_seeds_total", &[("result", "failed")]), number("failed"));
        assert_eq!(get("orrery_events_total", &[]), number("events"));
        let checked = number("determinism_checked");
        assert!(checked >= 1.0, "seed 0 is always run twice");
        assert_eq!(get("orrery_seeds_determinism_checked_total", &[]), checked);
        assert!((get("orrery_virtual_seconds_total", &[]) - number("vtime_s")).abs() < 1e-6);
        assert!((get("orrery_wall_seconds_total", &[]) - number("wall_s")).abs() < 1e-6);
        assert_eq!(get("orrery_seeds_planned", &[]), number("seeds_planned"));
        assert_eq!(get("orrery_sweep_complete", &[]), 1.0);
        assert_eq!(get("orrery_sweep_as_expected", &[]), 1.0, "{scenario}");
        for failure in summary["failures"].as_array().expect("failures") {
            let (check, kind) = (failure["check"].as_str(), failure["kind"].as_str());
            let labels = [("check", check.expect("check")), ("kind", kind.expect("kind"))];
            let failed = get("orrery_seed_failures_total", &labels);
            assert_eq!(Some(failed), failure["seeds"].as_f64(), "{scenario} {labels:?}");
        }
        let effects = summary["fault_effects"].as_object().expect("fault effects");
        assert!(effects.contains_key("loss") && effects.contains_key("crash"), "{effects:?}");
        for (family, effects) in effects {
            let counted = get("orrery_fault_effects_total", &[("family", family)]);
            assert_eq!(Some(counted), effects.as_f64(), "{scenario} {family}");
        }
        let points = summary["sometimes"].as_object().expect("sometimes");
        for (point, seeds) in points {
            for state in ["declared", "reached"] {
                let counted =
                    get("orrery_sometimes_seeds_total", &[("point", point), ("state", state)]);
                assert_eq!(Some(counted), seeds[state].as_f64(), "{scenario} {point} {state}");
            }
        }
        let reached = get("orrery_sometimes_points", &[("state", "reached")]);
        let not_reached = get("orrery_sometimes_points", &[("state", "not_reached")]);
        assert_eq!(reached, number("sometimes_reached"));
        assert_eq!(not_reached, number("sometimes_not_reached"));
        assert_eq!(reached + not_reached, points.len() as f64);
        let fingerprint = summary["sweep_fingerprint"].as_str().expect("fingerprint");
        let info = samples.keys().find(|(name, labels)| {
            name == "orrery_sweep_info" && labels.get("scenario") == Some(scenario)
        });
        let labels = &info.expect("the sweep's info").1;
        assert_eq!(labels["fingerprint"], fingerprint);
        assert_eq!(labels["seeds"], "0..30");
    }
    let bug = "stream-backpressure-ack-past-gap";
    let base = [("scenario", bug), ("workload", "stream-backpressure")];
    let caught = [base[0], base[1], ("check", "acknowledged_not_lost"), ("kind", "invariant")];
    assert_eq!(value(&samples, "orrery_seed_failures_total", &caught), Some(30.0));
}

// Proves `orrery merge --metrics` over three shards' outputs writes, sample for sample, the
// metrics of the unsharded run (wall time aside: it is the shards' sum), and the merged JSON
// summary carries the same figures.
#[test]
fn merged_shards_give_the_unsharded_metrics() {
    let dir = TempDir::new("metrics-merge");
    let whole = dir.join("whole.prom");
    let args = |extra: &[String]| -> Vec<String> {
        let mut args: Vec<String> = ["run", STREAM, "--seeds", "0..45", "--json", "--out"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(dir.arg("out"));
        args.extend(extra.iter().cloned());
        args
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = orrery(&args);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        output
    };
    let unsharded = run(args(&["--metrics".to_string(), whole.display().to_string()]));
    let mut outputs = Vec::new();
    for k in 1..=3 {
        let output = run(args(&["--shard".to_string(), format!("{k}/3")]));
        let path = dir.join(&format!("shard-{k}.jsonl"));
        std::fs::write(&path, &output.stdout).expect("write a shard's output");
        outputs.push(path.display().to_string());
    }
    let merged = dir.join("merged.prom");
    let mut merge = vec!["merge".to_string(), "--json".to_string()];
    merge.extend(outputs.iter().cloned());
    merge.extend(["--metrics".to_string(), merged.display().to_string()]);
    let merged_output = orrery(&merge.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(merged_output.status.code(), Some(0), "{}", text(&merged_output));
    let ((whole, _), (merged, _)) = (parse(&whole), parse(&merged));
    let without_wall = |samples: &Samples| -> Samples {
        (samples.iter())
            .filter(|((name, _), _)| name != "orrery_wall_seconds_total")
            .map(|(key, value)| (key.clone(), *value))
            .collect()
    };
    assert_eq!(without_wall(&merged), without_wall(&whole));
    assert!(whole.len() > 40, "{} samples", whole.len());
    let (whole_json, merged_json) =
        (summaries(&unsharded.stdout), summaries(&merged_output.stdout));
    let scenario = "stream-backpressure-smoke";
    for key in ["passed", "failed", "events", "fault_effects", "sometimes", "sweep_fingerprint"] {
        assert_eq!(merged_json[scenario][key], whole_json[scenario][key], "{key}");
    }
    assert!(
        (merged_json[scenario]["vtime_s"].as_f64().unwrap_or(-1.0)
            - whole_json[scenario]["vtime_s"].as_f64().unwrap_or(-2.0))
        .abs()
            < 1e-6
    );
}

// Proves an interrupted sweep still writes its metrics, marked incomplete, counting the
// seeds it ran, and exits as interrupted (130).
#[test]
fn an_interrupted_sweep_writes_its_metrics() {
    let dir = TempDir::new("metrics-interrupt");
    let metrics = dir.join("night.prom");
    let out = dir.arg("out");
    let metrics_arg = metrics.display().to_string();
    let child = spawn(
        &[
            "run",
            STREAM,
            "--seeds",
            "0..200000",
            "--jobs",
            "2",
            "--out",
            &out,
            "--metrics",
            &metrics_arg,
        ],
        &dir.join("stdout.txt"),
    );
    let journal =
        || std::fs::read_dir(dir.join("out")).ok()?.filter_map(|e| e.ok()).map(|e| e.path()).next();
    let mut waited = 0;
    while journal().is_none() && waited < 1000 {
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    let journal = journal().expect("the sweep writes its journal at once");
    assert!(wait_for_lines(&journal, 200, Duration::from_secs(60)) >= 200);
    signal(&child, libc::SIGINT);
    let ended = wait(child, Duration::from_secs(30));
    assert_eq!(ended.code, Some(130), "{}", ended.stderr);
    let (samples, _) = parse(&metrics);
    let base = [("scenario", "stream-backpressure-smoke"), ("workload", "stream-backpressure")];
    assert_eq!(value(&samples, "orrery_sweep_complete", &base), Some(0.0));
    assert_eq!(value(&samples, "orrery_seeds_planned", &base), Some(200_000.0));
    let passed = [base[0], base[1], ("result", "passed")];
    let ran = value(&samples, "orrery_seeds_total", &passed).expect("seeds passed");
    assert!((200.0..200_000.0).contains(&ran), "{ran} seeds");
}

// Proves `--metrics` never overwrites a file (exit 2 before any seed runs, the file as it
// was, for `run` and `merge`), and refuses two scenarios whose figures would share labels.
#[test]
fn metrics_never_overwrite_and_never_collide() {
    let dir = TempDir::new("metrics-refuse");
    let existing = dir.join("mine.prom");
    std::fs::write(&existing, "# mine\n").expect("write");
    let existing_arg = existing.display().to_string();
    let out = dir.arg("out");
    let run =
        orrery(&["run", STREAM, "--seeds", "0..2", "--out", &out, "--metrics", &existing_arg]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(text(&run).contains("already exists (refusing to overwrite)"), "{}", text(&run));
    assert!(!dir.join("out").exists(), "no seed ran, no journal was made");
    let output = dir.join("shard.jsonl");
    let json = orrery(&["run", STREAM, "--seeds", "0..2", "--json", "--out", &out]);
    std::fs::write(&output, &json.stdout).expect("write");
    let merge = orrery(&["merge", &output.display().to_string(), "--metrics", &existing_arg]);
    assert_eq!(merge.status.code(), Some(2), "{}", text(&merge));
    assert_eq!(std::fs::read_to_string(&existing).expect("read"), "# mine\n");
    let fresh = dir.arg("fresh.prom");
    let twice =
        orrery(&["run", STREAM, STREAM, "--seeds", "0..2", "--out", &out, "--metrics", &fresh]);
    assert_eq!(twice.status.code(), Some(2), "{}", text(&twice));
    assert!(text(&twice).contains("would carry the same labels"), "{}", text(&twice));
    assert!(!dir.join("fresh.prom").exists());
}

// Proves label values that need escaping (quotes, backslashes, line feeds in a
// sometimes-point's label) reach the reference parser intact.
#[test]
fn escaped_labels_read_back_intact() {
    use orrery_sim::runner::{render_metrics, SeedReport, Summary, SweepMetrics};
    use orrery_sim::runner::{SweepScope, SweepStatus};
    use orrery_sim::scenario::Expect;
    use orrery_sim::Instant;
    let tricky = "a \"quoted\" \\ point\nover two lines";
    let report = SeedReport {
        seed: 0,
        fingerprint: 1,
        events: 1,
        vtime: Instant::ZERO,
        failure: None,
        unknown: Vec::new(),
        stats: String::new(),
        coverage: vec![(tricky.to_string(), true)],
        fault_effects: Vec::new(),
        determinism_checked: false,
    };
    let summary = Summary::of("s", &[report], 0.0);
    let scope = SweepScope {
        path: "C:\\scenarios\\s.yaml".to_string(),
        workload: "w".to_string(),
        seeds: 0..1,
        shard: Some((1, 2)),
        expect: Expect::Pass,
    };
    let status = SweepStatus { seeds_planned: 1, interrupted: None };
    let text =
        render_metrics(&[SweepMetrics { summary: &summary, scope: &scope, status: &status }])
            .expect("renders");
    let dir = TempDir::new("metrics-escape");
    let file = dir.join("escaped.prom");
    std::fs::write(&file, text).expect("write");
    let (samples, _) = parse(&file);
    let base = [("scenario", "s"), ("workload", "w")];
    let point = [base[0], base[1], ("point", tricky), ("state", "reached")];
    assert_eq!(value(&samples, "orrery_sometimes_seeds_total", &point), Some(1.0));
    let info = samples.keys().find(|(name, _)| name == "orrery_sweep_info").expect("info");
    assert_eq!(info.1["path"], "C:\\scenarios\\s.yaml");
    assert_eq!(info.1["shard"], "1/2");
}
