//! `orrery ctl ADDR OP ...`: one operation against a control server, its reply printed as one
//! JSON line (a stream: one line per item, then its end). Exit 0 when the server did it, 1 when
//! it reported a check failing (`stop` with a failed verdict) or the cluster unhealthy
//! (`health`, `wait-healthy`), 2 for usage, an unreachable server or an error reply (printed
//! to stderr with its code).

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};

use crate::control::{
    Client, ClientError, NodeState, Reply, Request, StatusReply, Verdict, ALL_NODES,
};
use crate::time::Duration;

use super::Status;

#[derive(clap::Args, Debug)]
pub(super) struct CtlArgs {
    /// The server's address: the first line `orrery serve` prints.
    address: String,
    /// A file holding the server's token (else the ORRERY_CONTROL_TOKEN variable, if set).
    #[arg(long)]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    op: CtlOp,
}

#[derive(Subcommand, Debug)]
enum CtlOp {
    /// Server pid, world id, seed, virtual time.
    Ping,
    /// Protocol and software versions, the operations the server knows.
    Version,
    /// Start the run (arms the scenario's fault schedule).
    Start,
    /// End the run: final status and every check's verdict.
    Stop,
    /// Whether every node is up and every liveness check holds.
    Health,
    /// Run until healthy, for at most BUDGET of virtual time ("500ms").
    WaitHealthy {
        budget: Duration,
    },
    /// Time, events, fingerprint, nodes, counters.
    Status,
    /// Run, printing a status every --every-events N events or every --every T.
    StatusStream {
        #[arg(long)]
        every_events: Option<u64>,
        #[arg(long)]
        every: Option<Duration>,
        /// Stop after this many items (0: until the run halts).
        #[arg(long, default_value_t = 0)]
        items: u64,
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
    /// Process N events.
    Step {
        events: u64,
    },
    /// Run until virtual time TIME ("250ms"), or until --check holds.
    RunUntil {
        time: Duration,
        #[arg(long)]
        check: Option<String>,
    },
    /// Split the network: each GROUP is comma-separated node ids ("0,1 2").
    Partition {
        #[arg(required = true)]
        groups: Vec<String>,
        /// Heal by itself after this long.
        #[arg(long = "for")]
        duration: Option<Duration>,
    },
    /// End any partition.
    Heal,
    /// One directed link's fixed latency and loss probability.
    SetLink {
        from: u32,
        to: u32,
        latency: Duration,
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
    },
    /// A node's clock offset in nanoseconds (negative: behind) and drift.
    ClockJump {
        node: u32,
        #[arg(allow_hyphen_values = true)]
        offset_nanos: i64,
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        drift_ppm: i64,
    },
    /// A node's (or `all` nodes') disk fault rates, or a crash point.
    DiskFault {
        node: String,
        #[arg(long, default_value_t = 0.0)]
        read_error: f64,
        #[arg(long, default_value_t = 0.0)]
        write_error: f64,
        #[arg(long, default_value_t = 0.0)]
        corruption: f64,
        /// Cut the node's power at its N-th disk operation from now.
        #[arg(long, default_value_t = 0)]
        crash_at: u64,
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
    /// End the server.
    Shutdown,
}

fn request(op: &CtlOp) -> Result<Request, String> {
    let nanos = |d: &Duration| d.as_nanos();
    let probability = |name: &str, p: f64| match (0.0..=1.0).contains(&p) {
        true => Ok(p),
        false => Err(format!("--{name} {p}: expected a probability in [0, 1]")),
    };
    Ok(match op {
        CtlOp::Ping => Request::Ping,
        CtlOp::Version => Request::Version,
        CtlOp::Start => Request::Start,
        CtlOp::Stop => Request::Stop,
        CtlOp::Health => Request::Health,
        CtlOp::WaitHealthy { budget } => Request::WaitHealthy { budget_nanos: nanos(budget) },
        CtlOp::Status => Request::Status,
        CtlOp::StatusStream { every_events, every, items } => Request::StatusStream {
            every_events: every_events.unwrap_or(0),
            every_nanos: every.as_ref().map_or(0, nanos),
            items_max: *items,
        },
        CtlOp::Pause { node } => Request::Pause { node: *node },
        CtlOp::Resume { node } => Request::Resume { node: *node },
        CtlOp::Restart { node } => Request::Restart { node: *node },
        CtlOp::AddNode { node } => Request::AddNode { node: *node },
        CtlOp::RemoveNode { node } => Request::RemoveNode { node: *node },
        CtlOp::Step { events } => Request::Step { events: *events },
        CtlOp::RunUntil { time, check } => {
            Request::RunUntil { time_nanos: nanos(time), check: check.clone() }
        }
        CtlOp::Partition { groups, duration } => {
            let mut parsed = Vec::new();
            for group in groups {
                let nodes: Result<Vec<u32>, _> =
                    group.split(',').map(|node| node.trim().parse::<u32>()).collect();
                parsed.push(nodes.map_err(|_| {
                    format!("partition group `{group}`: expected node ids like `0,1`")
                })?);
            }
            Request::Partition {
                groups: parsed,
                duration_nanos: duration.as_ref().map_or(0, nanos),
            }
        }
        CtlOp::Heal => Request::Heal,
        CtlOp::SetLink { from, to, latency, loss } => Request::SetLink {
            from: *from,
            to: *to,
            latency_nanos: nanos(latency),
            loss_probability: probability("loss", *loss)?,
        },
        CtlOp::ClockJump { node, offset_nanos, drift_ppm } => {
            Request::ClockJump { node: *node, offset_nanos: *offset_nanos, drift_ppm: *drift_ppm }
        }
        CtlOp::DiskFault { node, read_error, write_error, corruption, crash_at } => {
            let node = match node.as_str() {
                "all" => ALL_NODES,
                id => id
                    .parse()
                    .map_err(|_| format!("disk-fault `{id}`: expected a node id or `all`"))?,
            };
            Request::DiskFault {
                node,
                read_error_probability: probability("read-error", *read_error)?,
                write_error_probability: probability("write-error", *write_error)?,
                read_corruption_probability: probability("corruption", *corruption)?,
                crash_at_operation: *crash_at,
            }
        }
        CtlOp::SnapshotSave { name } => Request::SnapshotSave { name: name.clone() },
        CtlOp::SnapshotLoad { name } => Request::SnapshotLoad { name: name.clone() },
        CtlOp::SnapshotRemove { name } => Request::SnapshotRemove { name: name.clone() },
        CtlOp::SnapshotList => Request::SnapshotList,
        CtlOp::Shutdown => Request::Shutdown,
    })
}

pub(super) fn ctl(args: &CtlArgs) -> Status {
    let request = match request(&args.op) {
        Ok(request) => request,
        Err(why) => return Status::BadInput(why),
    };
    let token = match super::serve::read_token(args.token_file.as_ref()) {
        Ok(token) => token,
        Err(status) => return status,
    };
    let client = match Client::connect(args.address.as_str(), token.as_deref()) {
        Ok(client) => client,
        Err(error) => return Status::BadInput(format!("{}: {error}", args.address)),
    };
    let mut call = match client.send(&request) {
        Ok(call) => call,
        Err(error) => return Status::BadInput(format!("{}: {error}", args.address)),
    };
    let mut status = Status::Passed;
    loop {
        match call.next_reply() {
            Ok(Some(reply)) => {
                let failing = match &reply {
                    Reply::Stop(stop) => stop.verdicts.iter().any(|v| v.verdict == "fail"),
                    Reply::Health(health) => !health.healthy,
                    _ => false,
                };
                if failing {
                    status = Status::Failed;
                }
                println!("{}", reply_json(&reply));
            }
            Ok(None) => return status,
            Err(ClientError::Server(error)) => {
                return Status::BadInput(format!("{}: {error}", request.op().name()))
            }
            Err(error) => return Status::BadInput(format!("{}: {error}", args.address)),
        }
    }
}

fn nodes_json(nodes: &[NodeState]) -> Value {
    nodes.iter().map(|n| json!({"id": n.id, "name": n.name, "status": n.status})).collect()
}

fn verdicts_json(verdicts: &[Verdict]) -> Value {
    verdicts
        .iter()
        .map(|v| json!({"check": v.check, "kind": v.kind, "verdict": v.verdict, "message": v.message}))
        .collect()
}

fn status_json(status: &StatusReply) -> Value {
    json!({
        "state": status.state, "time_ns": status.time_nanos, "events": status.events,
        "fingerprint": format!("{:016x}", status.fingerprint), "outcome": status.outcome,
        "nodes": nodes_json(&status.nodes), "counters": status.counters,
    })
}

/// A reply as one JSON object (fingerprints as 16 hex digits, times in nanoseconds).
fn reply_json(reply: &Reply) -> Value {
    match reply {
        Reply::Hello(hello) => json!({"protocol": hello.protocol}),
        Reply::Ping(ping) => json!({
            "pid": ping.pid, "world_id": ping.world_id, "seed": ping.seed, "time_ns": ping.time_nanos,
        }),
        Reply::Version(v) => json!({
            "protocol": v.protocol, "protocol_min": v.protocol_min, "software": v.software,
            "backend": v.backend, "ops": v.ops,
        }),
        Reply::Status(status) => status_json(status),
        Reply::Stop(stop) => {
            json!({"status": status_json(&stop.status), "verdicts": verdicts_json(&stop.verdicts)})
        }
        Reply::Health(h) => json!({
            "healthy": h.healthy, "time_ns": h.time_nanos, "nodes": nodes_json(&h.nodes),
            "failing": verdicts_json(&h.failing),
        }),
        Reply::Snapshot(s) => snapshot_json(s),
        Reply::Snapshots(list) => list.iter().map(snapshot_json).collect(),
        Reply::StreamEnd(end) => json!({"end": end.reason, "items": end.items}),
        Reply::Done => json!({"done": true}),
    }
}

fn snapshot_json(s: &crate::control::SnapshotInfo) -> Value {
    json!({
        "name": s.name, "events": s.events, "time_ns": s.time_nanos,
        "fingerprint": format!("{:016x}", s.fingerprint), "operations": s.operations,
    })
}
