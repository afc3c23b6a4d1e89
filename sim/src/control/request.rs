//! Requests: what a client asks, one variant per operation, with its body's encoding.
//!
//! Fields are encoded in the order declared here. Fields marked *appended* were (or will be)
//! added after an operation first shipped: a decoder that finds the body ending before them
//! takes the default named, and every decoder ignores bytes after the fields it knows, so
//! clients and servers of different versions still understand each other.

use super::codec::{Reader, WireError, Writer};
use super::ops::Op;

/// Every node, in a request that takes one node or all (`DiskFault`).
pub const ALL_NODES: u32 = u32::MAX;

/// A request, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// The first frame of a connection: the client's protocol version and the token a
    /// non-loopback server requires (empty otherwise).
    Hello {
        protocol: u32,
        token: String,
    },
    Ping,
    Version,
    Start,
    Stop,
    Health,
    /// Runs until healthy, for at most `budget_nanos` of (virtual, for a simulation) time.
    WaitHealthy {
        budget_nanos: u64,
    },
    Status,
    /// Runs the world, sending a status every `every_events` events or every `every_nanos`
    /// of virtual time (whichever is given; both zero is refused), `items_max` items at most
    /// (appended; 0 = until the run stops or the client cancels).
    StatusStream {
        every_events: u64,
        every_nanos: u64,
        items_max: u64,
    },
    Pause {
        node: u32,
    },
    Resume {
        node: u32,
    },
    Restart {
        node: u32,
    },
    AddNode {
        node: u32,
    },
    RemoveNode {
        node: u32,
    },
    /// Processes `events` events (fewer if the run stops).
    Step {
        events: u64,
    },
    /// Runs until virtual time `time_nanos`; with `check` (appended; default none), stops as
    /// soon as that check holds.
    RunUntil {
        time_nanos: u64,
        check: Option<String>,
    },
    /// Nodes in different groups cannot reach each other; nodes in no group reach nobody.
    /// `duration_nanos` 0 lasts until `Heal`.
    Partition {
        groups: Vec<Vec<u32>>,
        duration_nanos: u64,
    },
    Heal,
    /// One directed link's fixed latency and loss probability from now on.
    SetLink {
        from: u32,
        to: u32,
        latency_nanos: u64,
        loss_probability: f64,
    },
    /// The node's clock reads `offset_nanos` off true time and drifts `drift_ppm`.
    ClockJump {
        node: u32,
        offset_nanos: i64,
        drift_ppm: i64,
    },
    /// A node's (or `ALL_NODES`') disk fault rates; `crash_at_operation` > 0 also cuts the
    /// node's power at that disk operation from now.
    DiskFault {
        node: u32,
        read_error_probability: f64,
        write_error_probability: f64,
        read_corruption_probability: f64,
        crash_at_operation: u64,
    },
    SnapshotSave {
        name: String,
    },
    SnapshotLoad {
        name: String,
    },
    SnapshotRemove {
        name: String,
    },
    SnapshotList,
    Shutdown,
}

impl Request {
    /// The operation this request is.
    pub fn op(&self) -> Op {
        match self {
            Request::Hello { .. } => Op::Hello,
            Request::Ping => Op::Ping,
            Request::Version => Op::Version,
            Request::Start => Op::Start,
            Request::Stop => Op::Stop,
            Request::Health => Op::Health,
            Request::WaitHealthy { .. } => Op::WaitHealthy,
            Request::Status => Op::Status,
            Request::StatusStream { .. } => Op::StatusStream,
            Request::Pause { .. } => Op::Pause,
            Request::Resume { .. } => Op::Resume,
            Request::Restart { .. } => Op::Restart,
            Request::AddNode { .. } => Op::AddNode,
            Request::RemoveNode { .. } => Op::RemoveNode,
            Request::Step { .. } => Op::Step,
            Request::RunUntil { .. } => Op::RunUntil,
            Request::Partition { .. } => Op::Partition,
            Request::Heal => Op::Heal,
            Request::SetLink { .. } => Op::SetLink,
            Request::ClockJump { .. } => Op::ClockJump,
            Request::DiskFault { .. } => Op::DiskFault,
            Request::SnapshotSave { .. } => Op::SnapshotSave,
            Request::SnapshotLoad { .. } => Op::SnapshotLoad,
            Request::SnapshotRemove { .. } => Op::SnapshotRemove,
            Request::SnapshotList => Op::SnapshotList,
            Request::Shutdown => Op::Shutdown,
        }
    }

