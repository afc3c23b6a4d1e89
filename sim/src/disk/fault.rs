//! The disk's labelled random streams, one per fault family, and the rule that a disabled
//! fault draws nothing.
//!
//! Each family has its own stream derived from `(seed, label, [node index])`, so turning one
//! family on or off, or changing its rate, never shifts the draws of another.

use crate::rng::Stream;

/// Stream labels, as the trace header names them (each with the node index as its part).
pub const READ_ERROR_LABEL: &str = "disk.read_error";
pub const WRITE_ERROR_LABEL: &str = "disk.write_error";
pub const READ_CORRUPTION_LABEL: &str = "disk.read_corruption";
pub const LATENT_CORRUPTION_LABEL: &str = "disk.latent_corruption";
pub const MISDIRECTED_WRITE_LABEL: &str = "disk.misdirected_write";
pub const LATENCY_LABEL: &str = "disk.latency";
pub const SLOW_LABEL: &str = "disk.slow";
pub const CRASH_POINT_LABEL: &str = "disk.crash_point";
pub const CRASH_MODE_LABEL: &str = "disk.crash_mode";
pub const CRASH_UNSYNCED_LABEL: &str = "disk.crash_unsynced";

/// One stream per fault family of one node's disk.
#[derive(Clone, Debug)]
pub(super) struct FaultStreams {
    pub read_error: Stream,
    pub write_error: Stream,
    /// Whether a read is corrupted, then which bit.
    pub read_corruption: Stream,
    /// Whether a sync leaves a latent corruption, then which bit.
    pub latent_corruption: Stream,
    /// Whether a write is misdirected, then where it lands.
    pub misdirected_write: Stream,
    pub latency: Stream,
    pub slow: Stream,
    pub crash_point: Stream,
    /// Which mode a `Random` crash applies.
    pub crash_mode: Stream,
    /// Which unsynced changes (and sectors) survive a torn or reordered crash.
    pub crash_unsynced: Stream,
}

impl FaultStreams {
    pub(super) fn new(seed: u64, node_index: u64) -> FaultStreams {
        let stream = |label| Stream::with_parts(seed, label, &[node_index]);
        FaultStreams {
            read_error: stream(READ_ERROR_LABEL),
            write_error: stream(WRITE_ERROR_LABEL),
            read_corruption: stream(READ_CORRUPTION_LABEL),
            latent_corruption: stream(LATENT_CORRUPTION_LABEL),
            misdirected_write: stream(MISDIRECTED_WRITE_LABEL),
            latency: stream(LATENCY_LABEL),
            slow: stream(SLOW_LABEL),
            crash_point: stream(CRASH_POINT_LABEL),
            crash_mode: stream(CRASH_MODE_LABEL),
            crash_unsynced: stream(CRASH_UNSYNCED_LABEL),
        }
    }
}

/// Whether a fault with `probability` strikes now. Draws only when the fault is enabled, so
/// a fault at probability zero leaves its stream untouched.
pub(super) fn strikes(stream: &mut Stream, probability: f64) -> bool {
    probability > 0.0 && stream.bernoulli(probability)
}
