//! The executor of one node: its tasks, the order they run in, and the bounds on them.
//!
//! Tasks live in a slab of slots; a task's key is (slot, generation), so a stale key (a wake
//! of a finished or aborted task) never reaches a newer task in the same slot. Ready tasks wait
//! in one FIFO queue in the order they became ready (the readiness sequence): a task woken
//! while already queued keeps its place, a task that wakes itself while running (`yield_now`)
//! goes to the back. Nothing orders tasks by address or hash. Tasks are polled only inside a
//! callback of the node, after the callback's event (a delivery, a timer, a disk completion,
//! the start) has woken whoever waited on it, until no task is ready; then the callback
//! returns to the backing, and virtual time can move on.
//!
//! The order tasks were polled in during a callback is folded into the run's fingerprint
//! (one word per callback, `NodeApi::fold_fingerprint`), so a change of polling order is a
//! change of the run even when no effect shows it. Spawns, finishes and aborts are trace
//! records (`task_spawn`, `task_finish`, `task_abort`), fingerprinted like any record.
//!
//! A callback that polls more than `POLLS_PER_CALLBACK_MAX` times has tasks that never all wait
//! on the world (a loop over `yield_now`, or two tasks handing a channel back and forth):
//! virtual time could never move again, so the executor records `task_hang` and panics, naming
//! the node and the task it was about to poll, instead of letting the seed spin until the
//! wall-clock watchdog fires.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::disk::{DiskError, DiskOutput};
use crate::id::NodeId;
use crate::node::NodeApi;

use super::authority::Loan;
use super::disk::DiskWaits;
use super::join::{JoinHandle, JoinSlot};
use super::mailbox::Mailbox;
use super::sleep::TimerWaits;
use super::waker::{TaskWaker, Waiter, Wakes};

/// A callback polling its tasks more often than this is reported as a hang: its tasks never
/// all wait on the world.
pub const POLLS_PER_CALLBACK_MAX: u64 = 1_000_000;

/// A task's future, boxed once at spawn.
pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Names a task: its slot and the slot's generation when it was spawned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskKey {
    index: u32,
    generation: u32,
}

/// What a task's join handle and finishing task need of the executor, without its message
/// type.
pub(crate) trait TaskSet {
    /// Makes a task ready (a no-op for a finished task or one already queued).
    fn wake_task(&self, key: TaskKey);
    /// What an operation polled with `cx` keeps to wake its task.
    fn waiter(&self, cx: &Context<'_>) -> Waiter;
    /// Drops a task's future (at once, or after its poll if it is the one running).
    fn abort(&self, key: TaskKey);
}

struct Slot {
    generation: u32,
    live: bool,
    /// In the ready queue.
    queued: bool,
    /// Set when the task is aborted while it runs: dropped when its poll returns.
    aborted: bool,
    /// The task's number within the node's incarnation (0 is `main`), for traces.
    id: u64,
    name: &'static str,
    /// Out of the slot while the task is polled.
    future: Option<TaskFuture>,
    waker: Option<Waker>,
}

/// Everything of the executor that is not generic over the message type.
struct Tasks {
    slots: Vec<Slot>,
    free: Vec<u32>,
    ready: VecDeque<TaskKey>,
    next_id: u64,
    live: usize,
    /// The process ended itself (`exit`, `abort`): no task runs again.
    stopped: bool,
    /// The executor is being dropped.
    closed: bool,
}

const DIGEST_SEED: u64 = 0x7461_736b_2d6f_7264; // "task-ord"

impl Tasks {
    #[inline(always)]
    fn slot(&mut self, key: TaskKey) -> Option<&mut Slot> {
        // Slots never shrink: a key's index is always in range.
        let slot = &mut self.slots[key.index as usize];
        (slot.generation == key.generation && slot.live).then_some(slot)
    }

    #[inline]
    fn enqueue(&mut self, key: TaskKey) {
        let Some(slot) = self.slot(key) else { return };
        if !slot.queued {
            slot.queued = true;
            self.ready.push_back(key);
        }
    }

