//! The node's mailbox: messages delivered and not yet received, and the receives that wait
//! on it (`Recv`, with what each takes: `Next`, `FromPeer`, `Where`, `Map`).
//!
//! A message waits in the mailbox, in delivery order, until a receive takes it; a receive
//! takes the oldest message it accepts, so messages it does not want stay for others (a
//! per-sender or per-kind receive never loses a message to the wrong waiter). When a message
//! arrives every waiting receive is woken, in the order they started waiting, and the first
//! one polled that accepts it takes it. A task is registered once however many of its receives
//! wait (waking it polls them all); a receive dropped while waiting may cost its task one
//! spurious wake, and past `WAITERS_MAX` registrations every waiter is woken to re-register
//! (so receives abandoned in a loop never accumulate). The mailbox is bounded
//! (`AsyncNode::mailbox_capacity`): a message that finds it full is dropped, as a full socket
//! buffer drops a datagram, and traced as `mailbox_full`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::id::NodeId;

use super::executor::TaskSet;
use super::handle::Node;
use super::waker::Waiter;

/// The default bound on messages waiting in a node's mailbox.
pub const MAILBOX_CAPACITY: usize = 1 << 16;

/// Registered waiters beyond which all are woken to re-register.
const WAITERS_MAX: usize = 1 << 10;

pub(crate) struct Mailbox<M> {
    messages: VecDeque<(NodeId, M)>,
    /// Whom to wake when a message arrives, in the order they started waiting.
    waiters: Vec<Waiter>,
    capacity: usize,
}

impl<M> Mailbox<M> {
    pub(crate) fn new(capacity: usize) -> Mailbox<M> {
        Mailbox { messages: VecDeque::new(), waiters: Vec::new(), capacity }
    }

    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }

    /// Adds a message; a full mailbox hands it back with its capacity.
    pub(crate) fn push(&mut self, from: NodeId, message: M) -> Option<(M, usize)> {
        if self.messages.len() >= self.capacity {
            return Some((message, self.capacity));
        }
        self.messages.push_back((from, message));
        None
    }

    /// How many receives wait.
    #[inline(always)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// The one waiting receive's waiter (`waiting() == 1`).
    #[inline]
    pub(crate) fn take_only_waiter(&mut self) -> Waiter {
        match self.waiters.pop() {
            Some(waiter) => waiter,
            None => unreachable!("one receive waits"),
        }
    }

    pub(crate) fn take_waiters(&mut self) -> Vec<Waiter> {
        std::mem::take(&mut self.waiters)
    }

    /// Gives back the (emptied) list `take_waiters` returned, to reuse its allocation.
    pub(crate) fn return_waiters(&mut self, emptied: Vec<Waiter>) {
        if self.waiters.is_empty() {
            self.waiters = emptied;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    pub(crate) fn pop_front(&mut self) -> Option<(NodeId, M)> {
        self.messages.pop_front()
    }

    /// Registers `waiter` (once: a task or waker already registered is not added again);
    /// true if the registrations are over `WAITERS_MAX`.
    #[inline]
    fn register(&mut self, waiter: Waiter) -> bool {
        if !self.waiters.iter().any(|registered| registered.same_as(&waiter)) {
            self.waiters.push(waiter);
        }
        self.waiters.len() > WAITERS_MAX
    }
}

/// What a receive takes from the mailbox: the oldest message it accepts, converted to its
/// output. The mailbox is borrowed while this runs: it must not use the node's handle.
pub trait Receive<M> {
    /// What the receive resolves to.
    type Output;
    /// Takes what this receive wants from `messages` (oldest first), if anything.
    fn take(&mut self, messages: &mut VecDeque<(NodeId, M)>) -> Option<Self::Output>;
}

/// The next message, whoever sent it (`Node::recv`).
#[derive(Debug, Clone, Copy)]
pub struct Next;

/// The next message from one peer (`Node::recv_from`).
#[derive(Debug, Clone, Copy)]
pub struct FromPeer(pub NodeId);

/// The next message a predicate accepts (`Node::recv_where`).
#[derive(Debug, Clone, Copy)]
pub struct Where<P>(pub P);

/// The first message a function maps to a value (`Node::recv_map`).
#[derive(Debug, Clone, Copy)]
pub struct Map<F>(pub F);

impl<M> Receive<M> for Next {
    type Output = (NodeId, M);
    #[inline]
    fn take(&mut self, messages: &mut VecDeque<(NodeId, M)>) -> Option<(NodeId, M)> {
        messages.pop_front()
    }
}

impl<M> Receive<M> for FromPeer {
    type Output = M;
    fn take(&mut self, messages: &mut VecDeque<(NodeId, M)>) -> Option<M> {
        let position = messages.iter().position(|(from, _)| *from == self.0)?;
        messages.remove(position).map(|(_, message)| message)
    }
}

impl<M, P: FnMut(NodeId, &M) -> bool> Receive<M> for Where<P> {
    type Output = (NodeId, M);
    fn take(&mut self, messages: &mut VecDeque<(NodeId, M)>) -> Option<(NodeId, M)> {
        let position = messages.iter().position(|(from, message)| (self.0)(*from, message))?;
        messages.remove(position)
    }
}

impl<M, T, F: FnMut(NodeId, &M) -> Option<T>> Receive<M> for Map<F> {
    type Output = T;
    fn take(&mut self, messages: &mut VecDeque<(NodeId, M)>) -> Option<T> {
        let (position, output) = messages
            .iter()
            .enumerate()
            .find_map(|(i, (from, message))| (self.0)(*from, message).map(|output| (i, output)))?;
        messages.remove(position);
        Some(output)
    }
}

/// A receive from the node's mailbox (see `Node::recv` and its typed variants). Resolves
/// with the oldest message it accepts; dropping it before then leaves the mailbox as it was.
#[must_use = "a receive does nothing unless awaited"]
pub struct Recv<'a, M: 'static, R> {
    node: &'a Node<M>,
    receive: R,
}

impl<'a, M: 'static, R> Recv<'a, M, R> {
    pub(crate) fn new(node: &'a Node<M>, receive: R) -> Recv<'a, M, R> {
        Recv { node, receive }
    }
}

impl<M: 'static, R: Receive<M> + Unpin> Future for Recv<'_, M, R> {
    type Output = R::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R::Output> {
        let this = self.get_mut();
        let executor = &this.node.executor;
        let mut mailbox = executor.mailbox.borrow_mut();
        if let Some(output) = this.receive.take(&mut mailbox.messages) {
            return Poll::Ready(output);
        }
        if mailbox.register(executor.waiter(cx)) {
            let woken = mailbox.take_waiters();
            drop(mailbox);
            for waiter in woken {
                waiter.wake(&**executor);
            }
        }
        Poll::Pending
    }
}
