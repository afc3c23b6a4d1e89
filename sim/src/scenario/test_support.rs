//! Test support for the scenario module: a workload that only declares parameters and
//! checks, a scenario that uses every randomised feature, and a field-by-field plan diff.

use crate::time::ms;
use crate::workload::{
    CheckKind, CheckSpec, ParamKind, ParamSpec, ParamValue, Registry, Setup, Simulation, Workload,
};

use super::plan::RunPlan;

/// Declares what scenarios validate against; never runs.
pub(crate) struct DeclaredOnly;

impl Workload for DeclaredOnly {
    fn name(&self) -> &'static str {
        "kv"
    }
    fn description(&self) -> &'static str {
        "declares parameters and checks for scenario tests"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        let spec = |name, kind, default| ParamSpec { name, kind, default, doc: "", shrink: false };
        let int = ParamKind::Int { min: i64::MIN, max: i64::MAX };
        vec![
            spec("replicas", int, ParamValue::Int(3)),
            spec("timeout", ParamKind::Duration, ParamValue::Duration(ms(100))),
            spec("buggy", ParamKind::Bool, ParamValue::Bool(false)),
            spec("ratio", ParamKind::Float, ParamValue::Float(0.5)),
            spec("label", ParamKind::Text, ParamValue::Text("plain".to_string())),
        ]
    }
    fn checks(&self) -> Vec<CheckSpec> {
        vec![
            CheckSpec { name: "agreement", kind: CheckKind::Invariant, doc: "" },
            CheckSpec { name: "converged", kind: CheckKind::Liveness, doc: "" },
            CheckSpec { name: "linearizable", kind: CheckKind::Final, doc: "" },
        ]
    }
    fn instantiate(&self, _: &RunPlan, _: &Setup<'_>) -> Result<Box<dyn Simulation>, String> {
        Err("test workload does not run".to_string())
    }
}

pub(crate) fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(DeclaredOnly);
    registry
}

/// Every swarm family on half the time, random nodes, random partitions, failure domains,
/// a `max_dead` budget, and every explicit fault kind.
pub(crate) const SWARM_HEAVY: &str = r#"name: swarm-heavy
description: "quotes \" and back\\slashes survive"
topology:
  nodes:
    - {name: n0, role: replica, zone: a, rack: r0}
    - {name: n1, role: replica, zone: a, rack: r1}
    - {name: n2, role: replica, zone: b, rack: r1}
    - {name: n3, role: replica, zone: b, machine: m3}
    - {name: c0, role: client, zone: c, command: [python3, "a \"quoted\" arg"]}
network:
  latency: {kind: long_tail, min: 1ms, max: 3ms, slow_probability: 0.01, slow_min: 50ms, slow_max: 80ms}
  loss_probability: 0.001
  capacity_packets: 512
  when_full: reject
  fifo: true
  links:
    - {from: n0, to: n3, latency: {kind: exponential, min: 2ms, mean: 5ms}}
disk: {crash_unsynced: reordered, read_error_probability: 0.0001, latency_max: 200us}
workload:
  name: kv
  params: {replicas: 4, timeout: 1.5ms, ratio: 0.1, label: "a \"quoted\" label"}
