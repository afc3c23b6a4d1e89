//! The consumer: applies each event once per (nonce, seq) it has not seen, observes each
//! application, and acknowledges every copy it receives (an acknowledgement may be lost, so
//! repeats must be answered too). It never looks at what an event says to decide whether it
//! is new: (nonce, seq) is the whole protocol. Its memory is its state: scenarios do not
//! crash it (a durable consumer would need its own log, which `wal-kv` already exercises).

use std::collections::{BTreeMap, BTreeSet};

use orrery_sim::{NodeApi, NodeId, Process};

use super::Message;

/// See the module documentation.
#[derive(Default)]
pub struct Consumer {
    /// Per nonce, the seqs already applied.
    applied: BTreeMap<u64, BTreeSet<u64>>,
}

impl<N: NodeApi<Message>> Process<Message, N> for Consumer {
    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        if let Message::Event { nonce, seq, payload } = message {
            let new = self.applied.entry(nonce).or_default().insert(seq);
            if new {
                let fields =
                    [("producer", payload.producer.into()), ("number", payload.number.into())];
                node.observe("applied", &fields);
            }
            node.sometimes(!new, "dedup: the consumer dropped a duplicate");
            node.send(from, Message::Ack { nonce, seq });
        }
    }
}
