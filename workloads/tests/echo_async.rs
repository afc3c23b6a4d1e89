//! echo-async end to end: the async twin of `echo` passes the same scenarios and sweeps seed
//! for seed (the same verdicts, events and virtual times, since both send the same requests at
//! the same times), catches the same planted bug through the same check, and replays
//! identically over 1,000 seeds, each run twice, on one thread and on two.

use std::path::{Path, PathBuf};

use orrery_sim::runner::SeedReport;
use orrery_sim::TestRun;

fn path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// `echo`'s scenario at `relative`, run by `echo-async` instead: only the workload's name
/// changes.
fn as_async(relative: &str) -> String {
    let text = std::fs::read_to_string(path(relative)).expect("a scenario file");
    let twin = text.replacen("\n  name: echo\n", "\n  name: echo-async\n", 1);
    assert_ne!(twin, text, "{relative} names the echo workload");
    twin
}

/// What must agree seed for seed between the twins: the verdict, the events, the end time.
fn verdicts(reports: &[SeedReport]) -> Vec<(u64, Option<String>, u64, String)> {
    reports
        .iter()
        .map(|r| {
            let check = r.failure.as_ref().map(|f| f.check.clone());
            (r.seed, check, r.events, r.vtime.to_string())
        })
        .collect()
}

fn nightly() -> bool {
    std::env::var("ORRERY_NIGHTLY").as_deref() == Ok("1")
}

// Proves echo-async passes every scenario of its callback twin with the same verdict, events
// and virtual time on every seed, and finds the planted bug through `replies_match` as echo
// does (the chaos scenario: 20 seeds, all 1,000 with ORRERY_NIGHTLY=1).
#[test]
fn echo_async_passes_the_same_scenarios_and_sweeps_as_echo() {
    let zones_seeds = if nightly() { 0..1_000 } else { 0..20 };
    for (file, seeds) in [
        ("scenarios/smoke/echo.yaml", 0..200),
        ("scenarios/smoke/echo-swarm.yaml", 0..50),
        ("scenarios/bugs/echo-corrupt-replies.yaml", 0..20),
        ("scenarios/chaos/echo-zones.yaml", zones_seeds),
    ] {
        let registry = orrery_workloads::registry;
        let callback = TestRun::file(path(file), registry()).seeds(seeds.clone()).run();
        let twin = TestRun::yaml(file, &as_async(file), registry()).seeds(seeds).assert_expected();
        assert_eq!(verdicts(&twin.reports), verdicts(&callback.reports), "{file}");
        let caught: Vec<&str> =
            twin.failures().filter_map(|r| r.failure.as_ref()).map(|f| f.check.as_str()).collect();
        match file.contains("/bugs/") {
            true => assert!(!caught.is_empty() && caught.iter().all(|c| *c == "replies_match")),
            false => assert!(caught.is_empty(), "{file}: {}", twin.explain()),
        }
    }
}

// Proves echo-async is deterministic: 1,000 seeds of its smoke scenario, each run twice and
// compared, on one thread and on two, with the same fingerprint per seed whatever the thread
// count, and no two seeds alike.
#[test]
fn echo_async_replays_identically_over_a_thousand_seeds_on_one_and_two_threads() {
    let fingerprints = |jobs: usize| {
        let outcome = TestRun::file(path("scenarios/smoke/echo-async.yaml"), {
            orrery_workloads::registry()
        })
        .seeds(0..1_000)
        .jobs(jobs)
        .check_determinism()
        .assert_passes();
        assert_eq!(outcome.reports.len(), 1_000);
        outcome.reports.iter().map(|r| (r.seed, r.fingerprint)).collect::<Vec<_>>()
    };
    let one = fingerprints(1);
    assert_eq!(one, fingerprints(2), "one thread and two give the same runs");
    let distinct: std::collections::BTreeSet<u64> = one.iter().map(|(_, f)| *f).collect();
    assert_eq!(distinct.len(), 1_000, "every seed is a different run");
}
