//! Nodes and the code that runs on them: the `Process` trait (push style), the node-scoped
//! `Context` handle it acts through, per-node clocks, and pull-style `Endpoint`s.
//!
//! The context is the application's whole authority: it can send as its own node, set and
//! cancel its own timers, read its own (possibly skewed) clock, draw from its own random
//! stream, use its own disk and record trace events. It cannot reach other nodes, the network
//! or the control surface: those powers live on `Control`, a different type that no context
//! method returns, so production-shaped code cannot use them by construction.

use std::any::Any;
use std::fmt;

use crate::disk::{Disk, DiskError, DiskOp, DiskOutput, DiskTicket};
use crate::net::SendError;
use crate::rng::Stream;
use crate::time::{Duration, Instant};
use crate::trace::Value;
use crate::wire::{Typed, Wire};
use crate::world::Core;

/// A node's stable id; printed `n3`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub u32);

impl NodeId {
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A timer's id, unique within a run; printed `t7`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);

impl fmt::Display for TimerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl fmt::Debug for TimerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Protocol code in push style. The world builds a process with its factory at boot and
/// again at every restart, so only what is on the simulated disk survives a crash.
///
/// `W` is the wire (see `wire`); code that uses typed messages never names it.
pub trait Process<M, W: Wire<M> = Typed>: Any {
    /// Called once when the node boots or restarts.
    fn on_start(&mut self, _ctx: &mut Context<'_, M, W>) {}
    /// Called when a message from `from` is delivered.
    fn on_message(&mut self, ctx: &mut Context<'_, M, W>, from: NodeId, message: M);
    /// Called when a timer set with `Context::set_timer` fires; `tag` is the caller's.
    fn on_timer(&mut self, _ctx: &mut Context<'_, M, W>, _timer: TimerId, _tag: u64) {}
    /// Called when a disk operation submitted with `AppDisk::submit` completes (`Err` if it
    /// failed). Operations in flight when the node crashes never complete.
    fn on_disk(
        &mut self,
        _ctx: &mut Context<'_, M, W>,
        _ticket: DiskTicket,
        _result: Result<DiskOutput, DiskError>,
    ) {
    }
}

/// A message as received by a pull-style endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<M> {
    pub from: NodeId,
    pub message: M,
}

/// Lifecycle state of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    Up,
    /// Frozen: no timers, no deliveries; inbound events are held until resume.
    Paused,
    /// Crashed: no process; packets to it are dropped.
    Down,
}

/// A node's local clock: an offset from true virtual time plus a drift rate, so `now()` can
/// run ahead, behind, faster or slower while the scheduler stays on true time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clock {
    anchor_true: u64,
    anchor_local: i128,
    drift_ppm: i64,
}

impl Clock {
    /// The local reading at true time `now`.
    #[inline]
    pub fn local(&self, now: Instant) -> Instant {
        if self.drift_ppm == 0 && self.anchor_local == i128::from(self.anchor_true) {
            return now;
        }
        let elapsed = i128::from(now.as_nanos()) - i128::from(self.anchor_true);
        let scaled = elapsed * (1_000_000 + i128::from(self.drift_ppm)) / 1_000_000;
        let local = (self.anchor_local + scaled).clamp(0, i128::from(u64::MAX));
        Instant::from_nanos(local as u64)
    }

    /// From true time `now` on, the local clock reads `now + offset` and runs at
    /// `1 + drift_ppm / 10^6` times true speed. `drift_ppm` must be above -1,000,000.
    pub fn set(&mut self, now: Instant, offset_nanos: i64, drift_ppm: i64) {
        assert!(drift_ppm > -1_000_000, "a clock cannot run at zero or negative speed");
        self.anchor_true = now.as_nanos();
        self.anchor_local = i128::from(now.as_nanos()) + i128::from(offset_nanos);
        self.drift_ppm = drift_ppm;
    }

    /// The true duration after which `local` time has elapsed on this clock (rounded up).
    #[inline]
    pub fn true_duration(&self, local: Duration) -> Duration {
        if self.drift_ppm == 0 {
            return local;
        }
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        let nanos = (i128::from(local.as_nanos()) * 1_000_000 + rate - 1) / rate;
        Duration::from_nanos(nanos.min(i128::from(u64::MAX)) as u64)
    }
}

/// The node-scoped handle a process acts through during one callback.
pub struct Context<'a, M, W: Wire<M> = Typed> {
    pub(crate) node: NodeId,
    pub(crate) core: &'a mut Core<M, W>,
}

