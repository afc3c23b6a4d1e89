//! Time in tasks: `Sleep` (a timer of the node's backing per sleep), `Timeout` (a future
//! raced against a sleep) and the registry of sleeps waiting on their timers.
//!
//! Deadlines are on the node's own clock (`NodeApi::now`, skewed or drifting if a fault says
//! so), fixed when the sleep is created, as tokio does; the timer is set when the sleep is
//! first polled and cancelled if it is dropped first. A sleep whose deadline has passed is
//! ready at once without a timer. Timers of a crashed node die with it: the world never fires
//! a timer of an earlier incarnation, and the new incarnation's registry is empty anyway.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::id::TimerId;
use crate::time::Instant;

use super::executor::TaskSet;
use super::handle::Node;
use super::waker::Waiter;

enum TimerState {
    Free,
    /// The timer is set; the sleep waits (with no waiter until first registered).
    Waiting(Option<Waiter>),
    Fired,
}

struct TimerWait {
    generation: u32,
    state: TimerState,
}

/// Sleeps waiting on their timers. A timer's tag is (slot, generation), so a tag of a sleep
/// that was dropped never reaches a newer one in the same slot.
#[derive(Default)]
pub(crate) struct TimerWaits {
    slots: Vec<TimerWait>,
    free: Vec<u32>,
}

impl TimerWaits {
    fn tag(index: u32, generation: u32) -> u64 {
        (u64::from(generation) << 32) | u64::from(index)
    }

    fn slot(&mut self, tag: u64) -> Option<&mut TimerWait> {
        let (index, generation) = (tag as u32, (tag >> 32) as u32);
        self.slots.get_mut(index as usize).filter(|slot| slot.generation == generation)
    }

    fn insert(&mut self, waiter: Waiter) -> u64 {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len()).expect("fewer than 2^32 sleeps");
                self.slots.push(TimerWait { generation: 0, state: TimerState::Free });
                index
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.state = TimerState::Waiting(Some(waiter));
        Self::tag(index, slot.generation)
    }

    fn remove(&mut self, tag: u64) {
        if let Some(slot) = self.slot(tag) {
            slot.state = TimerState::Free;
            slot.generation = slot.generation.wrapping_add(1);
            self.free.push(tag as u32);
        }
    }

    /// The timer tagged `tag` fired: its sleep is ready; returns whom to wake.
    pub(crate) fn fire(&mut self, tag: u64) -> Option<Waiter> {
        let slot = self.slot(tag)?;
        match std::mem::replace(&mut slot.state, TimerState::Fired) {
            TimerState::Waiting(waiter) => waiter,
            other => {
                slot.state = other;
                None
            }
        }
    }

    /// Whether the timer fired (then the slot is freed); otherwise keeps `waiter`.
    fn check(&mut self, tag: u64, waiter: Waiter) -> bool {
        let Some(slot) = self.slot(tag) else { return true };
        match &mut slot.state {
            TimerState::Fired => {
                self.remove(tag);
                true
            }
            TimerState::Waiting(waiting) => {
                *waiting = Some(waiter);
                false
            }
            TimerState::Free => true,
        }
    }
}

/// Waits until a deadline on the node's clock (see `Node::sleep`, `Node::sleep_until`).
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep<M: 'static> {
    node: Node<M>,
    deadline: Instant,
    /// The timer's tag and id, once set.
    timer: Option<(u64, TimerId)>,
    done: bool,
}

impl<M: 'static> Sleep<M> {
    pub(crate) fn new(node: Node<M>, deadline: Instant) -> Sleep<M> {
        Sleep { node, deadline, timer: None, done: false }
    }

    /// The deadline, on the node's clock.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl<M: 'static> Future for Sleep<M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        let executor = &this.node.executor;
        let waiter = executor.waiter(cx);
        match this.timer {
            Some((tag, _)) => {
                if executor.timers.borrow_mut().check(tag, waiter) {
                    this.timer = None;
                    this.done = true;
                    return Poll::Ready(());
                }
                Poll::Pending
            }
            None => {
                let now = executor.loan.with(|authority| authority.now());
                if now >= this.deadline {
                    this.done = true;
                    return Poll::Ready(());
                }
                let tag = executor.timers.borrow_mut().insert(waiter);
                let after = this.deadline - now;
                let timer = executor.loan.with(|authority| authority.set_timer(after, tag));
                this.timer = Some((tag, timer));
                Poll::Pending
            }
        }
    }
}

impl<M: 'static> Drop for Sleep<M> {
    fn drop(&mut self) {
        let Some((tag, timer)) = self.timer else { return };
        let executor = &self.node.executor;
        if let Ok(mut timers) = executor.timers.try_borrow_mut() {
            timers.remove(tag);
        }
        // Outside a callback (the node is being dropped) there is nothing left to cancel.
        executor.loan.try_with(|authority| authority.cancel_timer(timer));
    }
}

/// A deadline passed before the future it bounded finished (`Node::timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the deadline passed")
    }
}

impl std::error::Error for Elapsed {}

/// A future bounded by a deadline (see `Node::timeout`). Biased: the future is polled
/// before the deadline, so if both are ready at once the future's output wins.
#[must_use = "a timeout does nothing unless awaited"]
pub struct Timeout<M: 'static, F> {
    future: F,
    sleep: Sleep<M>,
}

impl<M: 'static, F> Timeout<M, F> {
    pub(crate) fn new(future: F, sleep: Sleep<M>) -> Timeout<M, F> {
        Timeout { future, sleep }
    }
}

impl<M: 'static, F: Future> Future for Timeout<M, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self` (no method
        // hands it out by value, `Timeout` has no `Drop` that moves it, and `Timeout` is
        // `Unpin` only when `F` is). `sleep` is `Unpin` and not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(&mut this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}
