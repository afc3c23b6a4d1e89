//! The node authority as tasks reach it: `Authority`, an object-safe view of any
//! `NodeApi<M>`, and `Loan`, which lends the backing's authority to the node's tasks for the
//! length of one callback.
//!
//! Tasks are written once against `task::Node<M>`, not generically over the backing: during
//! each callback the adapter lends its `&mut N` here as a `&mut dyn Authority<M>`, and every
//! operation of a task goes through it. This is the executor's only unsafe code, and it is
//! small: the pointer is installed when a callback starts and removed when it ends (also when a
//! task panics), and it is taken out of its cell while in use, so two uses can never overlap
//! (a second use inside the first is a panic, not an aliased `&mut`). Outside a callback there
//! is no authority at all: a handle used there panics with a message saying so.

use std::cell::Cell;
use std::ptr::NonNull;

use crate::id::{NodeId, TimerId};
use crate::net::SendError;
use crate::node::{NodeApi, Storage};
use crate::rng::Stream;
use crate::time::{Duration, Instant};
use crate::trace::Value;

/// What a task can do through its node: `NodeApi` without the generic storage type, so any
/// backing fits behind one `dyn`.
pub(crate) trait Authority<M> {
    fn id(&self) -> NodeId;
    fn n_nodes(&self) -> usize;
    fn now(&self) -> Instant;
    fn true_now(&self) -> Instant;
    fn incarnation(&self) -> u32;
    fn send(&mut self, to: NodeId, message: M);
    fn try_send(&mut self, to: NodeId, message: M) -> Result<(), SendError>;
    fn set_timer(&mut self, after: Duration, tag: u64) -> TimerId;
    fn cancel_timer(&mut self, timer: TimerId);
    fn rng(&mut self) -> &mut Stream;
    fn record(&mut self, kind: &str, fields: &[(&str, Value<'_>)]);
    fn observe(&mut self, kind: &'static str, fields: &[(&'static str, Value<'_>)]);
    fn sometimes(&mut self, condition: bool, label: &'static str);
    fn buggify(&mut self, site: &'static str) -> bool;
    fn hold_role(&mut self, role: &'static str, held: bool);
    /// Runs `f` with the node's disk.
    fn with_storage(&mut self, f: &mut dyn FnMut(&mut dyn Storage));
    fn exit(&mut self, code: i32);
    fn abort(&mut self, reason: &str);
}

impl<M, N: NodeApi<M>> Authority<M> for N {
    fn id(&self) -> NodeId {
        NodeApi::id(self)
    }
    fn n_nodes(&self) -> usize {
        NodeApi::n_nodes(self)
    }
    fn now(&self) -> Instant {
        NodeApi::now(self)
    }
    fn true_now(&self) -> Instant {
        NodeApi::true_now(self)
    }
    fn incarnation(&self) -> u32 {
        NodeApi::incarnation(self)
    }
    #[inline]
    fn send(&mut self, to: NodeId, message: M) {
        NodeApi::send(self, to, message)
    }
    fn try_send(&mut self, to: NodeId, message: M) -> Result<(), SendError> {
        NodeApi::try_send(self, to, message)
    }
    fn set_timer(&mut self, after: Duration, tag: u64) -> TimerId {
        NodeApi::set_timer(self, after, tag)
    }
    fn cancel_timer(&mut self, timer: TimerId) {
        NodeApi::cancel_timer(self, timer)
    }
    fn rng(&mut self) -> &mut Stream {
        NodeApi::rng(self)
    }
    fn record(&mut self, kind: &str, fields: &[(&str, Value<'_>)]) {
        NodeApi::record(self, kind, fields)
    }
    fn observe(&mut self, kind: &'static str, fields: &[(&'static str, Value<'_>)]) {
        NodeApi::observe(self, kind, fields)
    }
    fn sometimes(&mut self, condition: bool, label: &'static str) {
        NodeApi::sometimes(self, condition, label)
    }
    fn buggify(&mut self, site: &'static str) -> bool {
        NodeApi::buggify(self, site)
    }
    fn hold_role(&mut self, role: &'static str, held: bool) {
        NodeApi::hold_role(self, role, held)
    }
    fn with_storage(&mut self, f: &mut dyn FnMut(&mut dyn Storage)) {
        let mut storage = NodeApi::disk(self);
        f(&mut storage)
    }
    fn exit(&mut self, code: i32) {
        NodeApi::exit(self, code)
    }
    fn abort(&mut self, reason: &str) {
        NodeApi::abort(self, reason)
    }
}

/// The backing's authority, lent to the node's tasks while one of its callbacks runs.
pub(crate) struct Loan<M> {
    /// The lent authority; `None` outside a callback and while in use.
    slot: Cell<Option<NonNull<dyn Authority<M>>>>,
    /// Whether a callback is running (to tell "outside a callback" from "re-entered").
    lent: Cell<bool>,
}

impl<M> Loan<M> {
    pub(crate) fn new() -> Loan<M> {
        Loan { slot: Cell::new(None), lent: Cell::new(false) }
    }

    /// Lends `authority` for the length of `f`.
    pub(crate) fn lend<R>(&self, authority: &mut dyn Authority<M>, f: impl FnOnce() -> R) -> R {
        /// Ends the loan when `lend` returns or unwinds.
        struct End<'a, M>(&'a Loan<M>);
        impl<M> Drop for End<'_, M> {
            fn drop(&mut self) {
                self.0.slot.set(None);
                self.0.lent.set(false);
            }
        }
        debug_assert!(!self.lent.get(), "a node's callback started inside one of its callbacks");
        let pointer = NonNull::from(authority);
        // SAFETY: only the lifetime of the trait object changes. The pointer is removed by
        // `End` before `authority`'s borrow ends (on return and on unwinding alike), and it is
        // dereferenced only in `try_with`, which runs inside `f`; `lend` itself does not use
        // `authority` while `f` runs, so the pointer is the borrow's only user.
        let pointer: NonNull<dyn Authority<M> + 'static> = unsafe { std::mem::transmute(pointer) };
        self.slot.set(Some(pointer));
        self.lent.set(true);
        let _end = End(self);
        f()
    }

    /// Runs `f` with the lent authority; panics outside the node's callbacks.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut dyn Authority<M>) -> R) -> R {
        match self.try_with(f) {
            Some(output) => output,
            None => self.unavailable(),
        }
    }

    /// Runs `f` with the lent authority, if one is lent and not in use.
    #[inline]
    pub(crate) fn try_with<R>(&self, f: impl FnOnce(&mut dyn Authority<M>) -> R) -> Option<R> {
        /// Puts the authority back when `f` returns or unwinds.
        struct Back<'a, M>(&'a Loan<M>, NonNull<dyn Authority<M>>);
        impl<M> Drop for Back<'_, M> {
            fn drop(&mut self) {
                self.0.slot.set(Some(self.1));
            }
        }
        let pointer = self.slot.take()?;
        let back = Back(self, pointer);
        // SAFETY: the pointer is installed only while `lend` holds the exclusive borrow it was
        // made from (see `lend`), and it is out of its cell while this reference lives, so no
        // other reference to the authority exists meanwhile. `Loan` is not `Sync` and the
        // executor that owns it is not `Send`: no other thread can reach it.
        let authority = unsafe { &mut *back.1.as_ptr() };
        Some(f(authority))
    }

    #[cold]
    #[inline(never)]
    fn unavailable(&self) -> ! {
        if self.lent.get() {
            panic!(
                "a task's node handle was used inside one of its own operations (inside the \
                 closure given to `with_rng`, a receive filter or a disk closure): do that \
                 after the operation returns"
            )
        }
        panic!(
            "a task's node handle was used outside its node's callbacks: a node's handle works \
             only in the node's tasks while the node runs (not in a factory before the \
             `async` block, not in checks, not after the node crashed)"
        )
    }
}
