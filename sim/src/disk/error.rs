//! Why a disk operation failed: the process sees these, and must handle every one of them.

use super::operation::DiskOpKind;

/// A failed disk operation. A failed operation has no effect on the disk.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    #[error("no file named {path:?}")]
    NotFound { path: String },
    #[error("a file named {path:?} already exists")]
    AlreadyExists { path: String },
    /// An injected I/O error (`read_error_probability` / `write_error_probability`).
    #[error("I/O error during {} of {path:?}", operation.name())]
    Io { operation: DiskOpKind, path: String },
    /// The operation would grow the stored bytes beyond `capacity_bytes`, or address bytes
    /// beyond what the disk can ever hold.
    #[error("no space left on the disk for {} of {path:?}", operation.name())]
    NoSpace { operation: DiskOpKind, path: String },
    /// `in_flight_max` operations are already submitted and not yet completed.
    #[error("the disk's submission queue is full; wait for a completion before submitting")]
    QueueFull,
    /// The node lost power at this operation (a crash point), or already had: nothing more
    /// reaches the disk until the world calls `Disk::crash`.
    #[error("the node crashed during this disk operation")]
    Crashed,
}

/// The variant of a `DiskError` without its data, for events and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiskErrorKind {
    NotFound,
    AlreadyExists,
    Io,
    NoSpace,
    QueueFull,
    Crashed,
}

impl DiskError {
    pub fn kind(&self) -> DiskErrorKind {
        match self {
            DiskError::NotFound { .. } => DiskErrorKind::NotFound,
            DiskError::AlreadyExists { .. } => DiskErrorKind::AlreadyExists,
            DiskError::Io { .. } => DiskErrorKind::Io,
            DiskError::NoSpace { .. } => DiskErrorKind::NoSpace,
            DiskError::QueueFull => DiskErrorKind::QueueFull,
            DiskError::Crashed => DiskErrorKind::Crashed,
        }
    }
}

impl DiskErrorKind {
    /// The snake_case name used in traces.
    pub fn name(self) -> &'static str {
        match self {
            DiskErrorKind::NotFound => "not_found",
            DiskErrorKind::AlreadyExists => "already_exists",
            DiskErrorKind::Io => "io",
            DiskErrorKind::NoSpace => "no_space",
            DiskErrorKind::QueueFull => "queue_full",
            DiskErrorKind::Crashed => "crashed",
        }
    }
}
