//! Removing one node from a plan: the topology without it (later nodes move down one id),
//! and every fault, trigger and link override renumbered to match. What only the removed
//! node did goes with it: a crash of it, a clog of its link, a partition that isolated it.
//! A partition keeps its shape over the nodes that remain, or goes if too few remain for it
//! to cut anything.

use crate::fault::{ControlAction, RoleFallback, Trigger};
use crate::net::PartitionShape;
use crate::node::NodeId;
use crate::scenario::RunPlan;
use crate::topology::Topology;

/// `plan` without node `gone`, or `None` if the plan has no such node or would have none
/// left.
pub(crate) fn without_node(plan: &RunPlan, gone: NodeId) -> Option<RunPlan> {
    if gone.index() >= plan.topology.len() || plan.topology.len() < 2 {
        return None;
    }
    let map = Renumber { gone, remaining: plan.topology.len() - 1 };
    let mut topology = Topology::new();
    for node in plan.topology.nodes().filter(|n| *n != gone) {
        topology.add_node(plan.topology.node(node)?.clone());
    }
    for (from, to, config) in plan.topology.links() {
        if let (Some(from), Some(to)) = (map.node(from), map.node(to)) {
            topology.set_link(from, to, *config);
        }
    }
    let faults =
        plan.faults.iter().filter_map(|(at, action)| Some((*at, map.action(action)?))).collect();
    let triggers = plan.triggers.iter().filter_map(|trigger| map.trigger(trigger)).collect();
    Some(RunPlan { topology, faults, triggers, ..plan.clone() })
}

/// Node ids after `gone` is removed.
struct Renumber {
    gone: NodeId,
    /// How many nodes are left.
    remaining: usize,
}

impl Renumber {
    fn node(&self, node: NodeId) -> Option<NodeId> {
        match node.cmp(&self.gone) {
            std::cmp::Ordering::Less => Some(node),
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Greater => Some(NodeId(node.0 - 1)),
        }
    }

    /// The nodes that remain, renumbered.
    fn list(&self, nodes: &[NodeId]) -> Vec<NodeId> {
        nodes.iter().filter_map(|n| self.node(*n)).collect()
    }

    /// A list that must keep at least one node.
    fn nonempty(&self, nodes: &[NodeId]) -> Option<Vec<NodeId>> {
        Some(self.list(nodes)).filter(|list| !list.is_empty())
    }

    fn action(&self, action: &ControlAction) -> Option<ControlAction> {
        use ControlAction as A;
        Some(match action {
            A::Crash(node) => A::Crash(self.node(*node)?),
            A::CrashAndRestart { node, after } => {
                A::CrashAndRestart { node: self.node(*node)?, after: *after }
            }
            A::Restart(node) => A::Restart(self.node(*node)?),
            A::Start(node) => A::Start(self.node(*node)?),
            A::DisarmCrashPoint(node) => A::DisarmCrashPoint(self.node(*node)?),
            A::Pause(node) => A::Pause(self.node(*node)?),
            A::Resume(node) => A::Resume(self.node(*node)?),
            A::SetClock { node, offset_nanos, drift_ppm } => A::SetClock {
                node: self.node(*node)?,
                offset_nanos: *offset_nanos,
                drift_ppm: *drift_ppm,
            },
            A::SetNodeUp { node, up } => A::SetNodeUp { node: self.node(*node)?, up: *up },
            A::ClogNode { node, duration } => {
                A::ClogNode { node: self.node(*node)?, duration: *duration }
            }
            A::ClogLink { from, to, duration } => {
                A::ClogLink { from: self.node(*from)?, to: self.node(*to)?, duration: *duration }
            }
            A::SetLink { from, to, config } => {
                A::SetLink { from: self.node(*from)?, to: self.node(*to)?, config: *config }
            }
            A::SetDisk { node: Some(node), config } => {
                A::SetDisk { node: Some(self.node(*node)?), config: *config }
            }
            A::CrashAtDiskOperation { node, operation, restart_after } => A::CrashAtDiskOperation {
                node: self.node(*node)?,
                operation: *operation,
                restart_after: *restart_after,
            },
            A::Partition { shape, duration } => {
                A::Partition { shape: self.shape(shape)?, duration: *duration }
            }
            // The inner action's node is a placeholder for the holder; only the fallback
            // names real nodes.
            A::ToRoleHolder { role, otherwise, action } => A::ToRoleHolder {
                role: role.clone(),
                otherwise: match otherwise {
                    RoleFallback::Skip => RoleFallback::Skip,
                    RoleFallback::Random(nodes) => RoleFallback::Random(self.nonempty(nodes)?),
                },
                action: action.clone(),
            },
            A::SetDisk { node: None, .. }
            | A::StopTriggers
            | A::Heal
            | A::Unclog
            | A::SetLoss(_)
            | A::SetDuplicate(_)
            | A::SetCorrupt(_)
            | A::SetDefaultLink(_)
            | A::SetCapacity(_) => action.clone(),
        })
    }

