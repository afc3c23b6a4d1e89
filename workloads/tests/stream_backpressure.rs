//! stream-backpressure end to end: the correct protocol passes 1,000 seeds of its smoke
//! scenario (10,000 of smoke and chaos with `ORRERY_NIGHTLY=1`) with every sometimes-point
//! reached, each planted bug is found by its own check within its scenario's stated seeds
//! (and by at least the documented share of them), and setup mistakes are load errors.

mod common;

use orrery_sim::scenario;
use orrery_sim::workload::ParamValue;
use orrery_sim::TestRun;

const SMOKE: &str = "scenarios/smoke/stream-backpressure.yaml";
const CHAOS: &str = "scenarios/chaos/stream-backpressure.yaml";

fn nightly() -> bool {
    std::env::var_os("ORRERY_NIGHTLY").is_some_and(|v| v == "1")
}

/// The `bug` choice that switches every planted bug off.
fn none() -> ParamValue {
    ParamValue::Text("none".into())
}

// Proves the correct protocol keeps the window, FIFO order, custody and progress over 1,000
// seeds of lost, delayed and duplicated grants, receiver pauses and sender restarts, and
// that the faults bite: every sometimes-point (a lost grant recovered by a probe, a restarted
// sender resuming mid-stream, torn checkpoints...) is reached in some seed.
#[test]
fn correct_version_passes_1000_seeds_and_reaches_every_point() {
    let outcome = TestRun::file(common::path(SMOKE), orrery_workloads::registry())
        .seeds(0..1000)
        .assert_passes();
    let never: Vec<(&str, u64)> = outcome.summary.coverage.never_reached().collect();
    assert!(never.is_empty(), "points never reached: {never:?}");
    for point in [
        "stream: a blocked sender probed",
        "stream: a grant reopened a closed window",
        "stream: a grant arrived that moved nothing",
        "stream: a restarted sender reopened its stream",
        "stream: a stream resumed mid-way",
    ] {
        assert!(outcome.summary.coverage.points.contains_key(point), "{point} not declared");
    }
}

// Proves the nightly claim: 10,000 seeds of the smoke and the chaos scenario pass (only when
// asked).
#[test]
fn nightly_correct_version_passes_10000_seeds() {
    if !nightly() {
        eprintln!("skipped: set ORRERY_NIGHTLY=1 to sweep 10,000 seeds of {SMOKE} and {CHAOS}");
        return;
    }
    common::assert_passes(SMOKE, 0..10_000);
    common::assert_passes(CHAOS, 0..10_000);
}

// Proves each planted bug is caught by the check meant for it, within its scenario's stated
// seeds, in at least the share of seeds its scenario documents, while the correct protocol
// passes the same seeds.
#[test]
fn planted_bugs_are_found_by_their_checks() {
    for (scenario, check, found_min) in [
        ("stream-backpressure-duplicate-grant", "window_respected", 95),
        ("stream-backpressure-no-credit-probe", "stream_progresses", 90),
        ("stream-backpressure-restart-resets-sequence", "fifo_delivery", 95),
        ("stream-backpressure-ack-past-gap", "acknowledged_not_lost", 95),
    ] {
        let relative = format!("scenarios/bugs/{scenario}.yaml");
        let (found, of) = common::assert_bug_found(&relative, "bug", none(), &[check]);
        assert!(found >= found_min, "{scenario}: found by {found} of {of} seeds");
    }
}

// Proves the smoke scenario's disk faults reach the sender's checkpoint: it restarts, power
// is cut inside the checkpoint's write, and the unsynced write is lost or torn.
#[test]
fn smoke_faults_cut_power_inside_the_checkpoint() {
    let total = common::chaos_disk_stats(SMOKE, 0..20);
    assert!(total.crashes > 100 && total.crash_points > 0, "{total:?}");
    assert!(total.unsynced_changes_lost + total.unsynced_changes_torn > 0, "{total:?}");
}

// Proves the chaos scenario loads and its first seeds pass in the default suite (the full
// sweep is nightly).
#[test]
fn chaos_scenario_passes_its_first_seeds() {
    common::assert_passes(CHAOS, 0..if nightly() { 1000 } else { 50 });
}

// Proves what the workload cannot run is refused when the scenario loads (exit 2), never as
// per-seed failures: a misspelt bug, a zero window, a grant batch above the window, a zero
// interval, two senders, a missing receiver.
#[test]
fn setup_problems_are_load_errors() {
    let both = "[{name: s0, role: sender}, {name: r0, role: receiver}]";
    let two_senders = "[{name: s0, role: sender}, {name: s1, role: sender}, \
                       {name: r0, role: receiver}]";
    for (nodes, params, expected) in [
        (both, "bug: stall", "expected one of none, duplicate_grant_counted_twice"),
        (both, "window: 0", "integer >= 1"),
        (both, "window: 4, grant_batch: 5", "grant_batch (5) above window (4)"),
        (both, "probe_interval: 0ms", "probe_interval must be above zero"),
        (two_senders, "", "exactly one sender and one receiver, not 2 and 1"),
        ("[{name: s0, role: sender}]", "", "needs at least one node with role `receiver`"),
    ] {
        let text = format!(
            "name: t\ntopology: {{nodes: {nodes}}}\n\
             workload: {{name: stream-backpressure, params: {{{params}}}}}\n\
             phases: {{chaos: 10ms}}\nchecks: [window_respected]\n"
        );
        let error = match scenario::parse("t.yaml", text.as_bytes(), &orrery_workloads::registry())
        {
            Ok(_) => panic!("{params} {nodes} loaded"),
            Err(errors) => errors.to_string(),
        };
        assert!(error.contains(expected), "{params} {nodes}: {error}");
    }
}
