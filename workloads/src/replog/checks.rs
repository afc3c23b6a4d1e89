//! replog's checks beyond `logs_agree` (an `Agreement`, declared in the workload): folds
//! over the replicas' observations where the property is about claims (`tail_monotonic`, the
//! target of `converges`), and the live world where it is about the present (who leads in
//! which component, who follows whom). Each keeps its own state between events, so the
//! invariants stay cheap: per node the highest commit, when each node last changed.

use std::collections::BTreeMap;

use orrery_sim::workload::{CheckLogic, CheckResult, Run};
use orrery_sim::{Duration, Instant, NodeId, NodeStatus, Observation};

use super::message::Message;
use super::replica::{Replica, Role};
use super::ReplogParams;

type View<'a> = Run<'a, Message, ReplogParams>;

fn verdict(result: Result<(), String>) -> CheckResult {
    result.map_or_else(CheckResult::Fail, |()| CheckResult::Pass)
}

/// `tail_monotonic`: a node's committed tail never moves backwards — not within an
/// incarnation (its `commit` observations climb one sequence at a time), nor across a
/// restart (what it `recovered` is at least what it had committed).
#[derive(Default)]
pub struct TailMonotonic {
    /// Per node, the highest sequence it claimed committed.
    highest: BTreeMap<NodeId, u64>,
}

impl CheckLogic<Message, ReplogParams> for TailMonotonic {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        let (field, restart) = match observation.kind.as_ref() {
            "recovered" => ("commit", true),
            "commit" => ("seq", false),
            _ => return Ok(()),
        };
        let tail = observation
            .u64(field)
            .ok_or_else(|| format!("tail_monotonic cannot read {observation}"))?;
        let high = self.highest.entry(observation.node).or_default();
        // Within an incarnation commits climb one sequence at a time; a restart must recover
        // at least what was committed.
        if tail < *high || (!restart && tail == *high) {
            let (node, at) = (observation.node, if restart { " at a restart" } else { "" });
            let moved = format!("{node}'s committed tail moved back from {high} to {tail}{at}");
            return Err(format!("{moved}: {observation}"));
        }
        *high = tail;
        Ok(())
    }

    fn evaluate(&mut self, _run: &View<'_>) -> CheckResult {
        CheckResult::Pass
    }
}

/// What a node looks like to the settling clock: its component (as a bit set; 0 when down
/// or paused), role, epoch and leader. Any change restarts the clock.
type Signature = (u64, Option<(Role, u64, Option<NodeId>)>);

/// `one_leader_per_component`: once a connected component (from the network's two-way
/// reachability; see `Network::components`) and every member's role, epoch and leader have
/// stayed unchanged for `settle`, the component has at most one leader. Transient overlaps
/// while a deposed leader has not yet heard of its successor are elections settling.
pub struct OneLeaderPerComponent {
    settle: Duration,
    /// Per node, its signature and since when it has had it.
    since: Vec<(Signature, Instant)>,
}

impl OneLeaderPerComponent {
    pub fn new(settle: Duration) -> Self {
        OneLeaderPerComponent { settle, since: Vec::new() }
    }

    fn check(&mut self, run: &View<'_>) -> Result<(), String> {
        let world = run.world;
        let now = world.now();
        self.since.resize(world.n_nodes(), ((u64::MAX, None), now));
        let components = world.network().components(|node| world.status(node) == NodeStatus::Up);
        let mut signatures = vec![(0, None); world.n_nodes()];
        for members in &components {
            let mask = members.iter().fold(0u64, |mask, node| mask | 1 << (node.0 % 64));
            for &node in members {
                let view =
                    world.process::<Replica>(node).map(|r| (r.role(), r.epoch(), r.leader()));
                signatures[node.index()] = (mask, view);
            }
        }
        for (node, signature) in signatures.into_iter().enumerate() {
            if self.since[node].0 != signature {
                self.since[node] = (signature, now);
            }
        }
        for members in &components {
            let changed = members.iter().map(|n| self.since[n.index()].1).max().unwrap_or(now);
            let leaders: Vec<String> = members
                .iter()
                .filter_map(|&node| world.process::<Replica>(node).map(|r| (node, r)))
                .filter(|(_, replica)| replica.role() == Role::Leader)
                .map(|(node, replica)| format!("{node} (epoch {})", replica.epoch()))
                .collect();
            if leaders.len() > 1 && now.saturating_since(changed) >= self.settle {
                let list: Vec<String> = members.iter().map(|n| n.to_string()).collect();
                return Err(format!(
                    "component {{{}}} has leaders {} after {} without change",
                    list.join(","),
                    leaders.join(" and "),
                    now.saturating_since(changed),
                ));
            }
        }
        Ok(())
    }
}

impl CheckLogic<Message, ReplogParams> for OneLeaderPerComponent {
    fn evaluate(&mut self, run: &View<'_>) -> CheckResult {
        verdict(self.check(run))
    }
}

/// `converges` (liveness): every node runs, follows one leader in that leader's epoch, and
/// has committed everything any node claimed committed by the heal (a claim of a node that
/// crashed since counts too).
pub struct Converges {
    heal_at: Instant,
    /// The highest sequence any node observed committed by the heal.
    target: u64,
}

impl Converges {
    pub fn new(heal_at: Instant) -> Self {
        Converges { heal_at, target: 0 }
    }

    fn check(&self, run: &View<'_>) -> Result<(), String> {
        let world = run.world;
        let replicas: Vec<(NodeId, &Replica)> = world.processes_of::<Replica>().collect();
        let leaders: Vec<&(NodeId, &Replica)> =
            replicas.iter().filter(|(_, r)| r.role() == Role::Leader).collect();
        let [(leader, leading)] = leaders.as_slice() else {
            let list: Vec<String> = leaders.iter().map(|(n, _)| n.to_string()).collect();
            return Err(format!("{} leaders: [{}]", leaders.len(), list.join(", ")));
        };
        if replicas.len() < world.n_nodes() {
            return Err(format!("only {} of {} nodes run", replicas.len(), world.n_nodes()));
        }
        for (node, replica) in &replicas {
            if replica.leader() != Some(*leader) || replica.epoch() != leading.epoch() {
                return Err(format!(
                    "{node} follows {:?} in epoch {}, not {leader} in epoch {}",
                    replica.leader(),
                    replica.epoch(),
                    leading.epoch()
                ));
            }
            if replica.log().commit() < self.target {
                return Err(format!(
                    "{node} has committed {} of the {} entries committed by the heal",
                    replica.log().commit(),
                    self.target
                ));
            }
        }
        Ok(())
    }
}

impl CheckLogic<Message, ReplogParams> for Converges {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        if observation.is("commit") && observation.at <= self.heal_at {
            let seq = observation
                .u64("seq")
                .ok_or_else(|| format!("converges cannot read {observation}"))?;
            self.target = self.target.max(seq);
        }
        Ok(())
    }

    fn evaluate(&mut self, run: &View<'_>) -> CheckResult {
        verdict(self.check(run))
    }
}
