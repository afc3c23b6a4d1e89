//! `raft-kv`: our own Raft serving a key-value store, with clients whose history must be
//! linearizable, and five planted bugs that the checks must catch.
//!
//! - Nodes with role `server` run Raft (`node`): term, vote and log persist on the simulated
//!   disk (`storage`, `log`) and are synced before anything depending on them is sent; a
//!   restarted server recovers from its disk alone. Committed entries apply to a key-value
//!   store (`kv`). Every other node is a client (`client`) doing gets, puts and appends.
//! - Invariants after every event (`checks`): `one_leader_per_term`, `log_matching`,
//!   `state_machine_safety`. Liveness after heal: `leader_elected`, `clients_progress`.
//!   Final: `linearizable` (the step budget running out is reported as unknown).
//! - Planted bugs, one parameter each (`node::Bugs`), each found by a scenario in
//!   `scenarios/bugs/raft-kv-*.yaml`.

mod checks;
mod client;
mod kv;
mod log;
mod message;
mod node;
mod storage;

use std::cell::RefCell;
use std::rc::Rc;

use orrery_sim::harness::{build_world, Harness};
use orrery_sim::scenario::RunPlan;
use orrery_sim::workload::{
    CheckKind, CheckSpec, ParamKind, ParamSpec, ParamValue, ParamsExt, Registry, Setup, Simulation,
    Workload,
};
use orrery_sim::{Duration, Instant, Process};

pub use checks::linearizable;
pub use client::{Client, ClientConfig, Recorder};
pub use message::{Answer, Command, Entry, Message, Op};
pub use node::{Bugs, Config, Replica, Role, Server};

/// Adds this module's workloads to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(RaftKv);
}

/// The planted bugs: parameter name and what it breaks (read into `Bugs` by `build`).
const BUGS: [(&str, &str); 5] = [
    ("vote_not_persisted", "planted bug: reply to a vote request before syncing term and vote"),
    ("ack_before_fsync", "planted bug: acknowledge appended entries before syncing the log"),
    (
        "commit_previous_term",
        "planted bug: commit an earlier term's entry by counting replicas (figure 8)",
    ),
    ("no_step_down", "planted bug: a leader that sees a higher term adopts it but keeps leading"),
    ("stale_reads", "planted bug: a leader answers gets locally, without a quorum"),
];

/// The `raft-kv` workload.
pub struct RaftKv;

impl Workload for RaftKv {
    fn name(&self) -> &'static str {
        "raft-kv"
    }

    fn description(&self) -> &'static str {
        "our own Raft serving a key-value store; linearizability, Raft invariants, planted bugs"
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        let duration = |name, millis, doc| ParamSpec {
            name,
            kind: ParamKind::Duration,
            default: ParamValue::Duration(Duration::from_millis(millis)),
            doc,
        };
        let int = |name, value, doc| ParamSpec {
            name,
            kind: ParamKind::Int,
            default: ParamValue::Int(value),
            doc,
        };
        let mut parameters = vec![
            duration("election_timeout_min", 150, "shortest randomized election timeout"),
            duration("election_timeout_max", 300, "longest randomized election timeout"),
            duration("heartbeat_interval", 30, "time between a leader's heartbeats"),
            duration("think_time", 20, "longest pause between a client's operations"),
            duration("request_timeout", 60, "silence after which a client tries the next server"),
            duration("operation_timeout", 600, "time after which an operation ends fail or info"),
            int("keys", 3, "how many keys clients use"),
            int("entries_per_message_max", 64, "most log entries in one append message"),
            int("linearizability_steps_max", 5_000_000, "search budget of the final check"),
        ];
        parameters.extend(BUGS.iter().map(|&(name, doc)| ParamSpec {
            name,
            kind: ParamKind::Bool,
            default: ParamValue::Bool(false),
            doc,
        }));
        parameters
    }

    fn checks(&self) -> Vec<CheckSpec> {
        let check = |name, kind, doc| CheckSpec { name, kind, doc };
        vec![
            check(
                "one_leader_per_term",
                CheckKind::Invariant,
                "no two leaders are elected in one term",
            ),
            check(
                "log_matching",
                CheckKind::Invariant,
                "logs with an entry of equal index and term are equal up to it",
            ),
            check(
                "state_machine_safety",
                CheckKind::Invariant,
                "no two servers apply different entries at one index",
            ),
            check(
                "leader_elected",
                CheckKind::Liveness,
                "after heal, a leader of the latest term exists",
            ),
            check(
                "clients_progress",
                CheckKind::Liveness,
                "after heal, every client completes an operation",
            ),
            check(
                "linearizable",
                CheckKind::Final,
                "the clients' history is linearizable (kv model)",
            ),
        ]
    }

    fn instantiate(
        &self,
        plan: &RunPlan,
        setup: &Setup<'_>,
    ) -> Result<Box<dyn Simulation>, String> {
        let (harness, _) = build(plan, setup)?;
        Ok(Box::new(harness))
    }
}

