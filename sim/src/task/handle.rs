//! `Node`: the handle a node's tasks act through. The node-scoped authority (`NodeApi`) as
//! async operations: receive, send, sleep, timeouts, spawn, disk, randomness, records.
//!
//! A handle is cheap to clone (one `Rc`) and every task of the node may hold one. It works
//! only while the node runs one of its callbacks, which is the only time its tasks run: a
//! handle used anywhere else (a check, a factory before its `async` block, a thread) panics
//! saying so. Every operation acts on this node only; nothing here reaches another node, the
//! network or a fault power.

use std::future::Future;
use std::rc::{Rc, Weak};

use crate::disk::DiskOp;
use crate::id::NodeId;
use crate::net::SendError;
use crate::rng::Stream;
use crate::time::{Duration, Instant};
use crate::trace::Value;

use super::disk::{DiskCompletion, NodeDisk};
use super::executor::{Executor, TaskSet};
use super::join::{JoinHandle, YieldNow};
use super::mailbox::{FromPeer, Map, Next, Recv, Where};
use super::sleep::{Sleep, Timeout};

/// The handle a node's tasks act through (see the module documentation of `task`).
pub struct Node<M: 'static> {
    pub(crate) executor: Rc<Executor<M>>,
}

impl<M: 'static> Clone for Node<M> {
    fn clone(&self) -> Self {
        Node { executor: self.executor.clone() }
    }
}

