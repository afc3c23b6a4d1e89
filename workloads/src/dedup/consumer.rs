//! The consumer: applies each event once per (nonce, seq) it has not seen, and acknowledges
//! every copy it receives (an acknowledgement may be lost, so repeats must be answered too).
//! It never looks at what an event says to decide whether it is new: (nonce, seq) is the
//! whole protocol. Its memory is its state: scenarios do not crash it (a durable consumer
//! would need its own log, which `wal-kv` already exercises).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use orrery_sim::{NodeApi, Context, NodeId, Process};

use super::ledger::Ledger;
use super::Message;

/// See the module documentation.
pub struct Consumer {
    pub ledger: Rc<RefCell<Ledger>>,
    /// Per nonce, the seqs already applied.
    applied: BTreeMap<u64, BTreeSet<u64>>,
    /// Copies of applied events that were received and dropped.
    pub duplicates_dropped: u64,
}

impl Consumer {
    pub fn new(ledger: Rc<RefCell<Ledger>>) -> Consumer {
        Consumer { ledger, applied: BTreeMap::new(), duplicates_dropped: 0 }
    }
}

impl Process<Message> for Consumer {
    fn on_message(&mut self, ctx: &mut Context<Message>, from: NodeId, message: Message) {
        if let Message::Event { nonce, seq, payload } = message {
            if self.applied.entry(nonce).or_default().insert(seq) {
                self.ledger.borrow_mut().took_effect(payload);
            } else {
                self.duplicates_dropped += 1;
            }
            ctx.send(from, Message::Ack { nonce, seq });
        }
    }
}
