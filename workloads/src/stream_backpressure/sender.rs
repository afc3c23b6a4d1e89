//! The sender: streams its source to the receiver within the credit it was granted, resends
//! what stays unacknowledged, probes for credit while blocked, and resumes its stream after
//! a restart where the receiver says it is (the protocol is in the module doc of
//! `stream_backpressure`).
//!
//! Its durable state is one `DurableCell` (`stream.state`): the stream id, the stream's
//! base item and the retention floor. Everything else — the limit, what was sent and
//! acknowledged — is volatile: a restarted sender starts with no credit and learns its
//! resume point from the receiver's answer to its probe. A disk error aborts the process
//! (its supervisor restarts it).
//!
//! Observations: `sent stream seq` the first time this incarnation sends a sequence
//! (resends are not new), `released stream below` whenever an acknowledgement moves the
//! point below which it will never resend.

use orrery_sim::durable::{DurableCell, DurableError};
use orrery_sim::{NodeApi, NodeId, Process, TimerId};
use serde::{Deserialize, Serialize};

use super::{Bug, Message, StreamParams};

const STATE_PATH: &str = "stream.state";
const TIMER_RETRANSMIT: u64 = 1;
const TIMER_PROBE: u64 = 2;

/// What the sender persists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    /// The stream's id at the receiver.
    pub stream: u64,
    /// The item the stream's sequence 0 carries.
    pub base: u64,
    /// The source keeps items from here on; every item below was released (acknowledged).
    pub floor: u64,
}

/// See the module documentation.
pub struct Sender {
    params: StreamParams,
    receiver: NodeId,
    /// The durable state, once opened.
    cell: Option<DurableCell<Option<StreamState>>>,
    /// Next sequence to send for the first time (in this incarnation).
    next_seq: u64,
    /// Every sequence below this is acknowledged: never resent.
    acked: u64,
    /// The sender may send every sequence below this.
    limit: u64,
    /// Highest sequence sent by this incarnation, plus one.
    sent_high: u64,
    /// Whether any grant arrived in this incarnation, and since the last probe tick.
    granted_ever: bool,
    granted_since_probe: bool,
    /// `acked` at the previous retransmit tick: no progress since means resend.
    acked_at_tick: u64,
    /// Items released since the floor was last persisted.
    released_since_checkpoint: u64,
}

impl Sender {
    /// A sender streaming to `receiver`; it opens its stream when it starts.
    pub fn new(params: &StreamParams, receiver: NodeId) -> Self {
        Sender {
            params: params.clone(),
            receiver,
            cell: None,
            next_seq: 0,
            acked: 0,
            limit: 0,
            sent_high: 0,
            granted_ever: false,
            granted_since_probe: false,
            acked_at_tick: 0,
            released_since_checkpoint: 0,
        }
    }

    /// The stream this incarnation sends, once opened.
    pub fn state(&self) -> Option<StreamState> {
        self.cell.as_ref().and_then(|cell| *cell.get())
    }

    /// The credit limit this incarnation holds.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Opens the stream: the stored one, or at first boot (and with the planted
    /// `restart_resets_sequence`, at every boot) a new one, stored before anything is sent.
    fn open<N: NodeApi<Message>>(&mut self, node: &mut N) -> Result<StreamState, DurableError> {
        let mut cell = DurableCell::open(&mut node.disk(), STATE_PATH, None)?;
        let stored: Option<StreamState> = *cell.get();
        let state = match stored {
            Some(state) if self.params.bug != Bug::RestartResetsSequence => state,
            // A new stream starts at the oldest item the source still has.
            _ => {
                let floor = stored.map_or(0, |state| state.floor);
                let state = StreamState { stream: node.rng().next_u64(), base: floor, floor };
                cell.set(&mut node.disk(), Some(state))?;
                state
            }
        };
        node.sometimes(stored.is_some(), "stream: a restarted sender reopened its stream");
        self.cell = Some(cell);
        Ok(state)
    }

    fn probe<N: NodeApi<Message>>(&self, node: &mut N, state: StreamState) {
        node.send(self.receiver, Message::Probe { stream: state.stream, limit: self.limit });
    }

    /// Sends every new sequence the credit allows.
    fn fill<N: NodeApi<Message>>(&mut self, node: &mut N, state: StreamState) {
        while self.next_seq < self.limit {
            let seq = self.next_seq;
            self.send(node, state, seq);
            if seq >= self.sent_high {
                self.sent_high = seq + 1;
                node.observe("sent", &[("stream", state.stream.into()), ("seq", seq.into())]);
            }
            self.next_seq += 1;
        }
    }

