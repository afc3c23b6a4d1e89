//! `orrery check-history` end to end: every format (Jepsen EDN, Orrery's JSON lines,
//! porcupine's etcd logs and kv histories) on small fixtures written in those formats (their
//! verdicts were confirmed with porcupine's own checker when they were written), the
//! conventions that decide porcupine's verdicts, the exit codes (0, 1, 3 unknown, 2 bad input),
//! and a closed stdout ending the process quietly. `ORRERY_NIGHTLY=1` adds the
//! million-operation history and its memory bound.

#[path = "../benches/histories.rs"]
#[allow(dead_code)]
mod histories;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

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

fn text(output: &Output) -> String {
    stdout(output) + &String::from_utf8_lossy(&output.stderr)
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/histories/{name}")
}

/// A file in a fresh temporary directory of this test process.
fn temporary(name: &str, contents: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("orrery-check-history-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temporary directory");
    let path = directory.join(name);
    std::fs::write(&path, contents).expect("temporary file");
    path
}

// Proves each format is read (and recognised where unambiguous) with porcupine's verdicts
// under porcupine's conventions: its etcd logs as they are, its kv histories with `""` for a
// key never written — which Jepsen's nil convention calls a violation, with a hint — and a
// failing check prints the witness: the partition, the operation that cannot be placed and
// the longest linearizable prefix.
#[test]
fn formats_and_conventions_give_porcupines_verdicts() {
    let etcd_ok = fixture("etcd-ok.log");
    let etcd_bad = fixture("etcd-bad.log");
    let kv_ok = fixture("kv-ok.txt");
    let kv_bad = fixture("kv-bad.txt");
    let jsonl = fixture("register.jsonl");
    let cases: [(&[&str], i32, &[&str]); 8] = [
        (
            &["--model", "cas-register", &etcd_ok],
            0,
            &[
                "linearizable (6 operations",
                "read 7 operations as porcupine-etcd, checked against cas-register",
            ],
        ),
        (
            &["--model", "cas-register", &etcd_bad],
            1,
            &[
                "not linearizable: the history: op #5 process 0 [10, 11] read -> 3 cannot be \
                 linearized after the longest linearizable prefix",
                "longest linearizable prefix: 5 operations:",
                "yet op #5 returned at 11.",
            ],
        ),
        (
            &["--model", "kv", "--format", "porcupine-kv", &kv_ok],
            0,
            &["linearizable (7 operations, 2 of 2 partitions", "(initial \"\", missing read \"\")"],
        ),
        (&["--model", "kv", "--initial", "\"\"", &kv_ok], 0, &["as edn, checked against kv"]),
        (
            &["--model", "kv", &kv_ok],
            1,
            &["not linearizable: key \"a\": op #0", "hint: a read returned \"\" where the key"],
        ),
        (&["--model", "kv", "--format", "porcupine-kv", &kv_bad], 1, &["read -> \"zx\""]),
        (&["--model", "register", &jsonl], 0, &["linearizable (3 operations", "as jsonl, checked"]),
        (
            &["--model", "register", "--format", "edn", &jsonl],
            2,
            &["register.jsonl:1:9: unexpected character '\"'"],
        ),
    ];
    for (args, code, expected) in cases {
        let args: Vec<&str> = ["check-history"].iter().chain(args).copied().collect();
        let output = orrery(&args);
        assert_eq!(output.status.code(), Some(code), "{args:?}:\n{}", text(&output));
        for line in expected {
            assert!(text(&output).contains(line), "{args:?} lacks {line:?}:\n{}", text(&output));
        }
    }
}

