//! `wal-kv`: a single key-value server that makes every put durable in a write-ahead log
//! before acknowledging it, and clients that check no acknowledged put is ever lost across
//! server crashes, restarts, crashes inside disk operations, torn and reordered unsynced
//! writes, and disk I/O errors.
//!
//! - `server` (role `server`, exactly one): appends, group-commits with one sync per
//!   `sync_interval`, then applies and acknowledges; recovers on restart by replaying the log
//!   up to its first bad record (`record`: length + checksum framing) and cutting the rest.
//! - `client` (every other node): a put or a get of one of `keys` keys every `interval`,
//!   every invocation and answer reported to the `ledger`, which outlives client crashes.
//! - `reads_fresh` (invariant): every get answer obeys the ledger's freshness rule — it
//!   returns the value of a put that no put acknowledged before the get was invoked
//!   superseded in real time, and nothing only if no put of the key was acknowledged yet.
//! - `acknowledged_writes_durable` (final): the recovered server's map obeys the same rule
//!   for every key, as a read after everything, so a lost put no read happened to see is
//!   still caught.
//! - `clients_progress` (liveness): after the heal every client gets answers again (the
//!   server recovered and serves).
//! - `ack_before_sync` (planted bug): acknowledge each put when appended, sync later.
//!
//! What the checks do not claim: the server keeps one copy of its log, so faults that
//! damage synced data (latent corruption, misdirected writes) or make reads lie (read
//! corruption, which recovery would take for a torn tail) can lose acknowledged puts by
//! design; the scenarios leave them off. No check reads a node's clock: the ledger orders
//! events by its own ticks and stamps answers with the world's true time, so clock skew
//! cannot fake or hide a violation.

mod client;
mod ledger;
pub mod record;
mod server;

use std::cell::RefCell;
use std::rc::Rc;

use orrery_sim::harness::{build_world, Harness};
use orrery_sim::scenario::RunPlan;
use orrery_sim::workload::{
    CheckKind, CheckResult, CheckSpec, ParamKind, ParamSpec, ParamValue, ParamsExt, Registry,
    Setup, Simulation, Workload,
};
use orrery_sim::{ms, Duration, Instant, Process};

pub use client::Client;
pub use ledger::Ledger;
pub use server::{Server, ServerSettings, LOG_PATH};

/// Adds this module's workloads to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(WalKv);
}

/// The one message type of the workload. `id` names the client's operation in the ledger;
/// a put's value is its id, so every written value is unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Put {
        id: u64,
        key: u32,
        value: u64,
    },
    Get {
        id: u64,
        key: u32,
    },
    /// The put is durable.
    PutOk {
        id: u64,
    },
    /// This copy of the put did not take effect (its append failed).
    PutFailed {
        id: u64,
    },
    GetOk {
        id: u64,
        value: Option<u64>,
    },
    /// The server is recovering: the request did not take effect.
    Unavailable {
        id: u64,
    },
}

/// The `wal-kv` workload.
pub struct WalKv;

