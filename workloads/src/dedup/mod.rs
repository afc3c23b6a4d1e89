//! `dedup-restart`: producers that persist a nonce and sequence numbers and resend after a
//! crash, and a consumer that deduplicates on (nonce, seq); every event must take effect
//! exactly once across producer crashes mid-batch, lost acknowledgements and torn writes of
//! the state file.
//!
//! - `producer` (role `producer`, one or more): reserves batches durably, then sends; resends
//!   until acknowledged; recovers nonce and sequence numbers from two checksummed slots
//!   (`state`) so a torn write never loses them.
//! - `consumer` (role `consumer`, exactly one): applies each new (nonce, seq), acknowledges
//!   every copy. Not crashed by the scenarios: its memory is the effect being checked.
//!
//! # What "exactly once" means here
//!
//! An *event* is (producer, number), as its payload says. It is *produced* once the
//! producer's disk durably says so: the reservation covering its number was synced, or
//! survived a crash and was recovered. A producer that crashes before its reservation is
//! durable never produced that batch — nothing of it was sent — and reuses its numbers. Then:
//!
//! Producers observe `produced` after every durable reservation and recovery, the consumer
//! observes `applied` for every new (nonce, seq); the checks fold those observations (see
//! `ledger`), so they see what a producer claimed before it crashed.
//!
//! - `effects_at_most_once` (invariant, after every event): no event takes effect twice, and
//!   none takes effect before it is produced.
//! - `effects_exactly_once` (liveness): after the heal, every producer produces all its
//!   `events` events and each takes effect (so, with the invariant, exactly once).
//! - `bug: nonce_not_persisted` (planted): a restarted producer picks a fresh nonce, so its
//!   resends of events already applied look new to the consumer.
//! - `bug: one_state_slot` (planted): the state is overwritten in place, so a torn write of
//!   the state file loses nonce and sequence numbers together.
//! - `bug: no_resend_after_restart` (planted): a restarted producer resends nothing, so
//!   events lost in flight before its crash never take effect (the liveness check's bug).

mod consumer;
mod ledger;
mod producer;
pub mod state;

use orrery_sim::workload::{Check, CheckKind, RunInfo, WorkloadDef};
use orrery_sim::{ms, Choice, Duration, Params};

pub use consumer::Consumer;
pub use ledger::{Ledger, LedgerError, Payload};
pub use producer::Producer;

use ledger::Effects;

/// The one message type of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An event, under the producer's nonce and the event's sequence number.
    Event {
        /// Names the producer's stream at the consumer.
        nonce: u64,
        /// The event's number in that stream.
        seq: u64,
        /// What the event says.
        payload: Payload,
    },
    /// The consumer holds the event (nonce, seq): it need not be resent.
    Ack {
        /// The acknowledged event's nonce.
        nonce: u64,
        /// The acknowledged event's number.
        seq: u64,
    },
}

/// The planted bug a run switches on (at most one: they are exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Choice)]
pub enum Bug {
    /// The correct producer.
    #[default]
    None,
    /// A restarted producer picks a fresh nonce.
    NonceNotPersisted,
    /// One state slot, overwritten in place.
    OneStateSlot,
    /// No resends of what was sent before a crash.
    NoResendAfterRestart,
}

/// dedup-restart's parameters, as a scenario's `workload.params` sets them.
#[derive(Debug, Clone, Params)]
pub struct DedupParams {
    /// How many events each producer makes.
    #[param(default = 120, min = 1, shrink)]
    pub events: u64,
    /// Events reserved by one durable state write.
    #[param(default = 4, min = 1)]
    pub batch_size: u64,
    /// No new batch while this many events are unacknowledged.
    #[param(default = 16, min = 1)]
    pub window: u64,
    /// Time between a producer's batch attempts.
    #[param(default = ms(15))]
    pub batch_interval: Duration,
    /// Time between resends of unacknowledged events.
    #[param(default = ms(15))]
    pub resend_interval: Duration,
    /// The planted bug switched on (none: the correct producer).
    pub bug: Bug,
}

/// The `dedup-restart` workload.
pub fn dedup_restart() -> WorkloadDef<Message, DedupParams> {
    WorkloadDef::<Message, DedupParams>::new(
        "dedup-restart",
        "producers persist a nonce and sequence numbers and resend after crashes; the consumer \
         deduplicates on (nonce, seq); every event must take effect exactly once",
    )
    .requires_role("producer")
    .requires_role("consumer")
    .validate(|_, topology| match topology.nodes_with_role("consumer").len() {
        0 | 1 => Ok(()), // none is the required role's error
        n => Err(format!("dedup-restart runs exactly one consumer, not {n}")),
    })
    .validate(|params, _| {
        let rule = "dedup-restart needs a batch_interval and a resend_interval above zero";
        match params.batch_interval.is_zero() || params.resend_interval.is_zero() {
            false => Ok(()),
            true => Err(rule.to_string()),
        }
    })
    .role("producer", |init| {
        // Load validation guarantees the one consumer.
        Producer::new(init.params, init.nodes_with_role("consumer")[0])
    })
    .role("consumer", |_| Consumer::default())
    .check(Check::with_logic(
        "effects_at_most_once",
        CheckKind::Invariant,
        "no event takes effect twice, or before its producer durably produced it",
        |_| Effects { ledger: Ledger::default(), exactly_once: None },
    ))
    .check(Check::with_logic(
        "effects_exactly_once",
        CheckKind::Liveness,
        "after heal, every producer's events are all produced and took effect",
        |info: &RunInfo<DedupParams>| Effects {
            ledger: Ledger::default(),
            exactly_once: Some((info.topology.nodes_with_role("producer"), info.params.events)),
        },
    ))
}
