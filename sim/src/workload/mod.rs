//! How the runner sees a system under test. A workload is declared once, as a table
//! (`WorkloadDef`): its typed parameters, the process each role runs, and its checks with
//! their predicates, so what a scenario may name and what a run evaluates cannot disagree.
//! The runner drives it through the object-safe `Workload` and `Simulation` traits without
//! knowing its message type.
//!
//! ```
//! use orrery_sim::workload::{Check, NodeInit, WorkloadDef};
//! use orrery_sim::{ms, Duration, NodeApi, NodeId, Params, Process, Registry, TimerId};
//!
//! #[derive(Debug, Clone)]
//! pub enum Msg { Ping, Pong }
//!
//! #[derive(Debug, Clone, Params)]
//! pub struct PingParams {
//!     /// Time between a pinger's pings.
//!     #[param(default = ms(10))]
//!     pub interval: Duration,
//! }
//!
//! pub struct Ponger;
//! impl<N: NodeApi<Msg>> Process<Msg, N> for Ponger {
//!     fn on_message(&mut self, node: &mut N, from: NodeId, _message: Msg) {
//!         node.send(from, Msg::Pong);
//!     }
//! }
//!
//! pub struct Pinger { pub peer: NodeId, pub interval: Duration, pub pongs: u64 }
//! impl<N: NodeApi<Msg>> Process<Msg, N> for Pinger {
//!     fn on_start(&mut self, node: &mut N) {
//!         node.set_timer(self.interval, 0);
//!     }
//!     fn on_message(&mut self, _node: &mut N, _from: NodeId, _message: Msg) {
//!         self.pongs += 1;
//!     }
//!     fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
//!         node.send(self.peer, Msg::Ping);
//!         node.set_timer(self.interval, 0);
//!     }
//! }
//!
//! let ping = WorkloadDef::<Msg, PingParams>::new("ping", "pingers ping a ponger")
//!     .requires_role("ponger")
//!     .role("ponger", |_: &NodeInit<'_, PingParams>| Ponger)
//!     .role("*", |init: &NodeInit<'_, PingParams>| Pinger {
//!         peer: init.nodes_with_role("ponger")[0],
//!         interval: init.params.interval,
//!         pongs: 0,
//!     })
//!     .check(Check::liveness("pongs_arrive", "every pinger hears back", |run| {
//!         match run.world.processes_of::<Pinger>().find(|(_, p)| p.pongs == 0) {
//!             Some((node, _)) => Err(format!("{node} heard no pong")),
//!             None => Ok(()),
//!         }
//!     }));
//! let mut registry = Registry::new();
//! registry.register(ping);
//! ```

mod check;
mod def;
pub mod history;
mod params;

use crate::fault::ControlAction;
use crate::time::Instant;
use crate::topology::Topology;
use crate::world::Outcome;

pub use check::{Agreement, Check, CheckLogic, Run};
pub use def::{NodeInit, RunInfo, WorkloadDef};
pub use params::{field, Choice, ParamKind, ParamMap, ParamSpec, ParamType, ParamValue, Params};

/// `Ok(())` if `condition` holds, else `Err` with the message `why` builds: the usual body of
/// an invariant or liveness predicate, `ensure(stuck.is_empty(), || format!("{stuck:?}"))`.
pub fn ensure(condition: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    match condition {
        true => Ok(()),
        false => Err(why()),
    }
}

/// When a check is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// After every event (a world invariant) and at phase ends.
    Invariant,
    /// Must become true during the converge phase, by its deadline.
    Liveness,
    /// Once, at the end of the run (e.g. linearizability of the recorded history).
    Final,
}

impl CheckKind {
    /// `invariant`, `liveness` or `final`.
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Invariant => "invariant",
            CheckKind::Liveness => "liveness",
            CheckKind::Final => "final",
        }
    }
}

/// A declared check: what a scenario may name, and what `orrery list` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    /// The name a scenario's `checks:` lists.
    pub name: &'static str,
    /// When it is evaluated.
    pub kind: CheckKind,
    /// One line on what it proves.
    pub doc: &'static str,
}

/// The result of evaluating one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// The property holds.
    Pass,
    /// The property is violated; the message says how.
    Fail(String),
    /// The checker could not decide (e.g. a linearizability search ran out of budget).
    Unknown(String),
}

/// A problem with a scenario's workload section, found at load time. `param` names the
/// parameter it is about, so the error can point at its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupProblem {
    /// The parameter at fault, if the problem is about one.
    pub param: Option<String>,
    /// What is wrong, in the workload's words.
    pub message: String,
}

