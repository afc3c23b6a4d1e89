//! Sweeps that survive: a real `orrery` child process interrupted (SIGINT, SIGTERM) or killed
//! (SIGKILL) in the middle of a sweep keeps every seed it finished, on disk, exactly once;
//! `--resume` runs the rest; the merged result equals an uninterrupted run's, sweep
//! fingerprint included; and a sweep of 10^9 seeds starts at once in flat memory.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{orrery, records, seeds, signal, spawn, summary, text, wait, wait_for_lines, TempDir};

const ECHO: &str = "scenarios/smoke/echo.yaml";
/// Long enough to interrupt in the middle, short enough to run whole in a test.
const RANGE: &str = "0..6000";
const RANGE_LEN: u64 = 6000;

/// The journal a sweep wrote in `dir`.
fn journal(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .expect("the output directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.display().to_string().ends_with(".journal.jsonl"))
        .expect("a journal")
}

/// The sweep fingerprint of an uninterrupted run of the range.
fn uninterrupted_fingerprint(dir: &TempDir) -> String {
    let whole = dir.join("whole.jsonl");
    let output = orrery(&["run", ECHO, "--seeds", RANGE, "--json", "--out", &dir.arg("whole")]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    std::fs::write(&whole, &output.stdout).expect("write");
    let (records, torn) = records(&whole);
    assert!(torn.is_none());
    summary(&records)["sweep_fingerprint"].as_str().expect("a fingerprint").to_string()
}

/// Starts a sweep of the range, waits until `lines` seeds are in its journal, sends `sig`.
fn interrupted(dir: &TempDir, sig: libc::c_int, lines: usize) -> common::Ended {
    let child = spawn(
        &["run", ECHO, "--seeds", RANGE, "--json", "--jobs", "2", "--out", &dir.arg("out")],
        &dir.join("first.jsonl"),
    );
    std::thread::sleep(Duration::from_millis(50));
    let journal_path = || {
        std::fs::read_dir(dir.join("out"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path())
    };
    let mut waited = 0;
    while journal_path().is_none() && waited < 500 {
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    let path = journal_path().expect("the sweep writes its journal at once");
    let seen = wait_for_lines(&path, lines, Duration::from_secs(60));
    assert!(seen >= lines, "only {seen} lines in the journal");
    signal(&child, sig);
    wait(child, Duration::from_secs(30))
}

/// Asserts every seed of `all` appears exactly once and they are the range.
fn exactly_once(all: &[u64], what: &str) {
    let unique: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "{what}: a seed appears twice");
    assert_eq!(unique, (0..RANGE_LEN).collect(), "{what}: not every seed of the range");
}

// Proves SIGINT stops a sweep within the bounded wind-down with exit 130, a partial summary
// saying how far it got, every finished seed on stdout (in seed order) and in the journal
// exactly once, no torn line; `--resume` runs exactly the rest; and the merged outputs and
// the journal both equal an uninterrupted run, sweep fingerprint included.
#[test]
fn sigint_keeps_every_finished_seed_and_resume_completes_the_sweep() {
    let dir = TempDir::new("sigint");
    let ended = interrupted(&dir, libc::SIGINT, 300);
    assert_eq!(ended.code, Some(130), "{}", ended.stderr);
    assert!(ended.waited < Duration::from_secs(10), "wound down in {:?}", ended.waited);
    let (first, torn) = records(&dir.join("first.jsonl"));
    assert!(torn.is_none(), "an interrupted sweep ends its output with whole lines");
    let printed = seeds(&first);
    assert!(printed.windows(2).all(|w| w[0] < w[1]), "stdout is in seed order, each once");
    let closing = summary(&first);
    assert_eq!(closing["complete"], false);
    assert_eq!(closing["interrupted"], "SIGINT");
    assert_eq!(closing["seeds_run"].as_u64(), Some(printed.len() as u64));
    let line = format!("interrupted: {} of {RANGE_LEN} seeds run (SIGINT)", printed.len());
    assert!(ended.stderr.contains(&line), "{}", ended.stderr);
    assert!(printed.len() < RANGE_LEN as usize, "interrupted before the end");

    let journal_path = journal(&dir.join("out"));
    let (journaled, torn) = records(&journal_path);
    assert!(torn.is_none());
    let journaled_seeds = seeds(&journaled);
    let set: BTreeSet<u64> = journaled_seeds.iter().copied().collect();
    assert_eq!(set.len(), journaled_seeds.len(), "each finished seed is journaled once");
    assert_eq!(set, printed.iter().copied().collect(), "the journal holds what stdout printed");

    // An interrupted output alone does not merge: it says what is missing and why.
    let alone = orrery(&["merge", &dir.arg("first.jsonl")]);
    assert_eq!(alone.status.code(), Some(2));
    assert!(text(&alone).contains("was interrupted after"), "{}", text(&alone));

    let resumed = orrery(&["run", ECHO, "--resume", &dir.arg("out"), "--json"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    std::fs::write(dir.join("second.jsonl"), &resumed.stdout).expect("write");
    let (second, _) = records(&dir.join("second.jsonl"));
    let rest = seeds(&second);
    assert!(rest.iter().all(|seed| !set.contains(seed)), "resume runs only what is missing");
    exactly_once(&[printed.clone(), rest].concat(), "interrupted + resumed stdout");
    let (journaled, _) = records(&journal_path);
    exactly_once(&seeds(&journaled), "the journal after resume");

    let fingerprint = uninterrupted_fingerprint(&dir);
    assert_eq!(summary(&second)["sweep_fingerprint"].as_str(), Some(fingerprint.as_str()));
    assert_eq!(summary(&second)["seeds_run"].as_u64(), Some(RANGE_LEN));
    for inputs in [
        vec![dir.arg("first.jsonl"), dir.arg("second.jsonl")],
        vec![journal_path.display().to_string()],
    ] {
        let mut args = vec!["merge", "--json"];
        args.extend(inputs.iter().map(String::as_str));
        let merged = orrery(&args);
        assert_eq!(merged.status.code(), Some(0), "{inputs:?}: {}", text(&merged));
        std::fs::write(dir.join("merged.jsonl"), &merged.stdout).expect("write");
        let (merged, _) = records(&dir.join("merged.jsonl"));
        assert_eq!(
            summary(&merged)["sweep_fingerprint"].as_str(),
            Some(fingerprint.as_str()),
            "{inputs:?}"
        );
        exactly_once(&seeds(&merged), "merged");
    }

    // Resuming a finished sweep runs nothing, gives the same summary, and leaves the journal
    // as mergeable as it was.
    let again = orrery(&["run", ECHO, "--resume", &dir.arg("out"), "--json"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    std::fs::write(dir.join("again.jsonl"), &again.stdout).expect("write");
    let (again, _) = records(&dir.join("again.jsonl"));
    assert!(seeds(&again).is_empty(), "nothing left to run");
    assert_eq!(summary(&again)["sweep_fingerprint"].as_str(), Some(fingerprint.as_str()));
    let merged = orrery(&["merge", &journal_path.display().to_string()]);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
}

// Proves SIGKILL (no chance to wind down) loses no finished seed: the journal holds each
// finished seed once, a torn last line is never accepted (merge refuses it, naming file and
// line; resume drops it and runs its seed again), and the resumed journal merges to the
// uninterrupted run's fingerprint.
#[test]
fn sigkill_loses_no_finished_seed_and_a_torn_line_is_never_accepted() {
    let dir = TempDir::new("sigkill");
    let ended = interrupted(&dir, libc::SIGKILL, 300);
    assert_eq!(ended.signal, Some(libc::SIGKILL));
    let journal_path = journal(&dir.join("out"));
    let (journaled, _) = records(&journal_path);
    let finished: Vec<u64> = seeds(&journaled);
    assert!(finished.len() >= 300);
    let unique: BTreeSet<u64> = finished.iter().copied().collect();
    assert_eq!(unique.len(), finished.len(), "each finished seed is journaled once");
    let (printed, _) = records(&dir.join("first.jsonl"));
    assert!(
        seeds(&printed).iter().all(|seed| unique.contains(seed)),
        "stdout holds only finished seeds"
    );

    // Whatever the kill left, tear the last line on purpose: the write a kill interrupts.
    let mut bytes = std::fs::read(&journal_path).expect("journal");
    let last = journaled.last().expect("records").to_string();
    bytes.extend_from_slice(&last.as_bytes()[..last.len() / 2]);
    std::fs::write(&journal_path, &bytes).expect("tear the journal");
    let torn_line = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    let refused = orrery(&["merge", &journal_path.display().to_string()]);
    assert_eq!(refused.status.code(), Some(2));
    let at = format!("{}:{torn_line}: the last line is cut short", journal_path.display());
    assert!(text(&refused).contains(&at), "{}", text(&refused));

    let resumed = orrery(&["run", ECHO, "--resume", &dir.arg("out")]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    assert!(
        text(&resumed).contains("the last line was cut short by the kill"),
        "{}",
        text(&resumed)
    );
    let (after, torn) = records(&journal_path);
    assert!(torn.is_none(), "the torn line was cut off before appending");
    exactly_once(&seeds(&after), "the journal after resume");
    let merged = orrery(&["merge", &journal_path.display().to_string()]);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    let fingerprint = uninterrupted_fingerprint(&dir);
    assert!(
        text(&merged).contains(&format!("sweep fingerprint {fingerprint}")),
        "{}",
        text(&merged)
    );
    assert!(
        text(&resumed).contains(&format!("sweep fingerprint {fingerprint}")),
        "{}",
        text(&resumed)
    );
}

// Proves SIGTERM is handled like SIGINT, with its own exit code (143).
#[test]
fn sigterm_exits_143_with_a_partial_summary() {
    let dir = TempDir::new("sigterm");
    let ended = interrupted(&dir, libc::SIGTERM, 100);
    assert_eq!(ended.code, Some(143), "{}", ended.stderr);
    assert!(ended.stderr.contains("seeds run (SIGTERM)"), "{}", ended.stderr);
    assert!(ended.stderr.contains("resume with: "), "{}", ended.stderr);
}

// Proves a sweep over 10^9 seeds (and one over 10^11, which once tried to allocate 800 GB)
// starts at once, and stays in a fixed memory bound until it is interrupted: seeds are drawn
// lazily and nothing per seed is kept.
#[test]
fn a_billion_seed_sweep_starts_at_once_in_flat_memory() {
    const RSS_MAX: u64 = 64 << 20;
    for range in ["0..1000000000", "0..100000000000"] {
        let dir = TempDir::new("billion");
        let child = spawn(
            &["run", ECHO, "--seeds", range, "--json", "--out", &dir.arg("out")],
            &dir.join("out.jsonl"),
        );
        let seen = wait_for_lines(&dir.join("out.jsonl"), 200, Duration::from_secs(20));
        assert!(seen >= 200, "{range}: the first seeds are out within seconds ({seen} lines)");
        let mut samples = Vec::new();
        for _ in 0..10 {
            samples.extend(common::rss_bytes(&child));
            std::thread::sleep(Duration::from_millis(100));
        }
        signal(&child, libc::SIGINT);
        let ended = wait(child, Duration::from_secs(30));
        assert_eq!(ended.code, Some(130), "{range}: {}", ended.stderr);
        assert!(
            ended.max_rss_bytes > 0 && ended.max_rss_bytes < RSS_MAX,
            "{range}: peak RSS {} bytes",
            ended.max_rss_bytes
        );
        let (first, last) =
            (samples.first().copied().unwrap_or(0), samples.last().copied().unwrap_or(0));
        assert!(
            last < first + (8 << 20),
            "{range}: RSS grew from {first} to {last} bytes while running"
        );
        let (records, torn) = records(&dir.join("out.jsonl"));
        assert!(torn.is_none());
        let planned = range.trim_start_matches("0..");
        assert_eq!(summary(&records)["seeds_planned"].to_string(), planned);
        eprintln!(
            "{range}: peak RSS {:.1} MiB, {} seeds run before SIGINT",
            ended.max_rss_bytes as f64 / 1048576.0,
            seeds(&records).len()
        );
    }
}
