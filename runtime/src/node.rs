//! `Node`: the production backing of `orrery_sim::NodeApi`, what a process acts through in
//! every callback when it runs in its own OS process. The same process type that runs in the
//! simulated world runs here unchanged: sends go to real peers' queues, timers to the tokio
//! clock, the disk to a real directory, records and observations to `tracing` (and the
//! JSON-lines trace).
//!
//! The differences from simulation are the ones production has: `now` is the monotonic
//! clock since the node started, `true_now` the host's monotonic clock; the random stream is
//! seeded from the OS unless the configuration pins a seed; `buggify` is always false and
//! `sometimes` and `hold_role` only log. There are no fault powers to reach: this type has
//! none, and nothing in this crate names the simulator's `Control`.

use std::collections::VecDeque;
use std::sync::Arc;

use orrery_sim::disk::{DiskError, DiskOp, DiskTicket};
use orrery_sim::net::SendError;
use orrery_sim::{Codec, Duration, Instant, NodeApi, NodeId, Storage, Stream, TimerId, Value};
use tokio::sync::mpsc;

use crate::clock;
use crate::frame;
use crate::peer::{Outgoing, PeerSlot, Sent};
use crate::stats::Stats;
use crate::storage::DirectoryStorage;
use crate::timers::Timers;
use crate::trace::TraceSink;

/// How a node's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It called `NodeApi::exit` with this code.
    Exited(i32),
    /// It called `NodeApi::abort` with this reason.
    Aborted(String),
    /// It was asked to stop (SIGTERM, SIGINT, or the `stop` future of `serve`).
    Stopped,
}

impl Ended {
    /// The exit code of an OS process that ended so: the process's own code, 134 (as
    /// `abort(3)` shows in a shell) for an abort, 0 when asked to stop.
    pub fn exit_code(&self) -> i32 {
        match self {
            Ended::Exited(code) => *code,
            Ended::Aborted(_) => 134,
            Ended::Stopped => 0,
        }
    }
}

/// A production node as its process sees it. `C` is the wire codec, `C::Message` the
/// message type.
pub struct Node<C: Codec> {
    pub(crate) id: NodeId,
    pub(crate) n_nodes: usize,
    pub(crate) incarnation: u32,
    pub(crate) epoch: tokio::time::Instant,
    pub(crate) codec: C,
    /// Each peer's slot and queue (`None` at this node's own index).
    pub(crate) peers: Vec<Option<(Arc<PeerSlot>, mpsc::Sender<Outgoing>)>>,
    /// Where each send is framed (reused: a send that is written at once allocates nothing).
    pub(crate) frame: Vec<u8>,
    /// Messages this node sent itself, delivered without a socket.
    pub(crate) local: VecDeque<C::Message>,
    pub(crate) timers: Timers,
    pub(crate) rng: Stream,
    pub(crate) storage: DirectoryStorage,
    pub(crate) trace: TraceSink,
    pub(crate) stats: Arc<Stats>,
    pub(crate) frame_bytes_max: u32,
    pub(crate) halt: Option<Ended>,
}

impl<C: Codec> Node<C> {
    /// The network's counters so far.
    pub fn stats(&self) -> crate::StatsSnapshot {
        self.stats.snapshot()
    }

    fn halted(&self) -> bool {
        self.halt.is_some()
    }

    /// Ends the node's run: nothing more of the current callback takes effect.
    pub(crate) fn stop(&mut self, ended: Ended) {
        if self.halt.is_none() {
            let at = clock::host_monotonic();
            match &ended {
                Ended::Exited(code) => {
                    self.trace.record(at, "exit", &[("code", Value::I64(i64::from(*code)))])
                }
                Ended::Aborted(reason) => {
                    tracing::error!(target: "orrery::node", node = %self.id, reason = %reason, "aborted");
                    self.trace.record(at, "abort", &[("reason", Value::Str(reason))]);
                }
                Ended::Stopped => self.trace.record(at, "stop", &[]),
            }
            self.halt = Some(ended);
        }
    }
}

impl<C: Codec> NodeApi<C::Message> for Node<C> {
    type Storage<'a>
        = NodeDisk<'a>
    where
        Self: 'a;

    fn id(&self) -> NodeId {
        self.id
    }

    fn n_nodes(&self) -> usize {
        self.n_nodes
    }

    fn now(&self) -> Instant {
        clock::since(self.epoch)
    }

    fn true_now(&self) -> Instant {
        clock::host_monotonic()
    }

    fn incarnation(&self) -> u32 {
        self.incarnation
    }

    fn send(&mut self, to: NodeId, message: C::Message) {
        let _ = self.try_send(to, message);
    }

