//! The bridge between a workload's `World` and the runner: builds a world from a `RunPlan`
//! (seed, topology, link and disk settings, limits, buggify) and wraps it with the run's
//! checks as a `Simulation` the runner drives through its phases.
//!
//! After every event the harness feeds the event's observations to every check that
//! consumes them, then evaluates the invariants; the first failure stops the run with a
//! `stop` line in the trace. A check the runner asks for that the harness does not hold is
//! a failure, never a silent pass.

use std::fmt::Debug;
use std::sync::Arc;

use crate::check::Coverage;
use crate::disk::DiskStats;
use crate::fault::ControlAction;
use crate::net::NetStats;
use crate::node::Process;
use crate::scenario::RunPlan;
use crate::time::Instant;
use crate::topology::NodeSpec;
use crate::trace::Trace;
use crate::wire::Wire;
use crate::workload::{
    CheckKind, CheckLogic, CheckResult, CheckSpec, Run, RunInfo, Setup, Simulation,
};
use crate::world::{AfterEvent, Context, Outcome, World, WorldConfig};

/// Builds a node's process; the harness calls it at boot and at every restart.
pub type NodeFactory<M, W> =
    Box<dyn FnMut(crate::id::NodeId) -> Box<dyn Process<M, Context<M, W>>>>;

