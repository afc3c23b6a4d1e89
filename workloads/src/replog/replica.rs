//! One replog node: leader, follower or (with `epoch_quorum`) candidate. The protocol and
//! both election rules are described in the module doc of `replog`; this file is their code.
//!
//! What a replica claims is observed: `recovered commit` when it starts (its state is in
//! memory, so a restarted replica recovers nothing), then `commit seq bytes` for every entry
//! its commit point passes, in order.

use std::collections::{BTreeMap, BTreeSet};

use orrery_sim::{Duration, Instant, NodeApi, NodeId, Process, TimerId, Value};

use super::log::Log;
use super::message::{Entry, Message};
use super::rtt::RttTable;
use super::{Election, ReplogParams};

/// `epoch_quorum`: a leader stops appending while this many entries wait for a quorum.
const UNCOMMITTED_MAX: u64 = 64;

/// Silence from the leader for this long starts an election: three heartbeats.
pub fn election_timeout(params: &ReplogParams) -> Duration {
    params.heartbeat_interval * 3
}

/// What a replica currently is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follows `leader` (or nobody, between leaders).
    Follower,
    /// `epoch_quorum`: asks for votes in its epoch.
    Candidate,
    /// The single writer of its epoch.
    Leader,
}

const TICK: u64 = 0;
const APPEND: u64 = 1;
const CAMPAIGN: u64 = 2;

/// See the module documentation.
pub struct Replica {
    config: ReplogParams,
    me: NodeId,
    n_nodes: usize,
    epoch: u64,
    role: Role,
    leader: Option<NodeId>,
    voted_for: Option<NodeId>,
    log: Log,
    /// The highest sequence known to equal the current leader's log (at least `commit`).
    matched: u64,
    /// The last pull sent: its start and when (a burst of heartbeats asks only once).
    pulled: Option<(u64, Instant)>,
    rtt: RttTable,
    heard_leader_at: Instant,
    /// When this node last granted a vote: it gives that candidate a timeout before running
    /// itself, yet still pre-votes for others (a vote is not a leader to stick to).
    voted_at: Instant,
    /// `nearest_rtt`: the winner this node waits for, and winners that never took over.
    expected: Option<NodeId>,
    passed_over: BTreeSet<NodeId>,
    /// Leader: what each peer acknowledged holding, and when it last did.
    peer_matched: BTreeMap<NodeId, u64>,
    acked_at: BTreeMap<NodeId, Instant>,
    writes: u64,
    /// `epoch_quorum`: the pending campaign step, the pre-votes of the current round (with
    /// the highest epoch a granter is in) and the votes of the current epoch.
    campaign: Option<TimerId>,
    pre_votes: BTreeSet<NodeId>,
    pre_vote_epoch: u64,
    votes: BTreeSet<NodeId>,
}

impl Replica {
    /// A replica of `n_nodes`; what it is at start depends on its incarnation (see
    /// `on_start`).
    pub fn new(config: &ReplogParams, me: NodeId, n_nodes: usize) -> Replica {
        Replica {
            config: config.clone(),
            me,
            n_nodes,
            epoch: 0,
            role: Role::Follower,
            leader: None,
            voted_for: None,
            log: Log::default(),
            matched: 0,
            pulled: None,
            rtt: RttTable::new(me),
            heard_leader_at: Instant::ZERO,
            voted_at: Instant::ZERO,
            expected: None,
            passed_over: BTreeSet::new(),
            peer_matched: BTreeMap::new(),
            acked_at: BTreeMap::new(),
            writes: 0,
            campaign: None,
            pre_votes: BTreeSet::new(),
            pre_vote_epoch: 0,
            votes: BTreeSet::new(),
        }
    }

    /// The newest epoch this replica knows of.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// What it is now.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The leader it follows (itself when leading), if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Its copy of the log.
    pub fn log(&self) -> &Log {
        &self.log
    }

    fn majority(&self) -> usize {
        self.n_nodes / 2 + 1
    }

