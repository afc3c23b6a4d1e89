//! One replica: the primary, or the standby (the protocol is in the module doc of
//! `standby_promotion`; this file is its code). Written once against `NodeApi`.
//!
//! The fence and the log are on disk (`storage`), durable before anything that depends on
//! them is sent; the role is volatile: every (re)start is a standby's, so a replica that
//! was primary before its crash rejoins as standby, and only a promotion — with a new
//! ballot — makes a primary. A disk error aborts the process (its supervisor restarts it).
//!
//! Observations: `promoted ballot state` (the promoted state, see `accounts`), `appended
//! index` (the primary synced a client's entry, before replicating it), `replicated index
//! ballot` (the standby synced entries, before replying), `acked client session seq ballot`
//! (the primary acknowledged a write to its client).

use std::collections::BTreeMap;

use orrery_sim::durable::DurableError;
use orrery_sim::{Duration, Instant, NodeApi, NodeId, Process, TimerId};

use super::accounts::Accounts;
use super::message::{Entry, Message};
use super::storage::Durable;
use super::{Bug, StandbyParams};

const TIMER_TICK: u64 = 1;

type Result<T = ()> = std::result::Result<T, DurableError>;

/// What a replica knows of the system and its timing.
#[derive(Debug, Clone)]
pub struct Config {
    /// Both replicas, in id order; the first bootstraps as primary.
    pub replicas: Vec<NodeId>,
    /// This replica's place in `replicas`: it owns the ballots congruent to it.
    pub me_index: u64,
    pub heartbeat_interval: Duration,
    pub failover_timeout: Duration,
    pub entries_per_append: usize,
    pub bug: Bug,
}

impl Config {
    /// The configuration of `me` in a system of `replicas`.
    pub fn new(params: &StandbyParams, replicas: Vec<NodeId>, me: NodeId) -> Config {
        let me_index = replicas.iter().position(|&replica| replica == me).unwrap_or(0) as u64;
        Config {
            replicas,
            me_index,
            heartbeat_interval: params.heartbeat_interval,
            failover_timeout: params.failover_timeout,
            entries_per_append: params.entries_per_append,
            bug: params.bug,
        }
    }

    /// The other replica.
    fn peer(&self) -> NodeId {
        let peer = (self.me_index as usize + 1) % self.replicas.len().max(1);
        self.replicas.get(peer).copied().unwrap_or(NodeId(0))
    }

    /// The lowest ballot above `promise` this replica owns: ballots are partitioned among
    /// replicas (`ballot mod replicas`), so no two replicas ever promote into one ballot.
    fn next_ballot(&self, promise: u64) -> u64 {
        let n = self.replicas.len().max(1) as u64;
        (promise / n + 1) * n + self.me_index
    }
}

/// What a replica is now.
#[derive(Debug)]
pub enum Role {
    /// Follows `primary` (or nobody yet); promotes itself after `failover_timeout` of
    /// silence.
    Standby { primary: Option<NodeId> },
    /// Accepts writes in `ballot`.
    Primary(Primary),
    /// The planted `deposed_primary_stays_out`: deposed, and ignoring replication.
    Out,
}

/// A primary's volatile state.
#[derive(Debug)]
pub struct Primary {
    /// The ballot it writes in.
    pub ballot: u64,
    /// The next index to send the standby, and the highest known on its disk.
    next: u64,
    matched: u64,
    /// Every index up to this is on both disks.
    commit: u64,
    /// Writes waiting for their commit: index → (client, session, seq).
    waiting: BTreeMap<u64, (NodeId, u32, u64)>,
    /// The state: the fold of the log up to `applied`.
    pub accounts: Accounts,
    applied: u64,
}

impl Primary {
    /// Every index up to this is on both disks.
    pub fn commit(&self) -> u64 {
        self.commit
    }
}

/// A replica process: its configuration and, once its disk is open, its state.
pub struct Replica {
    config: Config,
    durable: Option<Durable>,
    pub role: Role,
    /// When it last heard its primary, and how long it waits before promoting itself.
    heard_primary_at: Instant,
    failover_after: Duration,
}