impl Workload for WalKv {
    fn name(&self) -> &'static str {
        "wal-kv"
    }

    fn description(&self) -> &'static str {
        "a key-value server with a write-ahead log (append, sync, acknowledge; replay with \
         checksums on restart); no acknowledged put may be lost"
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "interval",
                kind: ParamKind::Duration,
                default: ParamValue::Duration(ms(5)),
                doc: "time between a client's requests",
            },
            ParamSpec {
                name: "keys",
                kind: ParamKind::Int,
                default: ParamValue::Int(4),
                doc: "how many keys the clients use (fewer keys: more overwrites)",
            },
            ParamSpec {
                name: "sync_interval",
                kind: ParamKind::Duration,
                default: ParamValue::Duration(ms(3)),
                doc: "group commit: the server syncs appended puts this often",
            },
            ParamSpec {
                name: "ack_before_sync",
                kind: ParamKind::Bool,
                default: ParamValue::Bool(false),
                doc: "planted bug: acknowledge a put once appended, before it is synced",
            },
        ]
    }

    fn checks(&self) -> Vec<CheckSpec> {
        vec![
            CheckSpec {
                name: "reads_fresh",
                kind: CheckKind::Invariant,
                doc: "no get returns a value older than a put acknowledged before it began",
            },
            CheckSpec {
                name: "acknowledged_writes_durable",
                kind: CheckKind::Final,
                doc: "the recovered server holds, for every key, no value older than its \
                      latest acknowledged put",
            },
            CheckSpec {
                name: "clients_progress",
                kind: CheckKind::Liveness,
                doc: "after heal, every client gets answers again",
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
/// drive it and look inside (disk statistics, the server's state).
pub fn build(plan: &RunPlan, setup: &Setup<'_>) -> Result<Harness<Message>, String> {
    let servers = plan.topology.nodes_with_role("server");
    let [server] = servers[..] else {
        return Err(format!("wal-kv needs exactly one server node, not {}", servers.len()));
    };
    let keys = u32::try_from(setup.params.int("keys"))
        .ok()
        .filter(|&keys| keys > 0)
        .ok_or("wal-kv needs keys between 1 and 2^32 - 1")?;
    let interval = positive(setup.params.duration("interval"), "interval")?;
    let settings = ServerSettings {
        sync_interval: positive(setup.params.duration("sync_interval"), "sync_interval")?,
        recovery_retry: ms(1),
        ack_before_sync: setup.params.flag("ack_before_sync"),
    };
    let ledger = Rc::new(RefCell::new(Ledger::default()));
    let world = build_world::<Message>(plan, setup, |spec| {
        let ledger = ledger.clone();
        Some(if spec.role == "server" {
            Box::new(move |_| Box::new(Server::new(settings)) as Box<dyn Process<Message>>)
        } else {
            Box::new(move |_| {
                let ledger = ledger.clone();
                Box::new(Client { server, interval, keys, ledger }) as Box<dyn Process<Message>>
            })
        })
    })?;
    let heal_at = Instant::ZERO + plan.phases.chaos;
    let (reads, finals) = (ledger.clone(), ledger.clone());
    let harness = Harness::new(world, &plan.checks)
        .invariant("reads_fresh", move |_| match reads.borrow().violation() {
            Some(violation) => Err(violation.to_string()),
            None => Ok(()),
        })
        .final_check("acknowledged_writes_durable", move |world| {
            let ledger = finals.borrow();
            let Some(server) = world.process::<Server>(server).filter(|s| s.ready) else {
                return CheckResult::Fail("the server has not recovered".to_string());
            };
            for key in ledger.acknowledged_keys() {
                let value = server.map.get(&key).copied();
                if let Err(why) = ledger.fresh(key, value, u64::MAX) {
                    return CheckResult::Fail(format!(
                        "the recovered server holds {value:?} for key {key}: {why}"
                    ));
                }
            }
            CheckResult::Pass
        })
        .liveness("clients_progress", move |world| {
            let ledger = ledger.borrow();
            let stuck: Vec<String> = world
                .topology()
                .nodes()
                .filter(|&node| node != server)
                .filter(|&node| ledger.last_success_at(node).is_none_or(|at| at < heal_at))
                .map(|node| node.to_string())
                .collect();
            if stuck.is_empty() {
                Ok(())
            } else {
                Err(format!("no answer since the heal for {}", stuck.join(", ")))
            }
        })
        // A green sweep must not hide a fault mix that never reached the recovery paths.
        .sometimes("wal-kv: recovery cut a torn tail off the log", move |world| {
            world.process::<Server>(server).is_some_and(|s| s.torn_tail_cut)
        })
        .sometimes("wal-kv: recovery replayed logged puts", move |world| {
            world.process::<Server>(server).is_some_and(|s| s.records_replayed > 0)
        })
        .sometimes("wal-kv: recovery retried after a disk error", move |world| {
            world.process::<Server>(server).is_some_and(|s| s.recovery_retries > 0)
        });
    Ok(harness)
}

fn positive(duration: Duration, name: &str) -> Result<Duration, String> {
    if duration.is_zero() {
        Err(format!("wal-kv needs a {name} above zero"))
    } else {
        Ok(duration)
    }
}
