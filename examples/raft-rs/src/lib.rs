//! tikv's `raft` 0.7 (raft-rs, from crates.io) hosted on Orrery through its public API only.
//! Every node runs a `RawNode` over a `MemStorage` rebuilt at each start from the simulated
//! disk, where the hard state lives in a `DurableCell` and the entries in a `DurableLog`.
//! Each callback feeds raft-rs one input (a tick, a message) and then drives its `Ready`.
//!
//! - Determinism: raft-rs draws its randomized election timeout from `rand::thread_rng()`,
//!   only when it resets its election clock (`election_elapsed = 0`), and reads it only in
//!   `tick`. After every input that left the clock at zero, the host overwrites the draw with
//!   one from `node.rng()` in the same range, so the OS draw is never read.
//! - `election_safety`: at most one leader per term, over the whole run and across crashes.
//! - `state_machine_safety`: every node applies the same entry at each index.
//! - `progress_after_heal` (liveness): a leader exists and a proposal made after the heal is
//!   applied by a majority.
//! - `forget_vote` (planted hosting bug): the vote is not persisted, so a node that restarts
//!   may vote twice in one term.

use orrery_sim::prelude::*;
use orrery_sim::workload::ensure;
use raft::eraftpb::{ConfState, Entry, HardState, Message};
use raft::{storage::MemStorage, Config, RawNode, StateRole};

/// The workload's parameters.
#[derive(Debug, Clone, Params)]
pub struct RaftParams {
    /// Time between two ticks of a node's raft clock (raft-rs's defaults: a heartbeat every
    /// 2 ticks, an election timeout of 20 to 39 ticks).
    #[param(default = ms(5))]
    pub tick: Duration,
    /// Probability that a leader proposes an entry at a tick.
    #[param(default = 0.1)]
    pub propose_probability: f64,
    /// raft-rs's pre-vote phase (a candidate first checks it could win).
    #[param(default = true)]
    pub pre_vote: bool,
    /// raft-rs's check-quorum (a leader that cannot reach a majority steps down).
    #[param(default = true)]
    pub check_quorum: bool,
    /// Planted hosting bug: the vote is not persisted (a restarted node may vote twice).
    pub forget_vote: bool,
}

/// One raft-rs node. `raft` is `None` until `on_start` has recovered it from the disk.
#[derive(Default)]
pub struct Server {
    params: RaftParams,
    raft: Option<Node>,
    /// Whether raft-rs believed it was the leader after its latest input.
    pub leader: bool,
    /// The latest proposal time (ns since start) among the entries this node applied.
    pub applied_at: u64,
}

struct Node {
    raw: RawNode<MemStorage>,
    hard: DurableCell<(u64, u64, u64)>,
    log: DurableLog<(u64, Vec<u8>)>,
}

type Outcome<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Rebuilds raft-rs's storage from the disk: entries from the log, then the hard state.
fn recover<N: NodeApi<Message>>(node: &mut N, params: &RaftParams) -> Outcome<Node> {
    let hard = DurableCell::open(&mut node.disk(), "hard_state", (0, 0, 0))?;
    let (log, records) = DurableLog::<(u64, Vec<u8>)>::open(&mut node.disk(), "log")?;
    let store = MemStorage::new_with_conf_state(ConfState::from((1..=node.n_nodes() as u64, [])));
    for ((term, data), index) in records.into_iter().zip(1..) {
        store.wl().append(&[Entry { term, index, data: data.into(), ..Default::default() }])?;
    }
    let &(term, vote, commit) = hard.get();
    store.wl().set_hardstate(HardState { term, vote, commit, ..Default::default() });
    let mut config = Config::new(u64::from(node.id().0) + 1);
    (config.pre_vote, config.check_quorum) = (params.pre_vote, params.check_quorum);
    let raw = RawNode::new(&config, store, &slog::Logger::root(slog::Discard, slog::o!()))?;
    Ok(Node { raw, hard, log })
}

impl Server {
    /// Drives raft-rs after an input; a disk error aborts the node, as a real server aborts
    /// (the scenario's supervisor restarts it).
    fn drive<N: NodeApi<Message>>(&mut self, node: &mut N) {
        if let Err(error) = self.ready(node) {
            node.abort(&error.to_string());
        }
    }

