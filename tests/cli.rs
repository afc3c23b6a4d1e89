//! The `orrery` binary end to end: exit codes, smoke and planted-bug scenarios, shards,
//! thread counts, JSON lines, capsules that replay their failure.

use std::path::Path;
use std::process::{Command, Output};

fn orrery(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orrery"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the orrery binary runs")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// (seed, fingerprint, passed) of every seed record in JSON-lines output.
fn seed_records(output: &Output) -> Vec<(u64, String, bool)> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| record["type"] == "seed")
        .map(|r| {
            (
                r["seed"].as_u64().unwrap_or(u64::MAX),
                r["fingerprint"].as_str().unwrap_or("").to_string(),
                r["passed"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

// Proves every smoke scenario passes over its default seeds and every bug scenario finds its
// planted bug (exit 0 both ways).
#[test]
fn smoke_scenarios_pass_and_bug_scenarios_find_their_bug() {
    for folder in ["scenarios/smoke", "scenarios/bugs"] {
        let mut files: Vec<_> =
            std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(folder))
                .expect("scenario folder")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                .collect();
        files.sort();
        assert!(!files.is_empty(), "{folder} has no scenarios");
        for file in files {
            let out = std::env::temp_dir().join(format!("orrery-cli-test-{}", std::process::id()));
            let output =
                orrery(&["run", &file.display().to_string(), "--out", &out.display().to_string()]);
            assert_eq!(output.status.code(), Some(0), "{}:\n{}", file.display(), text(&output));
        }
    }
}

// Proves an expected failure that does not appear fails the run (exit 1), and a failing
// check in an expect-pass run exits 1 with the stable failure line and replay command.
#[test]
fn failures_exit_one_with_a_replay_line() {
    let out = std::env::temp_dir().join(format!("orrery-cli-fail-{}", std::process::id()));
    let output = orrery(&[
        "run",
        "scenarios/bugs/echo-corrupt-replies.yaml",
        "--seeds",
        "0..3",
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let all = text(&output);
    assert!(
        all.contains("ORRERY FAIL scenario=echo-corrupt-replies seed=0 check=replies_match"),
        "{all}"
    );
    assert!(all.contains(
        "replay: cargo run --release -- replay scenarios/bugs/echo-corrupt-replies.yaml --seed 0"
    ));
    // The capsule replays the same failure.
    let capsule = out.join("echo-corrupt-replies-seed-0");
    let replay = orrery(&["replay", &capsule.display().to_string()]);
    assert_eq!(replay.status.code(), Some(1));
    let first_line = all.lines().find(|l| l.starts_with("ORRERY FAIL")).unwrap_or_default();
    assert!(text(&replay).contains(first_line), "replay differs:\n{}", text(&replay));
}

// Proves shards 1/4..4/4 together run exactly the unsharded seeds with the same results, and
// that the thread count does not change any result.
#[test]
fn shards_and_thread_counts_do_not_change_results() {
    let whole = seed_records(&orrery(&[
        "run",
        "scenarios/smoke/echo.yaml",
        "--seeds",
        "0..40",
        "--json",
        "--jobs",
        "1",
    ]));
    assert_eq!(whole.len(), 40);
    let threaded = seed_records(&orrery(&[
        "run",
        "scenarios/smoke/echo.yaml",
        "--seeds",
        "0..40",
        "--json",
        "--jobs",
        "4",
    ]));
    assert_eq!(whole, threaded);
    let mut merged = Vec::new();
    for k in 1..=4 {
        let shard = format!("{k}/4");
        let records = seed_records(&orrery(&[
            "run",
            "scenarios/smoke/echo.yaml",
            "--seeds",
            "0..40",
            "--json",
            "--shard",
            &shard,
        ]));
        assert!(
            records.iter().all(|(seed, _, _)| seed % 4 == k - 1),
            "shard {shard} ran a seed it does not own"
        );
        merged.extend(records);
    }
    merged.sort();
    assert_eq!(merged, whole);
}

// Proves bad usage and bad input exit 2 with a message, never a panic.
#[test]
fn bad_input_exits_two() {
    for args in [
        vec!["run", "scenarios/smoke/echo.yaml", "--seeds", "9..3"],
        vec!["run", "scenarios/smoke/echo.yaml", "--shard", "5/4"],
        vec!["run", "no/such/file.yaml"],
        vec!["frobnicate"],
        vec!["check-history", "--model", "nonsense", "x.edn"],
    ] {
        let output = orrery(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}:\n{}", text(&output));
        assert!(!text(&output).contains("panicked"), "{args:?}");
    }
}