impl Replica {
    /// A replica; it opens its disk when it starts.
    pub fn new(config: Config) -> Replica {
        Replica {
            config,
            durable: None,
            role: Role::Standby { primary: None },
            heard_primary_at: Instant::ZERO,
            failover_after: Duration::ZERO,
        }
    }

    /// The ballot it accepts writes in, if it is primary.
    pub fn primary_ballot(&self) -> Option<u64> {
        match &self.role {
            Role::Primary(primary) => Some(primary.ballot),
            _ => None,
        }
    }

    /// Its log, once its disk is open.
    pub fn log(&self) -> &[Entry] {
        self.durable.as_ref().map_or(&[], |durable| durable.entries())
    }

    fn heard_primary<N: NodeApi<Message>>(&mut self, node: &mut N) {
        self.heard_primary_at = node.now();
        let timeout = self.config.failover_timeout.as_nanos();
        self.failover_after = Duration::from_nanos(node.rng().uniform_u64(timeout, timeout * 2));
    }

    fn on_tick<N: NodeApi<Message>>(&mut self, node: &mut N) -> Result {
        match &mut self.role {
            Role::Primary(primary) => {
                // Resend from what the standby holds: repairs lost appends, and heartbeats.
                primary.next = primary.matched + 1;
                self.replicate(node);
                Ok(())
            }
            Role::Standby { .. } => {
                let silent = node.now().saturating_since(self.heard_primary_at);
                match silent >= self.failover_after {
                    true => self.promote(node),
                    false => Ok(()),
                }
            }
            Role::Out => Ok(()),
        }
    }

    /// Becomes primary: fences the old primary out with a new ballot (durable before
    /// anything is sent in it), then takes its whole log as the state.
    fn promote<N: NodeApi<Message>>(&mut self, node: &mut N) -> Result {
        let Some(durable) = &mut self.durable else { return Ok(()) };
        let promise = durable.promise();
        let ballot = match self.config.bug {
            // The planted bug: the standby starts accepting writes in the ballot it is in.
            Bug::PromoteWithoutFencing => promise,
            _ => self.config.next_ballot(promise),
        };
        durable.promise_at_least(&mut node.disk(), ballot)?;
        let accounts = Accounts::fold(durable.entries());
        let len = durable.len();
        let state = accounts.render();
        node.observe("promoted", &[("ballot", ballot.into()), ("state", state.as_str().into())]);
        node.hold_role("primary", true);
        node.sometimes(len > 0, "standby: a standby with a log was promoted");
        self.role = Role::Primary(Primary {
            ballot,
            next: len + 1,
            matched: 0,
            commit: 0,
            waiting: BTreeMap::new(),
            accounts,
            applied: len,
        });
        self.replicate(node);
        Ok(())
    }

    /// A primary that learned of a higher ballot stops accepting writes and follows.
    fn step_down<N: NodeApi<Message>>(&mut self, node: &mut N, primary: Option<NodeId>) {
        if !matches!(self.role, Role::Primary(_)) {
            return;
        }
        node.hold_role("primary", false);
        node.record("deposed", &[]);
        self.role = match self.config.bug {
            Bug::DeposedPrimaryStaysOut => Role::Out,
            _ => Role::Standby { primary },
        };
        node.sometimes(true, "standby: a deposed primary rejoined as standby");
        self.heard_primary(node);
    }

    /// Sends the standby the entries from its next index on (none: a heartbeat).
    fn replicate<N: NodeApi<Message>>(&mut self, node: &mut N) {
        let (Role::Primary(primary), Some(durable)) = (&mut self.role, &self.durable) else {
            return;
        };
        let prev_index = (primary.next - 1).min(durable.len());
        let last = (prev_index + self.config.entries_per_append as u64).min(durable.len());
        let entries: Vec<Entry> =
            (prev_index + 1..=last).filter_map(|i| durable.entry(i)).copied().collect();
        let prev_ballot = durable.ballot_at(prev_index).unwrap_or(0);
        primary.next = last + 1;
        let append = Message::Append { ballot: primary.ballot, prev_index, prev_ballot, entries };
        node.send(self.config.peer(), append);
    }

