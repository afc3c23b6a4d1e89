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

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use orrery_sim::trace::{Record, TraceFile};
use serde_json::{json, Value as Json};

/// Debian's paths; `ORRERY_CHROMIUM` and `ORRERY_CHROMEDRIVER` point elsewhere.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn binary(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_string())
}
/// The flags the closed network and a clean run need, then a fresh profile per run.
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1500,950",
];
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
    assert_eq!(shown.text, record.to_string(), "the selection's trace line");
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
        .map(Record::to_string)
        .collect();
    assert!(expected.len() >= 12, "the range covers the dragged events: {range}");
    assert_eq!(range["text"].as_str().unwrap_or(""), expected.join("\n"));

    // The failure button selects the stop line of the failing check.
    driver.click_element("[data-view=spacetime] button.failure");
    let failure = driver.shown();
    let stop = trace.records.iter().position(|r| r.kind == "stop").expect("a stop line");
    assert_eq!(failure.selected, stop as u64);
    assert!(failure.details.contains("replies_match (invariant)"), "{}", failure.details);
    assert_eq!(failure.text, trace.records[stop].to_string());
    driver.no_console_errors("the capsule page");
    let screenshot = work.join("capsule-echo-corrupt-replies-seed-0.png");
    driver.screenshot(&screenshot);
    format!("capsule page: {} events, clicked, range-selected, failure found", trace.records.len())
}

/// A capsule whose failure is a final check (linearizability), which leaves no stop line: the
/// failure button still finds it, from the failure the run reported.
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
    assert_eq!(failure.selected, u64::MAX, "a final check has no event of its own");
    assert!(failure.details.contains("linearizable (check)"), "{}", failure.details);
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
    let crash = trace.records.iter().position(|r| r.kind == "crash").expect("a crash");
    let shown = driver.click_event(crash);
    assert_eq!(shown.selected, crash as u64);
    assert!(shown.fields.contains(&("kind".to_string(), "crash (fault)".to_string())));
    assert_eq!(shown.text, trace.records[crash].to_string());
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

fn number(value: &Json) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("a number, not {value}"))
}

/// What the space-time view shows after a click.
struct Shown {
    selected: u64,
    fields: Vec<(String, String)>,
    details: String,
    text: String,
}

/// chromedriver and one browser session, both ended on drop.
struct Driver {
    process: Child,
    port: u16,
    session: String,
}

