//! The world: owns everything of one run (clock, event queue, network, nodes, streams,
//! trace) and runs the one bounded event loop.
//!
//! There is exactly one `match` over events (`World::dispatch`). Events pop in (time,
//! sequence) order; time never goes backwards (asserted). Idle time costs nothing: the clock
//! jumps to the next event. Every loop is bounded by `events_max` and `vtime_max`, and hitting
//! either is an outcome the caller sees, never a hang or a panic.
//!
//! Nothing here is global: two worlds on two threads never interfere.

use crate::check::Coverage;
use std::collections::{BTreeSet, VecDeque};
use std::fmt::Debug;

use crate::disk::{
    Disk, DiskConfig, DiskConfigError, DiskError, DiskEvent, DiskOp, DiskStats, DiskTicket,
};
use crate::fault::{Buggify, BuggifyConfig, ControlAction};
use crate::net::{DropCause, LinkConfig, NetStats, Network, Refusal, SendError};
use crate::node::{Clock, Context, Endpoint, Envelope, NodeId, NodeStatus, Process, TimerId};
use crate::rng::Stream;
use crate::scheduler::Scheduler;
use crate::time::{Duration, Instant};
use crate::topology::Topology;
use crate::trace::{Kind, Trace, Value};
use crate::wire::{Typed, Wire};

/// Builds a process for a node; called at boot and at every restart.
pub type Factory<M, W> = Box<dyn FnMut(NodeId) -> Box<dyn Process<M, W>>>;

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
    next_timer: u64,
    cancelled_timers: BTreeSet<u64>,
    /// Packets held by clogs, in arrival order.
    clog_held: Vec<Delivery<W::Packet>>,
    partition_generation: u64,
    events_processed: u64,
    /// Sometimes-points declared by processes (`Context::sometimes`).
    pub(crate) coverage: Coverage,
}

/// One simulated run. `M` is the message type; `W` the wire (see `wire`).
pub struct World<M, W: Wire<M> = Typed> {
    core: Core<M, W>,
    processes: Vec<Option<Box<dyn Process<M, W>>>>,
    factories: Vec<Option<Factory<M, W>>>,
    invariants: Vec<(String, Invariant<M, W>)>,
    stopped: Option<Outcome>,
}

/// Builds a world: seed, topology, a factory per process node, settings.
pub struct WorldBuilder<M, W: Wire<M> = Typed> {
    seed: u64,
    wire: W,
    topology: Topology,
    factories: Vec<Option<Factory<M, W>>>,
    link_default: LinkConfig,
    disk: DiskConfig,
    config: WorldConfig,
    recording: bool,
}

impl<M: Clone + Debug + 'static> World<M, Typed> {
    /// A builder for a world with typed messages.
    pub fn builder(seed: u64) -> WorldBuilder<M, Typed> {
        WorldBuilder::with_wire(seed, Typed)
    }
}

