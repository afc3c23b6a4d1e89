//! `wal-kv`: a single key-value server that makes every put durable in a write-ahead log
//! before acknowledging it, and clients that check no acknowledged put is ever lost across
//! server crashes, restarts, crashes inside disk operations, torn and reordered unsynced
//! writes, and disk I/O errors.
//!
//! - `server` (role `server`, exactly one): appends, group-commits with one sync per
//!   `sync_interval`, then applies and acknowledges; recovers on restart by replaying the log
//!   up to its first bad record (`record`: length + checksum framing) and cutting the rest.
//! - `client` (every other node): a put or a get of one of `keys` keys every `interval`,
//!   observing every invocation and answer; the `ledger` folds those observations, so it
//!   outlives client crashes.
//! - `reads_fresh` (invariant): every get answer obeys the ledger's freshness rule — it
//!   returns the value of a put that no put acknowledged before the get was invoked
//!   superseded in real time, and nothing only if no put of the key was acknowledged yet.
//! - `acknowledged_writes_durable` (final): the recovered server's map obeys the same rule
//!   for every key, as a read after everything, so a lost put no read happened to see is
//!   still caught.
//! - `clients_progress` (liveness): after the heal every client gets answers again (the
//!   server recovered and serves).
//! - `bug: ack_before_sync` (planted): acknowledge each put when appended, sync later.
//!
//! What the checks do not claim: the server keeps one copy of its log, so faults that
//! damage synced data (latent corruption, misdirected writes) or make reads lie (read
//! corruption, which recovery would take for a torn tail) can lose acknowledged puts by
//! design; the scenarios leave them off. No check reads a node's clock: the ledger orders
//! events by the run's observation order and stamps answers with the world's true time, so
//! clock skew cannot fake or hide a violation.

mod client;
mod ledger;
pub mod record;
mod server;

use orrery_sim::workload::{Check, CheckKind, RunInfo, WorkloadDef};
use orrery_sim::{ms, Choice, Duration, Params};

pub use client::{Client, OpId};
pub use ledger::{Ledger, LedgerError};
pub use server::{Server, LOG_PATH};

use ledger::{Checked, LedgerCheck};

/// The one message type of the workload. `id` names the client's operation; a put writes
/// its own id as the value, so every written value is unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Write the put's id as the value of `key`.
    Put { id: OpId, key: u32 },
    /// Read `key`.
    Get { id: OpId, key: u32 },
    /// The put is durable.
    PutOk { id: OpId },
    /// This copy of the put did not take effect (its append failed).
    PutFailed { id: OpId },
    /// The value the server holds for the key: the id of the put that wrote it, if any.
    GetOk { id: OpId, value: Option<OpId> },
    /// The server is recovering: the request did not take effect.
    Unavailable { id: OpId },
}

/// The planted bug a run switches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Choice)]
pub enum Bug {
    /// The correct server.
    #[default]
    None,
    /// Acknowledge each put once appended, before the group commit syncs it.
    AckBeforeSync,
}

/// wal-kv's parameters, as a scenario's `workload.params` sets them.
#[derive(Debug, Clone, Params)]
pub struct WalKvParams {
    /// Time between a client's requests (jittered by half either way).
    #[param(default = ms(5))]
    pub interval: Duration,
    /// How many keys the clients use (fewer keys: more overwrites).
    #[param(default = 4, min = 1, shrink)]
    pub keys: u32,
    /// Group commit: the server syncs appended puts this often.
    #[param(default = ms(3))]
    pub sync_interval: Duration,
    /// The planted bug switched on (none: the correct server).
    pub bug: Bug,
}

/// The `wal-kv` workload.
pub fn wal_kv() -> WorkloadDef<Message, WalKvParams> {
    // Each check folds its own ledger from the run's observations.
    let ledger = |check| {
        move |info: &RunInfo<WalKvParams>| Checked {
            check,
            ledger: Ledger::default(),
            heal_at: info.heal_at,
        }
    };
    WorkloadDef::<Message, WalKvParams>::new(
        "wal-kv",
        "a key-value server with a write-ahead log (append, sync, acknowledge; replay with \
         checksums on restart); no acknowledged put may be lost",
    )
    .requires_role("server")
    .validate(|_, topology| match topology.nodes_with_role("server").len() {
        0 | 1 => Ok(()), // none is the required role's error
        n => Err(format!("wal-kv runs exactly one server, not {n}")),
    })
    .validate(|params, _| match params.interval.is_zero() || params.sync_interval.is_zero() {
        false => Ok(()),
        true => Err("wal-kv needs an interval and a sync_interval above zero".to_string()),
    })
    .role("server", |init| Server::new(init.params))
    .role("*", |init| {
        // Load validation guarantees the one server.
        let server = init.nodes_with_role("server")[0];
        Client::new(server, init.params.interval, init.params.keys)
    })
    .check(Check::with_logic(
        "reads_fresh",
        CheckKind::Invariant,
        "no get returns a value older than a put acknowledged before it began",
        ledger(LedgerCheck::ReadsFresh),
    ))
    .check(Check::with_logic(
        "acknowledged_writes_durable",
        CheckKind::Final,
        "the recovered server holds, for every key, no value older than its latest \
         acknowledged put",
        ledger(LedgerCheck::WritesDurable),
    ))
    .check(Check::with_logic(
        "clients_progress",
        CheckKind::Liveness,
        "after heal, every client gets answers again",
        ledger(LedgerCheck::ClientsProgress),
    ))
}
