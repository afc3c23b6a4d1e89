//! What travels between servers and clients: one enum for the whole bus, with the log entry
//! and key-value operation types it carries. Entries are also what the log stores on disk,
//! hence their serde derives.

use orrery_sim::NodeId;
use serde::{Deserialize, Serialize};

/// A key-value operation, as a client asks for it and as the log stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Get { key: u64 },
    Put { key: u64, value: String },
    Append { key: u64, value: String },
}

impl Op {
    pub fn key(&self) -> u64 {
        match self {
            Op::Get { key } | Op::Put { key, .. } | Op::Append { key, .. } => *key,
        }
    }
}

/// A client's request as replicated: who asked (for the reply and for deduplication) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The client node that gets the reply.
    #[serde(with = "node_id")]
    pub client: NodeId,
    /// The client's session (its history process number) and the request's number in it: a
    /// command applied twice (a retry that reached two leaders) takes effect once.
    pub session: u64,
    pub seq: u64,
    pub op: Op,
}

/// One log entry: the term it was created in and its command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub term: u64,
    pub command: Command,
}

/// What a server answers a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Applied; a get carries the value it read (`None` for a key never written).
    Done { value: Option<String> },
    /// Not the leader; try `leader` if known.
    NotLeader { leader: Option<NodeId> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    RequestVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    Vote {
        term: u64,
        granted: bool,
    },
    AppendEntries {
        term: u64,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
    },
    /// On success `match_index` is the last index known to match the leader's log; on
    /// failure it is a hint: the follower's log cannot match beyond it.
    AppendReply {
        term: u64,
        success: bool,
        match_index: u64,
    },
    Request {
        session: u64,
        seq: u64,
        op: Op,
    },
    Reply {
        session: u64,
        seq: u64,
        answer: Answer,
    },
}

/// A node id on disk: its number.
pub(crate) mod node_id {
    use orrery_sim::NodeId;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(node: &NodeId, serializer: S) -> Result<S::Ok, S::Error> {
        node.0.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NodeId, D::Error> {
        u32::deserialize(deserializer).map(NodeId)
    }
}
