//! Reference systems under test, with their clients, checks and planted-bug switches. Each
//! module registers its workloads with the runner through `registry()`.

mod checksum;
pub mod dedup;
pub mod echo;
pub mod raft_kv;
pub mod replog;
pub mod wal_kv;

use orrery_sim::workload::Registry;

/// Every reference workload, for the `orrery` binary and tests.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(echo::Echo);
    dedup::register(&mut registry);
    raft_kv::register(&mut registry);
    replog::register(&mut registry);
    wal_kv::register(&mut registry);
    registry
}