impl<M: Debug + 'static, W: Wire<M>> WorldBuilder<M, W> {
    /// A builder for a world whose packets travel through `wire` (e.g. `Encoded(codec)`).
    pub fn with_wire(seed: u64, wire: W) -> WorldBuilder<M, W> {
        WorldBuilder {
            seed,
            wire,
            topology: Topology::new(),
            factories: Vec::new(),
            link_default: LinkConfig::default(),
            disk: DiskConfig::default(),
            config: WorldConfig::default(),
            recording: false,
        }
    }

    /// Adds a node running the process `factory` builds (at boot and every restart).
    pub fn process(
        mut self,
        spec: impl Into<crate::topology::NodeSpec>,
        factory: impl FnMut(NodeId) -> Box<dyn Process<M, W>> + 'static,
    ) -> Self {
        self.topology.add_node(spec.into());
        self.factories.push(Some(Box::new(factory)));
        self
    }

    /// Adds `n` nodes named by position, each running what `factory` builds.
    pub fn processes(
        mut self,
        n: usize,
        factory: impl FnMut(NodeId) -> Box<dyn Process<M, W>> + Clone + 'static,
    ) -> Self {
        for _ in 0..n {
            let name = format!("n{}", self.topology.len());
            self = self.process(name.as_str(), factory.clone());
        }
        self
    }

    /// Adds `n` pull-style endpoint nodes (no process: deliveries wait in an inbox).
    pub fn endpoints(mut self, n: usize) -> Self {
        for _ in 0..n {
            let name = format!("n{}", self.topology.len());
            self.topology.add_node(crate::topology::NodeSpec::named(name));
            self.factories.push(None);
        }
        self
    }

    /// Adds one pull-style endpoint node with a description.
    pub fn endpoint(mut self, spec: impl Into<crate::topology::NodeSpec>) -> Self {
        self.topology.add_node(spec.into());
        self.factories.push(None);
        self
    }

    /// The default settings of every link.
    pub fn link_default(mut self, config: LinkConfig) -> Self {
        self.link_default = config;
        self
    }

    /// Overrides one directed link's settings.
    pub fn link(mut self, from: NodeId, to: NodeId, config: LinkConfig) -> Self {
        self.topology.set_link(from, to, config);
        self
    }

    /// The disk settings of every node (crash contract mode, fault rates, latency).
    pub fn disk(mut self, config: DiskConfig) -> Self {
        self.disk = config;
        self
    }

    pub fn config(mut self, config: WorldConfig) -> Self {
        self.config = config;
        self
    }

    /// Turns on full trace recording.
    pub fn record(mut self, on: bool) -> Self {
        self.recording = on;
        self
    }

    /// Builds the world and schedules every process node's start at time zero.
    ///
    /// Panics if the disk settings are invalid; settings that come from input should go
    /// through `try_build`.
    pub fn build(self) -> World<M, W> {
        match self.try_build() {
            Ok(world) => world,
            Err(error) => panic!("invalid world settings: {error}"),
        }
    }

    /// Builds the world, or says which setting is invalid.
    pub fn try_build(self) -> Result<World<M, W>, DiskConfigError> {
        let n = self.topology.len();
        let disks = (0..n)
            .map(|i| Disk::new(self.seed, i as u64, self.disk))
            .collect::<Result<Vec<_>, _>>()?;
        let mut net = Network::new(self.seed, n, self.link_default);
        for (from, to, config) in self.topology.links() {
            net.set_link(from, to, *config);
        }
        let nodes = (0..n)
            .map(|i| NodeState {
                status: NodeStatus::Up,
                incarnation: 0,
                clock: Clock::default(),
                app_stream: app_stream(self.seed, i, 0),
                held: Vec::new(),
                inbox: VecDeque::new(),
                has_process: self.factories[i].is_some(),
            })
            .collect();
        let mut trace = Trace::default();
        if self.recording {
            trace.enable_recording();
        }
        let mut core = Core {
            seed: self.seed,
            now: Instant::ZERO,
            config: self.config,
            // Sized for a typical burst up front: growing from empty cost every seed of W3
            // ~3% of its instructions in reallocation (~72 KiB per world).
            scheduler: Scheduler::with_capacity(1024),
            wire: self.wire,
            net,
            nodes,
            topology: self.topology,
            trace,
            buggify: Buggify::new(self.config.buggify),
            disks,
            next_timer: 0,
            cancelled_timers: BTreeSet::new(),
            clog_held: Vec::new(),
            partition_generation: 0,
            events_processed: 0,
            coverage: Coverage::default(),
        };
        let mut factories = self.factories;
        let mut processes = Vec::with_capacity(n);
        for (i, factory) in factories.iter_mut().enumerate() {
            let node = NodeId(i as u32);
            processes.push(factory.as_mut().map(|f| f(node)));
            if processes[i].is_some() {
                core.scheduler.push(Instant::ZERO, Event::Start { node, incarnation: 0 });
            }
        }
        Ok(World { core, processes, factories, invariants: Vec::new(), stopped: None })
    }
}

/// A node's application stream for one incarnation: `node.app[node, incarnation]`.
fn app_stream(seed: u64, node: usize, incarnation: u32) -> Stream {
    Stream::with_parts(seed, "node.app", &[node as u64, u64::from(incarnation)])
}

