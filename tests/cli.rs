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

/// The command after `prefix` on the first line that has it.
fn hint<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.trim_start().strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{text}"))
}

/// Runs a printed command through the shell, from the repository root.
fn shell(command: &str) -> Output {
    Command::new("sh")
        .args(["-c", command])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("sh runs")
}

// Proves a failing seed prints the stable failure line with a replay command naming this very
// binary, and that the printed commands (from the scenario, and from the capsule) really
// replay the same failure.
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
    let expected = format!(
        "replay: {} replay scenarios/bugs/echo-corrupt-replies.yaml --seed 0",
        env!("CARGO_BIN_EXE_orrery")
    );
    assert!(all.contains(&expected), "{all}");
    let first_line = all.lines().find(|l| l.starts_with("ORRERY FAIL")).unwrap_or_default();
    let from_scenario = shell(hint(&all, "replay: "));
    assert_eq!(from_scenario.status.code(), Some(1), "{}", text(&from_scenario));
    assert!(text(&from_scenario).contains(first_line), "replay differs:\n{}", text(&from_scenario));
    // The capsule replays the same failure, by the command its summary prints.
    let capsule = out.join("echo-corrupt-replies-seed-0");
    let summary = std::fs::read_to_string(capsule.join("summary.txt")).expect("capsule summary");
    let replay = shell(hint(&summary, "replay this capsule: "));
    assert_eq!(replay.status.code(), Some(1));
    assert!(text(&replay).contains(first_line), "replay differs:\n{}", text(&replay));
    assert!(summary.contains("the re-run failed the same way"), "{summary}");
    let _ = std::fs::remove_dir_all(&out);
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

/// The `sweep_fingerprint` of the last summary record in JSON-lines output.
fn sweep_fingerprint(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| record["type"] == "summary")
        .filter_map(|record| record["sweep_fingerprint"].as_str().map(str::to_string))
        .next_back()
        .unwrap_or_default()
}

// Proves `orrery merge` accepts shard outputs that cover the range exactly once (and merges
// them to the unsharded sweep fingerprint), and refuses with exit 2 a missing shard, a
// duplicated shard and an output cut short, naming the problem.
#[test]
fn merge_checks_every_seed_appears_exactly_once() {
    let dir = std::env::temp_dir().join(format!("orrery-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "scenarios/bugs/echo-corrupt-replies.yaml", "--seeds", "0..30"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--json", "--out", dir.to_str().unwrap_or("")]);
        orrery(&args)
    };
    let whole = run(&[]);
    let mut shards = Vec::new();
    for k in 1..=3 {
        let output = run(&["--shard", &format!("{k}/3")]);
        let path = dir.join(format!("shard-{k}.jsonl"));
        std::fs::write(&path, &output.stdout).expect("write shard output");
        shards.push(path.display().to_string());
    }
    let merge = |files: &[&str], json: bool| {
        let mut args = vec!["merge"];
        args.extend_from_slice(files);
        if json {
            args.push("--json");
        }
        orrery(&args)
    };
    let files: Vec<&str> = shards.iter().map(String::as_str).collect();
    // Out of order on purpose: shard outputs may be concatenated in any order.
    let merged = merge(&[files[2], files[0], files[1]], true);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    assert_eq!(seed_records(&merged), seed_records(&whole));
    assert_eq!(sweep_fingerprint(&merged), sweep_fingerprint(&whole));
    assert!(!sweep_fingerprint(&whole).is_empty());
    let human = merge(&files, false);
    assert!(text(&human).contains("every seed of 0..30 exactly once"), "{}", text(&human));
    assert!(text(&human).contains("ORRERY FAIL scenario=echo-corrupt-replies"));

    let missing = merge(&files[..2], false);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("missing shard(s): 3/3"), "{}", text(&missing));
    assert!(text(&missing).contains("10 seed(s) of 0..30 missing: 2, 5, 8"), "{}", text(&missing));

    let twice = merge(&[files[0], files[1], files[2], files[1]], false);
    assert_eq!(twice.status.code(), Some(2));
    assert!(text(&twice).contains("shard 2/3 appears twice"), "{}", text(&twice));

    let full = std::fs::read_to_string(&shards[0]).expect("shard output");
    let cut: String = full.lines().take(4).map(|l| format!("{l}\n")).collect();
    let cut_path = dir.join("cut.jsonl");
    std::fs::write(&cut_path, cut).expect("write cut output");
    let cut_short = merge(&[cut_path.to_str().unwrap_or(""), files[1], files[2]], false);
    assert_eq!(cut_short.status.code(), Some(2));
    assert!(text(&cut_short).contains("this output was cut short"), "{}", text(&cut_short));
    let _ = std::fs::remove_dir_all(&dir);
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

