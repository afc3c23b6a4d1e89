//! A small workload for the control tests: pingers ping a ponger every `interval`; a
//! liveness check wants every pinger to have heard a pong within the last 20ms, and an
//! invariant never fails unless `fail_after` pongs have arrived (a planted violation).

use std::sync::Arc;

use crate::time::{ms, Duration, Instant};
use crate::workload::{Check, NodeInit, Run, WorkloadDef};
use crate::{NodeApi, NodeId, Params, Process, Registry, TimerId};

#[derive(Debug, Clone)]
pub(crate) enum Msg {
    Ping,
    Pong,
}

#[derive(Debug, Clone, Params)]
pub(crate) struct PingParams {
    /// Time between a pinger's pings.
    #[param(default = ms(2))]
    pub interval: Duration,
    /// The invariant fails once any pinger has this many pongs (0: never).
    #[param(default = 0)]
    pub fail_after: i64,
}

pub(crate) struct Ponger;

impl<N: NodeApi<Msg>> Process<Msg, N> for Ponger {
    fn on_message(&mut self, node: &mut N, from: NodeId, _message: Msg) {
        node.send(from, Msg::Pong);
    }
}

pub(crate) struct Pinger {
    peer: NodeId,
    interval: Duration,
    pub(crate) pongs: u64,
    pub(crate) last_pong: Option<Instant>,
}

impl<N: NodeApi<Msg>> Process<Msg, N> for Pinger {
    fn on_start(&mut self, node: &mut N) {
        node.set_timer(self.interval, 0);
    }
    fn on_message(&mut self, node: &mut N, _from: NodeId, _message: Msg) {
        self.pongs += 1;
        self.last_pong = Some(node.now());
    }
    fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
        node.send(self.peer, Msg::Ping);
        node.set_timer(self.interval, 0);
    }
}

fn ping() -> WorkloadDef<Msg, PingParams> {
    WorkloadDef::<Msg, PingParams>::new("ping", "pingers ping a ponger")
        .requires_role("ponger")
        .role("ponger", |_: &NodeInit<'_, PingParams>| Ponger)
        .role("*", |init: &NodeInit<'_, PingParams>| Pinger {
            peer: init.nodes_with_role("ponger")[0],
            interval: init.params.interval,
            pongs: 0,
            last_pong: None,
        })
        .check(Check::liveness(
            "pongs_recent",
            "every pinger heard a pong in 20ms",
            |run: &Run<'_, Msg, PingParams>| {
                let now = run.world.now();
                match run
                    .world
                    .processes_of::<Pinger>()
                    .find(|(_, p)| p.last_pong.is_none_or(|at| now.saturating_since(at) > ms(20)))
                {
                    Some((node, _)) => Err(format!("{node} heard no pong in the last 20ms")),
                    None => Ok(()),
                }
            },
        ))
        .check(Check::invariant(
            "pongs_bounded",
            "no pinger exceeds fail_after",
            |run: &Run<'_, Msg, PingParams>| {
                let limit = run.params.fail_after;
                match run
                    .world
                    .processes_of::<Pinger>()
                    .find(|(_, p)| limit > 0 && p.pongs >= limit as u64)
                {
                    Some((node, _)) => Err(format!("{node} reached {limit} pongs")),
                    None => Ok(()),
                }
            },
        ))
}

pub(crate) fn registry() -> Arc<Registry> {
    Arc::new(Registry::new().with(ping()))
}

/// A scenario of the ping workload: a ponger, two pingers, lossy enough to be interesting.
pub(crate) fn scenario_yaml(fail_after: u64) -> String {
    format!(
        r#"name: ping-control
description: pingers and a ponger for the control tests
topology:
  nodes:
    - {{name: p0, role: ponger}}
    - {{name: c1, role: pinger}}
    - {{name: c2, role: pinger}}
network:
  latency: {{kind: uniform, min: 100us, max: 900us}}
  loss_probability: 0.05
workload:
  name: ping
  params: {{interval: 2ms, fail_after: {fail_after}}}
faults:
  - {{at: 30ms, kind: partition, groups: [[p0], [c1, c2]], duration: 5ms}}
phases: {{chaos: 100ms, heal: 10ms, converge_deadline: 1s}}
checks: [pongs_recent, pongs_bounded]
limits: {{vtime_max: 1h}}
seeds: 0..1
"#
    )
}

/// The plan of that scenario for `seed`.
pub(crate) fn plan(seed: u64, fail_after: u64) -> crate::scenario::RunPlan {
    let registry = registry();
    let scenario = crate::scenario::parse(
        "ping-control.yaml",
        scenario_yaml(fail_after).as_bytes(),
        &registry,
    )
    .unwrap_or_else(|errors| panic!("the test scenario loads: {errors}"));
    scenario.sample(seed)
}
