//! The one backend trait: every operation of the protocol, implemented by the simulated world
//! (`SimulatedBackend`) and by a cluster of real processes. The server decodes a request,
//! calls `handle`, and encodes what comes back; nothing else knows which backend it serves.
//!
//! Long operations (`step`, `run-until`, `wait-healthy`, `status-stream`) work in slices and
//! ask their `Progress` between slices whether the client cancelled, so a cancel takes
//! effect at the next slice boundary and what ran before it is kept.

use super::reply::{
    ErrorCode, ErrorReply, HealthReply, PingReply, Reply, SnapshotInfo, StatusReply, StopReply,
    StreamEnd,
};
use super::request::Request;

/// What an operation returns: its reply, or an error reply the client sees with its code.
pub type OpResult<T> = Result<T, ErrorReply>;

/// What a long operation may ask of whoever serves it, between slices of work.
pub trait Progress {
    /// Whether the client cancelled the request.
    fn cancelled(&mut self) -> bool;
    /// Sends one item of a stream; `false` if nobody is listening any more.
    fn item(&mut self, status: StatusReply) -> bool;
}

/// A `Progress` that never cancels and drops stream items: for driving a backend directly.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn cancelled(&mut self) -> bool {
        false
    }
    fn item(&mut self, _status: StatusReply) -> bool {
        true
    }
}

/// A node lifecycle operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAction {
    Pause,
    Resume,
    Restart,
    Add,
    Remove,
}

/// A fault to apply now.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Nodes in different groups cannot reach each other; `duration_nanos` 0: until healed.
    Partition {
        groups: Vec<Vec<u32>>,
        duration_nanos: u64,
    },
    Heal,
    SetLink {
        from: u32,
        to: u32,
        latency_nanos: u64,
        loss_probability: f64,
    },
    ClockJump {
        node: u32,
        offset_nanos: i64,
        drift_ppm: i64,
    },
    /// `node` may be `ALL_NODES`.
    DiskFault {
        node: u32,
        read_error_probability: f64,
        write_error_probability: f64,
        read_corruption_probability: f64,
        crash_at_operation: u64,
    },
}

/// Every operation of the protocol, over some world.
pub trait Backend {
    /// `simulated` or `processes`.
    fn kind(&self) -> &'static str;
    fn ping(&mut self) -> PingReply;
    /// Starts the run (a simulation arms its scenario's fault schedule).
    fn start(&mut self) -> OpResult<StatusReply>;
    /// Ends the run: the final status and every check's verdict.
    fn stop(&mut self) -> OpResult<StopReply>;
    fn health(&mut self) -> HealthReply;
    /// Runs until healthy, for at most `budget_nanos`.
    fn wait_healthy(
        &mut self,
        budget_nanos: u64,
        progress: &mut dyn Progress,
    ) -> OpResult<HealthReply>;
    fn status(&mut self) -> StatusReply;
    /// Runs, sending a status through `progress` every `every_events` events or
    /// `every_nanos` of time, at most `items_max` items (0: no limit).
    fn status_stream(
        &mut self,
        every_events: u64,
        every_nanos: u64,
        items_max: u64,
        progress: &mut dyn Progress,
    ) -> OpResult<StreamEnd>;
    fn node(&mut self, action: NodeAction, node: u32) -> OpResult<StatusReply>;
    /// Processes `events` events.
    fn step(&mut self, events: u64, progress: &mut dyn Progress) -> OpResult<StatusReply>;
    /// Runs until `time_nanos`, or until `check` holds.
    fn run_until(
        &mut self,
        time_nanos: u64,
        check: Option<&str>,
        progress: &mut dyn Progress,
    ) -> OpResult<StatusReply>;
    fn fault(&mut self, fault: Fault) -> OpResult<StatusReply>;
    fn snapshot_save(&mut self, name: &str) -> OpResult<SnapshotInfo>;
    fn snapshot_load(&mut self, name: &str) -> OpResult<StatusReply>;
    fn snapshot_remove(&mut self, name: &str) -> OpResult<SnapshotInfo>;
    fn snapshot_list(&mut self) -> Vec<SnapshotInfo>;
}

/// Serves one request with `backend`. `hello`, `version` and `shutdown` belong to the server
/// (it answers them itself); here they are refused.
pub fn handle(
    backend: &mut dyn Backend,
    request: Request,
    progress: &mut dyn Progress,
) -> OpResult<Reply> {
    Ok(match request {
        Request::Ping => Reply::Ping(backend.ping()),
        Request::Start => Reply::Status(backend.start()?),
        Request::Stop => Reply::Stop(backend.stop()?),
        Request::Health => Reply::Health(backend.health()),
        Request::WaitHealthy { budget_nanos } => {
            Reply::Health(backend.wait_healthy(budget_nanos, progress)?)
        }
        Request::Status => Reply::Status(backend.status()),
        Request::StatusStream { every_events, every_nanos, items_max } => {
            if every_events == 0 && every_nanos == 0 {
                return Err(ErrorReply::new(
                    ErrorCode::BadRequest,
                    "a status stream needs every_events or every_nanos above 0",
                ));
            }
            Reply::StreamEnd(backend.status_stream(
                every_events,
                every_nanos,
                items_max,
                progress,
            )?)
        }
        Request::Pause { node } => Reply::Status(backend.node(NodeAction::Pause, node)?),
        Request::Resume { node } => Reply::Status(backend.node(NodeAction::Resume, node)?),
        Request::Restart { node } => Reply::Status(backend.node(NodeAction::Restart, node)?),
        Request::AddNode { node } => Reply::Status(backend.node(NodeAction::Add, node)?),
        Request::RemoveNode { node } => Reply::Status(backend.node(NodeAction::Remove, node)?),
        Request::Step { events } => Reply::Status(backend.step(events, progress)?),
        Request::RunUntil { time_nanos, check } => {
            Reply::Status(backend.run_until(time_nanos, check.as_deref(), progress)?)
        }
        Request::Partition { groups, duration_nanos } => {
            Reply::Status(backend.fault(Fault::Partition { groups, duration_nanos })?)
        }
        Request::Heal => Reply::Status(backend.fault(Fault::Heal)?),
        Request::SetLink { from, to, latency_nanos, loss_probability } => {
            Reply::Status(backend.fault(Fault::SetLink {
                from,
                to,
                latency_nanos,
                loss_probability,
            })?)
        }
        Request::ClockJump { node, offset_nanos, drift_ppm } => {
            Reply::Status(backend.fault(Fault::ClockJump { node, offset_nanos, drift_ppm })?)
        }
        Request::DiskFault {
            node,
            read_error_probability,
            write_error_probability,
            read_corruption_probability,
            crash_at_operation,
        } => Reply::Status(backend.fault(Fault::DiskFault {
            node,
            read_error_probability,
            write_error_probability,
            read_corruption_probability,
            crash_at_operation,
        })?),
        Request::SnapshotSave { name } => Reply::Snapshot(backend.snapshot_save(&name)?),
        Request::SnapshotLoad { name } => Reply::Status(backend.snapshot_load(&name)?),
        Request::SnapshotRemove { name } => Reply::Snapshot(backend.snapshot_remove(&name)?),
        Request::SnapshotList => Reply::Snapshots(backend.snapshot_list()),
        Request::Hello { .. } | Request::Version | Request::Shutdown => {
            return Err(ErrorReply::new(
                ErrorCode::Failed,
                "hello, version and shutdown are answered by the server",
            ))
        }
    })
}