impl<M: 'static> Node<M> {
    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.executor.loan.with(|authority| authority.id())
    }

    /// How many nodes the system has (ids are `0..n`).
    pub fn n_nodes(&self) -> usize {
        self.executor.loan.with(|authority| authority.n_nodes())
    }

    /// The node's local clock (skewed or drifting if a fault says so). Virtual time does not
    /// move while tasks run: it moves between callbacks, while every task waits.
    pub fn now(&self) -> Instant {
        self.executor.loan.with(|authority| authority.now())
    }

    /// The clock every node shares, for instruments outside the system under test (see
    /// `NodeApi::true_now`). Protocol logic must use `now`.
    pub fn true_now(&self) -> Instant {
        self.executor.loan.with(|authority| authority.true_now())
    }

    /// Which incarnation of the node this is (0 at first boot, one more per restart).
    pub fn incarnation(&self) -> u32 {
        self.executor.loan.with(|authority| authority.incarnation())
    }

    /// Sends `message` to `to`; drops are silent, as on a real network.
    #[inline]
    pub fn send(&self, to: NodeId, message: M) {
        self.executor.loan.with(|authority| authority.send(to, message))
    }

    /// Like `send`, but a link that refuses when full says so.
    pub fn try_send(&self, to: NodeId, message: M) -> Result<(), SendError> {
        self.executor.loan.with(|authority| authority.try_send(to, message))
    }

    /// The next message, whoever sent it: `(from, message)`.
    #[inline]
    pub fn recv(&self) -> Recv<'_, M, Next> {
        Recv::new(self, Next)
    }

    /// The next message from `peer`; messages from others stay in the mailbox.
    pub fn recv_from(&self, peer: NodeId) -> Recv<'_, M, FromPeer> {
        Recv::new(self, FromPeer(peer))
    }

    /// The next message `accept` accepts (a per-kind receive), e.g.
    /// `node.recv_where(|_, m| matches!(m, Msg::Vote { .. }))`; the others stay.
    pub fn recv_where<P: FnMut(NodeId, &M) -> bool + Unpin>(
        &self,
        accept: P,
    ) -> Recv<'_, M, Where<P>> {
        Recv::new(self, Where(accept))
    }

    /// The first message `map` turns into a value, which the receive resolves to (a typed
    /// receive), e.g. the reply to request 7:
    /// `node.recv_map(|_, m| match m { Msg::Reply { id: 7, value } => Some(*value), _ => None })`.
    pub fn recv_map<T, F: FnMut(NodeId, &M) -> Option<T> + Unpin>(
        &self,
        map: F,
    ) -> Recv<'_, M, Map<F>> {
        Recv::new(self, Map(map))
    }

    /// The next message if one is waiting, without waiting.
    pub fn try_recv(&self) -> Option<(NodeId, M)> {
        self.executor.mailbox.borrow_mut().pop_front()
    }

    /// Messages delivered and not yet received.
    pub fn messages_waiting(&self) -> usize {
        self.executor.mailbox.borrow().len()
    }

    /// Waits `duration` of the node's local time, from now.
    pub fn sleep(&self, duration: Duration) -> Sleep<M> {
        let deadline = self.now() + duration;
        Sleep::new(self.clone(), deadline)
    }

    /// Waits until the node's local clock reads `deadline` (at once if it has passed).
    pub fn sleep_until(&self, deadline: Instant) -> Sleep<M> {
        Sleep::new(self.clone(), deadline)
    }

    /// Bounds `future` by `duration` from now: `Err(Elapsed)` if it has not finished by then
    /// (it is dropped with the timeout). If both are ready at once, the future wins.
    pub fn timeout<F: Future>(&self, duration: Duration, future: F) -> Timeout<M, F> {
        Timeout::new(future, self.sleep(duration))
    }

    /// Lets every other ready task of the node run before this one continues. Virtual time
    /// does not move: to wait, sleep or receive.
    pub fn yield_now(&self) -> YieldNow {
        let tasks: Weak<dyn TaskSet> = Rc::downgrade(&self.executor) as Weak<dyn TaskSet>;
        YieldNow::new(tasks)
    }

    /// Spawns `future` as a task of this node, named `name` in traces (`task_spawn`,
    /// `task_finish`). It runs after the spawning task next waits, in readiness order, and
    /// lives until it finishes, is aborted, or the node crashes, exits or restarts; it may
    /// outlive the task that spawned it.
    pub fn spawn<T: 'static>(
        &self,
        name: &'static str,
        future: impl Future<Output = T> + 'static,
    ) -> JoinHandle<T> {
        self.executor.spawn(name, future)
    }

    /// The node's disk, for immediate operations (and `DurableCell` / `DurableLog`).
    pub fn disk(&self) -> NodeDisk<'_, M> {
        NodeDisk { node: self }
    }

    /// Submits `op` to the disk; resolves when it completes, after the disk's latency.
    pub fn disk_op(&self, op: DiskOp) -> DiskCompletion<M> {
        DiskCompletion::new(self.clone(), op)
    }

    /// Runs `f` with this node's random stream (in simulation derived from (seed, node,
    /// incarnation)). `f` must not use the node's handle.
    pub fn with_rng<R>(&self, f: impl FnOnce(&mut Stream) -> R) -> R {
        self.executor.loan.with(|authority| f(authority.rng()))
    }

    /// Records a trace event of this node (see `NodeApi::record`).
    pub fn record(&self, kind: &str, fields: &[(&str, Value<'_>)]) {
        self.executor.loan.with(|authority| authority.record(kind, fields))
    }

    /// Records an observation for checks (see `NodeApi::observe`).
    pub fn observe(&self, kind: &'static str, fields: &[(&'static str, Value<'_>)]) {
        self.executor.loan.with(|authority| authority.observe(kind, fields))
    }

    /// A sometimes-assertion (see `NodeApi::sometimes`).
    pub fn sometimes(&self, condition: bool, label: &'static str) {
        self.executor.loan.with(|authority| authority.sometimes(condition, label))
    }

    /// An in-code fault point (see `NodeApi::buggify`).
    pub fn buggify(&self, site: &'static str) -> bool {
        self.executor.loan.with(|authority| authority.buggify(site))
    }

    /// Announces that this node holds `role` now, or no longer (see `NodeApi::hold_role`).
    pub fn hold_role(&self, role: &'static str, held: bool) {
        self.executor.loan.with(|authority| authority.hold_role(role, held))
    }

    /// Ends the node's process with `code` (see `NodeApi::exit`): no task runs again, and
    /// nothing more of this callback takes effect.
    pub fn exit(&self, code: i32) {
        self.executor.loan.with(|authority| authority.exit(code));
        self.executor.stop();
    }

    /// Aborts the node's process (see `NodeApi::abort`): no task runs again.
    pub fn abort(&self, reason: &str) {
        self.executor.loan.with(|authority| authority.abort(reason));
        self.executor.stop();
    }
}