/// A running simulation of some workload, with its message type erased, so the runner can
/// drive any workload through phases and checks.
pub trait Simulation {
    /// True virtual time.
    fn now(&self) -> Instant;
    /// Applies a control action now.
    fn apply(&mut self, action: ControlAction);
    /// Applies a control action at `at`.
    fn schedule(&mut self, at: Instant, action: ControlAction);
    /// Runs until `until` (or an outcome stops it).
    fn run_until_time(&mut self, until: Instant) -> Outcome;
    /// Runs until the liveness check `check` holds, checking after each event, or until
    /// `deadline`; returns whether it held.
    fn run_until_check(&mut self, check: &str, deadline: Instant) -> Result<bool, Outcome>;
    /// Evaluates an invariant or final check now.
    fn check(&mut self, check: &str) -> CheckResult;
    /// Processes at most `events` events, checking after each as `run_until_time` does (the
    /// clock moves only to the events' times); `Outcome::Stepped` if all of them ran. `None`
    /// if this simulation cannot step (the control server then says so).
    fn step_events(&mut self, _events: u64) -> Option<Outcome> {
        None
    }
    /// A node's lifecycle state, if the simulation can tell (`None` also for no such node).
    fn node_status(&self, _node: crate::node::NodeId) -> Option<crate::node::NodeStatus> {
        None
    }
    /// Marks the start of a phase (`heal`, `converge`) in the trace.
    fn mark_phase(&mut self, _name: &str) {}
    /// Ends the run with a `stop` line naming why (a failed liveness or final check, a
    /// panic), for runs that end outside the event loop.
    fn finish(&mut self, _reason: &str, _detail: Option<String>) {}
    /// The run's fingerprint so far.
    fn fingerprint(&self) -> u64;
    /// Events processed so far.
    fn events_processed(&self) -> u64;
    /// How many nodes the world has.
    fn n_nodes(&self) -> usize;
    /// The trace, for recording and rendering.
    fn trace(&self) -> &crate::trace::Trace;
    /// The trace, for the runner to attach its watchdog and stream records to a file. A
    /// simulation that returns `None` keeps its records in memory and gives the watchdog
    /// nothing but wall time to judge a hang by.
    fn trace_mut(&mut self) -> Option<&mut crate::trace::Trace> {
        None
    }
    /// One line of network and disk statistics for summaries.
    fn stats_summary(&self) -> String;
    /// Network counters, for fault coverage.
    fn net_stats(&self) -> crate::net::NetStats {
        crate::net::NetStats::default()
    }
    /// Disk counters summed over the nodes, for fault coverage.
    fn disk_stats(&self) -> crate::disk::DiskStats {
        crate::disk::DiskStats::default()
    }
    /// Pauses that froze a running node, for fault coverage.
    fn pauses_applied(&self) -> u64 {
        0
    }
    /// The sometimes-points of processes and checkers (see `check::coverage`).
    fn coverage(&self) -> crate::check::Coverage {
        crate::check::Coverage::default()
    }
}

/// What the runner needs to start a workload.
#[derive(Debug, Clone)]
pub struct Setup<'a> {
    /// The run's seed.
    pub seed: u64,
    /// How many nodes the topology has.
    pub n_nodes: usize,
    /// The parameters, validated against the workload's declaration.
    pub params: &'a ParamMap,
    /// Record the full trace.
    pub recording: bool,
    /// Keep per-event fingerprints (to locate a nondeterminism).
    pub fingerprint_history: bool,
}

/// A system under test, as registered with the runner and the CLI. `WorkloadDef` implements
/// it; implement it by hand only for a world the harness cannot build.
pub trait Workload: Sync + Send {
    /// The name a scenario's `workload.name` gives.
    fn name(&self) -> &'static str;
    /// One line for `orrery list`.
    fn description(&self) -> &'static str;
    /// The parameters a scenario may set.
    fn parameters(&self) -> Vec<ParamSpec>;
    /// The checks a scenario may name.
    fn checks(&self) -> Vec<CheckSpec>;
    /// Problems with these parameters and this topology, found when the scenario loads (so
    /// they are input errors, never per-seed failures).
    fn validate(&self, _params: &ParamMap, _topology: &Topology) -> Vec<SetupProblem> {
        Vec::new()
    }
    /// Builds the world for one run. Topology, network and disk settings of the plan are
    /// applied by the runner through `Simulation::apply` before the run starts.
    fn instantiate(
        &self,
        plan: &crate::scenario::RunPlan,
        setup: &Setup<'_>,
    ) -> Result<Box<dyn Simulation>, String>;
}

/// The workloads a binary knows, by name.
#[derive(Default)]
pub struct Registry {
    workloads: Vec<Box<dyn Workload>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// This registry with `workload` added: `Registry::new().with(echo()).with(kv())`.
    pub fn with(mut self, workload: impl Workload + 'static) -> Registry {
        self.register(workload);
        self
    }

    /// Adds a workload (a `WorkloadDef`, or your own `Workload`).
    pub fn register(&mut self, workload: impl Workload + 'static) -> &mut Self {
        self.workloads.push(Box::new(workload));
        self
    }

    /// The workload named `name`.
    pub fn get(&self, name: &str) -> Option<&dyn Workload> {
        self.workloads.iter().find(|w| w.name() == name).map(|w| w.as_ref())
    }

    /// Every workload, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Workload> {
        self.workloads.iter().map(|w| w.as_ref())
    }

    /// Every workload's name, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.workloads.iter().map(|w| w.name()).collect()
    }
}