    /// The body.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Request::Hello { protocol, token } => {
                w.u32(*protocol).str(token);
            }
            Request::Ping
            | Request::Version
            | Request::Start
            | Request::Stop
            | Request::Health
            | Request::Status
            | Request::Heal
            | Request::SnapshotList
            | Request::Shutdown => {}
            Request::WaitHealthy { budget_nanos } => {
                w.u64(*budget_nanos);
            }
            Request::StatusStream { every_events, every_nanos, items_max } => {
                w.u64(*every_events).u64(*every_nanos).u64(*items_max);
            }
            Request::Pause { node }
            | Request::Resume { node }
            | Request::Restart { node }
            | Request::AddNode { node }
            | Request::RemoveNode { node } => {
                w.u32(*node);
            }
            Request::Step { events } => {
                w.u64(*events);
            }
            Request::RunUntil { time_nanos, check } => {
                w.u64(*time_nanos).opt_str(check.as_deref());
            }
            Request::Partition { groups, duration_nanos } => {
                w.list(groups, |w, group| {
                    w.list(group, |w, node| {
                        w.u32(*node);
                    });
                });
                w.u64(*duration_nanos);
            }
            Request::SetLink { from, to, latency_nanos, loss_probability } => {
                w.u32(*from).u32(*to).u64(*latency_nanos).f64(*loss_probability);
            }
            Request::ClockJump { node, offset_nanos, drift_ppm } => {
                w.u32(*node).i64(*offset_nanos).i64(*drift_ppm);
            }
            Request::DiskFault {
                node,
                read_error_probability,
                write_error_probability,
                read_corruption_probability,
                crash_at_operation,
            } => {
                w.u32(*node)
                    .f64(*read_error_probability)
                    .f64(*write_error_probability)
                    .f64(*read_corruption_probability)
                    .u64(*crash_at_operation);
            }
            Request::SnapshotSave { name }
            | Request::SnapshotLoad { name }
            | Request::SnapshotRemove { name } => {
                w.str(name);
            }
        }
        w.finish()
    }

    /// Decodes the body of a request for `op`. Bytes after the known fields are ignored.
    pub fn decode(op: Op, body: &[u8]) -> Result<Request, WireError> {
        let r = &mut Reader::new(body);
        Ok(match op {
            Op::Hello => Request::Hello { protocol: r.u32()?, token: r.str()? },
            Op::Ping => Request::Ping,
            Op::Version => Request::Version,
            Op::Start => Request::Start,
            Op::Stop => Request::Stop,
            Op::Health => Request::Health,
            Op::WaitHealthy => Request::WaitHealthy { budget_nanos: r.u64()? },
            Op::Status => Request::Status,
            Op::StatusStream => Request::StatusStream {
                every_events: r.u64()?,
                every_nanos: r.u64()?,
                items_max: r.u64_or(0)?,
            },
            Op::Pause => Request::Pause { node: r.u32()? },
            Op::Resume => Request::Resume { node: r.u32()? },
            Op::Restart => Request::Restart { node: r.u32()? },
            Op::AddNode => Request::AddNode { node: r.u32()? },
            Op::RemoveNode => Request::RemoveNode { node: r.u32()? },
            Op::Step => Request::Step { events: r.u64()? },
            Op::RunUntil => Request::RunUntil {
                time_nanos: r.u64()?,
                check: if r.is_at_end() { None } else { r.opt_str()? },
            },
            Op::Partition => Request::Partition {
                groups: r.list(4, |r| r.list(4, |r| r.u32()))?,
                duration_nanos: r.u64()?,
            },
            Op::Heal => Request::Heal,
            Op::SetLink => Request::SetLink {
                from: r.u32()?,
                to: r.u32()?,
                latency_nanos: r.u64()?,
                loss_probability: r.probability()?,
            },
            Op::ClockJump => {
                Request::ClockJump { node: r.u32()?, offset_nanos: r.i64()?, drift_ppm: r.i64()? }
            }
            Op::DiskFault => Request::DiskFault {
                node: r.u32()?,
                read_error_probability: r.probability()?,
                write_error_probability: r.probability()?,
                read_corruption_probability: r.probability()?,
                crash_at_operation: r.u64()?,
            },
            Op::SnapshotSave => Request::SnapshotSave { name: r.str()? },
            Op::SnapshotLoad => Request::SnapshotLoad { name: r.str()? },
            Op::SnapshotRemove => Request::SnapshotRemove { name: r.str()? },
            Op::SnapshotList => Request::SnapshotList,
            Op::Shutdown => Request::Shutdown,
        })
    }
}
