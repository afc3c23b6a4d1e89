//! A run plan: one scenario sampled for one seed. Everything is concrete (no distributions
//! left), so the plan alone, written back as YAML, replays the same run exactly.

use crate::disk::DiskConfig;
use crate::fault::{BuggifyConfig, ControlAction, Supervisor, Trigger};
use crate::net::LinkConfig;
use crate::time::{Duration, Instant};
use crate::topology::Topology;
use crate::workload::ParamMap;

/// The phases of a run: faults during `chaos`, then everything heals (partitions, clogs,
/// fault rates, down or paused nodes), then `converge` must make every liveness check true
/// within its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    pub chaos: Duration,
    /// Quiet time after healing before liveness checks start counting.
    pub heal: Duration,
    /// How long after the heal phase every liveness check has to become true.
    pub converge_deadline: Duration,
}

/// Bounds of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub events_max: u64,
    pub vtime_max: Instant,
}

/// What a scenario expects of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Every seed passes.
    Pass,
    /// Some seed among the first `within_seeds` fails (a planted bug must be found).
    Fail { within_seeds: u64 },
}

/// One scenario, sampled for one seed.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub scenario: String,
    pub seed: u64,
    pub topology: Topology,
    pub link_default: LinkConfig,
    pub disk: DiskConfig,
    pub workload: String,
    pub params: ParamMap,
    /// Control actions and when they apply, sorted by time (stable for equal times).
    pub faults: Vec<(Instant, ControlAction)>,
    /// Faults that fire at observed events, during the chaos phase.
    pub triggers: Vec<Trigger>,
    /// At most this many nodes crashed or paused at once (enforced as faults apply).
    pub max_dead: Option<u32>,
    /// Restarts nodes that lose power at a crash point, exit or abort.
    pub supervisor: Option<Supervisor>,
    pub phases: Phases,
    /// Checks to run, by name (declared by the workload).
    pub checks: Vec<String>,
    pub limits: Limits,
    pub buggify: BuggifyConfig,
    pub expect: Expect,
    /// Every value drawn for this seed, as (label, value) in draw order: the realized swarm
    /// configuration, written to the trace header.
    pub realized: Vec<(String, String)>,
}
