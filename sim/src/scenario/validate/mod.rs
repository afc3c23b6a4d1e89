//! Validation: a `ScenarioFile` as written becomes a `Scenario` whose names are resolved and
//! values checked, or a list of every problem found, each pointing at its value.
//!
//! Order matters only where one section's values bound another's: limits first (a fault
//! must happen before `vtime_max`), then phases, topology (faults name nodes), network and
//! disk (faults start from them), workload, faults, swarm.

mod disk;
mod faults;
mod network;
mod swarm;

use std::collections::BTreeSet;

use serde_saphyr::{Location, Spanned};

use crate::disk::{DiskConfig, UnsyncedOnCrash};
use crate::fault::{BuggifyConfig, ControlAction, RoleFallback, Supervisor, TriggerWhen};
use crate::net::{Latency, LinkConfig, PartitionShape, WhenFull};
use crate::node::NodeId;
use crate::time::{Duration, Instant};
use crate::topology::{DomainKind, NodeSpec, Topology};
use crate::workload::{ParamKind, ParamMap, ParamValue, Registry};

use super::diagnostics::Diagnostics;
use super::error::ErrorKind;
use super::model::{
    ActionTemplate, Family, FamilyRule, FaultRule, Scenario, Target, Timing, TriggerRule,
};
use super::plan::{Expect, Limits, Phases};
use super::schema::{
    DiskFile, DomainFile, DurationRangeFile, ExpectFile, FamilyFile, FaultFile, FaultKind,
    LatencyFile, LinkFile, NodeRefFile, OtherwiseFile, PhasesFile, RandomSplitFile, ScalarFile,
    ScenarioFile, SelectorFile, TopologyFile, TriggerFile, UnsyncedFile, WhenFile, WhenFullFile,
    WorkloadFile, ZoneLinkFile,
};

/// More nodes than this is a typo, not a scenario (and would allocate without bound).
pub(crate) const NODES_MAX: u32 = 4096;
/// One rule or family may not expand into more actions than this.
pub(crate) const OCCURRENCES_MAX: u64 = 100_000;
/// The whole explicit schedule may not expand into more actions than this.
pub(crate) const SCHEDULE_ACTIONS_MAX: u64 = 1_000_000;
const VTIME_MAX_DEFAULT: Duration = Duration::from_secs(600);
const EVENTS_MAX_DEFAULT: u64 = 50_000_000;
const SEEDS_DEFAULT: std::ops::Range<u64> = 0..100;

/// For each fault kind: its name, groups of fields of which exactly one must be present, and
/// the fields it may carry besides.
/// (kind, name, required field alternatives, optional fields).
type FaultFields =
    (FaultKind, &'static str, &'static [&'static [&'static str]], &'static [&'static str]);

pub(crate) const FAULT_FIELDS: [FaultFields; 21] = [
    (FaultKind::Crash, "crash", &[&["node", "domain"]], &["restart_after"]),
    (FaultKind::Restart, "restart", &[&["node", "domain"]], &[]),
    (FaultKind::Start, "start", &[&["node", "domain"]], &[]),
    (FaultKind::Recover, "recover", &[&["node", "domain"]], &[]),
    (FaultKind::Pause, "pause", &[&["node", "domain"]], &[]),
    (FaultKind::Resume, "resume", &[&["node", "domain"]], &[]),
    (FaultKind::SetClock, "set_clock", &[&["node"], &["offset"]], &["drift_ppm"]),
    (FaultKind::SetNodeUp, "set_node_up", &[&["node"], &["up"]], &[]),
    (
        FaultKind::Partition,
        "partition",
        &[&["groups", "isolate", "one_way", "ring", "bridge", "random"]],
        &["duration"],
    ),
    (FaultKind::Heal, "heal", &[], &[]),
    (FaultKind::Clog, "clog", &[&["node", "from"], &["duration"]], &["to"]),
    (FaultKind::Unclog, "unclog", &[], &[]),
    (FaultKind::SetLoss, "set_loss", &[&["probability"]], &[]),
    (FaultKind::SetDuplicate, "set_duplicate", &[&["probability"]], &[]),
    (FaultKind::SetCorrupt, "set_corrupt", &[&["probability"]], &[]),
    (FaultKind::SetDefaultLink, "set_default_link", &[&["link"]], &[]),
    (FaultKind::SetLink, "set_link", &[&["from"], &["to"], &["link"]], &[]),
    (FaultKind::SetCapacity, "set_capacity", &[&["capacity_packets"]], &[]),
    (FaultKind::SetDisk, "set_disk", &[&["disk"]], &["node"]),
    (
        FaultKind::CrashAtDiskOperation,
        "crash_at_disk_operation",
        &[&["node"], &["operation"]],
        &["restart_after"],
    ),
    (FaultKind::DisarmCrashPoint, "disarm_crash_point", &[&["node", "domain"]], &[]),
];