impl Driver {
    fn start(chromedriver: &str, chromium: &str, profile: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut driver = Driver { process, port, session: String::new() };
        for _ in 0..200 {
            if let Ok(status) = http(port, "GET", "/status", None) {
                if status["value"]["ready"] == true {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| flag.to_string()).collect();
        let _ = std::fs::remove_dir_all(profile);
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created = driver.call("POST", "/session", Some(&capabilities));
        driver.session = created["sessionId"].as_str().expect("a session id").to_string();
        driver
    }

    /// One WebDriver command; its `value`, or a panic naming the command and the error.
    fn call(&self, method: &str, path: &str, body: Option<&Json>) -> Json {
        match http(self.port, method, path, body) {
            Ok(response) => response["value"].clone(),
            Err(error) => panic!("WebDriver {method} {path}: {error}"),
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<&Json>) -> Json {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn execute(&self, script: &str) -> Json {
        self.command("POST", "/execute/sync", Some(&json!({"script": script, "args": []})))
    }

    /// Opens a page and waits until it has drawn (or failed, which fails the test).
    fn open(&self, page: &Path) {
        let url = format!("file://{}", page.canonicalize().expect("the page exists").display());
        self.command("POST", "/url", Some(&json!({ "url": url })));
        for _ in 0..600 {
            let state = self.execute(
                "return window.orrery ? {ready: orrery.ready, error: orrery.error} : null",
            );
            assert!(state["error"].is_null(), "{}: {}", page.display(), state["error"]);
            if state["ready"] == true {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} was not drawn within 30 s", page.display());
    }

    /// Every console message of level SEVERE since the last call fails the test.
    fn no_console_errors(&self, what: &str) {
        let log = self.command("POST", "/se/log", Some(&json!({"type": "browser"})));
        let errors: Vec<&Json> = log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .collect();
        assert!(errors.is_empty(), "console errors on {what}: {errors:?}");
    }

    /// Brings event `index` into view, clicks its dot with the mouse, and reads the view.
    fn click_event(&self, index: usize) -> Shown {
        let point = self.execute(&format!(
            "orrery.spacetime.reveal({index}); return orrery.spacetime.clientPoint({index})"
        ));
        self.click(number(&point["x"]), number(&point["y"]));
        self.shown()
    }

    fn shown(&self) -> Shown {
        let shown = self.execute(
            "const view = orrery.spacetime; \
             const root = document.querySelector('[data-view=spacetime]'); \
             const rows = [...root.querySelectorAll('[data-role=fields] tr')]; \
             return {selected: view.selected, \
                     fields: rows.map((row) => [row.cells[0].innerText, row.cells[1].innerText]), \
                     details: root.querySelector('[data-role=details]').innerText, \
                     text: root.querySelector('[data-role=selection-text]').value}",
        );
        let text = |value: &Json| value.as_str().unwrap_or("").to_string();
        Shown {
            selected: shown["selected"].as_u64().unwrap_or(u64::MAX),
            fields: shown["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|pair| (text(&pair[0]), text(&pair[1])))
                .collect(),
            details: text(&shown["details"]),
            text: text(&shown["text"]),
        }
    }

    fn pointer(actions: Json) -> Json {
        json!({"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": actions})
    }

    fn click(&self, x: f64, y: f64) {
        let (x, y) = (x.round() as i64, y.round() as i64);
        let pointer = Driver::pointer(json!([
            {"type": "pointerMove", "duration": 0, "x": x, "y": y, "origin": "viewport"},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0},
        ]));
        self.command("POST", "/actions", Some(&json!({ "actions": [pointer] })));
        self.command("DELETE", "/actions", None);
    }

    /// Presses the mouse at `x1`, drags to `x2` with shift held, and lets go.
    fn shift_drag(&self, x1: f64, x2: f64, y: f64) {
        let (x1, x2, y) = (x1.round() as i64, x2.round() as i64, y.round() as i64);
        let shift = "\u{E008}";
        let keys = json!({"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": shift}, {"type": "pause"}, {"type": "pause"},
            {"type": "pause"}, {"type": "keyUp", "value": shift},
        ]});
        let pointer = Driver::pointer(json!([
            {"type": "pointerMove", "duration": 0, "x": x1, "y": y, "origin": "viewport"},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerMove", "duration": 150, "x": x2, "y": y, "origin": "viewport"},
            {"type": "pointerUp", "button": 0},
            {"type": "pause"},
        ]));
        self.command("POST", "/actions", Some(&json!({ "actions": [keys, pointer] })));
        self.command("DELETE", "/actions", None);
    }

    fn click_element(&self, css: &str) {
        let found =
            self.command("POST", "/element", Some(&json!({"using": "css selector", "value": css})));
        let id = found
            .as_object()
            .and_then(|object| object.values().next())
            .and_then(Json::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string();
        self.command("POST", &format!("/element/{id}/click"), Some(&json!({})));
    }

    fn screenshot(&self, path: &Path) {
        let png = self.command("GET", "/screenshot", None);
        let bytes = base64_decode(png.as_str().expect("base64 PNG data"));
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, bytes).expect("the screenshot is written");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(self.port, "DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// One HTTP/1.1 exchange with chromedriver on localhost: JSON in, JSON out. A WebDriver
/// error (any status but 200) comes back as its message.
fn http(port: u16, method: &str, path: &str, body: Option<&Json>) -> Result<Json, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(300))).map_err(|e| e.to_string())?;
    let body = body.map(Json::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json; \
         charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    // chromedriver may keep the connection open: read the header, then exactly the body.
    let mut response = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    let split = loop {
        if let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break split;
        }
        let read = stream.read(&mut buffer).map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("the connection closed before the header ended".to_string());
        }
        response.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let mut content = response[split + 4..].to_vec();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let complete = match length {
            Some(length) => content.len() >= length,
            None if chunked => content.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if complete {
            break;
        }
        let read = stream.read(&mut buffer).map_err(|e| e.to_string())?;
        if read == 0 {
            break;
        }
        content.extend_from_slice(&buffer[..read]);
    }
    if chunked {
        content = dechunk(&content)?;
    }
    let status: u16 =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("no HTTP status")?;
    let value: Json = serde_json::from_slice(&content)
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&content)))?;
    if status != 200 {
        return Err(format!("HTTP {status}: {}", value["value"]));
    }
    Ok(value)
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let end = data.windows(2).position(|w| w == b"\r\n").ok_or("bad chunk")?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16)
            .map_err(|e| e.to_string())?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(data.get(end + 2..end + 2 + size).ok_or("short chunk")?);
        data = data.get(end + 4 + size..).ok_or("short chunk")?;
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for sextet in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
        }
    }
    bytes
}
