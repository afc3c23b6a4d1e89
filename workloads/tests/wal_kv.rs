//! wal-kv end to end: the correct server survives 1,000 seeds of crashes and restarts, the
//! planted `ack_before_sync` bug is found within its scenario's stated seeds, and the fault
//! mix of the smoke scenario really does crash, tear and lose.

mod common;

use orrery_workloads::wal_kv;

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
    let (found, within) = common::assert_bug_found(BUG, "ack_before_sync", &FRESHNESS);
    assert!(found * 2 >= within as usize, "found by only {found} of {within} seeds");
}

// Proves the smoke scenario's faults are not idle: over a few seeds the server's disk crashes
// with unsynced data lost and torn, power is cut inside disk operations, I/O errors strike,
// and recovery cuts torn tails off the log.
#[test]
fn smoke_faults_crash_tear_and_lose_unsynced_writes() {
    let total = common::chaos_disk_stats(SMOKE, 0..20, wal_kv::build);
    assert!(total.crashes > 100, "{total:?}");
    assert!(total.unsynced_changes_lost > 0 && total.unsynced_changes_torn > 0, "{total:?}");
    assert!(total.crash_points > 0, "{total:?}");
    assert!(total.write_errors_injected > 0 && total.read_errors_injected > 0, "{total:?}");
    assert!(total.truncates > 0, "recovery never cut a torn tail: {total:?}");
}
