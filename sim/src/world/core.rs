//! The core of a run: everything but the processes, so a process and the core can be
//! borrowed at once during a callback. Owns the event enum and the effect paths every
//! authority shares (send, timers, records, observations, disk tracing).

use std::borrow::Cow;
use std::collections::{BTreeSet, VecDeque};
use std::fmt::Debug;

use crate::check::Coverage;
use crate::clock::Clock;
use crate::disk::{Disk, DiskError, DiskEvent, DiskOp, DiskTicket};
use crate::fault::{Buggify, ControlAction, Supervisor, Trigger, TriggerWhen};
use crate::id::{NodeId, TimerId};
use crate::net::{DropCause, Network, Refusal, SendError};
use crate::node::{DownReason, Envelope, NodeStatus};
use crate::observation::Observation;
use crate::rng::{label_hash, Stream};
use crate::scheduler::Scheduler;
use crate::time::{Duration, Instant};
use crate::topology::Topology;
use crate::trace::{Kind, Trace, Value};
use crate::wire::Wire;

use super::WorldConfig;

/// The world's event enum: closed, one variant per thing that can happen.
#[derive(Debug)]
pub(crate) enum Event<P> {
    /// A node boots (or reboots) and runs `on_start`.
    Start {
        node: NodeId,
        incarnation: u32,
    },
    /// A packet reaches `to`.
    Deliver(Delivery<P>),
    Timer {
        node: NodeId,
        timer: TimerId,
        tag: u64,
        incarnation: u32,
    },
    /// A clog may have ended: release what no clog holds any more.
    ClogCheck,
    /// A control action scheduled ahead of time.
    Action(Box<ControlAction>),
    /// A timed partition ends, if it is still the current one.
    HealPartition {
        generation: u64,
    },
    /// A submitted disk operation completes.
    DiskDone {
        node: NodeId,
        ticket: DiskTicket,
        incarnation: u32,
    },
}

#[derive(Debug)]
pub(crate) struct Delivery<P> {
    pub packet: u64,
    pub link: u32,
    pub from: NodeId,
    pub to: NodeId,
    pub sent_at: Instant,
    pub duplicate: bool,
    pub corrupted: bool,
    pub payload: P,
}

/// Per-node state the engine keeps (the process itself lives in `World::processes`).
pub(crate) struct NodeState<M, P> {
    pub status: NodeStatus,
    pub incarnation: u32,
    pub clock: Clock,
    pub app_stream: Stream,
    /// Events held while paused, in arrival order.
    pub held: Vec<Event<P>>,
    /// Messages for pull-style endpoints.
    pub inbox: VecDeque<Envelope<M>>,
    pub has_process: bool,
    /// Set when the node stopped within the current callback (power loss at a disk crash
    /// point, exit, abort): its remaining effects vanish, and the world ends the node when
    /// the callback returns.
    pub halt: Option<Halt>,
    /// Why the node is down, while it is.
    pub down: Option<DownReason>,
    /// Roles the process says it holds now (`NodeApi::hold_role`); gone with the process.
    pub roles: Vec<Cow<'static, str>>,
    /// Boot again this long after the next power loss (a crash point's `restart_after`).
    pub restart_on_power_loss: Option<Duration>,
}

/// How a node stopped within a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Halt {
    /// A disk crash point fired: the machine lost power.
    PowerLoss,
    /// The process called `exit(code)`.
    Exit(i32),
    /// The process called `abort(reason)`.
    Abort(String),
}