    /// The shape over the remaining nodes, if it still cuts something.
    fn shape(&self, shape: &PartitionShape) -> Option<PartitionShape> {
        Some(match shape {
            PartitionShape::Groups(groups) => {
                let groups: Vec<Vec<NodeId>> =
                    groups.iter().filter_map(|group| self.nonempty(group)).collect();
                // Nodes in no group are cut off from everyone: one group still cuts if it
                // leaves someone out.
                let one_side = groups.len() == 1 && groups[0].len() == self.remaining;
                if groups.is_empty() || one_side {
                    return None;
                }
                PartitionShape::Groups(groups)
            }
            PartitionShape::Isolate(node) => PartitionShape::Isolate(self.node(*node)?),
            PartitionShape::OneWay { from, to } => {
                PartitionShape::OneWay { from: self.nonempty(from)?, to: self.nonempty(to)? }
            }
            PartitionShape::Ring { order, reach } => {
                let order = self.list(order);
                if order.len() < 3 {
                    return None;
                }
                PartitionShape::Ring { reach: (*reach).min(order.len() / 2), order }
            }
            PartitionShape::Bridge { left, bridge, right } => PartitionShape::Bridge {
                left: self.nonempty(left)?,
                bridge: self.node(*bridge)?,
                right: self.nonempty(right)?,
            },
        })
    }

    fn trigger(&self, trigger: &Trigger) -> Option<Trigger> {
        let nodes = match &trigger.nodes {
            Some(nodes) => Some(self.nonempty(nodes)?),
            None => None,
        };
        // An action aimed at the observer names a placeholder node.
        let action = if trigger.at_observer {
            trigger.action.clone()
        } else {
            self.action(&trigger.action)?
        };
        Some(Trigger { nodes, action, ..trigger.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;
    use crate::scenario::test_support::registry;

    fn plan(text: &str) -> RunPlan {
        match parse("test.yaml", text.as_bytes(), &registry()) {
            Ok(scenario) => scenario.sample(0),
            Err(errors) => panic!("{errors}"),
        }
    }

    // Proves removing a node renumbers the later ones everywhere and drops exactly what was
    // only about the removed node.
    #[test]
    fn a_removed_node_takes_its_faults_and_later_nodes_move_down() {
        let plan = plan(
            "name: remap
topology: {count: 4}
workload: {name: kv}
faults:
  - {at: 1s, kind: crash, node: n1}
  - {at: 2s, kind: crash, node: n3}
  - {at: 3s, kind: partition, groups: [[n0, n1], [n2, n3]]}
  - {at: 4s, kind: partition, groups: [[n1], [n0, n2, n3]]}
  - {at: 4s, kind: partition, groups: [[n1], [n2, n3]]}
  - {at: 5s, kind: clog, from: n1, to: n2, duration: 10ms}
  - {at: 6s, kind: clog, from: n3, to: n2, duration: 10ms}
  - {at: 7s, kind: partition, isolate: n1}
phases: {chaos: 10s}
",
        );
        let smaller = without_node(&plan, NodeId(1)).expect("n1 can go");
        assert_eq!(smaller.topology.len(), 3);
        let names: Vec<&str> = smaller
            .topology
            .nodes()
            .filter_map(|n| smaller.topology.node(n))
            .map(|spec| spec.name.as_str())
            .collect();
        assert_eq!(names, ["n0", "n2", "n3"]);
        let actions: Vec<&ControlAction> = smaller.faults.iter().map(|(_, a)| a).collect();
        let groups = |g: &[&[u32]]| {
            PartitionShape::Groups(
                g.iter().map(|side| side.iter().map(|n| NodeId(*n)).collect()).collect(),
            )
        };
        assert_eq!(
            actions,
            [
                &ControlAction::Crash(NodeId(2)),
                &ControlAction::Partition { shape: groups(&[&[0], &[1, 2]]), duration: None },
                &ControlAction::Partition { shape: groups(&[&[1, 2]]), duration: None },
                &ControlAction::ClogLink {
                    from: NodeId(2),
                    to: NodeId(1),
                    duration: crate::time::ms(10)
                },
            ]
        );
        assert!(without_node(&plan, NodeId(9)).is_none());
    }
}