/// Builds the world a plan describes. `factory` is asked once per node (with its spec, so
/// roles can pick the process); `None` makes the node a pull-style endpoint.
pub fn build_world<M: Debug + 'static, W: Wire<M>>(
    plan: &RunPlan,
    setup: &Setup<'_>,
    wire: W,
    mut factory: impl FnMut(&NodeSpec) -> Option<NodeFactory<M, W>>,
) -> Result<World<M, W>, String> {
    let config = WorldConfig {
        events_max: plan.limits.events_max,
        vtime_max: plan.limits.vtime_max,
        buggify: plan.buggify,
        ..WorldConfig::default()
    };
    let mut builder = crate::world::WorldBuilder::with_wire(setup.seed, wire)
        .link_default(plan.link_default)
        .disk(plan.disk)
        .config(config)
        .record(setup.recording);
    for node in plan.topology.nodes() {
        let spec = plan.topology.node(node).cloned().unwrap_or_default();
        builder = match factory(&spec) {
            Some(make) => builder.process_boxed(spec, make),
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
    world.set_max_dead(plan.max_dead);
    world.set_supervisor(plan.supervisor);
    for trigger in &plan.triggers {
        world.add_trigger(trigger.clone());
    }
    Ok(world)
}

/// One installed check: its declaration, its logic, and a failure its observations found.
struct Installed<M, P, W: Wire<M>> {
    spec: CheckSpec,
    logic: Box<dyn CheckLogic<M, P, W>>,
    observed_failure: Option<String>,
}

impl<M, P, W: Wire<M>> Installed<M, P, W> {
    /// The check's verdict now: a failure its observations found, or its evaluation.
    fn verdict(&mut self, run: &Run<'_, M, P, W>) -> CheckResult {
        match &self.observed_failure {
            Some(message) => CheckResult::Fail(message.clone()),
            None => self.logic.evaluate(run),
        }
    }
}

type SometimesPredicate<M, P, W> = Arc<dyn Fn(&Run<'_, M, P, W>) -> bool + Send + Sync>;

/// A check's declaration with the logic built for one run.
pub type CheckInstance<M, P, W> = (CheckSpec, Box<dyn CheckLogic<M, P, W>>);

/// The run's checks and sometimes-points, apart from the world so both can be borrowed at
/// once while the world runs.
struct Checks<M, P, W: Wire<M>> {
    installed: Vec<Installed<M, P, W>>,
    sometimes: Vec<(&'static str, SometimesPredicate<M, P, W>, bool)>,
    /// Whether any installed check consumes observations.
    observing: bool,
    /// Whether anything must be looked at after each event.
    per_event: bool,
}

impl<M: Debug + 'static, P, W: Wire<M>> Checks<M, P, W> {
    /// After each event: observations to their consumers, then invariants and
    /// sometimes-points; the first invariant failure stops the run. `target` is a liveness
    /// check to evaluate as well (satisfied stops the run too).
    fn after_event(
        &mut self,
        info: &RunInfo<P>,
        world: &mut World<M, W>,
        target: Option<usize>,
    ) -> AfterEvent {
        if self.observing && world.has_new_observations() {
            // In event order, each observation to every check that consumes observations.
            for observation in world.drain_observations() {
                for check in self.installed.iter_mut() {
                    if check.observed_failure.is_some() || !check.logic.observes() {
                        continue;
                    }
                    if let Err(message) = check.logic.observe(&observation) {
                        check.observed_failure = Some(message);
                    }
                }
            }
        }
        let run = info.view(world);
        for (_, predicate, reached) in &mut self.sometimes {
            if !*reached && predicate(&run) {
                *reached = true;
            }
        }
        for check in &mut self.installed {
            if check.spec.kind != CheckKind::Invariant {
                continue;
            }
            if let CheckResult::Fail(message) = check.verdict(&run) {
                return AfterEvent::Violation { check: check.spec.name.to_string(), message };
            }
        }
        if let Some(index) = target {
            if self.installed[index].verdict(&run) == CheckResult::Pass {
                return AfterEvent::Satisfied;
            }
        }
        AfterEvent::Continue
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.installed.iter().position(|c| c.spec.name == name)
    }
}

/// A world with its run's checks, driven by the runner.
pub struct Harness<M: Debug + 'static, P, W: Wire<M>> {
    world: World<M, W>,
    info: RunInfo<P>,
    checks: Checks<M, P, W>,
}

impl<M: Debug + 'static, P, W: Wire<M>> Harness<M, P, W> {
    /// Wraps `world` with the checks the run evaluates and the workload's sometimes-points.
    pub fn new(
        mut world: World<M, W>,
        info: RunInfo<P>,
        checks: Vec<CheckInstance<M, P, W>>,
        sometimes: Vec<(&'static str, SometimesPredicate<M, P, W>)>,
    ) -> Self {
        let observing = checks.iter().any(|(_, logic)| logic.observes());
        world.keep_observations(observing);
        let per_event = observing
            || !sometimes.is_empty()
            || checks.iter().any(|(spec, _)| spec.kind == CheckKind::Invariant);
        let installed = checks
            .into_iter()
            .map(|(spec, logic)| Installed { spec, logic, observed_failure: None })
            .collect();
        let sometimes = sometimes.into_iter().map(|(name, p)| (name, p, false)).collect();
        Harness { world, info, checks: Checks { installed, sometimes, observing, per_event } }
    }

    /// The world, for tests that look inside a run.
    pub fn world(&self) -> &World<M, W> {
        &self.world
    }

    fn run_to(&mut self, until: Instant, target: Option<usize>) -> Outcome {
        let (checks, info) = (&mut self.checks, &self.info);
        if !checks.per_event && target.is_none() {
            return self.world.run_for(until.saturating_since(self.world.now()));
        }
        self.world.run_with(until, |world| checks.after_event(info, world, target))
    }
}

impl<M: Debug + 'static, P, W: Wire<M>> Simulation for Harness<M, P, W> {
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
        self.run_to(until, None)
    }

    fn run_until_check(&mut self, check: &str, deadline: Instant) -> Result<bool, Outcome> {
        let Some(index) = self.checks.find(check) else {
            return Ok(false);
        };
        let run = self.info.view(&self.world);
        if self.checks.installed[index].verdict(&run) == CheckResult::Pass {
            return Ok(true);
        }
        match self.run_to(deadline, Some(index)) {
            Outcome::Satisfied => Ok(true),
            // Quiet worlds still let time pass up to the deadline before the verdict.
            Outcome::TimeReached | Outcome::Quiescent => {
                let run = self.info.view(&self.world);
                Ok(self.checks.installed[index].verdict(&run) == CheckResult::Pass)
            }
            other => Err(other),
        }
    }

    fn check(&mut self, check: &str) -> CheckResult {
        let Some(index) = self.checks.find(check) else {
            return CheckResult::Fail(format!(
                "check `{check}` was asked for but is not installed in this run"
            ));
        };
        let run = self.info.view(&self.world);
        self.checks.installed[index].verdict(&run)
    }

    fn step_events(&mut self, events: u64) -> Option<Outcome> {
        let (checks, info) = (&mut self.checks, &self.info);
        for _ in 0..events {
            let Some(next) = self.world.next_event_time() else {
                return Some(Outcome::Quiescent);
            };
            // Up to the next event's time and no further, stopping after that one event:
            // the clock never jumps past what ran.
            let outcome = self.world.run_with(next, |world| {
                if !checks.per_event {
                    return AfterEvent::Satisfied;
                }
                match checks.after_event(info, world, None) {
                    AfterEvent::Continue => AfterEvent::Satisfied,
                    other => other,
                }
            });
            if outcome != Outcome::Satisfied {
                return Some(outcome);
            }
        }
        Some(Outcome::Stepped)
    }

    fn node_status(&self, node: crate::id::NodeId) -> Option<crate::node::NodeStatus> {
        (node.index() < self.world.n_nodes()).then(|| self.world.status(node))
    }

    fn mark_phase(&mut self, name: &str) {
        self.world.mark_phase(name);
    }

    fn finish(&mut self, reason: &str, detail: Option<String>) {
        let detail = match self.world.panicked_node() {
            Some(node) => Some(format!("in {node}: {}", detail.unwrap_or_default())),
            None => detail,
        };
        self.world.finish(reason, detail);
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

    fn pauses_applied(&self) -> u64 {
        self.world.pauses_applied()
    }

    fn coverage(&self) -> Coverage {
        let mut coverage = self.world.coverage().clone();
        for (name, _, reached) in &self.checks.sometimes {
            coverage.sometimes(name, *reached);
        }
        coverage
    }
}
