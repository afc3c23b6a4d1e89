//! The node's mailbox: messages delivered and not yet received, and the receives that wait
//! on it (`Recv`, with what each takes: `Next`, `FromPeer`, `Where`, `Map`).
//!
//! A message waits in the mailbox, in delivery order, until a receive takes it; a receive
//! takes the oldest message it accepts, so messages it does not want stay for others (a
//! per-sender or per-kind receive never loses a message to the wrong waiter). When a message
//! arrives every waiting receive is woken, in the order they started waiting, and the first
//! one polled that accepts it takes it. The mailbox is bounded (`AsyncNode::mailbox_capacity`):
//! a message that finds it full is dropped, as a full socket buffer drops a datagram, and
//! traced as `mailbox_full`.

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

pub(crate) struct Mailbox<M> {
    messages: VecDeque<(NodeId, M)>,
    /// Waiting receives, by registration token, in the order they started waiting.
    waiters: Vec<(u64, Waiter)>,
    next_token: u64,
    capacity: usize,
}

impl<M> Mailbox<M> {
    pub(crate) fn new(capacity: usize) -> Mailbox<M> {
        Mailbox { messages: VecDeque::new(), waiters: Vec::new(), next_token: 0, capacity }
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

    pub(crate) fn take_waiters(&mut self) -> Vec<(u64, Waiter)> {
        std::mem::take(&mut self.waiters)
    }

    /// Gives back the (emptied) list `take_waiters` returned, to reuse its allocation.
    pub(crate) fn return_waiters(&mut self, emptied: Vec<(u64, Waiter)>) {
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

    fn register(&mut self, token: Option<u64>, waiter: Waiter) -> u64 {
        if let Some(token) = token {
            if let Some(entry) = self.waiters.iter_mut().find(|(t, _)| *t == token) {
                entry.1 = waiter;
                return token;
            }
        }
        let token = token.unwrap_or_else(|| {
            self.next_token += 1;
            self.next_token
        });
        self.waiters.push((token, waiter));
        token
    }

    fn unregister(&mut self, token: u64) {
        if let Some(position) = self.waiters.iter().position(|(t, _)| *t == token) {
            self.waiters.remove(position);
        }
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
pub struct Recv<M: 'static, R> {
    node: Node<M>,
    receive: R,
    /// Its registration among the mailbox's waiters, while it waits.
    token: Option<u64>,
}

impl<M: 'static, R> Recv<M, R> {
    pub(crate) fn new(node: Node<M>, receive: R) -> Recv<M, R> {
        Recv { node, receive, token: None }
    }
}

impl<M: 'static, R: Receive<M> + Unpin> Future for Recv<M, R> {
    type Output = R::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R::Output> {
        let this = self.get_mut();
        let executor = &this.node.executor;
        let mut mailbox = executor.mailbox.borrow_mut();
        if let Some(output) = this.receive.take(&mut mailbox.messages) {
            if let Some(token) = this.token.take() {
                mailbox.unregister(token);
            }
            return Poll::Ready(output);
        }
        let waiter = executor.waiter(cx);
        this.token = Some(mailbox.register(this.token, waiter));
        Poll::Pending
    }
}

impl<M: 'static, R> Drop for Recv<M, R> {
    fn drop(&mut self) {
        if let Some(token) = self.token {
            if let Ok(mut mailbox) = self.node.executor.mailbox.try_borrow_mut() {
                mailbox.unregister(token);
            }
        }
    }
}
