//! What replog nodes say to each other: liveness and RTT probes between every pair, the
//! leader's heartbeats, the replicas' pulls and the entries that answer them, acknowledgements,
//! the fencing reply and (for `epoch_quorum`) votes.

use std::fmt;

use orrery_sim::{Duration, Instant, NodeId};

/// One log entry: the bytes a leader appended and the epoch it led when it did.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub epoch: u64,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e{}:{}", self.epoch, String::from_utf8_lossy(&self.bytes))
    }
}

/// The one message type of the replog bus. Sequence numbers start at 1; `tail` is the last
/// sequence a node holds, `commit` the last one it treats as final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Every node to every peer, every heartbeat: "I am alive", an RTT probe (`sent_at` on
    /// the sender's clock), the sender's latest RTT samples to its peers (so every node
    /// holds an RTT matrix) and whether the sender currently leads.
    Ping {
        sent_at: Instant,
        rtts: Vec<(NodeId, Duration)>,
        leading: bool,
    },
    Pong {
        sent_at: Instant,
        rtts: Vec<(NodeId, Duration)>,
    },
    /// Leader to every peer, every heartbeat.
    Heartbeat {
        epoch: u64,
        tail: u64,
        commit: u64,
    },
    /// A lagging replica asks its leader for the entries from `from` on.
    Pull {
        epoch: u64,
        from: u64,
    },
    /// The leader's answer to a pull: its entries from `start`, at most one batch.
    Entries {
        epoch: u64,
        start: u64,
        entries: Vec<Entry>,
        commit: u64,
    },
    /// A replica's answer to a heartbeat or entries: it matches the leader up to `matched`.
    Ack {
        epoch: u64,
        matched: u64,
    },
    /// Fencing: the sender has seen `epoch`, newer than the message it answers.
    Stale {
        epoch: u64,
    },
    /// `epoch_quorum` only. `pre` asks "would you vote?" without anyone changing state (its
    /// `epoch` is the asker's current one); a real request asks for a vote in `epoch`.
    VoteRequest {
        pre: bool,
        epoch: u64,
        last_epoch: u64,
        tail: u64,
    },
    /// The answer, with the voter's current epoch.
    Vote {
        pre: bool,
        epoch: u64,
        granted: bool,
    },
}

impl Message {
    /// The epoch a message carries, if it speaks for one.
    pub fn epoch(&self) -> Option<u64> {
        match *self {
            Message::Heartbeat { epoch, .. }
            | Message::Pull { epoch, .. }
            | Message::Entries { epoch, .. }
            | Message::Ack { epoch, .. }
            | Message::Stale { epoch }
            | Message::VoteRequest { pre: false, epoch, .. }
            | Message::Vote { pre: false, epoch, .. } => Some(epoch),
            _ => None,
        }
    }
}