/// Everything of a run except the processes, so a process and the core can be borrowed at
/// the same time during a callback.
pub struct Core<M, W: Wire<M>> {
    pub(crate) seed: u64,
    pub(crate) now: Instant,
    pub(crate) config: WorldConfig,
    pub(crate) scheduler: Scheduler<Event<W::Packet>>,
    pub(crate) wire: W,
    pub(crate) net: Network,
    pub(crate) nodes: Vec<NodeState<M, W::Packet>>,
    pub(crate) topology: Topology,
    pub(crate) trace: Trace,
    pub(crate) buggify: Buggify,
    pub(crate) disks: Vec<Disk>,
    pub(crate) next_timer: u64,
    pub(crate) cancelled_timers: BTreeSet<u64>,
    /// Packets held by clogs, in arrival order.
    pub(crate) clog_held: Vec<Delivery<W::Packet>>,
    pub(crate) partition_generation: u64,
    pub(crate) events_processed: u64,
    /// Sometimes-points declared by processes (`NodeApi::sometimes`).
    pub(crate) coverage: Coverage,
    /// The node whose callback is running: the one a `Context` acts for.
    pub(crate) current: NodeId,
    /// Observations made since checks last consumed them (kept only when some check
    /// consumes observations: `keep_observations`).
    pub(crate) observations: Vec<Observation>,
    pub(crate) observations_total: u64,
    pub(crate) keep_observations: bool,
    /// Faults that follow the protocol, with their firing state.
    pub(crate) triggers: Vec<ArmedTrigger>,
    /// Actions to apply when the current callback returns, with their delay from then.
    pub(crate) pending: Vec<(Duration, ControlAction)>,
    pub(crate) supervisor: Option<Supervisor>,
    /// Draws nodes for role-holder actions when nobody holds the role.
    pub(crate) role_fallback: Stream,
    /// Whether a process callback is running (still true after a panic escaped one).
    pub(crate) in_callback: bool,
    /// At most this many nodes down or paused at once; crashes and pauses beyond it are
    /// skipped (traced) and counted.
    pub(crate) max_dead: Option<u32>,
    pub(crate) skipped_by_max_dead: u64,
    /// Pauses that froze a running node (fault coverage counts them).
    pub(crate) pauses_applied: u64,
}

/// A trigger with its streams and how often it fired.
pub(crate) struct ArmedTrigger {
    pub trigger: Trigger,
    pub fire: Stream,
    pub restart: Stream,
    pub fired: u32,
}

impl ArmedTrigger {
    pub(crate) fn new(seed: u64, trigger: Trigger) -> ArmedTrigger {
        let fire = Stream::with_parts(seed, "fault.trigger", &[label_hash(&trigger.name, &[])]);
        let restart =
            Stream::with_parts(seed, "fault.trigger.restart", &[label_hash(&trigger.name, &[])]);
        ArmedTrigger { trigger, fire, restart, fired: 0 }
    }
}

