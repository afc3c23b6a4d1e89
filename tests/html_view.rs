//! The HTML views end to end, without a browser: `orrery trace --html`, a failure capsule's
//! `index.html` and `orrery check-history --html`, checked through the data each page embeds
//! (what the viewer draws) against the trace the same run writes as text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use orrery_sim::trace::TraceFile;
use orrery_sim::view::embedded_data;
use serde_json::Value as Json;

fn orrery(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orrery"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the orrery binary runs")
}

fn all(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// A fresh directory for this test process.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orrery-html-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn page_data(path: &Path) -> Json {
    let html = std::fs::read_to_string(path).expect("the page was written");
    assert!(html.starts_with("<!doctype html>"), "{}", &html[..html.len().min(200)]);
    for external in ["http://", "https://", "<link", " src=", "url("] {
        assert!(!html.contains(external), "the page loads something from elsewhere: {external}");
    }
    embedded_data(&html).expect("the page embeds its data")
}

fn strings(values: &Json, key: &str) -> Vec<String> {
    values
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v[key].as_str().expect("a string").to_string())
        .collect()
}

/// Checks the diagram shows `trace` faithfully: every event with its line, one lane per node,
/// and one arrow per delivery, each from its packet's send.
fn check_diagram(spacetime: &Json, trace: &TraceFile, lane_names: &[&str]) {
    assert_eq!(strings(&spacetime["lanes"], "name"), lane_names);
    let lines = spacetime["events"]["line"].as_array().expect("lines");
    assert_eq!(lines.len(), trace.records.len());
    for (line, record) in lines.iter().zip(&trace.records) {
        assert_eq!(line.as_str(), Some(record.to_string().as_str()));
    }
    let states: Vec<String> =
        spacetime["message_states"].as_array().unwrap().iter().map(|s| s.to_string()).collect();
    let messages = &spacetime["messages"];
    let arrows: Vec<usize> = (0..messages["end"].as_array().unwrap().len())
        .filter(|&k| {
            let state = &states[messages["state"][k].as_u64().unwrap() as usize];
            ["\"delivered\"", "\"duplicate\"", "\"corrupted\""].contains(&state.as_str())
        })
        .collect();
    let deliveries = trace.records.iter().filter(|r| r.kind == "deliver").count();
    assert!(deliveries > 0, "the run delivers messages");
    assert_eq!(arrows.len(), deliveries, "one arrow per delivery");
    for &k in &arrows {
        let send = messages["send"][k].as_u64().expect("every delivery has its send") as usize;
        let end = messages["end"][k].as_u64().unwrap() as usize;
        let (send, end) = (&trace.records[send], &trace.records[end]);
        assert_eq!((send.kind.as_str(), end.kind.as_str()), ("send", "deliver"));
        let packet = |r: &orrery_sim::trace::Record| {
            r.fields.iter().find(|(n, _)| n == "pkt").map(|(_, v)| v.to_string())
        };
        assert_eq!(packet(send), packet(end));
        assert!(send.time <= end.time);
    }
}

