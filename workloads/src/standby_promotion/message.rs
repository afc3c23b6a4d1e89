//! What travels between clients and replicas, and between the two replicas; and the log
//! entry both replicas store.

use orrery_sim::NodeId;
use serde::{Deserialize, Serialize};

/// One client operation as the log stores it: a deposit of `amount` into the account of
/// session (`client`, `session`), its `seq`-th operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The ballot of the primary that appended it.
    pub ballot: u64,
    /// The client node.
    pub client: u32,
    /// The client's session: its incarnation.
    pub session: u32,
    /// The operation's number in the session (1, 2, 3...).
    pub seq: u64,
    /// What it deposits.
    pub amount: u64,
}

impl Entry {
    /// The client node that asked for it.
    pub fn client(&self) -> NodeId {
        NodeId(self.client)
    }
}

/// The one message type of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Client → replica: deposit `amount` as operation `seq` of the client's `session`.
    Write {
        /// The client's incarnation.
        session: u32,
        /// The operation's number in the session.
        seq: u64,
        /// What it deposits.
        amount: u64,
    },
    /// Primary → client: the write is on both replicas' disks.
    WriteOk {
        /// The session it belongs to.
        session: u32,
        /// The acknowledged operation.
        seq: u64,
    },
    /// Replica → client: not the primary; `primary` is whom it follows, if anyone.
    NotPrimary {
        /// The session of the refused write.
        session: u32,
        /// The refused operation.
        seq: u64,
        /// The primary this replica follows, if it knows one.
        primary: Option<NodeId>,
    },
    /// Primary → standby: the entries after `prev_index` (whose entry has `prev_ballot`),
    /// possibly none (a heartbeat).
    Append {
        /// The primary's ballot: the fencing token.
        ballot: u64,
        /// The index the entries follow (0: the log's start).
        prev_index: u64,
        /// The ballot of the entry at `prev_index` (0 at the start).
        prev_ballot: u64,
        /// The entries at `prev_index + 1`...
        entries: Vec<Entry>,
    },
    /// Standby → primary: with `ok`, its log equals the primary's up to `matched`, durably;
    /// without, the entry at the append's `prev_index` did not match and the primary should
    /// retry after `matched`.
    AppendReply {
        /// The ballot the reply is for.
        ballot: u64,
        /// Whether the entries were appended.
        ok: bool,
        /// Durable match point, or where to retry from.
        matched: u64,
    },
    /// Replica → a stale primary: it promised `ballot`, above the sender's.
    Fenced {
        /// The ballot the replica is fenced at.
        ballot: u64,
    },
}
