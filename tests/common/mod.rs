//! What the end-to-end tests of the `orrery` binary share: running it, running it as a child
//! process to signal or kill, its peak memory, and reading its JSON lines.

#![allow(dead_code)] // each test binary uses its own share of these

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const ORRERY: &str = env!("CARGO_BIN_EXE_orrery");

/// The repository root, where scenario paths are relative to.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `orrery ARGS` from the repository root to its end.
pub fn orrery(args: &[&str]) -> Output {
    Command::new(ORRERY).args(args).current_dir(root()).output().expect("the orrery binary runs")
}

/// stdout then stderr, as text.
pub fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// A fresh directory for one test's files, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("orrery-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn arg(&self, name: &str) -> String {
        self.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `orrery ARGS` as a child process, its stdout into `stdout_file`, stderr piped.
pub fn spawn(args: &[&str], stdout_file: &Path) -> Child {
    let stdout = std::fs::File::create(stdout_file).expect("stdout file");
    Command::new(ORRERY)
        .args(args)
        .current_dir(root())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("the orrery binary starts")
}

/// How a child ended: its exit code (or the signal that killed it), peak resident memory
/// from the kernel's accounting, and its stderr.
pub struct Ended {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub max_rss_bytes: u64,
    pub stderr: String,
    pub waited: Duration,
}

/// Waits for `child` (at most `limit`, then kills it and fails the test) and reads its peak
/// RSS with `wait4`.
pub fn wait(mut child: Child, limit: Duration) -> Ended {
    #[allow(clippy::disallowed_methods)] // the test's own timeout, outside any run
    let started = Instant::now();
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(stderr) = stderr.as_mut() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });
    loop {
        let mut status = 0;
        // SAFETY: a zeroed rusage is valid; wait4 writes status and usage for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            let signal = libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status));
            return Ended {
                code,
                signal,
                max_rss_bytes: usage.ru_maxrss as u64 * 1024,
                stderr: reader.join().unwrap_or_default(),
                waited: started.elapsed(),
            };
        }
        assert!(reaped == 0, "wait4 failed for pid {pid}");
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("orrery did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` to `child`.
pub fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(sent, 0, "the signal was delivered");
}

/// Resident memory of a running process, from `/proc/PID/status`.
pub fn rss_bytes(child: &Child) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// Waits until `path` has at least `lines` whole lines (or `limit` passes).
pub fn wait_for_lines(path: &Path, lines: usize, limit: Duration) -> usize {
    #[allow(clippy::disallowed_methods)] // the test's own timeout, outside any run
    let started = Instant::now();
    loop {
        let count = std::fs::read(path).map(|b| b.iter().filter(|&&c| c == b'\n').count());
        let count = count.unwrap_or(0);
        if count >= lines || started.elapsed() > limit {
            return count;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every JSON record of a JSON-lines file; a line that does not parse fails the test unless
/// it is the last one and lacks its line end (a torn tail), which is returned apart.
pub fn records(path: &Path) -> (Vec<serde_json::Value>, Option<String>) {
    let bytes = std::fs::read(path).expect("a JSON-lines file");
    let text = String::from_utf8(bytes).expect("UTF-8");
    let mut records = Vec::new();
    let mut torn = None;
    let whole_end = text.rfind('\n').map_or(0, |i| i + 1);
    for (number, line) in text[..whole_end].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!("{}:{}: not JSON ({e}): {line}", path.display(), number + 1)
        });
        records.push(record);
    }
    if whole_end < text.len() {
        torn = Some(text[whole_end..].to_string());
    }
    (records, torn)
}

/// The seeds of the seed records, in file order.
pub fn seeds(records: &[serde_json::Value]) -> Vec<u64> {
    records
        .iter()
        .filter(|r| r["type"] == "seed")
        .map(|r| r["seed"].as_u64().expect("a seed number"))
        .collect()
}

/// The last summary record.
pub fn summary(records: &[serde_json::Value]) -> serde_json::Value {
    records.iter().rev().find(|r| r["type"] == "summary").cloned().expect("a summary record")
}
