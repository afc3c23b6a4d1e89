//! `raft-kv`: our own Raft serving a key-value store, with clients whose history must be
//! linearizable, and five planted bugs that the checks must catch.
//!
//! - Nodes with role `server` run Raft (`node`): term and vote in a durable cell, the log in
//!   a durable log (`storage`), durable before anything depending on them is sent; a
//!   restarted server recovers from its disk alone, and one whose disk fails aborts. Committed
//!   entries apply to a key-value store (`kv`). Every other node is a client (`client`) doing
//!   gets, puts and appends, recording its history as observations.
//! - Safety, over what servers observe during the whole run (crashed servers included):
//!   `one_leader_per_term`, `log_matching`, `state_machine_safety`. Liveness after heal:
//!   `leader_elected`, `clients_progress`. Final: `linearizable` (the step budget running out
//!   is reported as unknown).
//! - Planted bugs, one choice of the `bug` parameter (`Bug`), each found by a scenario in
//!   `scenarios/bugs/raft-kv-*.yaml`.

mod checks;
mod client;
mod codec;
mod kv;
mod log;
mod message;
mod node;
mod storage;

use orrery_sim::check::ModelName;
use orrery_sim::workload::{Agreement, WorkloadDef};
use orrery_sim::{ms, Choice, Duration, Encoded, Params, Wire};

pub use client::{Client, ClientConfig};
pub use codec::RaftKvCodec;
pub use log::Log;
pub use message::{Answer, Command, Entry, Message, Op};
pub use node::{Config, Replica, Role, Server};

/// Search budget of the final linearizability check.
pub const LINEARIZABILITY_STEPS_MAX: u64 = 5_000_000;

/// Which planted bug the servers have; `none` is the correct server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Choice)]
pub enum Bug {
    #[default]
    None,
    /// Reply to a vote request before the new term and vote are durable.
    VoteNotPersisted,
    /// Acknowledge appended entries before syncing the log.
    AckBeforeFsync,
    /// Commit an earlier term's entry by counting replicas (the Raft paper's figure 8).
    CommitPreviousTerm,
    /// A leader that sees a higher term adopts it but keeps leading.
    NoStepDown,
    /// A leader answers gets locally, without a quorum.
    StaleReads,
}

#[derive(Debug, Clone, Params)]
pub struct RaftKvParams {
    /// Shortest randomized election timeout.
    #[param(default = ms(150))]
    pub election_timeout_min: Duration,
    /// Longest randomized election timeout.
    #[param(default = ms(300))]
    pub election_timeout_max: Duration,
    /// Time between a leader's heartbeats.
    #[param(default = ms(30))]
    pub heartbeat_interval: Duration,
    /// Longest pause between a client's operations.
    #[param(default = ms(20))]
    pub think_time: Duration,
    /// Silence after which a client tries the next server.
    #[param(default = ms(60))]
    pub request_timeout: Duration,
    /// Time after which an operation ends fail (a get) or info (a put or append).
    #[param(default = ms(600))]
    pub operation_timeout: Duration,
    /// How many keys clients use.
    #[param(default = 3, min = 1, shrink)]
    pub keys: u64,
    /// Most log entries in one append message.
    #[param(default = 64, min = 1)]
    pub entries_per_message_max: usize,
    /// The planted bug (`none`: the correct server).
    pub bug: Bug,
}

/// The `raft-kv` workload.
pub fn raft_kv() -> WorkloadDef<Message, RaftKvParams> {
    declare(WorkloadDef::<Message, RaftKvParams>::new(
        "raft-kv",
        "our own Raft serving a key-value store; linearizability, Raft invariants, planted bugs",
    ))
}

/// `raft-kv-bytes`: the same workload with every message encoded by `RaftKvCodec` when sent
/// and decoded when delivered, the bytes the production runtime carries over TCP. Not
/// registered with the reference workloads (it finds what `raft-kv` finds, slower); the
/// production parity test sweeps it.
pub fn raft_kv_bytes() -> WorkloadDef<Message, RaftKvParams, Encoded<RaftKvCodec>> {
    declare(WorkloadDef::with_wire(
        "raft-kv-bytes",
        "raft-kv with its messages through its byte codec, as in production",
        || Encoded(RaftKvCodec),
    ))
}

/// The roles, rules and checks of raft-kv, on any wire.
fn declare<W: Wire<Message> + Send>(
    def: WorkloadDef<Message, RaftKvParams, W>,
) -> WorkloadDef<Message, RaftKvParams, W> {
    def.requires_role("server")
        .validate(|params, _| {
            let (min, max) = (params.election_timeout_min, params.election_timeout_max);
            match min <= max {
                true => Ok(()),
                false => Err(format!(
                    "election_timeout_min ({min}) is above election_timeout_max ({max})"
                )),
            }
        })
        .validate(|params, _| {
            let zero = [
                ("heartbeat_interval", params.heartbeat_interval),
                ("request_timeout", params.request_timeout),
            ]
            .into_iter()
            .find(|(_, value)| *value == Duration::ZERO);
            match zero {
                None => Ok(()),
                Some((name, _)) => Err(format!(
                    "{name} must be above zero (its timer would fire forever at one instant)"
                )),
            }
        })
        .role("server", |init| {
            Server::new(Config::new(init.params, init.nodes_with_role("server")))
        })
        .role("*", |init| {
            Client::new(ClientConfig::new(init.params, init.nodes_with_role("server")))
        })
        .agreement(
            "one_leader_per_term",
            "no two servers lead one term, over the whole run",
            Agreement::on("leader").key(&["term"]).value_is_node(),
        )
        .agreement(
            "log_matching",
            "logs with an entry of equal index and term are equal up to it",
            Agreement::on("log").key(&["index", "term"]).value(&["prefix"]),
        )
        .agreement(
            "state_machine_safety",
            "no two servers apply different entries at one index",
            Agreement::on("applied").key(&["index"]).value(&["term", "session", "seq"]),
        )
        .liveness(
            "leader_elected",
            "after heal, a leader of the latest term exists",
            checks::leader_elected,
        )
        .liveness(
            "clients_progress",
            "after heal, every client completes an operation",
            checks::clients_progress,
        )
        .linearizable(
            "linearizable",
            "the clients' history is linearizable (kv model)",
            ModelName::Kv,
            LINEARIZABILITY_STEPS_MAX,
        )
}
