//! The disk in tasks: `NodeDisk` (the node's `Storage`, immediate operations) and
//! `DiskCompletion` (an operation submitted to the disk that completes after the disk's
//! latency), with the registry of submitted operations waiting for their completions.
//!
//! A submitted operation is submitted when first polled (futures do nothing until awaited),
//! so operations awaited together (`join!`) are submitted in the order the combinator polls
//! them. In simulation every operation is subject to the disk's crash contract; operations in
//! flight when the node crashes never complete, and their futures are dropped with the tasks.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::disk::{DiskError, DiskOp, DiskOutput, DiskTicket};
use crate::node::Storage;

use super::executor::TaskSet;
use super::handle::Node;
use super::waker::Waiter;

struct DiskWait {
    result: Option<Result<DiskOutput, DiskError>>,
    waiter: Option<Waiter>,
}

/// Submitted operations waiting for their completions, by ticket.
#[derive(Default)]
pub(crate) struct DiskWaits {
    waits: BTreeMap<u64, DiskWait>,
}

impl DiskWaits {
    /// The operation with `ticket` completed; returns whom to wake.
    pub(crate) fn complete(
        &mut self,
        ticket: u64,
        result: Result<DiskOutput, DiskError>,
    ) -> Option<Waiter> {
        let wait = self.waits.get_mut(&ticket)?;
        wait.result = Some(result);
        wait.waiter.take()
    }
}

/// A disk operation that completes after the disk's latency (see `Node::disk_op`).
#[must_use = "a disk operation is submitted only when awaited"]
pub struct DiskCompletion<M: 'static> {
    node: Node<M>,
    /// The operation, until submitted.
    op: Option<DiskOp>,
    ticket: Option<u64>,
}

impl<M: 'static> DiskCompletion<M> {
    pub(crate) fn new(node: Node<M>, op: DiskOp) -> DiskCompletion<M> {
        DiskCompletion { node, op: Some(op), ticket: None }
    }
}

impl<M: 'static> Future for DiskCompletion<M> {
    type Output = Result<DiskOutput, DiskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let executor = &this.node.executor;
        if let Some(op) = this.op.take() {
            let submitted: Result<DiskTicket, DiskError> = this.node.disk().submit(op);
            match submitted {
                Ok(ticket) => {
                    let wait = DiskWait { result: None, waiter: Some(executor.waiter(cx)) };
                    executor.disk.borrow_mut().waits.insert(ticket.id(), wait);
                    this.ticket = Some(ticket.id());
                    return Poll::Pending;
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        let Some(ticket) = this.ticket else {
            panic!("a disk operation's future was polled after it completed")
        };
        let mut waits = executor.disk.borrow_mut();
        let Some(wait) = waits.waits.get_mut(&ticket) else {
            panic!("a disk operation's future was polled after it completed")
        };
        match wait.result.take() {
            Some(result) => {
                waits.waits.remove(&ticket);
                this.ticket = None;
                Poll::Ready(result)
            }
            None => {
                wait.waiter = Some(executor.waiter(cx));
                Poll::Pending
            }
        }
    }
}

impl<M: 'static> Drop for DiskCompletion<M> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            if let Ok(mut waits) = self.node.executor.disk.try_borrow_mut() {
                waits.waits.remove(&ticket);
            }
        }
    }
}

/// The node's disk as a task sees it: every `Storage` operation, immediate (see
/// `Node::disk`). `submit` hands the completion to nobody: use `Node::disk_op` to await it.
pub struct NodeDisk<'a, M: 'static> {
    pub(crate) node: &'a Node<M>,
}

impl<M: 'static> NodeDisk<'_, M> {
    fn call<R>(&mut self, f: impl FnOnce(&mut dyn Storage) -> R) -> R {
        self.node.executor.loan.with(|authority| {
            let (mut f, mut output) = (Some(f), None);
            authority.with_storage(&mut |storage| {
                if let Some(f) = f.take() {
                    output = Some(f(storage));
                }
            });
            output.expect("the backing ran the disk operation")
        })
    }
}

impl<M: 'static> Storage for NodeDisk<'_, M> {
    fn create(&mut self, path: &str) -> Result<(), DiskError> {
        self.call(|disk| disk.create(path))
    }
    fn exists(&mut self, path: &str) -> Result<bool, DiskError> {
        self.call(|disk| disk.exists(path))
    }
    fn write(&mut self, path: &str, offset_bytes: u64, data: &[u8]) -> Result<(), DiskError> {
        self.call(|disk| disk.write(path, offset_bytes, data))
    }
    fn append(&mut self, path: &str, data: &[u8]) -> Result<u64, DiskError> {
        self.call(|disk| disk.append(path, data))
    }
    fn read(
        &mut self,
        path: &str,
        offset_bytes: u64,
        length_bytes: u64,
    ) -> Result<Vec<u8>, DiskError> {
        self.call(|disk| disk.read(path, offset_bytes, length_bytes))
    }
    fn length_bytes(&mut self, path: &str) -> Result<u64, DiskError> {
        self.call(|disk| disk.length_bytes(path))
    }
    fn truncate(&mut self, path: &str, length_bytes: u64) -> Result<(), DiskError> {
        self.call(|disk| disk.truncate(path, length_bytes))
    }
    fn delete(&mut self, path: &str) -> Result<(), DiskError> {
        self.call(|disk| disk.delete(path))
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        self.call(|disk| disk.rename(from, to))
    }
    fn list(&mut self, prefix: &str) -> Result<Vec<String>, DiskError> {
        self.call(|disk| disk.list(prefix))
    }
    fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        self.call(|disk| disk.sync(path))
    }
    fn sync_directory(&mut self) -> Result<(), DiskError> {
        self.call(|disk| disk.sync_directory())
    }
    fn submit(&mut self, op: DiskOp) -> Result<DiskTicket, DiskError> {
        self.call(|disk| disk.submit(op))
    }
}
