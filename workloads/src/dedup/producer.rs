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
//! With the planted bug `nonce_not_persisted`, every start picks a fresh nonce instead of
//! the stored one, so resent events look new to the consumer. With `one_state_slot`, every
//! reservation overwrites slot 0 in place: a torn write loses the durable state, and the
//! producer starts a new stream from number 0, producing events it had already produced.
//! With `no_resend_after_restart`, a restarted producer trusts that everything it sent
//! before the crash arrived, so events lost in flight never take effect.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use orrery_sim::disk::DiskError;
use orrery_sim::{NodeApi, Context, Duration, NodeId, Process, TimerId};

use super::ledger::{Ledger, Payload};
use super::state::{best_slot, damaged_slots, State, SLOT_STRIDE_BYTES, STATE_PATH};
use super::Message;

const TAG_RECOVER: u64 = 0;
const TAG_BATCH: u64 = 1;
const TAG_RESEND: u64 = 2;

/// Settings fixed for a run.
#[derive(Debug, Clone, Copy)]
pub struct ProducerSettings {
    pub events: u64,
    pub batch_size: u64,
    pub window: u64,
    pub batch_interval: Duration,
    pub resend_interval: Duration,
    pub recovery_retry: Duration,
    pub nonce_not_persisted: bool,
    pub one_state_slot: bool,
    pub no_resend_after_restart: bool,
}

/// See the module documentation.
pub struct Producer {
    pub settings: ProducerSettings,
    pub consumer: NodeId,
    pub ledger: Rc<RefCell<Ledger>>,
    /// The latest durable state; `None` until recovery finishes.
    state: Option<State>,
    /// The slot holding `state` on disk; reservations write the other one.
    durable_slot: u64,
    unacked: BTreeSet<u64>,
    /// What this incarnation's recovery met, for the workload's sometimes-points: a damaged
    /// slot it recovered past, and how many events it resent.
    pub damaged_slot_survived: bool,
    pub resent_at_recovery: usize,
}

impl Producer {
    pub fn new(settings: ProducerSettings, consumer: NodeId, ledger: Rc<RefCell<Ledger>>) -> Self {
        Producer {
            settings,
            consumer,
            ledger,
            state: None,
            durable_slot: 1,
            unacked: BTreeSet::new(),
            damaged_slot_survived: false,
            resent_at_recovery: 0,
        }
    }

    fn recover(&mut self, ctx: &mut Context<Message>) {
        let recovered = match read_state(ctx) {
            Ok((recovered, damaged_slots)) => {
                self.damaged_slot_survived = damaged_slots > 0 && recovered.is_some();
                recovered
            }
            Err(DiskError::Crashed) => return,
            Err(_) => {
                ctx.set_timer(self.settings.recovery_retry, TAG_RECOVER);
                return;
            }
        };
        // No valid slot: nothing was ever produced (events go out only after a durable
        // reservation), so a new stream starts. Slot 0 gets the first reservation.
        let (durable_slot, mut state) = recovered
            .unwrap_or((1, State { nonce: ctx.rng().next_u64(), next_seq: 0, acked_below: 0 }));
        if self.settings.nonce_not_persisted {
            state.nonce = ctx.rng().next_u64();
        }
        self.ledger.borrow_mut().produced_below(ctx.id(), state.next_seq);
        self.durable_slot = durable_slot;
        self.unacked = if self.settings.no_resend_after_restart {
            BTreeSet::new()
        } else {
            (state.acked_below..state.next_seq).collect()
        };
        self.state = Some(state);
        self.resent_at_recovery = self.unacked.len();
        self.resend(ctx, state.nonce);
        ctx.set_timer(self.settings.batch_interval, TAG_BATCH);
        ctx.set_timer(self.settings.resend_interval, TAG_RESEND);
    }

    fn reserve_batch(&mut self, ctx: &mut Context<Message>, state: State) {
        let full = self.unacked.len() as u64 >= self.settings.window;
        if full || state.next_seq >= self.settings.events {
            return;
        }
        let next = State {
            nonce: state.nonce,
            next_seq: (state.next_seq + self.settings.batch_size).min(self.settings.events),
            acked_below: self.unacked.first().copied().unwrap_or(state.next_seq),
        };
        let spare = if self.settings.one_state_slot { 0 } else { 1 - self.durable_slot };
        let mut disk = ctx.disk();
        let written = disk
            .write(STATE_PATH, spare * SLOT_STRIDE_BYTES, &next.encode())
            .and_then(|()| disk.sync(STATE_PATH));
        if written.is_err() {
            // Crashed: nothing more happens. Failed: the next tick writes the spare again.
            return;
        }
        self.durable_slot = spare;
        self.state = Some(next);
        self.ledger.borrow_mut().produced_below(ctx.id(), next.next_seq);
        for seq in state.next_seq..next.next_seq {
            self.unacked.insert(seq);
            self.send(ctx, next.nonce, seq);
        }
    }

    fn resend(&mut self, ctx: &mut Context<Message>, nonce: u64) {
        for seq in self.unacked.clone() {
            self.send(ctx, nonce, seq);
        }
    }

    fn send(&self, ctx: &mut Context<Message>, nonce: u64, seq: u64) {
        let payload = Payload { producer: ctx.id(), number: seq };
        ctx.send(self.consumer, Message::Event { nonce, seq, payload });
    }
}

impl Process<Message> for Producer {
    fn on_start(&mut self, ctx: &mut Context<Message>) {
        self.recover(ctx);
    }

    fn on_message(&mut self, _ctx: &mut Context<Message>, _from: NodeId, message: Message) {
        if let (Message::Ack { nonce, seq }, Some(state)) = (message, self.state) {
            if nonce == state.nonce {
                self.unacked.remove(&seq);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<Message>, _timer: TimerId, tag: u64) {
        match (tag, self.state) {
            (TAG_RECOVER, None) => self.recover(ctx),
            (TAG_BATCH, Some(state)) => {
                self.reserve_batch(ctx, state);
                ctx.set_timer(self.settings.batch_interval, TAG_BATCH);
            }
            (TAG_RESEND, Some(state)) => {
                self.resend(ctx, state.nonce);
                ctx.set_timer(self.settings.resend_interval, TAG_RESEND);
            }
            _ => {}
        }
    }
}

/// The state file made to exist with a durable name, its best valid slot if any, and how
/// many slots are damaged. Safe to repeat after a failure part-way.
fn read_state(ctx: &mut Context<Message>) -> Result<(Option<(u64, State)>, usize), DiskError> {
    let mut disk = ctx.disk();
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
