//! `echo`: clients send numbered requests to servers, which echo them back. The smallest
//! system that exercises the whole pipeline: faults, an invariant, a liveness check after
//! heal, and a planted bug the invariant must catch.
//!
//! - Nodes with role `server` echo; every other node is a client that sends a request to a
//!   random server every `interval` and retries nothing (lost requests are simply lost).
//! - `replies_match` (invariant): every reply a client accepts carries the value of a
//!   request it actually sent to that server.
//! - `clients_progress` (liveness): after the network heals, every client gets a reply again.
//! - `corrupt_replies` (planted bug): servers add one to the value of every 50th reply.

use std::collections::BTreeMap;

use orrery_sim::harness::{build_world, Harness};
use orrery_sim::scenario::RunPlan;
use orrery_sim::workload::{
    CheckKind, CheckSpec, ParamKind, ParamSpec, ParamValue, ParamsExt, Setup, Simulation, Workload,
};
use orrery_sim::{Context, Duration, Instant, NodeId, Process, TimerId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request { id: u64, value: u64 },
    Reply { id: u64, value: u64 },
}

/// Echoes requests; with the planted bug, corrupts every 50th reply.
pub struct Server {
    replies: u64,
    corrupt_replies: bool,
}

impl Process<Message> for Server {
    fn on_message(&mut self, ctx: &mut Context<'_, Message>, from: NodeId, message: Message) {
        if let Message::Request { id, value } = message {
            self.replies += 1;
            let value = if self.corrupt_replies && self.replies.is_multiple_of(50) {
                value + 1
            } else {
                value
            };
            ctx.send(from, Message::Reply { id, value });
        }
    }
}

/// Sends a request to a random server every `interval`; remembers what it sent.
pub struct Client {
    servers: Vec<NodeId>,
    interval: Duration,
    next_id: u64,
    /// Outstanding requests: id → (server, value).
    outstanding: BTreeMap<u64, (NodeId, u64)>,
    pub replies: u64,
    pub last_reply_at: Option<Instant>,
    /// A reply that matched no request it sent, if any.
    pub mismatch: Option<String>,
}

impl Process<Message> for Client {
    fn on_start(&mut self, ctx: &mut Context<'_, Message>) {
        ctx.set_timer(self.interval, 0);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Message>, from: NodeId, message: Message) {
        if let Message::Reply { id, value } = message {
            match self.outstanding.remove(&id) {
                Some((server, sent)) if server == from && sent == value => {
                    self.replies += 1;
                    self.last_reply_at = Some(ctx.now());
                }
                Some((server, sent)) => {
                    self.mismatch.get_or_insert(format!(
                        "{} got reply {id} = {value} from {from}, but sent {sent} to {server}",
                        ctx.id()
                    ));
                }
                // A duplicate of a reply already accepted: harmless.
                None => {}
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Message>, _timer: TimerId, _tag: u64) {
        if let Some(&server) = ctx.rng().pick(&self.servers) {
            let id = self.next_id;
            let value = ctx.rng().next_u64() >> 16;
            self.next_id += 1;
            self.outstanding.insert(id, (server, value));
            ctx.send(server, Message::Request { id, value });
        }
        ctx.set_timer(self.interval, 0);
    }
}

/// The `echo` workload.
pub struct Echo;

impl Workload for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn description(&self) -> &'static str {
        "clients send numbered requests to servers that echo them; the smallest end-to-end workload"
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "interval",
                kind: ParamKind::Duration,
                default: ParamValue::Duration(Duration::from_millis(10)),
                doc: "time between a client's requests",
            },
            ParamSpec {
                name: "corrupt_replies",
                kind: ParamKind::Bool,
                default: ParamValue::Bool(false),
                doc: "planted bug: servers corrupt every 50th reply",
            },
        ]
    }

    fn checks(&self) -> Vec<CheckSpec> {
        vec![
            CheckSpec {
                name: "replies_match",
                kind: CheckKind::Invariant,
                doc: "every accepted reply echoes a request the client sent to that server",
            },
            CheckSpec {
                name: "clients_progress",
                kind: CheckKind::Liveness,
                doc: "after heal, every client receives replies again",
            },
        ]
    }

    fn instantiate(
        &self,
        plan: &RunPlan,
        setup: &Setup<'_>,
    ) -> Result<Box<dyn Simulation>, String> {
        let servers = plan.topology.nodes_with_role("server");
        if servers.is_empty() {
            return Err("echo needs at least one node with role: server".to_string());
        }
        let interval = setup.params.duration("interval");
        let corrupt_replies = setup.params.flag("corrupt_replies");
        let world = build_world::<Message>(plan, setup, |spec| {
            let servers = servers.clone();
            Some(if spec.role == "server" {
                Box::new(move |_| {
                    Box::new(Server { replies: 0, corrupt_replies }) as Box<dyn Process<Message>>
                })
            } else {
                Box::new(move |_| {
                    Box::new(Client {
                        servers: servers.clone(),
                        interval,
                        next_id: 0,
                        outstanding: BTreeMap::new(),
                        replies: 0,
                        last_reply_at: None,
                        mismatch: None,
                    }) as Box<dyn Process<Message>>
                })
            })
        })?;
        let heal_at = Instant::ZERO + plan.phases.chaos;
        let harness = Harness::new(world, &plan.checks)
            .invariant("replies_match", |world| {
                match world.processes_of::<Client>().find_map(|(_, c)| c.mismatch.clone()) {
                    Some(mismatch) => Err(mismatch),
                    None => Ok(()),
                }
            })
            .liveness("clients_progress", move |world| {
                let stuck: Vec<String> = world
                    .processes_of::<Client>()
                    .filter(|(_, c)| c.last_reply_at.is_none_or(|at| at < heal_at))
                    .map(|(node, _)| node.to_string())
                    .collect();
                if stuck.is_empty() {
                    Ok(())
                } else {
                    Err(format!("no reply since the heal at {heal_at} for {}", stuck.join(", ")))
                }
            });
        Ok(Box::new(harness))
    }
}
