//! `standby-promotion`: a primary with a standby that replicates its state synchronously; on
//! the primary's failure the standby is promoted, fencing the old primary out; the old
//! primary rejoins as standby. After the net-mesh seed's primary/standby failover.
//!
//! # The protocol
//!
//! Exactly two `replica`s; every other node is a client (`client`) depositing into its own
//! account, one operation at a time, retried until acknowledged (the state is `accounts`: an
//! account per client session, a retried operation applied once).
//! - **Ballots and fencing.** Each replica keeps on disk the highest ballot it has promised
//!   (its fence) and a log of entries, each tagged with the ballot of the primary that
//!   appended it (`storage`). Ballots are partitioned between the replicas (`ballot mod 2` is
//!   the replica's index), so no two promotions ever choose one ballot. A replica accepts
//!   an append only of a ballot at or above its fence, raising the fence first (durably)
//!   and, if it was primary, stepping down; an append below its fence is answered `Fenced`,
//!   which deposes the sender.
//! - **Writes.** The primary appends a client's write to its log and syncs, then replicates
//!   it (`Append` with the previous index and ballot, as Raft's log matching does); the
//!   standby syncs the entries, truncating a conflicting suffix first, and replies with the
//!   index up to which its log equals the primary's. The mode is synchronous: a write is
//!   acknowledged (`WriteOk`) only once it is on both disks.
//! - **Promotion.** The role is volatile: every replica (re)starts as a standby. A standby
//!   that hears nothing from a primary for a randomized `failover_timeout` (up to twice it)
//!   promotes itself: a ballot above its fence, durable before anything is sent in it; its
//!   whole log is the promoted state. The first replica bootstraps as the first primary.
//!   A primary heartbeats (resending everything the standby has not confirmed) every
//!   `heartbeat_interval`.
//!
//! Two replicas and synchronous acknowledgement make a choice: with one replica down or cut
//! off, nothing is acknowledged (no write can be on both disks); the protocol keeps safety,
//! and liveness returns after the heal.
//!
//! # Checks
//!
//! - `promoted_state_exact` (invariant): every promotion takes exactly the fold of a prefix of
//!   each session's operations that contains every operation acknowledged before it — no
//!   acknowledged write lost, none applied twice, nothing invented (see `checks`).
//! - `single_primary` (invariant): at most one primary accepts (acknowledges) writes at any
//!   time: the acknowledgements of different primary tenures never interleave, and each new
//!   tenure acknowledges in a ballot above every earlier one's (the fencing token).
//! - `replicas_converge` (liveness): after the heal, one replica is primary and the other
//!   follows it as standby, holding everything the primary committed; a promotion of the
//!   standby then would take an exact state.
//! - `clients_progress` (liveness): after the heal, every client has a write acknowledged.
//!
//! # Planted bugs (`bug`) and expected outcomes
//!
//! Each is found by its scenario in `scenarios/bugs/standby-promotion-*.yaml`;
//! `workloads/tests/standby_promotion.rs` states in how many of the stated seeds.
//! - `promote_without_fencing`: the standby promotes itself in the ballot it already
//!   promised, the old primary's; when a partition cuts the two apart, both accept writes in
//!   one ballot, and after the heal each takes the other's entries as its own:
//!   `single_primary` (a new primary acknowledging in the old one's ballot, or both
//!   acknowledging at once), in a few seeds `promoted_state_exact` first (divergent logs).
//! - `ack_before_standby`: the primary acknowledges a write once it is on its own disk, though
//!   the mode promises both; a crash of the primary or a partition before the standby has it,
//!   then a promotion, loses it: `promoted_state_exact`.
//! - `deposed_primary_stays_out`: a deposed primary ignores replication instead of rejoining
//!   as standby, so the new primary can never have a write on both disks:
//!   `replicas_converge`, `clients_progress`.
//!
//! The correct protocol passes `scenarios/smoke/standby-promotion.yaml` (crashes of the
//! primary, of the standby and of both, power cuts inside syncs, partitions between them,
//! lossy links) and `scenarios/chaos/standby-promotion.yaml` (every swarm family).

mod accounts;
mod checks;
mod client;
mod message;
mod replica;
mod storage;

use orrery_sim::workload::{Check, CheckKind, WorkloadDef};
use orrery_sim::{ms, Choice, Duration, Params};

pub use accounts::{Account, Accounts};
pub use checks::{Converge, Ledger, PromotedState, SinglePrimary};
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
        "a primary and a standby replicating it synchronously; the standby is promoted on \
         failure with a fencing ballot, the old primary rejoins as standby",
    )
    .requires_role("replica")
    .validate(|_, topology| match topology.nodes_with_role("replica").len() {
        0 | 2 => Ok(()), // none is the required role's error
        n => Err(format!("standby-promotion runs exactly two replicas, not {n}")),
    })
    .validate(|params, _| {
        let intervals = [
            ("heartbeat_interval", params.heartbeat_interval),
            ("failover_timeout", params.failover_timeout),
            ("request_timeout", params.request_timeout),
        ];
        match intervals.iter().find(|(_, value)| value.is_zero()) {
            None => Ok(()),
            Some((name, _)) => Err(format!(
                "{name} must be above zero (its timer would fire forever at one instant)"
            )),
        }
    })
    .validate(|params, _| match params.heartbeat_interval < params.failover_timeout {
        true => Ok(()),
        false => Err(format!(
            "heartbeat_interval ({}) must be below failover_timeout ({}), or a standby \
             promotes itself between two heartbeats of a live primary",
            params.heartbeat_interval, params.failover_timeout
        )),
    })
    .role("replica", |init| {
        let replicas = init.nodes_with_role("replica");
        Replica::new(Config::new(init.params, replicas, init.node))
    })
    .role("*", |init| Client::new(init.params, init.nodes_with_role("replica")))
    .check(Check::with_logic(
        "promoted_state_exact",
        CheckKind::Invariant,
        "every promotion takes the acknowledged operations exactly: none lost, none twice",
        |_| PromotedState::default(),
    ))
    .check(Check::with_logic(
        "single_primary",
        CheckKind::Invariant,
        "at most one primary acknowledges writes at any time, each new one in a higher ballot",
        |_| SinglePrimary::default(),
    ))
    .check(Check::with_logic(
        "replicas_converge",
        CheckKind::Liveness,
        "after heal, one primary and its standby holding everything it committed",
        |_| Converge::default(),
    ))
    .liveness(
        "clients_progress",
        "after heal, every client has a write acknowledged",
        checks::clients_progress,
    )
}
