//! One peer as a node sends to it: the connection its frames go out on (`PeerSlot`), its
//! bounded queue, and the task that dials, redials and drains that queue.
//!
//! A pair of nodes shares one connection both ways where it can: whoever sends first dials
//! (lazily, at its first frame, with a hello), and the other side answers on the connection
//! it accepted, so replies carry the acknowledgements of requests as they would on any
//! request/reply protocol. If both dial at once, the connection dialed by the lower id wins
//! on both sides; the other stays open, idle, until one side ends.
//!
//! A send is written straight to the socket from the node's loop when nothing is queued
//! before it (one non-blocking system call, no task switch, no copy); otherwise, or if the
//! socket cannot take it all, it waits in the bounded queue for the peer's task, which
//! keeps frames in order. A send that does not fit the queue is dropped and counted, as a
//! full link queue drops in the simulated network, and never half-written: the queue's room
//! is reserved before a byte is written.
//!
//! A failed dial is retried after a jittered exponential backoff (`reconnect_backoff_min`
//! doubling to `reconnect_backoff_max`, each wait drawn between half and all of it from the
//! node's `runtime.reconnect` stream, so a seeded node retries on a pinned schedule).
//! Frames written to a connection that then fails are lost and counted.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use orrery_sim::{Duration, NodeId, Stream};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::task::JoinSet;

use crate::frame::Hello;
use crate::inbound::{self, Receiving};
use crate::stats::Stats;

/// Frames gathered into one write when several are queued (fewer system calls under load).
const BATCH_BYTES: usize = 256 << 10;

/// Which side opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// This node dialed it.
    Dialed,
    /// The peer dialed it and this node accepted it.
    Accepted,
}

/// A connection's sending half, shared by the node's loop and the peer's task.
pub(crate) struct Wire {
    generation: u64,
    origin: Origin,
    half: OwnedWriteHalf,
}

/// The connection frames to one peer go out on, and how many frames wait for the peer's
/// task (while any do, the node's loop queues rather than writes, keeping frames in order).
pub(crate) struct PeerSlot {
    me: NodeId,
    peer: NodeId,
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    current: Option<Arc<Wire>>,
    backlog: u64,
    generation_next: u64,
}

/// What a send came to.
pub(crate) enum Sent {
    /// Written to the socket, or queued behind earlier frames.
    Accepted,
    /// The queue is full: dropped.
    QueueFull,
}

impl PeerSlot {
    pub fn new(me: NodeId, peer: NodeId) -> PeerSlot {
        PeerSlot { me, peer, state: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a connection of `origin` is the one the pair settles on when both exist.
    fn preferred(&self, origin: Origin) -> bool {
        match origin {
            Origin::Dialed => self.me < self.peer,
            Origin::Accepted => self.peer < self.me,
        }
    }

    /// Offers a new connection's sending half; returns its generation if frames now go out
    /// on it, or the half back if the current connection stays.
    ///
    /// A peer dials again only once its connection failed on its side, so a new accepted
    /// connection always replaces an accepted one (which may look alive here for minutes).
    /// Otherwise a live connection is replaced by the preferred one, and only while nothing
    /// is queued for it.
    pub fn offer(&self, half: OwnedWriteHalf, origin: Origin) -> Result<u64, OwnedWriteHalf> {
        let mut state = self.lock();
        if let Some(current) = &state.current {
            let redialed = origin == Origin::Accepted && current.origin == Origin::Accepted;
            if !redialed && (!self.preferred(origin) || state.backlog > 0) {
                return Err(half);
            }
        }
        let generation = state.generation_next;
        state.generation_next += 1;
        state.current = Some(Arc::new(Wire { generation, origin, half }));
        Ok(generation)
    }

    /// The connection of `generation` ended: frames no longer go out on it.
    pub fn lost(&self, generation: u64) {
        let mut state = self.lock();
        if state.current.as_ref().is_some_and(|wire| wire.generation == generation) {
            state.current = None;
        }
    }

    fn current(&self) -> Option<Arc<Wire>> {
        self.lock().current.clone()
    }

    /// Sends one frame from the node's loop: written at once if nothing waits before it and
    /// the socket takes it, else queued (what a partial write left over included).
    ///
    /// While nothing waits (`backlog == 0`) the queue is empty, so the room a partial write
    /// needs for its rest is certain: it is reserved only when something must wait.
    pub fn send(&self, frame: &[u8], queue: &mpsc::Sender<Outgoing>, stats: &Stats) -> Sent {
        let mut state = self.lock();
        let mut rest = Outgoing { bytes: Vec::new(), bound_to: None };
        if state.backlog == 0 {
            if let Some(wire) = &state.current {
                match wire.half.try_write(frame) {
                    Ok(n) if n == frame.len() => {
                        Stats::add(&stats.frames_sent, 1);
                        return Sent::Accepted;
                    }
                    Ok(n) => {
                        rest =
                            Outgoing { bytes: frame[n..].to_vec(), bound_to: Some(wire.generation) }
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) => {
                        state.current = None;
                        tracing::debug!(target: "orrery::net", node = %self.me, peer = %self.peer, %error, "write failed; redialing");
                    }
                }
            }
        }
        let Ok(permit) = queue.try_reserve() else {
            debug_assert!(rest.bound_to.is_none(), "the rest of a frame always has room");
            return Sent::QueueFull;
        };
        if rest.bound_to.is_none() {
            rest.bytes = frame.to_vec();
        }
        permit.send(rest);
        state.backlog += 1;
        Sent::Accepted
    }

    /// The peer's task is done with `frames` taken from the queue (written or lost).
    fn done(&self, frames: u64) {
        let mut state = self.lock();
        state.backlog = state.backlog.saturating_sub(frames);
    }
}

/// The waits between failed dials: from `min`, doubling to `max`, each drawn between half
/// and all of the current step from the jitter stream; back to `min` after a connection.
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
    jitter: Stream,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration, jitter: Stream) -> Backoff {
        Backoff { min, max, step: min, jitter }
    }

