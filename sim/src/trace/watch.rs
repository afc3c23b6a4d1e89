//! The link between a running seed and its watchdog on another thread. The seed's trace
//! publishes how many events it has processed; the watchdog reads that count (progress, not
//! wall time, tells a slow seed from a hung one) and may ask the seed to stop, which it does
//! at its next publication by unwinding with `Stopped`.
//!
//! The trace publishes every `WATCH_EVERY_EVENTS` events, so the cost per event is one
//! test of a counter the trace increments anyway; a run without a watch pays nothing more.
//! Nothing a watch carries ever feeds back into a run: a stop abandons the run, it never
//! changes what the run does.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Events between two publications of progress (and two looks at a stop request): often
/// enough for a watchdog counting in seconds, rare enough to cost nothing per event. A power
/// of two, so the test is a mask.
pub const WATCH_EVERY_EVENTS: u64 = 16;

/// A seed's progress as seen from outside it; clones share the same counters.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    shared: Arc<WatchState>,
}

#[derive(Debug, Default)]
struct WatchState {
    events: AtomicU64,
    beats: AtomicU64,
    stop: AtomicBool,
}

/// The panic payload with which a run whose watch asked it to stop unwinds. It is raised with
/// `resume_unwind`, so no panic hook runs and nothing is printed; the runner catches it and
/// records nothing for the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

impl Watch {
    pub fn new() -> Watch {
        Watch::default()
    }

    /// Events the run had processed at its last publication.
    pub fn events(&self) -> u64 {
        self.shared.events.load(Ordering::Relaxed)
    }

    /// Progress made outside the event loop (a phase begun, a check evaluated).
    pub fn beats(&self) -> u64 {
        self.shared.beats.load(Ordering::Relaxed)
    }

    /// Counts one step of progress made outside the event loop.
    pub fn beat(&self) {
        self.shared.beats.fetch_add(1, Ordering::Relaxed);
    }

    /// Asks the run to stop at its next publication.
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    pub fn stop_requested(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    /// Publishes the run's event count; unwinds with `Stopped` if a stop was requested.
    pub(crate) fn publish(&self, events: u64) {
        self.shared.events.store(events, Ordering::Relaxed);
        self.stop_if_requested();
    }

    /// Unwinds with `Stopped` if a stop was requested (for the runner, between phases).
    pub fn stop_if_requested(&self) {
        if self.stop_requested() {
            std::panic::resume_unwind(Box::new(Stopped));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a clone sees the same counters, and a requested stop unwinds with `Stopped` only.
    #[test]
    fn clones_share_progress_and_a_stop_unwinds() {
        let watch = Watch::new();
        let seen_elsewhere = watch.clone();
        watch.publish(128);
        watch.beat();
        assert_eq!((seen_elsewhere.events(), seen_elsewhere.beats()), (128, 1));
        seen_elsewhere.request_stop();
        let unwound = std::panic::catch_unwind(|| watch.publish(192)).expect_err("stops");
        assert!(unwound.is::<Stopped>());
        assert_eq!(seen_elsewhere.events(), 192, "the last count is published before stopping");
    }
}
