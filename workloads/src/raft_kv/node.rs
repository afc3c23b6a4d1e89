//! A Raft server: leader election with randomized timeouts, log replication, commitment and
//! a key-value state machine, following the Raft paper's figure 2.
//!
//! Term, vote and log are written and synced (see `storage`) before any message that depends
//! on them leaves the node. Any disk error drops the volatile state and recovers from disk,
//! as a process that restarts itself would, so memory never runs ahead of the disk.
//! Reads go through the log like writes: a leader answers a get only once it is committed,
//! which proves the leader was still leader when it read.
//!
//! Each planted bug (`Bugs`) removes one of these precautions.

use std::collections::{BTreeMap, BTreeSet};

use orrery_sim::{NodeApi, Context, Duration, NodeId, Process, TimerId};

use super::kv::Kv;
use super::log::Log;
use super::message::{Answer, Command, Entry, Message, Op};
use super::storage::{self, StorageError};

/// Planted bugs; all off in the correct server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bugs {
    /// Reply to a vote request with the new term and vote written but not synced.
    pub vote_not_persisted: bool,
    /// Acknowledge appended entries before the log is synced.
    pub ack_before_fsync: bool,
    /// Commit an entry of an earlier term once a majority holds it (the paper's figure 8).
    pub commit_previous_term: bool,
    /// A leader that learns of a higher term adopts it but stays leader.
    pub no_step_down: bool,
    /// A leader answers gets from its own state machine, without asking a quorum.
    pub stale_reads: bool,
}

/// What every server knows of the cluster and its timing.
#[derive(Debug, Clone)]
pub struct Config {
    pub servers: Vec<NodeId>,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    pub heartbeat_interval: Duration,
    pub entries_per_message_max: usize,
    pub bugs: Bugs,
}

const TIMER_ELECTION: u64 = 1;
const TIMER_TICK: u64 = 2;
const TIMER_RECOVER: u64 = 3;

/// How long a server whose disk failed waits before reading its state again.
const RECOVER_RETRY: Duration = Duration::from_millis(20);

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

/// A server's Raft state. Term, vote and log mirror the disk; the rest is volatile.
pub struct Replica {
    pub term: u64,
    pub voted_for: Option<NodeId>,
    pub log: Log,
    pub role: Role,
    pub commit_index: u64,
    kv: Kv,
    /// The log digest at each index applied so far in this incarnation: what the
    /// state-machine-safety invariant compares across servers.
    pub applied: Vec<u64>,
    leader: Option<NodeId>,
    election_timer: TimerId,
    tick_timer: TimerId,
}

impl Server {
    pub fn new(config: Config) -> Server {
        Server { config, replica: None }
    }

    fn recover(&mut self, ctx: &mut Context<Message>) {
        match storage::load(ctx) {
            Ok(durable) => {
                let election_timer = set_election_timer(ctx, &self.config);
                let tick_timer = ctx.set_timer(self.config.heartbeat_interval, TIMER_TICK);
                self.replica = Some(Replica {
                    term: durable.term,
                    voted_for: durable.voted_for,
                    log: durable.log,
                    role: Role::Follower,
                    commit_index: 0,
                    kv: Kv::default(),
                    applied: Vec::new(),
                    leader: None,
                    election_timer,
                    tick_timer,
                });
            }
            Err(_) => self.fail(ctx),
        }
    }

    /// Forgets everything volatile and reads the disk again shortly.
    fn fail(&mut self, ctx: &mut Context<Message>) {
        self.replica = None;
        ctx.set_timer(RECOVER_RETRY, TIMER_RECOVER);
    }
}

