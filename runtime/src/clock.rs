//! The two clocks of a production node: `now` (monotonic, zero when the node started, what
//! timers are set against) and `true_now` (the host's monotonic clock, shared by every
//! process on the machine, so histories recorded by several client processes of one host
//! merge on one time line as Jepsen's do).

use orrery_sim::Instant;

/// Nanoseconds of the host's monotonic clock (`CLOCK_MONOTONIC`): the same clock in every
/// process of the machine, never set back, unrelated to the wall clock.
pub fn host_monotonic() -> Instant {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `clock_gettime` writes one `timespec` through a valid pointer to one.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(status, 0, "CLOCK_MONOTONIC is always readable");
    let nanos = (now.tv_sec as u64).saturating_mul(1_000_000_000) + now.tv_nsec as u64;
    Instant::from_nanos(nanos)
}

/// The time since `epoch` on the tokio clock, as a node's local `Instant`.
pub fn since(epoch: tokio::time::Instant) -> Instant {
    let elapsed = tokio::time::Instant::now().saturating_duration_since(epoch);
    Instant::from_nanos(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
}
