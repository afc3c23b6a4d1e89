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
//! - `logs_agree` (invariant): at every sequence, every node's committed bytes are identical.
//! - `tail_monotonic` (invariant): no node's committed tail ever moves backwards.
//! - `one_leader_per_component` (invariant): at most one leader per connected component, once
//!   the component and its members' roles, epochs and leaders have not changed for two
//!   election timeouts (elections have settled).
//! - `converges` (liveness): after the heal every node follows one leader in its epoch and has
//!   committed everything committed anywhere at the heal. Scenarios give it a deadline of
//!   5 heartbeats.

mod checks;
mod log;
mod message;
mod replica;
mod rtt;

pub use log::Log;
pub use message::{Entry, Message};
pub use replica::{Config, Election, Replica, Role};

use orrery_sim::harness::{build_world, Harness};
use orrery_sim::scenario::RunPlan;
use orrery_sim::workload::{
    CheckKind, CheckSpec, ParamKind, ParamSpec, ParamValue, ParamsExt, Registry, Setup, Simulation,
    Workload,
};
use orrery_sim::{Duration, Process};

/// Adds this module's workloads to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(Replog);
}

/// The `replog` workload.
pub struct Replog;

impl Workload for Replog {
    fn name(&self) -> &'static str {
        "replog"
    }

    fn description(&self) -> &'static str {
        "a leader/replica append-only log with heartbeats, pulls and a nearest-RTT election"
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "election",
                kind: ParamKind::Text,
                default: ParamValue::Text("epoch_quorum".to_string()),
                doc: "nearest_rtt (the rule under test, unsafe) or epoch_quorum (the fix)",
            },
            ParamSpec {
                name: "heartbeat_interval",
                kind: ParamKind::Duration,
                default: ParamValue::Duration(Duration::from_millis(50)),
                doc: "time between heartbeats (and pings); 3 silent heartbeats start an election",
            },
            ParamSpec {
                name: "append_interval",
                kind: ParamKind::Duration,
                default: ParamValue::Duration(Duration::from_millis(10)),
                doc: "time between the leader's appends",
            },
            ParamSpec {
                name: "pull_batch",
                kind: ParamKind::Int,
                default: ParamValue::Int(1024),
                doc: "entries per pull answer at most",
            },
        ]
    }

    fn checks(&self) -> Vec<CheckSpec> {
        vec![
            CheckSpec {
                name: "logs_agree",
                kind: CheckKind::Invariant,
                doc: "every node's committed bytes are identical at every sequence",
            },
            CheckSpec {
                name: "tail_monotonic",
                kind: CheckKind::Invariant,
                doc: "no node's committed tail moves backwards",
            },
            CheckSpec {
                name: "one_leader_per_component",
                kind: CheckKind::Invariant,
                doc: "once elections settle, each connected component has at most one leader",
            },
            CheckSpec {
                name: "converges",
                kind: CheckKind::Liveness,
                doc: "after heal, all follow one leader and hold everything committed before",
            },
        ]
    }

    fn instantiate(
        &self,
        plan: &RunPlan,
        setup: &Setup<'_>,
    ) -> Result<Box<dyn Simulation>, String> {
        let election = match setup.params.get("election") {
            Some(ParamValue::Text(text)) if text == "nearest_rtt" => Election::NearestRtt,
            Some(ParamValue::Text(text)) if text == "epoch_quorum" => Election::EpochQuorum,
            other => {
                let given = other.map_or("nothing".to_string(), |value| format!("`{value}`"));
                return Err(format!(
                    "replog election must be nearest_rtt or epoch_quorum, not {given}"
                ));
            }
        };
        let pull_batch = setup.params.int("pull_batch");
        if pull_batch < 1 {
            return Err(format!("replog pull_batch must be at least 1, not {pull_batch}"));
        }
        let config = Config {
            election,
            heartbeat_interval: setup.params.duration("heartbeat_interval"),
            append_interval: setup.params.duration("append_interval"),
            pull_batch: pull_batch as usize,
            uncommitted_max: 64,
        };
        if config.heartbeat_interval.is_zero() || config.append_interval.is_zero() {
            return Err("replog intervals must be longer than zero".to_string());
        }
        let n_nodes = setup.n_nodes;
        let world = build_world::<Message>(plan, setup, |_spec| {
            let mut first_boot = true;
            Some(Box::new(move |node| {
                let replica = Replica::new(config, node, n_nodes, first_boot);
                first_boot = false;
                Box::new(replica) as Box<dyn Process<Message>>
            }))
        })?;
        let settle = config.election_timeout() * 2;
        let harness = Harness::new(world, &plan.checks)
            .invariant("logs_agree", checks::logs_agree())
            .invariant("tail_monotonic", checks::tail_monotonic())
            .invariant("one_leader_per_component", checks::one_leader_per_component(settle))
            .liveness("converges", checks::converges());
        Ok(Box::new(harness))
    }
}