/// For each swarm family: the fields it requires besides `probability`, then optional ones.
pub(crate) const FAMILY_FIELDS: [(Family, &[&str], &[&str]); 9] = [
    (Family::Partition, &["interval", "duration"], &[]),
    (Family::Clog, &["interval", "duration"], &["role"]),
    (Family::Crash, &["interval", "duration"], &["role"]),
    (Family::Pause, &["interval", "duration"], &["role"]),
    (Family::Loss, &["rate"], &[]),
    (Family::Duplicate, &["rate"], &[]),
    (Family::Corrupt, &["rate"], &[]),
    (Family::ClockSkew, &["offset"], &["drift_ppm"]),
    (Family::DiskErrors, &["rate"], &[]),
];

impl FaultKind {
    pub(crate) fn name(self) -> &'static str {
        FAULT_FIELDS.iter().find(|row| row.0 == self).map_or("?", |row| row.1)
    }
}

/// Validates `file` against the workloads of `registry`; problems go to `diagnostics`.
pub(crate) fn validate(
    file: &ScenarioFile,
    registry: &Registry,
    diagnostics: &mut Diagnostics<'_>,
) -> Option<Scenario> {
    let required = [
        ("name", file.name.is_none()),
        ("topology", file.topology.is_none()),
        ("workload", file.workload.is_none()),
        ("phases", file.phases.is_none()),
    ];
    for (key, missing) in required {
        if missing {
            let message = format!("the scenario has no `{key}`");
            let expected = format!("expected `{key}:` in the file or in the scenario it extends");
            diagnostics.error_at_start(ErrorKind::Syntax, message, expected);
        }
    }
    let (Some(name), Some(topology), Some(workload_file), Some(phases_file)) =
        (&file.name, &file.topology, &file.workload, &file.phases)
    else {
        return None;
    };
    let mut v = Validator {
        d: diagnostics,
        topology: Topology::new(),
        vtime_max: Instant::from_nanos(VTIME_MAX_DEFAULT.as_nanos()),
        chaos_end: Instant::ZERO,
        schedule_actions: 0,
        rules: Vec::new(),
    };
    let limits = v.limits(file);
    let phases = v.phases(phases_file);
    v.topology = v.topology_of(topology);
    let link_default = match &file.network {
        Some(network) => v.network(network),
        None => LinkConfig::default(),
    };
    let disk = match &file.disk {
        Some(disk) => v.disk(DiskConfig::default(), disk),
        None => DiskConfig::default(),
    };
    let listed = file.checks.as_deref().unwrap_or_default();
    let (workload, params, checks) = v.workload(workload_file, listed, registry);
    let faults: Vec<FaultRule> = (file.faults.iter().flatten())
        .filter_map(|fault| v.fault(fault, &link_default, &disk))
        .collect();
    let swarm = v.swarm(file);
    let seeds = v.seeds(file);
    let buggify = v.buggify(file);
    let max_dead = file.max_dead.as_ref().map(|m| m.value);
    let supervisor = file.supervisor.as_ref().and_then(|supervisor| {
        let (low, high) =
            v.duration_range_file(&supervisor.value.restart_after, "restart_after")?;
        Some(Supervisor { restart_after_min: low, restart_after_max: high })
    });
    let expect = match file.expect {
        None | Some(ExpectFile::Pass) => Expect::Pass,
        Some(ExpectFile::Fail { within_seeds }) => Expect::Fail { within_seeds },
    };
    if v.d.has_errors() {
        return None;
    }
    Some(Scenario {
        name: name.value.clone(),
        description: file.description.clone().unwrap_or_default(),
        topology: v.topology,
        link_default,
        disk,
        workload,
        params,
        faults,
        max_dead,
        supervisor,
        swarm,
        phases,
        checks,
        limits,
        seeds,
        buggify,
        expect,
    })
}