/// Builds one run's world with its checks, and hands back the history recorder too (tests
/// read the history of a run through it).
pub fn build(
    plan: &RunPlan,
    setup: &Setup<'_>,
) -> Result<(Harness<Message>, Rc<RefCell<Recorder>>), String> {
    let params = setup.params;
    let servers = plan.topology.nodes_with_role("server");
    if servers.is_empty() {
        return Err("raft-kv needs at least one node with role: server".to_string());
    }
    let count = |name: &str| -> Result<u64, String> {
        u64::try_from(params.int(name))
            .ok()
            .filter(|&count| count > 0)
            .ok_or_else(|| format!("raft-kv parameter {name} must be at least 1"))
    };
    let config = Config {
        servers: servers.clone(),
        election_timeout_min: params.duration("election_timeout_min"),
        election_timeout_max: params.duration("election_timeout_max"),
        heartbeat_interval: params.duration("heartbeat_interval"),
        entries_per_message_max: count("entries_per_message_max")? as usize,
        bugs: Bugs {
            vote_not_persisted: params.flag("vote_not_persisted"),
            ack_before_fsync: params.flag("ack_before_fsync"),
            commit_previous_term: params.flag("commit_previous_term"),
            no_step_down: params.flag("no_step_down"),
            stale_reads: params.flag("stale_reads"),
        },
    };
    if config.election_timeout_min > config.election_timeout_max {
        return Err("raft-kv election_timeout_min is above election_timeout_max".to_string());
    }
    let client_config = ClientConfig {
        servers,
        keys: count("keys")?,
        think_time: params.duration("think_time"),
        request_timeout: params.duration("request_timeout"),
        operation_timeout: params.duration("operation_timeout"),
    };
    let steps_max = count("linearizability_steps_max")?;
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let world = build_world::<Message>(plan, setup, |spec| {
        let (config, client_config) = (config.clone(), client_config.clone());
        let recorder = recorder.clone();
        Some(if spec.role == "server" {
            Box::new(move |_| Box::new(Server::new(config.clone())) as Box<dyn Process<Message>>)
        } else {
            Box::new(move |_| {
                Box::new(Client::new(client_config.clone(), recorder.clone()))
                    as Box<dyn Process<Message>>
            })
        })
    })?;
    let heal_at = Instant::ZERO + plan.phases.chaos;
    let (leaders, logs, applied) = (
        checks::LeaderLedger::default(),
        checks::LogLedger::default(),
        checks::AppliedLedger::default(),
    );
    let history = recorder.clone();
    let harness = Harness::new(world, &plan.checks)
        .invariant("one_leader_per_term", move |world| leaders.check(world))
        .invariant("log_matching", move |world| logs.check(world))
        .invariant("state_machine_safety", move |world| applied.check(world))
        .liveness("leader_elected", checks::leader_elected)
        .liveness("clients_progress", move |world| checks::clients_progress(world, heal_at))
        .final_check("linearizable", move |_| linearizable(&history.borrow().history, steps_max));
    Ok((harness, recorder))
}
