//! Time in tasks: `Sleep` (a timer of the node's backing per sleep), `Timeout` (a future
//! raced against a sleep) and the registry of sleeps waiting on their timers.
//!
//! Deadlines are on the node's own clock (`NodeApi::now`, skewed or drifting if a fault says
//! so), fixed when the sleep is created, as tokio does; the timer is set when the sleep is
//! first polled and cancelled if it is dropped first. A sleep whose deadline has passed is
//! ready at once without a timer. Timers of a crashed node die with it: the world never fires
//! a timer of an earlier incarnation, and the new incarnation's registry is empty anyway.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::id::TimerId;
use crate::time::Instant;

use super::executor::TaskSet;
use super::handle::Node;
use super::waker::Waiter;

enum TimerState {
    /// The timer is set; the sleep waits.
    Waiting(Option<Waiter>),
    Fired,
}

/// Sleeps waiting on their timers, by tag. Tags count the node's sleeps from 0 (readable in
/// traces: `timer id=12 tag=3` is the node's fourth sleep) and are never reused, so a timer of
/// a sleep that was dropped never reaches another.
#[derive(Default)]
pub(crate) struct TimerWaits {
    waits: BTreeMap<u64, TimerState>,
    next_tag: u64,
}

impl TimerWaits {
    fn insert(&mut self, waiter: Waiter) -> u64 {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.waits.insert(tag, TimerState::Waiting(Some(waiter)));
        tag
    }

    fn remove(&mut self, tag: u64) {
        self.waits.remove(&tag);
    }

    /// The timer tagged `tag` fired: its sleep is ready; returns whom to wake.
    pub(crate) fn fire(&mut self, tag: u64) -> Option<Waiter> {
        let state = self.waits.get_mut(&tag)?;
        match std::mem::replace(state, TimerState::Fired) {
            TimerState::Waiting(waiter) => waiter,
            TimerState::Fired => None,
        }
    }

    /// Whether the timer fired (then it is forgotten); otherwise keeps `waiter`.
    fn check(&mut self, tag: u64, waiter: Waiter) -> bool {
        match self.waits.get_mut(&tag) {
            Some(TimerState::Waiting(waiting)) => {
                *waiting = Some(waiter);
                false
            }
            Some(TimerState::Fired) | None => {
                self.waits.remove(&tag);
                true
            }
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
        match this.timer {
            Some((tag, _)) => {
                let waiter = executor.waiter(cx);
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
                let tag = executor.timers.borrow_mut().insert(executor.waiter(cx));
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
