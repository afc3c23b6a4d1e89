//! A client: one deposit at a time, retried (same session, same number, same amount) until
//! a replica acknowledges it; then, after a random think time, the next. It asks the replica
//! it believes primary, follows `NotPrimary` hints, and tries the other replica when a
//! request times out.
//!
//! Its session is its incarnation, so a restarted client is a new session. Observations:
//! `invoke seq amount` when an operation is first sent, `ok seq` when it is acknowledged
//! (the session is the observation's incarnation).

use orrery_sim::{Duration, Instant, NodeApi, NodeId, Process, TimerId};

use super::message::Message;
use super::StandbyParams;

const TIMER_NEXT: u64 = 1;
/// No answer: ask the other replica.
const TIMER_TIMEOUT: u64 = 2;
/// A `NotPrimary` named where to ask: ask there.
const TIMER_HINT: u64 = 3;
/// Wait after a `NotPrimary` before asking the replica it pointed at.
const HINT_DELAY: Duration = Duration::from_millis(2);

/// See the module documentation.
pub struct Client {
    replicas: Vec<NodeId>,
    think_time: Duration,
    request_timeout: Duration,
    /// Index into `replicas` of the one it asks.
    target: usize,
    session: u32,
    /// The current operation and its amount; `pending` until acknowledged.
    seq: u64,
    amount: u64,
    pending: bool,
    /// The timer that matters now; others are stale.
    timer: Option<TimerId>,
    /// When an operation was last acknowledged (on the shared clock).
    pub last_ok_at: Option<Instant>,
}

impl Client {
    /// A client of `replicas`, asking the first one first.
    pub fn new(params: &StandbyParams, replicas: Vec<NodeId>) -> Client {
        Client {
            replicas,
            think_time: params.think_time,
            request_timeout: params.request_timeout,
            target: 0,
            session: 0,
            seq: 0,
            amount: 0,
            pending: false,
            timer: None,
            last_ok_at: None,
        }
    }

    fn arm<N: NodeApi<Message>>(&mut self, node: &mut N, after: Duration, tag: u64) {
        if let Some(timer) = self.timer.take() {
            node.cancel_timer(timer);
        }
        self.timer = Some(node.set_timer(after, tag));
    }

    fn think<N: NodeApi<Message>>(&mut self, node: &mut N) {
        let pause = Duration::from_nanos(node.rng().uniform_u64(0, self.think_time.as_nanos()));
        self.arm(node, pause, TIMER_NEXT);
    }

    fn send<N: NodeApi<Message>>(&mut self, node: &mut N) {
        let write = Message::Write { session: self.session, seq: self.seq, amount: self.amount };
        if let Some(&replica) = self.replicas.get(self.target) {
            node.send(replica, write);
        }
        self.arm(node, self.request_timeout, TIMER_TIMEOUT);
    }
}

impl<N: NodeApi<Message>> Process<Message, N> for Client {
    fn on_start(&mut self, node: &mut N) {
        self.session = node.incarnation();
        self.think(node);
    }

    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        let current = |session, seq| self.pending && session == self.session && seq == self.seq;
        match message {
            Message::WriteOk { session, seq } if current(session, seq) => {
                self.pending = false;
                self.last_ok_at = Some(node.true_now());
                node.observe("ok", &[("seq", seq.into())]);
                self.think(node);
            }
            Message::NotPrimary { session, seq, primary } if current(session, seq) => {
                let hinted = primary.and_then(|p| self.replicas.iter().position(|&r| r == p));
                let asked = self.replicas.iter().position(|&r| r == from).unwrap_or(0);
                self.target = hinted.unwrap_or((asked + 1) % self.replicas.len().max(1));
                let delay = self.request_timeout.min(HINT_DELAY);
                self.arm(node, delay, TIMER_HINT);
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, node: &mut N, timer: TimerId, tag: u64) {
        if self.timer != Some(timer) {
            return;
        }
        self.timer = None;
        match tag {
            TIMER_NEXT => {
                self.seq += 1;
                self.amount = node.rng().uniform_u64(1, 1000);
                self.pending = true;
                let fields = [("seq", self.seq.into()), ("amount", self.amount.into())];
                node.observe("invoke", &fields);
                self.send(node);
            }
            TIMER_TIMEOUT if self.pending => {
                self.target = (self.target + 1) % self.replicas.len().max(1);
                self.send(node);
            }
            TIMER_HINT if self.pending => self.send(node),
            _ => {}
        }
    }
}