// Proves `orrery trace --html` on a smoke seed draws every node as a lane named as in the
// scenario, an arrow for every delivery, the scripted partition and crash as spans and the
// phase boundaries, with no failure marker on a passing seed.
#[test]
fn smoke_seed_page_has_every_lane_and_every_arrow() {
    let dir = temp_dir("smoke");
    let page = dir.join("echo.html");
    let page_text = page.display().to_string();
    let scenario = "scenarios/smoke/echo.yaml";
    let output = orrery(&["trace", scenario, "--seed", "0", "--html", &page_text]);
    assert_eq!(output.status.code(), Some(0), "{}", all(&output));
    assert!(output.stdout.is_empty(), "--html alone prints no trace");
    let text = orrery(&["trace", scenario, "--seed", "0"]);
    let trace = TraceFile::parse(&String::from_utf8_lossy(&text.stdout)).expect("the trace");
    let data = page_data(&page);
    assert!(data["history"].is_null());
    let spacetime = &data["spacetime"];
    check_diagram(spacetime, &trace, &["world", "s0", "s1", "s2", "c0", "c1"]);
    let spans: Vec<(String, String)> = spacetime["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (s["class"].as_str().unwrap().to_string(), s["label"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(spans.contains(&("partition".to_string(), "partition side A: s0,c0".to_string())));
    assert!(spans.contains(&("down".to_string(), "down (crash)".to_string())), "{spans:?}");
    let markers = spacetime["markers"].as_array().unwrap();
    assert!(markers.iter().all(|m| m["class"] != "failure"), "a passing seed: {markers:?}");
    assert!(markers.iter().any(|m| m["class"] == "phase" && m["t"] == 5_000_000_000u64));
    // Nothing a user wrote is overwritten.
    let again = orrery(&["trace", scenario, "--seed", "0", "--html", &page_text]);
    assert_eq!(again.status.code(), Some(2), "{}", all(&again));
    assert!(all(&again).contains("refusing to overwrite"));
}

// Proves a planted bug's capsule has an index.html drawing its trace.txt: the lanes, an
// arrow per delivery, and the failing check marked at the time the failure line gives, on the
// trace's stop line.
#[test]
fn planted_bug_capsule_page_marks_the_failure() {
    let dir = temp_dir("capsule");
    let out = dir.display().to_string();
    let scenario = "scenarios/bugs/echo-corrupt-replies.yaml";
    let output = orrery(&["run", scenario, "--seed", "0", "--out", &out]);
    assert_eq!(output.status.code(), Some(0), "{}", all(&output));
    let capsule = dir.join("echo-corrupt-replies-seed-0");
    let trace_text = std::fs::read_to_string(capsule.join("trace.txt")).expect("trace.txt");
    let trace = TraceFile::parse(&trace_text).expect("the capsule's trace");
    let data = page_data(&capsule.join("index.html"));
    let spacetime = &data["spacetime"];
    check_diagram(spacetime, &trace, &["world", "s0", "c0", "c1"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let vtime = stdout
        .lines()
        .find(|l| l.starts_with("ORRERY FAIL"))
        .and_then(|l| l.split(" vtime=").nth(1))
        .expect("a failure line with vtime");
    let failure_nanos = orrery_sim::trace::format::parse_time(vtime).expect("a time").as_nanos();
    let failures: Vec<&Json> = spacetime["markers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["class"] == "failure")
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["t"], failure_nanos);
    assert_eq!(failures[0]["label"], "replies_match (invariant)");
    let message = failures[0]["message"].as_str().unwrap();
    assert!(message.starts_with("`echo` disagrees for node="), "{message}");
    let stop = failures[0]["event"].as_u64().expect("marked on the stop line") as usize;
    assert_eq!(trace.records[stop].kind, "stop");
}

/// A key-value history whose read of key 1 by process 1 (operation 4) returns a value overwritten before
/// it began.
const STALE_READ: &str = "tests/histories/stale-read.edn";

// Proves `orrery check-history --html` writes the history view of a failing history: the
// failing key, its longest linearizable prefix and the read that cannot be placed, with the
// verdict's exit code kept.
#[test]
fn check_history_page_highlights_what_cannot_be_placed() {
    let dir = temp_dir("history");
    let history = Path::new(env!("CARGO_MANIFEST_DIR")).join(STALE_READ);
    let page = dir.join("stale.html");
    let args = ["check-history", "--model", "kv"];
    let output = orrery(
        &[&args[..], &[&history.display().to_string(), "--html", &page.display().to_string()]]
            .concat(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", all(&output));
    assert!(all(&output).contains("not linearizable"));
    let data = page_data(&page);
    assert!(data["spacetime"].is_null());
    let view = &data["history"];
    assert_eq!(view["verdict"], "not linearizable");
    assert_eq!(view["explanation"]["partition"], "key 1");
    assert_eq!(view["explanation"]["deadline"], 4);
    assert_eq!(view["operations"][4]["status"], "deadline");
    assert_eq!(view["operations"][4]["output"], "2");
    let prefix = view["explanation"]["prefix"].as_array().unwrap();
    assert!(!prefix.is_empty());
    for (position, index) in prefix.iter().enumerate() {
        let operation = &view["operations"][index.as_u64().unwrap() as usize];
        assert_eq!(operation["status"], "prefix");
        assert_eq!(operation["order"], position as u64 + 1);
    }
    let statuses = strings(&view["partitions"], "status");
    assert_eq!(statuses, ["linearizable", "not linearizable"]);
}