    fn try_send(&mut self, to: NodeId, message: C::Message) -> Result<(), SendError> {
        if self.halted() {
            return Ok(());
        }
        if to == self.id {
            self.local.push_back(message);
            return Ok(());
        }
        let Some(Some((slot, queue))) = self.peers.get(to.index()) else {
            Stats::add(&self.stats.dropped_unknown_node, 1);
            tracing::debug!(target: "orrery::net", node = %self.id, %to, "send to an unknown node dropped");
            return Ok(());
        };
        self.frame.clear();
        let codec = &mut self.codec;
        let length = frame::encode(&mut self.frame, |buffer| codec.encode(&message, buffer));
        if length > self.frame_bytes_max as usize {
            Stats::add(&self.stats.dropped_oversize, 1);
            tracing::warn!(target: "orrery::net", node = %self.id, %to, length, "message longer than frame_bytes_max dropped");
            return Ok(());
        }
        match slot.send(&self.frame, queue, &self.stats) {
            Sent::Accepted => Ok(()),
            Sent::QueueFull => {
                Stats::add(&self.stats.dropped_queue_full, 1);
                Err(SendError::QueueFull(to))
            }
        }
    }

    fn set_timer(&mut self, after: Duration, tag: u64) -> TimerId {
        let after = std::time::Duration::from_nanos(after.as_nanos());
        let deadline = tokio::time::Instant::now() + after;
        self.timers.set(deadline, tag)
    }

    fn cancel_timer(&mut self, timer: TimerId) {
        self.timers.cancel(timer);
    }

    fn rng(&mut self) -> &mut Stream {
        &mut self.rng
    }

    fn record(&mut self, kind: &str, fields: &[(&str, Value<'_>)]) {
        if !self.halted() {
            self.trace.record(clock::host_monotonic(), kind, fields);
        }
    }

    fn observe(&mut self, kind: &'static str, fields: &[(&'static str, Value<'_>)]) {
        if !self.halted() {
            self.trace.observe(clock::host_monotonic(), kind, fields);
        }
    }

    fn sometimes(&mut self, condition: bool, label: &'static str) {
        if condition {
            tracing::trace!(target: "orrery::sometimes", node = %self.id, label, "reached");
        }
    }

    fn hold_role(&mut self, role: &'static str, held: bool) {
        tracing::debug!(target: "orrery::node", node = %self.id, role, held, "role");
    }

    fn disk(&mut self) -> NodeDisk<'_> {
        NodeDisk { halted: self.halt.is_some(), storage: &mut self.storage }
    }

    fn exit(&mut self, code: i32) {
        self.stop(Ended::Exited(code));
    }

    fn abort(&mut self, reason: &str) {
        self.stop(Ended::Aborted(reason.to_string()));
    }
}

/// A production node's disk as its process borrows it: the node's `DirectoryStorage`, which
/// a process that already ended within this callback reaches no more (as in simulation).
pub struct NodeDisk<'a> {
    halted: bool,
    storage: &'a mut DirectoryStorage,
}

impl NodeDisk<'_> {
    fn storage(&mut self) -> Result<&mut DirectoryStorage, DiskError> {
        match self.halted {
            true => Err(DiskError::Crashed),
            false => Ok(self.storage),
        }
    }
}

impl Storage for NodeDisk<'_> {
    fn create(&mut self, path: &str) -> Result<(), DiskError> {
        self.storage()?.create(path)
    }
    fn exists(&mut self, path: &str) -> Result<bool, DiskError> {
        self.storage()?.exists(path)
    }
    fn write(&mut self, path: &str, offset_bytes: u64, data: &[u8]) -> Result<(), DiskError> {
        self.storage()?.write(path, offset_bytes, data)
    }
    fn append(&mut self, path: &str, data: &[u8]) -> Result<u64, DiskError> {
        self.storage()?.append(path, data)
    }
    fn read(
        &mut self,
        path: &str,
        offset_bytes: u64,
        length_bytes: u64,
    ) -> Result<Vec<u8>, DiskError> {
        self.storage()?.read(path, offset_bytes, length_bytes)
    }
    fn length_bytes(&mut self, path: &str) -> Result<u64, DiskError> {
        self.storage()?.length_bytes(path)
    }
    fn truncate(&mut self, path: &str, length_bytes: u64) -> Result<(), DiskError> {
        self.storage()?.truncate(path, length_bytes)
    }
    fn delete(&mut self, path: &str) -> Result<(), DiskError> {
        self.storage()?.delete(path)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        self.storage()?.rename(from, to)
    }
    fn list(&mut self, prefix: &str) -> Result<Vec<String>, DiskError> {
        self.storage()?.list(prefix)
    }
    fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        self.storage()?.sync(path)
    }
    fn sync_directory(&mut self) -> Result<(), DiskError> {
        self.storage()?.sync_directory()
    }
    fn submit(&mut self, op: DiskOp) -> Result<DiskTicket, DiskError> {
        self.storage()?.submit(op)
    }
}
