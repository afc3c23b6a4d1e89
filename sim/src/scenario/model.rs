//! A validated scenario: every name resolved, every value in range, every duration parsed.
//! What is left to chance (swarm families, random nodes, random partitions) is kept as a
//! rule that `sample` turns into concrete actions for one seed.

use std::ops::Range;

use crate::disk::DiskConfig;
use crate::fault::{BuggifyConfig, ControlAction, RoleFallback, Supervisor, TriggerWhen};
use crate::net::LinkConfig;
use crate::node::NodeId;
use crate::time::{Duration, Instant};
use crate::topology::Topology;
use crate::workload::ParamMap;

use super::plan::{Expect, Limits, Phases};

/// A loaded, validated scenario. Build one with `scenario::load` or `scenario::parse`; turn
/// it into a concrete run with `sample(seed)`.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) topology: Topology,
    pub(crate) link_default: LinkConfig,
    pub(crate) disk: DiskConfig,
    pub(crate) workload: String,
    pub(crate) params: ParamMap,
    pub(crate) faults: Vec<FaultRule>,
    /// At most this many nodes crashed or paused at once; crashes beyond it are skipped.
    pub(crate) max_dead: Option<u32>,
    /// Restarts nodes that lose power at a crash point, exit or abort.
    pub(crate) supervisor: Option<Supervisor>,
    pub(crate) swarm: Vec<FamilyRule>,
    pub(crate) phases: Phases,
    pub(crate) checks: Vec<String>,
    pub(crate) limits: Limits,
    pub(crate) seeds: Range<u64>,
    pub(crate) buggify: BuggifyConfig,
    pub(crate) expect: Expect,
}

impl Scenario {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// The seeds a plain `run` sweeps when the user names none.
    pub fn default_seeds(&self) -> Range<u64> {
        self.seeds.clone()
    }

    pub fn expect(&self) -> Expect {
        self.expect
    }

    pub fn workload(&self) -> &str {
        &self.workload
    }

    /// The workload parameters, declared defaults filled in.
    pub fn params(&self) -> &ParamMap {
        &self.params
    }

    pub fn checks(&self) -> &[String] {
        &self.checks
    }

    pub fn phases(&self) -> Phases {
        self.phases
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Whether `sample` draws anything (swarm families, random nodes or partitions).
    pub fn is_random(&self) -> bool {
        !self.swarm.is_empty()
            || self.faults.iter().any(|rule| {
                rule.restart_after.is_some_and(|(low, high)| low < high)
                    || matches!(
                        rule.action,
                        ActionTemplate::RandomSplit { .. }
                            | ActionTemplate::Action { target: Target::Random(_), .. }
                    )
            })
    }
}

/// One scheduled fault of the file: when, and what.
#[derive(Debug, Clone)]
pub(crate) struct FaultRule {
    /// The rule's name (`name:`), or its position `fault[i]`.
    pub name: String,
    pub timing: Timing,
    pub action: ActionTemplate,
    /// A crash boots again after a delay drawn from this range.
    pub restart_after: Option<(Duration, Duration)>,
}

/// A fault that fires at an observed event, as validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TriggerRule {
    pub event: String,
    pub nodes: Option<Vec<NodeId>>,
    pub probability: f64,
    pub budget: Option<u32>,
    pub when: TriggerWhen,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Timing {
    /// Fires when a process observes an event; never on a clock.
    On(TriggerRule),
    At(Instant),
    /// At `after`, `after + period`, ... while before `until`.
    Every {
        period: Duration,
        after: Instant,
        until: Instant,
    },
}

impl Timing {
    /// Every instant this timing fires at, in order (none for a trigger).
    pub fn instants(&self) -> impl Iterator<Item = Instant> {
        let (first, period, until) = match *self {
            Timing::At(at) => (at, Duration::MAX, at.saturating_add(Duration::NANOSECOND)),
            Timing::Every { period, after, until } => (after, period, until),
            Timing::On(_) => (Instant::ZERO, Duration::MAX, Instant::ZERO),
        };
        std::iter::successors(Some(first), move |t| t.checked_add(period))
            .take_while(move |t| *t < until)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum ActionTemplate {
    /// `actions` as they are, or with their node replaced by each node of `target`.
    Action { actions: Vec<ControlAction>, target: Target },
    /// A partition into two sides drawn per seed and occurrence.
    RandomSplit { majority_minority: bool, duration: Option<Duration> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The action names its node already (or none).
    Fixed,
    /// The action applies to each of these nodes (a failure domain), in id order.
    Each(Vec<NodeId>),
    /// The action applies to one of these nodes, drawn per seed and occurrence.
    Random(Vec<NodeId>),
    /// The node the rule at this index picked at its latest occurrence so far.
    Rule(usize),
    /// Whoever holds the role when the action applies.
    Holding { role: String, otherwise: RoleFallback },
    /// The node that pulled the trigger (trigger rules only).
    Observer,
}

/// The fault families of swarm testing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Family {
    Partition,
    Clog,
    Crash,
    Pause,
    Loss,
    Duplicate,
    Corrupt,
    ClockSkew,
    DiskErrors,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Partition => "partition",
            Family::Clog => "clog",
            Family::Crash => "crash",
            Family::Pause => "pause",
            Family::Loss => "loss",
            Family::Duplicate => "duplicate",
            Family::Corrupt => "corrupt",
            Family::ClockSkew => "clock_skew",
            Family::DiskErrors => "disk_errors",
        }
    }
}

/// One swarm family as validated: on with `probability` per seed, values drawn from the
/// inclusive ranges it declares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FamilyRule {
    pub family: Family,
    pub probability: f64,
    pub interval: Option<(Duration, Duration)>,
    pub duration: Option<(Duration, Duration)>,
    pub rate: Option<(f64, f64)>,
    /// Clock offset range in signed nanoseconds.
    pub offset: Option<(i64, i64)>,
    pub drift_ppm: Option<(i64, i64)>,
    /// The nodes a crash, pause or clog family may hit (all when the file names no `role`).
    pub nodes: Option<Vec<NodeId>>,
}
