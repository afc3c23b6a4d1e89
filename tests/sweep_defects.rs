//! One test per defect found probing sweeps as a new user would (issue 15), each asserting the
//! fixed behaviour of the real `orrery` binary: honest exits, flags and their variables,
//! options rejected before any seed runs, progress on a terminal, capsules in bounded memory,
//! budgets that skip faults, setup errors, and the replog liveness bugs.

mod common;

use std::time::Duration;

use common::{orrery, records, summary, text, TempDir, ORRERY};

const ECHO: &str = "scenarios/smoke/echo.yaml";
const BUG: &str = "scenarios/bugs/echo-corrupt-replies.yaml";

/// `orrery ARGS` with `vars` set in its environment.
fn orrery_with(vars: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    std::process::Command::new(ORRERY)
        .args(args)
        .envs(vars.iter().copied())
        .current_dir(common::root())
        .output()
        .expect("the orrery binary runs")
}

/// A scenario file written for one test.
fn scenario(dir: &TempDir, name: &str, yaml: &str) -> String {
    std::fs::write(dir.join(name), yaml).expect("scenario");
    dir.arg(name)
}

// Proves merging nothing is an error naming the input, whether an empty file, empty stdin or
// an output cut short before its summary: a nightly whose shards all died never merges green.
#[test]
fn merge_refuses_empty_input_and_outputs_without_a_summary() {
    let dir = TempDir::new("merge-empty");
    std::fs::write(dir.join("empty.jsonl"), "").expect("write");
    let empty = orrery(&["merge", &dir.arg("empty.jsonl")]);
    assert_eq!(empty.status.code(), Some(2));
    assert!(text(&empty).contains("empty.jsonl: empty: no records"), "{}", text(&empty));

    let stdin = std::process::Command::new(ORRERY)
        .args(["merge", "-"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(stdin.status.code(), Some(2));
    assert!(text(&stdin).contains("stdin: empty"), "{}", text(&stdin));

    let run = orrery(&["run", ECHO, "--seeds", "0..3", "--json", "--out", &dir.arg("out")]);
    let full = String::from_utf8_lossy(&run.stdout).into_owned();
    let no_summary: String = full
        .lines()
        .filter(|l| !l.contains(r#""type":"summary""#))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("cut.jsonl"), no_summary).expect("write");
    let cut = orrery(&["merge", &dir.arg("cut.jsonl")]);
    assert_eq!(cut.status.code(), Some(2));
    assert!(text(&cut).contains("this output was cut short"), "{}", text(&cut));
}

// Proves zero seeds run is never a pass: a seed past the last one (the half-open range would
// overflow), a shard that owns no seed of the range, and worker threads that cannot start
// each exit 2 with the reason, and nothing is left behind as if a sweep had run.
#[test]
fn zero_seeds_run_is_never_a_pass() {
    let dir = TempDir::new("zero-seeds");
    let out = dir.arg("out");
    for (args, reason) in [
        (vec!["--seed", "18446744073709551615"], "the largest seed is 18446744073709551614"),
        (vec!["--seeds", "0..3", "--shard", "5/5"], "no seed to run: 0..3 has none for shard 5/5"),
    ] {
        let mut all = vec!["run", ECHO, "--out", &out];
        all.extend(args);
        let output = orrery(&all);
        assert_eq!(output.status.code(), Some(2), "{all:?}: {}", text(&output));
        assert!(text(&output).contains(reason), "{all:?}: {}", text(&output));
    }
    // A stack no thread can have: the threads cannot start.
    let output = orrery_with(
        &[("RUST_MIN_STACK", "1000000000000000")],
        &["run", ECHO, "--seeds", "0..4", "--out", &out],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("no seed ran: could not start worker threads"),
        "{}",
        text(&output)
    );
    let left: Vec<_> =
        std::fs::read_dir(dir.join("out")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "no journal of a sweep that never ran: {left:?}");
}

// Proves a hang timeout of zero (every seed would be a spurious hang) and zero threads are
// refused as usage errors.
#[test]
fn a_zero_hang_timeout_and_zero_jobs_are_refused() {
    for args in [["--hang-timeout", "0"], ["--jobs", "0"]] {
        let mut all = vec!["run", ECHO, "--seeds", "0..2"];
        all.extend(args);
        let output = orrery(&all);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        assert!(text(&output).contains("0 is not in 1.."), "{args:?}: {}", text(&output));
    }
}

// Proves the environment mirrors follow clap's conventions: booleans accept 1/0 and
// true/false, a flag beats any variable for the same setting (`--seed 5` beats
// `ORRERY_SEEDS`, `--seeds` beats `ORRERY_SEED`), and a bad value names its variable.
#[test]
fn variables_follow_clap_and_a_flag_beats_its_variable() {
    let dir = TempDir::new("env");
    let out = dir.arg("out");
    let json = orrery_with(
        &[("ORRERY_JSON", "1"), ("ORRERY_CHECK_DETERMINISM", "1")],
        &["run", ECHO, "--seeds", "0..2", "--out", &out],
    );
    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    assert!(String::from_utf8_lossy(&json.stdout).starts_with(r#"{"digest""#), "{}", text(&json));
    let human =
        orrery_with(&[("ORRERY_JSON", "false")], &["run", ECHO, "--seeds", "0..2", "--out", &out]);
    assert!(
        String::from_utf8_lossy(&human.stdout).starts_with("scenario echo-smoke"),
        "{}",
        text(&human)
    );

    let one = orrery_with(
        &[("ORRERY_SEEDS", "0..100")],
        &["run", ECHO, "--seed", "5", "--json", "--out", &out],
    );
    assert_eq!(one.status.code(), Some(0), "{}", text(&one));
    std::fs::write(dir.join("one.jsonl"), &one.stdout).expect("write");
    let (records, _) = records(&dir.join("one.jsonl"));
    assert_eq!(common::seeds(&records), [5]);
    let range =
        orrery_with(&[("ORRERY_SEED", "5")], &["run", ECHO, "--seeds", "0..3", "--out", &out]);
    assert!(text(&range).contains("seeds run        3"), "{}", text(&range));

    for (name, value, needle) in [
        ("ORRERY_SEEDS", "ten", "ORRERY_SEEDS=ten: invalid seed range"),
        ("ORRERY_SEED", "x", "ORRERY_SEED=x: invalid seed"),
        ("ORRERY_JSON", "maybe", "invalid value 'maybe'"),
    ] {
        let output = orrery_with(&[(name, value)], &["run", ECHO, "--out", &out]);
        assert_eq!(output.status.code(), Some(2), "{name}={value}: {}", text(&output));
        assert!(text(&output).contains(needle), "{name}={value}: {}", text(&output));
    }
}

// Proves options that cannot work together are refused before any seed runs: nothing is
// written, not the trace, not a journal, not a capsule (once, A's trace was written and the
// run failed on B only after all the work).
#[test]
fn incompatible_options_are_refused_before_any_seed_runs() {
    let dir = TempDir::new("incompatible");
    let out = dir.arg("out");
    let trace = dir.arg("t.txt");
    std::fs::write(dir.join("existing.txt"), "mine").expect("write");
    let existing = dir.arg("existing.txt");
    for (args, needle) in [
        (
            vec!["run", ECHO, BUG, "--trace", &trace, "--out", &out],
            "--trace records one seed of one scenario; 2 scenarios given",
        ),
        (
            vec!["run", ECHO, "--seeds", "0..5", "--trace", &trace, "--out", &out],
            "--trace needs exactly one seed",
        ),
        (
            vec!["run", ECHO, "--seed", "1", "--trace", &existing, "--out", &out],
            "already exists (refusing to overwrite)",
        ),
        (vec!["run", ECHO, "--resume", &out, "--out", &trace], "no such directory"),
    ] {
        let output = orrery(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        assert!(text(&output).contains(needle), "{args:?}: {}", text(&output));
        assert!(
            !dir.join("t.txt").exists() && !dir.join("out").exists(),
            "{args:?} wrote something"
        );
    }
    assert_eq!(std::fs::read_to_string(dir.join("existing.txt")).ok().as_deref(), Some("mine"));
    let first = orrery(&["run", ECHO, "--seeds", "0..2", "--out", &out]);
    assert_eq!(first.status.code(), Some(0));
    let other = dir.arg("other");
    let mismatch = orrery(&["run", ECHO, "--resume", &out, "--out", &other]);
    assert_eq!(mismatch.status.code(), Some(2));
    assert!(text(&mismatch).contains("name different directories"), "{}", text(&mismatch));
}

/// Runs `args` with stderr on a pseudo-terminal (stdout a pipe) and returns what the terminal
/// showed.
fn on_a_terminal(args: &[&str]) -> (Option<i32>, String) {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize { ws_row: 40, ws_col: 160, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes two descriptors; the size is a valid winsize.
    let opened = unsafe {
        libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size)
    };
    assert_eq!(opened, 0, "a pseudo-terminal opens");
    // SAFETY: both descriptors were just opened and are owned here only.
    let (master, slave) =
        unsafe { (std::fs::File::from_raw_fd(master), std::fs::File::from_raw_fd(slave)) };
    let mut child = std::process::Command::new(ORRERY)
        .args(args)
        .current_dir(common::root())
        .stdout(std::process::Stdio::piped())
        .stderr(slave)
        .spawn()
        .expect("runs");
    let reader = std::thread::spawn(move || {
        let mut master = master;
        let mut shown = Vec::new();
        let mut buffer = [0u8; 4096];
        // Reading ends with an error (EIO) once the child's side is closed.
        while let Ok(n) = master.read(&mut buffer) {
            if n == 0 {
                break;
            }
            shown.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&shown).into_owned()
    });
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    let status = child.wait().expect("waits");
    (status.code(), reader.join().unwrap_or_default())
}

// Proves progress is shown on stderr whenever stderr is a terminal, even with stdout
// redirected, with the failures so far and an ETA; and that it stays quiet otherwise.
#[test]
fn progress_shows_on_a_terminal_with_failures_and_an_eta() {
    let dir = TempDir::new("progress");
    let args =
        ["run", BUG, "--seeds", "0..20000", "--json", "--jobs", "2", "--out", &dir.arg("out")];
    let (code, shown) = on_a_terminal(&args);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("echo-corrupt-replies: ") && shown.contains(" failed ["), "{shown}");
    assert!(shown.contains("/20000 seeds") && shown.contains("eta "), "{shown}");
    let quiet = orrery(&["run", BUG, "--seeds", "0..2000", "--json", "--out", &dir.arg("quiet")]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("eta "), "{}", text(&quiet));
}

/// An echo client sending every nanosecond: the seed exhausts `events_max`.
const FLOOD: &str = "name: echo-flood
topology:
  nodes:
    - { name: s0, role: server }
    - { name: c0, role: client }
network:
  latency: { kind: uniform, min: 1ms, max: 10ms }
workload: {name: echo, params: {interval: 1ns}}
phases: {chaos: 1s, heal: 0ms, converge_deadline: 1s}
checks: [clients_progress]
limits: {events_max: 1000000}
seeds: 0..1
";

// (The check is one whose state is O(1): `replies_match` holds one entry per request, which is
// the check's own memory, not the recorder's.)
// Proves the capsule of a seed that exhausted `events_max` is written with the trace streamed
// to its file in bounded memory (once, holding every record and the rendered text in memory
// aborted or was OOM-killed), and so is `replay --trace`.
#[test]
fn a_capsule_of_a_seed_that_hit_events_max_is_written_in_bounded_memory() {
    const RSS_MAX: u64 = 256 << 20;
    let dir = TempDir::new("flood");
    let path = scenario(&dir, "flood.yaml", FLOOD);
    let child = common::spawn(
        &["run", &path, "--jobs", "1", "--out", &dir.arg("out")],
        &dir.join("stdout.txt"),
    );
    let ended = common::wait(child, Duration::from_secs(300));
    let stdout = std::fs::read_to_string(dir.join("stdout.txt")).unwrap_or_default();
    assert_eq!(ended.code, Some(1), "{stdout}{}", ended.stderr);
    assert!(stdout.contains("check=events_max kind=limit"), "{stdout}");
    let capsule = dir.join("out").join("echo-flood-seed-0");
    let trace_bytes = std::fs::metadata(capsule.join("trace.txt")).map(|m| m.len()).unwrap_or(0);
    let note = std::fs::read_to_string(capsule.join("summary.txt")).expect("summary");
    assert!(note.contains("records; the re-run failed the same way (events_max limit)"), "{note}");
    assert!(trace_bytes > 64 << 20, "a big trace: {trace_bytes} bytes");
    assert!(note.contains("index.html: not drawn: trace.txt is"), "{note}");
    assert!(!capsule.join("index.html").exists());
    assert!(
        ended.max_rss_bytes < RSS_MAX,
        "peak RSS {} bytes for a {trace_bytes}-byte trace",
        ended.max_rss_bytes
    );

    let replay = common::spawn(
        &["replay", &path, "--seed", "0", "--trace", &dir.arg("replay.txt")],
        &dir.join("replay.out"),
    );
    let ended = common::wait(replay, Duration::from_secs(300));
    assert_eq!(ended.code, Some(1), "{}", ended.stderr);
    let replayed = std::fs::metadata(dir.join("replay.txt")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(replayed, trace_bytes, "replay records the same trace");
    assert!(ended.max_rss_bytes < RSS_MAX, "replay peak RSS {} bytes", ended.max_rss_bytes);
}

// Proves a fault that the `max_dead` budget skipped still declares its coverage point, so a
// budget that lets no crash happen shows in the summary instead of a silent green sweep.
#[test]
fn max_dead_skipping_every_crash_is_reported_by_the_summary() {
    let dir = TempDir::new("max-dead");
    let echo = std::fs::read_to_string(common::root().join(ECHO)).expect("scenario");
    // Only the crash: a `restart` of a node that is up kills it too, and no budget skips it.
    let budgeted = echo
        .replace("faults:", "max_dead: 0\nfaults:")
        .replace("  - { at: 3500ms, kind: restart, node: s2 }\n", "");
    assert_ne!(
        budgeted,
        echo.replace("faults:", "max_dead: 0\nfaults:"),
        "the restart was removed"
    );
    let path = scenario(&dir, "budget.yaml", &budgeted);
    let output = orrery(&["run", &path, "--seeds", "0..5", "--out", &dir.arg("out")]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("never reached: fault: a node crashed (declared in 5 seed(s))"),
        "{}",
        text(&output)
    );
}

// Proves a workload that cannot be set up from its scenario (an echo topology with no
// server) is an input error, exit 2, and never counts as the bug an `expect: fail` scenario
// looks for (once, this exited 0).
#[test]
fn a_setup_error_is_exit_two_never_the_expected_bug() {
    let dir = TempDir::new("setup");
    let yaml = "name: no-server\ntopology:\n  nodes:\n    - {name: c0, role: client}\n    - {name: c1, role: client}\nworkload: {name: echo}\nphases: {chaos: 100ms}\nseeds: 0..3\nexpect: {fail: {within_seeds: 3}}\n";
    let path = scenario(&dir, "no-server.yaml", yaml);
    let output = orrery(&["run", &path, "--out", &dir.arg("out")]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(!text(&output).contains("expected failure found"), "{}", text(&output));
}

// Proves the replog liveness bugs found triaging `replog-chaos --seed 1509` are fixed: 1509 (a
// pre-vote grant arriving after the node voted in a newer epoch made it depose the new
// leader) and 2504 (two candidates retrying in lockstep split every vote) both converge.
#[test]
fn replog_chaos_seeds_1509_and_2504_converge() {
    let dir = TempDir::new("replog");
    for seed in ["1509", "2504"] {
        let output = orrery(&[
            "run",
            "scenarios/chaos/replog-chaos.yaml",
            "--seed",
            seed,
            "--json",
            "--out",
            &dir.arg("out"),
        ]);
        assert_eq!(output.status.code(), Some(0), "seed {seed}: {}", text(&output));
        std::fs::write(dir.join("out.jsonl"), &output.stdout).expect("write");
        let (records, _) = records(&dir.join("out.jsonl"));
        assert_eq!(summary(&records)["passed"], 1, "seed {seed}");
    }
}
