//! The simulated backing of the node authority: `Context` (a process's `NodeApi` during one
//! callback), `AppDisk` (its `Storage`) and pull-style `Endpoint`s for step-by-step tests.
//!
//! A `Context` is the world's core seen through one node: the same memory, a different type
//! whose methods act on the node the world is running a callback of. It has no lifetime of
//! its own, so process code names it as `Context<M>` and generic code as `N: NodeApi<M>`.

use std::borrow::Cow;
use std::fmt::Debug;

use crate::disk::{Disk, DiskError, DiskOp, DiskTicket};
use crate::id::{NodeId, TimerId};
use crate::net::SendError;
use crate::node::{Envelope, NodeApi, Storage};
use crate::rng::Stream;
use crate::time::{Duration, Instant};
use crate::trace::Value;
use crate::wire::{Typed, Wire};

use super::core::{Borrowed, Core, Halt};

/// The node-scoped handle a process acts through during one callback in simulation.
#[repr(transparent)]
pub struct Context<M, W: Wire<M> = Typed> {
    core: Core<M, W>,
}

impl<M, W: Wire<M>> Context<M, W> {
    /// The core seen as the context of `core.current`.
    #[inline(always)]
    pub(crate) fn of(core: &mut Core<M, W>) -> &mut Context<M, W> {
        // SAFETY: `Context` is `repr(transparent)` over `Core`, so the two references have
        // the same layout and validity; the borrow is carried over unchanged.
        unsafe { &mut *(core as *mut Core<M, W> as *mut Context<M, W>) }
    }

    #[inline(always)]
    fn node(&self) -> NodeId {
        self.core.current
    }
}

impl<M: Debug + 'static, W: Wire<M>> Context<M, W> {
    /// Holds or drops a role whose name is not a static string (see `hold_role`).
    pub fn hold_role_owned(&mut self, role: String, held: bool) {
        let node = self.node();
        self.core.hold_role(node, Cow::Owned(role), held);
    }

    /// Declares a sometimes-point whose label is not a static string (see `sometimes`).
    pub fn sometimes_owned(&mut self, condition: bool, label: &str) {
        let node = self.node();
        if self.core.halted(node) {
            return;
        }
        self.core.coverage.sometimes(label, condition);
    }

    /// The run's seed (a child process derives its random stream from it).
    pub(crate) fn seed(&self) -> u64 {
        self.core.seed
    }

    /// The id the next timer set in this run gets: timers are numbered in the order set.
    pub(crate) fn timer_next(&self) -> u64 {
        self.core.next_timer
    }

    /// Records an observation whose kind and field names are not static strings (nodes
    /// outside Rust, such as child processes, name their own).
    pub fn observe_owned(&mut self, kind: String, fields: &[(&str, Value<'_>)]) {
        let node = self.node();
        let fields: Vec<(Borrowed<'_>, Value<'_>)> =
            fields.iter().map(|(name, value)| (Borrowed(name), *value)).collect();
        self.core.observe(node, Cow::Owned(kind), &fields);
    }
}

impl<M: Debug + 'static, W: Wire<M>> NodeApi<M> for Context<M, W> {
    type Storage<'a>
        = AppDisk<'a, M, W>
    where
        Self: 'a;

    #[inline]
    fn id(&self) -> NodeId {
        self.node()
    }

    fn n_nodes(&self) -> usize {
        self.core.nodes.len()
    }

    #[inline]
    fn now(&self) -> Instant {
        self.core.local_now(self.node())
    }

    #[inline]
    fn true_now(&self) -> Instant {
        self.core.now
    }

    fn incarnation(&self) -> u32 {
        self.core.nodes[self.node().index()].incarnation
    }

    #[inline]
    fn send(&mut self, to: NodeId, message: M) {
        let _ = self.try_send(to, message);
    }

    #[inline]
    fn try_send(&mut self, to: NodeId, message: M) -> Result<(), SendError> {
        let node = self.node();
        if self.core.halted(node) {
            return Ok(());
        }
        self.core.send(node, to, message)
    }

    fn set_timer(&mut self, after: Duration, tag: u64) -> TimerId {
        let node = self.node();
        self.core.set_timer(node, after, tag)
    }

    fn cancel_timer(&mut self, timer: TimerId) {
        self.core.cancel_timer(timer);
    }

    #[inline]
    fn rng(&mut self) -> &mut Stream {
        let node = self.node();
        &mut self.core.nodes[node.index()].app_stream
    }

    fn record(&mut self, kind: &str, fields: &[(&str, Value<'_>)]) {
        let node = self.node();
        if self.core.halted(node) {
            return;
        }
        self.core.record_user(Some(node), kind, fields);
    }

    fn observe(&mut self, kind: &'static str, fields: &[(&'static str, Value<'_>)]) {
        let node = self.node();
        self.core.observe(node, Cow::Borrowed(kind), fields);
    }

    fn sometimes(&mut self, condition: bool, label: &'static str) {
        let node = self.node();
        if self.core.halted(node) {
            return;
        }
        self.core.coverage.sometimes(label, condition);
    }

    fn buggify(&mut self, site: &'static str) -> bool {
        let node = self.node();
        if self.core.halted(node) {
            return false;
        }
        self.core.buggify(node, site)
    }

    fn hold_role(&mut self, role: &'static str, held: bool) {
        let node = self.node();
        self.core.hold_role(node, Cow::Borrowed(role), held);
    }

    fn disk(&mut self) -> AppDisk<'_, M, W> {
        AppDisk { node: self.node(), core: &mut self.core }
    }

    fn exit(&mut self, code: i32) {
        let node = self.node();
        self.core.halt(node, Halt::Exit(code));
    }

    fn abort(&mut self, reason: &str) {
        let node = self.node();
        self.core.halt(node, Halt::Abort(reason.to_string()));
    }
}

/// A node's disk as its process sees it in simulation. Each operation is traced where it
/// happens, in program order with the callback's sends. If a crash point fires during an
/// operation, the node has lost power: that operation and every later effect of the
/// current callback (sends, timers, records, disk writes) vanish, and the node crashes when
/// the callback returns.
pub struct AppDisk<'c, M, W: Wire<M> = Typed> {
    node: NodeId,
    core: &'c mut Core<M, W>,
}

