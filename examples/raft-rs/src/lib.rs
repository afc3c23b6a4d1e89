//! tikv's `raft` 0.7 (raft-rs, from crates.io) hosted on Orrery through its public API only:
//! every node runs a `RawNode` over a `MemStorage` rebuilt at each start from the simulated
//! disk, where the hard state lives in a `DurableCell` and the entries in a `DurableLog`.
//!
//! - Determinism: raft-rs draws its randomized election timeout from `rand::thread_rng()`,
//!   only when it resets its election clock (`election_elapsed = 0`), and reads it only in
//!   `tick`. After every call into raft-rs that left the clock at zero, the host overwrites
//!   the draw with one from `node.rng()` in the same range, so the OS draw is never read.
//! - `election_safety`: at most one leader per term, over the whole run and across crashes.
//! - `state_machine_safety`: every node applies the same entry at each index.
//! - `progress_after_heal` (liveness): a leader exists and a proposal made after the heal is
//!   applied by a majority.
//! - `forget_vote` (planted hosting bug): the vote is not persisted, so a node that restarts
//!   may vote twice in one term.

use std::error::Error;

use orrery_sim::prelude::*;
use raft::eraftpb::{ConfState, Entry, HardState, Message};
use raft::{storage::MemStorage, Config, RawNode, StateRole};

/// The workload's parameters.
#[derive(Debug, Clone, Params)]
pub struct RaftParams {
    /// Time between two ticks of a node's raft clock.
    #[param(default = ms(10))]
    pub tick: Duration,
    /// Time between a leader's proposals.
    #[param(default = ms(40))]
    pub propose_interval: Duration,
    /// raft-rs's pre-vote phase (a candidate first checks it could win).
    #[param(default = true)]
    pub pre_vote: bool,
    /// raft-rs's check-quorum (a leader that cannot reach a majority steps down).
    #[param(default = true)]
    pub check_quorum: bool,
    /// Planted hosting bug: the vote is not persisted (a restarted node may vote twice).
    pub forget_vote: bool,
}

const TICK: u64 = 0;
const PROPOSE: u64 = 1;
/// raft-rs's election timeout is drawn from `[ELECTION_TICK, 2 * ELECTION_TICK)` ticks.
const ELECTION_TICK: usize = 10;

/// One raft-rs node. `raft` is `None` until `on_start` has recovered it from the disk.
pub struct Server {
    params: RaftParams,
    raft: Option<Node>,
    /// The latest proposal time (ns since start) among the entries this node applied.
    pub applied_stamp: u64,
}

struct Node {
    raw: RawNode<MemStorage>,
    hard: DurableCell<(u64, u64, u64)>,
    log: DurableLog<(u64, Vec<u8>)>,
    leader_term: u64,
}

type Outcome = Result<(), Box<dyn Error>>;

impl Server {
    /// Whether this node's raft-rs believes it is the leader.
    pub fn is_leader(&self) -> bool {
        self.raft.as_ref().is_some_and(|r| r.raw.raft.state == StateRole::Leader)
    }

    fn recover<N: NodeApi<Message>>(&mut self, node: &mut N) -> Outcome {
        let hard = DurableCell::open(&mut node.disk(), "hard_state", (0, 0, 0))?;
        let (log, records) = DurableLog::<(u64, Vec<u8>)>::open(&mut node.disk(), "log")?;
        let voters: Vec<u64> = (1..=node.n_nodes() as u64).collect();
        let store = MemStorage::new_with_conf_state(ConfState::from((voters, vec![])));
        let entries: Vec<Entry> = (records.into_iter().zip(1..))
            .map(|((term, data), index)| Entry {
                term,
                index,
                data: data.into(),
                ..Entry::default()
            })
            .collect();
        store.wl().append(&entries)?;
        let &(term, vote, commit) = hard.get();
        store.wl().set_hardstate(HardState { term, vote, commit, ..HardState::default() });
        let config = Config {
            id: u64::from(node.id().0) + 1,
            election_tick: ELECTION_TICK,
            heartbeat_tick: 3,
            pre_vote: self.params.pre_vote,
            check_quorum: self.params.check_quorum,
            ..Config::default()
        };
        let raw = RawNode::new(&config, store, &slog::Logger::root(slog::Discard, slog::o!()))?;
        self.raft = Some(Node { raw, hard, log, leader_term: 0 });
        node.set_timer(self.params.tick, TICK);
        node.set_timer(self.params.propose_interval, PROPOSE);
        self.ready(node) // entries committed before the crash are applied again
    }

