//! How the runner sees a system under test: a `Workload` declares its parameters and checks
//! (so scenarios can be validated against them) and turns a concrete `RunPlan` into a running
//! `Simulation` the runner drives through its phases without knowing its message type.

use std::collections::BTreeMap;
use std::fmt;

use crate::fault::ControlAction;
use crate::time::{Duration, Instant};
use crate::world::Outcome;

/// The type of a workload parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Int,
    Float,
    Bool,
    Duration,
    Text,
}

impl ParamKind {
    pub fn name(self) -> &'static str {
        match self {
            ParamKind::Int => "integer",
            ParamKind::Float => "number",
            ParamKind::Bool => "boolean",
            ParamKind::Duration => "duration (e.g. \"150ms\")",
            ParamKind::Text => "string",
        }
    }
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Duration(Duration),
    Text(String),
}

impl ParamValue {
    pub fn kind(&self) -> ParamKind {
        match self {
            ParamValue::Int(_) => ParamKind::Int,
            ParamValue::Float(_) => ParamKind::Float,
            ParamValue::Bool(_) => ParamKind::Bool,
            ParamValue::Duration(_) => ParamKind::Duration,
            ParamValue::Text(_) => ParamKind::Text,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Bool(v) => write!(f, "{v}"),
            ParamValue::Duration(v) => write!(f, "{v}"),
            ParamValue::Text(v) => write!(f, "{v}"),
        }
    }
}

/// A declared parameter: name, type, default, one line of documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: ParamValue,
    pub doc: &'static str,
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

/// A declared check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    pub name: &'static str,
    pub kind: CheckKind,
    pub doc: &'static str,
}

/// Concrete parameters of one run (declared defaults filled in).
pub type Params = BTreeMap<String, ParamValue>;

/// Reads typed parameters; the scenario validator guarantees presence and type, so a miss
/// here is a bug in the workload's declaration.
pub trait ParamsExt {
    fn int(&self, name: &str) -> i64;
    fn float(&self, name: &str) -> f64;
    fn flag(&self, name: &str) -> bool;
    fn duration(&self, name: &str) -> Duration;
}

impl ParamsExt for Params {
    fn int(&self, name: &str) -> i64 {
        match self.get(name) {
            Some(ParamValue::Int(v)) => *v,
            other => panic!("workload parameter {name} is not a declared integer: {other:?}"),
        }
    }
    fn float(&self, name: &str) -> f64 {
        match self.get(name) {
            Some(ParamValue::Float(v)) => *v,
            Some(ParamValue::Int(v)) => *v as f64,
            other => panic!("workload parameter {name} is not a declared number: {other:?}"),
        }
    }
    fn flag(&self, name: &str) -> bool {
        match self.get(name) {
            Some(ParamValue::Bool(v)) => *v,
            other => panic!("workload parameter {name} is not a declared boolean: {other:?}"),
        }
    }
    fn duration(&self, name: &str) -> Duration {
        match self.get(name) {
            Some(ParamValue::Duration(v)) => *v,
            other => panic!("workload parameter {name} is not a declared duration: {other:?}"),
        }
    }
}

/// The result of evaluating one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    Pass,
    Fail(String),
    /// The checker could not decide (e.g. a linearizability search ran out of budget).
    Unknown(String),
}

/// A running simulation of some workload, with its message type erased, so the runner can
/// drive any workload through phases and checks.
pub trait Simulation {
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
    fn fingerprint(&self) -> u64;
    fn events_processed(&self) -> u64;
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
    /// The sometimes-points of processes and checkers (see `check::coverage`).
    fn coverage(&self) -> crate::check::Coverage {
        crate::check::Coverage::default()
    }
}

/// What the runner needs to start a workload.
#[derive(Debug, Clone)]
pub struct Setup<'a> {
    pub seed: u64,
    pub n_nodes: usize,
    pub params: &'a Params,
    pub recording: bool,
    pub fingerprint_history: bool,
}

/// A system under test, as registered with the runner and the CLI.
pub trait Workload: Sync + Send {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn parameters(&self) -> Vec<ParamSpec>;
    fn checks(&self) -> Vec<CheckSpec>;
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
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn register(&mut self, workload: impl Workload + 'static) -> &mut Self {
        self.workloads.push(Box::new(workload));
        self
    }

    pub fn get(&self, name: &str) -> Option<&dyn Workload> {
        self.workloads.iter().find(|w| w.name() == name).map(|w| w.as_ref())
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Workload> {
        self.workloads.iter().map(|w| w.as_ref())
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.workloads.iter().map(|w| w.name()).collect()
    }
}
