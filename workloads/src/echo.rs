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
//! - Messages have a byte encoding (`EchoCodec`), so servers can run as child processes: a
//!   topology node with `command: [...]` runs that program instead (the Rust server is the
//!   `orrery-echo-server` binary, the Python one `clients/python/examples/echo_server.py`).

use std::collections::BTreeMap;

use orrery_sim::wire::{Codec, DecodeError};
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

/// Messages as 17 bytes: a tag (0 request, 1 reply), then the id and the value, each a
/// big-endian u64.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoCodec;

impl EchoCodec {
    /// Bytes of every encoded message.
    pub const LEN: usize = 17;
}

impl Codec for EchoCodec {
    type Message = Message;

    fn encode(&mut self, message: &Message, buffer: &mut Vec<u8>) {
        let (tag, id, value) = match message {
            Message::Request { id, value } => (0u8, id, value),
            Message::Reply { id, value } => (1u8, id, value),
        };
        buffer.push(tag);
        buffer.extend_from_slice(&id.to_be_bytes());
        buffer.extend_from_slice(&value.to_be_bytes());
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<Message, DecodeError> {
        let Some((&tag, words)) = bytes.split_first().filter(|_| bytes.len() == Self::LEN) else {
            return Err(DecodeError(format!("expected {} bytes, got {}", Self::LEN, bytes.len())));
        };
        let word = |at: usize| {
            let mut array = [0u8; 8];
            array.copy_from_slice(&words[at..at + 8]);
            u64::from_be_bytes(array)
        };
        let (id, value) = (word(0), word(8));
        match tag {
            0 => Ok(Message::Request { id, value }),
            1 => Ok(Message::Reply { id, value }),
            _ => Err(DecodeError(format!("unknown message tag {tag}"))),
        }
    }
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

/// Sends a request to a random server every `interval`; remembers what it sent.
pub struct Client {
    servers: Vec<NodeId>,
    interval: Duration,
    next_id: u64,
    /// Outstanding requests: id → (server, value).
    outstanding: BTreeMap<u64, (NodeId, u64)>,
    pub last_reply_at: Option<Instant>,
    /// A reply that matched no request it sent, if any.
    pub mismatch: Option<String>,
}

impl Client {
    /// A client of `servers` sending a request every `interval`.
    pub fn new(servers: Vec<NodeId>, interval: Duration) -> Client {
        Client {
            servers,
            interval,
            next_id: 0,
            outstanding: BTreeMap::new(),
            last_reply_at: None,
            mismatch: None,
        }
    }
}

impl<N: NodeApi<Message>> Process<Message, N> for Client {
    fn on_start(&mut self, node: &mut N) {
        node.set_timer(self.interval, 0);
    }

    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        let Message::Reply { id, value } = message else { return };
        // A reply to nothing outstanding is a duplicate of one already accepted: harmless.
        if let Some((server, sent)) = self.outstanding.remove(&id) {
            if server == from && sent == value {
                self.last_reply_at = Some(node.true_now());
            } else {
                let me = node.id();
                self.mismatch.get_or_insert(format!(
                    "{me} got reply {id} = {value} from {from}, but sent {sent} to {server}"
                ));
            }
        }
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
        if let Some(&server) = node.rng().pick(&self.servers) {
            let (id, value) = (self.next_id, node.rng().next_u64() >> 16);
            self.next_id += 1;
            self.outstanding.insert(id, (server, value));
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
        .check(Check::invariant(
            "replies_match",
            "every accepted reply echoes a request the client sent to that server",
            |run| match run.world.processes_of::<Client>().find_map(|(_, c)| c.mismatch.clone()) {
                Some(mismatch) => Err(mismatch),
                None => Ok(()),
            },
        ))
        .check(Check::liveness(
            "clients_progress",
            "after heal, every client receives replies again",
            |run| {
                let stuck: Vec<String> = (run.world.processes_of::<Client>())
                    .filter(|(_, c)| c.last_reply_at.is_none_or(|at| at < run.heal_at))
                    .map(|(node, _)| node.to_string())
                    .collect();
                match stuck.is_empty() {
                    true => Ok(()),
                    false => Err(format!(
                        "no reply since the heal at {}: {}",
                        run.heal_at,
                        stuck.join(", ")
                    )),
                }
            },
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the codec round-trips both messages and refuses wrong lengths and tags.
    #[test]
    fn codec_round_trips_and_refuses_garbage() {
        let mut codec = EchoCodec;
        for message in
            [Message::Request { id: 1, value: u64::MAX }, Message::Reply { id: 7, value: 0 }]
        {
            let mut bytes = Vec::new();
            codec.encode(&message, &mut bytes);
            assert_eq!(bytes.len(), EchoCodec::LEN);
            assert_eq!(codec.decode(&bytes), Ok(message));
        }
        assert!(codec.decode(&[0; 16]).is_err());
        assert!(codec.decode(&[]).is_err());
        assert!(codec.decode(&[2; 17]).is_err());
    }
}
