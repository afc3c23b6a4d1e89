//! The simulated backend: one world of a scenario and seed, paused at time 0 until the client
//! drives it. Every operation is a `Driven` entry of the run's journal (`journal`), so a
//! snapshot is the journal so far and loading one replays it on a freshly built world: exact
//! by construction, and checked (the replayed fingerprint must equal the saved one).
//!
//! Long operations run in slices (`STEP_SLICE_EVENTS` events, `RUN_SLICE` of virtual time)
//! and ask their `Progress` between slices whether they were cancelled.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::fault::ControlAction;
use crate::id::NodeId;
use crate::net::{Latency, LinkConfig, PartitionShape};
use crate::node::NodeStatus;
use crate::scenario::RunPlan;
use crate::time::{Duration, Instant};
use crate::workload::{CheckKind, CheckResult, Registry};
use crate::world::Outcome;

use super::backend::{Backend, Fault, NodeAction, OpResult, Progress};
use super::journal::{Driven, DrivenRun, RunState};
use super::reply::{
    ErrorCode, ErrorReply, HealthReply, NodeState, PingReply, SnapshotInfo, StatusReply, StopReply,
    StreamEnd, Verdict,
};
use super::request::ALL_NODES;

/// Events per slice of a `step` (a cancel takes effect within one slice).
pub const STEP_SLICE_EVENTS: u64 = 4096;
/// Virtual time per slice of a run to a time, a check or health.
pub const RUN_SLICE: Duration = Duration::from_millis(1);
/// The longest snapshot name.
const SNAPSHOT_NAME_BYTES_MAX: usize = 256;

/// A saved state: the journal that reproduces it, and what it must reproduce.
#[derive(Debug, Clone)]
struct Snapshot {
    journal: Vec<Driven>,
    info: SnapshotInfo,
}

/// A world of a scenario and seed behind the protocol.
pub struct SimulatedBackend {
    registry: Arc<Registry>,
    plan: RunPlan,
    /// The plan's checks with their kinds, in the plan's order.
    checks: Vec<(String, CheckKind)>,
    run: DrivenRun,
    snapshots: BTreeMap<String, Snapshot>,
}

fn error(code: ErrorCode, message: impl Into<String>) -> ErrorReply {
    ErrorReply::new(code, message)
}

impl SimulatedBackend {
    /// Builds the world of `plan` (a scenario sampled for one seed), at time 0.
    pub fn new(plan: RunPlan, registry: Arc<Registry>) -> Result<SimulatedBackend, String> {
        let workload = registry
            .get(&plan.workload)
            .ok_or_else(|| format!("unknown workload `{}`", plan.workload))?;
        let kinds = workload.checks();
        let checks = plan
            .checks
            .iter()
            .filter_map(|name| {
                kinds.iter().find(|c| c.name == name.as_str()).map(|c| (name.clone(), c.kind))
            })
            .collect();
        let run = DrivenRun::build(&plan, &registry)?;
        Ok(SimulatedBackend { registry, plan, checks, run, snapshots: BTreeMap::new() })
    }

    /// The run's fingerprint so far.
    pub fn fingerprint(&self) -> u64 {
        self.run.sim.fingerprint()
    }

    fn drive(&mut self, driven: Driven) -> Outcome {
        self.run.drive(&self.plan, driven)
    }

    fn n_nodes(&self) -> usize {
        self.run.sim.n_nodes()
    }

    fn node_id(&self, node: u32) -> OpResult<NodeId> {
        match (node as usize) < self.n_nodes() {
            true => Ok(NodeId(node)),
            false => Err(error(
                ErrorCode::NotFound,
                format!("no node {node}: the world has nodes 0 to {}", self.n_nodes() - 1),
            )),
        }
    }

