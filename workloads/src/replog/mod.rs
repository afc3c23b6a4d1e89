//! `replog`: a leader/replica append-only log, after the net-mesh seed's replicated channels,
//! with a leader election by nearest round-trip time — and the evidence that this election
//! rule is not safe, next to a fixed variant that is.
//!
//! # The protocol
//!
//! Every node of the topology is a replica; at first boot all are in epoch 1, led by `n0`.
//! - **The single writer.** The leader appends an entry (a few bytes naming the sequence,
//!   writer, epoch and a random tag) every `append_interval`.
//! - **Heartbeats and pulls.** Every `heartbeat_interval` the leader sends each peer
//!   `Heartbeat { epoch, tail, commit }`. A replica answers with `Ack { matched }` (the last
//!   sequence it knows equals the leader's log) and, when the leader's tail is past
//!   `matched`, pulls the missing range: `Pull { from: matched + 1 }`, answered by at most
//!   `pull_batch` entries; a full batch makes it pull again at once. A replica's entries
//!   past its commit point are tentative: the pulled range replaces them.
//! - **Fencing.** Every message of the leader protocol carries the sender's epoch. A node
//!   that sees a newer epoch adopts it and follows nobody until that epoch's leader speaks;
//!   a heartbeat, pull or entries from an older epoch is answered with `Stale { epoch }`.
//! - **RTTs.** Every heartbeat interval each node pings every peer; the pong echoes the
//!   ping's send time, so the sender samples the RTT on its own clock. Pings and pongs
//!   carry the sender's latest samples, so every node holds a (possibly stale) RTT matrix.
//!   A peer is *alive* to a node if it heard anything from it within the election timeout.
//!
//! # Nearest-RTT election (`election: nearest_rtt`)
//!
//! A follower that has not heard its leader for 3 heartbeats (the election timeout) takes
//! the survivors S = itself and its alive peers, minus the silent leader (and minus earlier
//! winners that never took over). For each candidate c in S its score is the sum, over the
//! other members p of S, of the RTT from c to p as this node knows it (its own sample if c
//! is itself, else c's gossiped sample; an unknown RTT counts as the election timeout). The
//! winner has the smallest score, ties going to the smallest node id. If the winner is the
//! node itself it leads at once in epoch + 1; otherwise it waits one more timeout for the
//! winner's heartbeat. A leader's appends are final immediately (its commit point is its
//! tail). Two leaders of the same epoch resolve by node id: the higher one follows the lower.
//!
//! **It is not safe**, even with symmetric fixed latencies (where every RTT ties and the
//! rule reduces to the lowest id):
//! - Nothing stops the old leader. Cut off by a partition, paused, or just unlucky with
//!   lost heartbeats, it keeps appending, while the survivors' winner appends other bytes at
//!   the same sequences: `scenarios/bugs/replog-nearest-rtt-split-brain.yaml` (one partition
//!   isolating the leader; `logs_agree` fails at seed 0, 0.65s).
//! - Survivors with different views elect different leaders in one component. Under a
//!   bridge partition each half ranks the survivors it can hear; both halves end up with a
//!   leader in the same epoch, out of each other's reach, so the id tie-break never meets:
//!   `scenarios/bugs/replog-nearest-rtt-bridge-two-leaders.yaml`
//!   (`one_leader_per_component` fails at seed 0, 1.002s).
//!
//! # Quorum election (`election: epoch_quorum`, the fix)
//!
//! The nearest-RTT ranking only orders who tries first: a node whose leader is silent waits
//! `rank × heartbeat / 4` (rank 0 is the nearest-RTT winner), then asks every peer for a
//! pre-vote, every heartbeat until a leader appears. A peer grants it only if it has not
//! heard a leader within the election timeout itself (stickiness: nobody helps depose a live
//! leader) and the candidate's log is at least as up to date as its own (last entry's epoch,
//! then tail); every answer carries the peer's epoch. With a majority of pre-votes the
//! candidate enters an epoch above its own and all its granters', and asks for real votes; a
//! node grants one vote per epoch, to an up-to-date candidate. A majority makes a leader,
//! which first appends an entry of its epoch. Entries commit once a majority holds them and
//! the highest one is of the leader's epoch (Raft's rule); only committed entries are final,
//! and replicas learn the commit point from heartbeats and entries. A leader that has not
//! heard acknowledgements from a majority within the election timeout steps down
//! (check-quorum), so a cut-off leader stops leading.
//!
//! State is in memory: a crashed node rejoins empty in epoch 0, having forgotten its votes.
//! Scenarios for `epoch_quorum` therefore pause nodes rather than crash them.
//!
//! # Checks
//! Replicas observe what they claim (see `replica`): `recovered commit` at every start and
//! `commit seq bytes` for every entry they treat as final. The safety checks fold those
//! observations, so a claim stays binding after the node that made it crashed.
//! - `logs_agree` (invariant): at every sequence, every committed copy (by any node, in any
//!   incarnation) holds identical bytes: an `Agreement` on `commit`, keyed by `seq`.
//! - `tail_monotonic` (invariant): no node's committed tail ever moves backwards, across its
//!   restarts too (a restarted replica that recovers less than it had committed fails it).
//! - `one_leader_per_component` (invariant): at most one leader per connected component, once
//!   the component and its members' roles, epochs and leaders have not changed for two
//!   election timeouts (elections have settled).
//! - `converges` (liveness): after the heal every node follows one leader in its epoch and has
//!   committed everything any node had committed by the heal. Scenarios give it a deadline of
//!   5 heartbeats.
mod checks;
mod log;
mod message;
mod replica;
mod rtt;