impl<M: Debug + 'static, W: Wire<M>> AppDisk<'_, M, W> {
    /// Runs one operation on the node's disk, then traces what it did and notes a power loss.
    /// A node that already stopped within this callback reaches its disk no more.
    #[inline]
    fn operate<T>(
        &mut self,
        operation: impl FnOnce(&mut Disk) -> Result<T, DiskError>,
    ) -> Result<T, DiskError> {
        if self.core.halted(self.node) {
            return Err(DiskError::Crashed);
        }
        let output = operation(&mut self.core.disks[self.node.index()]);
        self.core.after_disk_operation(self.node);
        output
    }
}

impl<M: Debug + 'static, W: Wire<M>> Storage for AppDisk<'_, M, W> {
    fn create(&mut self, path: &str) -> Result<(), DiskError> {
        self.operate(|disk| disk.create(path))
    }
    fn exists(&mut self, path: &str) -> Result<bool, DiskError> {
        self.operate(|disk| disk.exists(path))
    }
    fn write(&mut self, path: &str, offset_bytes: u64, data: &[u8]) -> Result<(), DiskError> {
        self.operate(|disk| disk.write(path, offset_bytes, data))
    }
    fn append(&mut self, path: &str, data: &[u8]) -> Result<u64, DiskError> {
        self.operate(|disk| disk.append(path, data))
    }
    fn read(
        &mut self,
        path: &str,
        offset_bytes: u64,
        length_bytes: u64,
    ) -> Result<Vec<u8>, DiskError> {
        self.operate(|disk| disk.read(path, offset_bytes, length_bytes))
    }
    fn length_bytes(&mut self, path: &str) -> Result<u64, DiskError> {
        self.operate(|disk| disk.length_bytes(path))
    }
    fn truncate(&mut self, path: &str, length_bytes: u64) -> Result<(), DiskError> {
        self.operate(|disk| disk.truncate(path, length_bytes))
    }
    fn delete(&mut self, path: &str) -> Result<(), DiskError> {
        self.operate(|disk| disk.delete(path))
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        self.operate(|disk| disk.rename(from, to))
    }
    fn list(&mut self, prefix: &str) -> Result<Vec<String>, DiskError> {
        self.operate(|disk| disk.list(prefix))
    }
    fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        self.operate(|disk| disk.sync(path))
    }
    fn sync_directory(&mut self) -> Result<(), DiskError> {
        self.operate(|disk| disk.sync_directory())
    }
    fn submit(&mut self, op: DiskOp) -> Result<DiskTicket, DiskError> {
        if self.core.halted(self.node) {
            return Err(DiskError::Crashed);
        }
        let ticket = self.core.submit_disk(self.node, op);
        self.core.after_disk_operation(self.node);
        ticket
    }
}

/// A pull-style endpoint bound to one node, for step-by-step tests: the test sends and
/// receives itself and drives the world with `step` / `run_for` in between.
pub struct Endpoint<'w, M, W: Wire<M> = Typed> {
    pub(crate) node: NodeId,
    pub(crate) core: &'w mut Core<M, W>,
}

impl<M: Debug + 'static, W: Wire<M>> Endpoint<'_, M, W> {
    /// The node this endpoint is.
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
