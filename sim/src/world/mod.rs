//! The world: owns everything of one run (clock, event queue, network, nodes, streams,
//! trace) and runs the one bounded event loop.
//!
//! There is exactly one `match` over events (`World::dispatch`). Events pop in (time,
//! sequence) order; time never goes backwards (asserted). Idle time costs nothing: the clock
//! jumps to the next event. Every loop is bounded by `events_max` and `vtime_max`, and hitting
//! either is an outcome the caller sees, never a hang or a panic.
//!
//! Nothing here is global: two worlds on two threads never interfere.

mod builder;
mod context;
mod control;
mod core;

use std::any::Any;
use std::fmt::Debug;

use crate::check::Coverage;
use crate::disk::{Disk, DiskStats};
use crate::fault::{BuggifyConfig, ControlAction};
use crate::id::NodeId;
use crate::net::{DropCause, NetStats, Network};
use crate::node::{DownReason, Envelope, NodeStatus, Process};
use crate::observation::Observation;
use crate::time::{Duration, Instant};
use crate::topology::Topology;
use crate::trace::{Kind, Trace, Value};
use crate::wire::{Typed, Wire};

pub(crate) use builder::app_stream;
pub use builder::WorldBuilder;
pub use context::{AppDisk, Context, Endpoint};
pub use control::Control;
pub(crate) use core::Core;
use core::{Delivery, Event, Halt};

/// A process of any type, as the world holds it.
pub type BoxedProcess<M, W> = Box<dyn Process<M, Context<M, W>>>;

/// Builds a process for a node; called at boot and at every restart.
pub type Factory<M, W> = Box<dyn FnMut(NodeId) -> BoxedProcess<M, W>>;

/// A predicate over the whole world, checked after every event.
pub type Invariant<M, W> = Box<dyn Fn(&World<M, W>) -> Result<(), String>>;

/// Limits and settings of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorldConfig {
    /// The run stops with `Outcome::Limit(EventsMax)` after this many events.
    pub events_max: u64,
    /// The run stops with `Outcome::Limit(VtimeMax)` before any event later than this.
    pub vtime_max: Instant,
    /// Undelivered messages a pull-style endpoint keeps; more are dropped (`QueueFull`).
    pub inbox_capacity: usize,
    pub buggify: BuggifyConfig,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            events_max: 100_000_000,
            vtime_max: Instant::from_nanos(24 * 3600 * 1_000_000_000),
            inbox_capacity: 1 << 16,
            buggify: BuggifyConfig::default(),
        }
    }
}

/// Which limit stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    EventsMax,
    VtimeMax,
}

/// How a call to `step` / `run*` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// One event was processed (`step` only).
    Stepped,
    /// No events are left.
    Quiescent,
    /// The requested span of virtual time has passed (`run_for`).
    TimeReached,
    /// The predicate became true (`run_until`).
    Satisfied,
    /// A limit was hit; the world refuses to go further.
    Limit(Limit),
    /// An invariant failed after an event.
    Violation { invariant: String, message: String, at: Instant },
}

/// What a `run_with` hook decides after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterEvent {
    /// Go on.
    Continue,
    /// Stop: what the caller waited for holds (`Outcome::Satisfied`).
    Satisfied,
    /// Stop: a check failed (`Outcome::Violation`, traced).
    Violation {
        /// The check's name.
        check: String,
        /// How it failed.
        message: String,
    },
}

/// One simulated run. `M` is the message type; `W` the wire (see `wire`).
pub struct World<M, W: Wire<M> = Typed> {
    core: Core<M, W>,
    processes: Vec<Option<BoxedProcess<M, W>>>,
    factories: Vec<Option<Factory<M, W>>>,
    invariants: Vec<(String, Invariant<M, W>)>,
    stopped: Option<Outcome>,
}

impl<M: Clone + Debug + 'static> World<M, Typed> {
    /// A builder for a world with typed messages.
    pub fn builder(seed: u64) -> WorldBuilder<M, Typed> {
        WorldBuilder::with_wire(seed, Typed)
    }
}