// Proves `--param` and `--set` change a scenario from the command line: the planted bug
// switched on by `--param` fails with a replay command that carries the override and really
// replays the failure, `trace` and `replay` take the same flags, a misspelt parameter or a
// bad value is exit 2 naming the override and what was expected, and a trace file refuses them.
#[test]
fn param_and_set_override_a_scenario_from_the_command_line() {
    let out = std::env::temp_dir().join(format!("orrery-cli-override-{}", std::process::id()));
    let out = out.display().to_string();
    let scenario = "scenarios/smoke/echo.yaml";
    let bug = ["--param", "corrupt_replies=true"];
    let output = orrery(&[&["run", scenario, "--seeds", "0..2", "--out", &out][..], &bug].concat());
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let all = text(&output);
    let replay = hint(&all, "replay: ");
    assert!(replay.ends_with("--seed 0 --param corrupt_replies=true"), "{replay}");
    let first_line = all.lines().find(|l| l.starts_with("ORRERY FAIL")).unwrap_or_default();
    let replayed = shell(replay);
    assert_eq!(replayed.status.code(), Some(1), "{}", text(&replayed));
    assert!(text(&replayed).contains(first_line), "{}", text(&replayed));
    // Without the override the same seeds pass: the flag, not the file, planted the bug.
    let clean = orrery(&["run", scenario, "--seeds", "0..2", "--out", &out]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));

    let shorter = orrery(&["trace", scenario, "--seed", "0", "--set", "phases.chaos=4s"]);
    assert_eq!(shorter.status.code(), Some(0), "{}", text(&shorter));
    assert!(text(&shorter).contains("phase name=heal"), "{}", text(&shorter));
    assert!(text(&shorter).lines().any(|l| l.starts_with("4.000000000") && l.contains("phase")));

    for (args, said) in [
        (vec!["run", scenario, "--param", "corrupt_replie=true"], "expected one of interval"),
        (vec!["run", scenario, "--set", "phases.chaos=nope"], "--set phases.chaos=nope"),
        (vec!["run", scenario, "--param", "no-equals-sign"], "--param"),
        (vec!["replay", scenario, "--seed", "0", "--set", "topology.count=x"], "topology"),
    ] {
        let output = orrery(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}:\n{}", text(&output));
        assert!(text(&output).contains(said), "{args:?}:\n{}", text(&output));
        assert!(!text(&output).contains("panicked"), "{args:?}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

// Proves a workload that cannot be set up from the scenario (echo without a `server` node)
// is a load error, exit 2, naming what is missing, never a sweep of failed seeds.
#[test]
fn a_workload_setup_problem_is_a_load_error() {
    let dir = std::env::temp_dir().join(format!("orrery-cli-setup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("no-server.yaml");
    let yaml = "name: no-server\ntopology:\n  nodes:\n    - { name: c0, role: client }\n\
                workload: {name: echo}\nphases: {chaos: 1s}\nseeds: 0..10\n";
    std::fs::write(&path, yaml).unwrap();
    let output = orrery(&["run", &path.display().to_string(), "--out", &dir.display().to_string()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("server"), "{}", text(&output));
    assert!(!text(&output).contains("ORRERY FAIL"), "{}", text(&output));
    let _ = std::fs::remove_dir_all(&dir);
}