    fn peers(&self) -> impl Iterator<Item = NodeId> + 'static {
        let me = self.me;
        (0..self.n_nodes as u32).map(NodeId).filter(move |&node| node != me)
    }

    fn broadcast<N: NodeApi<Message>>(&self, node: &mut N, message: Message) {
        for peer in self.peers() {
            node.send(peer, message.clone());
        }
    }

    fn cancel_campaign<N: NodeApi<Message>>(&mut self, node: &mut N) {
        if let Some(timer) = self.campaign.take() {
            node.cancel_timer(timer);
        }
    }

    /// A newer epoch exists: whatever this node was, it now follows nobody in that epoch.
    fn adopt_epoch<N: NodeApi<Message>>(&mut self, node: &mut N, epoch: u64) {
        if self.role == Role::Leader {
            // A deposed leader gives the new one a full timeout to show up.
            self.heard_leader_at = node.now();
            node.record("deposed", &[("epoch", self.epoch.into()), ("newer", epoch.into())]);
        }
        self.epoch = epoch;
        self.role = Role::Follower;
        self.leader = None;
        self.voted_for = None;
        self.matched = self.log.commit();
        // A pre-vote round belongs to the epoch it started in: grants still on their way must
        // not make this node a candidate above an election it has since taken part in.
        self.pre_votes.clear();
    }

    fn follow<N: NodeApi<Message>>(&mut self, node: &mut N, leader: NodeId) {
        if self.leader != Some(leader) || self.role != Role::Follower {
            self.leader = Some(leader);
            self.role = Role::Follower;
            self.matched = self.log.commit();
        }
        self.heard_leader_at = node.now();
        self.expected = None;
        self.passed_over.clear();
        self.cancel_campaign(node);
    }

    fn become_leader<N: NodeApi<Message>>(&mut self, node: &mut N) {
        let now = node.now();
        self.role = Role::Leader;
        self.leader = Some(self.me);
        self.voted_for = Some(self.me);
        self.expected = None;
        self.passed_over.clear();
        self.cancel_campaign(node);
        self.peer_matched.clear();
        self.acked_at = self.peers().map(|peer| (peer, now)).collect();
        node.record("leads", &[("epoch", self.epoch.into()), ("tail", self.log.tail().into())]);
        // The epoch's first entry: nothing older commits before an entry of this epoch does.
        self.append(node, true);
        self.heartbeat(node);
    }

    fn heartbeat<N: NodeApi<Message>>(&self, node: &mut N) {
        let heartbeat = Message::Heartbeat {
            epoch: self.epoch,
            tail: self.log.tail(),
            commit: self.log.commit(),
        };
        self.broadcast(node, heartbeat);
    }

    /// The single writer appends one entry, unless too many already wait for a quorum and
    /// the entry is not `forced`.
    fn append<N: NodeApi<Message>>(&mut self, node: &mut N, forced: bool) {
        let waiting = self.log.tail() - self.log.commit();
        if !forced && self.config.election == Election::EpochQuorum && waiting >= UNCOMMITTED_MAX {
            return;
        }
        self.writes += 1;
        let noise = node.rng().next_u64() & 0xffff;
        let text = format!(
            "{}@{}e{}w{}:{noise:04x}",
            self.log.tail() + 1,
            self.me,
            self.epoch,
            self.writes
        );
        self.log.append(Entry { epoch: self.epoch, bytes: text.into_bytes() });
        self.advance_commit(node);
    }

    /// `nearest_rtt`: a leader's appends are final at once. `epoch_quorum`: the highest
    /// sequence a majority holds, once it is an entry of this epoch (Raft's commit rule).
    fn advance_commit<N: NodeApi<Message>>(&mut self, node: &mut N) {
        match self.config.election {
            Election::NearestRtt => self.commit_to(node, self.log.tail()),
            Election::EpochQuorum => {
                let mut held: Vec<u64> =
                    self.peers().map(|p| self.peer_matched.get(&p).copied().unwrap_or(0)).collect();
                held.push(self.log.tail());
                held.sort_unstable_by(|a, b| b.cmp(a));
                let quorum_holds = held[self.majority() - 1];
                if self.log.entry(quorum_holds).is_some_and(|e| e.epoch == self.epoch) {
                    self.commit_to(node, quorum_holds);
                }
            }
        }
    }

    /// Moves the commit point to `seq` (see `Log::commit_to`), observing every entry it
    /// passes: those are final, and `logs_agree` holds every node to them.
    fn commit_to<N: NodeApi<Message>>(&mut self, node: &mut N, seq: u64) {
        let before = self.log.commit();
        self.log.commit_to(seq);
        for seq in before + 1..=self.log.commit() {
            if let Some(entry) = self.log.entry(seq) {
                let bytes = String::from_utf8_lossy(&entry.bytes);
                node.observe("commit", &[("seq", seq.into()), ("bytes", Value::Str(&bytes))]);
            }
        }
    }

    fn tick<N: NodeApi<Message>>(&mut self, node: &mut N) {
        let now = node.now();
        let timeout = election_timeout(&self.config);
        let ping = Message::Ping {
            sent_at: now,
            rtts: self.rtt.row(),
            leading: self.role == Role::Leader,
        };
        self.broadcast(node, ping);
        if self.role == Role::Leader {
            let in_touch = 1 + self
                .acked_at
                .values()
                .filter(|&&at| now.saturating_since(at) < timeout)
                .count();
            if self.config.election == Election::EpochQuorum && in_touch < self.majority() {
                // Check-quorum: a leader cut off from a majority stops leading.
                node.record("steps_down", &[("epoch", self.epoch.into())]);
                self.role = Role::Follower;
                self.leader = None;
                self.matched = self.log.commit();
                self.heard_leader_at = now;
            } else {
                self.heartbeat(node);
            }
        } else if now.saturating_since(self.heard_leader_at) >= timeout {
            self.leader_silent(node);
        }
        node.set_timer(self.config.heartbeat_interval, TICK);
    }

    /// Survivors: this node and every peer heard from within the timeout, except the silent
    /// leader (and, with `nearest_rtt`, winners that never took over).
    fn leader_silent<N: NodeApi<Message>>(&mut self, node: &mut N) {
        let now = node.now();
        let timeout = election_timeout(&self.config);
        if let Some(silent) = self.leader.take().or(self.expected.take()) {
            self.passed_over.insert(silent);
        }
        let mut survivors: Vec<NodeId> = self.rtt.alive(now, timeout);
        survivors.push(self.me);
        survivors.retain(|node| !self.passed_over.contains(node));
        let ranking = self.rtt.ranking(&survivors, timeout);
        match self.config.election {
            Election::NearestRtt => {
                let winner = ranking.first().copied().unwrap_or(self.me);
                if winner == self.me {
                    self.epoch += 1;
                    self.become_leader(node);
                } else {
                    node.record("expects", &[("winner", winner.into())]);
                    self.expected = Some(winner);
                    self.heard_leader_at = now;
                }
            }
            Election::EpochQuorum => {
                self.passed_over.clear();
                if self.campaign.is_none() {
                    let rank = ranking.iter().position(|&n| n == self.me).unwrap_or(0) as u64;
                    let delay =
                        Duration::from_nanos(self.config.heartbeat_interval.as_nanos() / 4 * rank);
                    self.campaign = Some(node.set_timer(delay, CAMPAIGN));
                }
            }
        }
    }

    /// `epoch_quorum`: one pre-vote round; the next one follows one to one and a half
    /// heartbeats later unless a leader shows up. The retry is jittered (Raft's randomised
    /// timeout): two candidates that split a vote would otherwise retry in lockstep and split
    /// every round.
    fn campaign<N: NodeApi<Message>>(&mut self, node: &mut N) {
        self.campaign = None;
        let (now, timeout) = (node.now(), election_timeout(&self.config));
        if self.role == Role::Leader
            || now.saturating_since(self.heard_leader_at) < timeout
            || now.saturating_since(self.voted_at) < timeout
        {
            return;
        }
        self.pre_votes = BTreeSet::from([self.me]);
        self.pre_vote_epoch = self.epoch;
        let request = Message::VoteRequest {
            pre: true,
            epoch: self.epoch,
            last_epoch: self.log.last_epoch(),
            tail: self.log.tail(),
        };
        self.broadcast(node, request);
        let heartbeat = self.config.heartbeat_interval.as_nanos();
        let retry = heartbeat + node.rng().below(heartbeat / 2 + 1);
        self.campaign = Some(node.set_timer(Duration::from_nanos(retry), CAMPAIGN));
    }

    fn on_vote_request<N: NodeApi<Message>>(
        &mut self,
        node: &mut N,
        from: NodeId,
        pre: bool,
        epoch: u64,
        candidate_log: (u64, u64),
    ) {
        let current = self.log.is_outdone_by(candidate_log.0, candidate_log.1);
        let granted = if pre {
            // Leader stickiness: nobody who hears from a leader helps depose it.
            let leaderless = self.role != Role::Leader
                && node.now().saturating_since(self.heard_leader_at)
                    >= election_timeout(&self.config);
            current && leaderless
        } else {
            let free = self.voted_for.is_none_or(|v| v == from);
            let granted = epoch == self.epoch && self.role != Role::Leader && free && current;
            if granted {
                self.voted_for = Some(from);
                self.voted_at = node.now();
                self.pre_votes.clear();
            }
            granted
        };
        // Every answer names the voter's epoch: a pre-candidate enters an epoch above all of
        // its granters' in one round, and a refused candidate learns the newer epoch.
        node.send(from, Message::Vote { pre, epoch: self.epoch, granted });
    }

    fn on_vote<N: NodeApi<Message>>(&mut self, node: &mut N, from: NodeId, pre: bool, epoch: u64) {
        // A round is open while this node's own pre-vote is in it.
        let round_open = self.pre_votes.contains(&self.me);
        if pre && self.role != Role::Leader && self.campaign.is_some() && round_open {
            self.pre_votes.insert(from);
            self.pre_vote_epoch = self.pre_vote_epoch.max(epoch);
            if self.pre_votes.len() >= self.majority() {
                self.pre_votes.clear();
                self.epoch = self.epoch.max(self.pre_vote_epoch) + 1;
                self.role = Role::Candidate;
                self.leader = None;
                self.voted_for = Some(self.me);
                self.matched = self.log.commit();
                self.votes = BTreeSet::from([self.me]);
                let request = Message::VoteRequest {
                    pre: false,
                    epoch: self.epoch,
                    last_epoch: self.log.last_epoch(),
                    tail: self.log.tail(),
                };
                self.broadcast(node, request);
            }
        } else if !pre && self.role == Role::Candidate && epoch == self.epoch {
            self.votes.insert(from);
            if self.votes.len() >= self.majority() {
                self.become_leader(node);
            }
        }
    }

    fn on_heartbeat<N: NodeApi<Message>>(
        &mut self,
        node: &mut N,
        from: NodeId,
        tail: u64,
        commit: u64,
    ) {
        // Two leaders of one epoch (only `nearest_rtt` makes them): the lower id keeps it.
        let rival = match self.role {
            Role::Leader => Some(self.me),
            _ => self.leader.filter(|&leader| leader != from),
        };
        if rival.is_some_and(|rival| rival < from) {
            return;
        }
        self.follow(node, from);
        self.commit_to(node, commit.min(self.matched));
        node.send(from, Message::Ack { epoch: self.epoch, matched: self.matched });
        if tail > self.matched {
            self.pull(node, false);
        }
    }

    /// Asks the leader for the entries after `matched`; the same request is repeated only
    /// after a heartbeat interval (it or its answer may be lost), unless `again`.
    fn pull<N: NodeApi<Message>>(&mut self, node: &mut N, again: bool) {
        let (Some(leader), now) = (self.leader, node.now()) else { return };
        let start = self.matched + 1;
        let recent = self.pulled.is_some_and(|(from, at)| {
            from == start && now.saturating_since(at) < self.config.heartbeat_interval
        });
        if again || !recent {
            self.pulled = Some((start, now));
            node.send(leader, Message::Pull { epoch: self.epoch, from: start });
        }
    }

    fn on_entries<N: NodeApi<Message>>(
        &mut self,
        node: &mut N,
        from: NodeId,
        start: u64,
        entries: Vec<Entry>,
        commit: u64,
    ) {
        // Only the answer to this node's latest pull from its own leader fits.
        if self.leader != Some(from) || self.role != Role::Follower || start != self.matched + 1 {
            return;
        }
        self.heard_leader_at = node.now();
        let more = entries.len() >= self.config.pull_batch;
        self.log.truncate_after(self.matched);
        for entry in entries {
            self.log.append(entry);
        }
        self.matched = self.log.tail();
        self.commit_to(node, commit.min(self.matched));
        node.send(from, Message::Ack { epoch: self.epoch, matched: self.matched });
        if more {
            self.pull(node, true);
        }
    }
}

