//! The control authority: every fault power as a traced `ControlAction`, applied by the
//! world's one entry point. Processes never get a `Control`.

use std::fmt::Debug;

use crate::disk::DiskConfig;
use crate::fault::{ControlAction, RoleFallback};
use crate::id::NodeId;
use crate::net::LinkConfig;
use crate::node::NodeStatus;
use crate::time::Duration;
use crate::trace::{Kind, Value};
use crate::wire::{Typed, Wire};

use super::core::Event;
use super::World;

impl<M: Debug + 'static, W: Wire<M>> World<M, W> {
    /// Applies one control action and traces it: the single entry point of the control
    /// authority.
    pub(super) fn apply(&mut self, action: ControlAction) {
        let now = self.core.now;
        if let ControlAction::ToRoleHolder { role, otherwise, action } = action {
            return self.apply_to_role_holder(&role, otherwise, *action);
        }
        if self.is_noop(&action) {
            return;
        }
        if let ControlAction::Crash(node)
        | ControlAction::CrashAndRestart { node, .. }
        | ControlAction::Pause(node) = action
        {
            if node.index() < self.core.nodes.len() && self.core.max_dead_reached(node) {
                return self.skip_for_max_dead(&action, node);
            }
        }
        let node_word = action.node().map_or(u64::MAX, |n| u64::from(n.0));
        self.core.trace.mix(Kind::Control, now, [node_word, 0, 0, 0]);
        self.core.trace.mix_text(action.kind());
        self.core.trace.record(now, action.node(), action.kind(), &[], || action.describe());
        let n_nodes = self.core.nodes.len();
        let valid = |node: NodeId| node.index() < n_nodes;
        match action {
            ControlAction::Crash(node) if valid(node) => self.crash(node),
            ControlAction::CrashAndRestart { node, after } if valid(node) => {
                self.crash(node);
                self.schedule(now + after, ControlAction::Start(node));
            }
            ControlAction::Restart(node) if valid(node) => {
                self.crash(node);
                self.boot(node);
            }
            ControlAction::Start(node) if valid(node) => self.boot(node),
            ControlAction::StopTriggers => self.core.triggers.clear(),
            ControlAction::DisarmCrashPoint(node) if valid(node) => {
                self.core.disks[node.index()].disarm_crash_point();
                self.core.nodes[node.index()].restart_on_power_loss = None;
            }
            ControlAction::Pause(node) if valid(node) => {
                let state = &mut self.core.nodes[node.index()];
                if state.status == NodeStatus::Up {
                    state.status = NodeStatus::Paused;
                    self.core.pauses_applied += 1;
                }
            }
            ControlAction::Resume(node) if valid(node) => {
                let state = &mut self.core.nodes[node.index()];
                if state.status == NodeStatus::Paused {
                    state.status = NodeStatus::Up;
                    for event in std::mem::take(&mut state.held) {
                        self.core.scheduler.push(now, event);
                    }
                }
            }
            ControlAction::SetClock { node, offset_nanos, drift_ppm } if valid(node) => {
                let drift_ppm = drift_ppm.max(-999_999);
                self.core.nodes[node.index()].clock.set(now, offset_nanos, drift_ppm);
            }
            ControlAction::SetNodeUp { node, up } if valid(node) => {
                self.core.net.set_interface_up(node, up)
            }
            ControlAction::Partition { shape, duration } => match shape.reachability(n_nodes) {
                Ok(reachability) => {
                    self.core.net.reachability = reachability;
                    self.core.net.partition = Some(shape);
                    self.core.partition_generation += 1;
                    if let Some(duration) = duration {
                        let generation = self.core.partition_generation;
                        self.core
                            .scheduler
                            .push(now + duration, Event::HealPartition { generation });
                    }
                }
                Err(error) => {
                    self.core.trace.record(now, None, "invalid_action", &[], || Some(error))
                }
            },
            ControlAction::Heal => {
                self.core.net.reachability = Default::default();
                self.core.net.partition = None;
                self.core.partition_generation += 1;
            }
            ControlAction::ClogLink { from, to, duration } if valid(from) && valid(to) => {
                self.core.net.clog_link(from, to, now + duration);
                self.core.scheduler.push(now + duration, Event::ClogCheck);
            }
            ControlAction::ClogNode { node, duration } if valid(node) => {
                self.core.net.clog_node(node, now + duration);
                self.core.scheduler.push(now + duration, Event::ClogCheck);
            }
            ControlAction::Unclog => {
                self.core.net.unclog_all();
                self.release_clogged();
            }
            ControlAction::SetLoss(p) => {
                self.core.net.update_all(|c| c.loss_probability = p.clamp(0.0, 1.0))
            }
            ControlAction::SetDuplicate(p) => {
                self.core.net.update_all(|c| c.duplicate_probability = p.clamp(0.0, 1.0))
            }
            ControlAction::SetCorrupt(p) => {
                self.core.net.update_all(|c| c.corrupt_probability = p.clamp(0.0, 1.0))
            }
            ControlAction::SetDefaultLink(config) => self.core.net.set_default(config),
            ControlAction::SetLink { from, to, config } if valid(from) && valid(to) => {
                self.core.net.set_link(from, to, config)
            }
            ControlAction::SetCapacity(capacity) => {
                self.core.net.update_all(|c| c.capacity_packets = capacity)
            }
            ControlAction::SetDisk { node, config } if node.is_none_or(valid) => {
                let targets: Vec<usize> = match node {
                    Some(node) => vec![node.index()],
                    None => (0..n_nodes).collect(),
                };
                for index in targets {
                    if let Err(error) = self.core.disks[index].set_config(config) {
                        let text = error.to_string();
                        self.core.trace.record(now, None, "invalid_action", &[], || Some(text));
                    }
                }
            }
            ControlAction::CrashAtDiskOperation { node, operation, restart_after }
                if valid(node) =>
            {
                // The disk counts operations from the start of the incarnation; the action
                // counts from now.
                let disk = &mut self.core.disks[node.index()];
                disk.arm_crash_at_operation(disk.operations_this_incarnation() + operation.max(1));
                self.core.nodes[node.index()].restart_on_power_loss = restart_after;
            }
            // An action naming a node that does not exist does nothing, visibly.
            _ => self
                .core
                .trace
                .record(now, None, "invalid_action", &[], || Some("unknown node".to_string())),
        }
    }

    /// Whether `action` would change nothing (starting a node that is up, resuming one that
    /// is not paused, ...): such actions are neither applied nor traced, so the heal phase's
    /// sweep over every node leaves only what it really did in the trace.
    fn is_noop(&self, action: &ControlAction) -> bool {
        let status = |node: &NodeId| self.core.nodes.get(node.index()).map(|state| state.status);
        match action {
            ControlAction::Start(node) => status(node) != Some(NodeStatus::Down),
            ControlAction::Resume(node) => status(node) != Some(NodeStatus::Paused),
            ControlAction::SetNodeUp { node, up } => {
                node.index() < self.core.nodes.len() && self.core.net.is_interface_up(*node) == *up
            }
            ControlAction::DisarmCrashPoint(node) => {
                self.core.disks.get(node.index()).is_none_or(|disk| !disk.crash_point_armed())
            }
            ControlAction::Heal => self.core.net.partition.is_none(),
            ControlAction::StopTriggers => self.core.triggers.is_empty(),
            ControlAction::SetDisk { node, config } => match node {
                Some(node) => {
                    self.core.disks.get(node.index()).is_some_and(|d| d.config() == config)
                }
                None => self.core.disks.iter().all(|disk| disk.config() == config),
            },
            ControlAction::Unclog => !self.core.net.has_clogs() && self.core.clog_held.is_empty(),
            _ => false,
        }
    }

    /// A crash or pause the `max_dead` budget forbids: not applied, traced and counted (a
    /// fault coverage point reports it).
    fn skip_for_max_dead(&mut self, action: &ControlAction, node: NodeId) {
        let now = self.core.now;
        self.core.skipped_by_max_dead += 1;
        self.core.trace.mix(Kind::Control, now, [u64::from(node.0), 4, 0, 0]);
        let fields = [("action", Value::Str(action.kind())), ("cause", Value::Str("max_dead"))];
        self.core.trace.record(now, Some(node), "skipped", &fields, || None);
    }

    /// Aims `action` at the live node holding `role`, or as `otherwise` says.
    fn apply_to_role_holder(&mut self, role: &str, otherwise: RoleFallback, action: ControlAction) {
        let target = match (self.core.role_holder(role), otherwise) {
            (Some(holder), _) => Some(holder),
            (None, RoleFallback::Random(candidates)) => {
                self.core.role_fallback.pick(&candidates).copied()
            }
            (None, RoleFallback::Skip) => None,
        };
        match target {
            Some(node) => self.apply(action.with_node(node)),
            None => {
                let now = self.core.now;
                self.core.trace.mix(Kind::Control, now, [u64::MAX, 3, 0, 0]);
                self.core.trace.mix_text(role);
                let fields =
                    [("holder_of", Value::Str(role)), ("action", Value::Str(action.kind()))];
                self.core.trace.record(now, None, "skipped", &fields, || None);
            }
        }
    }
}

