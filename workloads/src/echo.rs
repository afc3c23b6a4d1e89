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
use std::ops::Deref;

use orrery_sim::workload::{Check, WorkloadDef};
use orrery_sim::{ms, Duration, Instant, NodeApi, NodeId, Params, Process, TimerId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request { id: u64, value: u64 },
    Reply { id: u64, value: u64 },
}

#[derive(Debug, Clone, Params)]
pub struct EchoParams {
    /// Time between a client's requests.
    #[param(default = ms(10))]
    pub interval: Duration,
    /// Planted bug: servers corrupt every 50th reply.
    pub corrupt_replies: bool,
}

/// Echoes requests; with the planted bug, corrupts every 50th reply.
pub struct Server {
    replies: u64,
    corrupt_replies: bool,
}

impl<N: NodeApi<Message>> Process<Message, N> for Server {
    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        if let Message::Request { id, value } = message {
            self.replies += 1;
            let corrupt = self.corrupt_replies && self.replies.is_multiple_of(50);
            node.send(from, Message::Reply { id, value: value + u64::from(corrupt) });
        }
    }
}

/// What a client remembers of its requests and the replies it accepted. `echo`'s callback
/// client and `echo-async`'s async one keep the same ledger, so the checks are one code.
#[derive(Debug, Default)]
pub struct Ledger {
    next_id: u64,
    /// Outstanding requests: id → (server, value).
    outstanding: BTreeMap<u64, (NodeId, u64)>,
    pub last_reply_at: Option<Instant>,
    /// A reply that matched no request it sent, if any.
    pub mismatch: Option<String>,
}

impl Ledger {
    /// Notes a request of `value` to `server`; returns its id.
    pub fn issue(&mut self, server: NodeId, value: u64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.outstanding.insert(id, (server, value));
        id
    }

    /// Checks a reply client `me` got from `from` at `now` against what it sent.
    pub fn accept(&mut self, me: NodeId, from: NodeId, id: u64, value: u64, now: Instant) {
        // A reply to nothing outstanding is a duplicate of one already accepted: harmless.
        if let Some((server, sent)) = self.outstanding.remove(&id) {
            if server == from && sent == value {
                self.last_reply_at = Some(now);
            } else {
                self.mismatch.get_or_insert(format!(
                    "{me} got reply {id} = {value} from {from}, but sent {sent} to {server}"
                ));
            }
        }
    }
}

/// `replies_match` over every client's ledger.
pub fn first_mismatch<L: Deref<Target = Ledger>>(
    ledgers: impl IntoIterator<Item = L>,
) -> Result<(), String> {
    match ledgers.into_iter().find_map(|ledger| ledger.mismatch.clone()) {
        Some(mismatch) => Err(mismatch),
        None => Ok(()),
    }
}

/// `clients_progress` over every client's ledger: each heard back since `heal_at`.
pub fn clients_heard_since<L: Deref<Target = Ledger>>(
    ledgers: impl IntoIterator<Item = (NodeId, L)>,
    heal_at: Instant,
) -> Result<(), String> {
    let stuck: Vec<String> = ledgers
        .into_iter()
        .filter(|(_, ledger)| ledger.last_reply_at.is_none_or(|at| at < heal_at))
        .map(|(node, _)| node.to_string())
        .collect();
    match stuck.is_empty() {
        true => Ok(()),
        false => Err(format!("no reply since the heal at {heal_at}: {}", stuck.join(", "))),
    }
}

/// The doc lines of the two checks, shared with `echo-async`.
pub const REPLIES_MATCH: &str =
    "every accepted reply echoes a request the client sent to that server";
pub const CLIENTS_PROGRESS: &str = "after heal, every client receives replies again";

/// Sends a request to a random server every `interval`; remembers what it sent.
pub struct Client {
    servers: Vec<NodeId>,
    interval: Duration,
    pub ledger: Ledger,
}

impl<N: NodeApi<Message>> Process<Message, N> for Client {
    fn on_start(&mut self, node: &mut N) {
        node.set_timer(self.interval, 0);
    }

    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        let Message::Reply { id, value } = message else { return };
        let (me, now) = (node.id(), node.true_now());
        self.ledger.accept(me, from, id, value, now);
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
        if let Some(&server) = node.rng().pick(&self.servers) {
            let value = node.rng().next_u64() >> 16;
            let id = self.ledger.issue(server, value);
            node.send(server, Message::Request { id, value });
        }
        node.set_timer(self.interval, 0);
    }
}

/// The `echo` workload.
pub fn echo() -> WorkloadDef<Message, EchoParams> {
    WorkloadDef::<Message, EchoParams>::new("echo", "clients send requests; servers echo them")
        .requires_role("server")
        .role("server", |init| Server { replies: 0, corrupt_replies: init.params.corrupt_replies })
        .role("*", |init| Client {
            servers: init.nodes_with_role("server"),
            interval: init.params.interval,
            ledger: Ledger::default(),
        })
        .check(Check::invariant("replies_match", REPLIES_MATCH, |run| {
            first_mismatch(run.world.processes_of::<Client>().map(|(_, c)| &c.ledger))
        }))
        .check(Check::liveness("clients_progress", CLIENTS_PROGRESS, |run| {
            let ledgers = run.world.processes_of::<Client>().map(|(node, c)| (node, &c.ledger));
            clients_heard_since(ledgers, run.heal_at)
        }))
}