impl<M: Debug + 'static, W: Wire<M>> Core<M, W> {
    /// Whether `node` lost power during the current callback (a disk crash point fired):
    /// its remaining effects vanish.
    #[inline]
    pub(crate) fn power_lost(&self, node: NodeId) -> bool {
        self.disks[node.index()].crash_pending()
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
    fn trace_disk_events(&mut self, node: NodeId) {
        // Called after every callback; most callbacks touch no disk.
        if self.disks[node.index()].has_events() {
            self.trace_disk_events_now(node);
        }
    }

    #[cold]
    #[inline(never)]
    fn trace_disk_events_now(&mut self, node: NodeId) {
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
    fn trace_drop(
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
        if self.power_lost(node) {
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
    pub fn process<P: Process<M, W>>(&self, node: NodeId) -> Option<&P> {
        let process: &dyn Process<M, W> = self.processes.get(node.index())?.as_deref()?;
        (process as &dyn std::any::Any).downcast_ref::<P>()
    }

    /// All nodes running a process of type `P`, with their state.
    pub fn processes_of<P: Process<M, W>>(&self) -> impl Iterator<Item = (NodeId, &P)> + '_ {
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
        loop {
            match self.core.scheduler.peek_time() {
                Some(time) if time <= until => match self.step() {
                    Outcome::Stepped => {}
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
        callback: impl FnOnce(&mut dyn Process<M, W>, &mut Context<'_, M, W>),
    ) {
        let Some(process) = self.processes[node.index()].as_deref_mut() else {
            return;
        };
        let mut ctx = Context { node, core: &mut self.core };
        callback(process, &mut ctx);
        // Most callbacks touch no disk: one look at it decides whether anything is left to do.
        let disk = &self.core.disks[node.index()];
        if disk.has_events() || disk.crash_pending() {
            self.finish_disk_callback(node);
        }
    }

    /// Traces what a callback did to its disk and crashes the node if it lost power.
    #[cold]
    #[inline(never)]
    fn finish_disk_callback(&mut self, node: NodeId) {
        self.core.trace_disk_events(node);
        if self.core.power_lost(node) {
            self.crash(node);
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

    fn crash(&mut self, node: NodeId) {
        let state = &mut self.core.nodes[node.index()];
        if state.status == NodeStatus::Down {
            return;
        }
        state.status = NodeStatus::Down;
        state.incarnation += 1;
        state.held.clear();
        state.inbox.clear();
        self.processes[node.index()] = None;
        self.core.disks[node.index()].crash();
        self.core.trace_disk_events(node);
    }

    fn boot(&mut self, node: NodeId) {
        let state = &mut self.core.nodes[node.index()];
        state.status = NodeStatus::Up;
        state.app_stream = app_stream(self.core.seed, node.index(), state.incarnation);
        let incarnation = state.incarnation;
        if let Some(factory) = self.factories[node.index()].as_mut() {
            self.processes[node.index()] = Some(factory(node));
            self.core.scheduler.push(self.core.now, Event::Start { node, incarnation });
        }
    }

    /// Applies one control action and traces it: the single entry point of the control
    /// authority.
    fn apply(&mut self, action: ControlAction) {
        let now = self.core.now;
        let node_word = action.node().map_or(u64::MAX, |n| u64::from(n.0));
        self.core.trace.mix(Kind::Control, now, [node_word, 0, 0, 0]);
        self.core.trace.mix_text(action.kind());
        self.core.trace.record(now, action.node(), action.kind(), &[], || action.describe());
        let n_nodes = self.core.nodes.len();
        let valid = |node: NodeId| node.index() < n_nodes;
        match action {
            ControlAction::Crash(node) if valid(node) => self.crash(node),
            ControlAction::Restart(node) if valid(node) => {
                self.crash(node);
                self.boot(node);
            }
            ControlAction::Recover(node) if valid(node) => {
                self.core.net.set_interface_up(node, true);
                self.core.nodes[node.index()].clock = Clock::default();
                // A crash point armed while the node was down would otherwise fire in the
                // incarnation this boots, e.g. the heal phase's, and keep it down.
                self.core.disks[node.index()].disarm_crash_point();
                match self.core.nodes[node.index()].status {
                    NodeStatus::Down => self.boot(node),
                    NodeStatus::Paused => self.apply(ControlAction::Resume(node)),
                    NodeStatus::Up => {}
                }
            }
            ControlAction::Pause(node) if valid(node) => {
                let state = &mut self.core.nodes[node.index()];
                if state.status == NodeStatus::Up {
                    state.status = NodeStatus::Paused;
                }
            }
            ControlAction::Resume(node) if valid(node) => {
                let state = &mut self.core.nodes[node.index()];
                if state.status == NodeStatus::Paused {
                    state.status = NodeStatus::Up;
                    for event in std::mem::take(&mut state.held) {
                        self.core.scheduler.push(now, event);
                    }
                }
            }
            ControlAction::SetClock { node, offset_nanos, drift_ppm } if valid(node) => {
                let drift_ppm = drift_ppm.max(-999_999);
                self.core.nodes[node.index()].clock.set(now, offset_nanos, drift_ppm);
            }
            ControlAction::SetNodeUp { node, up } if valid(node) => {
                self.core.net.set_interface_up(node, up)
            }
            ControlAction::Partition { shape, duration } => match shape.reachability(n_nodes) {
                Ok(reachability) => {
                    self.core.net.reachability = reachability;
                    self.core.net.partition = Some(shape);
                    self.core.partition_generation += 1;
                    if let Some(duration) = duration {
                        let generation = self.core.partition_generation;
                        self.core
                            .scheduler
                            .push(now + duration, Event::HealPartition { generation });
                    }
                }
                Err(error) => {
                    self.core.trace.record(now, None, "invalid_action", &[], || Some(error))
                }
            },
            ControlAction::Heal => {
                self.core.net.reachability = Default::default();
                self.core.net.partition = None;
                self.core.partition_generation += 1;
            }
            ControlAction::ClogLink { from, to, duration } if valid(from) && valid(to) => {
                self.core.net.clog_link(from, to, now + duration);
                self.core.scheduler.push(now + duration, Event::ClogCheck);
            }
            ControlAction::ClogNode { node, duration } if valid(node) => {
                self.core.net.clog_node(node, now + duration);
                self.core.scheduler.push(now + duration, Event::ClogCheck);
            }
            ControlAction::Unclog => {
                self.core.net.unclog_all();
                self.release_clogged();
            }
            ControlAction::SetLoss(p) => {
                self.core.net.update_all(|c| c.loss_probability = p.clamp(0.0, 1.0))
            }
            ControlAction::SetDuplicate(p) => {
                self.core.net.update_all(|c| c.duplicate_probability = p.clamp(0.0, 1.0))
            }
            ControlAction::SetCorrupt(p) => {
                self.core.net.update_all(|c| c.corrupt_probability = p.clamp(0.0, 1.0))
            }
            ControlAction::SetDefaultLink(config) => self.core.net.set_default(config),
            ControlAction::SetLink { from, to, config } if valid(from) && valid(to) => {
                self.core.net.set_link(from, to, config)
            }
            ControlAction::SetCapacity(capacity) => {
                self.core.net.update_all(|c| c.capacity_packets = capacity)
            }
            ControlAction::SetDisk { node, config } if node.is_none_or(valid) => {
                let targets: Vec<usize> = match node {
                    Some(node) => vec![node.index()],
                    None => (0..n_nodes).collect(),
                };
                for index in targets {
                    if let Err(error) = self.core.disks[index].set_config(config) {
                        let text = error.to_string();
                        self.core.trace.record(now, None, "invalid_action", &[], || Some(text));
                    }
                }
            }
            ControlAction::CrashAtDiskOperation { node, operation } if valid(node) => {
                // The disk counts operations from the start of the incarnation; the action
                // counts from now.
                let disk = &mut self.core.disks[node.index()];
                disk.arm_crash_at_operation(disk.operations_this_incarnation() + operation.max(1))
            }
            // An action naming a node that does not exist does nothing, visibly.
            _ => self
                .core
                .trace
                .record(now, None, "invalid_action", &[], || Some("unknown node".to_string())),
        }
    }
}

/// The control authority over a world: lifecycle, clocks and network faults. Every call is a
/// traced `ControlAction`.
pub struct Control<'w, M, W: Wire<M> = Typed> {
    world: &'w mut World<M, W>,
}

impl<M: Debug + 'static, W: Wire<M>> Control<'_, M, W> {
    /// Applies any action now.
    pub fn apply(&mut self, action: ControlAction) -> &mut Self {
        self.world.apply(action);
        self
    }
    pub fn crash(&mut self, node: NodeId) -> &mut Self {
        self.apply(ControlAction::Crash(node))
    }
    pub fn restart(&mut self, node: NodeId) -> &mut Self {
        self.apply(ControlAction::Restart(node))
    }
    pub fn pause(&mut self, node: NodeId) -> &mut Self {
        self.apply(ControlAction::Pause(node))
    }
    pub fn resume(&mut self, node: NodeId) -> &mut Self {
        self.apply(ControlAction::Resume(node))
    }
    pub fn set_clock(&mut self, node: NodeId, offset_nanos: i64, drift_ppm: i64) -> &mut Self {
        self.apply(ControlAction::SetClock { node, offset_nanos, drift_ppm })
    }
    /// Marionette's `setNode(n, up)`.
    pub fn set_node_up(&mut self, node: NodeId, up: bool) -> &mut Self {
        self.apply(ControlAction::SetNodeUp { node, up })
    }
    /// Marionette's `setLossiness(p)`.
    pub fn set_loss(&mut self, probability: f64) -> &mut Self {
        self.apply(ControlAction::SetLoss(probability))
    }
    pub fn set_duplicate(&mut self, probability: f64) -> &mut Self {
        self.apply(ControlAction::SetDuplicate(probability))
    }
    pub fn set_corrupt(&mut self, probability: f64) -> &mut Self {
        self.apply(ControlAction::SetCorrupt(probability))
    }
    pub fn set_link(&mut self, from: NodeId, to: NodeId, config: LinkConfig) -> &mut Self {
        self.apply(ControlAction::SetLink { from, to, config })
    }
    pub fn set_default_link(&mut self, config: LinkConfig) -> &mut Self {
        self.apply(ControlAction::SetDefaultLink(config))
    }
    pub fn set_capacity(&mut self, packets: u32) -> &mut Self {
        self.apply(ControlAction::SetCapacity(packets))
    }
    /// Marionette's `clog(a, b, d)`: holds `from -> to` traffic for `duration`.
    pub fn clog(&mut self, from: NodeId, to: NodeId, duration: Duration) -> &mut Self {
        self.apply(ControlAction::ClogLink { from, to, duration })
    }
    pub fn clog_node(&mut self, node: NodeId, duration: Duration) -> &mut Self {
        self.apply(ControlAction::ClogNode { node, duration })
    }
    pub fn unclog(&mut self) -> &mut Self {
        self.apply(ControlAction::Unclog)
    }
    /// Marionette's `partition(left, right)`: two groups that cannot reach each other.
    pub fn partition(&mut self, left: &[NodeId], right: &[NodeId]) -> &mut Self {
        let shape = crate::net::PartitionShape::Groups(vec![left.to_vec(), right.to_vec()]);
        self.apply(ControlAction::Partition { shape, duration: None })
    }
    /// Any partition shape, optionally healing by itself after `duration`.
    pub fn partition_shape(
        &mut self,
        shape: crate::net::PartitionShape,
        duration: Option<Duration>,
    ) -> &mut Self {
        self.apply(ControlAction::Partition { shape, duration })
    }
    pub fn heal(&mut self) -> &mut Self {
        self.apply(ControlAction::Heal)
    }
    /// Replaces one node's disk settings (or every node's with `None`).
    pub fn set_disk(&mut self, node: Option<NodeId>, config: DiskConfig) -> &mut Self {
        self.apply(ControlAction::SetDisk { node, config })
    }
    /// The node loses power at its `operation`-th disk operation from now on.
    pub fn crash_at_disk_operation(&mut self, node: NodeId, operation: u64) -> &mut Self {
        self.apply(ControlAction::CrashAtDiskOperation { node, operation })
    }
}
