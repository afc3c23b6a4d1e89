//! What a production node's network did, counted: every drop has a counter, as every drop in
//! the simulated network has a trace event. Shared by the node and its connection tasks.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, updated by the node and its connection tasks.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) frames_sent: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_connection_lost: AtomicU64,
    pub(crate) dropped_unknown_node: AtomicU64,
    pub(crate) dropped_oversize: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) bad_frames: AtomicU64,
    pub(crate) bad_hellos: AtomicU64,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_dialed: AtomicU64,
    pub(crate) dial_failures: AtomicU64,
}

/// A snapshot of `Stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Frames written to peers' sockets.
    pub frames_sent: u64,
    /// Frames read from peers (hellos not counted), delivered or not.
    pub frames_received: u64,
    /// Sends refused because the peer's queue was full.
    pub dropped_queue_full: u64,
    /// Frames queued or being written when their connection failed.
    pub dropped_connection_lost: u64,
    /// Sends to an id that is not a configured node.
    pub dropped_unknown_node: u64,
    /// Sends whose encoding is longer than `frame_bytes_max`.
    pub dropped_oversize: u64,
    /// Frames whose checksum held but whose payload the codec refused (the connection
    /// stays open: the stream is still in step).
    pub decode_errors: u64,
    /// Connections closed for a checksum mismatch or an oversize length.
    pub bad_frames: u64,
    /// Connections closed for a missing, late or wrong hello.
    pub bad_hellos: u64,
    /// Connections accepted from peers.
    pub connections_accepted: u64,
    /// Connections dialed successfully to peers.
    pub connections_dialed: u64,
    /// Dials that failed or timed out.
    pub dial_failures: u64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            frames_sent: get(&self.frames_sent),
            frames_received: get(&self.frames_received),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_connection_lost: get(&self.dropped_connection_lost),
            dropped_unknown_node: get(&self.dropped_unknown_node),
            dropped_oversize: get(&self.dropped_oversize),
            decode_errors: get(&self.decode_errors),
            bad_frames: get(&self.bad_frames),
            bad_hellos: get(&self.bad_hellos),
            connections_accepted: get(&self.connections_accepted),
            connections_dialed: get(&self.connections_dialed),
            dial_failures: get(&self.dial_failures),
        }
    }
}
