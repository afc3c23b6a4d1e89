//! A small WebDriver client for the browser test: chromedriver's W3C JSON over a plain
//! `TcpStream` (HTTP/1.1, one request per connection), enough to open pages, run scripts,
//! move the mouse, press keys, read the console log and take screenshots.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value as Json};

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

/// A JSON number, or a panic saying what came instead.
pub fn number(value: &Json) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("a number, not {value}"))
}

/// What the space-time view shows after a click.
pub struct Shown {
    pub selected: u64,
    pub fields: Vec<(String, String)>,
    pub details: String,
    pub text: String,
}

/// chromedriver and one browser session, both ended on drop.
pub struct Driver {
    process: Child,
    port: u16,
    session: String,
}

impl Driver {
    pub fn start(chromedriver: &str, chromium: &str, profile: &Path) -> Driver {
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

    pub fn execute(&self, script: &str) -> Json {
        self.command("POST", "/execute/sync", Some(&json!({"script": script, "args": []})))
    }

    /// Opens a page and waits until it has drawn (or failed, which fails the test).
    pub fn open(&self, page: &Path) {
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
    pub fn no_console_errors(&self, what: &str) {
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
    pub fn click_event(&self, index: usize) -> Shown {
        let point = self.execute(&format!(
            "orrery.spacetime.reveal({index}); return orrery.spacetime.clientPoint({index})"
        ));
        self.click(number(&point["x"]), number(&point["y"]));
        self.shown()
    }

    pub fn shown(&self) -> Shown {
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

    pub fn click(&self, x: f64, y: f64) {
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
    pub fn shift_drag(&self, x1: f64, x2: f64, y: f64) {
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

    pub fn click_element(&self, css: &str) {
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

    pub fn screenshot(&self, path: &Path) {
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
