//! A production node's timers: deadlines on the tokio clock, fired in deadline order and, at
//! equal deadlines, in the order they were set (as the simulated world breaks ties by
//! sequence). The node's loop sleeps until the earliest one.

use std::collections::{BTreeMap, BTreeSet};

use orrery_sim::TimerId;
use tokio::time::Instant;

/// Pending timers: each id's deadline and tag, and the deadlines in order.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    next_id: u64,
    by_id: BTreeMap<TimerId, (Instant, u64)>,
    by_deadline: BTreeSet<(Instant, TimerId)>,
}

impl Timers {
    /// A timer that fires at `deadline` with `tag`.
    pub fn set(&mut self, deadline: Instant, tag: u64) -> TimerId {
        let id = TimerId(self.next_id);
        self.next_id += 1;
        self.by_id.insert(id, (deadline, tag));
        self.by_deadline.insert((deadline, id));
        id
    }

    /// Forgets a timer; one that fired or was cancelled is no longer known, and nothing
    /// happens.
    pub fn cancel(&mut self, id: TimerId) {
        if let Some((deadline, _)) = self.by_id.remove(&id) {
            self.by_deadline.remove(&(deadline, id));
        }
    }

    /// The earliest deadline, if any timer is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(deadline, _)| *deadline)
    }

    /// The earliest timer due at `now`, removed.
    pub fn pop_due(&mut self, now: Instant) -> Option<(TimerId, u64)> {
        let &(deadline, id) = self.by_deadline.first()?;
        if deadline > now {
            return None;
        }
        self.by_deadline.pop_first();
        let (_, tag) = self.by_id.remove(&id)?;
        Some((id, tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves timers fire in deadline order, ties in the order set, and cancelled ones never.
    #[test]
    fn timers_fire_in_order_and_cancelled_ones_never() {
        let start = Instant::now();
        let at = |ms| start + std::time::Duration::from_millis(ms);
        let mut timers = Timers::default();
        let late = timers.set(at(30), 1);
        let first_tie = timers.set(at(10), 2);
        let cancelled = timers.set(at(5), 3);
        let second_tie = timers.set(at(10), 4);
        timers.cancel(cancelled);
        timers.cancel(cancelled);
        assert_eq!(timers.next_deadline(), Some(at(10)));
        assert_eq!(timers.pop_due(at(9)), None);
        assert_eq!(timers.pop_due(at(10)), Some((first_tie, 2)));
        assert_eq!(timers.pop_due(at(10)), Some((second_tie, 4)));
        assert_eq!(timers.pop_due(at(29)), None);
        assert_eq!(timers.pop_due(at(31)), Some((late, 1)));
        assert_eq!(timers.next_deadline(), None);
    }
}