    /// The wait before the next dial, after one more failure.
    pub fn next_wait(&mut self) -> Duration {
        let half = self.step.as_nanos() / 2;
        let drawn = self.jitter.uniform_u64(0, self.step.as_nanos() - half);
        self.step = (self.step * 2).min(self.max);
        Duration::from_nanos(half + drawn)
    }

    /// A dial succeeded.
    pub fn reset(&mut self) {
        self.step = self.min;
    }
}

/// Everything the task for one peer needs.
pub(crate) struct Outbound {
    pub peer: NodeId,
    pub address: SocketAddr,
    pub incarnation: u32,
    pub slot: Arc<PeerSlot>,
    /// The waits between failed dials, jittered from `runtime.reconnect[me, peer,
    /// incarnation]`.
    pub backoff: Backoff,
    /// For the reader of each connection this task dials.
    pub receiving: Receiving,
}

/// What waits in a peer's queue: a whole frame, or the rest of one the node's loop began
/// writing on the connection of generation `bound_to` (meaningless on any other).
pub(crate) struct Outgoing {
    pub bytes: Vec<u8>,
    pub bound_to: Option<u64>,
}

/// Frames taken from the queue and not yet written, and how many.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    frames: u64,
}

impl Batch {
    fn push(&mut self, frame: &[u8]) {
        self.bytes.extend_from_slice(frame);
        self.frames += 1;
    }

    fn take(&mut self) -> u64 {
        self.bytes.clear();
        std::mem::take(&mut self.frames)
    }
}

