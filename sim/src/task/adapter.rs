//! `AsyncNode`: async protocol code as a `Process`. The adapter holds the node's executor
//! and turns each callback of the backing into wakes of the tasks waiting on it.
//!
//! `on_start` spawns the main task; `on_message` puts the message in the mailbox; `on_timer`
//! fires the timer of a sleep; `on_disk` completes a submitted disk operation. Each then polls
//! the ready tasks until none is ready. The adapter implements `Process<M, N>` for every
//! backing `N`, so the same async node runs in a simulated world beside callback-style
//! processes (one world, one message type) and on a production runtime.
//!
//! The backing owns the adapter like any process: a crash (or exit, or abort) drops it, and
//! every task, sleep and waiting receive of the node goes with it; a pause holds the node's
//! events, so its tasks stay frozen where they wait; a restart builds a new adapter with the
//! factory and starts its main task again.

use std::cell::{Ref, RefCell};
use std::future::Future;
use std::rc::Rc;

use crate::disk::{DiskError, DiskOutput, DiskTicket};
use crate::id::{NodeId, TimerId};
use crate::node::{NodeApi, Process};

use super::executor::{Executor, TaskFuture};
use super::handle::Node;
use super::mailbox::MAILBOX_CAPACITY;

/// A node whose process is async code (see the module documentation of `task`). `S` is
/// state the node's tasks share with the world's checks (`state`), `()` if none.
pub struct AsyncNode<M: 'static, S: 'static = ()> {
    executor: Rc<Executor<M>>,
    state: Rc<RefCell<S>>,
    main: Option<TaskFuture>,
}

impl<M: 'static> AsyncNode<M, ()> {
    /// A node whose main task is `main(node)`, e.g. `AsyncNode::new(|node| server(node))`.
    /// `main` is called now, to build the main task's future; the future runs from the node's
    /// start. Code in `main` outside the returned future must not use the handle.
    pub fn new<F, Fut>(main: F) -> AsyncNode<M, ()>
    where
        F: FnOnce(Node<M>) -> Fut,
        Fut: Future<Output = ()> + 'static,
    {
        AsyncNode::with_state((), |node, _| main(node))
    }
}

impl<M: 'static, S: 'static> AsyncNode<M, S> {
    /// A node with state `state` that its tasks share (`main` gets it as
    /// `Rc<RefCell<S>>`) and checks read (`AsyncNode::state`). Never hold a borrow of it
    /// across an `.await`: a check runs while the task waits.
    pub fn with_state<F, Fut>(state: S, main: F) -> AsyncNode<M, S>
    where
        F: FnOnce(Node<M>, Rc<RefCell<S>>) -> Fut,
        Fut: Future<Output = ()> + 'static,
    {
        let executor = Executor::new(MAILBOX_CAPACITY);
        let state = Rc::new(RefCell::new(state));
        let node = Node { executor: executor.clone() };
        let main: TaskFuture = Box::pin(main(node, state.clone()));
        AsyncNode { executor, state, main: Some(main) }
    }

    /// Bounds the messages waiting in the mailbox (default 65,536); more are dropped and
    /// traced as `mailbox_full`.
    pub fn mailbox_capacity(self, capacity: usize) -> Self {
        self.executor.mailbox.borrow_mut().set_capacity(capacity);
        self
    }

    /// The state shared with the node's tasks, for checks. Panics if a task holds it
    /// borrowed mutably across an `.await`.
    pub fn state(&self) -> Ref<'_, S> {
        self.state.borrow()
    }

    /// Tasks alive: spawned and neither finished nor aborted.
    pub fn tasks_alive(&self) -> usize {
        self.executor.live()
    }

    /// The node this adapter runs (known from its first callback on).
    pub fn node_id(&self) -> Option<NodeId> {
        self.executor.node_id()
    }
}

impl<M: 'static, S: 'static, N: NodeApi<M>> Process<M, N> for AsyncNode<M, S> {
    fn on_start(&mut self, node: &mut N) {
        let main = self.main.take();
        self.executor.callback(node, |executor| {
            if let Some(main) = main {
                executor.insert("main", main);
            }
        });
    }

    #[inline]
    fn on_message(&mut self, node: &mut N, from: NodeId, message: M) {
        self.executor.callback(node, |executor| executor.deliver(from, message));
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, tag: u64) {
        self.executor.callback(node, |executor| executor.fire_timer(tag));
    }

    fn on_disk(&mut self, node: &mut N, ticket: DiskTicket, result: Result<DiskOutput, DiskError>) {
        self.executor.callback(node, |executor| executor.complete_disk(ticket.id(), result));
    }
}

impl<M: 'static, S: 'static> Drop for AsyncNode<M, S> {
    fn drop(&mut self) {
        // Tasks hold handles to the executor: dropping their futures breaks the cycle.
        self.executor.shutdown();
    }
}