max_dead: 2
faults:
  - {at: 100ms, kind: partition, random: majority_minority, duration: 300ms}
  - {every: 700ms, after: 200ms, until: 5s, kind: crash, node: {role: replica}}
  - {every: 900ms, kind: recover, node: random}
  - {at: 1s, kind: crash, domain: {zone: b}}
  - {at: 1100ms, kind: restart, domain: {rack: r1}}
  - {at: 1200ms, kind: pause, node: c0}
  - {at: 1300ms, kind: resume, node: c0}
  - {at: 1400ms, kind: partition, isolate: random}
  - {at: 1500ms, kind: partition, one_way: {from: [n0], to: [n1, n2]}, duration: 100ms}
  - {at: 1600ms, kind: partition, ring: {reach: 1}}
  - {at: 1700ms, kind: partition, bridge: {left: [n0, n1], bridge: n2, right: [n3]}}
  - {at: 1800ms, kind: partition, groups: [[n0], [n1, n2]]}
  - {at: 1900ms, kind: heal}
  - {at: 2s, kind: clog, from: n0, to: n1, duration: 50ms}
  - {at: 2100ms, kind: clog, node: random, duration: 70ms}
  - {at: 2200ms, kind: unclog}
  - {at: 2300ms, kind: set_loss, probability: 0.3}
  - {at: 2400ms, kind: set_duplicate, probability: 0.125}
  - {at: 2500ms, kind: set_corrupt, probability: 0.01}
  - {at: 2600ms, kind: set_clock, node: n1, offset: -7ms, drift_ppm: -40}
  - {at: 2700ms, kind: set_node_up, node: n2, up: false}
  - {at: 2800ms, kind: set_default_link, link: {latency: {kind: fixed, value: 4ms}}}
  - {at: 2900ms, kind: set_link, from: n3, to: n0, link: {loss_probability: 0.5}}
  - {at: 3s, kind: set_capacity, capacity_packets: 64}
  - {at: 3100ms, kind: set_disk, node: n0, disk: {write_error_probability: 0.2}}
  - {at: 3200ms, kind: set_disk, disk: {crash_unsynced: lost}}
  - {at: 3300ms, kind: crash_at_disk_operation, node: random, operation: 3}
swarm:
  partition: {probability: 0.5, interval: [500ms, 2s], duration: [100ms, 1s]}
  clog: {probability: 0.5, interval: [200ms, 1s], duration: [10ms, 300ms]}
  crash: {probability: 0.5, interval: [300ms, 1s], duration: [100ms, 2s]}
  pause: {probability: 0.5, interval: [500ms, 3s], duration: [50ms, 500ms]}
  loss: {probability: 0.5, rate: [0.0, 0.2]}
  duplicate: {probability: 0.5, rate: [0.01, 0.1]}
  corrupt: {probability: 0.5, rate: [0.0, 0.05]}
  clock_skew: {probability: 0.5, offset: [-20ms, 20ms], drift_ppm: [-100, 100]}
  disk_errors: {probability: 0.5, rate: [0.0, 0.01]}
phases: {chaos: 6s, heal: 500ms, converge_deadline: 3s}
checks: [agreement, linearizable]
limits: {vtime_max: 30s, events_max: 2000000}
seeds: 10..40
buggify: {enabled: true, site_probability: 0.3, fire_probability: 0.05}
expect: {fail: {within_seeds: 30}}
"#;

/// Every difference in effect between two plans (seed and realized values aside), one line
/// each; empty when the plans would run identically.
pub(crate) fn plan_differences(a: &RunPlan, b: &RunPlan) -> Vec<String> {
    let mut differences = Vec::new();
    let mut compare = |what: &str, left: String, right: String| {
        if left != right {
            differences.push(format!("{what}:\n  {left}\n  {right}"));
        }
    };
    let nodes = |plan: &RunPlan| {
        let specs: Vec<_> = plan.topology.nodes().map(|n| plan.topology.node(n).cloned()).collect();
        format!("{specs:?}")
    };
    let links = |plan: &RunPlan| format!("{:?}", plan.topology.links().collect::<Vec<_>>());
    compare("scenario", a.scenario.clone(), b.scenario.clone());
    compare("nodes", nodes(a), nodes(b));
    compare("links", links(a), links(b));
    compare("link_default", format!("{:?}", a.link_default), format!("{:?}", b.link_default));
    compare("disk", format!("{:?}", a.disk), format!("{:?}", b.disk));
    compare("workload", a.workload.clone(), b.workload.clone());
    compare("params", format!("{:?}", a.params), format!("{:?}", b.params));
    compare("fault count", a.faults.len().to_string(), b.faults.len().to_string());
    for (i, (left, right)) in a.faults.iter().zip(&b.faults).enumerate() {
        compare(&format!("fault {i}"), format!("{left:?}"), format!("{right:?}"));
    }
    compare("phases", format!("{:?}", a.phases), format!("{:?}", b.phases));
    compare("checks", format!("{:?}", a.checks), format!("{:?}", b.checks));
    compare("limits", format!("{:?}", a.limits), format!("{:?}", b.limits));
    compare("buggify", format!("{:?}", a.buggify), format!("{:?}", b.buggify));
    compare("expect", format!("{:?}", a.expect), format!("{:?}", b.expect));
    differences
}
