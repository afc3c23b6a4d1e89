//! One replog node: leader, follower or (with `epoch_quorum`) candidate. The protocol and
//! both election rules are described in the module doc of `replog`; this file is their code.

use std::collections::{BTreeMap, BTreeSet};

use orrery_sim::{Context, Duration, Instant, NodeId, Process, TimerId};

use super::log::Log;
use super::message::{Entry, Message};
use super::rtt::RttTable;

/// How survivors choose a new leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// Every survivor computes the nearest-RTT winner and the winner simply takes over.
    NearestRtt,
    /// Nearest RTT only orders who tries first; a majority of votes in a new epoch decides.
    EpochQuorum,
}

/// Settings shared by every node of a run.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub election: Election,
    pub heartbeat_interval: Duration,
    pub append_interval: Duration,
    /// Entries per `Entries` message at most.
    pub pull_batch: usize,
    /// `epoch_quorum`: a leader stops appending while this many entries wait for a quorum.
    pub uncommitted_max: u64,
}

impl Config {
    /// Silence from the leader for this long starts an election: three heartbeats.
    pub fn election_timeout(&self) -> Duration {
        self.heartbeat_interval * 3
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

const TICK: u64 = 0;
const APPEND: u64 = 1;
const CAMPAIGN: u64 = 2;

pub struct Replica {
    config: Config,
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
    /// A node at first boot: everyone starts in epoch 1 led by node 0. A node built again
    /// after a crash (`first_boot` false) remembers nothing and rejoins as a follower in
    /// epoch 0, which any leader's heartbeat supersedes.
    pub fn new(config: Config, me: NodeId, n_nodes: usize, first_boot: bool) -> Replica {
        let initial_leader = first_boot.then_some(NodeId(0));
        Replica {
            config,
            me,
            n_nodes,
            epoch: u64::from(first_boot),
            role: if initial_leader == Some(me) { Role::Leader } else { Role::Follower },
            leader: initial_leader,
            voted_for: initial_leader,
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

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

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

    fn broadcast(&self, ctx: &mut Context<'_, Message>, message: Message) {
        for peer in self.peers() {
            ctx.send(peer, message.clone());
        }
    }

    fn cancel_campaign(&mut self, ctx: &mut Context<'_, Message>) {
        if let Some(timer) = self.campaign.take() {
            ctx.cancel_timer(timer);
        }
    }

    /// A newer epoch exists: whatever this node was, it now follows nobody in that epoch.
    fn adopt_epoch(&mut self, ctx: &mut Context<'_, Message>, epoch: u64) {
        if self.role == Role::Leader {
            // A deposed leader gives the new one a full timeout to show up.
            self.heard_leader_at = ctx.now();
            ctx.record("deposed", &[("epoch", self.epoch.into()), ("newer", epoch.into())]);
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

    fn follow(&mut self, ctx: &mut Context<'_, Message>, leader: NodeId) {
        if self.leader != Some(leader) || self.role != Role::Follower {
            self.leader = Some(leader);
            self.role = Role::Follower;
            self.matched = self.log.commit();
        }
        self.heard_leader_at = ctx.now();
        self.expected = None;
        self.passed_over.clear();
        self.cancel_campaign(ctx);
    }

    fn become_leader(&mut self, ctx: &mut Context<'_, Message>) {
        let now = ctx.now();
        self.role = Role::Leader;
        self.leader = Some(self.me);
        self.voted_for = Some(self.me);
        self.expected = None;
        self.passed_over.clear();
        self.cancel_campaign(ctx);
        self.peer_matched.clear();
        self.acked_at = self.peers().map(|peer| (peer, now)).collect();
        ctx.record("leads", &[("epoch", self.epoch.into()), ("tail", self.log.tail().into())]);
        // The epoch's first entry: nothing older commits before an entry of this epoch does.
        self.append(ctx, true);
        self.heartbeat(ctx);
    }

    fn heartbeat(&self, ctx: &mut Context<'_, Message>) {
        let heartbeat = Message::Heartbeat {
            epoch: self.epoch,
            tail: self.log.tail(),
            commit: self.log.commit(),
        };
        self.broadcast(ctx, heartbeat);
    }

    /// The single writer appends one entry, unless too many already wait for a quorum and
    /// the entry is not `forced`.
    fn append(&mut self, ctx: &mut Context<'_, Message>, forced: bool) {
        let waiting = self.log.tail() - self.log.commit();
        if !forced
            && self.config.election == Election::EpochQuorum
            && waiting >= self.config.uncommitted_max
        {
            return;
        }
        self.writes += 1;
        let noise = ctx.rng().next_u64() & 0xffff;
        let text = format!(
            "{}@{}e{}w{}:{noise:04x}",
            self.log.tail() + 1,
            self.me,
            self.epoch,
            self.writes
        );
        self.log.append(Entry { epoch: self.epoch, bytes: text.into_bytes() });
        self.advance_commit();
    }

    /// `nearest_rtt`: a leader's appends are final at once. `epoch_quorum`: the highest
    /// sequence a majority holds, once it is an entry of this epoch (Raft's commit rule).
    fn advance_commit(&mut self) {
        match self.config.election {
            Election::NearestRtt => self.log.commit_to(self.log.tail()),
            Election::EpochQuorum => {
                let mut held: Vec<u64> =
                    self.peers().map(|p| self.peer_matched.get(&p).copied().unwrap_or(0)).collect();
                held.push(self.log.tail());
                held.sort_unstable_by(|a, b| b.cmp(a));
                let quorum_holds = held[self.majority() - 1];
                if self.log.entry(quorum_holds).is_some_and(|e| e.epoch == self.epoch) {
                    self.log.commit_to(quorum_holds);
                }
            }
        }
    }

    fn tick(&mut self, ctx: &mut Context<'_, Message>) {
        let now = ctx.now();
        let timeout = self.config.election_timeout();
        let ping = Message::Ping {
            sent_at: now,
            rtts: self.rtt.row(),
            leading: self.role == Role::Leader,
        };
        self.broadcast(ctx, ping);
        if self.role == Role::Leader {
            let in_touch = 1 + self
                .acked_at
                .values()
                .filter(|&&at| now.saturating_since(at) < timeout)
                .count();
            if self.config.election == Election::EpochQuorum && in_touch < self.majority() {
                // Check-quorum: a leader cut off from a majority stops leading.
                ctx.record("steps_down", &[("epoch", self.epoch.into())]);
                self.role = Role::Follower;
                self.leader = None;
                self.matched = self.log.commit();
                self.heard_leader_at = now;
            } else {
                self.heartbeat(ctx);
            }
        } else if now.saturating_since(self.heard_leader_at) >= timeout {
            self.leader_silent(ctx);
        }
        ctx.set_timer(self.config.heartbeat_interval, TICK);
    }

    /// Survivors: this node and every peer heard from within the timeout, except the silent
    /// leader (and, with `nearest_rtt`, winners that never took over).
    fn leader_silent(&mut self, ctx: &mut Context<'_, Message>) {
        let now = ctx.now();
        let timeout = self.config.election_timeout();
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
                    self.become_leader(ctx);
                } else {
                    ctx.record("expects", &[("winner", winner.into())]);
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
                    self.campaign = Some(ctx.set_timer(delay, CAMPAIGN));
                }
            }
        }
    }

    /// `epoch_quorum`: one pre-vote round; the next one follows one to one and a half
    /// heartbeats later unless a leader shows up. The retry is jittered (Raft's randomised
    /// timeout): two candidates that split a vote would otherwise retry in lockstep and split
    /// every round.
    fn campaign(&mut self, ctx: &mut Context<'_, Message>) {
        self.campaign = None;
        let (now, timeout) = (ctx.now(), self.config.election_timeout());
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
        self.broadcast(ctx, request);
        let heartbeat = self.config.heartbeat_interval.as_nanos();
        let retry = heartbeat + ctx.rng().below(heartbeat / 2 + 1);
        self.campaign = Some(ctx.set_timer(Duration::from_nanos(retry), CAMPAIGN));
    }

    fn on_vote_request(
        &mut self,
        ctx: &mut Context<'_, Message>,
        from: NodeId,
        pre: bool,
        epoch: u64,
        candidate_log: (u64, u64),
    ) {
        let current = self.log.is_outdone_by(candidate_log.0, candidate_log.1);
        let granted = if pre {
            // Leader stickiness: nobody who hears from a leader helps depose it.
            let leaderless = self.role != Role::Leader
                && ctx.now().saturating_since(self.heard_leader_at)
                    >= self.config.election_timeout();
            current && leaderless
        } else {
            let free = self.voted_for.is_none_or(|v| v == from);
            let granted = epoch == self.epoch && self.role != Role::Leader && free && current;
            if granted {
                self.voted_for = Some(from);
                self.voted_at = ctx.now();
                self.pre_votes.clear();
            }
            granted
        };
        // Every answer names the voter's epoch: a pre-candidate enters an epoch above all of
        // its granters' in one round, and a refused candidate learns the newer epoch.
        ctx.send(from, Message::Vote { pre, epoch: self.epoch, granted });
    }

    fn on_vote(&mut self, ctx: &mut Context<'_, Message>, from: NodeId, pre: bool, epoch: u64) {
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
                self.broadcast(ctx, request);
            }
        } else if !pre && self.role == Role::Candidate && epoch == self.epoch {
            self.votes.insert(from);
            if self.votes.len() >= self.majority() {
                self.become_leader(ctx);
            }
        }
    }

    fn on_heartbeat(
        &mut self,
        ctx: &mut Context<'_, Message>,
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
        self.follow(ctx, from);
        self.log.commit_to(commit.min(self.matched));
        ctx.send(from, Message::Ack { epoch: self.epoch, matched: self.matched });
        if tail > self.matched {
            self.pull(ctx, false);
        }
    }

    /// Asks the leader for the entries after `matched`; the same request is repeated only
    /// after a heartbeat interval (it or its answer may be lost), unless `again`.
    fn pull(&mut self, ctx: &mut Context<'_, Message>, again: bool) {
        let (Some(leader), now) = (self.leader, ctx.now()) else { return };
        let start = self.matched + 1;
        let recent = self.pulled.is_some_and(|(from, at)| {
            from == start && now.saturating_since(at) < self.config.heartbeat_interval
        });
        if again || !recent {
            self.pulled = Some((start, now));
            ctx.send(leader, Message::Pull { epoch: self.epoch, from: start });
        }
    }

    fn on_entries(
        &mut self,
        ctx: &mut Context<'_, Message>,
        from: NodeId,
        start: u64,
        entries: Vec<Entry>,
        commit: u64,
    ) {
        // Only the answer to this node's latest pull from its own leader fits.
        if self.leader != Some(from) || self.role != Role::Follower || start != self.matched + 1 {
            return;
        }
        self.heard_leader_at = ctx.now();
        let more = entries.len() >= self.config.pull_batch;
        self.log.truncate_after(self.matched);
        for entry in entries {
            self.log.append(entry);
        }
        self.matched = self.log.tail();
        self.log.commit_to(commit.min(self.matched));
        ctx.send(from, Message::Ack { epoch: self.epoch, matched: self.matched });
        if more {
            self.pull(ctx, true);
        }
    }
}

impl Process<Message> for Replica {
    fn on_start(&mut self, ctx: &mut Context<'_, Message>) {
        self.heard_leader_at = ctx.now();
        if self.role == Role::Leader {
            self.become_leader(ctx);
        }
        ctx.set_timer(self.config.heartbeat_interval, TICK);
        ctx.set_timer(self.config.append_interval, APPEND);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Message>, _timer: TimerId, tag: u64) {
        match tag {
            TICK => self.tick(ctx),
            APPEND => {
                if self.role == Role::Leader {
                    self.append(ctx, false);
                }
                ctx.set_timer(self.config.append_interval, APPEND);
            }
            _ => self.campaign(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Message>, from: NodeId, message: Message) {
        let now = ctx.now();
        self.rtt.heard(from, now);
        if let Some(epoch) = message.epoch() {
            if epoch > self.epoch {
                self.adopt_epoch(ctx, epoch);
            } else if epoch < self.epoch
                && matches!(
                    message,
                    Message::Heartbeat { .. } | Message::Entries { .. } | Message::Pull { .. }
                )
            {
                // Fencing: an older epoch's leader or follower learns it is stale.
                ctx.send(from, Message::Stale { epoch: self.epoch });
                return;
            }
        }
        match message {
            Message::Ping { sent_at, rtts, leading } => {
                self.rtt.gossip(from, &rtts);
                ctx.send(from, Message::Pong { sent_at, rtts: self.rtt.row() });
                if !leading && self.leader == Some(from) && self.role == Role::Follower {
                    // The leader says it no longer leads (it restarted or stepped down).
                    self.heard_leader_at = Instant::ZERO;
                }
            }
            Message::Pong { sent_at, rtts } => {
                self.rtt.sample(from, sent_at, now);
                self.rtt.gossip(from, &rtts);
            }
            Message::Heartbeat { tail, commit, .. } => self.on_heartbeat(ctx, from, tail, commit),
            Message::Pull { from: start, .. } => {
                if self.role == Role::Leader {
                    let entries = self.log.range(start, self.config.pull_batch);
                    let commit = self.log.commit();
                    ctx.send(from, Message::Entries { epoch: self.epoch, start, entries, commit });
                }
            }
            Message::Entries { start, entries, commit, .. } => {
                self.on_entries(ctx, from, start, entries, commit)
            }
            Message::Ack { epoch, matched } => {
                if self.role == Role::Leader && epoch == self.epoch {
                    let held = self.peer_matched.entry(from).or_insert(0);
                    *held = (*held).max(matched);
                    self.acked_at.insert(from, now);
                    self.advance_commit();
                }
            }
            Message::Stale { .. } => {}
            Message::VoteRequest { pre, epoch, last_epoch, tail } => {
                self.on_vote_request(ctx, from, pre, epoch, (last_epoch, tail))
            }
            Message::Vote { pre, epoch, granted } => {
                if granted {
                    self.on_vote(ctx, from, pre, epoch);
                }
            }
        }
    }
}
