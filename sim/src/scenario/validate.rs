//! Validation: a `ScenarioFile` as written becomes a `Scenario` whose names are resolved and
//! values checked, or a list of every problem found, each pointing at its value.
//!
//! Order matters only where one section's values bound another's: limits first (a fault
//! must happen before `vtime_max`), then phases, topology (faults name nodes), network and
//! disk (faults start from them), workload, faults, swarm.

use std::collections::BTreeSet;

use serde_saphyr::{Location, Spanned};

use crate::disk::{DiskConfig, UnsyncedOnCrash};
use crate::fault::{BuggifyConfig, ControlAction};
use crate::net::{Latency, LinkConfig, PartitionShape, WhenFull};
use crate::node::NodeId;
use crate::time::{Duration, Instant};
use crate::topology::{DomainKind, NodeSpec, Topology};
use crate::workload::{ParamKind, ParamMap, ParamValue, Registry};

use super::diagnostics::Diagnostics;
use super::error::ErrorKind;
use super::model::{ActionTemplate, Family, FamilyRule, FaultRule, Scenario, Target, Timing};
use super::plan::{Expect, Limits, Phases};
use super::schema::{
    DiskFile, DomainFile, ExpectFile, FamilyFile, FaultFile, FaultKind, LatencyFile, LinkFile,
    NodeRefFile, RandomSplitFile, ScalarFile, ScenarioFile, TopologyFile, UnsyncedFile,
    WhenFullFile,
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

pub(crate) const FAULT_FIELDS: [FaultFields; 19] = [
    (FaultKind::Crash, "crash", &[&["node", "domain"]], &[]),
    (FaultKind::Restart, "restart", &[&["node", "domain"]], &[]),
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
    (FaultKind::CrashAtDiskOperation, "crash_at_disk_operation", &[&["node"], &["operation"]], &[]),
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
    let mut v = Validator {
        d: diagnostics,
        topology: Topology::new(),
        vtime_max: Instant::from_nanos(VTIME_MAX_DEFAULT.as_nanos()),
        chaos_end: Instant::ZERO,
        schedule_actions: 0,
    };
    let limits = v.limits(file);
    let phases = v.phases(file);
    v.topology = v.topology_of(&file.topology);
    let link_default = match &file.network {
        Some(network) => v.network(network),
        None => LinkConfig::default(),
    };
    let disk = match &file.disk {
        Some(disk) => v.disk(DiskConfig::default(), disk),
        None => DiskConfig::default(),
    };
    let (workload, params, checks) = v.workload(file, registry);
    let faults: Vec<FaultRule> =
        file.faults.iter().filter_map(|fault| v.fault(fault, &link_default, &disk)).collect();
    let swarm = v.swarm(file);
    let seeds = v.seeds(file);
    let buggify = v.buggify(file);
    let max_dead = file.max_dead.as_ref().map(|m| m.value);
    let expect = match file.expect {
        None | Some(ExpectFile::Pass) => Expect::Pass,
        Some(ExpectFile::Fail { within_seeds }) => Expect::Fail { within_seeds },
    };
    if v.d.has_errors() {
        return None;
    }
    Some(Scenario {
        name: file.name.value.clone(),
        description: file.description.clone().unwrap_or_default(),
        topology: v.topology,
        link_default,
        disk,
        workload,
        params,
        faults,
        max_dead,
        swarm,
        phases,
        checks,
        limits,
        seeds,
        buggify,
        expect,
    })
}

struct Validator<'d, 'a> {
    d: &'d mut Diagnostics<'a>,
    topology: Topology,
    vtime_max: Instant,
    chaos_end: Instant,
    /// Actions the explicit schedule expands into so far.
    schedule_actions: u64,
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

    fn phases(&mut self, file: &ScenarioFile) -> Phases {
        let phases = &file.phases.value;
        let mut phase = |text: Option<&Spanned<String>>, what: &str| {
            text.and_then(|text| self.duration(text, what)).unwrap_or(Duration::ZERO)
        };
        let chaos = phase(Some(&phases.chaos), "chaos");
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
            self.error(ErrorKind::Value, &phases.chaos.referenced, message, expected);
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
                    topology.add_node(spec);
                }
            }
        }
        topology
    }

    fn network(&mut self, network: &Spanned<LinkFile>) -> LinkConfig {
        let file = &network.value;
        for (field, at) in [("from", &file.from), ("to", &file.to)] {
            if let Some(at) = at {
                let message = format!("`network` takes no `{field}`");
                let expected = "expected it in an entry of `network.links`";
                self.error(ErrorKind::Conflict, &at.referenced, message, expected);
            }
        }
        let default = self.link(LinkConfig::default(), network);
        for link in file.links.iter().flatten() {
            let config = self.link(default, link);
            let link = &link.value;
            let (Some(from), Some(to)) = (&link.from, &link.to) else {
                let message = "a link override needs `from` and `to`".to_string();
                let at = link.from.as_ref().map_or(network.referenced, |f| f.referenced);
                self.error(ErrorKind::Conflict, &at, message, "expected `{from: n0, to: n1, ...}`");
                continue;
            };
            if let Some(nested) = &link.links {
                let at = nested.first().map_or(network.referenced, |l| l.referenced);
                let message = "link overrides cannot nest `links`".to_string();
                self.error(ErrorKind::Conflict, &at, message, "expected link settings only");
            }
            if let (Some(a), Some(b)) = (self.node(from), self.node(to)) {
                self.topology.set_link(a, b, config);
            }
        }
        default
    }

    /// `base` with the settings of `file` applied.
    fn link(&mut self, base: LinkConfig, file: &Spanned<LinkFile>) -> LinkConfig {
        let link = &file.value;
        let mut config = base;
        if let Some(latency) = &link.latency {
            config.latency = self.latency(latency).unwrap_or(config.latency);
        }
        let rates = [
            (&link.loss_probability, "loss_probability", &mut config.loss_probability),
            (
                &link.duplicate_probability,
                "duplicate_probability",
                &mut config.duplicate_probability,
            ),
            (&link.corrupt_probability, "corrupt_probability", &mut config.corrupt_probability),
        ];
        for (value, what, slot) in rates {
            if let Some(value) = value {
                *slot = probability_in(self.d, value.value, what, &value.referenced).unwrap_or(0.0);
            }
        }
        if let Some(capacity) = &link.capacity_packets {
            if capacity.value == 0 {
                let message = "`capacity_packets` is 0: the link could carry nothing".to_string();
                self.error(ErrorKind::Value, &capacity.referenced, message, "expected at least 1");
            }
            config.capacity_packets = capacity.value;
        }
        if let Some(when_full) = link.when_full {
            config.when_full = match when_full {
                WhenFullFile::DropTail => WhenFull::DropTail,
                WhenFullFile::Reject => WhenFull::Reject,
            };
        }
        config.fifo = link.fifo.unwrap_or(config.fifo);
        config
    }

    fn latency(&mut self, file: &Spanned<LatencyFile>) -> Option<Latency> {
        let at = file.referenced;
        let latency = match &file.value {
            LatencyFile::Fixed { value } => Latency::Fixed(self.duration_in(value, "value", &at)?),
            LatencyFile::Uniform { min, max } => Latency::Uniform {
                min: self.duration_in(min, "min", &at)?,
                max: self.duration_in(max, "max", &at)?,
            },
            LatencyFile::Exponential { min, mean } => Latency::Exponential {
                min: self.duration_in(min, "min", &at)?,
                mean: self.duration_in(mean, "mean", &at)?,
            },
            LatencyFile::LongTail { min, max, slow_probability, slow_min, slow_max } => {
                Latency::LongTail {
                    min: self.duration_in(min, "min", &at)?,
                    max: self.duration_in(max, "max", &at)?,
                    slow_probability: probability_in(
                        self.d,
                        *slow_probability,
                        "slow_probability",
                        &at,
                    )?,
                    slow_min: self.duration_in(slow_min, "slow_min", &at)?,
                    slow_max: self.duration_in(slow_max, "slow_max", &at)?,
                }
            }
        };
        if let Err(problem) = latency.validate() {
            let message = format!("invalid latency: {problem}");
            self.error(ErrorKind::Value, &at, message, "expected min <= max");
            return None;
        }
        Some(latency)
    }

    /// `base` with the settings of `file` applied.
    fn disk(&mut self, base: DiskConfig, file: &Spanned<DiskFile>) -> DiskConfig {
        let disk = &file.value;
        let mut config = base;
        if let Some(sector) = &disk.sector_size_bytes {
            if sector.value == 0 {
                let message = "`sector_size_bytes` is 0".to_string();
                self.error(ErrorKind::Value, &sector.referenced, message, "expected at least 1");
            }
            config.sector_size_bytes = sector.value;
        }
        config.capacity_bytes = disk.capacity_bytes.unwrap_or(config.capacity_bytes);
        config.in_flight_max = disk.in_flight_max.unwrap_or(config.in_flight_max);
        if let Some(mode) = disk.crash_unsynced {
            config.crash_unsynced = match mode {
                UnsyncedFile::Lost => UnsyncedOnCrash::Lost,
                UnsyncedFile::Kept => UnsyncedOnCrash::Kept,
                UnsyncedFile::Torn => UnsyncedOnCrash::Torn,
                UnsyncedFile::Reordered => UnsyncedOnCrash::Reordered,
                UnsyncedFile::Random => UnsyncedOnCrash::Random,
            };
        }
        let rates = [
            (
                &disk.read_error_probability,
                "read_error_probability",
                &mut config.read_error_probability,
            ),
            (
                &disk.write_error_probability,
                "write_error_probability",
                &mut config.write_error_probability,
            ),
            (
                &disk.read_corruption_probability,
                "read_corruption_probability",
                &mut config.read_corruption_probability,
            ),
            (
                &disk.latent_corruption_probability,
                "latent_corruption_probability",
                &mut config.latent_corruption_probability,
            ),
            (
                &disk.misdirected_write_probability,
                "misdirected_write_probability",
                &mut config.misdirected_write_probability,
            ),
            (&disk.slow_probability, "slow_probability", &mut config.slow_probability),
            (
                &disk.crash_probability_per_operation,
                "crash_probability_per_operation",
                &mut config.crash_probability_per_operation,
            ),
        ];
        for (value, what, slot) in rates {
            if let Some(value) = value {
                *slot = probability_in(self.d, value.value, what, &value.referenced).unwrap_or(0.0);
            }
        }
        let durations = [
            (&disk.latency_min, "latency_min", &mut config.latency_min),
            (&disk.latency_max, "latency_max", &mut config.latency_max),
            (&disk.slow_latency, "slow_latency", &mut config.slow_latency),
        ];
        for (text, what, slot) in durations {
            if let Some(text) = text {
                *slot = self.duration(text, what).unwrap_or(*slot);
            }
        }
        if config.latency_min > config.latency_max {
            let at = disk.latency_min.as_ref().map_or(file.referenced, |l| l.referenced);
            let message = format!(
                "disk latency_min ({}) is greater than latency_max ({})",
                config.latency_min, config.latency_max
            );
            self.error(ErrorKind::Value, &at, message, "expected latency_min <= latency_max");
        }
        config
    }

    fn workload(
        &mut self,
        file: &ScenarioFile,
        registry: &Registry,
    ) -> (String, ParamMap, Vec<String>) {
        let spec = &file.workload.value;
        let name = &spec.name;
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
        for check in &file.checks {
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
                    .map_or(file.workload.referenced, |(_, value)| value.referenced);
                let expected = "expected a workload setup this workload can run";
                self.error(ErrorKind::Conflict, &at, problem.message, expected);
            }
        }
        (name.value.clone(), params, checks)
    }

    fn fault(
        &mut self,
        entry: &Spanned<FaultFile>,
        link_default: &LinkConfig,
        disk: &DiskConfig,
    ) -> Option<FaultRule> {
        let fault = &entry.value;
        let timing = self.timing(entry);
        let fields_ok = self.fault_fields(fault);
        let action = if fields_ok { self.action(fault, link_default, disk) } else { None };
        let rule = FaultRule { timing: timing?, action: action? };
        let per_occurrence = match &rule.action {
            ActionTemplate::Action { target: Target::Each(nodes), .. } => nodes.len() as u64,
            _ => 1,
        };
        let occurrences = rule.timing.instants().take(OCCURRENCES_MAX as usize + 1).count();
        let before = self.schedule_actions;
        self.schedule_actions = before.saturating_add(occurrences as u64 * per_occurrence);
        if self.schedule_actions > SCHEDULE_ACTIONS_MAX {
            // Said once, at the rule that crosses the limit.
            if before <= SCHEDULE_ACTIONS_MAX {
                let message = "the fault schedule is too long".to_string();
                let expected = format!("expected at most {SCHEDULE_ACTIONS_MAX} actions in all");
                self.error(ErrorKind::Value, &entry.referenced, message, &expected);
            }
            return None;
        }
        Some(rule)
    }

    /// Checks the entry carries exactly the fields its kind takes.
    fn fault_fields(&mut self, fault: &FaultFile) -> bool {
        let kind = fault.kind.value;
        let Some((_, name, required, optional)) = FAULT_FIELDS.iter().find(|row| row.0 == kind)
        else {
            return false;
        };
        let present = fault.action_fields();
        let mut ok = true;
        for (field, at) in &present {
            let allowed =
                required.iter().any(|group| group.contains(field)) || optional.contains(field);
            if !allowed {
                let mut takes: Vec<&str> =
                    required.iter().flat_map(|g| g.iter().copied()).collect();
                takes.extend(optional.iter().copied());
                let message = format!("a `{name}` fault takes no `{field}`");
                let expected = if takes.is_empty() {
                    "it takes only a timing".to_string()
                } else {
                    format!("its fields are {}", takes.join(", "))
                };
                self.error(ErrorKind::Conflict, at, message, &expected);
                ok = false;
            }
        }
        for group in *required {
            let found: Vec<&(&str, &Location)> =
                present.iter().filter(|(field, _)| group.contains(field)).collect();
            if found.len() != 1 {
                let listed =
                    group.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(" or ");
                let (message, at) = match found.get(1) {
                    Some((_, at)) => (format!("a `{name}` fault takes only one of {listed}"), **at),
                    None => (format!("a `{name}` fault needs {listed}"), fault.kind.referenced),
                };
                self.error(ErrorKind::Conflict, &at, message, "");
                ok = false;
            }
        }
        ok
    }

    fn timing(&mut self, entry: &Spanned<FaultFile>) -> Option<Timing> {
        let fault = &entry.value;
        match (&fault.at, &fault.every) {
            (Some(at), None) => {
                for extra in [&fault.after, &fault.until].into_iter().flatten() {
                    let message = "`after` and `until` go with `every`, not `at`".to_string();
                    self.error(ErrorKind::Conflict, &extra.referenced, message, "");
                }
                Some(Timing::At(self.instant(at, "at")?))
            }
            (None, Some(every)) => {
                let period = self.duration(every, "every");
                let after = match &fault.after {
                    Some(after) => self.instant(after, "after"),
                    None => Some(Instant::ZERO),
                };
                let until = match &fault.until {
                    Some(until) => self.duration(until, "until").and_then(|until| {
                        let until = Instant::from_nanos(until.as_nanos());
                        if until > self.vtime_max {
                            let message =
                                format!("`until` {} is after the run's end", until.since_start());
                            let expected =
                                format!("expected at most limits.vtime_max ({})", self.vtime());
                            self.error(
                                ErrorKind::Value,
                                &fault.until.as_ref()?.referenced,
                                message,
                                &expected,
                            );
                            return None;
                        }
                        Some(until)
                    }),
                    None => Some(self.chaos_end),
                };
                let (period, after, until) = (period?, after?, until?);
                if after >= until {
                    let message = format!(
                        "`after` {} is not before `until` {}: the fault never fires",
                        after.since_start(),
                        until.since_start()
                    );
                    let at = fault.after.as_ref().map_or(every.referenced, |a| a.referenced);
                    self.error(ErrorKind::Conflict, &at, message, "expected after < until");
                    return None;
                }
                let span = until.saturating_since(after).as_nanos();
                if period.is_zero() || span / period.as_nanos().max(1) >= OCCURRENCES_MAX {
                    let message = format!("`every: {period}` fires too often");
                    let expected = format!("expected at most {OCCURRENCES_MAX} occurrences");
                    self.error(ErrorKind::Value, &every.referenced, message, &expected);
                    return None;
                }
                Some(Timing::Every { period, after, until })
            }
            (Some(_), Some(every)) => {
                let message = "a fault has both `at` and `every`".to_string();
                self.error(ErrorKind::Conflict, &every.referenced, message, "expected one of them");
                None
            }
            (None, None) => {
                let message = "a fault needs a time: `at` or `every`".to_string();
                self.error(
                    ErrorKind::Conflict,
                    &entry.referenced,
                    message,
                    "expected e.g. `at: 2s`",
                );
                None
            }
        }
    }

    /// The action of a fault whose fields fit its kind.
    fn action(
        &mut self,
        fault: &FaultFile,
        link_default: &LinkConfig,
        disk: &DiskConfig,
    ) -> Option<ActionTemplate> {
        let placeholder = NodeId(0);
        let fixed = |action| Some(ActionTemplate::Action { action, target: Target::Fixed });
        let on_node = |this: &mut Self, action: ControlAction| -> Option<ActionTemplate> {
            let target = match (&fault.node, &fault.domain) {
                (Some(node), _) => this.target(node)?,
                (None, Some(domain)) => this.domain(domain)?,
                (None, None) => Target::Fixed,
            };
            Some(template(action, target))
        };
        match fault.kind.value {
            FaultKind::Crash => on_node(self, ControlAction::Crash(placeholder)),
            FaultKind::Restart => on_node(self, ControlAction::Restart(placeholder)),
            FaultKind::Recover => on_node(self, ControlAction::Recover(placeholder)),
            FaultKind::Pause => on_node(self, ControlAction::Pause(placeholder)),
            FaultKind::Resume => on_node(self, ControlAction::Resume(placeholder)),
            FaultKind::SetClock => {
                let offset = fault.offset.as_ref()?;
                let offset_nanos = self.signed_duration(offset, "offset");
                let drift_ppm = fault.drift_ppm.as_ref().map_or(0, |d| d.value);
                let action = ControlAction::SetClock {
                    node: placeholder,
                    offset_nanos: offset_nanos?,
                    drift_ppm,
                };
                on_node(self, action)
            }
            FaultKind::SetNodeUp => {
                let up = fault.up.as_ref()?.value;
                on_node(self, ControlAction::SetNodeUp { node: placeholder, up })
            }
            FaultKind::Partition => self.partition(fault),
            FaultKind::Heal => fixed(ControlAction::Heal),
            FaultKind::Unclog => fixed(ControlAction::Unclog),
            FaultKind::Clog => {
                let duration = self.duration(fault.duration.as_ref()?, "duration");
                match (&fault.from, &fault.to) {
                    (Some(from), Some(to)) => {
                        let (from, to) = (self.node(from), self.node(to));
                        fixed(ControlAction::ClogLink { from: from?, to: to?, duration: duration? })
                    }
                    (Some(from), None) => {
                        let message = "a clog `from` a node needs `to`".to_string();
                        self.error(
                            ErrorKind::Conflict,
                            &from.referenced,
                            message,
                            "expected `to: <node>`",
                        );
                        None
                    }
                    (None, Some(to)) => {
                        let message =
                            "`to` goes with `from`; a node clog takes only `node`".to_string();
                        self.error(ErrorKind::Conflict, &to.referenced, message, "");
                        None
                    }
                    (None, None) => on_node(
                        self,
                        ControlAction::ClogNode { node: placeholder, duration: duration? },
                    ),
                }
            }
            FaultKind::SetLoss | FaultKind::SetDuplicate | FaultKind::SetCorrupt => {
                let probability = fault.probability.as_ref()?;
                let p = self.probability(probability, "probability")?;
                fixed(match fault.kind.value {
                    FaultKind::SetLoss => ControlAction::SetLoss(p),
                    FaultKind::SetDuplicate => ControlAction::SetDuplicate(p),
                    _ => ControlAction::SetCorrupt(p),
                })
            }
            FaultKind::SetDefaultLink => {
                let link = fault.link.as_ref()?;
                self.link_fields_only(link);
                fixed(ControlAction::SetDefaultLink(self.link(*link_default, link)))
            }
            FaultKind::SetLink => {
                let link = fault.link.as_ref()?;
                self.link_fields_only(link);
                let (from, to) = (fault.from.as_ref()?, fault.to.as_ref()?);
                let (from, to) = (self.node(from), self.node(to));
                let base = match (from, to) {
                    (Some(a), Some(b)) => {
                        self.topology.link(a, b).copied().unwrap_or(*link_default)
                    }
                    _ => *link_default,
                };
                let config = self.link(base, link);
                fixed(ControlAction::SetLink { from: from?, to: to?, config })
            }
            FaultKind::SetCapacity => {
                let capacity = fault.capacity_packets.as_ref()?;
                if capacity.value == 0 {
                    let message = "`capacity_packets` is 0: links could carry nothing".to_string();
                    self.error(
                        ErrorKind::Value,
                        &capacity.referenced,
                        message,
                        "expected at least 1",
                    );
                    return None;
                }
                fixed(ControlAction::SetCapacity(capacity.value))
            }
            FaultKind::SetDisk => {
                let config = self.disk(*disk, fault.disk.as_ref()?);
                match &fault.node {
                    Some(_) => {
                        on_node(self, ControlAction::SetDisk { node: Some(placeholder), config })
                    }
                    None => fixed(ControlAction::SetDisk { node: None, config }),
                }
            }
            FaultKind::CrashAtDiskOperation => {
                let operation = fault.operation.as_ref()?;
                if operation.value == 0 {
                    let message = "`operation` counts from 1".to_string();
                    self.error(
                        ErrorKind::Value,
                        &operation.referenced,
                        message,
                        "expected at least 1",
                    );
                    return None;
                }
                on_node(
                    self,
                    ControlAction::CrashAtDiskOperation {
                        node: placeholder,
                        operation: operation.value,
                    },
                )
            }
        }
    }

    /// A link setting inside a fault carries no `from`, `to` or `links` of its own.
    fn link_fields_only(&mut self, link: &Spanned<LinkFile>) {
        let file = &link.value;
        let stray = [
            ("from", file.from.as_ref().map(|f| f.referenced)),
            ("to", file.to.as_ref().map(|f| f.referenced)),
            ("links", file.links.as_ref().map(|_| link.referenced)),
        ];
        for (field, at) in stray {
            if let Some(at) = at {
                let message = format!("`link` takes no `{field}`");
                self.error(ErrorKind::Conflict, &at, message, "expected link settings only");
            }
        }
    }

    fn target(&mut self, node: &Spanned<NodeRefFile>) -> Option<Target> {
        match &node.value {
            NodeRefFile::Named(name) => {
                let id = self.node(&Spanned::new(name.clone(), node.referenced, node.defined))?;
                Some(Target::Each(vec![id]))
            }
            NodeRefFile::Random => Some(Target::Random(self.topology.nodes().collect())),
            NodeRefFile::RandomWithRole(role) => {
                let nodes =
                    self.role(&Spanned::new(role.clone(), node.referenced, node.defined))?;
                Some(Target::Random(nodes))
            }
        }
    }

    /// The nodes with this role; an error at the role if there are none.
    fn role(&mut self, role: &Spanned<String>) -> Option<Vec<NodeId>> {
        let nodes = self.topology.nodes_with_role(&role.value);
        if nodes.is_empty() {
            let message = format!("no node has role `{}`", role.value);
            let mut roles: Vec<String> = self
                .topology
                .nodes()
                .filter_map(|n| self.topology.node(n).map(|s| s.role.clone()))
                .filter(|r| !r.is_empty())
                .collect();
            roles.sort();
            roles.dedup();
            let expected = format!("expected one of the roles: {}", roles.join(", "));
            self.error(ErrorKind::Reference, &role.referenced, message, &expected);
            return None;
        }
        Some(nodes)
    }

    fn domain(&mut self, domain: &Spanned<DomainFile>) -> Option<Target> {
        let file = &domain.value;
        let given: Vec<(DomainKind, &String)> = [
            (DomainKind::Machine, &file.machine),
            (DomainKind::Rack, &file.rack),
            (DomainKind::Zone, &file.zone),
        ]
        .into_iter()
        .filter_map(|(kind, value)| Some((kind, value.as_ref()?)))
        .collect();
        let [(kind, value)] = given.as_slice() else {
            let message = "a domain names exactly one of `machine`, `rack` or `zone`".to_string();
            self.error(
                ErrorKind::Conflict,
                &domain.referenced,
                message,
                "expected e.g. `{zone: b}`",
            );
            return None;
        };
        let nodes = self.topology.nodes_in(*kind, value);
        if nodes.is_empty() {
            let message = format!("unknown {} `{value}`", kind.name());
            let known = self.topology.domains(*kind);
            let expected = if known.is_empty() {
                format!("no node has a {}", kind.name())
            } else {
                format!("expected one of {}", known.join(", "))
            };
            self.error(ErrorKind::Reference, &domain.referenced, message, &expected);
            return None;
        }
        Some(Target::Each(nodes))
    }

    fn signed_duration(&mut self, text: &Spanned<String>, what: &str) -> Option<i64> {
        let (negative, magnitude) = match text.value.trim().strip_prefix('-') {
            Some(rest) => (true, rest.to_string()),
            None => (false, text.value.clone()),
        };
        let duration =
            self.duration(&Spanned::new(magnitude, text.referenced, text.defined), what)?;
        let Ok(nanos) = i64::try_from(duration.as_nanos()) else {
            let message = format!("`{what}` {duration} is too large");
            self.error(ErrorKind::Value, &text.referenced, message, "expected at most 292 years");
            return None;
        };
        Some(if negative { -nanos } else { nanos })
    }

    fn partition(&mut self, fault: &FaultFile) -> Option<ActionTemplate> {
        let duration = match &fault.duration {
            Some(text) => Some(self.duration(text, "duration")?),
            None => None,
        };
        let shape = |shape| ActionTemplate::Action {
            action: ControlAction::Partition { shape, duration },
            target: Target::Fixed,
        };
        if let Some(groups) = &fault.groups {
            let mut seen = BTreeSet::new();
            let mut list = Vec::new();
            for group in &groups.value {
                let mut members = Vec::new();
                for name in group {
                    let Some(node) = self.node(name) else { continue };
                    if !seen.insert(node) {
                        let message =
                            format!("node `{}` is in more than one partition group", name.value);
                        self.error(
                            ErrorKind::Conflict,
                            &name.referenced,
                            message,
                            "expected groups that do not overlap",
                        );
                    }
                    members.push(node);
                }
                list.push(members);
            }
            if list.len() > 64 {
                let message = format!("{} partition groups", list.len());
                self.error(ErrorKind::Value, &groups.referenced, message, "expected at most 64");
            }
            return Some(shape(PartitionShape::Groups(list)));
        }
        if let Some(isolate) = &fault.isolate {
            let target = self.target(isolate)?;
            let action =
                ControlAction::Partition { shape: PartitionShape::Isolate(NodeId(0)), duration };
            return Some(template(action, target));
        }
        if let Some(one_way) = &fault.one_way {
            let (from, to) = (self.nodes(&one_way.value.from), self.nodes(&one_way.value.to));
            return Some(shape(PartitionShape::OneWay { from: from?, to: to? }));
        }
        if let Some(ring) = &fault.ring {
            let order = match &ring.value.order {
                Some(order) => self.nodes(order)?,
                None => self.topology.nodes().collect(),
            };
            if order.len() > 64 {
                let message = format!("a ring of {} nodes", order.len());
                self.error(ErrorKind::Value, &ring.referenced, message, "expected at most 64");
                return None;
            }
            let reach = ring.value.reach as usize;
            return Some(shape(PartitionShape::Ring { order, reach }));
        }
        if let Some(bridge) = &fault.bridge {
            let file = &bridge.value;
            let (left, middle, right) =
                (self.nodes(&file.left), self.node(&file.bridge), self.nodes(&file.right));
            return Some(shape(PartitionShape::Bridge {
                left: left?,
                bridge: middle?,
                right: right?,
            }));
        }
        let random = fault.random.as_ref()?;
        if self.topology.len() < 2 {
            let message = "a random partition needs at least two nodes".to_string();
            self.error(ErrorKind::Value, &random.referenced, message, "");
            return None;
        }
        let majority_minority = random.value == RandomSplitFile::MajorityMinority;
        Some(ActionTemplate::RandomSplit { majority_minority, duration })
    }

    fn swarm(&mut self, file: &ScenarioFile) -> Vec<FamilyRule> {
        let Some(swarm) = &file.swarm else { return Vec::new() };
        let families = [
            (Family::Partition, &swarm.partition),
            (Family::Clog, &swarm.clog),
            (Family::Crash, &swarm.crash),
            (Family::Pause, &swarm.pause),
            (Family::Loss, &swarm.loss),
            (Family::Duplicate, &swarm.duplicate),
            (Family::Corrupt, &swarm.corrupt),
            (Family::ClockSkew, &swarm.clock_skew),
            (Family::DiskErrors, &swarm.disk_errors),
        ];
        families
            .into_iter()
            .filter_map(|(family, spec)| self.family(family, spec.as_ref()?))
            .collect()
    }

    fn family(&mut self, family: Family, spec: &Spanned<FamilyFile>) -> Option<FamilyRule> {
        let file = &spec.value;
        let name = family.name();
        let (_, required, optional) = FAMILY_FIELDS.iter().find(|row| row.0 == family)?;
        let present = file.fields();
        for (field, at) in &present {
            if !required.contains(field) && !optional.contains(field) {
                let mut takes: Vec<&str> = vec!["probability"];
                takes.extend(required.iter().chain(optional.iter()));
                let message = format!("swarm family `{name}` takes no `{field}`");
                let expected = format!("its fields are {}", takes.join(", "));
                self.error(ErrorKind::Conflict, at, message, &expected);
            }
        }
        for field in *required {
            if !present.iter().any(|(f, _)| f == field) {
                let message = format!("swarm family `{name}` needs `{field}`");
                self.error(
                    ErrorKind::Conflict,
                    &spec.referenced,
                    message,
                    "expected `[low, high]`",
                );
            }
        }
        let probability = self.probability(&file.probability, "probability");
        let interval = file.interval.as_ref().and_then(|r| self.duration_range(r, "interval"));
        let duration = file.duration.as_ref().and_then(|r| self.duration_range(r, "duration"));
        let rate = file.rate.as_ref().and_then(|r| {
            let (low, high) = self.pair(r, "rate")?;
            let low = self.probability(low, "rate")?;
            let high = self.probability(high, "rate")?;
            self.ordered(low, high, r, "rate")
        });
        let offset = file.offset.as_ref().and_then(|r| {
            let (low, high) = self.pair(r, "offset")?;
            let low = self.signed_duration(low, "offset")?;
            let high = self.signed_duration(high, "offset")?;
            self.ordered(low, high, r, "offset")
        });
        let drift_ppm = file.drift_ppm.as_ref().and_then(|r| {
            let (low, high) = self.pair(r, "drift_ppm")?;
            self.ordered(low.value, high.value, r, "drift_ppm")
        });
        if let (Some((low, _)), Some(spanned)) = (interval, &file.interval) {
            if low.is_zero()
                || self.phases_chaos().as_nanos() / low.as_nanos().max(1) >= OCCURRENCES_MAX
            {
                let message = format!("swarm `{name}` interval starting at {low} fires too often");
                let expected =
                    format!("expected at most {OCCURRENCES_MAX} events in the chaos phase");
                self.error(ErrorKind::Value, &spanned.referenced, message, &expected);
            }
        }
        let nodes = match &file.role {
            Some(role) => Some(self.role(role)?),
            None => None,
        };
        let rule = FamilyRule {
            family,
            probability: probability?,
            interval,
            duration,
            rate,
            offset,
            drift_ppm,
            nodes,
        };
        let complete = required.iter().all(|field| match *field {
            "interval" => rule.interval.is_some(),
            "duration" => rule.duration.is_some(),
            "rate" => rule.rate.is_some(),
            "offset" => rule.offset.is_some(),
            _ => true,
        });
        complete.then_some(rule)
    }

    fn phases_chaos(&self) -> Duration {
        self.chaos_end.since_start()
    }

    fn pair<'v, T>(
        &mut self,
        range: &'v Spanned<Vec<Spanned<T>>>,
        what: &str,
    ) -> Option<(&'v Spanned<T>, &'v Spanned<T>)> {
        match range.value.as_slice() {
            [low, high] => Some((low, high)),
            other => {
                let message = format!("`{what}` has {} values", other.len());
                self.error(ErrorKind::Value, &range.referenced, message, "expected `[low, high]`");
                None
            }
        }
    }

    fn ordered<T: PartialOrd + std::fmt::Debug, R>(
        &mut self,
        low: T,
        high: T,
        range: &Spanned<R>,
        what: &str,
    ) -> Option<(T, T)> {
        if low > high {
            let message = format!("`{what}` range [{low:?}, {high:?}] is inverted");
            self.error(ErrorKind::Value, &range.referenced, message, "expected low <= high");
            return None;
        }
        Some((low, high))
    }

    fn duration_range(
        &mut self,
        range: &Spanned<Vec<Spanned<String>>>,
        what: &str,
    ) -> Option<(Duration, Duration)> {
        let (low, high) = self.pair(range, what)?;
        let (low, high) = (self.duration(low, what), self.duration(high, what));
        self.ordered(low?, high?, range, what)
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

/// A node-targeted action, made concrete when its target is a single named node.
fn template(action: ControlAction, target: Target) -> ActionTemplate {
    match target {
        Target::Each(nodes) if nodes.len() == 1 => {
            ActionTemplate::Action { action: retarget(&action, nodes[0]), target: Target::Fixed }
        }
        target => ActionTemplate::Action { action, target },
    }
}

/// `action` aimed at `node` instead of the node it names.
pub(crate) fn retarget(action: &ControlAction, node: NodeId) -> ControlAction {
    let mut action = action.clone();
    match &mut action {
        ControlAction::Crash(n)
        | ControlAction::Restart(n)
        | ControlAction::Recover(n)
        | ControlAction::Pause(n)
        | ControlAction::Resume(n)
        | ControlAction::SetClock { node: n, .. }
        | ControlAction::SetNodeUp { node: n, .. }
        | ControlAction::ClogNode { node: n, .. }
        | ControlAction::CrashAtDiskOperation { node: n, .. }
        | ControlAction::Partition { shape: PartitionShape::Isolate(n), .. } => *n = node,
        ControlAction::SetDisk { node: n, .. } => *n = Some(node),
        _ => {}
    }
    action
}
