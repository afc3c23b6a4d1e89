//! Disk operations as owned values, for the completion-based API: a process submits a
//! `DiskOp`, gets a `DiskTicket`, and later receives the ticket's `DiskOutput` (or error).

use crate::time::Duration;

/// One disk operation, owning its arguments so it can wait in the event queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskOp {
    Create { path: String },
    Exists { path: String },
    Read { path: String, offset_bytes: u64, length_bytes: u64 },
    Write { path: String, offset_bytes: u64, data: Vec<u8> },
    Append { path: String, data: Vec<u8> },
    Length { path: String },
    Truncate { path: String, length_bytes: u64 },
    Delete { path: String },
    Rename { from: String, to: String },
    List { prefix: String },
    Sync { path: String },
    SyncDirectory,
}

/// Which operation, without its arguments: for events, counters and errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiskOpKind {
    Create,
    Exists,
    Read,
    Write,
    Append,
    Length,
    Truncate,
    Delete,
    Rename,
    List,
    Sync,
    SyncDirectory,
}

/// What a successful operation returns; the variant follows from the operation's kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskOutput {
    /// Create, Write, Truncate, Delete, Rename, Sync, SyncDirectory.
    Done,
    Exists(bool),
    /// Read: the bytes read, fewer than asked at the end of the file.
    Bytes(Vec<u8>),
    /// Append: the offset at which the data was placed.
    AppendedAt {
        offset_bytes: u64,
    },
    Length {
        length_bytes: u64,
    },
    /// List: matching names in ascending order.
    Names(Vec<String>),
}

/// Names one submitted operation until it completes. Unique for the disk's lifetime, so a
/// ticket from before a crash never matches an operation submitted after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DiskTicket(pub(super) u64);

impl DiskTicket {
    /// The ticket numbered `id`, for a `Storage` outside the simulator (a production
    /// runtime's real directory), which numbers its own submissions.
    pub fn new(id: u64) -> DiskTicket {
        DiskTicket(id)
    }

    /// The ticket's number, unique within the disk (for traces).
    pub fn id(self) -> u64 {
        self.0
    }

    /// The ticket with this number, as a child process or another backing names it back
    /// (a ticket the disk never issued matches no operation).
    pub fn from_id(id: u64) -> DiskTicket {
        DiskTicket(id)
    }
}

/// What `Disk::submit` hands back: the world schedules the completion `latency` from now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSubmission {
    pub ticket: DiskTicket,
    pub latency: Duration,
    /// The operation's 1-based index within the node's incarnation (as crash points count).
    pub operation_index: u64,
}

impl DiskTicket {
    pub fn index(self) -> u64 {
        self.0
    }
}

impl DiskOp {
    pub fn kind(&self) -> DiskOpKind {
        match self {
            DiskOp::Create { .. } => DiskOpKind::Create,
            DiskOp::Exists { .. } => DiskOpKind::Exists,
            DiskOp::Read { .. } => DiskOpKind::Read,
            DiskOp::Write { .. } => DiskOpKind::Write,
            DiskOp::Append { .. } => DiskOpKind::Append,
            DiskOp::Length { .. } => DiskOpKind::Length,
            DiskOp::Truncate { .. } => DiskOpKind::Truncate,
            DiskOp::Delete { .. } => DiskOpKind::Delete,
            DiskOp::Rename { .. } => DiskOpKind::Rename,
            DiskOp::List { .. } => DiskOpKind::List,
            DiskOp::Sync { .. } => DiskOpKind::Sync,
            DiskOp::SyncDirectory => DiskOpKind::SyncDirectory,
        }
    }
}

impl DiskOpKind {
    /// The snake_case name used in traces.
    pub fn name(self) -> &'static str {
        match self {
            DiskOpKind::Create => "create",
            DiskOpKind::Exists => "exists",
            DiskOpKind::Read => "read",
            DiskOpKind::Write => "write",
            DiskOpKind::Append => "append",
            DiskOpKind::Length => "length",
            DiskOpKind::Truncate => "truncate",
            DiskOpKind::Delete => "delete",
            DiskOpKind::Rename => "rename",
            DiskOpKind::List => "list",
            DiskOpKind::Sync => "sync",
            DiskOpKind::SyncDirectory => "sync_directory",
        }
    }
}