    /// Recovers at the first call. Persists entries and hard state (synced) before sending
    /// the messages that depend on them, then applies and observes what is committed.
    fn ready<N: NodeApi<Message>>(&mut self, node: &mut N) -> Outcome {
        let r = match &mut self.raft {
            Some(r) => r,
            slot => slot.insert(recover(node, &self.params)?),
        };
        if r.raw.raft.election_elapsed == 0 {
            let base = r.raw.raft.election_timeout(); // raft-rs's range: [base, 2 * base)
            let timeout = base + node.rng().below(base as u64) as usize;
            r.raw.raft.set_randomized_election_timeout(timeout);
        }
        self.leader = r.raw.raft.state == StateRole::Leader;
        let Some(mut ready) = r.raw.has_ready().then(|| r.raw.ready()) else { return Ok(()) };
        if ready.ss().is_some_and(|soft| soft.raft_state == StateRole::Leader) {
            node.observe("leader", &[("term", r.raw.raft.term.into())]);
        }
        send(node, ready.take_messages());
        if let Some(first) = ready.entries().first() {
            r.log.truncate(&mut node.disk(), first.index as usize - 1)?;
            for e in ready.entries() {
                r.log.append(&mut node.disk(), &(e.term, e.data.to_vec()))?;
            }
            r.log.sync(&mut node.disk())?;
            r.raw.mut_store().wl().append(ready.entries())?;
        }
        if let Some(hs) = ready.hs() {
            let vote = if self.params.forget_vote { 0 } else { hs.vote };
            r.hard.set(&mut node.disk(), (hs.term, vote, hs.commit))?;
        }
        send(node, ready.take_persisted_messages());
        let mut committed = ready.take_committed_entries();
        let mut light = r.raw.advance(ready);
        send(node, light.take_messages());
        committed.extend(light.take_committed_entries());
        for e in committed {
            let data = String::from_utf8_lossy(&e.data);
            let fields =
                [("index", e.index.into()), ("term", e.term.into()), ("data", (&*data).into())];
            node.observe("applied", &fields);
            self.applied_at = self.applied_at.max(data.parse().unwrap_or(0));
        }
        r.raw.advance_apply();
        Ok(())
    }
}

fn send<N: NodeApi<Message>>(node: &mut N, messages: Vec<Message>) {
    messages.into_iter().for_each(|m| node.send(NodeId(m.to as u32 - 1), m));
}

impl<N: NodeApi<Message>> Process<Message, N> for Server {
    fn on_start(&mut self, node: &mut N) {
        node.set_timer(self.params.tick, 0);
        self.drive(node); // recovers; entries committed before a crash are applied again
    }

    fn on_message(&mut self, node: &mut N, _from: NodeId, message: Message) {
        let Some(r) = &mut self.raft else { return };
        drop(r.raw.step(message)); // a message raft-rs refuses is dropped, as on a wire
        self.drive(node);
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
        node.set_timer(self.params.tick, 0);
        let Some(r) = &mut self.raft else { return };
        r.raw.tick();
        if self.leader && node.rng().bernoulli(self.params.propose_probability) {
            let data = node.true_now().as_nanos().to_string(); // when it was proposed
            drop(r.raw.propose(Vec::new(), data.into_bytes()));
        }
        self.drive(node);
    }
}

/// The `raft-rs` workload.
pub fn raft_rs() -> WorkloadDef<Message, RaftParams> {
    WorkloadDef::<Message, RaftParams>::new("raft-rs", "tikv's raft-rs 0.7 with its state on disk")
        .role("*", |init| Server { params: init.params.clone(), ..Server::default() })
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
                let servers = || run.world.processes_of::<Server>().map(|(_, s)| s);
                let leader = servers().any(|s| s.leader);
                let applied = servers().filter(|s| s.applied_at >= run.heal_at.as_nanos()).count();
                let majority = applied > run.world.n_nodes() / 2;
                ensure(leader && majority, || format!("leader: {leader}; {applied} applied"))
            },
        )
}

/// A registry with the `raft-rs` workload, for the binary and the tests.
pub fn registry() -> orrery_sim::Registry {
    orrery_sim::Registry::new().with(raft_rs())
}
