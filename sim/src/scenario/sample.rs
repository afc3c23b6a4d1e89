//! Sampling: one scenario and one seed give one concrete `RunPlan`.
//!
//! Streams, each drawn from only for its purpose, so that changing one thing never shifts
//! another's draws:
//! - `swarm.<family>`: the family's on/off coin, then its rates and timeline. A family that
//!   is off draws nothing after its coin.
//! - `swarm.<family>.node`: which nodes and links the family's events hit.
//! - `faults.node[i]`, `faults.split[i]`: random choices of the i-th scheduled fault.
//!
//! Every drawn value is pushed to `realized` as (label, value) in draw order, and so is every
//! crash that the `max_dead` budget skipped.

use crate::fault::{ControlAction, Trigger};
use crate::net::PartitionShape;
use crate::node::NodeId;
use crate::rng::{label_text, Stream};
use crate::time::{Duration, Instant};

use super::model::{
    ActionTemplate, Family, FamilyRule, FaultRule, Scenario, Target, Timing, TriggerRule,
};
use super::plan::RunPlan;

/// What sampling accumulates: actions with their times, triggers, the nodes each rule
/// picked (for rules that aim at another's pick), and the realized values.
struct Draft<'s> {
    scenario: &'s Scenario,
    seed: u64,
    faults: Vec<(Instant, ControlAction)>,
    triggers: Vec<Trigger>,
    picks: Vec<Vec<(Instant, NodeId)>>,
    realized: Vec<(String, String)>,
}

impl Scenario {
    /// The concrete plan of the run with `seed`.
    pub fn sample(&self, seed: u64) -> RunPlan {
        let mut draft = Draft {
            scenario: self,
            seed,
            faults: Vec::new(),
            triggers: Vec::new(),
            picks: vec![Vec::new(); self.faults.len()],
            realized: Vec::new(),
        };
        for (index, rule) in self.faults.iter().enumerate() {
            draft.rule(index, rule);
        }
        for family in &self.swarm {
            draft.family(family);
        }
        // Stable: actions at equal times keep rule order, then family order.
        draft.faults.sort_by_key(|(at, _)| *at);
        RunPlan {
            scenario: self.name.clone(),
            seed,
            topology: self.topology.clone(),
            link_default: self.link_default,
            disk: self.disk,
            workload: self.workload.clone(),
            params: self.params.clone(),
            faults: draft.faults,
            triggers: draft.triggers,
            max_dead: self.max_dead,
            supervisor: self.supervisor,
            phases: self.phases,
            checks: self.checks.clone(),
            limits: self.limits,
            buggify: self.buggify,
            expect: self.expect,
            realized: draft.realized,
        }
    }
}