impl<M: fmt::Debug + 'static, W: Wire<M>> Context<'_, M, W> {
    /// This node's id.
    #[inline]
    pub fn id(&self) -> NodeId {
        self.node
    }

    /// The node's local clock reading (skewed or drifting if a fault says so).
    #[inline]
    pub fn now(&self) -> Instant {
        self.core.local_now(self.node)
    }

    /// The world's true virtual time, whatever this node's clock says. For instruments that
    /// stand outside the system under test, as Jepsen's history recorder does: operations must
    /// be stamped on one clock for a linearizability check, and a skewed client clock would
    /// invent real-time orders. Protocol logic must use `now`: production has no other clock.
    #[inline]
    pub fn true_now(&self) -> Instant {
        self.core.now
    }

    /// How many nodes the world has (ids are `0..n`).
    pub fn n_nodes(&self) -> usize {
        self.core.nodes.len()
    }

    /// Sends `message` to `to`. Drops (loss, partition, full queue...) are silent to the
    /// sender, as on a real network, and traced; see `try_send` to learn of a full queue.
    #[inline]
    pub fn send(&mut self, to: NodeId, message: M) {
        let _ = self.try_send(to, message);
    }

    /// Like `send`, but a link configured with `WhenFull::Reject` reports a full queue.
    #[inline]
    pub fn try_send(&mut self, to: NodeId, message: M) -> Result<(), SendError> {
        if self.core.power_lost(self.node) {
            return Ok(());
        }
        self.core.send(self.node, to, message)
    }

    /// Sets a timer that fires after `after` of this node's local time; `tag` comes back in
    /// `on_timer` so a process can tell its timers apart.
    pub fn set_timer(&mut self, after: Duration, tag: u64) -> TimerId {
        self.core.set_timer(self.node, after, tag)
    }

    /// Cancels a timer; cancelling one that already fired or was cancelled does nothing.
    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.core.cancel_timer(timer);
    }

    /// This node's own random stream (`node.app[i]`), reset at every restart.
    #[inline]
    pub fn rng(&mut self) -> &mut Stream {
        &mut self.core.nodes[self.node.index()].app_stream
    }

    /// Records a trace event of this node: `ctx.record("elected", &[("term", 3u64.into())])`.
    pub fn record(&mut self, kind: &str, fields: &[(&str, Value<'_>)]) {
        if self.core.power_lost(self.node) {
            return;
        }
        self.core.record_user(Some(self.node), kind, fields);
    }

    /// A point that should be reached in some run (a sometimes-assertion): declared whenever
    /// this runs, reached once `condition` is true. A sweep's summary lists the points no seed
    /// reached, e.g. `ctx.sometimes(self.log.len() > 100, "log grew past a snapshot")`.
    pub fn sometimes(&mut self, condition: bool, label: &'static str) {
        if self.core.power_lost(self.node) {
            return;
        }
        self.core.coverage.sometimes(label, condition);
    }

    /// An in-code fault point (FoundationDB's buggify): true rarely, only in simulation with
    /// buggify enabled; each site is switched on or off once per run and, when on, fires with
    /// the configured probability. Activations are traced.
    pub fn buggify(&mut self, site: &'static str) -> bool {
        if self.core.power_lost(self.node) {
            return false;
        }
        self.core.buggify(self.node, site)
    }

    /// This node's simulated disk, which survives crashes (see `disk` for the crash
    /// contract). Only the application's operations: fault settings are on `Control`.
    pub fn disk(&mut self) -> AppDisk<'_, M, W> {
        AppDisk { node: self.node, core: self.core }
    }
}

/// A node's disk as its process sees it: file operations, immediate or completion-based.
/// If a crash point fires during an operation, the node has lost power: that operation and
/// every later effect of the current callback (sends, timers, records, disk writes) vanish,
/// and the node crashes when the callback returns.
pub struct AppDisk<'c, M, W: Wire<M> = Typed> {
    node: NodeId,
    core: &'c mut Core<M, W>,
}

