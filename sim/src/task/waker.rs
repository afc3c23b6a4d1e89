//! How a task is woken: `Waiter` (what a pending operation keeps to wake its task) and the
//! task wakers that futures from outside this module (`futures` channels, combinators that wrap
//! wakers) receive.
//!
//! The executor's own operations (receives, sleeps, disk operations, joins) recognise the
//! waker of the task being polled and keep just the task's key: waking it is a push onto the
//! node's ready queue, with no reference counting or locking. Any other waker is a real
//! `std::task::Waker` over a `TaskWaker`, which must be sendable to any thread by `Waker`'s
//! contract: it holds only the node's `Wakes` (an `Arc` with a mutex), never the executor
//! itself, and the executor drains `Wakes` into its ready queue before every other wake and
//! every poll, so wakes keep the order they happened in whichever path they took.
//!
//! A waker fired from outside the world (another thread, a tokio timer or socket, another
//! node's callback through a channel shared behind the network's back, or between callbacks)
//! would make the run depend on something other than the seed (and on the production runtime,
//! leave the task asleep until the node's next event); debug builds panic there, naming the
//! node.

#[cfg(debug_assertions)]
use std::sync::atomic::AtomicU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

use super::executor::{TaskKey, TaskSet};

/// What a pending operation keeps to wake the task that waits on it.
pub(crate) enum Waiter {
    /// The task itself (the operation was polled with the task's own waker).
    Task(TaskKey),
    /// Any other waker (a combinator's, or one from another executor).
    Waker(Waker),
}

impl Waiter {
    /// Whether both wake the same task the same way.
    #[inline]
    pub(crate) fn same_as(&self, other: &Waiter) -> bool {
        match (self, other) {
            (Waiter::Task(a), Waiter::Task(b)) => a == b,
            (Waiter::Waker(a), Waiter::Waker(b)) => a.will_wake(b),
            _ => false,
        }
    }

    /// Wakes the waiting task.
    #[inline]
    pub(crate) fn wake<T: TaskSet + ?Sized>(self, tasks: &T) {
        match self {
            Waiter::Task(key) => tasks.wake_task(key),
            Waiter::Waker(waker) => waker.wake(),
        }
    }
}

/// Wakes of a node's tasks that came through a `Waker`, waiting for the executor to take
/// them, in the order they happened.
pub(crate) struct Wakes {
    queue: Mutex<Vec<TaskKey>>,
    pending: AtomicBool,
    /// Set when the executor is dropped (a crash): wakes then do nothing.
    closed: AtomicBool,
    /// Whether a callback of the node is running (checked in debug builds).
    #[cfg(debug_assertions)]
    in_callback: AtomicBool,
    /// The node, for messages (`u32::MAX` until its first callback).
    #[cfg(debug_assertions)]
    node: AtomicU32,
    /// The thread the node runs on.
    #[cfg(debug_assertions)]
    owner: std::thread::ThreadId,
}

impl Wakes {
    pub(crate) fn new() -> Wakes {
        Wakes {
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            #[cfg(debug_assertions)]
            in_callback: AtomicBool::new(false),
            #[cfg(debug_assertions)]
            node: AtomicU32::new(u32::MAX),
            #[cfg(debug_assertions)]
            owner: std::thread::current().id(),
        }
    }

    /// Whether wakes are waiting to be taken (one relaxed load: the common answer is no).
    #[inline(always)]
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Hands every waiting wake to `f`, oldest first.
    #[cold]
    pub(crate) fn drain(&self, mut f: impl FnMut(TaskKey)) {
        let mut queue = self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.pending.store(false, Ordering::Release);
        for key in queue.drain(..) {
            f(key);
        }
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Notes whether a callback of `node` is running (for the checks of debug builds).
    #[inline(always)]
    pub(crate) fn set_in_callback(&self, _in_callback: bool, _node: u32) {
        #[cfg(debug_assertions)]
        {
            self.in_callback.store(_in_callback, Ordering::Relaxed);
            self.node.store(_node, Ordering::Relaxed);
        }
    }

    fn push(&self, key: TaskKey) {
        #[cfg(debug_assertions)]
        self.check_inside_the_world();
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let mut queue = self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        queue.push(key);
        self.pending.store(true, Ordering::Release);
    }

    #[cfg(debug_assertions)]
    fn node_name(&self) -> String {
        match self.node.load(Ordering::Relaxed) {
            u32::MAX => "a node that has not started".to_string(),
            node => format!("n{node}"),
        }
    }

    /// Panics if this wake comes from outside the node's world: another thread, or no
    /// callback of the node (unless the node is gone, whose tasks nothing can wake).
    #[cfg(debug_assertions)]
    fn check_inside_the_world(&self) {
        if std::thread::current().id() != self.owner {
            panic!(
                "a waker of a task of {} fired from another thread: simulated tasks may only be \
                 woken by the simulation (no tokio timers or sockets, no std threads); the run \
                 would no longer be a function of its seed",
                self.node_name()
            );
        }
        if !self.in_callback.load(Ordering::Relaxed) && !self.closed.load(Ordering::Relaxed) {
            panic!(
                "a waker of a task of {} fired outside the node's callbacks (a tokio timer or \
                 socket awaited in a task, another node's task through a channel shared behind \
                 the network's back, or the test between events): tasks may only wait on their \
                 node's handle, and nodes only talk through the network",
                self.node_name()
            );
        }
    }
}

/// The waker of one task, as futures from outside the executor see it.
pub(crate) struct TaskWaker {
    pub(crate) key: TaskKey,
    pub(crate) wakes: Arc<Wakes>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.push(self.key);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.push(self.key);
    }
}
