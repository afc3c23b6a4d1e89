//! The client: about every `interval` (jittered by half either way, so clients and crashes
//! do not fall into lockstep) it sends the server a put or a get of a random key, and
//! reports each invocation and answer to the shared ledger. It keeps no state of its own, so
//! a client crash loses nothing the checks need; an answer that reaches a restarted client is
//! still a real answer and is still recorded.

use std::cell::RefCell;
use std::rc::Rc;

use orrery_sim::{NodeApi, Context, Duration, NodeId, Process, TimerId};

use super::ledger::Ledger;
use super::Message;

/// See the module documentation.
pub struct Client {
    pub server: NodeId,
    pub interval: Duration,
    pub keys: u32,
    pub ledger: Rc<RefCell<Ledger>>,
}

impl Process<Message> for Client {
    fn on_start(&mut self, ctx: &mut Context<Message>) {
        self.set_next_timer(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<Message>, _from: NodeId, message: Message) {
        // The ledger stands outside the system, so it stamps answers on the world's clock.
        let (client, now) = (ctx.id(), ctx.true_now());
        let mut ledger = self.ledger.borrow_mut();
        match message {
            Message::PutOk { id } => ledger.put_acknowledged(client, now, id),
            Message::GetOk { id, value } => ledger.get_returned(client, now, id, value),
            // Not definite: the network may duplicate a request, and a copy delivered later
            // can still apply a put whose first copy was refused. The put stays open.
            Message::PutFailed { .. } | Message::Unavailable { .. } => {}
            Message::Put { .. } | Message::Get { .. } => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<Message>, _timer: TimerId, _tag: u64) {
        let key = ctx.rng().below(u64::from(self.keys)) as u32;
        let message = if ctx.rng().below(2) == 0 {
            let id = self.ledger.borrow_mut().invoke_put(key);
            Message::Put { id, key, value: id }
        } else {
            Message::Get { id: self.ledger.borrow_mut().invoke_get(key), key }
        };
        ctx.send(self.server, message);
        self.set_next_timer(ctx);
    }
}

impl Client {
    fn set_next_timer(&mut self, ctx: &mut Context<Message>) {
        let nanos = self.interval.as_nanos();
        let after = ctx.rng().uniform_u64(nanos / 2, nanos + nanos / 2);
        ctx.set_timer(Duration::from_nanos(after), 0);
    }
}
