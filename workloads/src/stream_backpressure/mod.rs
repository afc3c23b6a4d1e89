//! `stream-backpressure`: a sender streams an endless source of items to a receiver under a
//! credit window. The receiver grants credit as its application consumes; the sender never
//! has more than `window` items of a stream sent beyond what the receiver consumed; a lost
//! grant is recovered by a timed credit probe; a restarted sender resumes its stream where
//! the receiver is. After the net-mesh seed's backpressured channels.
//!
//! # The protocol
//!
//! One `sender`, one `receiver`. The sender's source is an endless sequence of items
//! 0, 1, 2... it can re-read from any position at or above its *retention floor*.
//! - **Streams.** The sender streams under a stream id and a base: the item of sequence
//!   number `seq` is `base + seq`. At first boot it draws the id, with base 0, and stores
//!   `{stream, base, floor}` in a `DurableCell` before it sends anything; a restarted sender
//!   reuses them, so its stream is the same stream.
//! - **Probes and the resume point.** At (re)start the sender has no credit (`limit` 0) and
//!   knows only that everything below its floor was released: it sends
//!   `Probe { stream, limit }`. The receiver answers every probe with `Ack { received }` and
//!   `Grant { limit }`; a stream id it has not seen opens a new stream at sequence 0. The
//!   sender resumes at the receiver's `received`: the receiver is the authority on where the
//!   stream is (items between the floor and `received` that a grant lets it send before the
//!   acknowledgement arrives are duplicates the receiver ignores). While the sender is blocked (it sent everything
//!   below its limit) and heard no grant for `probe_interval`, it probes again: a grant the
//!   network lost is restated, as TCP's persist timer recovers a lost window update.
//! - **Data and acknowledgements.** `Data { stream, seq, item }` for every `seq` below the
//!   limit. The receiver keeps items in a buffer of `window` slots (sequences from
//!   `consumed` to its granted limit; anything beyond is dropped, never acknowledged) and
//!   acknowledges cumulatively `Ack { received }`: it holds every sequence below `received`.
//!   The sender resends every unacknowledged item when acknowledgements stall for
//!   `retransmit_interval` (go-back-N), and never resends below an acknowledgement: it has
//!   released those items. Every `checkpoint_every` released items it persists its floor
//!   (retention: the source may drop items below it).
//! - **Credit.** The receiver's application consumes one item every `consume_interval`, in
//!   sequence order. Each grant states an absolute limit, `consumed + window`, and once
//!   `grant_batch` credits have accumulated the receiver sends
//!   `Grant { limit, credits }` (`credits`: how far this grant moves the limit, for
//!   implementations that count increments). The sender takes the highest limit it has seen,
//!   so a duplicated, delayed or reordered grant changes nothing.
//!
//! A receiver that sees a new stream id first consumes what it holds of the old stream (it
//! acknowledged those items) and only then the new stream's. The receiver's memory is its
//! custody of acknowledged items: scenarios pause it but never crash it (a durable receiver
//! is `wal-kv`'s subject).
//!
//! # Checks
//!
//! Processes observe what they do (see `checks`); the checks fold those observations, so a
//! claim outlives the sender incarnation that made it.
//! - `window_respected` (invariant): at every event, for every stream, the highest sequence
//!   the sender has sent, plus one, minus what the receiver's application consumed of that
//!   stream is at most `window`.
//! - `fifo_delivery` (invariant): the receiver's application gets items in source order,
//!   each at most once: every consumed item is above the one consumed before it, across
//!   every stream and sender restart.
//! - `acknowledged_not_lost` (invariant): the sender releases an item (stops resending it)
//!   only when the receiver holds it: every release point is at most the receiver's
//!   contiguous custody of that stream; and the application skips no item: each item it
//!   consumes is at most one past the highest consumed before, item 0 first. With
//!   `fifo_delivery`, the application gets exactly the source, 0, 1, 2..., in order.
//! - `stream_progresses` (liveness): after the heal, the receiver's application consumes
//!   more than a window of new items, so credit granted after the heal reached the sender
//!   and came back as data — even when a grant was lost and the window was closed.
//!
//! # Planted bugs (`bug`) and expected outcomes
//!
//! Each is caught by its own check in `scenarios/bugs/stream-backpressure-*.yaml`;
//! `workloads/tests/stream_backpressure.rs` states in how many of the stated seeds.
//! - `duplicate_grant_counted_twice`: the sender adds each grant's `credits` to its limit,
//!   so a duplicated grant (or a probe's answer crossing a delayed grant) counts twice and the
//!   sender overruns the window: `window_respected`.
//! - `no_credit_probe`: the sender probes only until its first grant, never while blocked;
//!   when the grants that would reopen a closed window are all lost, both sides wait for
//!   each other forever: `stream_progresses`.
//! - `restart_resets_sequence`: a restarted sender does not resume its stream: it opens a
//!   new one at sequence 0 from its retention floor, which lags the receiver by up to
//!   `checkpoint_every` items, so the receiver delivers those again: `fifo_delivery`.
//! - `ack_past_gap`: the receiver acknowledges up to the highest sequence it holds, past a
//!   gap the network left, so the sender releases an item the receiver never got:
//!   `acknowledged_not_lost`.
//!
//! The correct protocol passes `scenarios/smoke/stream-backpressure.yaml` (grant loss,
//! delay and duplication by triggers right after grants, receiver pauses, sender restarts,
//! power cuts inside the sender's checkpoint, lossy links) and
//! `scenarios/chaos/stream-backpressure.yaml` (every swarm family).