impl Draft<'_> {
    fn name(&self, node: NodeId) -> String {
        self.scenario.topology.node(node).map_or_else(|| node.to_string(), |s| s.name.clone())
    }

    fn realize(&mut self, label: String, value: String) {
        self.realized.push((label, value));
    }

    fn rule(&mut self, index: usize, rule: &FaultRule) {
        if let Timing::On(trigger) = &rule.timing {
            return self.trigger(rule, trigger);
        }
        let label_index = index as u64;
        let node_label = label_text("faults.node", &[label_index]);
        let split_label = label_text("faults.split", &[label_index]);
        let mut nodes = Stream::with_parts(self.seed, "faults.node", &[label_index]);
        let mut splits = Stream::with_parts(self.seed, "faults.split", &[label_index]);
        let mut restarts = Stream::with_parts(self.seed, "faults.restart", &[label_index]);
        for at in rule.timing.instants() {
            let ActionTemplate::Action { actions, target } = &rule.action else {
                let ActionTemplate::RandomSplit { majority_minority, duration } = &rule.action
                else {
                    continue;
                };
                let groups = self.split(&mut splits, *majority_minority);
                let value = format!("{} at {}", self.describe_groups(&groups), at.since_start());
                self.realize(split_label.clone(), value);
                let shape = PartitionShape::Groups(groups);
                self.faults.push((at, ControlAction::Partition { shape, duration: *duration }));
                continue;
            };
            let aimed: Vec<Option<NodeId>> = match target {
                Target::Fixed | Target::Observer | Target::Holding { .. } => vec![None],
                Target::Each(each) => each.iter().map(|n| Some(*n)).collect(),
                Target::Random(candidates) => {
                    let Some(&node) = nodes.pick(candidates) else { continue };
                    let value = format!("{} at {}", self.name(node), at.since_start());
                    self.realize(node_label.clone(), value);
                    vec![Some(node)]
                }
                Target::Rule(other) => {
                    let picks = &self.picks[*other];
                    let latest = picks.iter().rev().find(|(when, _)| *when <= at).or(picks.first());
                    match latest {
                        Some((_, node)) => vec![Some(*node)],
                        None => continue,
                    }
                }
            };
            for node in aimed {
                let restart =
                    rule.restart_after.map(|range| uniform_duration(&mut restarts, range));
                for action in actions {
                    let action = match (node, target) {
                        (Some(node), _) => action.with_node(node),
                        (None, Target::Holding { role, otherwise }) => {
                            ControlAction::ToRoleHolder {
                                role: role.clone(),
                                otherwise: otherwise.clone(),
                                action: Box::new(action.clone()),
                            }
                        }
                        (None, _) => action.clone(),
                    };
                    if let Some(node) = action.node() {
                        self.picks[index].push((at, node));
                    }
                    self.push_with_restart(at, action, restart);
                }
            }
        }
    }

    /// Schedules `action`, with its restart if the rule says `restart_after`.
    fn push_with_restart(&mut self, at: Instant, action: ControlAction, restart: Option<Duration>) {
        let action = match restart {
            Some(after) => action.with_restart(after),
            None => action,
        };
        self.faults.push((at, action));
    }

    /// A trigger rule becomes one engine trigger per action it takes.
    fn trigger(&mut self, rule: &FaultRule, trigger: &TriggerRule) {
        let ActionTemplate::Action { actions, target } = &rule.action else { return };
        for action in actions {
            let (action, at_observer) = match target {
                Target::Observer => (action.clone(), true),
                Target::Holding { role, otherwise } => (
                    ControlAction::ToRoleHolder {
                        role: role.clone(),
                        otherwise: otherwise.clone(),
                        action: Box::new(action.clone()),
                    },
                    false,
                ),
                _ => (action.clone(), false),
            };
            self.triggers.push(Trigger {
                name: rule.name.clone(),
                event: trigger.event.clone(),
                nodes: trigger.nodes.clone(),
                probability: trigger.probability,
                budget: trigger.budget,
                when: trigger.when,
                action,
                at_observer,
                restart_after: rule.restart_after,
            });
        }
    }

    /// Two sides: a random majority against the rest, or two halves (the first side gets the
    /// extra node of an odd count).
    fn split(&self, stream: &mut Stream, majority_minority: bool) -> Vec<Vec<NodeId>> {
        let mut nodes: Vec<NodeId> = self.scenario.topology.nodes().collect();
        stream.shuffle(&mut nodes);
        let n = nodes.len();
        let first = if majority_minority { n / 2 + 1 } else { n.div_ceil(2) };
        let mut second = nodes.split_off(first.min(n));
        nodes.sort();
        second.sort();
        vec![nodes, second]
    }

    fn describe_groups(&self, groups: &[Vec<NodeId>]) -> String {
        let side = |g: &Vec<NodeId>| g.iter().map(|n| self.name(*n)).collect::<Vec<_>>().join(",");
        groups.iter().map(side).collect::<Vec<_>>().join("|")
    }

    fn family(&mut self, rule: &FamilyRule) {
        let name = rule.family.name();
        let label = format!("swarm.{name}");
        let mut stream = Stream::new(self.seed, &label);
        let on = stream.bernoulli(rule.probability);
        self.realize(label.clone(), if on { "on" } else { "off" }.to_string());
        if !on {
            return;
        }
        let mut nodes = Stream::new(self.seed, &format!("{label}.node"));
        match rule.family {
            Family::Loss | Family::Duplicate | Family::Corrupt | Family::DiskErrors => {
                let (low, high) = rule.rate.unwrap_or((0.0, 0.0));
                let rate = if low < high { stream.uniform_f64(low, high) } else { low };
                self.realize(format!("{label}.rate"), rate.to_string());
                let action = match rule.family {
                    Family::Loss => ControlAction::SetLoss(rate),
                    Family::Duplicate => ControlAction::SetDuplicate(rate),
                    Family::Corrupt => ControlAction::SetCorrupt(rate),
                    _ => {
                        let mut config = self.scenario.disk;
                        config.read_error_probability = rate;
                        config.write_error_probability = rate;
                        ControlAction::SetDisk { node: None, config }
                    }
                };
                self.faults.push((Instant::ZERO, action));
            }
            Family::ClockSkew => {
                let (low, high) = rule.offset.unwrap_or((0, 0));
                let (drift_low, drift_high) = rule.drift_ppm.unwrap_or((0, 0));
                for node in self.scenario.topology.nodes() {
                    let offset_nanos = uniform_i64(&mut stream, low, high);
                    let drift_ppm = uniform_i64(&mut stream, drift_low, drift_high);
                    let value =
                        format!("{} offset={offset_nanos}ns drift={drift_ppm}ppm", self.name(node));
                    self.realize(format!("{label}.clock"), value);
                    self.faults.push((
                        Instant::ZERO,
                        ControlAction::SetClock { node, offset_nanos, drift_ppm },
                    ));
                }
            }
            Family::Partition | Family::Clog | Family::Crash | Family::Pause => {
                self.timeline(rule, &label, &mut stream, &mut nodes);
            }
        }
    }

    /// Events at random intervals through the chaos phase, each lasting a random duration.
    fn timeline(
        &mut self,
        rule: &FamilyRule,
        label: &str,
        stream: &mut Stream,
        nodes: &mut Stream,
    ) {
        let (Some(interval), Some(duration)) = (rule.interval, rule.duration) else { return };
        let chaos_end = Instant::ZERO + self.scenario.phases.chaos;
        let everyone: Vec<NodeId> = self.scenario.topology.nodes().collect();
        // Crashes, pauses and clogs hit only the family's role when it names one.
        let all: Vec<NodeId> = rule.nodes.clone().unwrap_or_else(|| everyone.clone());
        let mut at = Instant::ZERO + uniform_duration(stream, interval);
        while at < chaos_end && !all.is_empty() {
            let lasting = uniform_duration(stream, duration);
            let end = at + lasting;
            let (description, start, stop) = match rule.family {
                Family::Partition => {
                    let groups = self.split(nodes, false);
                    let shape = PartitionShape::Groups(groups.clone());
                    let start = ControlAction::Partition { shape, duration: Some(lasting) };
                    (self.describe_groups(&groups), start, None)
                }
                Family::Clog => {
                    let from = pick(nodes, &all);
                    let others: Vec<NodeId> =
                        everyone.iter().copied().filter(|n| *n != from).collect();
                    match others.is_empty() {
                        true => (
                            self.name(from),
                            ControlAction::ClogNode { node: from, duration: lasting },
                            None,
                        ),
                        false => {
                            let to = pick(nodes, &others);
                            let action = ControlAction::ClogLink { from, to, duration: lasting };
                            (format!("{}->{}", self.name(from), self.name(to)), action, None)
                        }
                    }
                }
                Family::Crash => {
                    let node = pick(nodes, &all);
                    (self.name(node), ControlAction::Crash(node), Some(ControlAction::Start(node)))
                }
                _ => {
                    let node = pick(nodes, &all);
                    (self.name(node), ControlAction::Pause(node), Some(ControlAction::Resume(node)))
                }
            };
            let value = format!("{description} at {} for {lasting}", at.since_start());
            self.realize(format!("{label}.event"), value);
            self.faults.push((at, start));
            // Past the chaos phase, healing brings everything back anyway.
            if let Some(stop) = stop.filter(|_| end < chaos_end) {
                self.faults.push((end, stop));
            }
            at += uniform_duration(stream, interval);
        }
    }
}

