//! The producer: makes `events` numbered events in batches, and resends what is not yet
//! acknowledged until it is, across its own crashes.
//!
//! Every `batch_interval` (while fewer than `window` events are unacknowledged) it reserves
//! the next batch by writing its state — nonce, new `next_seq`, current `acked_below` — to
//! the spare slot of the state file and syncing; only then are the batch's events produced,
//! and only then does it send them as (nonce, seq, payload). Every `resend_interval` it
//! resends every unacknowledged event. On (re)start it recovers the best valid slot (see
//! `state`), or picks a fresh random nonce if there is none, and resends everything from
//! `acked_below` to `next_seq`: the consumer's deduplication makes those resends harmless
//! only because they travel under the same nonce and seq as before.
//!
//! A reservation that fails (I/O error) is retried by the next tick into the same spare
//! slot; the slot holding the durable state is never written over. A crash before the sync
//! completes means the batch was never produced, and its numbers are reused.
//!
//! The state file is the two-slot one of `state`, not an `orrery_sim::durable::DurableCell`:
//! the planted `one_state_slot` bug is an in-place overwrite of that very format, and a
//! reservation costs a write and a sync where a cell's atomic replace costs six operations.
//!
//! With the planted bug `nonce_not_persisted`, every start picks a fresh nonce instead of
//! the stored one, so resent events look new to the consumer. With `one_state_slot`, every
//! reservation overwrites slot 0 in place: a torn write loses the durable state, and the
//! producer starts a new stream from number 0, producing events it had already produced.
//! With `no_resend_after_restart`, a restarted producer trusts that everything it sent
//! before the crash arrived, so events lost in flight never take effect.

use std::collections::BTreeSet;

use orrery_sim::disk::DiskError;
use orrery_sim::{Duration, NodeApi, NodeId, Process, Storage, TimerId};

use super::ledger::Payload;
use super::state::{best_slot, damaged_slots, State, SLOT_STRIDE_BYTES, STATE_PATH};
use super::{Bug, DedupParams, Message};

const TAG_RECOVER: u64 = 0;
const TAG_BATCH: u64 = 1;
const TAG_RESEND: u64 = 2;
/// Time between recovery attempts after a disk error.
const RECOVERY_RETRY: Duration = Duration::from_millis(1);

/// See the module documentation.
pub struct Producer {
    params: DedupParams,
    consumer: NodeId,
    /// The latest durable state; `None` until recovery finishes.
    state: Option<State>,
    /// The slot holding `state` on disk; reservations write the other one.
    durable_slot: u64,
    unacked: BTreeSet<u64>,
}

impl Producer {
    /// A producer sending to `consumer`; it recovers its state from disk when it starts.
    pub fn new(params: &DedupParams, consumer: NodeId) -> Self {
        Producer {
            params: params.clone(),
            consumer,
            state: None,
            durable_slot: 1,
            unacked: BTreeSet::new(),
        }
    }

    fn recover<N: NodeApi<Message>>(&mut self, node: &mut N) {
        let read = read_state(&mut node.disk());
        let recovered = match read {
            Ok((recovered, damaged_slots)) => {
                let survived = damaged_slots > 0 && recovered.is_some();
                // A green sweep must not hide a fault mix that never reached these paths.
                node.sometimes(survived, "dedup: a producer recovered past a damaged state slot");
                recovered
            }
            Err(DiskError::Crashed) => return,
            Err(_) => {
                node.set_timer(RECOVERY_RETRY, TAG_RECOVER);
                return;
            }
        };
        // No valid slot: nothing was ever produced (events go out only after a durable
        // reservation), so a new stream starts. Slot 0 gets the first reservation.
        let (durable_slot, mut state) = recovered
            .unwrap_or((1, State { nonce: node.rng().next_u64(), next_seq: 0, acked_below: 0 }));
        if self.params.bug == Bug::NonceNotPersisted {
            state.nonce = node.rng().next_u64();
        }
        node.observe("produced", &[("below", state.next_seq.into())]);
        self.durable_slot = durable_slot;
        self.unacked = if self.params.bug == Bug::NoResendAfterRestart {
            BTreeSet::new()
        } else {
            (state.acked_below..state.next_seq).collect()
        };
        self.state = Some(state);
        let resent = !self.unacked.is_empty();
        node.sometimes(resent, "dedup: a restarted producer resent unacknowledged events");
        self.resend(node, state.nonce);
        node.set_timer(self.params.batch_interval, TAG_BATCH);
        node.set_timer(self.params.resend_interval, TAG_RESEND);
    }