    fn node_status_text(&self, node: u32) -> &'static str {
        if self.run.removed.contains(&node) {
            return "removed";
        }
        match self.run.sim.node_status(NodeId(node)) {
            Some(NodeStatus::Up) => "up",
            Some(NodeStatus::Paused) => "paused",
            Some(NodeStatus::Down) => "down",
            None => "unknown",
        }
    }

    fn nodes(&self) -> Vec<NodeState> {
        (0..self.n_nodes() as u32)
            .map(|id| NodeState {
                id,
                name: self
                    .plan
                    .topology
                    .node(NodeId(id))
                    .map_or_else(|| format!("n{id}"), |spec| spec.name.clone()),
                status: self.node_status_text(id).to_string(),
            })
            .collect()
    }

    fn verdict(&mut self, check: &str, kind: CheckKind) -> Verdict {
        let (verdict, message) = match self.run.sim.check(check) {
            CheckResult::Pass => ("pass", String::new()),
            CheckResult::Fail(message) => ("fail", message),
            CheckResult::Unknown(message) => ("unknown", message),
        };
        Verdict {
            check: check.to_string(),
            kind: kind.name().to_string(),
            verdict: verdict.to_string(),
            message,
        }
    }

    /// Refuses operations that advance the run unless it is running.
    fn require_running(&self) -> OpResult<()> {
        match self.run.state {
            RunState::Running => Ok(()),
            RunState::Created => {
                Err(error(ErrorCode::InvalidState, "the run is not started: send start first"))
            }
            RunState::Halted => Err(error(
                ErrorCode::InvalidState,
                format!("the run halted ({}); load a snapshot to go on", self.run.outcome),
            )),
            RunState::Stopped => Err(error(ErrorCode::InvalidState, "the run is stopped")),
        }
    }

    /// Refuses operations that change the world once the run has ended.
    fn require_not_ended(&self) -> OpResult<()> {
        match self.run.state {
            RunState::Created | RunState::Running => Ok(()),
            _ => self.require_running(),
        }
    }

    fn cancelled(&self) -> ErrorReply {
        let now = self.run.sim.now();
        let events = self.run.sim.events_processed();
        error(ErrorCode::Cancelled, format!("cancelled at {now} after {events} events"))
    }

    /// Runs to `until` in slices; `Ok(outcome)` of the last slice, or the cancel.
    fn run_sliced(&mut self, until: Instant, progress: &mut dyn Progress) -> OpResult<Outcome> {
        loop {
            if self.run.sim.now() >= until {
                return Ok(Outcome::TimeReached);
            }
            if progress.cancelled() {
                self.run.outcome = "cancelled".to_string();
                return Err(self.cancelled());
            }
            let slice_end = self.run.sim.now().saturating_add(RUN_SLICE).min(until);
            let outcome = self.drive(Driven::RunUntil(slice_end));
            if outcome != Outcome::TimeReached || !self.run.is_running() {
                return Ok(outcome);
            }
        }
    }

    /// Steps `events` in slices; the outcome of the last slice, or the cancel.
    fn step_sliced(&mut self, events: u64, progress: &mut dyn Progress) -> OpResult<Outcome> {
        let mut left = events;
        let mut outcome = Outcome::Stepped;
        while left > 0 {
            if progress.cancelled() {
                self.run.outcome = "cancelled".to_string();
                return Err(self.cancelled());
            }
            let slice = left.min(STEP_SLICE_EVENTS);
            let before = self.run.sim.events_processed();
            outcome = self.drive(Driven::Steps(slice));
            left -= slice;
            if outcome != Outcome::Stepped || self.run.sim.events_processed() == before {
                break;
            }
        }
        Ok(outcome)
    }

    fn check_kind(&self, check: &str) -> OpResult<CheckKind> {
        self.checks.iter().find(|(name, _)| name == check).map(|(_, kind)| *kind).ok_or_else(|| {
            let names: Vec<&str> = self.checks.iter().map(|(name, _)| name.as_str()).collect();
            error(
                ErrorCode::NotFound,
                format!("no check `{check}` in this run (its checks: {})", names.join(", ")),
            )
        })
    }

    fn apply(&mut self, action: ControlAction) -> StatusReply {
        self.drive(Driven::Apply(action));
        self.status()
    }
}

