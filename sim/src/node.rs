//! What protocol code is written against: the node-scoped authority (`NodeApi`, with its
//! `Storage`) and the push-style `Process` trait that receives it in every callback.
//!
//! The authority is a trait so that one process type compiles for two backings: the
//! simulated world (`world::Context`, where every call is an event in a deterministic run)
//! and a production runtime (real sockets, timers and files). Both are generic parameters,
//! never trait objects, so a send in simulation stays a direct, inlined call.
//!
//! The authority can send as its own node, set and cancel its own timers, read its own
//! (possibly skewed) clock, draw from its own random stream, use its own disk, record trace
//! events and observations, and end its own process. It cannot reach other nodes, the network
//! or any fault power: those live on `world::Control`, which no authority method returns, so
//! production code cannot use them by construction.
//!
//! ```
//! use orrery_sim::{NodeApi, NodeId, Process, TimerId, ms};
//!
//! #[derive(Debug, Clone)]
//! pub enum Msg { Ping(u64), Pong(u64) }
//!
//! /// Written once, for any backing `N`.
//! pub struct Pinger { pub pongs: u64 }
//!
//! impl<N: NodeApi<Msg>> Process<Msg, N> for Pinger {
//!     fn on_start(&mut self, node: &mut N) {
//!         node.set_timer(ms(10), 0);
//!     }
//!     fn on_message(&mut self, node: &mut N, from: NodeId, message: Msg) {
//!         match message {
//!             Msg::Ping(n) => node.send(from, Msg::Pong(n)),
//!             Msg::Pong(_) => self.pongs += 1,
//!         }
//!     }
//!     fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
//!         let peer = NodeId(1 - node.id().0);
//!         node.send(peer, Msg::Ping(node.now().as_nanos()));
//!         node.set_timer(ms(10), 0);
//!     }
//! }
//! ```

use std::any::Any;

use crate::disk::{DiskError, DiskOp, DiskOutput, DiskTicket};
use crate::net::SendError;
use crate::rng::Stream;
use crate::time::{Duration, Instant};
use crate::trace::Value;

pub use crate::id::{NodeId, TimerId};

/// The node-scoped authority protocol code acts through, implemented by the simulated world
/// (`Context`) and by production runtimes. `M` is the node's message type.
///
/// Every method acts on this node only. In simulation, calls made after the node lost power
/// or ended itself within the current callback have no effect (the machine is off).
pub trait NodeApi<M> {
    /// This node's disk as the process sees it, borrowed from the authority.
    type Storage<'a>: Storage
    where
        Self: 'a;

    /// This node's id.
    fn id(&self) -> NodeId;

    /// How many nodes the system has (ids are `0..n`).
    fn n_nodes(&self) -> usize;

    /// The node's local clock (skewed or drifting if a fault says so; monotonic in
    /// production).
    fn now(&self) -> Instant;

    /// The one clock every node shares, for instruments that stand outside the system under
    /// test, as Jepsen's history recorder does: operations must be stamped on one clock for
    /// a linearizability check. Protocol logic must use `now`. In production this is `now`.
    fn true_now(&self) -> Instant {
        self.now()
    }

    /// Which incarnation of the node this is: 0 at first boot, one more after each crash,
    /// exit or abort. Lets a process tell its own restarts apart without a disk.
    fn incarnation(&self) -> u32;

    /// Sends `message` to `to`. Drops (loss, partition, a full queue...) are silent to the
    /// sender, as on a real network; see `try_send` to learn of a full queue.
    fn send(&mut self, to: NodeId, message: M);

    /// Like `send`, but a link (or a production peer queue) that refuses when full says so.
    fn try_send(&mut self, to: NodeId, message: M) -> Result<(), SendError>;

    /// Sets a timer that fires after `after` of this node's local time; `tag` comes back in
    /// `Process::on_timer` so a process can tell its timers apart.
    fn set_timer(&mut self, after: Duration, tag: u64) -> TimerId;

    /// Cancels a timer; cancelling one that already fired or was cancelled does nothing.
    fn cancel_timer(&mut self, timer: TimerId);

    /// This node's own random stream: in simulation derived from (seed, node, incarnation),
    /// in production from the OS unless a seed is configured.
    fn rng(&mut self) -> &mut Stream;

