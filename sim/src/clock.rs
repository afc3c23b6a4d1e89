//! A node's local clock: true virtual time seen through an offset and a drift rate, so a
//! node's `now()` can run ahead, behind, faster or slower while the scheduler stays on true
//! time. Clock skew is a property of the node: it survives the node's crashes.

use crate::time::{Duration, Instant};

/// A node's local clock: an offset from true virtual time plus a drift rate, so `now()` can
/// run ahead, behind, faster or slower while the scheduler stays on true time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clock {
    anchor_true: u64,
    anchor_local: i128,
    drift_ppm: i64,
}

impl Clock {
    /// The local reading at true time `now`.
    #[inline]
    pub fn local(&self, now: Instant) -> Instant {
        if self.drift_ppm == 0 && self.anchor_local == i128::from(self.anchor_true) {
            return now;
        }
        let elapsed = i128::from(now.as_nanos()) - i128::from(self.anchor_true);
        let scaled = elapsed * (1_000_000 + i128::from(self.drift_ppm)) / 1_000_000;
        let local = (self.anchor_local + scaled).clamp(0, i128::from(u64::MAX));
        Instant::from_nanos(local as u64)
    }

    /// From true time `now` on, the local clock reads `now + offset` and runs at
    /// `1 + drift_ppm / 10^6` times true speed. `drift_ppm` must be above -1,000,000.
    pub fn set(&mut self, now: Instant, offset_nanos: i64, drift_ppm: i64) {
        assert!(drift_ppm > -1_000_000, "a clock cannot run at zero or negative speed");
        self.anchor_true = now.as_nanos();
        self.anchor_local = i128::from(now.as_nanos()) + i128::from(offset_nanos);
        self.drift_ppm = drift_ppm;
    }

    /// The true duration after which `local` time has elapsed on this clock (rounded up).
    #[inline]
    pub fn true_duration(&self, local: Duration) -> Duration {
        if self.drift_ppm == 0 {
            return local;
        }
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        let nanos = (i128::from(local.as_nanos()) * 1_000_000 + rate - 1) / rate;
        Duration::from_nanos(nanos.min(i128::from(u64::MAX)) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves skewed and drifting clocks read as configured and timers convert back exactly.
    #[test]
    fn clocks_skew_and_drift() {
        let mut clock = Clock::default();
        let t = Instant::from_nanos(1_000_000_000);
        assert_eq!(clock.local(t), t);
        clock.set(t, 500_000_000, 0);
        assert_eq!(clock.local(t), Instant::from_nanos(1_500_000_000));
        clock.set(t, -200_000_000, 100_000); // 10% fast, 200ms behind
        assert_eq!(clock.local(t), Instant::from_nanos(800_000_000));
        assert_eq!(
            clock.local(Instant::from_nanos(2_000_000_000)),
            Instant::from_nanos(1_900_000_000)
        );
        assert_eq!(clock.true_duration(Duration::from_millis(110)), Duration::from_millis(100));
        clock.set(t, -2_000_000_000, 0);
        assert_eq!(clock.local(t), Instant::ZERO, "a clock never reads before zero");
    }
}