    fn on_write<N: NodeApi<Message>>(
        &mut self,
        node: &mut N,
        client: NodeId,
        (session, seq, amount): (u32, u64, u64),
    ) -> Result {
        let (Role::Primary(primary), Some(durable)) = (&mut self.role, &mut self.durable) else {
            let primary = match &self.role {
                Role::Standby { primary } => *primary,
                _ => None,
            };
            node.send(client, Message::NotPrimary { session, seq, primary });
            return Ok(());
        };
        let entry = Entry { ballot: primary.ballot, client: client.0, session, seq, amount };
        durable.append(&mut node.disk(), &[entry])?;
        let index = durable.len();
        node.observe("appended", &[("index", index.into())]);
        match self.config.bug {
            // The planted bug: the write is acknowledged with only the primary holding it.
            Bug::AckBeforeStandby => acknowledge(node, primary.ballot, client, session, seq),
            _ => {
                primary.waiting.insert(index, (client, session, seq));
            }
        }
        self.replicate(node);
        Ok(())
    }

    fn on_append<N: NodeApi<Message>>(
        &mut self,
        node: &mut N,
        from: NodeId,
        (ballot, prev_index, prev_ballot): (u64, u64, u64),
        entries: &[Entry],
    ) -> Result {
        let Some(durable) = &mut self.durable else { return Ok(()) };
        let promise = durable.promise();
        if ballot < promise {
            node.send(from, Message::Fenced { ballot: promise });
            return Ok(());
        }
        if ballot > promise {
            durable.promise_at_least(&mut node.disk(), ballot)?;
            self.step_down(node, Some(from));
        }
        match &mut self.role {
            Role::Out => return Ok(()),
            Role::Standby { primary } => {
                *primary = Some(from);
                self.heard_primary(node);
            }
            // Only the planted `promote_without_fencing` makes a second primary of one
            // ballot; the log is fenced by ballot alone, so it takes the entries.
            Role::Primary(_) => {}
        }
        let Some(durable) = &mut self.durable else { return Ok(()) };
        let reply = |ok, matched| Message::AppendReply { ballot, ok, matched };
        match durable.ballot_at(prev_index) {
            None => {
                node.send(from, reply(false, durable.len()));
                return Ok(());
            }
            Some(there) if there != prev_ballot => {
                // Skip back over the whole run of the conflicting ballot.
                let mut retry = prev_index - 1;
                while retry > 0 && durable.ballot_at(retry) == Some(there) {
                    retry -= 1;
                }
                node.send(from, reply(false, retry));
                return Ok(());
            }
            Some(_) => {}
        }
        // Entries the log holds with the same ballot are the same entries: skip them; from
        // the first conflict on, the primary's replace the log's.
        let same = (entries.iter().zip(prev_index + 1..))
            .take_while(|(entry, index)| durable.ballot_at(*index) == Some(entry.ballot))
            .count();
        let kept = prev_index + same as u64;
        if same < entries.len() {
            node.sometimes(kept < durable.len(), "standby: a divergent suffix was truncated");
            durable.truncate(&mut node.disk(), kept)?;
            durable.append(&mut node.disk(), &entries[same..])?;
            let matched = prev_index + entries.len() as u64;
            node.observe("replicated", &[("index", matched.into()), ("ballot", ballot.into())]);
        }
        let len = durable.len();
        if let Role::Primary(primary) = &mut self.role {
            // The planted bug's second primary: its log changed under it.
            primary.applied = primary.applied.min(len);
            primary.commit = primary.commit.min(len);
            primary.next = primary.next.min(len + 1);
        }
        node.send(from, reply(true, prev_index + entries.len() as u64));
        Ok(())
    }