pub(super) struct Validator<'d, 'a> {
    d: &'d mut Diagnostics<'a>,
    topology: Topology,
    vtime_max: Instant,
    chaos_end: Instant,
    /// Actions the explicit schedule expands into so far.
    schedule_actions: u64,
    /// The fault rules validated so far, in file order: their names and whether they pick
    /// a node another rule can aim at (`node: {rule: NAME}`).
    rules: Vec<(String, bool)>,
}

impl Validator<'_, '_> {
    fn error(&mut self, kind: ErrorKind, at: &Location, message: String, expected: &str) {
        self.d.error(kind, at, message, expected);
    }

    fn duration(&mut self, text: &Spanned<String>, what: &str) -> Option<Duration> {
        match text.value.parse::<Duration>() {
            Ok(duration) => Some(duration),
            Err(error) => {
                let message = format!("`{what}` is not a valid duration: {error}");
                self.error(ErrorKind::Value, &text.referenced, message, "expected e.g. \"150ms\"");
                None
            }
        }
    }

    /// A duration written in a mapping whose fields carry no positions of their own.
    fn duration_in(&mut self, text: &str, what: &str, at: &Location) -> Option<Duration> {
        self.duration(&Spanned::new(text.to_string(), *at, *at), what)
    }

    /// A point in time, which must come before `vtime_max`.
    fn instant(&mut self, text: &Spanned<String>, what: &str) -> Option<Instant> {
        let at = Instant::from_nanos(self.duration(text, what)?.as_nanos());
        if at >= self.vtime_max {
            let message = format!("`{what}` at {} is not before the run's end", at.since_start());
            let expected = format!("expected a time below limits.vtime_max ({})", self.vtime());
            self.error(ErrorKind::Value, &text.referenced, message, &expected);
            return None;
        }
        Some(at)
    }

    fn vtime(&self) -> Duration {
        self.vtime_max.since_start()
    }

    fn probability(&mut self, value: &Spanned<f64>, what: &str) -> Option<f64> {
        probability_in(self.d, value.value, what, &value.referenced)
    }

    fn node(&mut self, name: &Spanned<String>) -> Option<NodeId> {
        let found = self.topology.find(&name.value);
        if found.is_none() {
            let message = format!("unknown node `{}`", name.value);
            let expected = format!("expected one of {}", self.node_names());
            self.error(ErrorKind::Reference, &name.referenced, message, &expected);
        }
        found
    }

    fn nodes(&mut self, names: &[Spanned<String>]) -> Option<Vec<NodeId>> {
        let nodes: Vec<Option<NodeId>> = names.iter().map(|name| self.node(name)).collect();
        nodes.into_iter().collect()
    }

    fn node_names(&self) -> String {
        let names: Vec<String> = self
            .topology
            .nodes()
            .take(8)
            .filter_map(|n| self.topology.node(n).map(|spec| spec.name.clone()))
            .collect();
        let more = if self.topology.len() > 8 { ", ..." } else { "" };
        format!("{}{more}", names.join(", "))
    }