    /// Frees a task's slot; its future (if out of the slot) is the caller's to drop.
    fn free(&mut self, key: TaskKey) -> Option<(Option<TaskFuture>, Option<Waker>, u64)> {
        let slot = self.slot(key)?;
        slot.live = false;
        slot.queued = false;
        slot.aborted = false;
        slot.generation = slot.generation.wrapping_add(1);
        let taken = (slot.future.take(), slot.waker.take(), slot.id);
        self.free.push(key.index);
        self.live -= 1;
        Some(taken)
    }
}

/// One node's executor. Shared (`Rc`) by the adapter, every handle and every operation.
pub(crate) struct Executor<M: 'static> {
    pub(crate) loan: Loan<M>,
    tasks: RefCell<Tasks>,
    pub(crate) mailbox: RefCell<Mailbox<M>>,
    pub(crate) timers: RefCell<TimerWaits>,
    pub(crate) disk: RefCell<DiskWaits>,
    wakes: Arc<Wakes>,
    /// The task being polled, with its waker's data pointer (see `waiter`).
    current: Cell<Option<(TaskKey, *const ())>>,
    /// The node (known from its first callback on).
    node: Cell<Option<NodeId>>,
    /// The polling order of the current callback, folded.
    digest: Cell<u64>,
    /// Polls in the current callback.
    polls: Cell<u64>,
    this: Weak<Executor<M>>,
}