// Proves the exit codes: an exhausted budget is unknown (3, not 1), an empty history or one
// without operations is bad input (2), as are conventions a model has no use for, a value
// that is not EDN, a malformed log line (named by line and column); stdin reads with `-`.
#[test]
fn exit_codes_separate_unknown_from_failure_and_bad_input() {
    let unknown =
        orrery(&["check-history", "--model", "kv", "--steps-max", "3", &fixture("kv-bad.txt")]);
    assert_eq!(unknown.status.code(), Some(3), "{}", text(&unknown));
    assert!(stdout(&unknown).starts_with("unknown: the step budget ran out"), "{}", text(&unknown));
    let empty = temporary("empty.edn", "");
    let blank = temporary("blank.edn", "\n  \n");
    let nemesis_only = temporary("nemesis.edn", "{:type :info, :f :start, :process :nemesis}\n");
    let bad_line = temporary(
        "bad.log",
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:done\t:read\tnil\n",
    );
    let (empty, blank, nemesis_only, bad_line) = (
        empty.display().to_string(),
        blank.display().to_string(),
        nemesis_only.display().to_string(),
        bad_line.display().to_string(),
    );
    let cases: [(&[&str], &str); 7] = [
        (&["--model", "register", &empty], "the history holds no operations"),
        (&["--model", "register", &blank], "the history holds no operations"),
        (&["--model", "register", &nemesis_only], "1:1: the history holds no operations"),
        (
            &["--model", "counter", "--missing", "nil", &fixture("kv-ok.txt")],
            "the counter model has no read of something missing",
        ),
        (&["--model", "kv", "--initial", "[1", &fixture("kv-ok.txt")], "--initial \"[1\""),
        (&["--model", "register", "--format", "csv", &empty], "unknown format \"csv\""),
        (&["--model", "register", &bad_line], "bad.log:2:23: a log line of an operation"),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = ["check-history"].iter().chain(args).copied().collect();
        let output = orrery(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}:\n{}", text(&output));
        assert!(
            text(&output).contains(expected),
            "{args:?} lacks {expected:?}:\n{}",
            text(&output)
        );
        assert!(!text(&output).contains("panicked"), "{args:?}");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_orrery"))
        .args(["check-history", "--model", "register", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the orrery binary runs");
    let history = std::fs::read(fixture("register.jsonl")).expect("fixture");
    child.stdin.take().expect("stdin").write_all(&history).expect("written");
    let output = child.wait_with_output().expect("exits");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(stdout(&output).contains("as jsonl, checked"), "{}", text(&output));
}

/// Runs orrery with stdout piped, reads one line of it and closes the pipe.
fn first_line_then_close(args: &[&str]) -> (String, std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orrery"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the orrery binary runs");
    let mut line = String::new();
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    reader.read_line(&mut line).expect("a first line");
    drop(reader);
    let output = child.wait_with_output().expect("exits");
    (line, output.status, String::from_utf8_lossy(&output.stderr).into_owned())
}

// Proves a stdout closed early (`orrery ... | head -1`) ends the process quietly: no panic, no
// exit code 101, for `run` (whose JSON lines outgrow the pipe), `trace` and `check-history`;
// and a pipe closed before anything was written gives the status of a SIGPIPE death (141).
#[test]
fn a_closed_stdout_is_a_quiet_exit() {
    let out = std::env::temp_dir().join(format!("orrery-sigpipe-{}", std::process::id()));
    let out = out.display().to_string();
    for args in [
        vec!["run", "scenarios/smoke/echo.yaml", "--seeds", "0..3000", "--json", "--out", &out],
        vec!["trace", "scenarios/smoke/echo.yaml"],
        vec!["check-history", "--model", "cas-register", "tests/fixtures/histories/etcd-bad.log"],
    ] {
        let (line, status, stderr) = first_line_then_close(&args);
        assert!(!line.is_empty(), "{args:?} printed nothing");
        assert_ne!(status.code(), Some(101), "{args:?} panicked:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}:\n{stderr}");
    }
    // The history comes on stdin, after stdout is closed, so nothing can be written before.
    let mut child = Command::new(env!("CARGO_BIN_EXE_orrery"))
        .args(["check-history", "--model", "cas-register", "-"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the orrery binary runs");
    drop(child.stdout.take());
    let history = std::fs::read(fixture("etcd-bad.log")).expect("fixture");
    child.stdin.take().expect("stdin").write_all(&history).expect("written");
    let output = child.wait_with_output().expect("exits");
    assert_eq!(output.status.code(), Some(141), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
    let _ = std::fs::remove_dir_all(&out);
}

// Proves (nightly) a history of a million operations checks in bounded memory: the peak
// resident set of the checking process stays under 400 MiB (about 150 MiB measured), and
// the history is linearizable.
#[test]
fn a_million_operations_check_in_bounded_memory() {
    if std::env::var_os("ORRERY_NIGHTLY").is_none() {
        eprintln!("skipped: set ORRERY_NIGHTLY=1 to check the million-operation history");
        return;
    }
    let history = histories::generate(&histories::REGISTER_1M, 1);
    let path = temporary("register-1m.edn", &orrery_sim::check::write_history(&history));
    drop(history);
    let output = orrery(&[
        "check-history",
        "--model",
        "cas-register",
        "--steps-max",
        "1000000000",
        "--timings",
        &path.display().to_string(),
    ]);
    let _ = std::fs::remove_file(path);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(stdout(&output).starts_with("linearizable (1000000 operations"), "{}", text(&output));
    // The checker's own peak, as it reports it: a child's rusage would also count this test
    // process's memory at the moment it spawned the child.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let peak_kib: u64 = stderr
        .lines()
        .find_map(|line| line.strip_prefix("peak resident memory: "))
        .and_then(|rest| rest.trim_end_matches(" KiB").parse().ok())
        .unwrap_or_else(|| panic!("no peak memory reported (Linux only):\n{stderr}"));
    eprintln!("peak resident memory of the check: {} MiB", peak_kib / 1024);
    assert!(peak_kib < 400 * 1024, "peak resident memory {peak_kib} KiB");
}