    fn limits(&mut self, file: &ScenarioFile) -> Limits {
        let limits = file.limits.as_ref();
        let vtime_max = limits
            .and_then(|l| l.vtime_max.as_ref())
            .and_then(|text| self.duration(text, "vtime_max"))
            .unwrap_or(VTIME_MAX_DEFAULT);
        self.vtime_max = Instant::from_nanos(vtime_max.as_nanos());
        let events_max = limits.and_then(|l| l.events_max).unwrap_or(EVENTS_MAX_DEFAULT);
        Limits { events_max, vtime_max: self.vtime_max }
    }

    fn phases(&mut self, file: &Spanned<PhasesFile>) -> Phases {
        let phases = &file.value;
        if phases.chaos.is_none() {
            let message = "`phases` has no `chaos`".to_string();
            self.error(ErrorKind::Syntax, &file.referenced, message, "expected e.g. `chaos: 10s`");
        }
        let mut phase = |text: Option<&Spanned<String>>, what: &str| {
            text.and_then(|text| self.duration(text, what)).unwrap_or(Duration::ZERO)
        };
        let chaos = phase(phases.chaos.as_ref(), "chaos");
        let heal = phase(phases.heal.as_ref(), "heal");
        let converge_deadline = phase(phases.converge_deadline.as_ref(), "converge_deadline");
        let total = chaos.saturating_add(heal).saturating_add(converge_deadline);
        if total > self.vtime() {
            let message = format!(
                "the phases take {total} (chaos {chaos} + heal {heal} + converge_deadline \
                 {converge_deadline}), longer than limits.vtime_max ({})",
                self.vtime()
            );
            let expected = "expected phases that fit within limits.vtime_max";
            let at = phases.chaos.as_ref().map_or(file.referenced, |chaos| chaos.referenced);
            self.error(ErrorKind::Value, &at, message, expected);
        }
        self.chaos_end = Instant::from_nanos(chaos.as_nanos());
        Phases { chaos, heal, converge_deadline }
    }

