//! The HTML views in a real browser: headless Chromium from Debian's packages (`chromium`,
//! `chromium-driver`; `.ci/install-browser` installs them), driven through chromedriver's W3C
//! WebDriver JSON over a plain `TcpStream`, so the test needs no new dependency.
//!
//! It loads a planted bug's capsule page, a 40,000-event trace page and a history page; checks
//! the browser logged no console error; clicks an event and an operation with real pointer
//! input and checks the details pane shows their fields; selects a time range and checks its
//! trace lines; measures the load time; and writes screenshots to `target/tmp/browser/`.
//!
//! `ORRERY_CHROMIUM` and `ORRERY_CHROMEDRIVER` name other binaries than Debian's. Where the
//! browser is missing the test says so in a banner on stderr and passes, unless
//! `ORRERY_REQUIRE_BROWSER` is set (`.ci/run` sets it): then a missing browser fails it, so CI
//! never goes green without having run it.

mod webdriver;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use orrery_sim::trace::{Record, TraceFile};
use serde_json::json;
use webdriver::{number, Driver};

/// Debian's paths; `ORRERY_CHROMIUM` and `ORRERY_CHROMEDRIVER` point elsewhere.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn binary(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_string())
}
/// The trace the load time is measured on: 40,936 events.
const BIG_SCENARIO: &str = "scenarios/chaos/raft-kv.yaml";

/// Writes past the test harness's capture, so the message shows in a plain `cargo test`.
fn loud(message: &str) {
    let rule = "=".repeat(78);
    let _ = writeln!(std::io::stderr(), "\n{rule}\n{message}\n{rule}");
}

fn orrery(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_orrery"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the orrery binary runs");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "orrery {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

