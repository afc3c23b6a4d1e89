//! Replies: what a server answers, per operation, with their encodings. Lists of structured
//! items (nodes, verdicts, snapshots) hold records, so a field appended to an item is skipped
//! by older decoders too; fields marked *appended* default when a body ends before them.

use std::collections::BTreeMap;

use super::codec::{Reader, WireError, Writer};
use super::ops::Op;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest protocol version this build still understands.
pub const PROTOCOL_VERSION_MIN: u32 = 1;

/// `hello`: the server's protocol version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HelloReply {
    pub protocol: u32,
}

/// `ping`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PingReply {
    /// The server's operating-system process id.
    pub pid: u32,
    /// Which world: `scenario@seed` for a simulation, the cluster's name for real processes.
    pub world_id: String,
    pub seed: u64,
    /// Virtual time for a simulation; time since start for real processes.
    pub time_nanos: u64,
}

/// `version`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionReply {
    pub protocol: u32,
    pub protocol_min: u32,
    /// The server's software version (`orrery-sim` crate version).
    pub software: String,
    /// Which backend serves: `simulated` or `processes`.
    pub backend: String,
    /// The operation codes the server knows.
    pub ops: Vec<u16>,
}

/// One node's state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeState {
    pub id: u32,
    pub name: String,
    /// `up`, `paused`, `down` or `removed`.
    pub status: String,
}

/// The state of the world, as most operations answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusReply {
    /// `created` (not started), `running`, `halted` (the run stopped itself: a violation or
    /// a limit) or `stopped` (by `stop`).
    pub state: String,
    pub time_nanos: u64,
    pub events: u64,
    /// The run's fingerprint so far (0 where there is none, as for real processes).
    pub fingerprint: u64,
    /// How the last run operation ended: `none`, `stepped`, `time_reached`, `quiescent`,
    /// `satisfied`, `not_satisfied`, `cancelled`, `limit: ...` or `violation: check: ...`.
    pub outcome: String,
    pub nodes: Vec<NodeState>,
    /// Appended: named counters (messages sent, delivered, dropped...), sorted by name.
    pub counters: BTreeMap<String, u64>,
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    pub check: String,
    /// `invariant`, `liveness` or `final`.
    pub kind: String,
    /// `pass`, `fail` or `unknown`.
    pub verdict: String,
    pub message: String,
}

/// `stop`: the final status and every check's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StopReply {
    pub status: StatusReply,
    pub verdicts: Vec<Verdict>,
}

/// `health` and `wait-healthy`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthReply {
    pub healthy: bool,
    pub time_nanos: u64,
    pub nodes: Vec<NodeState>,
    /// The liveness checks that do not hold now.
    pub failing: Vec<Verdict>,
}

/// A saved snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotInfo {
    pub name: String,
    pub events: u64,
    pub time_nanos: u64,
    pub fingerprint: u64,
    /// Control operations the snapshot replays.
    pub operations: u64,
}

/// The last frame of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamEnd {
    /// `items_max`, `stopped` (the run ended), `quiescent`, `cancelled` or `closed`.
    pub reason: String,
    pub items: u64,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The frame could not be read (too large, reserved flags): the connection closes.
    BadFrame,
    /// The operation code is unknown to this server.
    UnknownOp,
    /// The body could not be decoded, or its values are out of range.
    BadRequest,
    /// The backend cannot do this (adding a node to a fixed simulated topology...).
    Unsupported,
    /// Not now: the run is not started, or already stopped.
    InvalidState,
    /// No such node or snapshot.
    NotFound,
    /// The client cancelled the request.
    Cancelled,
    /// The token is missing or wrong: the connection closes.
    Unauthorized,
    /// The server gave up on a request it accepted (too many connections, an internal error).
    Failed,
    /// A code this version does not know (from a newer server).
    Other(u16),
}