    fn on_append_reply<N: NodeApi<Message>>(
        &mut self,
        node: &mut N,
        (ballot, ok, matched): (u64, bool, u64),
    ) {
        let (Role::Primary(primary), Some(durable)) = (&mut self.role, &self.durable) else {
            return;
        };
        if ballot != primary.ballot {
            return;
        }
        if !ok {
            primary.next = (matched + 1).min(durable.len() + 1);
            self.replicate(node);
            return;
        }
        primary.matched = primary.matched.max(matched.min(durable.len()));
        primary.next = primary.next.max(primary.matched + 1);
        if primary.matched > primary.commit {
            primary.commit = primary.matched;
            commit(node, primary, durable);
        }
        if primary.next <= durable.len() {
            self.replicate(node);
        }
    }

    fn on_fenced<N: NodeApi<Message>>(&mut self, node: &mut N, ballot: u64) -> Result {
        let Some(durable) = &mut self.durable else { return Ok(()) };
        if ballot > durable.promise() {
            durable.promise_at_least(&mut node.disk(), ballot)?;
            self.step_down(node, None);
        }
        Ok(())
    }

    fn on_message<N: NodeApi<Message>>(
        &mut self,
        node: &mut N,
        from: NodeId,
        message: Message,
    ) -> Result {
        match message {
            Message::Write { session, seq, amount } => {
                self.on_write(node, from, (session, seq, amount))
            }
            Message::Append { ballot, prev_index, prev_ballot, entries } => {
                self.on_append(node, from, (ballot, prev_index, prev_ballot), &entries)
            }
            Message::AppendReply { ballot, ok, matched } => {
                self.on_append_reply(node, (ballot, ok, matched));
                Ok(())
            }
            Message::Fenced { ballot } => self.on_fenced(node, ballot),
            Message::WriteOk { .. } | Message::NotPrimary { .. } => Ok(()),
        }
    }
}

/// Applies what is newly committed and acknowledges the writes waiting for it (each only if
/// its index still holds its entry).
fn commit<N: NodeApi<Message>>(node: &mut N, primary: &mut Primary, durable: &Durable) {
    while primary.applied < primary.commit {
        primary.applied += 1;
        if let Some(entry) = durable.entry(primary.applied) {
            let applied = primary.accounts.apply(entry);
            node.sometimes(!applied, "standby: a retried write was applied once");
        }
    }
    let ready: Vec<u64> = primary.waiting.range(..=primary.commit).map(|(&i, _)| i).collect();
    for index in ready {
        let Some((client, session, seq)) = primary.waiting.remove(&index) else { continue };
        let holds = durable.entry(index).is_some_and(|entry| {
            (entry.client(), entry.session, entry.seq, entry.ballot)
                == (client, session, seq, primary.ballot)
        });
        if holds {
            acknowledge(node, primary.ballot, client, session, seq);
        }
    }
}

fn acknowledge<N: NodeApi<Message>>(
    node: &mut N,
    ballot: u64,
    client: NodeId,
    session: u32,
    seq: u64,
) {
    node.send(client, Message::WriteOk { session, seq });
    let fields = [
        ("client", client.into()),
        ("session", session.into()),
        ("seq", seq.into()),
        ("ballot", ballot.into()),
    ];
    node.observe("acked", &fields);
}

impl<N: NodeApi<Message>> Process<Message, N> for Replica {
    fn on_start(&mut self, node: &mut N) {
        let opened = Durable::open(&mut node.disk());
        let durable = match opened {
            Ok(durable) => durable,
            Err(error) => {
                node.abort(&format!("cannot recover the replica: {error}"));
                return;
            }
        };
        let first_boot = durable.promise() == 0 && durable.len() == 0 && node.incarnation() == 0;
        self.durable = Some(durable);
        self.heard_primary(node);
        node.set_timer(self.config.heartbeat_interval, TIMER_TICK);
        // The first replica bootstraps the system as its first primary.
        if first_boot && self.config.me_index == 0 {
            if let Err(error) = self.promote(node) {
                node.abort(&error.to_string());
            }
        }
    }

    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        if let Err(error) = Replica::on_message(self, node, from, message) {
            node.abort(&error.to_string());
        }
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, tag: u64) {
        if tag != TIMER_TICK {
            return;
        }
        node.set_timer(self.config.heartbeat_interval, TIMER_TICK);
        if let Err(error) = self.on_tick(node) {
            node.abort(&error.to_string());
        }
    }
}