impl<M: Debug + 'static, W: Wire<M>> Core<M, W> {
    /// Whether `node` stopped during the current callback (power loss, exit, abort): its
    /// remaining effects vanish.
    #[inline(always)]
    pub(crate) fn halted(&self, node: NodeId) -> bool {
        self.nodes[node.index()].halt.is_some()
    }

    /// Stops `node` within its callback; the first reason wins.
    pub(crate) fn halt(&mut self, node: NodeId, halt: Halt) {
        let state = &mut self.nodes[node.index()];
        if state.halt.is_none() {
            state.halt = Some(halt);
        }
    }

    /// After each disk operation of a process: traces what the disk did, where it did it
    /// (in program order with the callback's sends), and notes a power loss.
    #[inline]
    pub(crate) fn after_disk_operation(&mut self, node: NodeId) {
        let disk = &self.disks[node.index()];
        if disk.has_events() {
            self.trace_disk_events_now(node);
        }
        if self.disks[node.index()].crash_pending() {
            self.halt(node, Halt::PowerLoss);
        }
    }

    pub(crate) fn submit_disk(
        &mut self,
        node: NodeId,
        op: DiskOp,
    ) -> Result<DiskTicket, DiskError> {
        let submission = self.disks[node.index()].submit(op)?;
        let incarnation = self.nodes[node.index()].incarnation;
        let at = self.now + submission.latency;
        self.scheduler.push(at, Event::DiskDone { node, ticket: submission.ticket, incarnation });
        Ok(submission.ticket)
    }

    /// Folds the disk's events into the fingerprint and, if recording, the trace.
    #[inline]
    pub(crate) fn trace_disk_events(&mut self, node: NodeId) {
        // Called after every callback; most callbacks touch no disk.
        if self.disks[node.index()].has_events() {
            self.trace_disk_events_now(node);
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn trace_disk_events_now(&mut self, node: NodeId) {
        let now = self.now;
        let node_word = u64::from(node.0);
        for event in self.disks[node.index()].drain_events() {
            let (code, a, b) = match &event {
                DiskEvent::Operation {
                    operation_index,
                    kind,
                    offset_bytes,
                    length_bytes,
                    error,
                    ..
                } => (
                    16 + *kind as u64 * 16 + error.map_or(0, |e| 1 + e as u64),
                    *operation_index,
                    offset_bytes ^ length_bytes.rotate_left(32),
                ),
                DiskEvent::ReadCorrupted { offset_bytes, bit, .. } => {
                    (2, *offset_bytes, u64::from(*bit))
                }
                DiskEvent::LatentCorruption { offset_bytes, bit, .. } => {
                    (3, *offset_bytes, u64::from(*bit))
                }
                DiskEvent::MisdirectedWrite {
                    intended_offset_bytes, landed_offset_bytes, ..
                } => (4, *intended_offset_bytes, landed_offset_bytes.unwrap_or(u64::MAX)),
                DiskEvent::CrashPoint { operation_index, .. } => (5, *operation_index, 0),
                DiskEvent::Crash(report) => (6, report.mode as u64, report.changes_kept),
            };
            self.trace.mix(Kind::Disk, now, [node_word, code, a, b]);
            self.trace.record(now, Some(node), "disk", &[], || Some(format!("{event:?}")));
        }
    }

    #[inline]
    pub(crate) fn local_now(&self, node: NodeId) -> Instant {
        self.nodes[node.index()].clock.local(self.now)
    }

    /// The one send path, for processes and endpoints alike.
    #[inline]
    pub(crate) fn send(&mut self, from: NodeId, to: NodeId, message: M) -> Result<(), SendError> {
        let now = self.now;
        if to.index() >= self.nodes.len() {
            // Sending to a node that does not exist is a bug in the caller's addressing; the
            // network drops it like an unroutable datagram, visibly.
            self.trace.mix(Kind::Drop, now, [u64::from(from.0), u64::from(to.0), u64::MAX, 0]);
            self.trace.record(
                now,
                Some(from),
                "drop",
                &[("to", to.into()), ("cause", "no_such_node".into())],
                || Some(format!("{message:?}")),
            );
            return Ok(());
        }
        let packet = self.net.next_packet_id();
        match self.net.admit(now, from, to, W::CORRUPTIBLE) {
            Ok(admitted) => {
                self.trace.mix(Kind::Send, now, [u64::from(from.0), u64::from(to.0), packet, 0]);
                // Gated here, not only inside `record`: this is the hottest call site, and
                // building the field array is work a run without recording must not do.
                if self.trace.is_recording() {
                    self.trace.record(
                        now,
                        Some(from),
                        "send",
                        &[("to", to.into()), ("pkt", packet.into())],
                        || Some(format!("{message:?}")),
                    );
                }
                let mut payload = self.wire.pack(message);
                if admitted.corrupted {
                    let stream = self.net.corrupt_stream(admitted.link);
                    self.wire.corrupt(&mut payload, stream);
                    self.net.link_mut(admitted.link).stats.corrupted += 1;
                }
                let delivery = |payload, duplicate| Delivery {
                    packet,
                    link: admitted.link,
                    from,
                    to,
                    sent_at: now,
                    duplicate,
                    corrupted: admitted.corrupted,
                    payload,
                };
                if let Some(at) = admitted.duplicate_at {
                    self.trace.mix(Kind::Duplicate, now, [packet, at.as_nanos(), 0, 0]);
                    self.trace.record(
                        now,
                        Some(from),
                        "duplicate",
                        &[("to", to.into()), ("pkt", packet.into())],
                        || None,
                    );
                    self.scheduler.push(at, Event::Deliver(delivery(payload.clone(), true)));
                }
                self.scheduler.push(admitted.deliver_at, Event::Deliver(delivery(payload, false)));
                Ok(())
            }
            Err(Refusal::Drop(link, cause)) => {
                self.net.count_drop(link, cause);
                self.trace_drop((from, to, packet), true, cause, cause.name(), || {
                    Some(format!("{message:?}"))
                });
                Ok(())
            }
            Err(Refusal::Reject(link)) => {
                self.net.link_mut(link).stats.rejected += 1;
                self.trace.mix(Kind::Drop, now, [u64::from(from.0), u64::from(to.0), packet, 99]);
                self.trace.record(
                    now,
                    Some(from),
                    "reject",
                    &[("to", to.into()), ("pkt", packet.into()), ("cause", "queue_full".into())],
                    || Some(format!("{message:?}")),
                );
                Err(SendError::QueueFull(to))
            }
        }
    }

    /// Fingerprints and records a packet that did not arrive. Send-side drops are recorded at
    /// the sender (`to=`), delivery-side drops at the receiver (`from=`).
    pub(crate) fn trace_drop(
        &mut self,
        (from, to, packet): (NodeId, NodeId, u64),
        at_sender: bool,
        cause: DropCause,
        cause_text: &str,
        detail: impl FnOnce() -> Option<String>,
    ) {
        let now = self.now;
        self.trace.mix(Kind::Drop, now, [u64::from(from.0), u64::from(to.0), packet, cause as u64]);
        if self.trace.is_recording() {
            let (node, peer) =
                if at_sender { (from, ("to", to.into())) } else { (to, ("from", from.into())) };
            let fields = [peer, ("pkt", packet.into()), ("cause", cause_text.into())];
            self.trace.record(now, Some(node), "drop", &fields, detail);
        }
    }

    pub(crate) fn set_timer(&mut self, node: NodeId, after: Duration, tag: u64) -> TimerId {
        let timer = TimerId(self.next_timer);
        self.next_timer += 1;
        if self.halted(node) {
            return timer; // the machine is off: the timer never existed
        }
        let state = &self.nodes[node.index()];
        let at = self.now + state.clock.true_duration(after);
        let incarnation = state.incarnation;
        self.scheduler.push(at, Event::Timer { node, timer, tag, incarnation });
        timer
    }

    pub(crate) fn cancel_timer(&mut self, timer: TimerId) {
        if timer.0 < self.next_timer {
            self.cancelled_timers.insert(timer.0);
        }
    }

    pub(crate) fn record_user(
        &mut self,
        node: Option<NodeId>,
        kind: &str,
        fields: &[(&str, Value<'_>)],
    ) {
        let now = self.now;
        self.trace.mix(
            Kind::User,
            now,
            [node.map_or(u64::MAX, |n| u64::from(n.0)), fields.len() as u64, 0, 0],
        );
        self.trace.mix_text(kind);
        for (name, value) in fields {
            self.trace.mix_text(name);
            self.trace.mix_value(*value);
        }
        self.trace.record(now, node, kind, fields, || None);
        if let Some(node) = node {
            if !self.triggers.is_empty() {
                self.pull_triggers(node, kind);
            }
        }
    }

    pub(crate) fn buggify(&mut self, node: NodeId, site: &'static str) -> bool {
        let fires = self.buggify.fires(self.seed, site);
        if fires {
            let now = self.now;
            self.trace.mix(Kind::Buggify, now, [u64::from(node.0), 0, 0, 0]);
            self.trace.mix_text(site);
            self.trace.record(now, Some(node), "buggify", &[("site", site.into())], || None);
        }
        fires
    }

    /// Records an observation of `node`: fingerprinted, traced like a record, and kept for
    /// the checks that consume observations.
    pub(crate) fn observe<F: FieldName>(
        &mut self,
        node: NodeId,
        kind: Cow<'static, str>,
        fields: &[(F, Value<'_>)],
    ) {
        if self.halted(node) {
            return;
        }
        let now = self.now;
        self.trace.mix(Kind::Observe, now, [u64::from(node.0), fields.len() as u64, 0, 0]);
        self.trace.mix_text(&kind);
        for (name, value) in fields {
            self.trace.mix_text(name.as_str());
            self.trace.mix_value(*value);
        }
        if self.trace.is_recording() {
            let named: Vec<(&str, Value<'_>)> =
                fields.iter().map(|(name, value)| (name.as_str(), *value)).collect();
            self.trace.record(now, Some(node), &kind, &named, || None);
        }
        if !self.triggers.is_empty() {
            self.pull_triggers(node, &kind);
        }
        let seq = self.observations_total;
        self.observations_total += 1;
        if self.keep_observations {
            let incarnation = self.nodes[node.index()].incarnation;
            let fields =
                fields.iter().map(|(name, value)| (name.to_name(), (*value).into())).collect();
            self.observations.push(Observation { seq, at: now, node, incarnation, kind, fields });
        }
    }
}

impl<M: Debug + 'static, W: Wire<M>> Core<M, W> {
    /// `node` made an event of `kind`: every trigger it matches may fire (each draws from
    /// its own stream only when matched, so one trigger never shifts another's draws).
    #[cold]
    #[inline(never)]
    fn pull_triggers(&mut self, node: NodeId, kind: &str) {
        let now = self.now;
        for index in 0..self.triggers.len() {
            let armed = &mut self.triggers[index];
            let trigger = &armed.trigger;
            let matches = trigger.event == kind
                && trigger.nodes.as_ref().is_none_or(|nodes| nodes.contains(&node))
                && trigger.budget.is_none_or(|budget| armed.fired < budget);
            if !matches || !armed.fire.bernoulli(trigger.probability) {
                continue;
            }
            armed.fired += 1;
            let restart = trigger.restart_after.map(|(low, high)| {
                Duration::from_nanos(armed.restart.uniform_u64(low.as_nanos(), high.as_nanos()))
            });
            let action = match trigger.at_observer {
                true => trigger.action.with_node(node),
                false => trigger.action.clone(),
            };
            let when = trigger.when;
            self.trace.mix(Kind::Control, now, [u64::from(node.0), 1, index as u64, 0]);
            self.trace.mix_text(&trigger.name);
            if self.trace.is_recording() {
                let name = trigger.name.clone();
                let fields = [("rule", Value::Str(&name)), ("event", Value::Str(kind))];
                self.trace.record(now, Some(node), "trigger", &fields, || None);
            }
            match (when, &action) {
                (TriggerWhen::Before, ControlAction::Crash(target)) if *target == node => {
                    if !self.max_dead_reached(node) {
                        self.nodes[node.index()].restart_on_power_loss = restart;
                        self.halt(node, Halt::PowerLoss);
                    }
                }
                _ => {
                    let action = match restart {
                        Some(after) => action.with_restart(after),
                        None => action,
                    };
                    self.pending.push((Duration::ZERO, action));
                }
            }
        }
    }

    /// `node` says it holds `role` now (or no longer); traced when that changes.
    pub(crate) fn hold_role(&mut self, node: NodeId, role: Cow<'static, str>, held: bool) {
        if self.halted(node) {
            return;
        }
        let roles = &mut self.nodes[node.index()].roles;
        let position = roles.iter().position(|r| *r == role);
        match (position, held) {
            (None, true) => roles.push(role.clone()),
            (Some(position), false) => {
                roles.remove(position);
            }
            _ => return,
        }
        let now = self.now;
        self.trace.mix(Kind::User, now, [u64::from(node.0), u64::from(held), 2, 0]);
        self.trace.mix_text(&role);
        let fields = [("name", Value::Str(&role)), ("held", Value::Bool(held))];
        self.trace.record(now, Some(node), "role", &fields, || None);
    }

    /// Whether taking `node` down (crash or pause) would make more than `max_dead` nodes
    /// down at once; a node already down or paused does not count again.
    pub(crate) fn max_dead_reached(&self, node: NodeId) -> bool {
        let Some(max_dead) = self.max_dead else { return false };
        if self.nodes[node.index()].status != NodeStatus::Up {
            return false;
        }
        let dead = self.nodes.iter().filter(|state| state.status != NodeStatus::Up).count();
        dead >= max_dead as usize
    }

    /// The first live node (by id) holding `role`.
    pub(crate) fn role_holder(&self, role: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|state| {
                state.status != NodeStatus::Down && state.roles.iter().any(|r| r == role)
            })
            .map(|index| NodeId(index as u32))
    }
}

/// A field name of an observation: a static string from Rust code (kept without copying),
/// or a borrowed one from a node outside Rust (copied).
pub(crate) trait FieldName: Copy {
    fn as_str(&self) -> &str;
    fn to_name(self) -> Cow<'static, str>;
}

impl FieldName for &'static str {
    fn as_str(&self) -> &str {
        self
    }
    fn to_name(self) -> Cow<'static, str> {
        Cow::Borrowed(self)
    }
}

/// A field name borrowed for the call only.
#[derive(Clone, Copy)]
pub(crate) struct Borrowed<'a>(pub &'a str);

impl FieldName for Borrowed<'_> {
    fn as_str(&self) -> &str {
        self.0
    }
    fn to_name(self) -> Cow<'static, str> {
        Cow::Owned(self.0.to_string())
    }
}