impl Process<Message> for Server {
    fn on_start(&mut self, ctx: &mut Context<Message>) {
        self.recover(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<Message>, from: NodeId, message: Message) {
        let Some(replica) = &mut self.replica else { return };
        if replica.on_message(ctx, &self.config, from, message).is_err() {
            self.fail(ctx);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<Message>, timer: TimerId, tag: u64) {
        let config = &self.config;
        let result = match (&mut self.replica, tag) {
            (None, TIMER_RECOVER) => {
                self.recover(ctx);
                return;
            }
            (Some(replica), TIMER_ELECTION) if timer == replica.election_timer => {
                replica.election_timer = set_election_timer(ctx, config);
                replica.on_election_timeout(ctx, config)
            }
            (Some(replica), TIMER_TICK) if timer == replica.tick_timer => {
                replica.tick_timer = ctx.set_timer(config.heartbeat_interval, TIMER_TICK);
                replica.on_tick(ctx, config);
                Ok(())
            }
            _ => Ok(()),
        };
        if result.is_err() {
            self.fail(ctx);
        }
    }
}

fn set_election_timer(ctx: &mut Context<Message>, config: &Config) -> TimerId {
    let (low, high) =
        (config.election_timeout_min.as_nanos(), config.election_timeout_max.as_nanos());
    let timeout = ctx.rng().uniform_u64(low, high.max(low));
    ctx.set_timer(Duration::from_nanos(timeout), TIMER_ELECTION)
}

impl Replica {
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader { .. })
    }

    fn reset_election_timer(&mut self, ctx: &mut Context<Message>, config: &Config) {
        ctx.cancel_timer(self.election_timer);
        self.election_timer = set_election_timer(ctx, config);
    }

    fn on_message(
        &mut self,
        ctx: &mut Context<Message>,
        config: &Config,
        from: NodeId,
        message: Message,
    ) -> Result<(), StorageError> {
        match message {
            Message::RequestVote { term, last_log_index, last_log_term } => {
                self.on_request_vote(ctx, config, from, term, (last_log_term, last_log_index))
            }
            Message::Vote { term, granted } => self.on_vote(ctx, config, from, term, granted),
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => {
                let prev = (prev_log_index, prev_log_term);
                self.on_append_entries(ctx, config, from, term, prev, &entries, leader_commit)
            }
            Message::AppendReply { term, success, match_index } => {
                self.on_append_reply(ctx, config, from, term, success, match_index)
            }
            Message::Request { session, seq, op } => {
                self.on_request(ctx, config, Command { client: from, session, seq, op })
            }
            Message::Reply { .. } => Ok(()),
        }
    }

    /// Adopts a newer term in memory: a new term has no vote yet, and a leader or candidate
    /// of an older term steps down (unless the planted bug keeps a leader leading).
    fn adopt_term(&mut self, config: &Config, term: u64) {
        self.term = term;
        self.voted_for = None;
        if !(self.is_leader() && config.bugs.no_step_down) {
            self.role = Role::Follower;
            self.leader = None;
        }
    }

    /// Adopts `term` if newer, durably; returns whether it was.
    fn observe_term(
        &mut self,
        ctx: &mut Context<Message>,
        config: &Config,
        term: u64,
    ) -> Result<bool, StorageError> {
        if term <= self.term {
            return Ok(false);
        }
        self.adopt_term(config, term);
        storage::save_meta(ctx, self.term, self.voted_for, true)?;
        Ok(true)
    }

    fn on_request_vote(
        &mut self,
        ctx: &mut Context<Message>,
        config: &Config,
        candidate: NodeId,
        term: u64,
        candidate_last: (u64, u64),
    ) -> Result<(), StorageError> {
        let newer = term > self.term;
        if newer {
            self.adopt_term(config, term);
        }
        let up_to_date = candidate_last >= (self.log.last_term(), self.log.last_index());
        let granted = term == self.term
            && self.voted_for.is_none_or(|voted| voted == candidate)
            && up_to_date;
        if granted {
            self.voted_for = Some(candidate);
            self.reset_election_timer(ctx, config);
        }
        if newer || granted {
            // The planted bug leaves the vote in the page cache, where a crash can lose it.
            let sync = !config.bugs.vote_not_persisted;
            storage::save_meta(ctx, self.term, self.voted_for, sync)?;
        }
        ctx.send(candidate, Message::Vote { term: self.term, granted });
        Ok(())
    }