pub use log::Log;
pub use message::{Entry, Message};
pub use replica::{election_timeout, Replica, Role};

use orrery_sim::workload::{Agreement, Check, CheckKind, RunInfo, WorkloadDef};
use orrery_sim::{ms, Choice, Duration, Params};

/// How survivors choose a new leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Choice)]
pub enum Election {
    /// Every survivor computes the nearest-RTT winner and the winner simply takes over
    /// (the rule under test: unsafe).
    NearestRtt,
    /// Nearest RTT only orders who tries first; a majority of votes in a new epoch decides
    /// (the fix).
    #[default]
    EpochQuorum,
}

/// replog's parameters, as a scenario's `workload.params` sets them.
#[derive(Debug, Clone, Params)]
pub struct ReplogParams {
    /// How survivors elect a leader: nearest_rtt (under test, unsafe) or epoch_quorum (the fix).
    pub election: Election,
    /// Time between heartbeats (and pings); 3 silent heartbeats start an election.
    #[param(default = ms(50))]
    pub heartbeat_interval: Duration,
    /// Time between the leader's appends.
    #[param(default = ms(10))]
    pub append_interval: Duration,
    /// Entries per pull answer at most.
    #[param(default = 1024, min = 1)]
    pub pull_batch: usize,
}

/// The `replog` workload.
pub fn replog() -> WorkloadDef<Message, ReplogParams> {
    WorkloadDef::<Message, ReplogParams>::new(
        "replog",
        "a leader/replica append-only log with heartbeats, pulls and a nearest-RTT election",
    )
    .validate(|params, _| {
        match params.heartbeat_interval.is_zero() || params.append_interval.is_zero() {
            false => Ok(()),
            true => Err("replog intervals must be longer than zero".to_string()),
        }
    })
    .role("*", |init| Replica::new(init.params, init.node, init.topology.len()))
    .agreement(
        "logs_agree",
        "every node's committed bytes are identical at every sequence",
        Agreement::on("commit").key(&["seq"]).value(&["bytes"]),
    )
    .check(Check::with_logic(
        "tail_monotonic",
        CheckKind::Invariant,
        "no node's committed tail moves backwards",
        |_| checks::TailMonotonic::default(),
    ))
    .check(Check::with_logic(
        "one_leader_per_component",
        CheckKind::Invariant,
        "once elections settle, each connected component has at most one leader",
        |info: &RunInfo<ReplogParams>| {
            checks::OneLeaderPerComponent::new(election_timeout(&info.params) * 2)
        },
    ))
    .check(Check::with_logic(
        "converges",
        CheckKind::Liveness,
        "after heal, all follow one leader and hold everything committed before",
        |info: &RunInfo<ReplogParams>| checks::Converges::new(info.heal_at),
    ))
}
