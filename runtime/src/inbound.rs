//! The receiving half of a node's network: the listener, and one reader task per connection
//! (accepted, or dialed by a peer task) that reassembles frames and hands their payloads to
//! the node's bounded inbox.
//!
//! An accepted connection must say who it is first: its hello must arrive within
//! `handshake_timeout`, and every reader is its own task, so a peer that connects and never
//! speaks holds up no one. Its sending half is then offered to that peer's slot, so replies
//! go back on it (see `peer`). A damaged or oversize frame closes its connection (logged and
//! counted); the next dial starts a clean stream, so no frame is ever read out of step. When
//! the inbox is full a reader waits, leaving bytes in the socket: TCP's window pushes back
//! on the sender.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use orrery_sim::NodeId;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::config::NetworkConfig;
use crate::frame::{FrameDecoder, FrameError, Hello, HelloError};
use crate::peer::{Origin, PeerSlot};
use crate::stats::Stats;

/// Room made in a reader's buffer before each read.
const READ_CHUNK_BYTES: usize = 64 << 10;

/// One received frame's payload and who sent it.
pub(crate) struct Inbound {
    pub from: NodeId,
    pub payload: Vec<u8>,
}

/// What every reader of one node shares.
#[derive(Clone)]
pub(crate) struct Receiving {
    pub me: NodeId,
    pub n_nodes: usize,
    pub network: NetworkConfig,
    pub inbox: mpsc::Sender<Inbound>,
    pub stats: Arc<Stats>,
    /// Each peer's slot (`None` at this node's own index), for replies on accepted
    /// connections.
    pub slots: Arc<Vec<Option<Arc<PeerSlot>>>>,
}

/// Why a connection is closed.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("the peer closed the connection")]
    Closed,
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Hello(#[from] HelloError),
    #[error("no hello within {0}")]
    Silent(orrery_sim::Duration),
    #[error("the node stopped")]
    NodeStopped,
}

/// Accepts connections until the node stops (the task is aborted with its readers).
pub(crate) async fn accept(listener: TcpListener, receiving: Receiving) {
    let mut readers = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, address)) => {
                    Stats::add(&receiving.stats.connections_accepted, 1);
                    // Replies go out on accepted connections too: no Nagle delay on them.
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(target: "orrery::net", node = %receiving.me, %error, "cannot set TCP_NODELAY");
                    }
                    readers.spawn(read_from(stream, address, receiving.clone()));
                }
                Err(error) => {
                    // Out of descriptors, or the like: wait instead of spinning on it.
                    tracing::warn!(target: "orrery::net", node = %receiving.me, %error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = readers.join_next(), if !readers.is_empty() => {}
        }
    }
}

async fn read_from(mut stream: TcpStream, address: SocketAddr, receiving: Receiving) {
    let me = receiving.me;
    let mut decoder = FrameDecoder::new(receiving.network.frame_bytes_max);
    let patience = receiving.network.handshake_timeout;
    let wait = std::time::Duration::from_nanos(patience.as_nanos());
    let hello = match tokio::time::timeout(wait, next_frame(&mut stream, &mut decoder)).await {
        Err(_) => Err(ReadError::Silent(patience)),
        Ok(Err(error)) => Err(error),
        Ok(Ok(payload)) => Hello::decode(&payload, me, receiving.n_nodes).map_err(ReadError::from),
    };
    let hello = match hello {
        Ok(hello) => hello,
        Err(error) => {
            Stats::add(&receiving.stats.bad_hellos, 1);
            tracing::warn!(target: "orrery::net", node = %me, peer_address = %address, %error, "refused a connection");
            return;
        }
    };
    tracing::debug!(
        target: "orrery::net",
        node = %me, peer = %hello.from, incarnation = hello.incarnation, "accepted"
    );
    let Some(slot) = receiving.slots.get(hello.from.index()).cloned().flatten() else { return };
    let (read, write) = stream.into_split();
    let offered = slot.offer(write, Origin::Accepted);
    read_frames(read, decoder, offered, slot, hello.from, receiving).await;
}

/// Reads the frames of a connection this node dialed to `from` (see `peer`), delivering
/// them until it ends. `offered` is its sending half's fate: in use (then the slot learns
/// of the end) or kept idle here until the end.
pub(crate) async fn deliver(
    read: OwnedReadHalf,
    offered: Result<u64, OwnedWriteHalf>,
    slot: Arc<PeerSlot>,
    from: NodeId,
    receiving: Receiving,
) {
    let decoder = FrameDecoder::new(receiving.network.frame_bytes_max);
    read_frames(read, decoder, offered, slot, from, receiving).await;
}

async fn read_frames(
    mut read: OwnedReadHalf,
    mut decoder: FrameDecoder,
    offered: Result<u64, OwnedWriteHalf>,
    slot: Arc<PeerSlot>,
    from: NodeId,
    receiving: Receiving,
) {
    let me = receiving.me;
    let ended = loop {
        let payload = match next_frame(&mut read, &mut decoder).await {
            Ok(payload) => payload,
            Err(error) => break error,
        };
        Stats::add(&receiving.stats.frames_received, 1);
        if receiving.inbox.send(Inbound { from, payload }).await.is_err() {
            break ReadError::NodeStopped;
        }
    };
    if let Ok(generation) = offered {
        slot.lost(generation);
    }
    match ended {
        ReadError::NodeStopped => {}
        ReadError::Frame(error) => {
            Stats::add(&receiving.stats.bad_frames, 1);
            tracing::warn!(target: "orrery::net", node = %me, peer = %from, %error, "closed a connection: bad frame");
        }
        error => {
            tracing::info!(target: "orrery::net", node = %me, peer = %from, %error, "connection ended");
        }
    }
}

/// The next whole frame, reading as much as needed.
async fn next_frame(
    stream: &mut (impl AsyncRead + Unpin),
    decoder: &mut FrameDecoder,
) -> Result<Vec<u8>, ReadError> {
    loop {
        if let Some(payload) = decoder.next_frame()? {
            return Ok(payload);
        }
        if stream.read_buf(decoder.read_buffer(READ_CHUNK_BYTES)).await? == 0 {
            return Err(ReadError::Closed);
        }
    }
}
