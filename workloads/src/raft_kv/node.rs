//! A Raft server: leader election with randomized timeouts, log replication, commitment and
//! a key-value state machine, following the Raft paper's figure 2. Written once against
//! `NodeApi`, so the same code runs in simulation and on a production backing.
//!
//! Term, vote and log are made durable (see `storage`) before any message that depends on
//! them leaves the node. A disk error aborts the process, as a real server does; its
//! supervisor (the scenario's `recover` faults, and the heal phase) restarts it, and it
//! recovers from its disk alone. Reads go through the log like writes: a leader answers a
//! get only once it is committed, which proves the leader was still leader when it read.
//!
//! What the server claims is observed, for the checks to fold over the whole run (including
//! servers that have since crashed):
//! - `leader term=T`: it leads term `T` (at election, or on adopting a term while leading);
//! - `log index=I term=T prefix=D`: its log holds an entry of term `T` at `I`, and `D` is
//!   the chained digest of its log up to `I`;
//! - `applied index=I term=T session=S seq=Q`: it applied the entry at `I` (term `T`, the
//!   command `Q` of client session `S`) to its state machine.
//!
//! Each planted bug (`Bug`) removes one of these precautions.

use std::collections::{BTreeMap, BTreeSet};

use orrery_sim::durable::DurableError;
use orrery_sim::{Duration, NodeApi, NodeId, Process, TimerId};

use super::kv::Kv;
use super::log::Log;
use super::message::{Answer, Command, Entry, Message, Op};
use super::storage::Durable;
use super::{Bug, RaftKvParams};

/// What every server knows of the cluster and its timing.
#[derive(Debug, Clone)]
pub struct Config {
    pub servers: Vec<NodeId>,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    pub heartbeat_interval: Duration,
    pub entries_per_message_max: usize,
    pub bug: Bug,
}

impl Config {
    pub fn new(params: &RaftKvParams, servers: Vec<NodeId>) -> Config {
        Config {
            servers,
            election_timeout_min: params.election_timeout_min,
            election_timeout_max: params.election_timeout_max,
            heartbeat_interval: params.heartbeat_interval,
            entries_per_message_max: params.entries_per_message_max,
            bug: params.bug,
        }
    }

    fn quorum(&self) -> usize {
        self.servers.len() / 2 + 1
    }
}

const TIMER_ELECTION: u64 = 1;
const TIMER_TICK: u64 = 2;

type Result<T = ()> = std::result::Result<T, DurableError>;

/// A server process: its configuration, and its replica once recovered from disk.
pub struct Server {
    config: Config,
    pub replica: Option<Replica>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate { votes: BTreeSet<NodeId> },
    Leader { next_index: BTreeMap<NodeId, u64>, match_index: BTreeMap<NodeId, u64> },
}

/// A server's Raft state. Term and vote are the volatile copy of what `durable` holds; the
/// rest is volatile.
pub struct Replica {
    config: Config,
    pub term: u64,
    pub voted_for: Option<NodeId>,
    pub role: Role,
    pub commit_index: u64,
    applied_index: u64,
    durable: Durable,
    kv: Kv,
    leader: Option<NodeId>,
    election_timer: TimerId,
    tick_timer: TimerId,
}

impl Server {
    pub fn new(config: Config) -> Server {
        Server { config, replica: None }
    }
}