    fn reserve_batch<N: NodeApi<Message>>(&mut self, node: &mut N, state: State) {
        let full = self.unacked.len() as u64 >= self.params.window;
        if full || state.next_seq >= self.params.events {
            return;
        }
        let next = State {
            nonce: state.nonce,
            next_seq: (state.next_seq + self.params.batch_size).min(self.params.events),
            acked_below: self.unacked.first().copied().unwrap_or(state.next_seq),
        };
        let spare = match self.params.bug {
            Bug::OneStateSlot => 0,
            _ => 1 - self.durable_slot,
        };
        let written = write_state(&mut node.disk(), spare, &next);
        if written.is_err() {
            // Crashed: nothing more happens. Failed: the next tick writes the spare again.
            return;
        }
        self.durable_slot = spare;
        self.state = Some(next);
        node.observe("produced", &[("below", next.next_seq.into())]);
        for seq in state.next_seq..next.next_seq {
            self.unacked.insert(seq);
            self.send(node, next.nonce, seq);
        }
    }

    fn resend<N: NodeApi<Message>>(&mut self, node: &mut N, nonce: u64) {
        for &seq in &self.unacked {
            self.send(node, nonce, seq);
        }
    }

    fn send<N: NodeApi<Message>>(&self, node: &mut N, nonce: u64, seq: u64) {
        let payload = Payload { producer: node.id(), number: seq };
        node.send(self.consumer, Message::Event { nonce, seq, payload });
    }
}

impl<N: NodeApi<Message>> Process<Message, N> for Producer {
    fn on_start(&mut self, node: &mut N) {
        self.recover(node);
    }

    fn on_message(&mut self, _node: &mut N, _from: NodeId, message: Message) {
        if let (Message::Ack { nonce, seq }, Some(state)) = (message, self.state) {
            if nonce == state.nonce {
                self.unacked.remove(&seq);
            }
        }
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, tag: u64) {
        match (tag, self.state) {
            (TAG_RECOVER, None) => self.recover(node),
            (TAG_BATCH, Some(state)) => {
                self.reserve_batch(node, state);
                node.set_timer(self.params.batch_interval, TAG_BATCH);
            }
            (TAG_RESEND, Some(state)) => {
                self.resend(node, state.nonce);
                node.set_timer(self.params.resend_interval, TAG_RESEND);
            }
            _ => {}
        }
    }
}

/// The state file made to exist with a durable name, its best valid slot if any, and how
/// many slots are damaged. Safe to repeat after a failure part-way.
fn read_state(disk: &mut impl Storage) -> Result<(Option<(u64, State)>, usize), DiskError> {
    if !disk.exists(STATE_PATH)? {
        match disk.create(STATE_PATH) {
            Ok(()) | Err(DiskError::AlreadyExists { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    // A state file whose name is not durable could vanish, and its nonce with it.
    disk.sync_directory()?;
    let bytes = disk.read_all(STATE_PATH)?;
    let best = best_slot(&bytes).map(|(slot, state)| (slot as u64, state));
    Ok((best, damaged_slots(&bytes)))
}

/// Writes `state` to `slot` and syncs it: durable once this returns `Ok`.
fn write_state(disk: &mut impl Storage, slot: u64, state: &State) -> Result<(), DiskError> {
    disk.write(STATE_PATH, slot * SLOT_STRIDE_BYTES, &state.encode())?;
    disk.sync(STATE_PATH)
}
