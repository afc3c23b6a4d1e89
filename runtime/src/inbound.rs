//! The receiving half of a node's network: the listener, and one reader task per accepted
//! connection that checks the hello, reassembles frames and hands their payloads to the
//! node's bounded inbox.
//!
//! Every reader is its own task, so a peer that connects and never speaks holds up no one;
//! its hello must arrive within `handshake_timeout` or the connection is closed. A damaged
//! or oversize frame closes its connection (logged and counted); the peer's next dial starts
//! a clean stream, so no frame is ever read out of step. When the inbox is full a reader
//! waits, leaving bytes in the socket: TCP's window pushes back on the sender.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use orrery_sim::NodeId;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::config::NetworkConfig;
use crate::frame::{FrameDecoder, FrameError, Hello, HelloError};
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
    match deliver(&mut stream, &mut decoder, hello.from, &receiving).await {
        ReadError::Closed | ReadError::NodeStopped => {}
        ReadError::Frame(error) => {
            Stats::add(&receiving.stats.bad_frames, 1);
            tracing::warn!(target: "orrery::net", node = %me, peer = %hello.from, %error, "closed a connection: bad frame");
        }
        error => {
            tracing::info!(target: "orrery::net", node = %me, peer = %hello.from, %error, "connection ended");
        }
    }
}

/// Hands every frame to the inbox until the connection ends; returns why it did.
async fn deliver(
    stream: &mut TcpStream,
    decoder: &mut FrameDecoder,
    from: NodeId,
    receiving: &Receiving,
) -> ReadError {
    loop {
        let payload = match next_frame(stream, decoder).await {
            Ok(payload) => payload,
            Err(error) => return error,
        };
        Stats::add(&receiving.stats.frames_received, 1);
        if receiving.inbox.send(Inbound { from, payload }).await.is_err() {
            return ReadError::NodeStopped;
        }
    }
}

/// The next whole frame, reading as much as needed.
async fn next_frame(
    stream: &mut TcpStream,
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
