//! What a node knows of round-trip times and liveness: its own latest RTT sample to each
//! peer, the latest samples each peer gossiped, and when it last heard from each peer. From
//! that it ranks election candidates by nearest round-trip time (see the module doc of
//! `replog` for the exact rule).

use std::collections::BTreeMap;

use orrery_sim::{Duration, Instant, NodeId};

#[derive(Debug, Clone)]
pub struct RttTable {
    me: NodeId,
    /// Latest RTT sample from `me` to each peer.
    own: BTreeMap<NodeId, Duration>,
    /// Each peer's gossiped samples to its own peers.
    gossiped: BTreeMap<NodeId, BTreeMap<NodeId, Duration>>,
    heard_at: BTreeMap<NodeId, Instant>,
}

impl RttTable {
    pub fn new(me: NodeId) -> RttTable {
        RttTable { me, own: BTreeMap::new(), gossiped: BTreeMap::new(), heard_at: BTreeMap::new() }
    }

    /// Notes that `peer` was heard from at `now` (any message counts).
    pub fn heard(&mut self, peer: NodeId, now: Instant) {
        self.heard_at.insert(peer, now);
    }

    /// A pong came back: the probe sent at `sent_at` (this node's clock) took `now - sent_at`.
    pub fn sample(&mut self, peer: NodeId, sent_at: Instant, now: Instant) {
        self.own.insert(peer, now.saturating_since(sent_at));
    }

    /// `peer`'s own samples, as it gossiped them.
    pub fn gossip(&mut self, peer: NodeId, rtts: &[(NodeId, Duration)]) {
        self.gossiped.insert(peer, rtts.iter().copied().collect());
    }

    /// This node's samples, to gossip.
    pub fn row(&self) -> Vec<(NodeId, Duration)> {
        self.own.iter().map(|(&peer, &rtt)| (peer, rtt)).collect()
    }

    /// Peers heard from within `window` of `now`.
    pub fn alive(&self, now: Instant, window: Duration) -> Vec<NodeId> {
        self.heard_at
            .iter()
            .filter(|(_, &at)| now.saturating_since(at) < window)
            .map(|(&peer, _)| peer)
            .collect()
    }

    /// The RTT from `from` to `to` as this node knows it, if it does.
    fn rtt(&self, from: NodeId, to: NodeId) -> Option<Duration> {
        if from == self.me {
            self.own.get(&to).copied()
        } else {
            self.gossiped.get(&from)?.get(&to).copied()
        }
    }

    /// `candidates`, best first: by the sum of each one's RTTs to all the others (an unknown
    /// RTT counts as `unknown`), then by node id.
    pub fn ranking(&self, candidates: &[NodeId], unknown: Duration) -> Vec<NodeId> {
        let mut scored: Vec<(Duration, NodeId)> = candidates
            .iter()
            .map(|&candidate| {
                let score = candidates
                    .iter()
                    .filter(|&&other| other != candidate)
                    .map(|&other| self.rtt(candidate, other).unwrap_or(unknown))
                    .fold(Duration::ZERO, |sum, rtt| sum + rtt);
                (score, candidate)
            })
            .collect();
        scored.sort();
        scored.into_iter().map(|(_, candidate)| candidate).collect()
    }
}
