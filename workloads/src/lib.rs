//! Reference systems under test, with their clients, checks and planted-bug switches. Each
//! module registers its workloads with the runner through `registry()`.

pub mod dedup;
pub mod echo;
pub mod echo_async;
pub mod raft_kv;
pub mod replog;
pub mod standby_promotion;
pub mod stream_backpressure;
pub mod wal_kv;

use orrery_sim::workload::Registry;

/// Every reference workload, for the `orrery` binary and tests.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(echo::echo());
    registry.register(echo_async::echo_async());
    registry.register(dedup::dedup_restart());
    registry.register(raft_kv::raft_kv());
    registry.register(replog::replog());
    registry.register(wal_kv::wal_kv());
    registry.register(stream_backpressure::stream_backpressure());
    registry.register(standby_promotion::standby_promotion());
    registry
}
