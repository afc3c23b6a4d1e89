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
use orrery_sim::{ms, Duration, Instant, NodeApi, NodeId, Params, Process, TimerId, Value};

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

/// The fields of a client's `echo` observation of request `id`: whom it went to (or came
/// from) and its value. Shared with `echo-async`, whose clients observe the same.
pub fn echo_fields(id: u64, server: NodeId, value: u64) -> [(&'static str, Value<'static>); 3] {
    [("id", id.into()), ("server", server.into()), ("value", value.into())]
}

/// A client's first request id in `incarnation`: ids carry the incarnation (request 3 of
/// incarnation 2 is `2000000000003`, readable in traces), so a reply to a request sent
/// before a crash never matches a later request with the same number.
pub fn first_request_id(incarnation: u32) -> u64 {
    u64::from(incarnation) * 1_000_000_000_000
}

fn observe_echo<N: NodeApi<Message>>(node: &mut N, id: u64, server: NodeId, value: u64) {
    node.observe("echo", &echo_fields(id, server, value));
}

/// `replies_match`: per client and request id, what it sent and what it accepted agree.
pub fn replies_match() -> Agreement {
    Agreement::on("echo").per_node().key(&["id"]).value(&["server", "value"])
}

/// The docs of `echo`'s checks, shared with `echo-async`.
pub const REPLIES_MATCH: &str =
    "every accepted reply echoes the request the client sent to that server";
pub const CLIENTS_PROGRESS: &str = "after heal, every client receives replies again";

/// `clients_progress` over each client's last reply: every one heard back since `heal_at`.
pub fn clients_heard_since(
    mut last_replies: impl Iterator<Item = (NodeId, Option<Instant>)>,
    heal_at: Instant,
) -> Result<(), String> {
    match last_replies.find(|(_, last)| last.is_none_or(|at| at < heal_at)) {
        Some((node, _)) => Err(format!("no reply to {node} since the heal at {heal_at}")),
        None => Ok(()),
    }
}

impl<N: NodeApi<Message>> Process<Message, N> for Client {
    fn on_start(&mut self, node: &mut N) {
        self.next_id = first_request_id(node.incarnation());
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
        .agreement("replies_match", REPLIES_MATCH, replies_match())
        .liveness("clients_progress", CLIENTS_PROGRESS, |run| {
            let clients = run.world.processes_of::<Client>();
            clients_heard_since(clients.map(|(node, c)| (node, c.last_reply_at)), run.heal_at)
        })
}