fn pick(stream: &mut Stream, nodes: &[NodeId]) -> NodeId {
    nodes.get(stream.below(nodes.len().max(1) as u64) as usize).copied().unwrap_or(NodeId(0))
}

fn uniform_duration(stream: &mut Stream, (low, high): (Duration, Duration)) -> Duration {
    Duration::from_nanos(stream.uniform_u64(low.as_nanos(), high.as_nanos().max(low.as_nanos())))
}

fn uniform_i64(stream: &mut Stream, low: i64, high: i64) -> i64 {
    let width = high.abs_diff(low);
    let offset = stream.uniform_u64(0, width);
    low.wrapping_add(offset as i64)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{plan_differences, registry, SWARM_HEAVY};
    use super::super::{parse, Scenario};
    use crate::fault::ControlAction;
    use crate::node::NodeId;

    fn scenario(text: &str) -> Scenario {
        match parse("test.yaml", text.as_bytes(), &registry()) {
            Ok(scenario) => scenario,
            Err(errors) => panic!("test scenario refused:\n{errors}"),
        }
    }

    const SMALL: &str = "name: small
topology: {count: 4, role: replica}
workload: {name: kv}
phases: {chaos: 10s}
swarm:
  loss: {probability: 0.5, rate: [0, 0.2]}
  clog: {probability: 0.5, interval: [100ms, 1s], duration: [10ms, 100ms]}
  crash: {probability: 0.5, interval: [500ms, 2s], duration: [100ms, 1s]}
";

    // Proves a plan is a pure function of (scenario, seed) and that seeds differ.
    #[test]
    fn sampling_is_deterministic_per_seed() {
        let scenario = scenario(SWARM_HEAVY);
        for seed in 0..20 {
            let (a, b) = (scenario.sample(seed), scenario.sample(seed));
            assert!(plan_differences(&a, &b).is_empty());
            assert_eq!(a.realized, b.realized);
        }
        let realized: Vec<_> = (0..20).map(|seed| scenario.sample(seed).realized).collect();
        assert!(realized.windows(2).any(|w| w[0] != w[1]), "every seed drew the same");
    }

    // Proves switching one family off leaves every other family's draws untouched, and that
    // an off family draws nothing but its coin.
    #[test]
    fn families_do_not_shift_each_other() {
        let all = scenario(SMALL);
        let no_crash =
            scenario(&SMALL.replace("crash: {probability: 0.5", "crash: {probability: 0"));
        let not_crash = |plan: &super::RunPlan| -> Vec<_> {
            plan.faults
                .iter()
                .filter(|(_, a)| !matches!(a, ControlAction::Crash(_) | ControlAction::Start(_)))
                .cloned()
                .collect()
        };
        for seed in 0..50 {
            let (with, without) = (all.sample(seed), no_crash.sample(seed));
            assert_eq!(not_crash(&with), not_crash(&without), "seed {seed}");
            let crash_values: Vec<_> = without
                .realized
                .iter()
                .filter(|(label, _)| label.starts_with("swarm.crash"))
                .collect();
            assert_eq!(crash_values, [&("swarm.crash".to_string(), "off".to_string())]);
        }
    }

    // Proves every family is sometimes on and sometimes off across seeds, and that each
    // value drawn is recorded.
    #[test]
    fn families_switch_per_seed_and_are_recorded() {
        let scenario = scenario(SMALL);
        for family in ["swarm.loss", "swarm.clog", "swarm.crash"] {
            let on: Vec<bool> = (0..40)
                .map(|seed| {
                    scenario.sample(seed).realized.contains(&(family.to_string(), "on".to_string()))
                })
                .collect();
            assert!(on.contains(&true) && on.contains(&false), "{family} never varied");
        }
        for seed in 0..40 {
            let plan = scenario.sample(seed);
            let losses = plan.faults.iter().filter(|(_, a)| matches!(a, ControlAction::SetLoss(_)));
            let rates = plan.realized.iter().filter(|(label, _)| label == "swarm.loss.rate");
            assert_eq!(losses.count(), rates.count());
        }
    }

    // Proves a swarm family with a role crashes, pauses and clogs only nodes of that role,
    // while the same family without a role reaches every node over enough seeds.
    #[test]
    fn swarm_families_with_a_role_stay_within_it() {
        let source = "name: roles
topology:
  nodes:
    - {name: s0, role: server}
    - {name: s1, role: server}
    - {name: c0, role: client}
workload: {name: kv}
swarm:
  crash: {probability: 1.0, interval: [100ms, 300ms], duration: [10ms, 50ms], role: server}
  pause: {probability: 1.0, interval: [100ms, 300ms], duration: [10ms, 50ms], role: client}
  clog: {probability: 1.0, interval: [100ms, 300ms], duration: [10ms, 50ms], role: client}
phases: {chaos: 5s}
";
        let with_roles = scenario(source);
        let (mut crashed, mut paused, mut clogged) = (0, 0, 0);
        for seed in 0..20 {
            for (_, action) in &with_roles.sample(seed).faults {
                match action {
                    ControlAction::Crash(node) => {
                        assert!(node.0 < 2, "crashed the client");
                        crashed += 1;
                    }
                    ControlAction::Pause(node) => {
                        assert_eq!(*node, NodeId(2), "paused a server");
                        paused += 1;
                    }
                    ControlAction::ClogLink { from, to, .. } => {
                        assert_eq!(*from, NodeId(2), "clogged a server's link");
                        assert_ne!(*to, NodeId(2));
                        clogged += 1;
                    }
                    _ => {}
                }
            }
        }
        assert!(crashed > 0 && paused > 0 && clogged > 0);
        let anyone = scenario(&source.replace(", role: server}", "}"));
        let crashed_clients = (0..20)
            .flat_map(|seed| anyone.sample(seed).faults)
            .filter(|(_, action)| *action == ControlAction::Crash(NodeId(2)))
            .count();
        assert!(crashed_clients > 0, "without a role the client is crashed too");
    }

    // Proves a domain-wide crash hits exactly the domain's nodes and a role-random choice
    // stays within the role.
    #[test]
    fn domains_and_roles_resolve_to_their_nodes() {
        let scenario = scenario(
            "name: domains
topology:
  nodes:
    - {name: a0, role: replica, zone: a}
    - {name: b0, role: replica, zone: b}
    - {name: b1, role: client, zone: b}
workload: {name: kv}
faults:
  - {at: 1s, kind: crash, domain: {zone: b}}
  - {every: 1s, after: 2s, kind: pause, node: {role: replica}}
phases: {chaos: 10s}
",
        );
        for seed in 0..20 {
            let plan = scenario.sample(seed);
            let at_one: Vec<_> =
                plan.faults.iter().filter(|(t, _)| t.as_nanos() == 1_000_000_000).collect();
            assert_eq!(at_one.len(), 2);
            assert_eq!(at_one[0].1, ControlAction::Crash(NodeId(1)));
            assert_eq!(at_one[1].1, ControlAction::Crash(NodeId(2)));
            for (_, action) in &plan.faults {
                if let ControlAction::Pause(node) = action {
                    assert!(node.0 < 2, "paused the client {node}");
                }
            }
        }
    }
}