    /// Drives one `Ready`: persist entries and hard state (synced) before sending the
    /// messages that depend on them, then apply what is committed.
    fn ready<N: NodeApi<Message>>(&mut self, node: &mut N) -> Outcome {
        let Some(r) = self.raft.as_mut() else { return Ok(()) };
        if r.raw.raft.election_elapsed == 0 {
            let timeout = ELECTION_TICK + node.rng().below(ELECTION_TICK as u64) as usize;
            r.raw.raft.set_randomized_election_timeout(timeout);
        }
        if !r.raw.has_ready() {
            return Ok(());
        }
        let mut ready = r.raw.ready();
        send(node, ready.take_messages());
        if let Some(first) = ready.entries().first() {
            r.log.truncate(&mut node.disk(), first.index as usize - 1)?;
            for e in ready.entries() {
                r.log.append(&mut node.disk(), &(e.term, e.data.to_vec()))?;
            }
            r.log.sync(&mut node.disk())?;
            r.raw.mut_store().wl().append(ready.entries())?;
        }
        if let Some(hs) = ready.hs().cloned() {
            save(node, r, hs, self.params.forget_vote)?;
        }
        send(node, ready.take_persisted_messages());
        self.applied_stamp = apply(node, ready.take_committed_entries(), self.applied_stamp);
        let mut light = r.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            let hs = HardState { commit, ..r.raw.raft.hard_state() };
            save(node, r, hs, self.params.forget_vote)?;
        }
        send(node, light.take_messages());
        self.applied_stamp = apply(node, light.take_committed_entries(), self.applied_stamp);
        r.raw.advance_apply();
        if r.raw.raft.state == StateRole::Leader && r.leader_term != r.raw.raft.term {
            r.leader_term = r.raw.raft.term;
            node.observe("leader", &[("term", r.leader_term.into())]);
        }
        Ok(())
    }
}

fn save<N: NodeApi<Message>>(node: &mut N, r: &mut Node, hs: HardState, forget: bool) -> Outcome {
    let vote = if forget { 0 } else { hs.vote };
    r.hard.set(&mut node.disk(), (hs.term, vote, hs.commit))?;
    r.raw.mut_store().wl().set_hardstate(hs);
    Ok(())
}

fn send<N: NodeApi<Message>>(node: &mut N, messages: Vec<Message>) {
    for message in messages {
        node.send(NodeId(message.to as u32 - 1), message);
    }
}

/// Observes each applied entry; returns the latest proposal time seen.
fn apply<N: NodeApi<Message>>(node: &mut N, entries: Vec<Entry>, mut stamp: u64) -> u64 {
    for e in entries {
        let data = String::from_utf8_lossy(&e.data);
        let fields =
            [("index", e.index.into()), ("term", e.term.into()), ("data", (&*data).into())];
        node.observe("applied", &fields);
        let proposed_at = data.split('@').nth(1).and_then(|at| at.parse().ok());
        stamp = stamp.max(proposed_at.unwrap_or(0));
    }
    stamp
}

impl<N: NodeApi<Message>> Process<Message, N> for Server {
    fn on_start(&mut self, node: &mut N) {
        if let Err(error) = self.recover(node) {
            node.abort(&error.to_string());
        }
    }

    fn on_message(&mut self, node: &mut N, _from: NodeId, message: Message) {
        if let Some(r) = self.raft.as_mut() {
            let _ = r.raw.step(message); // a message raft-rs refuses is dropped, as on a wire
        }
        if let Err(error) = self.ready(node) {
            node.abort(&error.to_string());
        }
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, tag: u64) {
        let leader = self.is_leader();
        let Some(r) = self.raft.as_mut() else { return };
        if tag == TICK {
            r.raw.tick();
            node.set_timer(self.params.tick, TICK);
        } else {
            if leader {
                let data = format!("n{}@{}", node.id().0, node.true_now().as_nanos());
                let _ = r.raw.propose(Vec::new(), data.into_bytes());
            }
            node.set_timer(self.params.propose_interval, PROPOSE);
        }
        if let Err(error) = self.ready(node) {
            node.abort(&error.to_string());
        }
    }
}

/// The `raft-rs` workload.
pub fn raft_rs() -> WorkloadDef<Message, RaftParams> {
    WorkloadDef::<Message, RaftParams>::new("raft-rs", "tikv's raft-rs 0.7 with its state on disk")
        .role("*", |init| Server { params: init.params.clone(), raft: None, applied_stamp: 0 })
        .agreement(
            "election_safety",
            "at most one leader per term, across crashes",
            Agreement::on("leader").key(&["term"]).value_is_node(),
        )
        .agreement(
            "state_machine_safety",
            "every node applies the same entry at each index, across crashes",
            Agreement::on("applied").key(&["index"]).value(&["term", "data"]),
        )
        .liveness(
            "progress_after_heal",
            "after heal a leader exists and a proposal made after it is applied by a majority",
            |run| {
                let servers: Vec<&Server> = run.world.processes_of().map(|(_, s)| s).collect();
                let leader = servers.iter().any(|s| s.is_leader());
                let heal = run.heal_at.as_nanos();
                let applied = servers.iter().filter(|s| s.applied_stamp >= heal).count();
                match leader && applied > run.world.n_nodes() / 2 {
                    true => Ok(()),
                    false => Err(format!(
                        "leader: {leader}; {applied} of {} nodes applied a proposal made after the heal",
                        run.world.n_nodes()
                    )),
                }
            },
        )
}

/// A registry with the `raft-rs` workload, for the binary and the tests.
pub fn registry() -> orrery_sim::Registry {
    let mut registry = orrery_sim::Registry::new();
    registry.register(raft_rs());
    registry
}
