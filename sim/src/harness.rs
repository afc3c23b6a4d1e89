//! The bridge between a workload's `World` and the runner: builds a world from a `RunPlan`
//! (seed, topology, link and disk settings, limits, buggify) and wraps it as a `Simulation`
//! with named checks, so a workload only supplies its processes and its predicates.

use std::cell::Cell;
use std::fmt::Debug;
use std::rc::Rc;

use crate::check::Coverage;
use crate::disk::DiskStats;
use crate::fault::ControlAction;
use crate::net::NetStats;
use crate::node::{NodeId, Process};
use crate::scenario::RunPlan;
use crate::time::Instant;
use crate::topology::NodeSpec;
use crate::trace::Trace;
use crate::wire::Typed;
use crate::workload::{CheckResult, Setup, Simulation};
use crate::world::{Outcome, World, WorldConfig};

/// Builds a node's process; the harness calls it at boot and at every restart.
pub type NodeFactory<M> = Box<dyn FnMut(NodeId) -> Box<dyn Process<M>>>;

/// Builds the world a plan describes. `factory` is asked once per node (with its spec, so
/// roles can pick the process); `None` makes the node a pull-style endpoint.
pub fn build_world<M: Clone + Debug + 'static>(
    plan: &RunPlan,
    setup: &Setup<'_>,
    mut factory: impl FnMut(&NodeSpec) -> Option<NodeFactory<M>>,
) -> Result<World<M, Typed>, String> {
    let config = WorldConfig {
        events_max: plan.limits.events_max,
        vtime_max: plan.limits.vtime_max,
        buggify: plan.buggify,
        ..WorldConfig::default()
    };
    let mut builder = World::<M>::builder(setup.seed)
        .link_default(plan.link_default)
        .disk(plan.disk)
        .config(config)
        .record(setup.recording);
    for node in plan.topology.nodes() {
        let spec = plan.topology.node(node).cloned().unwrap_or_default();
        builder = match factory(&spec) {
            Some(make) => builder.process(spec, make),
            None => builder.endpoint(spec),
        };
    }
    for (from, to, config) in plan.topology.links() {
        builder = builder.link(from, to, *config);
    }
    let mut world =
        builder.try_build().map_err(|error| format!("invalid disk settings: {error}"))?;
    if setup.fingerprint_history {
        world.trace_mut().enable_fingerprint_history();
    }
    Ok(world)
}

type Predicate<M> = Rc<dyn Fn(&World<M>) -> Result<(), String>>;
type FinalCheck<M> = Box<dyn FnMut(&World<M>) -> CheckResult>;

/// A world with named checks, driven by the runner.
pub struct Harness<M: Clone + Debug + 'static> {
    world: World<M>,
    enabled: Vec<String>,
    invariants: Vec<(String, Predicate<M>)>,
    liveness: Vec<(String, Predicate<M>)>,
    finals: Vec<(String, FinalCheck<M>)>,
    sometimes: Vec<(String, Rc<Cell<bool>>)>,
}

impl<M: Clone + Debug + 'static> Harness<M> {
    /// Wraps `world`; only the checks named in `enabled` (the scenario's list) are installed.
    pub fn new(world: World<M>, enabled: &[String]) -> Harness<M> {
        Harness {
            world,
            enabled: enabled.to_vec(),
            invariants: Vec::new(),
            liveness: Vec::new(),
            finals: Vec::new(),
            sometimes: Vec::new(),
        }
    }

    fn is_enabled(&self, name: &str) -> bool {
        self.enabled.iter().any(|n| n == name)
    }

    /// A predicate checked after every event (and on demand at phase ends).
    pub fn invariant(
        mut self,
        name: &str,
        predicate: impl Fn(&World<M>) -> Result<(), String> + 'static,
    ) -> Self {
        if self.is_enabled(name) {
            let predicate: Predicate<M> = Rc::new(predicate);
            let installed = predicate.clone();
            self.world.add_invariant(name, move |world| installed(world));
            self.invariants.push((name.to_string(), predicate));
        }
        self
    }

    /// A sometimes-point of a checker: `predicate` is evaluated after every event and the
    /// point counts as reached if it was ever true (e.g. "a leader changed during a
    /// partition"). Unlike checks, it is always installed and never fails a run; the sweep
    /// summary lists the points no seed reached.
    pub fn sometimes(
        mut self,
        name: &str,
        predicate: impl Fn(&World<M>) -> bool + 'static,
    ) -> Self {
        let reached = Rc::new(Cell::new(false));
        let seen = reached.clone();
        self.world.add_invariant(format!("sometimes: {name}"), move |world| {
            if !seen.get() && predicate(world) {
                seen.set(true);
            }
            Ok(())
        });
        self.sometimes.push((name.to_string(), reached));
        self
    }

    /// A predicate that must become true (`Ok`) during the converge phase.
    pub fn liveness(
        mut self,
        name: &str,
        predicate: impl Fn(&World<M>) -> Result<(), String> + 'static,
    ) -> Self {
        if self.is_enabled(name) {
            self.liveness.push((name.to_string(), Rc::new(predicate)));
        }
        self
    }

    /// A check evaluated once at the end of the run (e.g. linearizability of a history).
    pub fn final_check(
        mut self,
        name: &str,
        check: impl FnMut(&World<M>) -> CheckResult + 'static,
    ) -> Self {
        if self.is_enabled(name) {
            self.finals.push((name.to_string(), Box::new(check)));
        }
        self
    }

    pub fn world(&self) -> &World<M> {
        &self.world
    }
}

