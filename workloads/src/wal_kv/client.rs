//! The client: about every `interval` (jittered by half either way, so clients and crashes
//! do not fall into lockstep) it sends the server a put or a get of a random key, and
//! observes each invocation and each answer. It keeps no state the checks need: the
//! observations outlive a client crash, and an answer that reaches a restarted client is
//! still a real answer and is still observed.
//!
//! Observations (the ledger's vocabulary, see `ledger`): `put id key`, `get id key`,
//! `put_ok id`, `get_ok id [value]` (no `value`: the key held nothing).

use std::fmt;

use orrery_sim::{Duration, NodeApi, NodeId, Process, TimerId};

use super::Message;

/// A run-wide unique operation id, which a put also writes as its value: the client, its
/// incarnation and its count of operations, so no two clients, nor two lives of one client,
/// ever share one. Shown as `n1/0/7` (client/incarnation/count).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OpId(pub u64);

impl OpId {
    /// The `count`th operation of `client` in its `incarnation`.
    pub fn new(client: NodeId, incarnation: u32, count: u32) -> OpId {
        OpId(u64::from(client.0) << 48 | u64::from(incarnation & 0xffff) << 32 | u64::from(count))
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let client = NodeId((self.0 >> 48) as u32);
        write!(f, "{client}/{}/{}", (self.0 >> 32) & 0xffff, self.0 & 0xffff_ffff)
    }
}

impl fmt::Debug for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// See the module documentation.
pub struct Client {
    server: NodeId,
    interval: Duration,
    keys: u32,
    /// Operations invoked by this incarnation.
    invoked: u32,
}

impl Client {
    /// A client of `server` using keys `0..keys`, about every `interval`.
    pub fn new(server: NodeId, interval: Duration, keys: u32) -> Client {
        Client { server, interval, keys, invoked: 0 }
    }

    fn set_next_timer<N: NodeApi<Message>>(&mut self, node: &mut N) {
        let nanos = self.interval.as_nanos();
        let after = node.rng().uniform_u64(nanos / 2, nanos + nanos / 2);
        node.set_timer(Duration::from_nanos(after), 0);
    }
}

impl<N: NodeApi<Message>> Process<Message, N> for Client {
    fn on_start(&mut self, node: &mut N) {
        self.set_next_timer(node);
    }

    fn on_message(&mut self, node: &mut N, _from: NodeId, message: Message) {
        match message {
            Message::PutOk { id } => node.observe("put_ok", &[("id", id.0.into())]),
            Message::GetOk { id, value: Some(value) } => {
                node.observe("get_ok", &[("id", id.0.into()), ("value", value.0.into())])
            }
            Message::GetOk { id, value: None } => node.observe("get_ok", &[("id", id.0.into())]),
            // Not definite: the network may duplicate a request, and a copy delivered later
            // can still apply a put whose first copy was refused. The put stays open.
            Message::PutFailed { .. } | Message::Unavailable { .. } => {}
            Message::Put { .. } | Message::Get { .. } => {}
        }
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
        let key = node.rng().below(u64::from(self.keys)) as u32;
        let id = OpId::new(node.id(), node.incarnation(), self.invoked);
        self.invoked += 1;
        let fields = [("id", id.0.into()), ("key", key.into())];
        let message = if node.rng().below(2) == 0 {
            node.observe("put", &fields);
            Message::Put { id, key }
        } else {
            node.observe("get", &fields);
            Message::Get { id, key }
        };
        node.send(self.server, message);
        self.set_next_timer(node);
    }
}
