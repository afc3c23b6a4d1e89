//! wal-kv end to end: the correct server survives 1,000 seeds of crashes and restarts, the
//! planted `ack_before_sync` bug is found within its scenario's stated seeds, and the fault
//! mix of the smoke scenario really does crash, tear and lose.

mod common;

use orrery_sim::scenario;
use orrery_sim::workload::ParamValue;
use orrery_sim::TestRun;

const SMOKE: &str = "scenarios/smoke/wal-kv.yaml";
const BUG: &str = "scenarios/bugs/wal-kv-ack-before-sync.yaml";
const FRESHNESS: [&str; 2] = ["reads_fresh", "acknowledged_writes_durable"];

// Proves the correct server loses no acknowledged put over 1,000 seeds of server restarts,
// swarm crashes, power cuts inside disk operations, torn/lost/reordered unsynced writes and
// disk I/O errors.
#[test]
fn correct_version_survives_1000_seeds_of_crashes_and_restarts() {
    common::assert_passes(SMOKE, 0..1000);
}

// Proves a sweep finds acknowledge-before-sync within the bug scenario's stated seeds by a
// freshness check (not a panic or a limit), while the correct server passes the same seeds.
#[test]
fn ack_before_sync_is_found_within_the_stated_seeds() {
    let none = ParamValue::Text("none".into());
    let (found, within) = common::assert_bug_found(BUG, "bug", none, &FRESHNESS);
    assert!(found * 2 >= within as usize, "found by only {found} of {within} seeds");
}

// Proves the smoke scenario's faults are not idle: over a few seeds the server's disk crashes
// with unsynced data lost and torn, power is cut inside disk operations, I/O errors strike,
// and recovery cuts torn tails off the log.
#[test]
fn smoke_faults_crash_tear_and_lose_unsynced_writes() {
    let total = common::chaos_disk_stats(SMOKE, 0..20);
    assert!(total.crashes > 100, "{total:?}");
    assert!(total.unsynced_changes_lost > 0 && total.unsynced_changes_torn > 0, "{total:?}");
    assert!(total.crash_points > 0, "{total:?}");
    assert!(total.write_errors_injected > 0 && total.read_errors_injected > 0, "{total:?}");
    assert!(total.truncates > 0, "recovery never cut a torn tail: {total:?}");
}

/// One restart just before the chaos phase ends, with unsynced writes lost, many keys and a
/// slow group commit: the lost acknowledged puts are still the latest of their keys when the
/// final check looks, and no read is checked.
const LOSS_AT_THE_END: &str = "
name: wal-kv-loss-at-the-end
description: one restart just before the end; only the final check is on.
topology:
  nodes:
    - {name: s0, role: server}
    - {name: c0, role: client}
    - {name: c1, role: client}
network:
  latency: {kind: uniform, min: 500us, max: 2ms}
disk: {crash_unsynced: lost}
workload:
  name: wal-kv
  params: {interval: 5ms, keys: 64, sync_interval: 20ms, bug: BUG}
faults:
  - {at: 299ms, kind: restart, node: s0}
phases: {chaos: 300ms, heal: 1ms}
checks: [acknowledged_writes_durable]
seeds: 0..10
expect: EXPECT
";

// Proves the final check bites on its own: with reads unchecked, a loss of acknowledged puts
// just before the end is caught in the recovered server's map, and the correct server passes.
#[test]
fn final_check_alone_catches_a_loss_at_the_end() {
    let yaml =
        |bug: &str, expect: &str| LOSS_AT_THE_END.replace("BUG", bug).replace("EXPECT", expect);
    let registry = orrery_workloads::registry;
    let outcome = TestRun::yaml(
        "loss-at-the-end",
        &yaml("ack_before_sync", "{fail: {within_seeds: 10}}"),
        registry(),
    )
    .assert_expected();
    assert!(outcome
        .failures()
        .all(|r| r.failure.as_ref().is_some_and(|f| f.check == FRESHNESS[1])));
    TestRun::yaml("loss-at-the-end", &yaml("none", "pass"), registry()).assert_expected();
}

// Proves what the workload cannot run is refused when the scenario loads (exit 2), never as
// per-seed failures: a misspelt bug, zero keys, a zero sync interval, no server, two servers.
#[test]
fn setup_problems_are_load_errors() {
    let two_servers = "[{name: s0, role: server}, {name: s1, role: server}, {name: c0}]";
    for (nodes, params, expected) in [
        (None, "bug: ack_before_snyc", "expected one of none, ack_before_sync"),
        (None, "keys: 0", "integer in 1..=4294967295"),
        (None, "sync_interval: 0ms", "sync_interval above zero"),
        (Some("[{name: c0}, {name: c1}]"), "", "needs at least one node with role `server`"),
        (Some(two_servers), "", "runs exactly one server, not 2"),
    ] {
        let nodes = nodes.unwrap_or("[{name: s0, role: server}, {name: c0}]");
        let text = format!(
            "name: t\ntopology: {{nodes: {nodes}}}\n\
             workload: {{name: wal-kv, params: {{{params}}}}}\n\
             phases: {{chaos: 10ms}}\nchecks: [reads_fresh]\n"
        );
        let error = match scenario::parse("t.yaml", text.as_bytes(), &orrery_workloads::registry())
        {
            Ok(_) => panic!("{params} {nodes} loaded"),
            Err(errors) => errors.to_string(),
        };
        assert!(error.contains(expected), "{params} {nodes}: {error}");
    }
}
