//! Tests of the simulated backend driven directly (the server's tests drive it over TCP).

use super::backend::{Backend, Fault, NoProgress, NodeAction, Progress};
use super::reply::{ErrorCode, StatusReply};
use super::simulated::SimulatedBackend;
use super::test_workload::{plan, registry};

fn backend(seed: u64) -> SimulatedBackend {
    SimulatedBackend::new(plan(seed, 0), registry()).expect("the world builds")
}

fn started(seed: u64) -> SimulatedBackend {
    let mut backend = backend(seed);
    backend.start().expect("starts");
    backend
}

/// Cancels after it has been asked `polls` times; counts stream items.
struct CancelAfter {
    polls: u32,
    items: Vec<StatusReply>,
}

impl Progress for CancelAfter {
    fn cancelled(&mut self) -> bool {
        if self.polls == 0 {
            return true;
        }
        self.polls -= 1;
        false
    }
    fn item(&mut self, status: StatusReply) -> bool {
        self.items.push(status);
        true
    }
}

// Proves a snapshot saved at event N and loaded continues with the fingerprint of the
// uninterrupted run, with control operations before and after the save, and that saving
// and loading leave no trace in the run.
#[test]
fn a_loaded_snapshot_continues_exactly_as_the_uninterrupted_run() {
    let script = |backend: &mut SimulatedBackend, save: bool| {
        backend.step(300, &mut NoProgress).expect("steps");
        let groups = vec![vec![0], vec![1, 2]];
        backend.fault(Fault::Partition { groups, duration_nanos: 0 }).expect("partitions");
        let until = backend.status().time_nanos + 40_000_000;
        backend.run_until(until, None, &mut NoProgress).expect("runs");
        if save {
            let info = backend.snapshot_save("mid").expect("saves");
            assert_eq!(info.fingerprint, backend.fingerprint());
            // Whatever happens after the save must not reach the snapshot.
            backend.fault(Fault::Heal).expect("heals");
            backend.node(NodeAction::Pause, 1).expect("pauses");
            backend.step(5_000, &mut NoProgress).expect("steps");
            let loaded = backend.snapshot_load("mid").expect("loads");
            assert_eq!((loaded.events, loaded.fingerprint), (info.events, info.fingerprint));
            assert_eq!(loaded.nodes[1].status, "up", "the pause came after the save");
        }
        backend.fault(Fault::Heal).expect("heals");
        backend.step(2_000, &mut NoProgress).expect("steps");
        backend.status()
    };
    let uninterrupted = script(&mut started(3), false);
    let restored = script(&mut started(3), true);
    assert!(uninterrupted.events > 2_000, "the run did work: {uninterrupted:?}");
    assert_eq!(restored.fingerprint, uninterrupted.fingerprint);
    assert_eq!(restored.events, uninterrupted.events);
    assert_eq!(restored.time_nanos, uninterrupted.time_nanos);
    // A different seed is a different run: the fingerprint means something.
    assert_ne!(script(&mut started(4), false).fingerprint, uninterrupted.fingerprint);
}

// Proves a snapshot is exact across every way of driving: sliced steps, runs to a time, runs
// to a check, waits for health and node operations all replay to the same fingerprint.
#[test]
fn snapshots_replay_every_driving_operation() {
    let mut backend = started(5);
    backend.run_until(10_000_000, Some("pongs_recent"), &mut NoProgress).expect("runs");
    backend.node(NodeAction::Remove, 2).expect("removes");
    backend.wait_healthy(50_000_000, &mut NoProgress).expect("waits");
    backend.node(NodeAction::Add, 2).expect("adds");
    backend.step(10_000, &mut NoProgress).expect("steps past one slice");
    let disk = Fault::DiskFault {
        node: 0,
        read_error_probability: 0.1,
        write_error_probability: 0.0,
        read_corruption_probability: 0.0,
        crash_at_operation: 0,
    };
    backend.fault(disk).expect("disk fault");
    let clock = Fault::ClockJump { node: 1, offset_nanos: -5_000_000, drift_ppm: 100 };
    backend.fault(clock).expect("clock");
    let link = Fault::SetLink { from: 1, to: 0, latency_nanos: 3_000_000, loss_probability: 0.5 };
    backend.fault(link).expect("link");
    let until = backend.status().time_nanos + 200_000_000;
    backend.run_until(until, None, &mut NoProgress).expect("runs");
    let saved = backend.snapshot_save("late").expect("saves");
    backend.step(1_000, &mut NoProgress).expect("steps");
    let before_load = backend.status();
    backend.snapshot_load("late").expect("loads");
    backend.step(1_000, &mut NoProgress).expect("steps");
    assert_eq!(backend.status().fingerprint, before_load.fingerprint);
    let list = backend.snapshot_list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0], saved);
    assert_eq!(backend.snapshot_remove("late").expect("removes"), saved);
    let missing = backend.snapshot_load("late").expect_err("gone");
    assert_eq!(missing.code, ErrorCode::NotFound);
}