    fn topology_of(&mut self, file: &Spanned<TopologyFile>) -> Topology {
        let mut topology = Topology::new();
        let spec = &file.value;
        match (&spec.nodes, &spec.count) {
            (Some(_), Some(count)) => {
                let message = "`topology` has both `nodes` and `count`".to_string();
                self.error(ErrorKind::Conflict, &count.referenced, message, "expected one of them");
            }
            (None, None) => {
                let message = "`topology` has neither `nodes` nor `count`".to_string();
                let expected = "expected `nodes: [...]` or `count: N`";
                self.error(ErrorKind::Conflict, &file.referenced, message, expected);
            }
            (None, Some(count)) => {
                if count.value == 0 || count.value > NODES_MAX {
                    let message =
                        format!("`count` {} is not a usable number of nodes", count.value);
                    let expected = format!("expected 1 to {NODES_MAX}");
                    self.error(ErrorKind::Value, &count.referenced, message, &expected);
                } else {
                    let role = spec.role.clone().unwrap_or_default();
                    for i in 0..count.value {
                        topology.add_node(NodeSpec::named(format!("n{i}")).role(role.clone()));
                    }
                }
            }
            (Some(nodes), None) => {
                if nodes.is_empty() || nodes.len() > NODES_MAX as usize {
                    let message = format!("`nodes` lists {} nodes", nodes.len());
                    let expected = format!("expected 1 to {NODES_MAX}");
                    self.error(ErrorKind::Value, &file.referenced, message, &expected);
                }
                for node in nodes.iter().take(NODES_MAX as usize) {
                    let node = &node.value;
                    let name = &node.name;
                    let valid = !name.value.is_empty()
                        && name.value != "random"
                        && name.value.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c));
                    if !valid {
                        let message = format!("`{}` cannot name a node", name.value);
                        let expected =
                            "expected letters, digits, `_`, `-` or `.`, and not `random`";
                        self.error(ErrorKind::Value, &name.referenced, message, expected);
                    } else if topology.find(&name.value).is_some() {
                        let message = format!("node `{}` is defined twice", name.value);
                        self.error(
                            ErrorKind::Conflict,
                            &name.referenced,
                            message,
                            "expected unique names",
                        );
                    }
                    let mut spec = NodeSpec::named(name.value.clone()).role(
                        node.role.clone().unwrap_or_else(|| spec.role.clone().unwrap_or_default()),
                    );
                    spec.machine = node.machine.clone();
                    spec.rack = node.rack.clone();
                    spec.zone = node.zone.clone();
                    if let Some(command) = &node.command {
                        if command.value.first().is_none_or(|program| program.is_empty()) {
                            let message = "`command` names no program".to_string();
                            let expected = "expected `[program, args...]`";
                            self.error(ErrorKind::Value, &command.referenced, message, expected);
                        }
                        spec.command = Some(command.value.clone());
                    }
                    topology.add_node(spec);
                }
            }
        }
        topology
    }

    fn workload(
        &mut self,
        file: &Spanned<WorkloadFile>,
        listed: &[Spanned<String>],
        registry: &Registry,
    ) -> (String, ParamMap, Vec<String>) {
        let spec = &file.value;
        let Some(name) = &spec.name else {
            let message = "`workload` has no `name`".to_string();
            self.error(ErrorKind::Syntax, &file.referenced, message, "expected e.g. `name: echo`");
            return (String::new(), ParamMap::new(), Vec::new());
        };
        let Some(workload) = registry.get(&name.value) else {
            let message = format!("unknown workload `{}`", name.value);
            let known = registry.names().join(", ");
            let expected = if known.is_empty() {
                "this binary registers no workloads".to_string()
            } else {
                format!("expected one of {known}")
            };
            self.error(ErrorKind::Reference, &name.referenced, message, &expected);
            return (name.value.clone(), ParamMap::new(), Vec::new());
        };
        let declared = workload.parameters();
        let mut params: ParamMap =
            declared.iter().map(|p| (p.name.to_string(), p.default.clone())).collect();
        for (key, value) in &spec.params.0 {
            let Some(param) = declared.iter().find(|p| p.name == key.value) else {
                let names: Vec<&str> = declared.iter().map(|p| p.name).collect();
                let message = format!("workload `{}` has no parameter `{}`", name.value, key.value);
                let expected = if names.is_empty() {
                    "it takes no parameters".to_string()
                } else {
                    format!("expected one of {}", names.join(", "))
                };
                self.error(ErrorKind::Reference, &key.referenced, message, &expected);
                continue;
            };
            match param_value(param.kind, &value.value) {
                Some(parsed) => {
                    params.insert(key.value.clone(), parsed);
                }
                None => {
                    let message = match (&value.value, param.kind) {
                        (ScalarFile::Text(text), ParamKind::Choice(_)) => format!(
                            "parameter `{}` of workload `{}` has no choice `{text}`",
                            key.value, name.value
                        ),
                        (ScalarFile::Int(v), ParamKind::Int { .. }) => format!(
                            "parameter `{}` of workload `{}` is out of range: {v}",
                            key.value, name.value
                        ),
                        _ => format!(
                            "parameter `{}` of workload `{}` is not of type {}",
                            key.value,
                            name.value,
                            param.kind.name()
                        ),
                    };
                    let expected = format!("expected {}", param.kind.name());
                    self.error(ErrorKind::Value, &value.referenced, message, &expected);
                }
            }
        }
        let declared_checks = workload.checks();
        let mut checks = Vec::new();
        for check in listed {
            if !declared_checks.iter().any(|c| c.name == check.value) {
                let names: Vec<&str> = declared_checks.iter().map(|c| c.name).collect();
                let message = format!("workload `{}` has no check `{}`", name.value, check.value);
                let expected = if names.is_empty() {
                    "it declares no checks".to_string()
                } else {
                    format!("expected one of {}", names.join(", "))
                };
                self.error(ErrorKind::Reference, &check.referenced, message, &expected);
            } else if checks.contains(&check.value) {
                let message = format!("check `{}` is listed twice", check.value);
                self.error(ErrorKind::Conflict, &check.referenced, message, "expected each once");
            } else {
                checks.push(check.value.clone());
            }
        }
        if !self.d.has_errors() {
            for problem in workload.validate(&params, &self.topology) {
                let at = problem
                    .param
                    .as_deref()
                    .and_then(|param| spec.params.0.iter().find(|(key, _)| key.value == param))
                    .map_or(file.referenced, |(_, value)| value.referenced);
                let expected = "expected a workload setup this workload can run";
                self.error(ErrorKind::Conflict, &at, problem.message, expected);
            }
        }
        (name.value.clone(), params, checks)
    }

    fn seeds(&mut self, file: &ScenarioFile) -> std::ops::Range<u64> {
        let Some(text) = &file.seeds else { return SEEDS_DEFAULT };
        match parse_seed_range(&text.value) {
            Some(range) => range,
            None => {
                let message = format!("`{}` is not a seed range", text.value);
                let expected = "expected `A..B` with A < B, e.g. \"0..100\"";
                self.error(ErrorKind::Value, &text.referenced, message, expected);
                SEEDS_DEFAULT
            }
        }
    }

    fn buggify(&mut self, file: &ScenarioFile) -> BuggifyConfig {
        let mut config = BuggifyConfig::default();
        let Some(buggify) = &file.buggify else { return config };
        config.enabled = buggify.enabled.unwrap_or(config.enabled);
        let rates = [
            (&buggify.site_probability, "site_probability", &mut config.site_probability),
            (&buggify.fire_probability, "fire_probability", &mut config.fire_probability),
        ];
        for (value, what, slot) in rates {
            if let Some(value) = value {
                *slot =
                    probability_in(self.d, value.value, what, &value.referenced).unwrap_or(*slot);
            }
        }
        config
    }
}