impl ErrorCode {
    const TABLE: [(ErrorCode, u16, &'static str); 9] = [
        (ErrorCode::BadFrame, 1, "bad_frame"),
        (ErrorCode::UnknownOp, 2, "unknown_op"),
        (ErrorCode::BadRequest, 3, "bad_request"),
        (ErrorCode::Unsupported, 4, "unsupported"),
        (ErrorCode::InvalidState, 5, "invalid_state"),
        (ErrorCode::NotFound, 6, "not_found"),
        (ErrorCode::Cancelled, 7, "cancelled"),
        (ErrorCode::Unauthorized, 8, "unauthorized"),
        (ErrorCode::Failed, 9, "failed"),
    ];

    pub fn code(self) -> u16 {
        match self {
            ErrorCode::Other(code) => code,
            known => Self::TABLE.iter().find(|row| row.0 == known).map_or(0, |row| row.1),
        }
    }

    pub fn from_code(code: u16) -> ErrorCode {
        Self::TABLE.iter().find(|row| row.1 == code).map_or(ErrorCode::Other(code), |row| row.0)
    }

    pub fn name(self) -> &'static str {
        Self::TABLE.iter().find(|row| row.0 == self).map_or("other", |row| row.2)
    }
}

/// The body of an error frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorReply {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorReply {
        ErrorReply { code, message: message.into() }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(self.code.code()).str(&self.message);
        w.finish()
    }

    pub fn decode(body: &[u8]) -> Result<ErrorReply, WireError> {
        let r = &mut Reader::new(body);
        Ok(ErrorReply { code: ErrorCode::from_code(r.u16()?), message: r.str()? })
    }
}

impl std::fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

/// A reply, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Hello(HelloReply),
    Ping(PingReply),
    Version(VersionReply),
    Status(StatusReply),
    Stop(StopReply),
    Health(HealthReply),
    Snapshot(SnapshotInfo),
    Snapshots(Vec<SnapshotInfo>),
    StreamEnd(StreamEnd),
    /// An empty reply (`shutdown`).
    Done,
}

/// Which reply an operation's response carries (stream items of `status-stream` are
/// `Status`; its end is `StreamEnd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Hello,
    Ping,
    Version,
    Status,
    Stop,
    Health,
    Snapshot,
    Snapshots,
    Done,
}

impl ReplyKind {
    pub fn of(op: Op) -> ReplyKind {
        match op {
            Op::Hello => ReplyKind::Hello,
            Op::Ping => ReplyKind::Ping,
            Op::Version => ReplyKind::Version,
            Op::Stop => ReplyKind::Stop,
            Op::Health | Op::WaitHealthy => ReplyKind::Health,
            Op::SnapshotSave | Op::SnapshotRemove => ReplyKind::Snapshot,
            Op::SnapshotList => ReplyKind::Snapshots,
            Op::Shutdown => ReplyKind::Done,
            Op::Start
            | Op::Status
            | Op::StatusStream
            | Op::Pause
            | Op::Resume
            | Op::Restart
            | Op::AddNode
            | Op::RemoveNode
            | Op::Step
            | Op::RunUntil
            | Op::Partition
            | Op::Heal
            | Op::SetLink
            | Op::ClockJump
            | Op::DiskFault
            | Op::SnapshotLoad => ReplyKind::Status,
        }
    }
}