// Proves the lifecycle rules: nothing advances before start, start is once, stop gives every
// check's verdict, and nothing changes the world after stop.
#[test]
fn lifecycle_is_created_running_stopped() {
    let mut backend = backend(1);
    assert_eq!(backend.status().state, "created");
    let early = backend.step(1, &mut NoProgress).expect_err("not started");
    assert_eq!(early.code, ErrorCode::InvalidState);
    assert!(early.message.contains("send start first"), "{}", early.message);
    assert_eq!(backend.start().expect("starts").state, "running");
    assert_eq!(backend.start().expect_err("twice").code, ErrorCode::InvalidState);
    backend.run_until(50_000_000, None, &mut NoProgress).expect("runs");
    let stop = backend.stop().expect("stops");
    assert_eq!(stop.status.state, "stopped");
    let names: Vec<(&str, &str, &str)> = stop
        .verdicts
        .iter()
        .map(|v| (v.check.as_str(), v.kind.as_str(), v.verdict.as_str()))
        .collect();
    assert_eq!(
        names,
        [("pongs_recent", "liveness", "pass"), ("pongs_bounded", "invariant", "pass")]
    );
    let after = backend.fault(Fault::Heal).expect_err("stopped");
    assert_eq!(after.code, ErrorCode::InvalidState);
}

// Proves a planted invariant violation halts the run with the check named in the outcome.
#[test]
fn a_violation_halts_the_run() {
    let mut backend = SimulatedBackend::new(plan(1, 5), registry()).expect("builds");
    backend.start().expect("starts");
    let status = backend.run_until(1_000_000_000, None, &mut NoProgress).expect("runs");
    assert_eq!(status.state, "halted");
    assert!(status.outcome.starts_with("violation: pongs_bounded:"), "{}", status.outcome);
    assert!(status.time_nanos < 1_000_000_000);
    let stop = backend.stop().expect("stops");
    assert_eq!(stop.verdicts[1].verdict, "fail");
}

// Proves node operations change exactly the node named, health follows them, and
// wait-healthy runs until a paused-then-resumed cluster is healthy again.
#[test]
fn node_operations_and_health() {
    let mut backend = started(2);
    backend.run_until(20_000_000, None, &mut NoProgress).expect("runs");
    assert!(backend.health().healthy, "{:?}", backend.health());
    let paused = backend.node(NodeAction::Pause, 0).expect("pauses");
    assert_eq!(paused.nodes[0].status, "paused");
    assert_eq!(paused.nodes[1].status, "up");
    assert_eq!(
        backend.node(NodeAction::Pause, 0).expect_err("twice").code,
        ErrorCode::InvalidState
    );
    let unhealthy = backend.wait_healthy(40_000_000, &mut NoProgress).expect("waits");
    assert!(!unhealthy.healthy);
    assert!(unhealthy.failing.iter().any(|v| v.check == "pongs_recent"), "{unhealthy:?}");
    backend.node(NodeAction::Resume, 0).expect("resumes");
    let healthy = backend.wait_healthy(100_000_000, &mut NoProgress).expect("waits");
    assert!(healthy.healthy, "{healthy:?}");
    assert!(healthy.time_nanos < 60_000_000 + 100_000_000);
    let restarted = backend.node(NodeAction::Restart, 1).expect("restarts");
    assert_eq!(restarted.nodes[1].status, "up");
    assert_eq!(backend.node(NodeAction::Remove, 2).expect("removes").nodes[2].status, "removed");
    let add_new = backend.node(NodeAction::Add, 7).expect_err("no node 7");
    assert_eq!(add_new.code, ErrorCode::NotFound);
    let add_present = backend.node(NodeAction::Add, 1).expect_err("present");
    assert!(add_present.message.contains("fixed at 3 nodes"), "{}", add_present.message);
}

// Proves a cancel stops a long operation at a slice boundary, keeps what ran, and a stream
// sends its items then ends with the reason.
#[test]
fn cancel_keeps_what_ran_and_streams_end_with_a_reason() {
    let mut backend = started(6);
    let mut progress = CancelAfter { polls: 3, items: Vec::new() };
    let cancelled = backend.step(1_000_000, &mut progress).expect_err("cancelled");
    assert_eq!(cancelled.code, ErrorCode::Cancelled);
    let status = backend.status();
    assert_eq!(status.events, 3 * super::simulated::STEP_SLICE_EVENTS);
    assert_eq!(status.outcome, "cancelled");
    let mut progress = CancelAfter { polls: u32::MAX, items: Vec::new() };
    let end = backend.status_stream(100, 0, 4, &mut progress).expect("streams");
    assert_eq!((end.reason.as_str(), end.items), ("items_max", 4));
    let events: Vec<u64> = progress.items.iter().map(|s| s.events).collect();
    assert_eq!(
        events,
        [status.events + 100, status.events + 200, status.events + 300, status.events + 400]
    );
    let mut progress = CancelAfter { polls: u32::MAX, items: Vec::new() };
    let end = backend.status_stream(0, 5_000_000, 3, &mut progress).expect("streams");
    assert_eq!(end.items, 3);
    let gaps: Vec<u64> =
        progress.items.windows(2).map(|w| w[1].time_nanos - w[0].time_nanos).collect();
    assert_eq!(gaps, [5_000_000, 5_000_000]);
    let mut progress = CancelAfter { polls: 2, items: Vec::new() };
    let end = backend.status_stream(0, 1_000_000_000, 0, &mut progress).expect("streams");
    assert_eq!(end.reason, "cancelled");
}
