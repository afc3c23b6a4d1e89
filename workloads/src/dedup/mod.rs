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
//! - `effects_at_most_once` (invariant, after every event): no event takes effect twice, and
//!   none takes effect before it is produced.
//! - `effects_exactly_once` (liveness): after the heal, every producer produces all its
//!   `events` events and each takes effect (so, with the invariant, exactly once).
//! - `nonce_not_persisted` (planted bug): a restarted producer picks a fresh nonce, so its
//!   resends of events already applied look new to the consumer.
//! - `one_state_slot` (planted bug): the state is overwritten in place, so a torn write of
//!   the state file loses nonce and sequence numbers together.
//! - `no_resend_after_restart` (planted bug): a restarted producer resends nothing, so
//!   events lost in flight before its crash never take effect (the liveness check's bug).

mod consumer;
mod ledger;
mod producer;
pub mod state;

use std::cell::RefCell;
use std::rc::Rc;

use orrery_sim::harness::{build_world, Harness};
use orrery_sim::scenario::RunPlan;
use orrery_sim::workload::{
    CheckKind, CheckSpec, ParamKind, ParamSpec, ParamValue, ParamsExt, Registry, Setup, Simulation,
    Workload,
};
use orrery_sim::{ms, Duration, Process};

pub use consumer::Consumer;
pub use ledger::{Ledger, Payload};
pub use producer::{Producer, ProducerSettings};

/// Adds this module's workloads to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(DedupRestart);
}

/// The one message type of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An event, under the producer's nonce and the event's sequence number.
    Event {
        nonce: u64,
        seq: u64,
        payload: Payload,
    },
    Ack {
        nonce: u64,
        seq: u64,
    },
}

/// The `dedup-restart` workload.
pub struct DedupRestart;

impl Workload for DedupRestart {
    fn name(&self) -> &'static str {
        "dedup-restart"
    }

    fn description(&self) -> &'static str {
        "producers persist a nonce and sequence numbers and resend after crashes; the consumer \
         deduplicates on (nonce, seq); every event must take effect exactly once"
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        let int = |name, default, doc| ParamSpec {
            name,
            kind: ParamKind::Int,
            default: ParamValue::Int(default),
            doc,
        };
        let duration = |name, default, doc| ParamSpec {
            name,
            kind: ParamKind::Duration,
            default: ParamValue::Duration(default),
            doc,
        };
        let flag = |name, doc| ParamSpec {
            name,
            kind: ParamKind::Bool,
            default: ParamValue::Bool(false),
            doc,
        };
        vec![
            int("events", 120, "how many events each producer makes"),
            int("batch_size", 4, "events reserved by one durable state write"),
            int("window", 16, "no new batch while this many events are unacknowledged"),
            duration("batch_interval", ms(15), "time between a producer's batch attempts"),
            duration("resend_interval", ms(15), "time between resends of unacknowledged events"),
            flag("nonce_not_persisted", "planted bug: a restarted producer picks a fresh nonce"),
            flag("one_state_slot", "planted bug: one state slot, overwritten in place"),
            flag(
                "no_resend_after_restart",
                "planted bug: no resends of what was sent before a crash",
            ),
        ]
    }

    fn checks(&self) -> Vec<CheckSpec> {
        vec![
            CheckSpec {
                name: "effects_at_most_once",
                kind: CheckKind::Invariant,
                doc: "no event takes effect twice, or before its producer durably produced it",
            },
            CheckSpec {
                name: "effects_exactly_once",
                kind: CheckKind::Liveness,
                doc: "after heal, every producer's events are all produced and took effect",
            },
        ]
    }

    fn instantiate(
        &self,
        plan: &RunPlan,
        setup: &Setup<'_>,
    ) -> Result<Box<dyn Simulation>, String> {
        Ok(Box::new(build(plan, setup)?))
    }
}

/// The world of one run with its checks, as `instantiate` builds it; public so tests can
/// drive it and look inside.
pub fn build(plan: &RunPlan, setup: &Setup<'_>) -> Result<Harness<Message>, String> {
    let consumers = plan.topology.nodes_with_role("consumer");
    let [consumer] = consumers[..] else {
        return Err(format!("dedup-restart needs one consumer node, not {}", consumers.len()));
    };
    let producers = plan.topology.nodes_with_role("producer");
    if producers.is_empty() {
        return Err("dedup-restart needs at least one node with role: producer".to_string());
    }
    let count = |name: &str| {
        u64::try_from(setup.params.int(name))
            .ok()
            .filter(|&n| n > 0)
            .ok_or(format!("dedup-restart needs {name} above zero"))
    };
    let period = |name: &str| {
        Some(setup.params.duration(name))
            .filter(|d| !d.is_zero())
            .ok_or(format!("dedup-restart needs {name} above zero"))
    };
    let settings = ProducerSettings {
        events: count("events")?,
        batch_size: count("batch_size")?,
        window: count("window")?,
        batch_interval: period("batch_interval")?,
        resend_interval: period("resend_interval")?,
        recovery_retry: Duration::from_millis(1),
        nonce_not_persisted: setup.params.flag("nonce_not_persisted"),
        one_state_slot: setup.params.flag("one_state_slot"),
        no_resend_after_restart: setup.params.flag("no_resend_after_restart"),
    };
    let ledger = Rc::new(RefCell::new(Ledger::default()));
    let world = build_world::<Message>(plan, setup, |spec| {
        let ledger = ledger.clone();
        Some(if spec.role == "producer" {
            Box::new(move |_| {
                Box::new(Producer::new(settings, consumer, ledger.clone()))
                    as Box<dyn Process<Message>>
            })
        } else {
            Box::new(move |_| Box::new(Consumer::new(ledger.clone())) as Box<dyn Process<Message>>)
        })
    })?;
    let effects = ledger.clone();
    let harness = Harness::new(world, &plan.checks)
        .invariant("effects_at_most_once", move |_| match effects.borrow().violation() {
            Some(violation) => Err(violation.to_string()),
            None => Ok(()),
        })
        .liveness("effects_exactly_once", move |_| {
            match ledger.borrow().incomplete(&producers, settings.events) {
                Some(why) => Err(why),
                None => Ok(()),
            }
        })
        // A green sweep must not hide a fault mix that never reached the paths under test.
        .sometimes("dedup: a producer recovered past a damaged state slot", |world| {
            world.processes_of::<Producer>().any(|(_, p)| p.damaged_slot_survived)
        })
        .sometimes("dedup: a restarted producer resent unacknowledged events", |world| {
            world.processes_of::<Producer>().any(|(_, p)| p.resent_at_recovery > 0)
        })
        .sometimes("dedup: the consumer dropped a duplicate", move |world| {
            world.process::<Consumer>(consumer).is_some_and(|c| c.duplicates_dropped > 0)
        });
    Ok(harness)
}