impl<M: fmt::Debug + 'static, W: Wire<M>> AppDisk<'_, M, W> {
    fn disk(&mut self) -> &mut Disk {
        &mut self.core.disks[self.node.index()]
    }
    pub fn create(&mut self, path: &str) -> Result<(), DiskError> {
        self.disk().create(path)
    }
    pub fn exists(&mut self, path: &str) -> Result<bool, DiskError> {
        self.disk().exists(path)
    }
    pub fn write(&mut self, path: &str, offset_bytes: u64, data: &[u8]) -> Result<(), DiskError> {
        self.disk().write(path, offset_bytes, data)
    }
    /// Appends and returns the offset the data starts at.
    pub fn append(&mut self, path: &str, data: &[u8]) -> Result<u64, DiskError> {
        self.disk().append(path, data)
    }
    pub fn read(
        &mut self,
        path: &str,
        offset_bytes: u64,
        length_bytes: u64,
    ) -> Result<Vec<u8>, DiskError> {
        self.disk().read(path, offset_bytes, length_bytes)
    }
    /// The whole file.
    pub fn read_all(&mut self, path: &str) -> Result<Vec<u8>, DiskError> {
        let length = self.disk().length_bytes(path)?;
        self.disk().read(path, 0, length)
    }
    pub fn length_bytes(&mut self, path: &str) -> Result<u64, DiskError> {
        self.disk().length_bytes(path)
    }
    pub fn truncate(&mut self, path: &str, length_bytes: u64) -> Result<(), DiskError> {
        self.disk().truncate(path, length_bytes)
    }
    pub fn delete(&mut self, path: &str) -> Result<(), DiskError> {
        self.disk().delete(path)
    }
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        self.disk().rename(from, to)
    }
    pub fn list(&mut self, prefix: &str) -> Result<Vec<String>, DiskError> {
        self.disk().list(prefix)
    }
    /// Makes the file's data durable (not its name: see `sync_directory`).
    pub fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        self.disk().sync(path)
    }
    /// Makes creates, renames and deletes durable.
    pub fn sync_directory(&mut self) -> Result<(), DiskError> {
        self.disk().sync_directory()
    }
    /// Submits an operation that completes after the disk's latency; the result arrives in
    /// `Process::on_disk` with the returned ticket.
    pub fn submit(&mut self, op: DiskOp) -> Result<DiskTicket, DiskError> {
        self.core.submit_disk(self.node, op)
    }
}

/// Fault points for code shared with production: the simulation's context fires them, the
/// production implementation never does.
pub trait FaultPoints {
    fn buggify(&mut self, site: &'static str) -> bool;
}

impl<M: fmt::Debug + 'static, W: Wire<M>> FaultPoints for Context<'_, M, W> {
    fn buggify(&mut self, site: &'static str) -> bool {
        Context::buggify(self, site)
    }
}

/// Production's fault points: always false.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFaults;

impl FaultPoints for NoFaults {
    fn buggify(&mut self, _site: &'static str) -> bool {
        false
    }
}

/// A pull-style endpoint bound to one node, for step-by-step tests: the test sends and
/// receives itself and drives the world with `step` / `run_for` in between.
pub struct Endpoint<'w, M, W: Wire<M> = Typed> {
    pub(crate) node: NodeId,
    pub(crate) core: &'w mut Core<M, W>,
}

impl<M: fmt::Debug + 'static, W: Wire<M>> Endpoint<'_, M, W> {
    pub fn id(&self) -> NodeId {
        self.node
    }

    /// Sends as this node, through the same network as processes.
    pub fn send(&mut self, to: NodeId, message: M) -> Result<(), SendError> {
        self.core.send(self.node, to, message)
    }

    /// The oldest message delivered to this node and not yet received.
    pub fn receive(&mut self) -> Option<Envelope<M>> {
        self.core.nodes[self.node.index()].inbox.pop_front()
    }

    /// Everything delivered and not yet received, oldest first.
    pub fn drain(&mut self) -> Vec<Envelope<M>> {
        self.core.nodes[self.node.index()].inbox.drain(..).collect()
    }

    /// The node's clock reading.
    pub fn now(&self) -> Instant {
        self.core.local_now(self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves skewed and drifting clocks read as configured and timers convert back exactly.
    #[test]
    fn clocks_skew_and_drift() {
        let mut clock = Clock::default();
        let t = Instant::from_nanos(1_000_000_000);
        assert_eq!(clock.local(t), t);
        clock.set(t, 500_000_000, 0);
        assert_eq!(clock.local(t), Instant::from_nanos(1_500_000_000));
        clock.set(t, -200_000_000, 100_000); // 10% fast, 200ms behind
        assert_eq!(clock.local(t), Instant::from_nanos(800_000_000));
        assert_eq!(
            clock.local(Instant::from_nanos(2_000_000_000)),
            Instant::from_nanos(1_900_000_000)
        );
        assert_eq!(clock.true_duration(Duration::from_millis(110)), Duration::from_millis(100));
        clock.set(t, -2_000_000_000, 0);
        assert_eq!(clock.local(t), Instant::ZERO, "a clock never reads before zero");
    }
}
