//! `orrery shrink` and `orrery run --shrink` end to end: what lands in the capsule, that the
//! shrunk scenario fails the same check when run, that nothing is overwritten, exit codes, and
//! the history of a linearizability failure as EDN that `check-history` judges the same way.

mod common;

use std::path::{Path, PathBuf};

use common::{orrery, text, TempDir};

/// The one capsule directory under `out`.
fn capsule(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("out")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// Proves a capsule's summary says how to shrink it, and `shrink CAPSULE` writes shrunk.yaml,
// its trace, picture and summary into the capsule and prints the summary line; that `run shrunk.yaml --seed N` fails the same check; and that
// shrinking again writes shrunk-2.yaml, the same bytes, leaving shrunk.yaml as it was.
#[test]
fn shrink_writes_a_scenario_that_fails_the_same_check() {
    let out = TempDir::new("shrink-cli-capsule");
    let run = orrery(&[
        "run",
        "scenarios/bugs/raft-kv-no-step-down.yaml",
        "--seed",
        "0",
        "--out",
        &out.arg(""),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let dir = capsule(&out.0);
    let hint = format!("shrink {}", dir.display());
    assert!(read(&dir.join("summary.txt")).contains(&hint), "the capsule says how to shrink it");
    let shrink = orrery(&["shrink", &dir.display().to_string(), "--jobs", "2"]);
    assert_eq!(shrink.status.code(), Some(0), "{}", text(&shrink));
    let printed = text(&shrink);
    let first = printed.lines().next().unwrap_or("");
    assert!(first.starts_with("shrunk: 4 faults -> "), "{printed}");
    assert!(first.contains(" events -> ") && first.contains(" candidates, "), "{printed}");
    assert!(printed.contains("1-minimal: no single remaining fault can be removed"), "{printed}");
    for file in ["shrunk.yaml", "shrunk-trace.txt", "shrunk.txt", "shrunk.html"] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let yaml = read(&dir.join("shrunk.yaml"));
    assert!(
        yaml.starts_with("# Shrunk by orrery from scenario raft-kv-no-step-down, seed 0:"),
        "{yaml}"
    );
    assert!(yaml.contains("# removed: "), "{yaml}");
    assert!(read(&dir.join("summary.txt")).contains("shrunk.yaml: shrunk: 4 faults -> "));
    let replay = orrery(&[
        "run",
        &dir.join("shrunk.yaml").display().to_string(),
        "--seed",
        "0",
        "--out",
        &out.arg("replay"),
    ]);
    let replayed = text(&replay);
    assert!(
        replayed.contains(
            "ORRERY FAIL scenario=raft-kv-no-step-down-shrunk seed=0 check=one_leader_per_term"
        ),
        "{replayed}"
    );
    assert_eq!(replay.status.code(), Some(0), "the bug scenario's expect: fail holds: {replayed}");
    let again = orrery(&["shrink", &dir.display().to_string(), "--jobs", "1"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(read(&dir.join("shrunk.yaml")), yaml, "shrunk.yaml was overwritten");
    assert_eq!(read(&dir.join("shrunk-2.yaml")), yaml, "one thread and two differ");
    assert!(text(&again).contains("shrunk-2.yaml"));
}

// Proves `shrink SCENARIO --seed N` makes the failure's capsule in --out first, with the
// original's plan and trace next to the shrunk scenario.
#[test]
fn shrink_of_a_scenario_makes_its_capsule() {
    let out = TempDir::new("shrink-cli-scenario");
    let shrink = orrery(&[
        "shrink",
        "scenarios/bugs/wal-kv-ack-before-sync.yaml",
        "--seed",
        "0",
        "--out",
        &out.arg(""),
    ]);
    assert_eq!(shrink.status.code(), Some(0), "{}", text(&shrink));
    let dir = capsule(&out.0);
    assert!(dir.ends_with("wal-kv-ack-before-sync-seed-0"), "{}", dir.display());
    for file in
        ["plan.yaml", "trace.txt", "index.html", "summary.txt", "shrunk.yaml", "shrunk-trace.txt"]
    {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    assert!(read(&dir.join("shrunk-trace.txt")).contains("stop reason=invariant:reads_fresh"));
}

// Proves a seed that passes, a capsule asked for another seed, and a missing file are input
// errors (exit 2) that say so.
#[test]
fn nothing_to_shrink_is_an_input_error() {
    let out = TempDir::new("shrink-cli-errors");
    let passes =
        orrery(&["shrink", "scenarios/smoke/echo.yaml", "--seed", "0", "--out", &out.arg("")]);
    assert_eq!(passes.status.code(), Some(2), "{}", text(&passes));
    assert!(
        text(&passes).contains("seed 0 passes: there is no failure to shrink"),
        "{}",
        text(&passes)
    );
    let run = orrery(&[
        "run",
        "scenarios/bugs/replog-nearest-rtt-split-brain.yaml",
        "--out",
        &out.arg(""),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let dir = capsule(&out.0).display().to_string();
    let other = orrery(&["shrink", &dir, "--seed", "3"]);
    assert_eq!(other.status.code(), Some(2), "{}", text(&other));
    assert!(text(&other).contains("a capsule shrinks its own seed 0"), "{}", text(&other));
    let missing = orrery(&["shrink", "scenarios/bugs/no-such.yaml"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
}

// Proves `run --shrink` shrinks the first failure of the sweep into its capsule and points at
// it, and that a linearizability failure's capsule holds the history as EDN (before and
// after shrinking) and the checker's witness, which check-history judges the same way.
#[test]
fn run_shrink_points_at_the_shrunk_scenario_and_keeps_the_history() {
    let out = TempDir::new("shrink-cli-run");
    let run = orrery(&[
        "run",
        "scenarios/bugs/raft-kv-stale-reads.yaml",
        "--seeds",
        "0..1",
        "--shrink",
        "--out",
        &out.arg(""),
    ]);
    let printed = text(&run);
    assert_eq!(run.status.code(), Some(0), "{printed}");
    let dir = capsule(&out.0);
    let fail_line = printed.find("ORRERY FAIL").expect("the failure line");
    let shrunk_line = printed.find("\nshrunk: 6 faults -> ").expect("the shrink's summary line");
    assert!(fail_line < shrunk_line, "{printed}");
    let shrunk_yaml = dir.join("shrunk.yaml").display().to_string();
    assert!(printed.contains(&format!("shrunk scenario: {shrunk_yaml}")), "{printed}");
    assert!(printed.contains(&format!("run {shrunk_yaml} --seed 0")), "{printed}");
    let witness = read(&dir.join("witness.txt"));
    assert!(witness.starts_with("linearizable failed: not linearizable"), "{witness}");
    assert!(witness.contains("longest linearizable prefix"), "{witness}");
    for history in ["history.edn", "shrunk-history.edn"] {
        let path = dir.join(history).display().to_string();
        let check = orrery(&["check-history", "--model", "kv", &path]);
        assert_eq!(check.status.code(), Some(1), "{history}: {}", text(&check));
        assert!(text(&check).contains("not linearizable"), "{history}: {}", text(&check));
    }
    assert!(read(&dir.join("shrunk-witness.txt")).contains("longest linearizable prefix"));
}

// Proves `orrery list` marks the parameters shrinking may lower, and only those.
#[test]
fn list_marks_the_parameters_shrinking_may_lower() {
    let list = orrery(&["list"]);
    let printed = text(&list);
    assert!(printed.contains("param keys: integer >= 1 = 3 [shrinks]"), "{printed}");
    assert!(printed.contains("param events: integer >= 1 = 120 [shrinks]"), "{printed}");
    let bug = printed.lines().find(|l| l.contains("param bug:")).unwrap_or("");
    assert!(!bug.contains("[shrinks]"), "{bug}");
}