/// `value` if it is a probability; otherwise an error at `at`.
fn probability_in(d: &mut Diagnostics<'_>, value: f64, what: &str, at: &Location) -> Option<f64> {
    // Written so that NaN fails too.
    if (0.0..=1.0).contains(&value) {
        return Some(value);
    }
    d.error(
        ErrorKind::Value,
        at,
        format!("`{what}` {value} is not a probability"),
        "expected a number in [0, 1]",
    );
    None
}

/// `A..B` with `A < B`.
pub(crate) fn parse_seed_range(text: &str) -> Option<std::ops::Range<u64>> {
    let (low, high) = text.trim().split_once("..")?;
    let (low, high): (u64, u64) = (low.trim().parse().ok()?, high.trim().parse().ok()?);
    (low < high).then_some(low..high)
}

/// A scalar as the declared parameter type reads it; `None` if it does not fit.
fn param_value(kind: ParamKind, value: &ScalarFile) -> Option<ParamValue> {
    let value = match (kind, value) {
        (ParamKind::Int { .. }, ScalarFile::Int(v)) => ParamValue::Int(*v),
        (ParamKind::Float, ScalarFile::Int(v)) => ParamValue::Float(*v as f64),
        (ParamKind::Float, ScalarFile::Float(v)) => ParamValue::Float(*v),
        (ParamKind::Bool, ScalarFile::Bool(v)) => ParamValue::Bool(*v),
        (ParamKind::Duration, ScalarFile::Text(text)) => ParamValue::Duration(text.parse().ok()?),
        (ParamKind::Text | ParamKind::Choice(_), ScalarFile::Text(text)) => {
            ParamValue::Text(text.clone())
        }
        // A choice named like a boolean or a number (`mode: off`, `level: 2`) is its text.
        (ParamKind::Choice(_), ScalarFile::Bool(v)) => ParamValue::Text(v.to_string()),
        (ParamKind::Choice(_), ScalarFile::Int(v)) => ParamValue::Text(v.to_string()),
        _ => return None,
    };
    kind.accepts(&value).then_some(value)
}