/// The control authority over a world: lifecycle, clocks and network faults. Every call is a
/// traced `ControlAction`.
pub struct Control<'w, M, W: Wire<M> = Typed> {
    pub(super) world: &'w mut World<M, W>,
}

impl<M: Debug + 'static, W: Wire<M>> Control<'_, M, W> {
    /// Applies any action now.
    pub fn apply(&mut self, action: ControlAction) -> &mut Self {
        self.world.apply(action);
        self
    }
    pub fn crash(&mut self, node: NodeId) -> &mut Self {
        self.apply(ControlAction::Crash(node))
    }
    pub fn restart(&mut self, node: NodeId) -> &mut Self {
        self.apply(ControlAction::Restart(node))
    }
    pub fn pause(&mut self, node: NodeId) -> &mut Self {
        self.apply(ControlAction::Pause(node))
    }
    pub fn resume(&mut self, node: NodeId) -> &mut Self {
        self.apply(ControlAction::Resume(node))
    }
    pub fn set_clock(&mut self, node: NodeId, offset_nanos: i64, drift_ppm: i64) -> &mut Self {
        self.apply(ControlAction::SetClock { node, offset_nanos, drift_ppm })
    }
    /// Marionette's `setNode(n, up)`.
    pub fn set_node_up(&mut self, node: NodeId, up: bool) -> &mut Self {
        self.apply(ControlAction::SetNodeUp { node, up })
    }
    /// Marionette's `setLossiness(p)`.
    pub fn set_loss(&mut self, probability: f64) -> &mut Self {
        self.apply(ControlAction::SetLoss(probability))
    }
    pub fn set_duplicate(&mut self, probability: f64) -> &mut Self {
        self.apply(ControlAction::SetDuplicate(probability))
    }
    pub fn set_corrupt(&mut self, probability: f64) -> &mut Self {
        self.apply(ControlAction::SetCorrupt(probability))
    }
    pub fn set_link(&mut self, from: NodeId, to: NodeId, config: LinkConfig) -> &mut Self {
        self.apply(ControlAction::SetLink { from, to, config })
    }
    pub fn set_default_link(&mut self, config: LinkConfig) -> &mut Self {
        self.apply(ControlAction::SetDefaultLink(config))
    }
    pub fn set_capacity(&mut self, packets: u32) -> &mut Self {
        self.apply(ControlAction::SetCapacity(packets))
    }
    /// Marionette's `clog(a, b, d)`: holds `from -> to` traffic for `duration`.
    pub fn clog(&mut self, from: NodeId, to: NodeId, duration: Duration) -> &mut Self {
        self.apply(ControlAction::ClogLink { from, to, duration })
    }
    pub fn clog_node(&mut self, node: NodeId, duration: Duration) -> &mut Self {
        self.apply(ControlAction::ClogNode { node, duration })
    }
    pub fn unclog(&mut self) -> &mut Self {
        self.apply(ControlAction::Unclog)
    }
    /// Marionette's `partition(left, right)`: two groups that cannot reach each other.
    pub fn partition(&mut self, left: &[NodeId], right: &[NodeId]) -> &mut Self {
        let shape = crate::net::PartitionShape::Groups(vec![left.to_vec(), right.to_vec()]);
        self.apply(ControlAction::Partition { shape, duration: None })
    }
    /// Any partition shape, optionally healing by itself after `duration`.
    pub fn partition_shape(
        &mut self,
        shape: crate::net::PartitionShape,
        duration: Option<Duration>,
    ) -> &mut Self {
        self.apply(ControlAction::Partition { shape, duration })
    }
    pub fn heal(&mut self) -> &mut Self {
        self.apply(ControlAction::Heal)
    }
    /// Replaces one node's disk settings (or every node's with `None`).
    pub fn set_disk(&mut self, node: Option<NodeId>, config: DiskConfig) -> &mut Self {
        self.apply(ControlAction::SetDisk { node, config })
    }
    /// The node loses power at its `operation`-th disk operation from now on.
    pub fn crash_at_disk_operation(&mut self, node: NodeId, operation: u64) -> &mut Self {
        self.apply(ControlAction::CrashAtDiskOperation { node, operation, restart_after: None })
    }
}