    /// Records a trace event of this node, e.g.
    /// `node.record("elected", &[("term", 3u64.into())])`. Costs nothing unless recording.
    fn record(&mut self, kind: &str, fields: &[(&str, Value<'_>)]);

    /// Records an observation: what the protocol claims happened (`leader term=5`,
    /// `commit index=7 term=3`, `applied op=12`). Checks consume observations in event
    /// order, including those of nodes that have since crashed, with the node's
    /// incarnation; faults can be triggered by them. Traced like a record.
    fn observe(&mut self, kind: &'static str, fields: &[(&'static str, Value<'_>)]);

    /// A point that should be reached in some run (a sometimes-assertion): declared whenever
    /// this runs, reached once `condition` is true. A sweep's summary lists the points no
    /// seed reached. Nothing in production.
    fn sometimes(&mut self, _condition: bool, _label: &'static str) {}

    /// An in-code fault point (FoundationDB's buggify): true rarely, only in simulation with
    /// buggify enabled; always false in production.
    fn buggify(&mut self, _site: &'static str) -> bool {
        false
    }

    /// Announces that this node holds `role` now (`leader`, `primary`...), or no longer.
    /// Faults can aim at whoever holds a role ("crash the current leader"); a crash drops
    /// every role. Traced in simulation; nothing in production.
    fn hold_role(&mut self, _role: &'static str, _held: bool) {}

    /// Folds `word` into the run's fingerprint, with no trace line: for schedulers built on
    /// this authority whose own order a run's determinism must cover (the async executor of
    /// `task` folds the order it polled its tasks in). Nothing in production.
    fn fold_fingerprint(&mut self, _word: u64) {}

    /// This node's disk (see `Storage`; in simulation, `disk` for the crash contract).
    fn disk(&mut self) -> Self::Storage<'_>;

    /// Ends this node's process cleanly with `code`, as `std::process::exit` would: nothing
    /// more of the current callback takes effect. Written files stay as written (the
    /// operating system keeps them); the node stays down until restarted.
    fn exit(&mut self, code: i32);

    /// Aborts this node's process, as a real server does on an unrecoverable error (e.g. a
    /// disk I/O error): volatile state is gone, written files stay in the page cache (a
    /// process crash is not a power loss), and a supervisor (the scenario) may restart it.
    fn abort(&mut self, reason: &str);
}

/// A node's disk: a flat directory of files, with immediate and completion-based
/// operations. In simulation every operation is subject to the disk crash contract: written
/// data is durable only after `sync`, names only after `sync_directory`.
pub trait Storage {
    /// Creates an empty file.
    fn create(&mut self, path: &str) -> Result<(), DiskError>;
    /// Whether a file exists.
    fn exists(&mut self, path: &str) -> Result<bool, DiskError>;
    /// Writes `data` at `offset_bytes`, growing the file if needed.
    fn write(&mut self, path: &str, offset_bytes: u64, data: &[u8]) -> Result<(), DiskError>;
    /// Appends and returns the offset the data starts at.
    fn append(&mut self, path: &str, data: &[u8]) -> Result<u64, DiskError>;
    /// Reads up to `length_bytes` from `offset_bytes` (fewer at the end of the file).
    fn read(
        &mut self,
        path: &str,
        offset_bytes: u64,
        length_bytes: u64,
    ) -> Result<Vec<u8>, DiskError>;
    /// The file's length.
    fn length_bytes(&mut self, path: &str) -> Result<u64, DiskError>;
    /// Cuts (or extends with zeros) the file to `length_bytes`.
    fn truncate(&mut self, path: &str, length_bytes: u64) -> Result<(), DiskError>;
    /// Removes a file.
    fn delete(&mut self, path: &str) -> Result<(), DiskError>;
    /// Renames a file, replacing `to` if it exists.
    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError>;
    /// Names starting with `prefix`, in ascending order.
    fn list(&mut self, prefix: &str) -> Result<Vec<String>, DiskError>;
    /// Makes the file's data durable (not its name: see `sync_directory`).
    fn sync(&mut self, path: &str) -> Result<(), DiskError>;
    /// Makes creates, renames and deletes durable.
    fn sync_directory(&mut self) -> Result<(), DiskError>;
    /// Submits an operation that completes after the disk's latency; the result arrives in
    /// `Process::on_disk` with the returned ticket.
    fn submit(&mut self, op: DiskOp) -> Result<DiskTicket, DiskError>;

    /// The whole file.
    fn read_all(&mut self, path: &str) -> Result<Vec<u8>, DiskError> {
        let length = self.length_bytes(path)?;
        self.read(path, 0, length)
    }
}

/// Protocol code in push style. The backing builds a process with its factory at boot and
/// again at every restart, so only what is on disk survives a crash.
///
/// `N` is the node authority. Code written for any backing implements
/// `impl<N: NodeApi<M>> Process<M, N> for MyServer`; code that only ever runs in simulation
/// may implement `Process<M>` (the simulated world's `Context` with typed messages).
pub trait Process<M, N: NodeApi<M> = crate::world::Context<M>>: Any {
    /// Called once when the node boots or restarts.
    fn on_start(&mut self, _node: &mut N) {}
    /// Called when a message from `from` is delivered.
    fn on_message(&mut self, node: &mut N, from: NodeId, message: M);
    /// Called when a timer set with `NodeApi::set_timer` fires; `tag` is the caller's.
    fn on_timer(&mut self, _node: &mut N, _timer: TimerId, _tag: u64) {}
    /// Called when a disk operation submitted with `Storage::submit` completes (`Err` if it
    /// failed). Operations in flight when the node crashes never complete.
    fn on_disk(
        &mut self,
        _node: &mut N,
        _ticket: DiskTicket,
        _result: Result<DiskOutput, DiskError>,
    ) {
    }
}

/// A message as received by a pull-style endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<M> {
    /// The sender.
    pub from: NodeId,
    /// What it sent.
    pub message: M,
}

/// Lifecycle state of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    /// Running: timers fire and messages are delivered.
    Up,
    /// Frozen: no timers, no deliveries; inbound events are held until resume.
    Paused,
    /// Crashed, exited or aborted: no process; packets to it are dropped.
    Down,
}

/// Why a node is down, for traces, checks and failure messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// A crash fault (or the power loss of a disk crash point).
    Crashed,
    /// The process ended itself with `NodeApi::exit`.
    Exited(i32),
    /// The process aborted itself with `NodeApi::abort`.
    Aborted(String),
}