    fn on_vote(
        &mut self,
        ctx: &mut Context<Message>,
        config: &Config,
        voter: NodeId,
        term: u64,
        granted: bool,
    ) -> Result<(), StorageError> {
        if self.observe_term(ctx, config, term)? || term != self.term || !granted {
            return Ok(());
        }
        if let Role::Candidate { votes } = &mut self.role {
            votes.insert(voter);
            if votes.len() >= quorum(config) {
                self.become_leader(ctx, config);
            }
        }
        Ok(())
    }

    fn on_election_timeout(
        &mut self,
        ctx: &mut Context<Message>,
        config: &Config,
    ) -> Result<(), StorageError> {
        if self.is_leader() {
            return Ok(());
        }
        self.term += 1;
        self.voted_for = Some(ctx.id());
        self.role = Role::Candidate { votes: BTreeSet::from([ctx.id()]) };
        self.leader = None;
        storage::save_meta(ctx, self.term, self.voted_for, true)?;
        if quorum(config) == 1 {
            self.become_leader(ctx, config);
        } else {
            self.request_votes(ctx, config);
        }
        Ok(())
    }

    /// Asks every server that has not granted its vote yet (again, on every tick).
    fn request_votes(&self, ctx: &mut Context<Message>, config: &Config) {
        let Role::Candidate { votes } = &self.role else { return };
        let request = Message::RequestVote {
            term: self.term,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for &peer in config.servers.iter().filter(|peer| !votes.contains(peer)) {
            ctx.send(peer, request.clone());
        }
    }

    fn become_leader(&mut self, ctx: &mut Context<Message>, config: &Config) {
        let peers = config.servers.iter().filter(|&&peer| peer != ctx.id());
        self.role = Role::Leader {
            next_index: peers.clone().map(|&peer| (peer, self.log.last_index() + 1)).collect(),
            match_index: peers.map(|&peer| (peer, 0)).collect(),
        };
        self.leader = Some(ctx.id());
        ctx.record("elected", &[("term", self.term.into())]);
        self.on_tick(ctx, config);
    }

    /// Heartbeats and replication from a leader; repeated vote requests from a candidate.
    fn on_tick(&mut self, ctx: &mut Context<Message>, config: &Config) {
        match &self.role {
            Role::Leader { next_index, .. } => {
                let peers: Vec<NodeId> = next_index.keys().copied().collect();
                for peer in peers {
                    self.replicate_to(ctx, config, peer);
                }
            }
            Role::Candidate { .. } => self.request_votes(ctx, config),
            Role::Follower => {}
        }
    }

    fn replicate_to(&self, ctx: &mut Context<Message>, config: &Config, peer: NodeId) {
        let Role::Leader { next_index, .. } = &self.role else { return };
        let next = next_index.get(&peer).copied().unwrap_or(1).clamp(1, self.log.last_index() + 1);
        let prev_log_index = next - 1;
        let message = Message::AppendEntries {
            term: self.term,
            prev_log_index,
            prev_log_term: self.log.term_at(prev_log_index).unwrap_or(0),
            entries: self.log.entries_from(next, config.entries_per_message_max),
            leader_commit: self.commit_index,
        };
        ctx.send(peer, message);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append_entries(
        &mut self,
        ctx: &mut Context<Message>,
        config: &Config,
        leader: NodeId,
        term: u64,
        (prev_index, prev_term): (u64, u64),
        entries: &[Entry],
        leader_commit: u64,
    ) -> Result<(), StorageError> {
        self.observe_term(ctx, config, term)?;
        let refuse = |ctx: &mut Context<Message>, term: u64, hint: u64| {
            ctx.send(leader, Message::AppendReply { term, success: false, match_index: hint });
        };
        // A leader refuses a second leader of its term (only a planted bug makes one).
        if term < self.term || self.is_leader() {
            refuse(ctx, self.term, 0);
            return Ok(());
        }
        self.role = Role::Follower;
        self.leader = Some(leader);
        self.reset_election_timer(ctx, config);
        match self.log.term_at(prev_index) {
            None => {
                refuse(ctx, self.term, self.log.last_index());
                return Ok(());
            }
            Some(term_there) if term_there != prev_term => {
                refuse(ctx, self.term, self.log.first_index_of_term_at(prev_index) - 1);
                return Ok(());
            }
            Some(_) => {}
        }
        // Entries the log already holds are skipped; from the first conflict on, replaced.
        let already = entries
            .iter()
            .zip(prev_index + 1..)
            .take_while(|(entry, index)| self.log.term_at(*index) == Some(entry.term))
            .count();
        let new_entries = &entries[already..];
        let match_index = prev_index + entries.len() as u64;
        let reply = Message::AppendReply { term: self.term, success: true, match_index };
        if new_entries.is_empty() {
            ctx.send(leader, reply);
        } else {
            let last_kept = prev_index + already as u64;
            let sync_first = !config.bugs.ack_before_fsync;
            storage::write_entries(ctx, &mut self.log, last_kept, new_entries, sync_first)?;
            ctx.send(leader, reply);
            if !sync_first {
                storage::sync_log(ctx)?;
            }
        }
        let commit = leader_commit.min(match_index);
        if commit > self.commit_index {
            self.commit_index = commit;
            self.apply(ctx);
        }
        Ok(())
    }

    fn on_append_reply(
        &mut self,
        ctx: &mut Context<Message>,
        config: &Config,
        peer: NodeId,
        term: u64,
        success: bool,
        reported_index: u64,
    ) -> Result<(), StorageError> {
        if self.observe_term(ctx, config, term)? || term != self.term {
            return Ok(());
        }
        let last_index = self.log.last_index();
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
            self.advance_commit(ctx, config);
        }
        if more || !success {
            self.replicate_to(ctx, config, peer);
        }
        Ok(())
    }

    /// Commits the highest index a quorum holds. Only an entry of the leader's own term may
    /// be committed by counting: an older one could still be overwritten (figure 8); it
    /// becomes committed with the first own-term entry after it.
    fn advance_commit(&mut self, ctx: &mut Context<Message>, config: &Config) {
        let Role::Leader { match_index, .. } = &self.role else { return };
        let own_term_only = !config.bugs.commit_previous_term;
        let committed = (self.commit_index + 1..=self.log.last_index()).rev().find(|&index| {
            let holders = 1 + match_index.values().filter(|&&m| m >= index).count();
            holders >= quorum(config)
                && (!own_term_only || self.log.term_at(index) == Some(self.term))
        });
        if let Some(index) = committed {
            self.commit_index = index;
            self.apply(ctx);
        }
    }

    /// Applies committed entries in order; a leader answers the clients that asked.
    fn apply(&mut self, ctx: &mut Context<Message>) {
        while (self.applied.len() as u64) < self.commit_index {
            let index = self.applied.len() as u64 + 1;
            let Some(entry) = self.log.entry(index) else { break };
            let value = self.kv.apply(&entry.command);
            let command = &entry.command;
            if self.is_leader() {
                let answer = Answer::Done { value };
                let reply = Message::Reply { session: command.session, seq: command.seq, answer };
                ctx.send(command.client, reply);
            }
            self.applied.push(self.log.digest_at(index));
        }
    }

    fn on_request(
        &mut self,
        ctx: &mut Context<Message>,
        config: &Config,
        command: Command,
    ) -> Result<(), StorageError> {
        let client = command.client;
        if !self.is_leader() {
            let answer = Answer::NotLeader { leader: self.leader };
            let reply = Message::Reply { session: command.session, seq: command.seq, answer };
            ctx.send(client, reply);
            return Ok(());
        }
        if let (true, Op::Get { key }) = (config.bugs.stale_reads, &command.op) {
            let answer = Answer::Done { value: self.kv.read(*key) };
            ctx.send(client, Message::Reply { session: command.session, seq: command.seq, answer });
            return Ok(());
        }
        let entry = Entry { term: self.term, command };
        let last = self.log.last_index();
        storage::write_entries(ctx, &mut self.log, last, &[entry], true)?;
        self.on_tick(ctx, config);
        if quorum(config) == 1 {
            self.advance_commit(ctx, config);
        }
        Ok(())
    }
}

fn quorum(config: &Config) -> usize {
    config.servers.len() / 2 + 1
}
