//! Helpers of the async-process tests (`tasks.rs`, `task_checks.rs`): fixed-latency links,
//! instants in milliseconds, and the user records of a run as (time, node, first value).

use std::fmt::Debug;

use orrery_sim::trace::Record;
use orrery_sim::{ms, Instant, Latency, LinkConfig, NodeId, Wire, World};

pub const N0: NodeId = NodeId(0);
pub const N1: NodeId = NodeId(1);

pub fn fixed(latency_ms: u64) -> LinkConfig {
    LinkConfig { latency: Latency::Fixed(ms(latency_ms)), ..LinkConfig::default() }
}

pub fn at(millis: u64) -> Instant {
    Instant::ZERO + ms(millis)
}

/// The records of `kind` as (time, node, first field's value).
pub fn records<M: Debug + 'static, W: Wire<M>>(
    world: &World<M, W>,
    kind: &str,
) -> Vec<(Instant, Option<NodeId>, String)> {
    world
        .trace()
        .records()
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r: &Record| {
            let value = r.fields.first().map_or(String::new(), |(_, v)| v.to_string());
            (r.time, r.node, value)
        })
        .collect()
}

/// The times of the timer events of `node`.
pub fn timers_of<M: Debug + 'static, W: Wire<M>>(
    world: &World<M, W>,
    node: NodeId,
) -> Vec<Instant> {
    let timers = world.trace().records().iter().filter(|r| r.kind == "timer");
    timers.filter(|r| r.node == Some(node)).map(|r| r.time).collect()
}