impl<M: Debug + 'static, W: Wire<M>> World<M, W> {
    pub fn seed(&self) -> u64 {
        self.core.seed
    }

    /// True virtual time.
    pub fn now(&self) -> Instant {
        self.core.now
    }

    pub fn n_nodes(&self) -> usize {
        self.core.nodes.len()
    }

    pub fn topology(&self) -> &Topology {
        &self.core.topology
    }

    pub fn status(&self, node: NodeId) -> NodeStatus {
        self.core.nodes[node.index()].status
    }

    /// The trace: fingerprint always, records if recording is on.
    pub fn trace(&self) -> &Trace {
        &self.core.trace
    }

    pub fn trace_mut(&mut self) -> &mut Trace {
        &mut self.core.trace
    }

    pub fn fingerprint(&self) -> u64 {
        self.core.trace.fingerprint()
    }

    /// Events processed so far.
    pub fn events_processed(&self) -> u64 {
        self.core.events_processed
    }

    /// Events waiting in the queue.
    pub fn events_pending(&self) -> usize {
        self.core.scheduler.len()
    }

    /// When the next event in the queue is due, if there is one.
    pub fn next_event_time(&self) -> Option<Instant> {
        self.core.scheduler.peek_time()
    }

    /// The sometimes-points processes declared in this run, and whether each was reached.
    pub fn coverage(&self) -> &Coverage {
        &self.core.coverage
    }

    pub fn net_stats(&self) -> NetStats {
        self.core.net.stats()
    }

    /// A node's disk, read-only (checkers use `Disk::peek_contents`).
    pub fn disk(&self, node: NodeId) -> &Disk {
        &self.core.disks[node.index()]
    }

    /// Disk statistics summed over all nodes.
    pub fn disk_stats(&self) -> DiskStats {
        let mut total = DiskStats::default();
        for disk in &self.core.disks {
            total.merge(disk.stats());
        }
        total
    }

    pub fn network(&self) -> &Network {
        &self.core.net
    }

    pub fn config(&self) -> &WorldConfig {
        &self.core.config
    }

    /// A read-only view of a node's process, if it runs one of type `P` (for invariants and
    /// checkers).
    pub fn process<P: Any>(&self, node: NodeId) -> Option<&P> {
        let process: &dyn Process<M, Context<M, W>> =
            self.processes.get(node.index())?.as_deref()?;
        (process as &dyn Any).downcast_ref::<P>()
    }

    /// All nodes running a process of type `P`, with their state.
    pub fn processes_of<P: Any>(&self) -> impl Iterator<Item = (NodeId, &P)> + '_ {
        (0..self.processes.len()).filter_map(|i| {
            let node = NodeId(i as u32);
            self.process::<P>(node).map(|p| (node, p))
        })
    }

    /// A pull-style endpoint bound to `node`.
    pub fn endpoint(&mut self, node: NodeId) -> Endpoint<'_, M, W> {
        assert!(node.index() < self.core.nodes.len(), "no node {node}");
        Endpoint { node, core: &mut self.core }
    }

    /// The control authority: faults and lifecycle. Processes never get this.
    pub fn control(&mut self) -> Control<'_, M, W> {
        Control { world: self }
    }

    /// Applies `action` at virtual time `at` (now if `at` has passed).
    pub fn schedule(&mut self, at: Instant, action: ControlAction) {
        let at = at.max(self.core.now);
        self.core.scheduler.push(at, Event::Action(Box::new(action)));
    }

    /// Checks `invariant` after every event from now on.
    pub fn add_invariant(
        &mut self,
        name: impl Into<String>,
        invariant: impl Fn(&World<M, W>) -> Result<(), String> + 'static,
    ) {
        self.invariants.push((name.into(), Box::new(invariant)));
    }

    /// Why a node is down (`None` while it is up or paused).
    pub fn down_reason(&self, node: NodeId) -> Option<&DownReason> {
        self.core.nodes[node.index()].down.as_ref()
    }

    /// Keeps observations for `drain_observations` from now on (checks that consume
    /// observations turn this on; without it, observations are only traced).
    pub fn keep_observations(&mut self, keep: bool) {
        self.core.keep_observations = keep;
    }

    /// Whether observations were made since the last drain.
    #[inline]
    pub fn has_new_observations(&self) -> bool {
        !self.core.observations.is_empty()
    }

    /// The observations made since the last drain, in event order.
    pub fn drain_observations(&mut self) -> std::vec::Drain<'_, Observation> {
        self.core.observations.drain(..)
    }

    /// Observations made in this run so far (kept or not).
    pub fn observations_total(&self) -> u64 {
        self.core.observations_total
    }

    /// Adds a fault that follows the protocol (see `Trigger`), from now on.
    pub fn add_trigger(&mut self, trigger: crate::fault::Trigger) {
        let armed = core::ArmedTrigger::new(self.core.seed, trigger);
        self.core.triggers.push(armed);
    }

    /// Restarts nodes that lose power at a disk crash point, exit or abort, after a delay
    /// (see `Supervisor`); `None` leaves them down.
    pub fn set_supervisor(&mut self, supervisor: Option<crate::fault::Supervisor>) {
        self.core.supervisor = supervisor;
    }

    /// At most this many nodes down or paused at once: crashes and pauses beyond it are
    /// skipped (traced as `skipped cause=max_dead`).
    pub fn set_max_dead(&mut self, max_dead: Option<u32>) {
        self.core.max_dead = max_dead;
    }

    /// Crashes and pauses the `max_dead` budget skipped so far.
    pub fn skipped_by_max_dead(&self) -> u64 {
        self.core.skipped_by_max_dead
    }

    /// Pauses that froze a running node so far (a pause of a node already paused or down
    /// changes nothing and is not counted).
    pub fn pauses_applied(&self) -> u64 {
        self.core.pauses_applied
    }

    /// The roles `node` holds now (`NodeApi::hold_role`).
    pub fn roles(&self, node: NodeId) -> impl Iterator<Item = &str> + '_ {
        self.core.nodes[node.index()].roles.iter().map(|role| role.as_ref())
    }

    /// Marks the start of a phase of the run (`chaos`, `heal`, `converge`...) in the trace.
    pub fn mark_phase(&mut self, name: &str) {
        let now = self.core.now;
        self.core.trace.mix(Kind::Control, now, [u64::MAX, 2, 0, 0]);
        self.core.trace.mix_text(name);
        self.core.trace.record(now, None, "phase", &[("name", Value::Str(name))], || None);
    }

    /// Ends the run for a reason found outside the event loop (a liveness check that did not
    /// hold, a final check that failed, a panic), with a `stop` line naming it. Later calls
    /// to `step` do nothing.
    pub fn finish(&mut self, reason: &str, detail: Option<String>) {
        if self.stopped.is_some() {
            return;
        }
        let now = self.core.now;
        self.core.trace.mix(Kind::Limit, now, [4, self.core.events_processed, 0, 0]);
        self.core.trace.mix_text(reason);
        self.core.trace.record(now, None, "stop", &[("reason", Value::Str(reason))], || detail);
        self.stopped = Some(Outcome::Quiescent);
    }

    /// The node whose callback a panic escaped from, if one did.
    pub fn panicked_node(&self) -> Option<NodeId> {
        self.core.in_callback.then_some(self.core.current)
    }

    /// Records a trace event not tied to a node (a test's or checker's note).
    pub fn record(&mut self, kind: &str, fields: &[(&str, Value<'_>)]) {
        self.core.record_user(None, kind, fields);
    }

    /// Processes the next event, if any and if no limit forbids it.
    pub fn step(&mut self) -> Outcome {
        if let Some(stopped) = &self.stopped {
            return stopped.clone();
        }
        let Some(time) = self.core.scheduler.peek_time() else {
            return Outcome::Quiescent;
        };
        if self.core.events_processed >= self.core.config.events_max {
            return self.stop(Outcome::Limit(Limit::EventsMax));
        }
        if time > self.core.config.vtime_max {
            return self.stop(Outcome::Limit(Limit::VtimeMax));
        }
        let Some(scheduled) = self.core.scheduler.pop() else {
            return Outcome::Quiescent;
        };
        assert!(
            scheduled.time >= self.core.now,
            "time went backwards: {} < {}",
            scheduled.time,
            self.core.now
        );
        self.core.now = scheduled.time;
        self.core.events_processed += 1;
        self.dispatch(scheduled.event);
        if !self.invariants.is_empty() {
            if let Some(violation) = self.check_invariants() {
                return self.stop(violation);
            }
        }
        Outcome::Stepped
    }

    /// Runs until `duration` of virtual time has passed (the clock then reads exactly
    /// `now + duration`), the queue empties, or a limit or invariant stops the run.
    pub fn run_for(&mut self, duration: Duration) -> Outcome {
        let until = self.core.now + duration;
        self.run_with(until, |_| AfterEvent::Continue)
    }

    /// Runs until virtual time `until` like `run_for`, calling `after_event` after every
    /// event: it may let the run go on, stop it as satisfied, or stop it with a violation
    /// (traced as the run's `stop` line). The runner's harness evaluates checks here.
    #[inline]
    pub fn run_with(
        &mut self,
        until: Instant,
        mut after_event: impl FnMut(&mut World<M, W>) -> AfterEvent,
    ) -> Outcome {
        loop {
            match self.core.scheduler.peek_time() {
                Some(time) if time <= until => match self.step() {
                    Outcome::Stepped => match after_event(self) {
                        AfterEvent::Continue => {}
                        AfterEvent::Satisfied => return Outcome::Satisfied,
                        AfterEvent::Violation { check, message } => {
                            let at = self.core.now;
                            return self.stop(Outcome::Violation { invariant: check, message, at });
                        }
                    },
                    other => return other,
                },
                _ => {
                    if until <= self.core.config.vtime_max {
                        self.core.now = self.core.now.max(until);
                        return Outcome::TimeReached;
                    }
                    return self.stop(Outcome::Limit(Limit::VtimeMax));
                }
            }
        }
    }

    /// Runs until `predicate` holds (checked before each event), the queue empties, or a
    /// limit or invariant stops the run.
    pub fn run_until(&mut self, mut predicate: impl FnMut(&World<M, W>) -> bool) -> Outcome {
        loop {
            if predicate(self) {
                return Outcome::Satisfied;
            }
            match self.step() {
                Outcome::Stepped => {}
                other => return other,
            }
        }
    }

    /// Runs until the queue empties or a limit or invariant stops the run.
    pub fn run(&mut self) -> Outcome {
        loop {
            match self.step() {
                Outcome::Stepped => {}
                other => return other,
            }
        }
    }

    fn stop(&mut self, outcome: Outcome) -> Outcome {
        if self.stopped.is_none() {
            let now = self.core.now;
            let code = match &outcome {
                Outcome::Limit(Limit::EventsMax) => 1,
                Outcome::Limit(Limit::VtimeMax) => 2,
                _ => 3,
            };
            self.core.trace.mix(Kind::Limit, now, [code, self.core.events_processed, 0, 0]);
            let text = match &outcome {
                Outcome::Limit(Limit::EventsMax) => "events_max".to_string(),
                Outcome::Limit(Limit::VtimeMax) => "vtime_max".to_string(),
                Outcome::Violation { invariant, .. } => format!("invariant:{invariant}"),
                other => format!("{other:?}"),
            };
            self.core.trace.record(now, None, "stop", &[("reason", text.as_str().into())], || {
                match &outcome {
                    Outcome::Violation { message, .. } => Some(message.clone()),
                    _ => None,
                }
            });
            self.stopped = Some(outcome.clone());
        }
        outcome
    }

    fn check_invariants(&self) -> Option<Outcome> {
        for (name, invariant) in &self.invariants {
            if let Err(message) = invariant(self) {
                return Some(Outcome::Violation {
                    invariant: name.clone(),
                    message,
                    at: self.core.now,
                });
            }
        }
        None
    }

    /// The one match over events.
    fn dispatch(&mut self, event: Event<W::Packet>) {
        let now = self.core.now;
        match event {
            Event::Start { node, incarnation } => {
                let state = &mut self.core.nodes[node.index()];
                if state.incarnation != incarnation || state.status == NodeStatus::Down {
                    return;
                }
                if state.status == NodeStatus::Paused {
                    state.held.push(Event::Start { node, incarnation });
                    return;
                }
                self.core.trace.mix(
                    Kind::Start,
                    now,
                    [u64::from(node.0), u64::from(incarnation), 0, 0],
                );
                self.core.trace.record(
                    now,
                    Some(node),
                    "start",
                    &[("incarnation", incarnation.into())],
                    || None,
                );
                self.with_process(node, |process, ctx| process.on_start(ctx));
            }
            Event::Deliver(delivery) => self.deliver(delivery),
            Event::Timer { node, timer, tag, incarnation } => {
                if self.core.cancelled_timers.remove(&timer.0) {
                    return;
                }
                let state = &mut self.core.nodes[node.index()];
                if state.incarnation != incarnation || state.status == NodeStatus::Down {
                    return;
                }
                if state.status == NodeStatus::Paused {
                    state.held.push(Event::Timer { node, timer, tag, incarnation });
                    return;
                }
                self.core.trace.mix(Kind::Timer, now, [u64::from(node.0), timer.0, tag, 0]);
                self.core.trace.record(
                    now,
                    Some(node),
                    "timer",
                    &[("id", timer.0.into()), ("tag", tag.into())],
                    || None,
                );
                self.with_process(node, |process, ctx| process.on_timer(ctx, timer, tag));
            }
            Event::ClogCheck => self.release_clogged(),
            Event::Action(action) => self.apply(*action),
            Event::DiskDone { node, ticket, incarnation } => {
                let state = &mut self.core.nodes[node.index()];
                if state.incarnation != incarnation || state.status == NodeStatus::Down {
                    return;
                }
                if state.status == NodeStatus::Paused {
                    state.held.push(Event::DiskDone { node, ticket, incarnation });
                    return;
                }
                let Some(result) = self.core.disks[node.index()].complete(ticket) else {
                    return;
                };
                let ok = result.is_ok();
                self.core.trace.mix(
                    Kind::Disk,
                    now,
                    [u64::from(node.0), 7, ticket.id(), u64::from(ok)],
                );
                self.core.trace.record(
                    now,
                    Some(node),
                    "disk_done",
                    &[("ticket", ticket.id().into()), ("ok", ok.into())],
                    || None,
                );
                self.with_process(node, |process, ctx| process.on_disk(ctx, ticket, result));
            }
            Event::HealPartition { generation } => {
                if generation == self.core.partition_generation && self.core.net.partition.is_some()
                {
                    self.apply(ControlAction::Heal);
                }
            }
        }
    }

    fn deliver(&mut self, delivery: Delivery<W::Packet>) {
        let now = self.core.now;
        let (from, to, packet) = (delivery.from, delivery.to, delivery.packet);
        let state = &mut self.core.nodes[to.index()];
        if state.status == NodeStatus::Paused {
            // The machine is frozen: the packet waits at its door, still in the network.
            state.held.push(Event::Deliver(delivery));
            return;
        }
        let net = &mut self.core.net;
        if !net.can_reach(from, to) {
            return self.drop_in_flight(delivery, DropCause::Partition);
        }
        if net.is_clogged(from, to) {
            self.core.trace.mix(Kind::Hold, now, [u64::from(from.0), u64::from(to.0), packet, 0]);
            self.core.trace.record(
                now,
                Some(to),
                "hold",
                &[("from", from.into()), ("pkt", packet.into())],
                || None,
            );
            self.core.net.link_mut(delivery.link).stats.held += 1;
            self.core.clog_held.push(delivery);
            return;
        }
        if self.core.nodes[to.index()].status == NodeStatus::Down || !net.is_interface_up(to) {
            return self.drop_in_flight(delivery, DropCause::NodeDown);
        }
        let link = delivery.link;
        let message = match self.core.wire.unpack(delivery.payload) {
            Ok(message) => message,
            Err(error) => {
                self.core.net.leave(link);
                self.core.net.count_drop(link, DropCause::Corrupt);
                let cause = DropCause::Corrupt;
                self.core
                    .trace_drop((from, to, packet), false, cause, cause.name(), || Some(error.0));
                return;
            }
        };
        self.core.net.leave(link);
        let has_process = self.core.nodes[to.index()].has_process;
        if !has_process
            && self.core.nodes[to.index()].inbox.len() >= self.core.config.inbox_capacity
        {
            // A pull-style endpoint's inbox is its socket buffer: overflow is a drop.
            self.core.net.count_drop(link, DropCause::QueueFull);
            self.core.trace_drop(
                (from, to, packet),
                false,
                DropCause::QueueFull,
                "inbox_full",
                || Some(format!("{message:?}")),
            );
            return;
        }
        self.core.net.count_delivery(link, now - delivery.sent_at);
        self.core.trace.mix(
            Kind::Deliver,
            now,
            [u64::from(from.0), u64::from(to.0), packet, u64::from(delivery.duplicate)],
        );
        if self.core.trace.is_recording() {
            let mut fields = vec![("from", Value::Node(from)), ("pkt", Value::U64(packet))];
            if delivery.duplicate {
                fields.push(("duplicate", Value::Bool(true)));
            }
            if delivery.corrupted {
                fields.push(("corrupted", Value::Bool(true)));
            }
            self.core
                .trace
                .record(now, Some(to), "deliver", &fields, || Some(format!("{message:?}")));
        }
        if has_process {
            self.with_process(to, |process, ctx| process.on_message(ctx, from, message));
        } else {
            self.core.nodes[to.index()].inbox.push_back(Envelope { from, message });
        }
    }

    fn drop_in_flight(&mut self, delivery: Delivery<W::Packet>, cause: DropCause) {
        self.core.net.leave(delivery.link);
        self.core.net.count_drop(delivery.link, cause);
        let ids = (delivery.from, delivery.to, delivery.packet);
        self.core.trace_drop(ids, false, cause, cause.name(), || {
            Some(format!("{:?}", delivery.payload))
        });
    }

    /// Runs one callback of `node`'s process with a context, then finishes the callback.
    #[inline]
    fn with_process(
        &mut self,
        node: NodeId,
        callback: impl FnOnce(&mut dyn Process<M, Context<M, W>>, &mut Context<M, W>),
    ) {
        let Some(process) = self.processes[node.index()].as_deref_mut() else {
            return;
        };
        self.core.current = node;
        self.core.in_callback = true;
        callback(process, Context::of(&mut self.core));
        self.core.in_callback = false;
        // Most callbacks neither stop the node, leave disk events nor pull a trigger: one
        // look each decides.
        if self.core.nodes[node.index()].halt.is_some()
            || self.core.disks[node.index()].has_events()
            || !self.core.pending.is_empty()
        {
            self.finish_callback(node);
        }
    }

    /// Traces what a callback left on its disk and ends the node if it stopped itself or
    /// lost power during the callback.
    #[cold]
    #[inline(never)]
    fn finish_callback(&mut self, node: NodeId) {
        self.core.trace_disk_events(node);
        let halt = self.core.nodes[node.index()].halt.take();
        let halted = halt.is_some();
        match halt {
            None => {}
            Some(Halt::PowerLoss) => {
                let now = self.core.now;
                self.core.trace.mix(Kind::Crash, now, [u64::from(node.0), 1, 0, 0]);
                let cause = [("cause", Value::Str("power_loss"))];
                self.core.trace.record(now, Some(node), "crash", &cause, || None);
                self.crash(node);
            }
            Some(Halt::Exit(code)) => self.end_process(node, DownReason::Exited(code)),
            Some(Halt::Abort(reason)) => self.end_process(node, DownReason::Aborted(reason)),
        }
        if halted {
            self.supervise(node);
        }
        for (after, action) in std::mem::take(&mut self.core.pending) {
            match after == Duration::ZERO {
                true => self.apply(action),
                false => self.schedule(self.core.now + after, action),
            }
        }
    }

    /// A node that stopped itself or lost power comes back after its crash point's
    /// `restart_after`, or after the supervisor's delay, if either is set.
    fn supervise(&mut self, node: NodeId) {
        let explicit = self.core.nodes[node.index()].restart_on_power_loss.take();
        let delay = explicit.or_else(|| {
            let supervisor = self.core.supervisor?;
            let mut stream = crate::rng::Stream::with_parts(
                self.core.seed,
                "supervisor",
                &[u64::from(node.0), u64::from(self.core.nodes[node.index()].incarnation)],
            );
            let (low, high) = (supervisor.restart_after_min, supervisor.restart_after_max);
            Some(Duration::from_nanos(stream.uniform_u64(low.as_nanos(), high.as_nanos())))
        });
        if let Some(delay) = delay {
            self.schedule(self.core.now + delay, ControlAction::Start(node));
        }
    }

    /// Releases packets whose clogs have ended, in their original order.
    fn release_clogged(&mut self) {
        let now = self.core.now;
        self.core.net.expire_clogs(now);
        let held = std::mem::take(&mut self.core.clog_held);
        for delivery in held {
            if self.core.net.is_clogged(delivery.from, delivery.to) {
                self.core.clog_held.push(delivery);
            } else {
                self.core.trace.mix(
                    Kind::Release,
                    now,
                    [u64::from(delivery.from.0), u64::from(delivery.to.0), delivery.packet, 0],
                );
                self.core.trace.record(
                    now,
                    Some(delivery.to),
                    "release",
                    &[("from", delivery.from.into()), ("pkt", delivery.packet.into())],
                    || None,
                );
                // Delivered here, not re-queued: a re-queued packet would sort after packets
                // already scheduled for this instant, breaking FIFO links.
                self.deliver(delivery);
            }
        }
    }

    /// The machine crashes: the process and its volatile state are gone, the disk applies
    /// its crash contract to everything unsynced.
    fn crash(&mut self, node: NodeId) {
        if !self.take_down(node, DownReason::Crashed) {
            return;
        }
        self.core.disks[node.index()].crash();
        self.core.trace_disk_events(node);
    }

    /// The process ended itself (exit or abort) while the machine stayed up: written files
    /// stay in the page cache. Traced as `exit code=` or `abort reason=`.
    fn end_process(&mut self, node: NodeId, reason: DownReason) {
        let now = self.core.now;
        let (kind, code) = match &reason {
            DownReason::Exited(code) => ("exit", *code as u64),
            DownReason::Aborted(_) => ("abort", u64::MAX),
            DownReason::Crashed => unreachable!("a crash is not a process ending"),
        };
        self.core.trace.mix(Kind::End, now, [u64::from(node.0), code, 0, 0]);
        match &reason {
            DownReason::Exited(code) => {
                let code = i64::from(*code);
                self.core.trace.record(now, Some(node), kind, &[("code", code.into())], || None)
            }
            DownReason::Aborted(why) => {
                self.core.trace.mix_text(why);
                self.core.trace.record(
                    now,
                    Some(node),
                    kind,
                    &[("reason", why.as_str().into())],
                    || None,
                )
            }
            DownReason::Crashed => {}
        }
        if self.take_down(node, reason) {
            self.core.disks[node.index()].process_ended();
        }
    }

    /// Marks `node` down for `reason` and drops its process and volatile state; false if it
    /// was down already.
    fn take_down(&mut self, node: NodeId, reason: DownReason) -> bool {
        let state = &mut self.core.nodes[node.index()];
        if state.status == NodeStatus::Down {
            return false;
        }
        state.status = NodeStatus::Down;
        state.down = Some(reason);
        state.halt = None;
        state.incarnation += 1;
        state.held.clear();
        state.inbox.clear();
        state.roles.clear();
        self.processes[node.index()] = None;
        true
    }

    fn boot(&mut self, node: NodeId) {
        let state = &mut self.core.nodes[node.index()];
        state.status = NodeStatus::Up;
        state.down = None;
        state.halt = None;
        state.app_stream = builder::app_stream(self.core.seed, node.index(), state.incarnation);
        let incarnation = state.incarnation;
        if let Some(factory) = self.factories[node.index()].as_mut() {
            self.processes[node.index()] = Some(factory(node));
            self.core.scheduler.push(self.core.now, Event::Start { node, incarnation });
        }
    }
}