impl<N: NodeApi<Message>> Process<Message, N> for Server {
    fn on_start(&mut self, node: &mut N) {
        let opened = Durable::open(&mut node.disk());
        match opened {
            Ok(durable) => self.replica = Some(Replica::start(node, self.config.clone(), durable)),
            Err(error) => node.abort(&format!("cannot recover the raft state: {error}")),
        }
    }

    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        let Some(replica) = &mut self.replica else { return };
        if let Err(error) = replica.on_message(node, from, message) {
            node.abort(&error.to_string());
        }
    }

    fn on_timer(&mut self, node: &mut N, timer: TimerId, tag: u64) {
        let Some(replica) = &mut self.replica else { return };
        let result = match tag {
            TIMER_ELECTION if timer == replica.election_timer => {
                replica.election_timer = set_election_timer(node, &replica.config);
                replica.on_election_timeout(node)
            }
            TIMER_TICK if timer == replica.tick_timer => {
                replica.tick_timer = node.set_timer(replica.config.heartbeat_interval, TIMER_TICK);
                replica.on_tick(node);
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(error) = result {
            node.abort(&error.to_string());
        }
    }
}

fn set_election_timer(node: &mut impl NodeApi<Message>, config: &Config) -> TimerId {
    let (low, high) =
        (config.election_timeout_min.as_nanos(), config.election_timeout_max.as_nanos());
    let timeout = node.rng().uniform_u64(low, high.max(low));
    node.set_timer(Duration::from_nanos(timeout), TIMER_ELECTION)
}

impl Replica {
    /// A follower with the recovered state, its timers set.
    fn start(node: &mut impl NodeApi<Message>, config: Config, durable: Durable) -> Replica {
        Replica {
            term: durable.term(),
            voted_for: durable.voted_for(),
            role: Role::Follower,
            commit_index: 0,
            applied_index: 0,
            durable,
            kv: Kv::default(),
            leader: None,
            election_timer: set_election_timer(node, &config),
            tick_timer: node.set_timer(config.heartbeat_interval, TIMER_TICK),
            config,
        }
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader { .. })
    }

    pub fn log(&self) -> &Log {
        self.durable.log()
    }

    fn reset_election_timer(&mut self, node: &mut impl NodeApi<Message>) {
        node.cancel_timer(self.election_timer);
        self.election_timer = set_election_timer(node, &self.config);
    }

    /// Makes the in-memory term and vote durable.
    fn save_hard_state(&mut self, node: &mut impl NodeApi<Message>) -> Result {
        self.durable.save_hard_state(&mut node.disk(), self.term, self.voted_for)
    }

    fn on_message(
        &mut self,
        node: &mut impl NodeApi<Message>,
        from: NodeId,
        message: Message,
    ) -> Result {
        match message {
            Message::RequestVote { term, last_log_index, last_log_term } => {
                self.on_request_vote(node, from, term, (last_log_term, last_log_index))
            }
            Message::Vote { term, granted } => self.on_vote(node, from, term, granted),
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => {
                let prev = (prev_log_index, prev_log_term);
                self.on_append_entries(node, from, term, prev, &entries, leader_commit)
            }
            Message::AppendReply { term, success, match_index } => {
                self.on_append_reply(node, from, term, success, match_index)
            }
            Message::Request { session, seq, op } => {
                self.on_request(node, Command { client: from, session, seq, op })
            }
            Message::Reply { .. } => Ok(()),
        }
    }

    /// Adopts a newer term in memory: a new term has no vote yet, and a leader or candidate
    /// of an older term steps down (unless the planted bug keeps a leader leading, which
    /// then claims the new term).
    fn adopt_term(&mut self, node: &mut impl NodeApi<Message>, term: u64) {
        self.term = term;
        self.voted_for = None;
        if self.is_leader() && self.config.bug == Bug::NoStepDown {
            node.observe("leader", &[("term", term.into())]);
        } else {
            self.role = Role::Follower;
            self.leader = None;
        }
    }

    /// Adopts `term` if newer, durably; returns whether it was.
    fn adopt_newer_term(&mut self, node: &mut impl NodeApi<Message>, term: u64) -> Result<bool> {
        if term <= self.term {
            return Ok(false);
        }
        self.adopt_term(node, term);
        self.save_hard_state(node)?;
        Ok(true)
    }

    fn on_request_vote(
        &mut self,
        node: &mut impl NodeApi<Message>,
        candidate: NodeId,
        term: u64,
        candidate_last: (u64, u64),
    ) -> Result {
        let newer = term > self.term;
        if newer {
            self.adopt_term(node, term);
        }
        let log = self.log();
        let up_to_date = candidate_last >= (log.last_term(), log.last_index());
        let granted = term == self.term
            && self.voted_for.is_none_or(|voted| voted == candidate)
            && up_to_date;
        if granted {
            self.voted_for = Some(candidate);
            self.reset_election_timer(node);
            node.observe("vote_granted", &[("term", term.into()), ("candidate", candidate.into())]);
        }
        // The planted bug replies with the new term and vote in memory only: they reach the
        // disk with the next save, and a crash before it forgets them (as an unsynced write
        // a crash loses would).
        if (newer || granted) && self.config.bug != Bug::VoteNotPersisted {
            self.save_hard_state(node)?;
        }
        node.send(candidate, Message::Vote { term: self.term, granted });
        Ok(())
    }

    fn on_vote(
        &mut self,
        node: &mut impl NodeApi<Message>,
        voter: NodeId,
        term: u64,
        granted: bool,
    ) -> Result {
        if self.adopt_newer_term(node, term)? || term != self.term || !granted {
            return Ok(());
        }
        if let Role::Candidate { votes } = &mut self.role {
            votes.insert(voter);
            if votes.len() >= self.config.quorum() {
                self.become_leader(node);
            }
        }
        Ok(())
    }

    fn on_election_timeout(&mut self, node: &mut impl NodeApi<Message>) -> Result {
        if self.is_leader() {
            return Ok(());
        }
        self.term += 1;
        self.voted_for = Some(node.id());
        self.role = Role::Candidate { votes: BTreeSet::from([node.id()]) };
        self.leader = None;
        self.save_hard_state(node)?;
        if self.config.quorum() == 1 {
            self.become_leader(node);
        } else {
            self.request_votes(node);
        }
        Ok(())
    }

    /// Asks every server that has not granted its vote yet (again, on every tick).
    fn request_votes(&self, node: &mut impl NodeApi<Message>) {
        let Role::Candidate { votes } = &self.role else { return };
        let request = Message::RequestVote {
            term: self.term,
            last_log_index: self.log().last_index(),
            last_log_term: self.log().last_term(),
        };
        for &peer in self.config.servers.iter().filter(|peer| !votes.contains(peer)) {
            node.send(peer, request.clone());
        }
    }

    fn become_leader(&mut self, node: &mut impl NodeApi<Message>) {
        let me = node.id();
        let peers = self.config.servers.iter().filter(|&&peer| peer != me);
        let next = self.log().last_index() + 1;
        self.role = Role::Leader {
            next_index: peers.clone().map(|&peer| (peer, next)).collect(),
            match_index: peers.map(|&peer| (peer, 0)).collect(),
        };
        self.leader = Some(me);
        node.observe("leader", &[("term", self.term.into())]);
        self.on_tick(node);
    }

    /// Heartbeats and replication from a leader; repeated vote requests from a candidate.
    fn on_tick(&mut self, node: &mut impl NodeApi<Message>) {
        match &self.role {
            Role::Leader { next_index, .. } => {
                let peers: Vec<NodeId> = next_index.keys().copied().collect();
                for peer in peers {
                    self.replicate_to(node, peer);
                }
            }
            Role::Candidate { .. } => self.request_votes(node),
            Role::Follower => {}
        }
    }

    fn replicate_to(&self, node: &mut impl NodeApi<Message>, peer: NodeId) {
        let Role::Leader { next_index, .. } = &self.role else { return };
        let log = self.log();
        let next = next_index.get(&peer).copied().unwrap_or(1).clamp(1, log.last_index() + 1);
        let prev_log_index = next - 1;
        let message = Message::AppendEntries {
            term: self.term,
            prev_log_index,
            prev_log_term: log.term_at(prev_log_index).unwrap_or(0),
            entries: log.entries_from(next, self.config.entries_per_message_max),
            leader_commit: self.commit_index,
        };
        node.send(peer, message);
    }

    /// Observes the entries of the log from `first` on (just written).
    fn observe_log_from(&self, node: &mut impl NodeApi<Message>, first: u64) {
        let log = self.log();
        for index in first..=log.last_index() {
            let term = log.term_at(index).unwrap_or(0);
            let prefix = log.digest_at(index);
            node.observe(
                "log",
                &[("index", index.into()), ("term", term.into()), ("prefix", prefix.into())],
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append_entries(
        &mut self,
        node: &mut impl NodeApi<Message>,
        leader: NodeId,
        term: u64,
        (prev_index, prev_term): (u64, u64),
        entries: &[Entry],
        leader_commit: u64,
    ) -> Result {
        self.adopt_newer_term(node, term)?;
        let current = self.term;
        let refusal =
            |hint| Message::AppendReply { term: current, success: false, match_index: hint };
        // A leader refuses a second leader of its term (only a planted bug makes one).
        if term < self.term || self.is_leader() {
            node.send(leader, refusal(0));
            return Ok(());
        }
        self.role = Role::Follower;
        self.leader = Some(leader);
        self.reset_election_timer(node);
        let log = self.log();
        match log.term_at(prev_index) {
            None => {
                node.send(leader, refusal(log.last_index()));
                return Ok(());
            }
            Some(term_there) if term_there != prev_term => {
                node.send(leader, refusal(log.first_index_of_term_at(prev_index) - 1));
                return Ok(());
            }
            Some(_) => {}
        }
        // Entries the log already holds are skipped; from the first conflict on, replaced.
        let already = entries
            .iter()
            .zip(prev_index + 1..)
            .take_while(|(entry, index)| log.term_at(*index) == Some(entry.term))
            .count();
        let new_entries = &entries[already..];
        let match_index = prev_index + entries.len() as u64;
        let reply = Message::AppendReply { term: self.term, success: true, match_index };
        if new_entries.is_empty() {
            node.send(leader, reply);
        } else {
            let last_kept = prev_index + already as u64;
            self.durable.replace_entries(&mut node.disk(), last_kept, new_entries)?;
            self.observe_log_from(node, last_kept + 1);
            // The planted bug acknowledges before the sync, so a crash inside it loses
            // entries the leader counts as replicated.
            if self.config.bug == Bug::AckBeforeFsync {
                node.send(leader, reply);
                self.durable.sync_log(&mut node.disk())?;
            } else {
                self.durable.sync_log(&mut node.disk())?;
                node.send(leader, reply);
            }
        }
        let commit = leader_commit.min(match_index);
        if commit > self.commit_index {
            self.commit_index = commit;
            self.apply(node);
        }
        Ok(())
    }

    fn on_append_reply(
        &mut self,
        node: &mut impl NodeApi<Message>,
        peer: NodeId,
        term: u64,
        success: bool,
        reported_index: u64,
    ) -> Result {
        if self.adopt_newer_term(node, term)? || term != self.term {
            return Ok(());
        }
        let last_index = self.log().last_index();
        let Role::Leader { next_index, match_index } = &mut self.role else { return Ok(()) };
        let (Some(next), Some(matched)) = (next_index.get_mut(&peer), match_index.get_mut(&peer))
        else {
            return Ok(());
        };
        if success {
            *matched = (*matched).max(reported_index.min(last_index));
            *next = (*next).max(*matched + 1);
        } else {
            *next = (*next).min(reported_index + 1).max(*matched + 1);
        }
        let more = *next <= last_index;
        if success {
            self.advance_commit(node);
        }
        if more || !success {
            self.replicate_to(node, peer);
        }
        Ok(())
    }

    /// Commits the highest index a quorum holds. Only an entry of the leader's own term may
    /// be committed by counting: an older one could still be overwritten (figure 8); it
    /// becomes committed with the first own-term entry after it. The planted bug counts
    /// replicas of any term.
    fn advance_commit(&mut self, node: &mut impl NodeApi<Message>) {
        let Role::Leader { match_index, .. } = &self.role else { return };
        let own_term_only = self.config.bug != Bug::CommitPreviousTerm;
        let log = self.durable.log();
        let committed = (self.commit_index + 1..=log.last_index()).rev().find(|&index| {
            let holders = 1 + match_index.values().filter(|&&m| m >= index).count();
            holders >= self.config.quorum()
                && (!own_term_only || log.term_at(index) == Some(self.term))
        });
        if let Some(index) = committed {
            self.commit_index = index;
            self.apply(node);
        }
    }

    /// Applies committed entries in order; a leader answers the clients that asked.
    fn apply(&mut self, node: &mut impl NodeApi<Message>) {
        while self.applied_index < self.commit_index {
            let index = self.applied_index + 1;
            let Some(entry) = self.durable.log().entry(index) else { break };
            let value = self.kv.apply(&entry.command);
            let command = &entry.command;
            node.observe(
                "applied",
                &[
                    ("index", index.into()),
                    ("term", entry.term.into()),
                    ("session", command.session.into()),
                    ("seq", command.seq.into()),
                ],
            );
            if matches!(self.role, Role::Leader { .. }) {
                let answer = Answer::Done { value };
                let reply = Message::Reply { session: command.session, seq: command.seq, answer };
                node.send(command.client, reply);
            }
            self.applied_index = index;
        }
    }

    fn on_request(&mut self, node: &mut impl NodeApi<Message>, command: Command) -> Result {
        let (client, session, seq) = (command.client, command.session, command.seq);
        if !self.is_leader() {
            let answer = Answer::NotLeader { leader: self.leader };
            node.send(client, Message::Reply { session, seq, answer });
            return Ok(());
        }
        // The planted bug answers a get from this server's own copy, without a quorum.
        if let (Bug::StaleReads, Op::Get { key }) = (self.config.bug, &command.op) {
            let answer = Answer::Done { value: self.kv.read(*key) };
            node.send(client, Message::Reply { session, seq, answer });
            return Ok(());
        }
        let last = self.log().last_index();
        let entry = Entry { term: self.term, command };
        self.durable.replace_entries(&mut node.disk(), last, &[entry])?;
        self.durable.sync_log(&mut node.disk())?;
        self.observe_log_from(node, last + 1);
        self.on_tick(node);
        if self.config.quorum() == 1 {
            self.advance_commit(node);
        }
        Ok(())
    }
}
