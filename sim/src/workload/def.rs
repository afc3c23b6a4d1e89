//! `WorkloadDef`: a workload declared as a table. One value holds the name, the typed
//! parameters, the process each role runs, the checks and the sometimes-points; it
//! implements `Workload`, so the runner, the scenario validator and `orrery list` all read
//! the same declaration.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use crate::harness::{build_world, Harness};
use crate::id::NodeId;
use crate::node::Process;
use crate::scenario::RunPlan;
use crate::subprocess::{BoxedCodec, SubprocessConfig, SubprocessNode};
use crate::time::Instant;
use crate::topology::{NodeSpec, Topology};
use crate::wire::{Codec, Typed, Wire};
use crate::world::Context;

use super::check::{Agreement, Check, Run};
use super::params::{ParamMap, ParamSpec, Params};
use super::{CheckResult, CheckSpec, Setup, SetupProblem, Simulation, Workload};

/// What a role's factory gets at each boot and restart of a node.
pub struct NodeInit<'a, P> {
    /// The node being started.
    pub node: NodeId,
    /// Its entry in the scenario's topology (name, role, machine, rack, zone).
    pub spec: &'a NodeSpec,
    /// The run's typed parameters.
    pub params: &'a P,
    /// The whole topology (to find peers).
    pub topology: &'a Topology,
}

impl<P> NodeInit<'_, P> {
    /// The nodes with `role`, in id order.
    pub fn nodes_with_role(&self, role: &str) -> Vec<NodeId> {
        self.topology.nodes_with_role(role)
    }
}

/// Facts of one run that checks are built with.
#[derive(Debug, Clone)]
pub struct RunInfo<P> {
    /// The run's typed parameters.
    pub params: P,
    /// The run's seed.
    pub seed: u64,
    /// The topology.
    pub topology: Topology,
    /// When the chaos phase ends.
    pub heal_at: Instant,
    /// When the converge phase begins.
    pub converge_from: Instant,
}

impl<P> RunInfo<P> {
    /// The view a check is evaluated with.
    pub fn view<'a, M, W: Wire<M>>(
        &'a self,
        world: &'a crate::world::World<M, W>,
    ) -> Run<'a, M, P, W> {
        Run {
            world,
            params: &self.params,
            heal_at: self.heal_at,
            converge_from: self.converge_from,
        }
    }
}