impl Reply {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Reply::Hello(hello) => {
                w.u32(hello.protocol);
            }
            Reply::Ping(ping) => {
                w.u32(ping.pid).str(&ping.world_id).u64(ping.seed).u64(ping.time_nanos);
            }
            Reply::Version(version) => {
                w.u32(version.protocol).u32(version.protocol_min).str(&version.software);
                w.str(&version.backend).list(&version.ops, |w, code| {
                    w.u16(*code);
                });
            }
            Reply::Status(status) => write_status(&mut w, status),
            Reply::Stop(stop) => {
                w.record(|w| write_status(w, &stop.status));
                w.list(&stop.verdicts, write_verdict);
            }
            Reply::Health(health) => {
                w.bool(health.healthy).u64(health.time_nanos);
                w.list(&health.nodes, write_node).list(&health.failing, write_verdict);
            }
            Reply::Snapshot(info) => write_snapshot(&mut w, info),
            Reply::Snapshots(list) => {
                w.list(list, |w, info| {
                    w.record(|w| write_snapshot(w, info));
                });
            }
            Reply::StreamEnd(end) => {
                w.str(&end.reason).u64(end.items);
            }
            Reply::Done => {}
        }
        w.finish()
    }

    /// Decodes a reply of `kind` (a stream's last frame: use `decode_stream_end`).
    pub fn decode(kind: ReplyKind, body: &[u8]) -> Result<Reply, WireError> {
        let r = &mut Reader::new(body);
        Ok(match kind {
            ReplyKind::Hello => Reply::Hello(HelloReply { protocol: r.u32()? }),
            ReplyKind::Ping => Reply::Ping(PingReply {
                pid: r.u32()?,
                world_id: r.str()?,
                seed: r.u64()?,
                time_nanos: r.u64()?,
            }),
            ReplyKind::Version => Reply::Version(VersionReply {
                protocol: r.u32()?,
                protocol_min: r.u32()?,
                software: r.str()?,
                backend: r.str()?,
                ops: r.list(2, |r| r.u16())?,
            }),
            ReplyKind::Status => Reply::Status(read_status(r)?),
            ReplyKind::Stop => Reply::Stop(StopReply {
                status: read_status(&mut r.record()?)?,
                verdicts: r.list(4, read_verdict)?,
            }),
            ReplyKind::Health => Reply::Health(HealthReply {
                healthy: r.bool()?,
                time_nanos: r.u64()?,
                nodes: r.list(4, read_node)?,
                failing: r.list(4, read_verdict)?,
            }),
            ReplyKind::Snapshot => Reply::Snapshot(read_snapshot(r)?),
            ReplyKind::Snapshots => {
                Reply::Snapshots(r.list(4, |r| read_snapshot(&mut r.record()?))?)
            }
            ReplyKind::Done => Reply::Done,
        })
    }

    /// Decodes the body of a frame flagged STREAM_END.
    pub fn decode_stream_end(body: &[u8]) -> Result<Reply, WireError> {
        let r = &mut Reader::new(body);
        Ok(Reply::StreamEnd(StreamEnd { reason: r.str()?, items: r.u64()? }))
    }
}

fn write_status(w: &mut Writer, status: &StatusReply) {
    w.str(&status.state).u64(status.time_nanos).u64(status.events).u64(status.fingerprint);
    w.str(&status.outcome).list(&status.nodes, write_node).map_u64(&status.counters);
}

fn read_status(r: &mut Reader<'_>) -> Result<StatusReply, WireError> {
    Ok(StatusReply {
        state: r.str()?,
        time_nanos: r.u64()?,
        events: r.u64()?,
        fingerprint: r.u64()?,
        outcome: r.str()?,
        nodes: r.list(4, read_node)?,
        counters: if r.is_at_end() { BTreeMap::new() } else { r.map_u64()? },
    })
}

fn write_node(w: &mut Writer, node: &NodeState) {
    w.record(|w| {
        w.u32(node.id).str(&node.name).str(&node.status);
    });
}

fn read_node(r: &mut Reader<'_>) -> Result<NodeState, WireError> {
    let r = &mut r.record()?;
    Ok(NodeState { id: r.u32()?, name: r.str()?, status: r.str()? })
}

fn write_verdict(w: &mut Writer, verdict: &Verdict) {
    w.record(|w| {
        w.str(&verdict.check).str(&verdict.kind).str(&verdict.verdict).str(&verdict.message);
    });
}

fn read_verdict(r: &mut Reader<'_>) -> Result<Verdict, WireError> {
    let r = &mut r.record()?;
    Ok(Verdict { check: r.str()?, kind: r.str()?, verdict: r.str()?, message: r.str()? })
}

fn write_snapshot(w: &mut Writer, info: &SnapshotInfo) {
    w.str(&info.name).u64(info.events).u64(info.time_nanos).u64(info.fingerprint);
    w.u64(info.operations);
}

fn read_snapshot(r: &mut Reader<'_>) -> Result<SnapshotInfo, WireError> {
    Ok(SnapshotInfo {
        name: r.str()?,
        events: r.u64()?,
        time_nanos: r.u64()?,
        fingerprint: r.u64()?,
        operations: r.u64()?,
    })
}