impl<M: 'static> Executor<M> {
    pub(crate) fn new(mailbox_capacity: usize) -> Rc<Executor<M>> {
        Rc::new_cyclic(|this| Executor {
            loan: Loan::new(),
            tasks: RefCell::new(Tasks {
                slots: Vec::new(),
                free: Vec::new(),
                ready: VecDeque::new(),
                next_id: 0,
                live: 0,
                stopped: false,
                closed: false,
            }),
            mailbox: RefCell::new(Mailbox::new(mailbox_capacity)),
            timers: RefCell::new(TimerWaits::default()),
            disk: RefCell::new(DiskWaits::default()),
            wakes: Arc::new(Wakes::new()),
            current: Cell::new(None),
            node: Cell::new(None),
            digest: Cell::new(DIGEST_SEED),
            polls: Cell::new(0),
            this: this.clone(),
        })
    }

    /// One callback of the node: lends the backing's authority, lets `event` wake whoever
    /// waited on it, runs every ready task, and folds the polling order into the fingerprint.
    #[inline]
    pub(crate) fn callback<N: NodeApi<M>>(&self, authority: &mut N, event: impl FnOnce(&Self)) {
        let node = match self.node.get() {
            Some(node) => node,
            None => {
                let node = authority.id();
                self.node.set(Some(node));
                node
            }
        };
        self.wakes.set_in_callback(true, node.0);
        self.digest.set(DIGEST_SEED);
        self.polls.set(0);
        self.loan.lend(authority, || {
            event(self);
            self.run();
        });
        let polls = self.polls.get();
        if polls > 0 {
            // Through the backing's own type, not the loan: a direct, inlined call.
            authority.fold_fingerprint(self.digest.get() ^ polls);
        }
        self.wakes.set_in_callback(false, node.0);
    }

    /// Polls ready tasks, in readiness order, until none is ready.
    fn run(&self) {
        while let Some((key, mut future, waker)) = self.next_ready() {
            self.current.set(Some((key, waker.data())));
            let poll = future.as_mut().poll(&mut Context::from_waker(&waker));
            self.current.set(None);
            self.settle(key, future, waker, poll);
        }
    }

    /// Takes the next ready task out of its slot, counting the poll.
    fn next_ready(&self) -> Option<(TaskKey, TaskFuture, Waker)> {
        let mut tasks = self.tasks.borrow_mut();
        if tasks.stopped {
            return None;
        }
        if self.wakes.pending() {
            self.wakes.drain(|key| tasks.enqueue(key));
        }
        loop {
            let key = tasks.ready.pop_front()?;
            let Some(slot) = tasks.slot(key) else { continue };
            slot.queued = false;
            let Some(future) = slot.future.take() else { continue };
            let polls = self.polls.get() + 1;
            if polls > POLLS_PER_CALLBACK_MAX {
                let (id, name) = (slot.id, slot.name);
                drop(tasks);
                self.hang(id, name);
            }
            let waker = slot.waker.take().expect("a task's waker is in its slot while it waits");
            let id = slot.id;
            let digest = self.digest.get().rotate_left(23) ^ id;
            self.digest.set(digest.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            self.polls.set(polls);
            return Some((key, future, waker));
        }
    }

    /// After a poll: a finished or aborted task leaves, any other goes back to its slot.
    fn settle(&self, key: TaskKey, future: TaskFuture, waker: Waker, poll: Poll<()>) {
        let ended = {
            let mut tasks = self.tasks.borrow_mut();
            let Some(slot) = tasks.slot(key) else { return };
            let aborted = slot.aborted;
            if poll.is_pending() && !aborted {
                slot.future = Some(future);
                slot.waker = Some(waker);
                return;
            }
            let id = tasks.free(key).map(|(_, _, id)| id);
            (id, aborted)
        };
        if let (Some(id), aborted) = ended {
            let kind = if aborted { "task_abort" } else { "task_finish" };
            self.loan.try_with(|authority| authority.record(kind, &[("task", id.into())]));
        }
        // Dropped here, outside every borrow: a future's drop may use the executor.
        drop(future);
        drop(waker);
    }

    /// Adds a task (ready at once) and traces its spawn.
    pub(crate) fn insert(&self, name: &'static str, future: TaskFuture) -> Option<TaskKey> {
        let (key, id) = {
            let mut tasks = self.tasks.borrow_mut();
            if tasks.closed || tasks.stopped {
                drop(tasks);
                drop(future);
                return None;
            }
            let id = tasks.next_id;
            tasks.next_id += 1;
            let index = match tasks.free.pop() {
                Some(index) => index,
                None => {
                    let index = u32::try_from(tasks.slots.len()).expect("fewer than 2^32 tasks");
                    tasks.slots.push(Slot {
                        generation: 0,
                        live: false,
                        queued: false,
                        aborted: false,
                        id: 0,
                        name: "",
                        future: None,
                        waker: None,
                    });
                    index
                }
            };
            let wakes = self.wakes.clone();
            let slot = &mut tasks.slots[index as usize];
            let key = TaskKey { index, generation: slot.generation };
            slot.live = true;
            slot.id = id;
            slot.name = name;
            slot.future = Some(future);
            slot.waker = Some(Waker::from(Arc::new(TaskWaker { key, wakes })));
            tasks.live += 1;
            tasks.enqueue(key);
            (key, id)
        };
        self.loan.try_with(|authority| {
            authority.record("task_spawn", &[("task", id.into()), ("name", name.into())])
        });
        Some(key)
    }

    /// Spawns `future` as a task of this node.
    pub(crate) fn spawn<T: 'static>(
        &self,
        name: &'static str,
        future: impl Future<Output = T> + 'static,
    ) -> JoinHandle<T> {
        let slot = Rc::new(JoinSlot::new());
        let tasks: Weak<dyn TaskSet> = self.this.clone();
        let (finished, finished_tasks) = (slot.clone(), tasks.clone());
        let task = async move {
            let output = future.await;
            finished.finish(output, &finished_tasks);
        };
        let key = self.insert(name, Box::pin(task));
        JoinHandle::new(key, slot, tasks)
    }

    /// Tasks alive (spawned and not finished or aborted).
    pub(crate) fn live(&self) -> usize {
        self.tasks.borrow().live
    }

    /// The process ended itself: no task runs again in this incarnation.
    pub(crate) fn stop(&self) {
        let mut tasks = self.tasks.borrow_mut();
        tasks.stopped = true;
        tasks.ready.clear();
    }

    /// A message arrived: into the mailbox, and every waiting receive is woken.
    #[inline]
    pub(crate) fn deliver(&self, from: NodeId, message: M) {
        let mut mailbox = self.mailbox.borrow_mut();
        if let Some((message, capacity)) = mailbox.push(from, message) {
            drop(mailbox);
            self.refuse(from, capacity);
            drop(message);
            return;
        }
        // Woken outside the borrow: a waker that is not a task's own may run any code.
        match mailbox.waiting() {
            0 => {}
            1 => {
                let waiter = mailbox.take_only_waiter();
                drop(mailbox);
                waiter.wake(self);
            }
            _ => {
                let mut woken = mailbox.take_waiters();
                drop(mailbox);
                for waiter in woken.drain(..) {
                    waiter.wake(self);
                }
                self.mailbox.borrow_mut().return_waiters(woken);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn refuse(&self, from: NodeId, capacity: usize) {
        self.loan.with(|authority| {
            let fields = [("from", from.into()), ("capacity", capacity.into())];
            authority.record("mailbox_full", &fields)
        });
    }

    /// A timer of a sleep fired.
    pub(crate) fn fire_timer(&self, tag: u64) {
        let waiter = self.timers.borrow_mut().fire(tag);
        if let Some(waiter) = waiter {
            waiter.wake(self);
        }
    }

    /// A submitted disk operation completed.
    pub(crate) fn complete_disk(&self, ticket: u64, result: Result<DiskOutput, DiskError>) {
        let waiter = self.disk.borrow_mut().complete(ticket, result);
        if let Some(waiter) = waiter {
            waiter.wake(self);
        }
    }

    /// The node is gone (crash, exit, restart): every task is dropped with its state, and
    /// everything waiting (messages, sleeps, disk operations) with it.
    pub(crate) fn shutdown(&self) {
        self.wakes.close();
        let futures: Vec<(Option<TaskFuture>, Option<Waker>)> = {
            let mut tasks = self.tasks.borrow_mut();
            tasks.closed = true;
            tasks.ready.clear();
            tasks.live = 0;
            let slots = &mut tasks.slots;
            slots.iter_mut().map(|slot| (slot.future.take(), slot.waker.take())).collect()
        };
        // Outside every borrow: dropping a future runs its destructors, which may use the
        // executor (a sleep forgets its timer, a receive its registration).
        drop(futures);
        let mailbox = std::mem::replace(&mut *self.mailbox.borrow_mut(), Mailbox::new(0));
        let timers = std::mem::take(&mut *self.timers.borrow_mut());
        let disk = std::mem::take(&mut *self.disk.borrow_mut());
        drop((mailbox, timers, disk));
    }

    /// The node, for messages.
    pub(crate) fn node_id(&self) -> Option<NodeId> {
        self.node.get()
    }

    #[cold]
    #[inline(never)]
    fn hang(&self, id: u64, name: &'static str) -> ! {
        let node = self.node.get().map_or("a node".to_string(), |node| node.to_string());
        let now = self.loan.try_with(|authority| authority.true_now());
        self.loan.try_with(|authority| {
            let fields = [
                ("task", id.into()),
                ("name", name.into()),
                ("polls", POLLS_PER_CALLBACK_MAX.into()),
            ];
            authority.record("task_hang", &fields)
        });
        let at = now.map_or(String::new(), |now| format!(" at {now}"));
        panic!(
            "hang: {node} polled its tasks {POLLS_PER_CALLBACK_MAX} times in one callback{at} \
             without them ever all waiting on the world, and was about to poll task {id} \
             `{name}` again (a loop over `yield_now` or `try_recv`, or two tasks handing a \
             channel back and forth?): virtual time could never move again"
        )
    }
}

impl<M: 'static> TaskSet for Executor<M> {
    #[inline]
    fn wake_task(&self, key: TaskKey) {
        let mut tasks = self.tasks.borrow_mut();
        // Wakes that came through a `Waker` happened before this one: they go first.
        if self.wakes.pending() {
            self.wakes.drain(|key| tasks.enqueue(key));
        }
        tasks.enqueue(key);
    }

    #[inline]
    fn waiter(&self, cx: &Context<'_>) -> Waiter {
        match self.current.get() {
            Some((key, data)) if cx.waker().data() == data => Waiter::Task(key),
            _ => Waiter::Waker(cx.waker().clone()),
        }
    }

    fn abort(&self, key: TaskKey) {
        let (future, waker, id) = {
            let mut tasks = self.tasks.borrow_mut();
            let Some(slot) = tasks.slot(key) else { return };
            if slot.future.is_none() {
                // It is the task being polled: it leaves when its poll returns.
                slot.aborted = true;
                return;
            }
            match tasks.free(key) {
                Some(taken) => taken,
                None => return,
            }
        };
        self.loan.try_with(|authority| authority.record("task_abort", &[("task", id.into())]));
        drop((future, waker));
    }
}