type Factory<M, P, W> =
    Arc<dyn Fn(&NodeInit<'_, P>) -> Box<dyn Process<M, Context<M, W>>> + Send + Sync>;
type CodecFactory<M> = Arc<dyn Fn() -> BoxedCodec<M> + Send + Sync>;
type Validator<P> = Arc<dyn Fn(&P, &Topology) -> Result<(), String> + Send + Sync>;
type SometimesPredicate<M, P, W> = Arc<dyn Fn(&Run<'_, M, P, W>) -> bool + Send + Sync>;

/// A workload declared as a table. `M` is the message type, `P` the typed parameters
/// (`#[derive(Params)]`, or `()`), `W` the wire (`Typed`, or `Encoded(codec)` so corruption
/// faults act on real bytes). See the module documentation of `workload` for an example.
pub struct WorkloadDef<M, P: Params = (), W: Wire<M> = Typed> {
    name: &'static str,
    description: &'static str,
    wire: Arc<dyn Fn() -> W + Send + Sync>,
    roles: Vec<(&'static str, Factory<M, P, W>)>,
    checks: Vec<Check<M, P, W>>,
    sometimes: Vec<(&'static str, SometimesPredicate<M, P, W>)>,
    validators: Vec<Validator<P>>,
    required_roles: Vec<&'static str>,
    codec: Option<CodecFactory<M>>,
    subprocess: SubprocessConfig,
}

impl<M: Clone + Debug + 'static, P: Params> WorkloadDef<M, P, Typed> {
    /// A workload whose messages travel as themselves.
    pub fn new(name: &'static str, description: &'static str) -> Self {
        Self::with_wire(name, description, || Typed)
    }
}

impl<M: Debug + 'static, P: Params, W: Wire<M> + Send> WorkloadDef<M, P, W> {
    /// A workload whose messages travel through the wire `wire` builds (once per run), e.g.
    /// `|| Encoded(MyCodec)`.
    pub fn with_wire(
        name: &'static str,
        description: &'static str,
        wire: impl Fn() -> W + Send + Sync + 'static,
    ) -> Self {
        WorkloadDef {
            name,
            description,
            wire: Arc::new(wire),
            roles: Vec::new(),
            checks: Vec::new(),
            sometimes: Vec::new(),
            validators: Vec::new(),
            required_roles: Vec::new(),
            codec: None,
            subprocess: SubprocessConfig::default(),
        }
    }

    /// Nodes with `role` run what `factory` builds, at boot and at every restart; `"*"`
    /// matches every role no other entry names. A node whose role no entry matches is a load
    /// error.
    pub fn role<T: Process<M, Context<M, W>>>(
        mut self,
        role: &'static str,
        factory: impl Fn(&NodeInit<'_, P>) -> T + Send + Sync + 'static,
    ) -> Self {
        assert!(
            self.roles.iter().all(|(name, _)| *name != role),
            "workload {}: role `{role}` is declared twice",
            self.name
        );
        self.roles.push((role, Arc::new(move |init| Box::new(factory(init)))));
        self
    }

    /// A check a scenario may name (see `Check`). Names are unique within a workload.
    pub fn check(mut self, check: Check<M, P, W>) -> Self {
        assert!(
            self.checks.iter().all(|c| c.spec.name != check.spec.name),
            "workload {}: check `{}` is declared twice",
            self.name,
            check.spec.name
        );
        self.checks.push(check);
        self
    }

    /// An invariant (see `Check::invariant`): checked after every event.
    pub fn invariant(
        self,
        name: &'static str,
        doc: &'static str,
        predicate: impl Fn(&Run<'_, M, P, W>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.check(Check::invariant(name, doc, predicate))
    }

    /// A liveness check (see `Check::liveness`): must hold by the converge deadline.
    pub fn liveness(
        self,
        name: &'static str,
        doc: &'static str,
        predicate: impl Fn(&Run<'_, M, P, W>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.check(Check::liveness(name, doc, predicate))
    }

    /// A final check (see `Check::final_check`): evaluated once at the end.
    pub fn final_check(
        self,
        name: &'static str,
        doc: &'static str,
        verdict: impl Fn(&Run<'_, M, P, W>) -> CheckResult + Send + Sync + 'static,
    ) -> Self {
        self.check(Check::final_check(name, doc, verdict))
    }

    /// An agreement invariant over observations (see `Agreement`).
    pub fn agreement(self, name: &'static str, doc: &'static str, agreement: Agreement) -> Self {
        self.check(Check::agreement(name, doc, agreement))
    }

    /// A final linearizability check of the history clients recorded (see `history`).
    pub fn linearizable(
        self,
        name: &'static str,
        doc: &'static str,
        model: crate::check::ModelName,
        steps_max: u64,
    ) -> Self {
        self.check(Check::linearizable(name, doc, model, steps_max))
    }

    /// A sometimes-point of the workload: `predicate` is evaluated after every event and the
    /// point counts as reached if it was ever true (e.g. "a leader changed during a
    /// partition"). It never fails a run; the sweep summary lists the points no seed
    /// reached.
    pub fn sometimes(
        mut self,
        name: &'static str,
        predicate: impl Fn(&Run<'_, M, P, W>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.sometimes.push((name, Arc::new(predicate)));
        self
    }

    /// The scenario must have at least one node with `role` (checked at load time).
    pub fn requires_role(mut self, role: &'static str) -> Self {
        self.required_roles.push(role);
        self
    }

    /// A rule over the parameters and topology, checked when the scenario loads: `Err(why)`
    /// makes the scenario an input error (exit 2), never a per-seed failure.
    pub fn validate(
        mut self,
        rule: impl Fn(&P, &Topology) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.validators.push(Arc::new(rule));
        self
    }

    /// How messages become bytes for nodes that run as child processes: a topology node
    /// with a `command` then runs it (see `subprocess`) instead of its role's factory.
    /// Without a codec, a node with a `command` is a load error.
    pub fn codec<C: Codec<Message = M> + Clone + Send + Sync>(mut self, codec: C) -> Self {
        self.codec = Some(Arc::new(move || Box::new(codec.clone())));
        self
    }

    /// The limits of child-process nodes (step timeout, frame size, stderr lines); default
    /// `SubprocessConfig::default()`.
    pub fn subprocess_config(mut self, config: SubprocessConfig) -> Self {
        self.subprocess = config;
        self
    }

    fn factory_for(&self, role: &str) -> Option<&Factory<M, P, W>> {
        let exact = self.roles.iter().find(|(name, _)| *name == role);
        exact.or_else(|| self.roles.iter().find(|(name, _)| *name == "*")).map(|(_, f)| f)
    }
}

impl<M: Debug + 'static, P: Params, W: Wire<M> + Send> Workload for WorkloadDef<M, P, W> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        P::specs()
    }

    fn checks(&self) -> Vec<CheckSpec> {
        self.checks.iter().map(|check| check.spec.clone()).collect()
    }

    fn validate(&self, params: &ParamMap, topology: &Topology) -> Vec<SetupProblem> {
        let mut problems = Vec::new();
        let typed = match P::from_map(params) {
            Ok(typed) => Some(typed),
            Err(message) => {
                problems.push(SetupProblem { param: None, message });
                None
            }
        };
        for role in &self.required_roles {
            if topology.nodes_with_role(role).is_empty() {
                problems.push(SetupProblem {
                    param: None,
                    message: format!(
                        "workload `{}` needs at least one node with role `{role}`",
                        self.name
                    ),
                });
            }
        }
        for spec in topology.nodes().filter_map(|node| topology.node(node)) {
            if spec.command.is_some() && self.codec.is_none() {
                problems.push(SetupProblem {
                    param: None,
                    message: format!(
                        "node `{}` names a `command`, but workload `{}` declares no codec \
                         for child processes",
                        spec.name, self.name
                    ),
                });
            }
        }
        let unmatched: BTreeSet<String> = topology
            .nodes()
            .filter_map(|node| topology.node(node))
            .filter(|spec| spec.command.is_none() && self.factory_for(&spec.role).is_none())
            .map(|spec| spec.role.clone())
            .collect();
        for role in unmatched {
            let roles: Vec<&str> = self.roles.iter().map(|(name, _)| *name).collect();
            problems.push(SetupProblem {
                param: None,
                message: format!(
                    "workload `{}` runs no process for role `{role}` (its roles: {})",
                    self.name,
                    roles.join(", ")
                ),
            });
        }
        if let Some(typed) = typed {
            for rule in &self.validators {
                if let Err(message) = rule(&typed, topology) {
                    problems.push(SetupProblem { param: None, message });
                }
            }
        }
        problems
    }

    fn instantiate(
        &self,
        plan: &RunPlan,
        setup: &Setup<'_>,
    ) -> Result<Box<dyn Simulation>, String> {
        let params = Arc::new(P::from_map(setup.params)?);
        let topology = Arc::new(plan.topology.clone());
        let world = build_world::<M, W>(plan, setup, (self.wire)(), |spec| {
            if let (Some(command), Some(codec)) = (&spec.command, &self.codec) {
                let (command, codec, config) =
                    (Arc::<[String]>::from(command.as_slice()), codec.clone(), self.subprocess);
                let spec = spec.clone();
                return Some(Box::new(move |_node| {
                    Box::new(SubprocessNode::new(command.clone(), codec(), config, &spec))
                }));
            }
            let factory = self.factory_for(&spec.role)?.clone();
            let (params, topology, spec) = (params.clone(), topology.clone(), spec.clone());
            Some(Box::new(move |node| {
                factory(&NodeInit { node, spec: &spec, params: &params, topology: &topology })
            }))
        })?;
        let heal_at = Instant::ZERO + plan.phases.chaos;
        let info = RunInfo {
            params: (*params).clone(),
            seed: plan.seed,
            topology: plan.topology.clone(),
            heal_at,
            converge_from: heal_at + plan.phases.heal,
        };
        let checks = self
            .checks
            .iter()
            .filter(|check| plan.checks.iter().any(|name| name == check.spec.name))
            .map(|check| (check.spec.clone(), (check.make)(&info)))
            .collect();
        let sometimes = self.sometimes.iter().map(|(name, p)| (*name, p.clone())).collect();
        Ok(Box::new(Harness::new(world, info, checks, sometimes)))
    }
}
