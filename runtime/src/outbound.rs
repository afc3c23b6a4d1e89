//! The sending half of a node's network: one task per peer, owning that peer's bounded queue
//! of frames and the one connection this node dials to it.
//!
//! The connection is dialed lazily, when the first frame is queued, and opened with a hello.
//! A failed dial is retried after a jittered exponential backoff (`reconnect_backoff_min`
//! doubling to `reconnect_backoff_max`, each wait drawn between half and all of it from the
//! node's `runtime.reconnect` stream, so a seeded node retries on a pinned schedule). While
//! the peer is unreachable the queue fills and further sends are dropped and counted, as a
//! full link queue drops in the simulated network; frames written to a connection that then
//! fails are lost and counted. Peers never write on a connection this node dialed, so any
//! byte or end-of-stream read from it means the peer went away: the next frame redials.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use orrery_sim::{Duration, NodeId, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{self, error::TryRecvError};

use crate::config::NetworkConfig;
use crate::frame::Hello;
use crate::stats::Stats;

/// Frames gathered into one write when several are queued (fewer system calls under load).
const BATCH_BYTES: usize = 256 << 10;

/// Everything the task for one peer needs.
pub(crate) struct Outbound {
    pub me: NodeId,
    pub peer: NodeId,
    pub address: SocketAddr,
    pub incarnation: u32,
    pub network: NetworkConfig,
    pub stats: Arc<Stats>,
    /// The waits between failed dials, jittered from `runtime.reconnect[me, peer,
    /// incarnation]`.
    pub backoff: Backoff,
}

/// Why a connection stopped carrying frames.
enum Closed {
    /// The node is shutting down: its queue is gone.
    QueueClosed,
    /// The connection failed; the next frame redials.
    Lost(io::Error),
}

/// Frames waiting in the task (taken from the queue, not yet written), and how many.
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

    fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Forgets the frames (lost with their connection), returning how many there were.
    fn clear(&mut self) -> u64 {
        self.bytes.clear();
        std::mem::take(&mut self.frames)
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
        let wait =
            Duration::from_nanos(half + self.jitter.uniform_u64(0, self.step.as_nanos() - half));
        self.step = (self.step * 2).min(self.max);
        wait
    }

    /// A dial succeeded.
    pub fn reset(&mut self) {
        self.step = self.min;
    }
}

/// Runs until the node drops the sending side of `queue`.
pub(crate) async fn write_to_peer(mut link: Outbound, mut queue: mpsc::Receiver<Vec<u8>>) {
    let mut batch = Batch::default();
    loop {
        if batch.is_empty() {
            match queue.recv().await {
                Some(frame) => batch.push(&frame),
                None => return,
            }
        }
        let stream = match dial(&link).await {
            Ok(stream) => stream,
            Err(error) => {
                Stats::add(&link.stats.dial_failures, 1);
                let wait = link.backoff.next_wait();
                tracing::debug!(
                    target: "orrery::net",
                    node = %link.me, peer = %link.peer, address = %link.address, %error,
                    "dial failed; retrying in {wait}"
                );
                tokio::time::sleep(std::time::Duration::from_nanos(wait.as_nanos())).await;
                continue;
            }
        };
        link.backoff.reset();
        Stats::add(&link.stats.connections_dialed, 1);
        tracing::info!(
            target: "orrery::net",
            node = %link.me, peer = %link.peer, address = %link.address, "connected"
        );
        let (mut reader, mut writer) = stream.into_split();
        match carry(&link, &mut reader, &mut writer, &mut queue, &mut batch).await {
            Closed::QueueClosed => return,
            Closed::Lost(error) => {
                let lost = batch.clear();
                Stats::add(&link.stats.dropped_connection_lost, lost);
                tracing::info!(
                    target: "orrery::net",
                    node = %link.me, peer = %link.peer, %error, frames_lost = lost,
                    "connection lost"
                );
            }
        }
    }
}

async fn dial(link: &Outbound) -> io::Result<TcpStream> {
    let timeout = std::time::Duration::from_nanos(link.network.connect_timeout.as_nanos());
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(link.address)).await {
        Ok(connected) => connected?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "dial timed out")),
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Writes the hello, then every frame queued, until the connection or the queue ends.
async fn carry(
    link: &Outbound,
    reader: &mut OwnedReadHalf,
    writer: &mut OwnedWriteHalf,
    queue: &mut mpsc::Receiver<Vec<u8>>,
    batch: &mut Batch,
) -> Closed {
    let mut hello = Vec::new();
    Hello { from: link.me, to: link.peer, incarnation: link.incarnation }.encode(&mut hello);
    if let Err(error) = writer.write_all(&hello).await {
        return Closed::Lost(error);
    }
    let mut scratch = [0u8; 64];
    loop {
        let mut queue_closed = false;
        while batch.bytes.len() < BATCH_BYTES {
            match queue.try_recv() {
                Ok(frame) => batch.push(&frame),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    queue_closed = true;
                    break;
                }
            }
        }
        if !batch.is_empty() {
            if let Err(error) = writer.write_all(&batch.bytes).await {
                return Closed::Lost(error);
            }
            Stats::add(&link.stats.frames_sent, batch.clear());
        }
        if queue_closed {
            return Closed::QueueClosed;
        }
        tokio::select! {
            frame = queue.recv() => match frame {
                Some(frame) => batch.push(&frame),
                None => return Closed::QueueClosed,
            },
            read = reader.read(&mut scratch) => {
                return Closed::Lost(match read {
                    Ok(0) => io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed"),
                    Ok(_) => io::Error::new(io::ErrorKind::InvalidData, "the peer wrote back"),
                    Err(error) => error,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_sim::ms;

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
