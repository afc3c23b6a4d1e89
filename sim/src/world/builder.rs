//! Building a world: seed, wire, topology, a factory per process node, link and disk
//! settings, limits. Every node's start is scheduled at time zero.

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Debug;

use crate::check::Coverage;
use crate::clock::Clock;
use crate::disk::{Disk, DiskConfig, DiskConfigError};
use crate::fault::Buggify;
use crate::id::NodeId;
use crate::net::{LinkConfig, Network};
use crate::node::{NodeStatus, Process};
use crate::rng::Stream;
use crate::scheduler::Scheduler;
use crate::time::Instant;
use crate::topology::{NodeSpec, Topology};
use crate::trace::Trace;
use crate::wire::{Typed, Wire};

use super::core::{Core, Event, NodeState};
use super::{Context, Factory, World, WorldConfig};

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
    pub fn process<P: Process<M, Context<M, W>>>(
        self,
        spec: impl Into<NodeSpec>,
        mut factory: impl FnMut(NodeId) -> P + 'static,
    ) -> Self {
        self.process_boxed(spec, move |node| Box::new(factory(node)))
    }

    /// Adds a node whose factory picks the process type itself (e.g. by incarnation).
    pub fn process_boxed(
        mut self,
        spec: impl Into<NodeSpec>,
        factory: impl FnMut(NodeId) -> Box<dyn Process<M, Context<M, W>>> + 'static,
    ) -> Self {
        self.topology.add_node(spec.into());
        self.factories.push(Some(Box::new(factory)));
        self
    }

    /// Adds `n` nodes named by position, each running what `factory` builds.
    pub fn processes<P: Process<M, Context<M, W>>>(
        mut self,
        n: usize,
        factory: impl FnMut(NodeId) -> P + Clone + 'static,
    ) -> Self {
        for _ in 0..n {
            let name = format!("n{}", self.topology.len());
            self = self.process(name.as_str(), factory.clone());
        }
        self
    }

    /// Adds `n` nodes named by position, each running what `factory` builds, which may pick
    /// the process type per node.
    pub fn processes_boxed(
        mut self,
        n: usize,
        factory: impl FnMut(NodeId) -> Box<dyn Process<M, Context<M, W>>> + Clone + 'static,
    ) -> Self {
        for _ in 0..n {
            let name = format!("n{}", self.topology.len());
            self = self.process_boxed(name.as_str(), factory.clone());
        }
        self
    }

    /// Adds `n` pull-style endpoint nodes (no process: deliveries wait in an inbox).
    pub fn endpoints(mut self, n: usize) -> Self {
        for _ in 0..n {
            let name = format!("n{}", self.topology.len());
            self.topology.add_node(NodeSpec::named(name));
            self.factories.push(None);
        }
        self
    }

    /// Adds one pull-style endpoint node with a description.
    pub fn endpoint(mut self, spec: impl Into<NodeSpec>) -> Self {
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

    /// Limits and settings of the run.
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
                halt: None,
                down: None,
                roles: Vec::new(),
                restart_on_power_loss: None,
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
            current: NodeId(0),
            observations: Vec::new(),
            observations_total: 0,
            keep_observations: false,
            triggers: Vec::new(),
            pending: Vec::new(),
            supervisor: None,
            role_fallback: Stream::new(self.seed, "fault.role_fallback"),
            in_callback: false,
            max_dead: None,
            skipped_by_max_dead: 0,
            pauses_applied: 0,
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
pub(crate) fn app_stream(seed: u64, node: usize, incarnation: u32) -> Stream {
    Stream::with_parts(seed, "node.app", &[node as u64, u64::from(incarnation)])
}