/// Drains the peer's queue until the node drops its sending side (or aborts this task, which
/// ends the readers of the connections it dialed with it).
pub(crate) async fn write_to_peer(mut link: Outbound, mut queue: mpsc::Receiver<Outgoing>) {
    let me = link.receiving.me;
    let stats = link.receiving.stats.clone();
    let mut readers = JoinSet::new();
    let mut batch = Batch::default();
    let mut waiting: Option<Outgoing> = None;
    loop {
        let first = match waiting.take() {
            Some(first) => first,
            None => match queue.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        while readers.try_join_next().is_some() {}
        let wire = match link.slot.current() {
            Some(wire) => wire,
            None => match dial(&link).await {
                Ok(stream) => {
                    link.backoff.reset();
                    Stats::add(&stats.connections_dialed, 1);
                    tracing::info!(target: "orrery::net", node = %me, peer = %link.peer, address = %link.address, "connected");
                    let (read, mut write) = stream.into_split();
                    let mut hello = Vec::new();
                    let incarnation = link.incarnation;
                    Hello { from: me, to: link.peer, incarnation }.encode(&mut hello);
                    if let Err(error) = write.write_all(&hello).await {
                        waiting = Some(first);
                        tracing::info!(target: "orrery::net", node = %me, peer = %link.peer, %error, "connection lost at its hello");
                        continue;
                    }
                    let offered = link.slot.offer(write, Origin::Dialed);
                    let receiving = link.receiving.clone();
                    let (slot, peer) = (link.slot.clone(), link.peer);
                    readers.spawn(inbound::deliver(read, offered, slot, peer, receiving));
                    waiting = Some(first);
                    continue;
                }
                Err(error) => {
                    Stats::add(&stats.dial_failures, 1);
                    let wait = link.backoff.next_wait();
                    tracing::debug!(target: "orrery::net", node = %me, peer = %link.peer, address = %link.address, %error, "dial failed; retrying in {wait}");
                    tokio::time::sleep(std::time::Duration::from_nanos(wait.as_nanos())).await;
                    waiting = Some(first);
                    continue;
                }
            },
        };
        // The rest of a frame begun on another connection is meaningless here: it is lost.
        let mut stale = 0;
        let mut take = |outgoing: Outgoing, batch: &mut Batch| match outgoing.bound_to {
            Some(generation) if generation != wire.generation => stale += 1,
            _ => batch.push(&outgoing.bytes),
        };
        take(first, &mut batch);
        while batch.bytes.len() < BATCH_BYTES {
            match queue.try_recv() {
                Ok(outgoing) => take(outgoing, &mut batch),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        Stats::add(&stats.dropped_connection_lost, stale);
        link.slot.done(stale);
        match write_all(&wire, &batch.bytes).await {
            Ok(()) => {
                let frames = batch.take();
                Stats::add(&stats.frames_sent, frames);
                link.slot.done(frames);
            }
            Err(error) => {
                link.slot.lost(wire.generation);
                lose(&link, &stats, &mut batch, error);
            }
        }
    }
}

/// The batch's frames are lost with their connection.
fn lose(link: &Outbound, stats: &Stats, batch: &mut Batch, error: io::Error) {
    let frames = batch.take();
    Stats::add(&stats.dropped_connection_lost, frames);
    link.slot.done(frames);
    tracing::info!(target: "orrery::net", node = %link.receiving.me, peer = %link.peer, %error, frames_lost = frames, "connection lost");
}

async fn dial(link: &Outbound) -> io::Result<TcpStream> {
    let timeout =
        std::time::Duration::from_nanos(link.receiving.network.connect_timeout.as_nanos());
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(link.address)).await {
        Ok(connected) => connected?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "dial timed out")),
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Writes all of `bytes` on a shared sending half.
async fn write_all(wire: &Wire, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        wire.half.writable().await?;
        match wire.half.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_sim::ms;

    /// The sending half of a fresh loopback connection.
    async fn half(listener: &tokio::net::TcpListener) -> OwnedWriteHalf {
        let address = listener.local_addr().expect("bound");
        let (dialed, _accepted) =
            tokio::join!(TcpStream::connect(address), async { listener.accept().await });
        dialed.expect("connected").into_split().1
    }

    // Proves which connection a pair settles on: the first one, then the one the lower id
    // dialed (never while frames wait for the current one), and always a peer's redial.
    #[test]
    fn the_slot_settles_on_one_connection() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        runtime.expect("a runtime").block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bound");
            // This node is n1; its peer n0 has the lower id.
            let slot = PeerSlot::new(NodeId(1), NodeId(0));
            let first = slot.offer(half(&listener).await, Origin::Dialed).expect("the first");
            assert!(slot.offer(half(&listener).await, Origin::Dialed).is_err());
            slot.lock().backlog = 1;
            assert!(slot.offer(half(&listener).await, Origin::Accepted).is_err(), "frames wait");
            slot.lock().backlog = 0;
            let preferred = slot.offer(half(&listener).await, Origin::Accepted).expect("n0's");
            assert_ne!(preferred, first);
            slot.lock().backlog = 3;
            let redial = slot.offer(half(&listener).await, Origin::Accepted).expect("a redial");
            slot.lost(preferred);
            assert_eq!(slot.current().map(|wire| wire.generation), Some(redial), "stale loss");
            slot.lost(redial);
            assert!(slot.current().is_none());
        });
    }

    // Proves the backoff doubles to its cap, each wait within half to all of its step, that a
    // connection resets it, and that the jitter is a function of the stream's seed alone.
    #[test]
    fn backoff_doubles_jittered_and_is_pinned_by_the_seed() {
        let schedule = |seed| {
            let mut backoff = Backoff::new(ms(10), ms(80), Stream::new(seed, "runtime.reconnect"));
            let mut waits: Vec<Duration> = (0..6).map(|_| backoff.next_wait()).collect();
            backoff.reset();
            waits.push(backoff.next_wait());
            waits
        };
        let waits = schedule(3);
        for (wait, step) in waits.iter().zip([10, 20, 40, 80, 80, 80, 10]) {
            let half = Duration::from_nanos(ms(step).as_nanos() / 2);
            assert!(*wait >= half && *wait <= ms(step), "{wait} for a {step}ms step");
        }
        assert_eq!(waits, schedule(3), "the same seed, the same schedule");
        assert_ne!(waits, schedule(4), "another seed, another schedule");
    }
}