impl<M: Clone + Debug + 'static> Simulation for Harness<M> {
    fn now(&self) -> Instant {
        self.world.now()
    }

    fn apply(&mut self, action: ControlAction) {
        self.world.control().apply(action);
    }

    fn schedule(&mut self, at: Instant, action: ControlAction) {
        self.world.schedule(at, action);
    }

    fn run_until_time(&mut self, until: Instant) -> Outcome {
        let span = until.saturating_since(self.world.now());
        self.world.run_for(span)
    }

    fn run_until_check(&mut self, check: &str, deadline: Instant) -> Result<bool, Outcome> {
        let Some((_, predicate)) = self.liveness.iter().find(|(name, _)| name == check) else {
            return Ok(true);
        };
        let predicate = predicate.clone();
        let outcome =
            self.world.run_until(|world| predicate(world).is_ok() || world.now() >= deadline);
        match outcome {
            Outcome::Satisfied | Outcome::Quiescent | Outcome::TimeReached => {}
            other => return Err(other),
        }
        if predicate(&self.world).is_ok() {
            return Ok(true);
        }
        // Quiet worlds still let time pass up to the deadline before the verdict.
        let remaining = deadline.saturating_since(self.world.now());
        match self.world.run_for(remaining) {
            Outcome::TimeReached | Outcome::Quiescent => Ok(predicate(&self.world).is_ok()),
            other => Err(other),
        }
    }

    fn check(&mut self, check: &str) -> CheckResult {
        if let Some((_, predicate)) = self.invariants.iter().find(|(name, _)| name == check) {
            return match predicate(&self.world) {
                Ok(()) => CheckResult::Pass,
                Err(message) => CheckResult::Fail(message),
            };
        }
        if let Some((_, predicate)) = self.liveness.iter().find(|(name, _)| name == check) {
            return match predicate(&self.world) {
                Ok(()) => CheckResult::Pass,
                Err(message) => CheckResult::Fail(message),
            };
        }
        match self.finals.iter_mut().find(|(name, _)| name == check) {
            Some((_, final_check)) => final_check(&self.world),
            None => CheckResult::Pass,
        }
    }

    fn fingerprint(&self) -> u64 {
        self.world.fingerprint()
    }

    fn events_processed(&self) -> u64 {
        self.world.events_processed()
    }

    fn n_nodes(&self) -> usize {
        self.world.n_nodes()
    }

    fn trace(&self) -> &Trace {
        self.world.trace()
    }

    fn trace_mut(&mut self) -> Option<&mut Trace> {
        Some(self.world.trace_mut())
    }

    fn stats_summary(&self) -> String {
        format!("net: {}", self.world.net_stats().summary())
    }

    fn net_stats(&self) -> NetStats {
        self.world.net_stats()
    }

    fn disk_stats(&self) -> DiskStats {
        self.world.disk_stats()
    }

    fn coverage(&self) -> Coverage {
        let mut coverage = self.world.coverage().clone();
        for (name, reached) in &self.sometimes {
            coverage.sometimes(name, reached.get());
        }
        coverage
    }
}
