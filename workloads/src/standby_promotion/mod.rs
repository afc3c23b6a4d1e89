//! `standby-promotion`: a primary with a standby that replicates its state; on the
//! primary's failure the standby is promoted, and the old primary rejoins as standby.
//! (Work in progress: the declaration of checks follows.)

mod accounts;
mod client;
mod message;
mod replica;
mod storage;

use orrery_sim::workload::WorkloadDef;
use orrery_sim::{ms, Choice, Duration, Params};

pub use accounts::{Account, Accounts};
pub use client::Client;
pub use message::{Entry, Message};
pub use replica::{Config, Primary, Replica, Role};

/// The planted bug a run switches on (at most one: they are exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Choice)]
pub enum Bug {
    /// The correct protocol.
    #[default]
    None,
    /// The standby promotes itself in the ballot it already promised.
    PromoteWithoutFencing,
    /// The primary acknowledges a write once it is on its own disk.
    AckBeforeStandby,
    /// A deposed primary ignores replication instead of rejoining as standby.
    DeposedPrimaryStaysOut,
}

/// standby-promotion's parameters, as a scenario's `workload.params` sets them.
#[derive(Debug, Clone, Params)]
pub struct StandbyParams {
    /// Time between a primary's heartbeats (and resends).
    #[param(default = ms(20))]
    pub heartbeat_interval: Duration,
    /// Silence from the primary after which a standby promotes itself (randomized up to
    /// twice this).
    #[param(default = ms(100))]
    pub failover_timeout: Duration,
    /// Most entries in one append.
    #[param(default = 32, min = 1)]
    pub entries_per_append: usize,
    /// Longest pause between a client's operations.
    #[param(default = ms(20))]
    pub think_time: Duration,
    /// Silence after which a client asks the other replica.
    #[param(default = ms(50))]
    pub request_timeout: Duration,
    /// The planted bug switched on (none: the correct protocol).
    pub bug: Bug,
}

/// The `standby-promotion` workload.
pub fn standby_promotion() -> WorkloadDef<Message, StandbyParams> {
    WorkloadDef::<Message, StandbyParams>::new(
        "standby-promotion",
        "a primary and a standby replicating its state; the standby is promoted on failure",
    )
    .requires_role("replica")
    .role("replica", |init| {
        let replicas = init.nodes_with_role("replica");
        Replica::new(Config::new(init.params, replicas, init.node))
    })
    .role("*", |init| Client::new(init.params, init.nodes_with_role("replica")))
}