impl<N: NodeApi<Message>> Process<Message, N> for Replica {
    /// At first boot everyone is in epoch 1, led by node 0. A replica restarted after a crash
    /// remembers nothing and rejoins as a follower in epoch 0, which any leader's heartbeat
    /// supersedes.
    fn on_start(&mut self, node: &mut N) {
        if node.incarnation() == 0 {
            (self.epoch, self.leader, self.voted_for) = (1, Some(NodeId(0)), Some(NodeId(0)));
            if self.me == NodeId(0) {
                self.role = Role::Leader;
            }
        }
        node.observe("recovered", &[("commit", self.log.commit().into())]);
        self.heard_leader_at = node.now();
        if self.role == Role::Leader {
            self.become_leader(node);
        }
        node.set_timer(self.config.heartbeat_interval, TICK);
        node.set_timer(self.config.append_interval, APPEND);
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, tag: u64) {
        match tag {
            TICK => self.tick(node),
            APPEND => {
                if self.role == Role::Leader {
                    self.append(node, false);
                }
                node.set_timer(self.config.append_interval, APPEND);
            }
            _ => self.campaign(node),
        }
    }

    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        let now = node.now();
        self.rtt.heard(from, now);
        if let Some(epoch) = message.epoch() {
            if epoch > self.epoch {
                self.adopt_epoch(node, epoch);
            } else if epoch < self.epoch
                && matches!(
                    message,
                    Message::Heartbeat { .. } | Message::Entries { .. } | Message::Pull { .. }
                )
            {
                // Fencing: an older epoch's leader or follower learns it is stale.
                node.send(from, Message::Stale { epoch: self.epoch });
                return;
            }
        }
        match message {
            Message::Ping { sent_at, rtts, leading } => {
                self.rtt.gossip(from, &rtts);
                node.send(from, Message::Pong { sent_at, rtts: self.rtt.row() });
                if !leading && self.leader == Some(from) && self.role == Role::Follower {
                    // The leader says it no longer leads (it restarted or stepped down).
                    self.heard_leader_at = Instant::ZERO;
                }
            }
            Message::Pong { sent_at, rtts } => {
                self.rtt.sample(from, sent_at, now);
                self.rtt.gossip(from, &rtts);
            }
            Message::Heartbeat { tail, commit, .. } => self.on_heartbeat(node, from, tail, commit),
            Message::Pull { from: start, .. } => {
                if self.role == Role::Leader {
                    let entries = self.log.range(start, self.config.pull_batch);
                    let commit = self.log.commit();
                    node.send(from, Message::Entries { epoch: self.epoch, start, entries, commit });
                }
            }
            Message::Entries { start, entries, commit, .. } => {
                self.on_entries(node, from, start, entries, commit)
            }
            Message::Ack { epoch, matched } => {
                if self.role == Role::Leader && epoch == self.epoch {
                    let held = self.peer_matched.entry(from).or_insert(0);
                    *held = (*held).max(matched);
                    self.acked_at.insert(from, now);
                    self.advance_commit(node);
                }
            }
            Message::Stale { .. } => {}
            Message::VoteRequest { pre, epoch, last_epoch, tail } => {
                self.on_vote_request(node, from, pre, epoch, (last_epoch, tail))
            }
            Message::Vote { pre, epoch, granted } => {
                if granted {
                    self.on_vote(node, from, pre, epoch);
                }
            }
        }
    }
}