mod checks;
mod receiver;
mod sender;

use orrery_sim::workload::{Check, CheckKind, RunInfo, WorkloadDef};
use orrery_sim::{ms, Choice, Duration, Params};

pub use checks::{Custody, Fifo, Progress, Window};
pub use receiver::Receiver;
pub use sender::{Sender, StreamState};

/// The one message type of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Sender → receiver: "stream `stream`, I may send below `limit`; where are you?"
    Probe {
        /// The sender's stream.
        stream: u64,
        /// The highest limit the sender holds.
        limit: u64,
    },
    /// Sender → receiver: the item of sequence `seq`.
    Data {
        /// The sender's stream.
        stream: u64,
        /// The item's sequence number in the stream.
        seq: u64,
        /// The item: its number in the sender's source.
        item: u64,
    },
    /// Receiver → sender: it holds every sequence below `received`.
    Ack {
        /// The acknowledged stream.
        stream: u64,
        /// The receiver's contiguous custody.
        received: u64,
    },
    /// Receiver → sender: the sender may send every sequence below `limit`.
    Grant {
        /// The stream the credit is for.
        stream: u64,
        /// The absolute limit: consumed + window.
        limit: u64,
        /// How far this grant moves the limit past the previous one (or past the probe's).
        credits: u64,
    },
}

/// The planted bug a run switches on (at most one: they are exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Choice)]
pub enum Bug {
    /// The correct protocol.
    #[default]
    None,
    /// The sender adds up grants' credits instead of taking the highest limit.
    DuplicateGrantCountedTwice,
    /// The sender never probes while blocked.
    NoCreditProbe,
    /// A restarted sender opens a new stream at sequence 0 from its retention floor.
    RestartResetsSequence,
    /// The receiver acknowledges up to the highest sequence it holds, past a gap.
    AckPastGap,
}

/// stream-backpressure's parameters, as a scenario's `workload.params` sets them.
#[derive(Debug, Clone, Params)]
pub struct StreamParams {
    /// Items the sender may have sent beyond what the receiver consumed.
    #[param(default = 8, min = 1, shrink)]
    pub window: u64,
    /// Credits the receiver accumulates before it grants them (at most the window).
    #[param(default = 4, min = 1)]
    pub grant_batch: u64,
    /// Time the receiver's application takes per item.
    #[param(default = ms(2))]
    pub consume_interval: Duration,
    /// Time without acknowledgement progress after which the sender resends.
    #[param(default = ms(20))]
    pub retransmit_interval: Duration,
    /// Time blocked without a grant after which the sender probes for credit.
    #[param(default = ms(20))]
    pub probe_interval: Duration,
    /// Released items between two durable checkpoints of the sender's retention floor.
    #[param(default = 16, min = 1)]
    pub checkpoint_every: u64,
    /// The planted bug switched on (none: the correct protocol).
    pub bug: Bug,
}

/// The `stream-backpressure` workload.
pub fn stream_backpressure() -> WorkloadDef<Message, StreamParams> {
    WorkloadDef::<Message, StreamParams>::new(
        "stream-backpressure",
        "a sender streams to a receiver under a credit window; grants may be lost, delayed or \
         duplicated, the receiver paused, the sender restarted",
    )
    .requires_role("sender")
    .requires_role("receiver")
    .validate(|_, topology| {
        let (senders, receivers) =
            (topology.nodes_with_role("sender").len(), topology.nodes_with_role("receiver").len());
        match (senders, receivers) {
            (0 | 1, 0 | 1) => Ok(()), // none is the required role's error
            _ => Err(format!(
                "stream-backpressure runs exactly one sender and one receiver, not {senders} \
                 and {receivers}"
            )),
        }
    })
    .validate(|params, _| match params.grant_batch <= params.window {
        true => Ok(()),
        false => Err(format!(
            "grant_batch ({}) above window ({}) would never grant: the window closes first",
            params.grant_batch, params.window
        )),
    })
    .validate(|params, _| {
        let intervals = [
            ("consume_interval", params.consume_interval),
            ("retransmit_interval", params.retransmit_interval),
            ("probe_interval", params.probe_interval),
        ];
        match intervals.iter().find(|(_, value)| value.is_zero()) {
            None => Ok(()),
            Some((name, _)) => Err(format!(
                "{name} must be above zero (its timer would fire forever at one instant)"
            )),
        }
    })
    // Load validation guarantees exactly one of each.
    .role("sender", |init| Sender::new(init.params, init.nodes_with_role("receiver")[0]))
    .role("receiver", |init| Receiver::new(init.params, init.nodes_with_role("sender")[0]))
    .check(Check::with_logic(
        "window_respected",
        CheckKind::Invariant,
        "at every event the sender has at most `window` items sent beyond what was consumed",
        |info: &RunInfo<StreamParams>| Window::new(info.params.window),
    ))
    .check(Check::with_logic(
        "fifo_delivery",
        CheckKind::Invariant,
        "the receiver's application gets items in source order, each at most once",
        |_| Fifo::default(),
    ))
    .check(Check::with_logic(
        "acknowledged_not_lost",
        CheckKind::Invariant,
        "the sender stops resending an item only once the receiver holds it; none is skipped",
        |_| Custody::default(),
    ))
    .check(Check::with_logic(
        "stream_progresses",
        CheckKind::Liveness,
        "after heal, the receiver consumes more than a window of new items",
        |info: &RunInfo<StreamParams>| Progress::new(info.heal_at, info.params.window),
    ))
}
