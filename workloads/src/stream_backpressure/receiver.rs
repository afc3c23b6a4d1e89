//! The receiver: holds arriving items in a buffer of `window` slots, acknowledges its
//! contiguous custody, lets its application consume one item every `consume_interval` in
//! sequence order, and grants credit as it consumes (the protocol is in the module doc of
//! `stream_backpressure`).
//!
//! Observations: `received stream seq` when a sequence first enters its custody (in any
//! order), `consumed stream seq item` when its application consumes an item, and
//! `grant stream limit` for every grant it sends, including its answers to probes (faults
//! that follow the protocol trigger on it).

use std::collections::{BTreeMap, VecDeque};

use orrery_sim::{NodeApi, NodeId, Process, TimerId};

use super::{Bug, Message, StreamParams};

/// See the module documentation.
pub struct Receiver {
    params: StreamParams,
    sender: NodeId,
    /// The current stream, once a probe opened it.
    stream: Option<u64>,
    /// Every sequence below this is held or consumed.
    received: u64,
    /// Every sequence below this is consumed.
    consumed: u64,
    /// The limit last granted: consumed (then) + window.
    granted: u64,
    /// Held items of the current stream, by sequence: from `consumed` to below `granted`.
    buffer: BTreeMap<u64, u64>,
    /// Acknowledged items of an earlier stream, consumed before the current stream's:
    /// (stream, seq, item).
    earlier: VecDeque<(u64, u64, u64)>,
}

impl Receiver {
    /// A receiver of `sender`'s stream.
    pub fn new(params: &StreamParams, sender: NodeId) -> Self {
        Receiver {
            params: params.clone(),
            sender,
            stream: None,
            received: 0,
            consumed: 0,
            granted: 0,
            buffer: BTreeMap::new(),
            earlier: VecDeque::new(),
        }
    }

    /// How many items it holds and has not consumed yet (its buffer's occupancy).
    pub fn held(&self) -> usize {
        self.buffer.len() + self.earlier.len()
    }

    /// Switches to a stream it has not seen: what it holds of the old one stays, to be
    /// consumed first (it was acknowledged); the new one starts at sequence 0.
    fn open<N: NodeApi<Message>>(&mut self, node: &mut N, stream: u64) {
        if let Some(old) = self.stream {
            let held = (self.consumed..self.received)
                .filter_map(|seq| Some((old, seq, *self.buffer.get(&seq)?)));
            self.earlier.extend(held);
        }
        self.buffer.clear();
        (self.received, self.consumed, self.granted) = (0, 0, 0);
        self.stream = Some(stream);
        node.record("opened", &[("stream", stream.into())]);
    }

    /// Sends a grant of everything consumed so far: limit `consumed + window`.
    fn grant<N: NodeApi<Message>>(&mut self, node: &mut N, stream: u64, credits_from: u64) {
        self.granted = self.granted.max(self.consumed + self.params.window);
        let (limit, credits) = (self.granted, self.granted.saturating_sub(credits_from));
        node.send(self.sender, Message::Grant { stream, limit, credits });
        node.observe("grant", &[("stream", stream.into()), ("limit", limit.into())]);
    }

    fn ack<N: NodeApi<Message>>(&self, node: &mut N, stream: u64) {
        let received = match self.params.bug {
            // The planted bug: the highest sequence held stands for everything below it.
            Bug::AckPastGap => {
                self.buffer.last_key_value().map_or(self.received, |(seq, _)| seq + 1)
            }
            _ => self.received,
        };
        node.send(self.sender, Message::Ack { stream, received });
    }

    fn on_data<N: NodeApi<Message>>(&mut self, node: &mut N, stream: u64, seq: u64, item: u64) {
        if seq < self.received {
            node.sometimes(true, "stream: the receiver got an item it already held");
        } else if seq >= self.granted {
            // Beyond the window: no slot for it. Never acknowledged, so it will be resent.
            node.record("overrun", &[("seq", seq.into()), ("granted", self.granted.into())]);
        } else if self.buffer.insert(seq, item).is_none() {
            node.sometimes(seq > self.received, "stream: an item arrived ahead of a gap");
            node.observe("received", &[("stream", stream.into()), ("seq", seq.into())]);
            while self.buffer.contains_key(&self.received) {
                self.received += 1;
            }
        }
        self.ack(node, stream);
    }

    /// The application consumes one item, if it has one; enough consumption grants credit.
    fn consume<N: NodeApi<Message>>(&mut self, node: &mut N) {
        let (stream, seq, item) = match self.earlier.pop_front() {
            Some(earlier) => earlier,
            None => {
                let Some(stream) = self.stream else { return };
                if self.consumed >= self.received {
                    return;
                }
                let Some(item) = self.buffer.remove(&self.consumed) else { return };
                self.consumed += 1;
                (stream, self.consumed - 1, item)
            }
        };
        let fields = [("stream", stream.into()), ("seq", seq.into()), ("item", item.into())];
        node.observe("consumed", &fields);
        if Some(stream) == self.stream
            && self.consumed + self.params.window >= self.granted + self.params.grant_batch
        {
            self.grant(node, stream, self.granted);
        }
    }
}

impl<N: NodeApi<Message>> Process<Message, N> for Receiver {
    fn on_start(&mut self, node: &mut N) {
        node.set_timer(self.params.consume_interval, 0);
    }

    fn on_message(&mut self, node: &mut N, _from: NodeId, message: Message) {
        match message {
            Message::Probe { stream, limit } => {
                if self.stream != Some(stream) {
                    self.open(node, stream);
                }
                self.ack(node, stream);
                self.grant(node, stream, limit);
            }
            Message::Data { stream, seq, item } if self.stream == Some(stream) => {
                self.on_data(node, stream, seq, item);
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
        self.consume(node);
        node.set_timer(self.params.consume_interval, 0);
    }
}