// Proves the space-time and history pages work in a real browser: they load without console
// errors, a click on an event or an operation shows its fields, a shift-drag gives the trace
// lines of a time range, the failure button finds the failing check, and a 40,000-event page
// loads in a usable time; screenshots of each are written.
#[test]
fn pages_work_in_headless_chromium() {
    let chromium = binary("ORRERY_CHROMIUM", CHROMIUM);
    let chromedriver = binary("ORRERY_CHROMEDRIVER", CHROMEDRIVER);
    let missing: Vec<&str> = [chromium.as_str(), chromedriver.as_str()]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if !missing.is_empty() {
        let message = format!(
            "BROWSER TEST SKIPPED: {} not found.\nInstall Debian's chromium and chromium-driver \
             with .ci/install-browser (apt-get install -y chromium chromium-driver); .ci/run \
             does, and fails without them.",
            missing.join(" and ")
        );
        loud(&message);
        assert!(std::env::var_os("ORRERY_REQUIRE_BROWSER").is_none(), "{message}");
        return;
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("a work directory");
    let driver = Driver::start(&chromedriver, &chromium, &work.join("profile"));
    let capsule = capsule_page(&driver, &work);
    let linearizability = linearizability_capsule_page(&driver, &work);
    let big = big_page(&driver, &work);
    let history = history_page(&driver, &work);
    loud(&format!(
        "browser test: {capsule}\n{linearizability}\n{big}\n{history}\nscreenshots in {}",
        work.display()
    ));
}

/// A planted bug's capsule: click a delivery, select a range, go to the failure.
fn capsule_page(driver: &Driver, work: &Path) -> String {
    let out = work.join("capsules");
    orrery(&[
        "run",
        "scenarios/bugs/echo-corrupt-replies.yaml",
        "--seed",
        "0",
        "--out",
        &out.display().to_string(),
    ]);
    let capsule = out.join("echo-corrupt-replies-seed-0");
    let trace = read_trace(&capsule.join("trace.txt"));
    driver.open(&capsule.join("index.html"));
    let lanes = driver.execute("return orrery.spacetime.data.lanes.map((lane) => lane.name)");
    assert_eq!(lanes, json!(["world", "s0", "c0", "c1"]));

    // The last delivery that is the first event of its lane at its time: a click on its dot
    // must select exactly it.
    let delivery = (0..trace.records.len())
        .rev()
        .find(|&i| trace.records[i].kind == "deliver" && first_at_its_time(&trace.records, i))
        .expect("a delivery");
    let shown = driver.click_event(delivery);
    let record = &trace.records[delivery];
    assert_eq!(shown.selected, delivery as u64, "the click selects the event under it");
    assert_eq!(shown.text, record.named(trace.names()).to_string(), "the selection's trace line");
    let packet = field(record, "pkt");
    assert!(shown.fields.contains(&("pkt".to_string(), packet)), "{:?}", shown.fields);
    assert!(shown.fields.contains(&("from".to_string(), "s0 (n0, server)".to_string())));
    assert!(shown.details.contains("show the send"), "{}", shown.details);

    // A shift-drag over a stretch of time lists the trace lines of exactly that stretch.
    let from = driver.execute(&format!("return orrery.spacetime.clientPoint({})", delivery - 12));
    let to = driver.execute(&format!("return orrery.spacetime.clientPoint({delivery})"));
    driver.shift_drag(number(&from["x"]) - 2.0, number(&to["x"]) + 2.0, number(&to["y"]) + 14.0);
    let range = driver.execute(
        "const view = orrery.spacetime; \
         return {range: view.range, text: view.selectionText.value}",
    );
    let (start, end) = (number(&range["range"][0]), number(&range["range"][1]));
    let expected: Vec<String> = trace
        .records
        .iter()
        .filter(|r| (r.time.as_nanos() as f64) >= start && (r.time.as_nanos() as f64) < end)
        .map(|r| r.named(trace.names()).to_string())
        .collect();
    assert!(expected.len() >= 12, "the range covers the dragged events: {range}");
    assert_eq!(range["text"].as_str().unwrap_or(""), expected.join("\n"));

    // The failure button selects the stop line of the failing check.
    driver.click_element("[data-view=spacetime] button.failure");
    let failure = driver.shown();
    let stop = trace.records.iter().position(|r| r.kind == "stop").expect("a stop line");
    assert_eq!(failure.selected, stop as u64);
    assert!(failure.details.contains("replies_match (invariant)"), "{}", failure.details);
    assert_eq!(failure.text, trace.records[stop].named(trace.names()).to_string());
    driver.no_console_errors("the capsule page");
    let screenshot = work.join("capsule-echo-corrupt-replies-seed-0.png");
    driver.screenshot(&screenshot);
    format!("capsule page: {} events, clicked, range-selected, failure found", trace.records.len())
}

/// A capsule whose failure is a final check (linearizability): the run ends with a stop line
/// naming the check, which the failure button selects.
fn linearizability_capsule_page(driver: &Driver, work: &Path) -> String {
    let out = work.join("capsules");
    let scenario = "scenarios/bugs/raft-kv-stale-reads.yaml";
    orrery(&["run", scenario, "--seed", "0", "--out", &out.display().to_string()]);
    let capsule = out.join("raft-kv-stale-reads-seed-0");
    let trace = read_trace(&capsule.join("trace.txt"));
    driver.open(&capsule.join("index.html"));
    driver.no_console_errors("the linearizability capsule page");
    driver.click_element("[data-view=spacetime] button.failure");
    let failure = driver.shown();
    let stop = trace.records.iter().rposition(|r| r.kind == "stop").expect("a stop line");
    assert_eq!(failure.selected, stop as u64, "the stop line naming the final check");
    assert!(failure.details.contains("linearizable"), "{}", failure.details);
    driver.execute("orrery.spacetime.window.fit(); orrery.spacetime.draw()");
    driver.no_console_errors("the linearizability capsule page");
    driver.screenshot(&work.join("capsule-raft-kv-stale-reads-seed-0.png"));
    format!("linearizability capsule page: {} events, failure found", trace.records.len())
}

/// The 40,000-event page: load time, the overview, a click on a crash.
fn big_page(driver: &Driver, work: &Path) -> String {
    let page = work.join("raft-kv-chaos-seed-0.html");
    orrery(&["trace", BIG_SCENARIO, "--seed", "0", "--html", &page.display().to_string()]);
    let text = String::from_utf8_lossy(&orrery(&["trace", BIG_SCENARIO, "--seed", "0"]).stdout)
        .into_owned();
    let trace = TraceFile::parse(&text).expect("the trace");
    assert!(trace.records.len() >= 40_000, "{} events: not the size measured", trace.records.len());
    #[allow(clippy::disallowed_methods)] // a test's own timing, outside any simulated run
    let started = std::time::Instant::now();
    driver.open(&page);
    let wall = started.elapsed();
    let load = driver.execute("return [orrery.loadMs, orrery.parseMs]");
    let (load_ms, parse_ms) = (number(&load[0]), number(&load[1]));
    driver.no_console_errors("the 40,000-event page");
    driver.screenshot(&work.join("raft-kv-chaos-seed-0.png"));
    assert!(load_ms < 20_000.0, "the page took {load_ms} ms to draw");
    // A crash that is its node's first event at its instant: a power loss comes after the
    // crash point that caused it, at the same pixel, and a click picks the earlier event.
    let first_at_its_instant = |i: usize| {
        let record = &trace.records[i];
        trace.records[..i]
            .iter()
            .all(|other| other.node != record.node || other.time != record.time)
    };
    let crash = (0..trace.records.len())
        .find(|&i| trace.records[i].kind == "crash" && first_at_its_instant(i))
        .expect("a crash first at its instant");
    let shown = driver.click_event(crash);
    assert_eq!(shown.selected, crash as u64);
    assert!(shown.fields.contains(&("kind".to_string(), "crash (fault)".to_string())));
    assert_eq!(shown.text, trace.records[crash].named(trace.names()).to_string());
    driver.no_console_errors("the 40,000-event page after a click");
    format!(
        "40,000-event page: {} events, {} bytes, drawn {load_ms:.0} ms after navigation \
         (data parsed in {parse_ms:.0} ms; navigation call {} ms)",
        trace.records.len(),
        std::fs::metadata(&page).map_or(0, |m| m.len()),
        wall.as_millis()
    )
}

/// The history page: a click on the read that cannot be placed.
fn history_page(driver: &Driver, work: &Path) -> String {
    let page = work.join("stale-read.html");
    let history = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories/stale-read.edn");
    orrery(&[
        "check-history",
        "--model",
        "kv",
        &history.display().to_string(),
        "--html",
        &page.display().to_string(),
    ]);
    driver.open(&page);
    let point = driver.execute("return orrery.history.clientPoint(4)");
    driver.click(number(&point["x"]), number(&point["y"]));
    let shown = driver.execute(
        "const root = document.querySelector('[data-view=history]'); \
         return {selected: orrery.history.selected, \
                 details: root.querySelector('[data-role=details]').innerText}",
    );
    assert_eq!(shown["selected"], 4, "{shown}");
    let details = shown["details"].as_str().unwrap_or("");
    for needle in ["process\t1", "output\t2", "cannot be placed"] {
        assert!(details.contains(needle), "{needle:?} in {details}");
    }
    driver.no_console_errors("the history page");
    driver.screenshot(&work.join("stale-read-history.png"));

    // A capsule page with a history has both views, one tab each.
    let trace = read_trace(&work.join("capsules/echo-corrupt-replies-seed-0/trace.txt"));
    let recorded =
        orrery_sim::check::read_history(&std::fs::read(&history).expect("the history file"))
            .expect("the history reads");
    let report =
        orrery_sim::check::check_history(&recorded, orrery_sim::check::ModelName::Kv, 1000)
            .expect("the history fits the model");
    let view = orrery_sim::view::SpaceTime::new(&trace);
    let both = work.join("both-views.html");
    std::fs::write(&both, orrery_sim::view::capsule_html(&view, Some((&recorded, &report))))
        .expect("written");
    driver.open(&both);
    driver.click_element("[data-tab=history]");
    let shown = driver.execute(
        "return [document.querySelector('[data-view=history]').classList.contains('shown'), \
                 document.querySelector('[data-view=spacetime]').classList.contains('shown'), \
                 orrery.history.rows.length]",
    );
    assert_eq!(shown, json!([true, false, 3]), "the history tab shows the history view");
    driver.no_console_errors("the page with both views");
    "history page: the read that cannot be placed shows its fields; tabs switch views".to_string()
}

fn read_trace(path: &Path) -> TraceFile {
    TraceFile::parse(&std::fs::read_to_string(path).expect("the trace")).expect("parses")
}

/// True if no earlier event of `records[index]`'s node happened at the same time.
fn first_at_its_time(records: &[Record], index: usize) -> bool {
    let record = &records[index];
    !records[..index].iter().any(|r| r.node == record.node && r.time == record.time)
}

fn field(record: &Record, name: &str) -> String {
    record.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.to_string()).unwrap_or_default()
}
