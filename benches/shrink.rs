//! How shrink time grows with the number of faults: two planted bugs whose schedules are made
//! denser step by step (restarts of a producer every 48ms down to every 3ms; Raft servers
//! crashing every 100-300ms down to every 12-36ms), each variant's smallest failing seed
//! shrunk on two threads. Throughput is in fault entries of the original plan; each variant
//! also prints what the shrink reached (entries left, candidates), the same on every run.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use orrery_sim::runner::{run_plan, RunOptions};
use orrery_sim::scenario::{self, RunPlan};
use orrery_sim::shrink::{self, fault_count, Quiet, ShrinkOptions};
use orrery_sim::workload::Registry;

const RESTARTS: &str = "name: restarts
topology:
  nodes:
    - {name: p0, role: producer}
    - {name: p1, role: producer}
    - {name: k0, role: consumer}
network: {latency: {kind: uniform, min: 500us, max: 3ms}, loss_probability: 0.1}
workload:
  name: dedup-restart
  params: {events: 120, batch_size: 4, window: 16, batch_interval: 15ms, resend_interval: 15ms, bug: no_resend_after_restart}
faults:
  - {every: EVERY, after: 30ms, until: 600ms, kind: restart, node: {role: producer}}
phases: {chaos: 600ms, heal: 20ms, converge_deadline: 1s}
checks: [effects_at_most_once, effects_exactly_once]
limits: {vtime_max: 10s}
";

const CRASHES: &str = "name: crashes
topology: {nodes: [{name: s0, role: server}, {name: s1, role: server}, {name: s2, role: server}]}
network: {latency: {kind: uniform, min: 1ms, max: 10ms}, loss_probability: 0.1}
disk: {crash_unsynced: lost}
workload:
  name: raft-kv
  params: {bug: vote_not_persisted, election_timeout_min: 150ms, election_timeout_max: 160ms}
faults:
  - {at: 0ms, kind: partition, one_way: {from: [s0], to: [s1]}}
swarm:
  crash: {probability: 1.0, interval: [LOW, HIGH], duration: [1ms, 20ms]}
phases: {chaos: 5s, heal: 200ms, converge_deadline: 3s}
checks: [one_leader_per_term, log_matching, state_machine_safety, leader_elected]
";

/// The smallest failing seed's plan of `text`.
fn failing_plan(text: &str, registry: &Registry) -> RunPlan {
    let scenario = scenario::parse("bench.yaml", text.as_bytes(), registry)
        .unwrap_or_else(|errors| panic!("{errors}"));
    (0..200)
        .map(|seed| scenario.sample(seed))
        .find(|plan| run_plan(plan, registry, RunOptions::default()).0.failure.is_some())
        .unwrap_or_else(|| panic!("no failing seed in 0..200 of\n{text}"))
}

fn shrinking(c: &mut Criterion) {
    let registry = Arc::new(orrery_workloads::registry());
    let options = ShrinkOptions { jobs: 2, ..ShrinkOptions::default() };
    let mut variants = Vec::new();
    for every in ["48ms", "24ms", "12ms", "6ms", "3ms"] {
        variants.push((format!("restarts_every_{every}"), RESTARTS.replace("EVERY", every)));
    }
    for (low, high) in [("100ms", "300ms"), ("50ms", "150ms"), ("25ms", "75ms"), ("12ms", "36ms")] {
        let text = CRASHES.replace("LOW", low).replace("HIGH", high);
        variants.push((format!("crashes_every_{low}_to_{high}"), text));
    }
    let mut group = c.benchmark_group("shrink");
    group.sample_size(10);
    for (name, text) in variants {
        let plan = failing_plan(&text, &registry);
        let once = shrink::shrink(&plan, &registry, &options, &mut Quiet).expect("shrinks");
        eprintln!(
            "{name}: seed {}, {} faults -> {}, {} events -> {}, {} candidates ({:?})",
            plan.seed,
            fault_count(&plan),
            fault_count(&once.plan),
            once.original_report.events,
            once.report.events,
            once.candidates,
            once.ending
        );
        group.throughput(Throughput::Elements(fault_count(&plan) as u64));
        group.bench_function(name, |b| {
            b.iter(|| shrink::shrink(&plan, &registry, &options, &mut Quiet).expect("shrinks"))
        });
    }
    group.finish();
}

criterion_group!(benches, shrinking);
criterion_main!(benches);
