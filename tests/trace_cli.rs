//! `orrery trace` and `orrery diff` end to end: filters, the two forms agreeing, the timeline
//! export, and exit codes (0 same, 1 different, 2 bad input or usage).

use std::path::PathBuf;
use std::process::{Command, Output};

use orrery_sim::trace::TraceFile;

const SCENARIO: &str = "scenarios/smoke/echo.yaml";

fn orrery(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orrery"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the orrery binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn all(output: &Output) -> String {
    stdout(output) + &String::from_utf8_lossy(&output.stderr)
}

/// A path in a fresh temporary directory of this test process.
fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orrery-trace-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

// Proves filters select by node, kind and window, and the view keeps the header and says
// what it selected.
#[test]
fn trace_filters_by_node_kind_and_window() {
    let output = orrery(&[
        "trace",
        SCENARIO,
        "--seed",
        "0",
        "--node",
        "n1",
        "--kind",
        "deliver,crash",
        "--from",
        "1s",
        "--to",
        "2s",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", all(&output));
    let text = stdout(&output);
    assert!(text.starts_with("# orrery trace format 3 scenario=echo-smoke seed=0\n"), "{text}");
    assert!(text.contains("\n# nodes s0 s1 s2 c0 c1\n"), "{text}");
    assert!(text.contains("# filter node=s1 kind=deliver,crash from=1.000000000 to=2.000000000"));
    let file = TraceFile::parse(&text).expect("the view parses");
    assert!(!file.records.is_empty(), "n1 delivers something in that second");
    for record in &file.records {
        assert_eq!(record.node.map(|n| n.to_string()).as_deref(), Some("n1"), "{record}");
        assert!(record.kind == "deliver" || record.kind == "crash", "{record}");
        let nanos = record.time.as_nanos();
        assert!((1_000_000_000..2_000_000_000).contains(&nanos), "{record}");
    }
}

// Proves the text and JSON-lines forms of one trace carry the same header and events, and
// both agree with the trace `run --trace` writes.
#[test]
fn text_and_json_lines_agree() {
    let text = orrery(&["trace", SCENARIO, "--seed", "1"]);
    let json = orrery(&["trace", SCENARIO, "--seed", "1", "--json"]);
    assert_eq!(json.status.code(), Some(0), "{}", all(&json));
    for line in stdout(&json).lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every line is JSON");
    }
    let from_text = TraceFile::parse(&stdout(&text)).expect("text parses");
    let from_json = TraceFile::parse(&stdout(&json)).expect("JSON lines parse");
    assert!(from_text.records.len() > 100);
    assert_eq!(from_text.render_text(), from_json.render_text());
    let written = temp("run.txt");
    let run = orrery(&["run", SCENARIO, "--seed", "1", "--trace", &written.display().to_string()]);
    assert_eq!(run.status.code(), Some(0), "{}", all(&run));
    let written = std::fs::read_to_string(&written).expect("the trace file");
    assert_eq!(written, stdout(&text));
}

// Proves the timeline export is valid trace-event JSON with one named process per node.
#[test]
fn perfetto_export_is_valid_json_with_a_track_per_node() {
    let path = temp("timeline.json");
    let output =
        orrery(&["trace", SCENARIO, "--seed", "0", "--perfetto", &path.display().to_string()]);
    assert_eq!(output.status.code(), Some(0), "{}", all(&output));
    assert!(stdout(&output).is_empty(), "the trace is not printed when exporting");
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("written")).expect("JSON");
    let events = document["traceEvents"].as_array().expect("traceEvents");
    let processes: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert_eq!(
        processes,
        ["world (echo-smoke seed 0)", "s0 (n0)", "s1 (n1)", "s2 (n2)", "c0 (n3)", "c1 (n4)"]
    );
    let flows = |ph: &str| events.iter().filter(|e| e["ph"] == ph && e["cat"] == "packet").count();
    assert!(flows("s") > 100 && flows("f") > 100, "sends and deliveries are flows");
    assert!(events.iter().any(|e| e["name"] == "partition" && e["ph"] == "X"));
}

// Proves `diff` exits 0 on the same trace (text against JSON lines), 1 on two seeds with the
// first divergence and the remainder by kind, and 2 on bad input or usage.
#[test]
fn diff_exit_codes() {
    let text = temp("a.txt");
    let json = temp("a.jsonl");
    let (text, json) = (text.display().to_string(), json.display().to_string());
    assert_eq!(orrery(&["trace", SCENARIO, "--seed", "0", "--out", &text]).status.code(), Some(0));
    let written = orrery(&["trace", SCENARIO, "--seed", "0", "--json", "--out", &json]);
    assert_eq!(written.status.code(), Some(0));

    let same = orrery(&["diff", &text, &json]);
    assert_eq!(same.status.code(), Some(0), "{}", all(&same));
    assert!(stdout(&same).contains("same"));

    let different = orrery(&["diff", SCENARIO, "--seeds", "0", "1"]);
    assert_eq!(different.status.code(), Some(1), "{}", all(&different));
    let report = stdout(&different);
    assert!(report.contains("--- scenario=echo-smoke seed=0"), "{report}");
    assert!(report.contains("+++ scenario=echo-smoke seed=1"), "{report}");
    assert!(report.contains("first divergence at event"), "{report}");
    assert!(report.contains("remainder from event"), "{report}");

    let filtered = orrery(&["diff", &text, SCENARIO, "--kind", "start"]);
    assert_eq!(filtered.status.code(), Some(0), "{}", all(&filtered));

    for bad in [
        vec!["diff", &text],
        vec!["diff", &text, "/nonexistent/trace.txt"],
        vec!["diff", SCENARIO, "--seeds", "0"],
        vec!["diff", &text, &json, "--from", "soon"],
        vec!["trace", SCENARIO, "--node", "server-1"],
        vec!["trace", &text, "--seed", "3"],
        vec!["trace", SCENARIO, "--out", &text],
        vec!["diff", "Cargo.toml", &text],
    ] {
        let output = orrery(&bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {}", all(&output));
    }
}

// Proves a scenario's node names select the same events as their ids, and an unknown name is
// a usage error that lists the scenario's nodes.
#[test]
fn trace_filters_accept_the_scenarios_node_names() {
    let by_name =
        orrery(&["trace", SCENARIO, "--seed", "3", "--node", "s2", "--kind", "crash,restart"]);
    let by_id =
        orrery(&["trace", SCENARIO, "--seed", "3", "--node", "n2", "--kind", "crash,restart"]);
    assert_eq!(by_name.status.code(), Some(0), "{}", all(&by_name));
    assert_eq!(stdout(&by_name), stdout(&by_id));
    assert!(stdout(&by_name).contains(" s2 crash"), "{}", stdout(&by_name));
    let unknown = orrery(&["trace", SCENARIO, "--seed", "3", "--node", "zz"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        all(&unknown).contains("one of this scenario's nodes: s0 (n0), s1 (n1)"),
        "{}",
        all(&unknown)
    );
}
