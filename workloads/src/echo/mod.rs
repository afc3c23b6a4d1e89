//! `echo`: clients send numbered requests to servers, which echo them back. The smallest
//! system that exercises the whole pipeline: faults, an invariant, a liveness check after
//! heal, and a planted bug the invariant must catch.
//!
//! - Nodes with role `server` echo; every other node is a client that sends a request to a
//!   random server every `interval` and retries nothing (lost requests are simply lost).
//! - `replies_match` (invariant): every reply a client accepts carries the value of a
//!   request it actually sent to that server: clients observe what they sent and what they
//!   accepted, and the two must agree per (client, request id).
//! - `clients_progress` (liveness): after the network heals, every client gets a reply again.
//! - `corrupt_replies` (planted bug): servers add one to the value of every 50th reply.
//! - Messages have a byte encoding (`codec`), so servers can run as child processes.

mod codec;

pub use codec::EchoCodec;
use orrery_sim::workload::{Agreement, WorkloadDef};
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

impl Server {
    /// A server that has sent no reply yet.
    pub fn new(corrupt_replies: bool) -> Server {
        Server { replies: 0, corrupt_replies }
    }
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

/// Sends a request to a random server every `interval`. It observes what it sent and what
/// it accepted as `echo id= server= value=`: the check compares the two.
#[derive(Default)]
pub struct Client {
    servers: Vec<NodeId>,
    interval: Duration,
    next_id: u64,
    pub last_reply_at: Option<Instant>,
}

impl Client {
    /// A client of `servers` sending a request every `interval`.
    pub fn new(servers: Vec<NodeId>, interval: Duration) -> Client {
        Client { servers, interval, ..Client::default() }
    }
}

fn observe_echo<N: NodeApi<Message>>(node: &mut N, id: u64, server: NodeId, value: u64) {
    node.observe("echo", &[("id", id.into()), ("server", server.into()), ("value", value.into())]);
}

impl<N: NodeApi<Message>> Process<Message, N> for Client {
    fn on_start(&mut self, node: &mut N) {
        node.set_timer(self.interval, 0);
    }

    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        if let Message::Reply { id, value } = message {
            observe_echo(node, id, from, value);
            self.last_reply_at = Some(node.true_now());
        }
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
        if let Some(&server) = node.rng().pick(&self.servers) {
            let (id, value) = (self.next_id, node.rng().next_u64() >> 16);
            self.next_id += 1;
            observe_echo(node, id, server, value);
            node.send(server, Message::Request { id, value });
        }
        node.set_timer(self.interval, 0);
    }
}

/// The `echo` workload.
pub fn echo() -> WorkloadDef<Message, EchoParams> {
    WorkloadDef::<Message, EchoParams>::new("echo", "clients send requests; servers echo them")
        .requires_role("server")
        .codec(EchoCodec)
        .role("server", |init| Server::new(init.params.corrupt_replies))
        .role("*", |init| Client::new(init.nodes_with_role("server"), init.params.interval))
        .agreement(
            "replies_match",
            "every accepted reply echoes the request the client sent to that server",
            Agreement::on("echo").per_node().key(&["id"]).value(&["server", "value"]),
        )
        .liveness("clients_progress", "after heal, every client receives replies again", |run| {
            let late = |c: &Client| c.last_reply_at.is_none_or(|at| at < run.heal_at);
            match run.world.processes_of::<Client>().find(|(_, c)| late(c)) {
                Some((node, _)) => {
                    Err(format!("no reply to {node} since the heal at {}", run.heal_at))
                }
                None => Ok(()),
            }
        })
}
