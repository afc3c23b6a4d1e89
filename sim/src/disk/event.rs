//! What the disk tells the world to trace: one event per operation, plus one per injected
//! fault that the operation's result does not show, per crash point and per crash.
//!
//! Events are plain data (no formatted text): the trace recorder decides how they read.

use super::config::UnsyncedOnCrash;
use super::error::DiskErrorKind;
use super::operation::DiskOpKind;

/// One thing that happened on a disk. A fault event comes before the `Operation` event of
/// the operation it struck.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskEvent {
    /// An operation took effect (`error: None`) or failed without effect.
    Operation {
        /// 1-based index within the node's incarnation, as crash points count.
        operation_index: u64,
        kind: DiskOpKind,
        /// The file (for `List`, the prefix; for `SyncDirectory`, empty).
        path: String,
        /// For `Rename`, the new name.
        target_path: Option<String>,
        offset_bytes: u64,
        /// Bytes asked for by a read, written by a write, or the new length of a truncate.
        length_bytes: u64,
        error: Option<DiskErrorKind>,
    },
    /// A read returned one flipped bit at this file offset; the stored data is intact.
    ReadCorrupted { path: String, offset_bytes: u64, bit: u8 },
    /// A sync left one bit of the file flipped on the medium.
    LatentCorruption { path: String, offset_bytes: u64, bit: u8 },
    /// A write's data landed at `landed_offset_bytes` (or nowhere) instead of where asked.
    MisdirectedWrite { path: String, intended_offset_bytes: u64, landed_offset_bytes: Option<u64> },
    /// The node lost power at this operation; the world must now crash it.
    CrashPoint { operation_index: u64, kind: DiskOpKind },
    /// The world crashed the node and the crash contract was applied.
    Crash(DiskCrashReport),
}

/// What one crash did to the disk's unsynced state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskCrashReport {
    /// The mode applied (never `Random`: that resolves to one of the others per crash).
    pub mode: UnsyncedOnCrash,
    pub changes_kept: u64,
    pub changes_torn: u64,
    pub changes_lost: u64,
    pub metadata_kept: u64,
    pub metadata_lost: u64,
    pub in_flight_dropped: u64,
}
