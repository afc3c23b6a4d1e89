//! Tasks as values: `JoinHandle` (awaits a spawned task's output, or aborts it) and
//! `YieldNow` (lets every other ready task run first).
//!
//! Dropping a join handle detaches its task, which runs on (it may outlive the task that
//! spawned it); only a crash, an exit or `abort` end a task before it finishes. A task never
//! fails: a panic in a task is a panic of the node's callback, which the runner reports as the
//! seed's failure, so a join handle resolves to the task's output, not to a `Result`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use super::executor::{TaskKey, TaskSet};
use super::waker::Waiter;

struct JoinState<T> {
    output: Option<T>,
    finished: bool,
    waiter: Option<Waiter>,
}

/// Where a task leaves its output for its join handle.
pub(crate) struct JoinSlot<T> {
    state: RefCell<JoinState<T>>,
}

impl<T> JoinSlot<T> {
    pub(crate) fn new() -> JoinSlot<T> {
        JoinSlot { state: RefCell::new(JoinState { output: None, finished: false, waiter: None }) }
    }

    /// The task finished with `output`: wakes whoever awaits its handle.
    pub(crate) fn finish(&self, output: T, tasks: &Weak<dyn TaskSet>) {
        let waiter = {
            let mut state = self.state.borrow_mut();
            state.output = Some(output);
            state.finished = true;
            state.waiter.take()
        };
        if let (Some(waiter), Some(tasks)) = (waiter, tasks.upgrade()) {
            waiter.wake(&*tasks);
        }
    }
}

/// A spawned task (see `Node::spawn`): await it for its output, or `abort` it. Dropping the
/// handle detaches the task.
#[must_use = "dropping a join handle detaches its task; bind it to `_task` to say so"]
pub struct JoinHandle<T> {
    /// `None` if the node was already gone when the task was spawned.
    key: Option<TaskKey>,
    slot: Rc<JoinSlot<T>>,
    tasks: Weak<dyn TaskSet>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(
        key: Option<TaskKey>,
        slot: Rc<JoinSlot<T>>,
        tasks: Weak<dyn TaskSet>,
    ) -> JoinHandle<T> {
        JoinHandle { key, slot, tasks }
    }

    /// Whether the task has finished (its output may still be waiting to be taken).
    pub fn is_finished(&self) -> bool {
        self.slot.state.borrow().finished
    }

    /// Ends the task: its future is dropped with everything it holds (at once, or when its
    /// current poll returns if it is the task running), traced as `task_abort`. Nothing
    /// happens if it finished already.
    pub fn abort(self) {
        if self.is_finished() {
            return;
        }
        if let (Some(key), Some(tasks)) = (self.key, self.tasks.upgrade()) {
            tasks.abort(key);
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let mut state = this.slot.state.borrow_mut();
        if let Some(output) = state.output.take() {
            return Poll::Ready(output);
        }
        if state.finished {
            panic!("a join handle was polled after it returned its task's output");
        }
        if let Some(tasks) = this.tasks.upgrade() {
            state.waiter = Some(tasks.waiter(cx));
        }
        Poll::Pending
    }
}

/// Yields once: the task goes to the back of the ready queue (see `Node::yield_now`).
#[must_use = "yielding does nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
    tasks: Weak<dyn TaskSet>,
}

impl YieldNow {
    pub(crate) fn new(tasks: Weak<dyn TaskSet>) -> YieldNow {
        YieldNow { yielded: false, tasks }
    }
}

impl Future for YieldNow {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.yielded {
            return Poll::Ready(());
        }
        this.yielded = true;
        match this.tasks.upgrade() {
            Some(tasks) => tasks.waiter(cx).wake(&*tasks),
            None => cx.waker().wake_by_ref(),
        }
        Poll::Pending
    }
}