    fn send<N: NodeApi<Message>>(&self, node: &mut N, state: StreamState, seq: u64) {
        debug_assert!(
            state.base + seq >= state.floor,
            "the source dropped item {}",
            state.base + seq
        );
        let message = Message::Data { stream: state.stream, seq, item: state.base + seq };
        node.send(self.receiver, message);
    }

    fn on_grant<N: NodeApi<Message>>(&mut self, node: &mut N, limit: u64, credits: u64) {
        let blocked = self.next_seq >= self.limit;
        node.sometimes(blocked && self.granted_ever, "stream: a grant reopened a closed window");
        node.sometimes(limit <= self.limit, "stream: a grant arrived that moved nothing");
        self.granted_ever = true;
        self.granted_since_probe = true;
        self.limit = match self.params.bug {
            // The planted bug: every grant's increment is added, duplicates included.
            Bug::DuplicateGrantCountedTwice => self.limit + credits,
            _ => self.limit.max(limit),
        };
    }

    fn on_ack<N: NodeApi<Message>>(
        &mut self,
        node: &mut N,
        state: StreamState,
        received: u64,
    ) -> Result<(), DurableError> {
        if received <= self.acked {
            return Ok(());
        }
        node.sometimes(self.acked == 0 && received > 0, "stream: a stream resumed mid-way");
        self.released_since_checkpoint += received - self.acked;
        self.acked = received;
        // The receiver holds these: a restarted sender resumes after them.
        self.next_seq = self.next_seq.max(received);
        node.observe("released", &[("stream", state.stream.into()), ("below", received.into())]);
        if self.released_since_checkpoint >= self.params.checkpoint_every {
            self.released_since_checkpoint = 0;
            let floor = state.base + self.acked;
            if let Some(cell) = &mut self.cell {
                cell.set(&mut node.disk(), Some(StreamState { floor, ..state }))?;
            }
        }
        Ok(())
    }
}

impl<N: NodeApi<Message>> Process<Message, N> for Sender {
    fn on_start(&mut self, node: &mut N) {
        match self.open(node) {
            Ok(state) => {
                // Everything below the floor was released before the crash: the source no
                // longer has it, and the receiver holds it.
                let released = state.floor - state.base;
                (self.acked, self.next_seq, self.acked_at_tick) = (released, released, released);
                self.probe(node, state);
            }
            Err(error) => {
                node.abort(&format!("cannot open the stream state: {error}"));
                return;
            }
        }
        node.set_timer(self.params.retransmit_interval, TIMER_RETRANSMIT);
        node.set_timer(self.params.probe_interval, TIMER_PROBE);
    }

    fn on_message(&mut self, node: &mut N, _from: NodeId, message: Message) {
        let Some(state) = self.state() else { return };
        let result = match message {
            Message::Grant { stream, limit, credits } if stream == state.stream => {
                self.on_grant(node, limit, credits);
                Ok(())
            }
            Message::Ack { stream, received } if stream == state.stream => {
                self.on_ack(node, state, received)
            }
            _ => Ok(()),
        };
        match result {
            Ok(()) => self.fill(node, state),
            Err(error) => node.abort(&format!("cannot checkpoint the stream state: {error}")),
        }
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, tag: u64) {
        let Some(state) = self.state() else { return };
        match tag {
            TIMER_RETRANSMIT => {
                if self.acked < self.next_seq && self.acked == self.acked_at_tick {
                    for seq in self.acked..self.next_seq {
                        self.send(node, state, seq);
                    }
                }
                self.acked_at_tick = self.acked;
                node.set_timer(self.params.retransmit_interval, TIMER_RETRANSMIT);
            }
            TIMER_PROBE => {
                let blocked = self.next_seq >= self.limit;
                // The opening probe is repeated until answered; with the planted bug, that
                // is the only probing there is.
                let may_probe = !self.granted_ever || self.params.bug != Bug::NoCreditProbe;
                if blocked && !self.granted_since_probe && may_probe {
                    node.sometimes(self.granted_ever, "stream: a blocked sender probed");
                    self.probe(node, state);
                }
                self.granted_since_probe = false;
                node.set_timer(self.params.probe_interval, TIMER_PROBE);
            }
            _ => {}
        }
    }
}