impl Backend for SimulatedBackend {
    fn kind(&self) -> &'static str {
        "simulated"
    }

    fn ping(&mut self) -> PingReply {
        PingReply {
            pid: std::process::id(),
            world_id: format!("{}@{}", self.plan.scenario, self.plan.seed),
            seed: self.plan.seed,
            time_nanos: self.run.sim.now().as_nanos(),
        }
    }

    fn start(&mut self) -> OpResult<StatusReply> {
        if self.run.state != RunState::Created {
            let state = self.run.state.name();
            return Err(error(ErrorCode::InvalidState, format!("the run is already {state}")));
        }
        self.drive(Driven::Start);
        Ok(self.status())
    }

    fn stop(&mut self) -> OpResult<StopReply> {
        if self.run.state == RunState::Stopped {
            return Err(error(ErrorCode::InvalidState, "the run is already stopped"));
        }
        let checks = self.checks.clone();
        let verdicts = checks.iter().map(|(name, kind)| self.verdict(name, *kind)).collect();
        self.drive(Driven::Stop);
        Ok(StopReply { status: self.status(), verdicts })
    }

    fn health(&mut self) -> HealthReply {
        let nodes = self.nodes();
        let liveness: Vec<(String, CheckKind)> =
            self.checks.iter().filter(|(_, kind)| *kind == CheckKind::Liveness).cloned().collect();
        let failing: Vec<Verdict> = liveness
            .iter()
            .map(|(name, kind)| self.verdict(name, *kind))
            .filter(|verdict| verdict.verdict != "pass")
            .collect();
        let nodes_up = nodes.iter().all(|node| node.status == "up" || node.status == "removed");
        HealthReply {
            healthy: self.run.is_running() && nodes_up && failing.is_empty(),
            time_nanos: self.run.sim.now().as_nanos(),
            nodes,
            failing,
        }
    }

    fn wait_healthy(
        &mut self,
        budget_nanos: u64,
        progress: &mut dyn Progress,
    ) -> OpResult<HealthReply> {
        self.require_running()?;
        let deadline = self.run.sim.now().saturating_add(Duration::from_nanos(budget_nanos));
        loop {
            let health = self.health();
            if health.healthy || self.run.sim.now() >= deadline || !self.run.is_running() {
                return Ok(health);
            }
            let slice_end = self.run.sim.now().saturating_add(RUN_SLICE).min(deadline);
            self.run_sliced(slice_end, progress)?;
        }
    }

    fn status(&mut self) -> StatusReply {
        let net = self.run.sim.net_stats().total;
        let counters = [
            ("messages_corrupted", net.corrupted),
            ("messages_delivered", net.delivered),
            ("messages_dropped", net.dropped_total()),
            ("messages_duplicated", net.duplicated),
            ("messages_held", net.held),
            ("messages_sent", net.sent),
            ("snapshots", self.snapshots.len() as u64),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        StatusReply {
            state: self.run.state.name().to_string(),
            time_nanos: self.run.sim.now().as_nanos(),
            events: self.run.sim.events_processed(),
            fingerprint: self.run.sim.fingerprint(),
            outcome: self.run.outcome.clone(),
            nodes: self.nodes(),
            counters,
        }
    }

    fn status_stream(
        &mut self,
        every_events: u64,
        every_nanos: u64,
        items_max: u64,
        progress: &mut dyn Progress,
    ) -> OpResult<StreamEnd> {
        if every_events > 0 && every_nanos > 0 {
            return Err(error(ErrorCode::BadRequest, "give every_events or every_nanos, not both"));
        }
        self.require_running()?;
        let mut items = 0;
        let end = |reason: &str, items| StreamEnd { reason: reason.to_string(), items };
        loop {
            if items_max > 0 && items >= items_max {
                return Ok(end("items_max", items));
            }
            let result = match every_events > 0 {
                true => self.step_sliced(every_events, progress),
                false => {
                    let until =
                        self.run.sim.now().saturating_add(Duration::from_nanos(every_nanos));
                    self.run_sliced(until, progress)
                }
            };
            let outcome = match result {
                Ok(outcome) => outcome,
                Err(_) => return Ok(end("cancelled", items)),
            };
            if !progress.item(self.status()) {
                return Ok(end("closed", items));
            }
            items += 1;
            if !self.run.is_running() {
                return Ok(end("halted", items));
            }
            if outcome == Outcome::Quiescent {
                return Ok(end("quiescent", items));
            }
        }
    }

    fn node(&mut self, action: NodeAction, node: u32) -> OpResult<StatusReply> {
        self.require_not_ended()?;
        let id = self.node_id(node)?;
        let status = self.node_status_text(node);
        let refuse = |why: String| Err(error(ErrorCode::InvalidState, why));
        match action {
            NodeAction::Pause if status != "up" => return refuse(format!("{id} is {status}")),
            NodeAction::Resume if status != "paused" => {
                return refuse(format!("{id} is {status}, not paused"))
            }
            NodeAction::Restart | NodeAction::Remove if status == "removed" => {
                return refuse(format!("{id} is removed: add-node brings it back"))
            }
            NodeAction::Add if status != "removed" => {
                return refuse(format!(
                    "{id} is already in the cluster; the simulated topology is fixed at {} \
                     nodes, so add-node only brings back a removed node",
                    self.n_nodes()
                ))
            }
            _ => {}
        }
        match action {
            NodeAction::Pause => self.drive(Driven::Apply(ControlAction::Pause(id))),
            NodeAction::Resume => self.drive(Driven::Apply(ControlAction::Resume(id))),
            NodeAction::Restart => self.drive(Driven::Apply(ControlAction::Restart(id))),
            NodeAction::Remove => self.drive(Driven::Remove(node)),
            NodeAction::Add => self.drive(Driven::Add(node)),
        };
        let expected = match action {
            NodeAction::Pause => "paused",
            NodeAction::Remove => "removed",
            _ => "up",
        };
        let now = self.node_status_text(node);
        if now != expected {
            return refuse(format!(
                "{id} is {now} after the operation (the scenario's max_dead budget skips \
                 crashes and pauses beyond it)"
            ));
        }
        Ok(self.status())
    }

    fn step(&mut self, events: u64, progress: &mut dyn Progress) -> OpResult<StatusReply> {
        self.require_running()?;
        self.step_sliced(events, progress)?;
        Ok(self.status())
    }

    fn run_until(
        &mut self,
        time_nanos: u64,
        check: Option<&str>,
        progress: &mut dyn Progress,
    ) -> OpResult<StatusReply> {
        self.require_running()?;
        let until = Instant::from_nanos(time_nanos);
        if until < self.run.sim.now() {
            let now = self.run.sim.now();
            return Err(error(ErrorCode::BadRequest, format!("{until} is before now ({now})")));
        }
        let Some(check) = check else {
            self.run_sliced(until, progress)?;
            return Ok(self.status());
        };
        self.check_kind(check)?;
        loop {
            if progress.cancelled() {
                self.run.outcome = "cancelled".to_string();
                return Err(self.cancelled());
            }
            let slice_end = self.run.sim.now().saturating_add(RUN_SLICE).min(until);
            let outcome = self.drive(Driven::RunUntilCheck(check.to_string(), slice_end));
            let done = outcome != Outcome::TimeReached || self.run.sim.now() >= until;
            if done || !self.run.is_running() {
                return Ok(self.status());
            }
        }
    }

    fn fault(&mut self, fault: Fault) -> OpResult<StatusReply> {
        self.require_not_ended()?;
        let bad = |message: String| Err(error(ErrorCode::BadRequest, message));
        match fault {
            Fault::Partition { groups, duration_nanos } => {
                let mut shape = Vec::with_capacity(groups.len());
                for group in &groups {
                    let mut members = Vec::with_capacity(group.len());
                    for node in group {
                        members.push(self.node_id(*node)?);
                    }
                    shape.push(members);
                }
                let shape = PartitionShape::Groups(shape);
                if let Err(why) = shape.reachability(self.n_nodes()) {
                    return bad(why);
                }
                let duration = (duration_nanos > 0).then(|| Duration::from_nanos(duration_nanos));
                Ok(self.apply(ControlAction::Partition { shape, duration }))
            }
            Fault::Heal => Ok(self.apply(ControlAction::Heal)),
            Fault::SetLink { from, to, latency_nanos, loss_probability } => {
                let (from, to) = (self.node_id(from)?, self.node_id(to)?);
                let base = self
                    .plan
                    .topology
                    .links()
                    .find(|(a, b, _)| (*a, *b) == (from, to))
                    .map_or(self.plan.link_default, |(_, _, config)| *config);
                let config = LinkConfig {
                    latency: Latency::Fixed(Duration::from_nanos(latency_nanos)),
                    loss_probability,
                    ..base
                };
                Ok(self.apply(ControlAction::SetLink { from, to, config }))
            }
            Fault::ClockJump { node, offset_nanos, drift_ppm } => {
                let node = self.node_id(node)?;
                Ok(self.apply(ControlAction::SetClock { node, offset_nanos, drift_ppm }))
            }
            Fault::DiskFault {
                node,
                read_error_probability,
                write_error_probability,
                read_corruption_probability,
                crash_at_operation,
            } => {
                let node = match node {
                    ALL_NODES if crash_at_operation > 0 => {
                        return bad("a crash point names one node, not all".to_string())
                    }
                    ALL_NODES => None,
                    node => Some(self.node_id(node)?),
                };
                let mut config = self.plan.disk;
                config.read_error_probability = read_error_probability;
                config.write_error_probability = write_error_probability;
                config.read_corruption_probability = read_corruption_probability;
                self.drive(Driven::Apply(ControlAction::SetDisk { node, config }));
                if let (Some(node), true) = (node, crash_at_operation > 0) {
                    let operation = crash_at_operation;
                    let action = ControlAction::CrashAtDiskOperation {
                        node,
                        operation,
                        restart_after: None,
                    };
                    self.drive(Driven::Apply(action));
                }
                Ok(self.status())
            }
        }
    }

    fn snapshot_save(&mut self, name: &str) -> OpResult<SnapshotInfo> {
        if name.is_empty() || name.len() > SNAPSHOT_NAME_BYTES_MAX {
            return Err(error(
                ErrorCode::BadRequest,
                format!("a snapshot name is 1 to {SNAPSHOT_NAME_BYTES_MAX} bytes"),
            ));
        }
        if self.snapshots.contains_key(name) {
            return Err(error(
                ErrorCode::InvalidState,
                format!("a snapshot `{name}` exists: remove it first (nothing is overwritten)"),
            ));
        }
        let info = SnapshotInfo {
            name: name.to_string(),
            events: self.run.sim.events_processed(),
            time_nanos: self.run.sim.now().as_nanos(),
            fingerprint: self.run.sim.fingerprint(),
            operations: self.run.journal.len() as u64,
        };
        let snapshot = Snapshot { journal: self.run.journal.clone(), info: info.clone() };
        self.snapshots.insert(name.to_string(), snapshot);
        Ok(info)
    }

    fn snapshot_load(&mut self, name: &str) -> OpResult<StatusReply> {
        let Some(snapshot) = self.snapshots.get(name) else {
            return Err(error(ErrorCode::NotFound, format!("no snapshot `{name}`")));
        };
        let run = DrivenRun::replay(&self.plan, &self.registry, &snapshot.journal)
            .map_err(|why| error(ErrorCode::Failed, why))?;
        let info = &snapshot.info;
        let (events, fingerprint) = (run.sim.events_processed(), run.sim.fingerprint());
        if (events, fingerprint) != (info.events, info.fingerprint) {
            return Err(error(
                ErrorCode::Failed,
                format!(
                    "replaying snapshot `{name}` diverged (events {events} vs {}, fingerprint \
                     {fingerprint:016x} vs {:016x}): the workload is not deterministic",
                    info.events, info.fingerprint
                ),
            ));
        }
        self.run = run;
        Ok(self.status())
    }

    fn snapshot_remove(&mut self, name: &str) -> OpResult<SnapshotInfo> {
        match self.snapshots.remove(name) {
            Some(snapshot) => Ok(snapshot.info),
            None => Err(error(ErrorCode::NotFound, format!("no snapshot `{name}`"))),
        }
    }

    fn snapshot_list(&mut self) -> Vec<SnapshotInfo> {
        self.snapshots.values().map(|snapshot| snapshot.info.clone()).collect()
    }
}
