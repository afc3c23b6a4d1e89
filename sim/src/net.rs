//! The simulated network: per-directed-link queues, latency distributions, loss, duplication,
//! corruption, partitions of every shape, clogs that hold traffic, and statistics.
//!
//! The network decides the fate of each packet; the world schedules what it decides. Every
//! random decision draws from a labelled stream that belongs to one link and one fault family
//! (`net.latency[a,b]`, `net.loss[a,b]`, `net.duplicate[a,b]`, `net.corrupt[a,b]`), created
//! the first time it is needed. A family whose probability is zero draws nothing, so turning
//! one family on or off never shifts the draws of another, and traffic on one link never
//! shifts the draws of another link.
//!
//! Rules, in the order they are applied (each drop is a traced event with its cause):
//! - at send: the sender's network interface must be up (`NodeDown`); the pair must not be
//!   partitioned (`Partition`); the link's queue (packets in flight) must have room, else the
//!   packet is dropped (`QueueFull`, drop-tail) or, on `WhenFull::Reject` links, the send
//!   returns an error to the sender; then loss (`Loss`), latency, corruption, duplication
//!   (a copy is only made if the queue has room for it as well).
//! - at delivery: the pair must still not be partitioned (`Partition`); a clogged link holds
//!   the packet until the clog ends and then delivers it in its original order; the receiver
//!   must be up and running (`NodeDown`); a corrupted packet the codec cannot decode is
//!   dropped (`Corrupt`).
//! - delivery order is total: (delivery time, then scheduling sequence, which follows packet
//!   ids). FIFO links never deliver a later packet before an earlier one.

use std::collections::BTreeMap;

use crate::node::NodeId;
use crate::rng::Stream;
use crate::time::{Duration, Instant};

/// A latency distribution for a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always the same; draws nothing.
    Fixed(Duration),
    /// Uniform in `[min, max]` at nanosecond resolution.
    Uniform { min: Duration, max: Duration },
    /// `min` plus an exponential with the given mean.
    Exponential { min: Duration, mean: Duration },
    /// Uniform in `[min, max]`, except with `slow_probability` uniform in `[slow_min, slow_max]`.
    LongTail {
        min: Duration,
        max: Duration,
        slow_probability: f64,
        slow_min: Duration,
        slow_max: Duration,
    },
    /// Heavy-tailed: `min / U^(1/shape)` for a uniform draw `U`, capped at `max` (the mean is
    /// finite for `shape > 1`, the variance for `shape > 2`).
    Pareto { min: Duration, shape: f64, max: Duration },
    /// `median * e^(sigma * N(0, 1))`, capped at `max`.
    Lognormal { median: Duration, sigma: f64, max: Duration },
}

impl Latency {
    /// Draws one latency from `stream` (nothing for `Fixed`).
    #[inline]
    pub fn sample(&self, stream: &mut Stream) -> Duration {
        match *self {
            Latency::Fixed(latency) => latency,
            Latency::Uniform { min, max } => {
                Duration::from_nanos(stream.uniform_u64(min.as_nanos(), max.as_nanos()))
            }
            Latency::Exponential { min, mean } => {
                let extra = stream.exponential(mean.as_nanos() as f64);
                min + Duration::from_nanos(extra.min(1e18) as u64)
            }
            Latency::LongTail { min, max, slow_probability, slow_min, slow_max } => {
                Duration::from_nanos(stream.bimodal_u64(
                    slow_probability,
                    (min.as_nanos(), max.as_nanos()),
                    (slow_min.as_nanos(), slow_max.as_nanos()),
                ))
            }
            Latency::Pareto { min, shape, max } => {
                let uniform = 1.0 - stream.unit_f64(); // in (0, 1]
                let nanos = min.as_nanos() as f64 / libm::pow(uniform, 1.0 / shape);
                Duration::from_nanos((nanos.min(max.as_nanos() as f64)) as u64)
            }
            Latency::Lognormal { median, sigma, max } => {
                let nanos = median.as_nanos() as f64 * libm::exp(sigma * stream.normal(0.0, 1.0));
                Duration::from_nanos((nanos.min(max.as_nanos() as f64)) as u64)
            }
        }
    }

    /// Whether sampling consumes randomness.
    pub fn is_random(&self) -> bool {
        !matches!(self, Latency::Fixed(_))
    }

    /// Checks the bounds are ordered and probabilities in [0, 1].
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Latency::Fixed(_) => Ok(()),
            Latency::Uniform { min, max } if min > max => Err(format!("min {min} > max {max}")),
            Latency::LongTail { min, max, slow_probability, slow_min, slow_max } => {
                if min > max || slow_min > slow_max {
                    Err("long-tail ranges must have min <= max".to_string())
                } else if !(0.0..=1.0).contains(&slow_probability) {
                    Err(format!("slow_probability {slow_probability} is outside [0, 1]"))
                } else {
                    Ok(())
                }
            }
            Latency::Pareto { min, shape, max } => {
                if !(shape.is_finite() && shape > 0.0) {
                    Err(format!("shape {shape} must be a positive number"))
                } else if min > max {
                    Err(format!("min {min} > max {max}"))
                } else {
                    Ok(())
                }
            }
            Latency::Lognormal { median, sigma, max } => {
                if !(sigma.is_finite() && sigma >= 0.0) {
                    Err(format!("sigma {sigma} must be a number >= 0"))
                } else if median > max {
                    Err(format!("median {median} > max {max}"))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}

/// What a full link queue does with one more packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// The new packet is dropped and traced (`QueueFull`).
    #[default]
    DropTail,
    /// The send returns `SendError::QueueFull` to the sender; nothing is queued.
    Reject,
}

/// Settings of one directed link (or the default for all links).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    pub latency: Latency,
    pub loss_probability: f64,
    pub duplicate_probability: f64,
    /// Only acts on byte wires; typed messages have no bits to flip.
    pub corrupt_probability: f64,
    /// Packets in flight on the link at most (`path_capacity`).
    pub capacity_packets: u32,
    pub when_full: WhenFull,
    /// Stream-like link: a later packet never overtakes an earlier one.
    pub fifo: bool,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Latency::Fixed(Duration::from_millis(1)),
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            corrupt_probability: 0.0,
            capacity_packets: 1 << 20,
            when_full: WhenFull::DropTail,
            fifo: false,
        }
    }
}

/// Why a packet did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropCause {
    Loss,
    Partition,
    NodeDown,
    QueueFull,
    Corrupt,
}

impl DropCause {
    pub const ALL: [DropCause; 5] = [
        DropCause::Loss,
        DropCause::Partition,
        DropCause::NodeDown,
        DropCause::QueueFull,
        DropCause::Corrupt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropCause::Loss => "loss",
            DropCause::Partition => "partition",
            DropCause::NodeDown => "node_down",
            DropCause::QueueFull => "queue_full",
            DropCause::Corrupt => "corrupt",
        }
    }
}

/// A send the network refused (only on `WhenFull::Reject` links).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("link queue to {0} is full")]
    QueueFull(NodeId),
}

/// Delivered-latency histogram: log-linear buckets (8 per power of two), exact enough for
/// percentiles in summaries, fixed size, no allocation per sample.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    buckets: Box<[u64; 512]>,
    count: u64,
    max_nanos: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram { buckets: Box::new([0; 512]), count: 0, max_nanos: 0 }
    }
}

impl LatencyHistogram {
    #[inline]
    fn bucket(nanos: u64) -> usize {
        if nanos < 8 {
            return nanos as usize;
        }
        let log = 63 - nanos.leading_zeros() as usize; // >= 3
        let sub = ((nanos >> (log - 3)) & 7) as usize;
        (log - 2) * 8 + sub
    }

    fn bucket_floor(index: usize) -> u64 {
        if index < 8 {
            return index as u64;
        }
        let log = index / 8 + 2;
        let sub = (index % 8) as u64;
        (8 | sub) << (log - 3)
    }

    #[inline]
    pub fn add(&mut self, latency: Duration) {
        let nanos = latency.as_nanos();
        self.buckets[Self::bucket(nanos).min(511)] += 1;
        self.count += 1;
        self.max_nanos = self.max_nanos.max(nanos);
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *mine += theirs;
        }
        self.count += other.count;
        self.max_nanos = self.max_nanos.max(other.max_nanos);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The latency at quantile `q` in [0, 1] (the lower bound of its bucket, within 12.5%).
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        if q >= 1.0 {
            return Duration::from_nanos(self.max_nanos);
        }
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_nanos(Self::bucket_floor(index));
            }
        }
        Duration::from_nanos(self.max_nanos)
    }
}

/// Counters for one link or for the whole network.
#[derive(Debug, Clone, Default)]
pub struct LinkStats {
    pub sent: u64,
    pub delivered: u64,
    pub dropped: [u64; 5],
    pub duplicated: u64,
    pub corrupted: u64,
    pub held: u64,
    pub rejected: u64,
    pub queue_depth_max: u32,
    pub latency: LatencyHistogram,
}

impl LinkStats {
    pub fn dropped_by(&self, cause: DropCause) -> u64 {
        self.dropped[cause as usize]
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    pub fn merge(&mut self, other: &LinkStats) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        for (mine, theirs) in self.dropped.iter_mut().zip(other.dropped) {
            *mine += theirs;
        }
        self.duplicated += other.duplicated;
        self.corrupted += other.corrupted;
        self.held += other.held;
        self.rejected += other.rejected;
        self.queue_depth_max = self.queue_depth_max.max(other.queue_depth_max);
        self.latency.merge(&other.latency);
    }
}

/// Statistics of the whole network: per link (sorted by pair) and in total.
#[derive(Debug, Clone, Default)]
pub struct NetStats {
    pub links: BTreeMap<(NodeId, NodeId), LinkStats>,
    pub total: LinkStats,
}

impl NetStats {
    /// A compact one-line summary for run reports.
    pub fn summary(&self) -> String {
        let t = &self.total;
        let mut drops = String::new();
        for cause in DropCause::ALL {
            let n = t.dropped_by(cause);
            if n > 0 {
                drops.push_str(&format!(" {}={n}", cause.name()));
            }
        }
        format!(
            "sent={} delivered={} dropped={}{} duplicated={} corrupted={} held={} queue_max={} \
             latency p50={} p99={} max={}",
            t.sent,
            t.delivered,
            t.dropped_total(),
            if drops.is_empty() { String::new() } else { format!(" ({})", drops.trim()) },
            t.duplicated,
            t.corrupted,
            t.held,
            t.queue_depth_max,
            t.latency.quantile(0.5),
            t.latency.quantile(0.99),
            t.latency.quantile(1.0),
        )
    }
}

/// Who can reach whom. Symmetric shapes are group memberships (two nodes talk iff they share
/// a group; a bridge node is in both halves); one-way rules block single directions.
#[derive(Debug, Clone, Default)]
pub struct Reachability {
    /// Group bitmask per node; empty means no symmetric partition.
    groups: Vec<u64>,
    /// (from side, to side): packets from a node of the first set to one of the second drop.
    one_way: Vec<(Vec<bool>, Vec<bool>)>,
}

impl Reachability {
    #[inline]
    pub fn is_whole(&self) -> bool {
        self.groups.is_empty() && self.one_way.is_empty()
    }

    #[inline]
    pub fn can_reach(&self, from: NodeId, to: NodeId) -> bool {
        if self.is_whole() || from == to {
            return true;
        }
        let (f, t) = (from.index(), to.index());
        if !self.groups.is_empty() {
            let (a, b) = (
                self.groups.get(f).copied().unwrap_or(1),
                self.groups.get(t).copied().unwrap_or(1),
            );
            if a & b == 0 {
                return false;
            }
        }
        !self.one_way.iter().any(|(sources, targets)| {
            sources.get(f).copied().unwrap_or(false) && targets.get(t).copied().unwrap_or(false)
        })
    }
}

/// A partition shape, as the control surface and scenarios name them (Jepsen's vocabulary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionShape {
    /// Explicit groups; nodes in no group are isolated from everyone.
    Groups(Vec<Vec<NodeId>>),
    /// One node cut off from all others.
    Isolate(NodeId),
    /// Packets from `from` to `to` drop; the other direction still works.
    OneWay { from: Vec<NodeId>, to: Vec<NodeId> },
    /// Each node reaches only its `reach` nearest neighbours on each side of a ring of the
    /// given order (a majorities ring when reach = n/2 - ... chosen by the caller).
    Ring { order: Vec<NodeId>, reach: usize },
    /// Two halves that cannot reach each other, except through one bridge node in both.
    Bridge { left: Vec<NodeId>, bridge: NodeId, right: Vec<NodeId> },
}

impl PartitionShape {
    /// Validates the shape against `n_nodes` and turns it into a reachability rule.
    pub fn reachability(&self, n_nodes: usize) -> Result<Reachability, String> {
        let check = |node: &NodeId| {
            if node.index() < n_nodes {
                Ok(())
            } else {
                Err(format!("unknown node {node} (the world has {n_nodes} nodes)"))
            }
        };
        let mut groups = vec![0u64; n_nodes];
        match self {
            PartitionShape::Groups(list) => {
                if list.len() > 64 {
                    return Err("at most 64 partition groups".to_string());
                }
                for (g, members) in list.iter().enumerate() {
                    for node in members {
                        check(node)?;
                        if groups[node.index()] != 0 {
                            return Err(format!("node {node} is in more than one partition group"));
                        }
                        groups[node.index()] |= 1 << g;
                    }
                }
                // Nodes in no group get a private group each when possible, else none.
                for (next, mask) in (list.len()..).zip(groups.iter_mut().filter(|m| **m == 0)) {
                    *mask = if next < 64 { 1 << next } else { 0 };
                }
                if groups.contains(&0) {
                    return Err("too many nodes left outside the partition groups".to_string());
                }
            }
            PartitionShape::Isolate(node) => {
                check(node)?;
                groups.iter_mut().for_each(|m| *m = 1);
                groups[node.index()] = 2;
            }
            PartitionShape::OneWay { from, to } => {
                let mut sources = vec![false; n_nodes];
                let mut targets = vec![false; n_nodes];
                for node in from {
                    check(node)?;
                    sources[node.index()] = true;
                }
                for node in to {
                    check(node)?;
                    targets[node.index()] = true;
                }
                return Ok(Reachability { groups: Vec::new(), one_way: vec![(sources, targets)] });
            }
            PartitionShape::Ring { order, reach } => {
                let n = order.len();
                if n > 64 {
                    return Err("ring partitions support at most 64 nodes".to_string());
                }
                // Window w = {order[w], ..., order[w + reach]}; two nodes share a window iff
                // their ring distance is at most `reach`.
                for (position, node) in order.iter().enumerate() {
                    check(node)?;
                    for offset in 0..=(*reach).min(n.saturating_sub(1)) {
                        let window = (position + n - offset) % n;
                        groups[node.index()] |= 1 << window;
                    }
                }
                for (next, mask) in (n..).zip(groups.iter_mut().filter(|m| **m == 0)) {
                    *mask = if next < 64 { 1 << next } else { 0 };
                }
            }
            PartitionShape::Bridge { left, bridge, right } => {
                check(bridge)?;
                groups.iter_mut().for_each(|m| *m = 4); // bystanders: their own group
                for node in left {
                    check(node)?;
                    groups[node.index()] = 1;
                }
                for node in right {
                    check(node)?;
                    groups[node.index()] = 2;
                }
                groups[bridge.index()] = 3;
            }
        }
        Ok(Reachability { groups, one_way: Vec::new() })
    }

    /// A short text for traces: `n0,n1|n2,n3`.
    pub fn describe(&self) -> String {
        let list =
            |nodes: &[NodeId]| nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        match self {
            PartitionShape::Groups(groups) => {
                groups.iter().map(|g| list(g)).collect::<Vec<_>>().join("|")
            }
            PartitionShape::Isolate(node) => format!("isolate:{node}"),
            PartitionShape::OneWay { from, to } => format!("{}->x->{}", list(from), list(to)),
            PartitionShape::Ring { order, reach } => format!("ring:{}:reach={reach}", list(order)),
            PartitionShape::Bridge { left, bridge, right } => {
                format!("{}|{bridge}|{}", list(left), list(right))
            }
        }
    }
}

/// Runtime state of one directed link.
#[derive(Debug, Clone)]
pub(crate) struct LinkState {
    pub from: NodeId,
    pub to: NodeId,
    pub config: LinkConfig,
    pub in_flight: u32,
    /// Latest delivery time scheduled on a FIFO link.
    pub fifo_last: Instant,
    pub latency_stream: Option<Stream>,
    pub loss_stream: Option<Stream>,
    pub duplicate_stream: Option<Stream>,
    pub corrupt_stream: Option<Stream>,
    pub stats: LinkStats,
}

/// What the network decided for a send that was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admitted {
    pub link: u32,
    pub deliver_at: Instant,
    pub corrupted: bool,
    /// Delivery time of a duplicate copy, if one is made.
    pub duplicate_at: Option<Instant>,
}

/// The network's state for one run.
#[derive(Debug, Clone)]
pub struct Network {
    seed: u64,
    n_nodes: usize,
    default: LinkConfig,
    overrides: BTreeMap<(NodeId, NodeId), LinkConfig>,
    links: Vec<LinkState>,
    /// Per source node: (destination, link index), sorted by destination.
    index: Vec<Vec<(u32, u32)>>,
    pub(crate) reachability: Reachability,
    pub(crate) partition: Option<PartitionShape>,
    /// Nodes whose network interface is down (`set_node_up(n, false)`).
    interface_down: Vec<bool>,
    /// Clogged links and nodes with the time each clog ends.
    link_clogs: BTreeMap<(NodeId, NodeId), Instant>,
    node_clogs: BTreeMap<NodeId, Instant>,
    next_packet: u64,
}

impl Network {
    pub fn new(seed: u64, n_nodes: usize, default: LinkConfig) -> Network {
        Network {
            seed,
            n_nodes,
            default,
            overrides: BTreeMap::new(),
            links: Vec::new(),
            index: vec![Vec::new(); n_nodes],
            reachability: Reachability::default(),
            partition: None,
            interface_down: vec![false; n_nodes],
            link_clogs: BTreeMap::new(),
            node_clogs: BTreeMap::new(),
            next_packet: 0,
        }
    }

    pub fn n_nodes(&self) -> usize {
        self.n_nodes
    }

    pub fn default_config(&self) -> &LinkConfig {
        &self.default
    }

    /// The effective settings of a link.
    pub fn link_config(&self, from: NodeId, to: NodeId) -> LinkConfig {
        self.overrides.get(&(from, to)).copied().unwrap_or(self.default)
    }

    /// Replaces the default settings; links without an override follow.
    pub fn set_default(&mut self, config: LinkConfig) {
        self.default = config;
        for link in &mut self.links {
            link.config = self.overrides.get(&(link.from, link.to)).copied().unwrap_or(config);
        }
    }

    /// Overrides the settings of one directed link.
    pub fn set_link(&mut self, from: NodeId, to: NodeId, config: LinkConfig) {
        self.overrides.insert((from, to), config);
        if let Some(index) = self.find(from, to) {
            self.links[index as usize].config = config;
        }
    }

    /// Applies `change` to the default and to every per-link override (a global setting).
    pub fn update_all(&mut self, change: impl Fn(&mut LinkConfig)) {
        change(&mut self.default);
        for config in self.overrides.values_mut() {
            change(config);
        }
        for link in &mut self.links {
            change(&mut link.config);
        }
    }

    pub fn set_interface_up(&mut self, node: NodeId, up: bool) {
        if let Some(flag) = self.interface_down.get_mut(node.index()) {
            *flag = !up;
        }
    }

    #[inline]
    pub fn is_interface_up(&self, node: NodeId) -> bool {
        !self.interface_down.get(node.index()).copied().unwrap_or(false)
    }

    pub fn partition(&self) -> Option<&PartitionShape> {
        self.partition.as_ref()
    }

    #[inline]
    pub fn can_reach(&self, from: NodeId, to: NodeId) -> bool {
        self.reachability.can_reach(from, to)
    }

    /// The groups of nodes that can currently exchange messages, for checkers that reason per
    /// connected component ("at most one leader per component"). Only nodes `member` accepts
    /// (e.g. those up and running) and whose interface is up take part. Two of them are joined
    /// when each reaches the other and neither direction is clogged: a one-way cut or a clog
    /// (which holds traffic while it lasts) leaves them unable to talk. Components are the
    /// transitive closure of that relation (a bridge node joins both halves into one); each
    /// is sorted, and they are ordered by their smallest node.
    pub fn components(&self, member: impl Fn(NodeId) -> bool) -> Vec<Vec<NodeId>> {
        let nodes: Vec<NodeId> = (0..self.n_nodes as u32)
            .map(NodeId)
            .filter(|&node| member(node) && self.is_interface_up(node))
            .collect();
        let talks = |a: NodeId, b: NodeId| {
            self.can_reach(a, b)
                && self.can_reach(b, a)
                && !self.is_clogged(a, b)
                && !self.is_clogged(b, a)
        };
        let mut component_of: Vec<Option<usize>> = vec![None; nodes.len()];
        let mut components: Vec<Vec<NodeId>> = Vec::new();
        for start in 0..nodes.len() {
            if component_of[start].is_some() {
                continue;
            }
            let id = components.len();
            component_of[start] = Some(id);
            let mut members = vec![nodes[start]];
            let mut frontier = vec![start];
            while let Some(at) = frontier.pop() {
                for next in 0..nodes.len() {
                    if component_of[next].is_none() && talks(nodes[at], nodes[next]) {
                        component_of[next] = Some(id);
                        members.push(nodes[next]);
                        frontier.push(next);
                    }
                }
            }
            members.sort();
            components.push(members);
        }
        components
    }

    pub(crate) fn clog_link(&mut self, from: NodeId, to: NodeId, until: Instant) {
        let end = self.link_clogs.entry((from, to)).or_insert(until);
        *end = (*end).max(until);
    }

    pub(crate) fn clog_node(&mut self, node: NodeId, until: Instant) {
        let end = self.node_clogs.entry(node).or_insert(until);
        *end = (*end).max(until);
    }

    /// Ends clogs that are over at `now`; returns whether any clog ended.
    pub(crate) fn expire_clogs(&mut self, now: Instant) -> bool {
        let before = self.link_clogs.len() + self.node_clogs.len();
        self.link_clogs.retain(|_, until| *until > now);
        self.node_clogs.retain(|_, until| *until > now);
        before != self.link_clogs.len() + self.node_clogs.len()
    }

    /// Whether any clog is in force.
    pub(crate) fn has_clogs(&self) -> bool {
        !self.link_clogs.is_empty() || !self.node_clogs.is_empty()
    }

    pub(crate) fn unclog_all(&mut self) {
        self.link_clogs.clear();
        self.node_clogs.clear();
    }

    #[inline]
    pub fn is_clogged(&self, from: NodeId, to: NodeId) -> bool {
        if self.link_clogs.is_empty() && self.node_clogs.is_empty() {
            return false;
        }
        self.link_clogs.contains_key(&(from, to))
            || self.node_clogs.contains_key(&from)
            || self.node_clogs.contains_key(&to)
    }

    #[inline]
    fn find(&self, from: NodeId, to: NodeId) -> Option<u32> {
        let row = self.index.get(from.index())?;
        row.binary_search_by_key(&to.0, |(destination, _)| *destination).ok().map(|i| row[i].1)
    }

    /// The link index for (from, to), creating its state on first use.
    #[inline]
    pub(crate) fn link_index(&mut self, from: NodeId, to: NodeId) -> u32 {
        let row = &self.index[from.index()];
        match row.binary_search_by_key(&to.0, |(destination, _)| *destination) {
            Ok(position) => row[position].1,
            Err(position) => {
                let index = self.links.len() as u32;
                let config = self.link_config(from, to);
                self.links.push(LinkState {
                    from,
                    to,
                    config,
                    in_flight: 0,
                    fifo_last: Instant::ZERO,
                    latency_stream: None,
                    loss_stream: None,
                    duplicate_stream: None,
                    corrupt_stream: None,
                    stats: LinkStats::default(),
                });
                self.index[from.index()].insert(position, (to.0, index));
                index
            }
        }
    }

    #[inline]
    pub(crate) fn link_mut(&mut self, index: u32) -> &mut LinkState {
        &mut self.links[index as usize]
    }

    #[inline]
    pub(crate) fn next_packet_id(&mut self) -> u64 {
        let id = self.next_packet;
        self.next_packet += 1;
        id
    }

    /// Decides the fate of a packet sent now on (from, to): a drop cause, a rejection, or when
    /// it (and possibly a duplicate) arrives. Corruption is decided here but applied by the
    /// caller, which owns the packet and its wire.
    #[inline]
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        from: NodeId,
        to: NodeId,
        corruptible: bool,
    ) -> Result<Admitted, Refusal> {
        let seed = self.seed;
        let reachable = self.reachability.can_reach(from, to);
        let interface_up = self.is_interface_up(from);
        let link_index = self.link_index(from, to);
        let link = &mut self.links[link_index as usize];
        link.stats.sent += 1;
        if !interface_up {
            return Err(Refusal::Drop(link_index, DropCause::NodeDown));
        }
        if !reachable {
            return Err(Refusal::Drop(link_index, DropCause::Partition));
        }
        // Fields by reference: copying the whole `LinkConfig` per packet was measurable.
        let LinkState {
            config,
            in_flight,
            fifo_last,
            latency_stream,
            loss_stream,
            duplicate_stream,
            corrupt_stream,
            stats,
            ..
        } = link;
        let config = &*config;
        if *in_flight >= config.capacity_packets {
            return Err(match config.when_full {
                WhenFull::DropTail => Refusal::Drop(link_index, DropCause::QueueFull),
                WhenFull::Reject => Refusal::Reject(link_index),
            });
        }
        let parts = [u64::from(from.0), u64::from(to.0)];
        if config.loss_probability > 0.0 {
            let stream =
                loss_stream.get_or_insert_with(|| Stream::with_parts(seed, "net.loss", &parts));
            if stream.bernoulli(config.loss_probability) {
                return Err(Refusal::Drop(link_index, DropCause::Loss));
            }
        }
        let latency = match config.latency {
            Latency::Fixed(latency) => latency,
            random => random.sample(
                latency_stream
                    .get_or_insert_with(|| Stream::with_parts(seed, "net.latency", &parts)),
            ),
        };
        let mut deliver_at = now + latency;
        if config.fifo {
            deliver_at = deliver_at.max(*fifo_last);
            *fifo_last = deliver_at;
        }
        let corrupted = corruptible && config.corrupt_probability > 0.0 && {
            let stream = corrupt_stream
                .get_or_insert_with(|| Stream::with_parts(seed, "net.corrupt", &parts));
            stream.bernoulli(config.corrupt_probability)
        };
        let mut duplicate_at = None;
        if config.duplicate_probability > 0.0 {
            let stream = duplicate_stream
                .get_or_insert_with(|| Stream::with_parts(seed, "net.duplicate", &parts));
            if stream.bernoulli(config.duplicate_probability) {
                // The copy's latency comes from the duplicate stream, so duplication never
                // shifts the latency draws of later packets. It is drawn even when the copy
                // is not made (below), so the stream never depends on the queue's depth.
                let mut at = now + config.latency.sample(stream);
                // The copy needs a place in the queue too: a copy that would overfill it
                // (in_flight < capacity here, so no overflow) is never made, as drop-tail
                // would drop it; nobody sent it, so it is neither a drop nor a duplicate.
                if *in_flight + 1 < config.capacity_packets {
                    if config.fifo {
                        at = at.max(*fifo_last);
                        *fifo_last = at;
                    }
                    duplicate_at = Some(at);
                    stats.duplicated += 1;
                    *in_flight += 1;
                }
            }
        }
        *in_flight += 1;
        stats.queue_depth_max = stats.queue_depth_max.max(*in_flight);
        Ok(Admitted { link: link_index, deliver_at, corrupted, duplicate_at })
    }

    /// The stream corruption flips bits with, for the link.
    pub(crate) fn corrupt_stream(&mut self, link: u32) -> &mut Stream {
        let seed = self.seed;
        let link = &mut self.links[link as usize];
        let parts = [u64::from(link.from.0), u64::from(link.to.0)];
        link.corrupt_stream.get_or_insert_with(|| Stream::with_parts(seed, "net.corrupt", &parts))
    }

    /// Records that a packet left the link (delivered, dropped or handed on).
    #[inline]
    pub(crate) fn leave(&mut self, link: u32) {
        let link = &mut self.links[link as usize];
        debug_assert!(link.in_flight > 0);
        link.in_flight -= 1;
    }

    #[inline]
    pub(crate) fn count_drop(&mut self, link: u32, cause: DropCause) {
        self.links[link as usize].stats.dropped[cause as usize] += 1;
    }

    #[inline]
    pub(crate) fn count_delivery(&mut self, link: u32, latency: Duration) {
        let stats = &mut self.links[link as usize].stats;
        stats.delivered += 1;
        stats.latency.add(latency);
    }

    /// Statistics per link and in total.
    pub fn stats(&self) -> NetStats {
        let mut stats = NetStats::default();
        for link in &self.links {
            stats.total.merge(&link.stats);
            stats.links.insert((link.from, link.to), link.stats.clone());
        }
        stats
    }
}

/// Why `admit` did not schedule a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Drop(u32, DropCause),
    Reject(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(ids: &[u32]) -> Vec<NodeId> {
        ids.iter().map(|&i| NodeId(i)).collect()
    }

    // Proves each partition shape blocks exactly the pairs Jepsen's nemesis vocabulary means.
    #[test]
    fn partition_shapes_block_the_right_pairs() {
        let reach = |shape: PartitionShape, n: usize| {
            let r = shape.reachability(n).expect("valid shape");
            let mut matrix = vec![vec![true; n]; n];
            for (a, row) in matrix.iter_mut().enumerate() {
                for (b, cell) in row.iter_mut().enumerate() {
                    *cell = r.can_reach(NodeId(a as u32), NodeId(b as u32));
                }
            }
            matrix
        };
        let groups = reach(PartitionShape::Groups(vec![nodes(&[0, 1]), nodes(&[2, 3])]), 4);
        assert!(groups[0][1] && groups[2][3] && !groups[0][2] && !groups[3][1]);
        let isolate = reach(PartitionShape::Isolate(NodeId(2)), 4);
        assert!(isolate[0][1] && !isolate[2][0] && !isolate[1][2] && isolate[3][0]);
        let one_way = reach(PartitionShape::OneWay { from: nodes(&[0]), to: nodes(&[1]) }, 3);
        assert!(!one_way[0][1] && one_way[1][0] && one_way[0][2]);
        let bridge = reach(
            PartitionShape::Bridge {
                left: nodes(&[0, 1]),
                bridge: NodeId(2),
                right: nodes(&[3, 4]),
            },
            5,
        );
        assert!(bridge[0][2] && bridge[2][4] && !bridge[0][4] && bridge[0][1] && bridge[3][4]);
        // Ring of 5 with reach 1: each node sees its two neighbours only.
        let ring = reach(PartitionShape::Ring { order: nodes(&[0, 1, 2, 3, 4]), reach: 1 }, 5);
        assert!(ring[0][1] && ring[0][4] && !ring[0][2] && !ring[0][3] && ring[2][3]);
        let unlisted = reach(PartitionShape::Groups(vec![nodes(&[0, 1])]), 4);
        assert!(unlisted[0][1] && !unlisted[2][3] && !unlisted[0][2]);
    }

    // Proves components follow two-way reachability: a bridge joins its halves, a one-way
    // cut or a clog separates a pair, and non-members are left out.
    #[test]
    fn components_follow_two_way_reachability() {
        let mut network = Network::new(1, 5, LinkConfig::default());
        let all = |_: NodeId| true;
        assert_eq!(network.components(all), vec![nodes(&[0, 1, 2, 3, 4])]);
        let shape = PartitionShape::Bridge {
            left: nodes(&[0, 1]),
            bridge: NodeId(2),
            right: nodes(&[3, 4]),
        };
        network.reachability = shape.reachability(5).expect("valid shape");
        assert_eq!(network.components(all), vec![nodes(&[0, 1, 2, 3, 4])]);
        assert_eq!(network.components(|n| n != NodeId(2)), vec![nodes(&[0, 1]), nodes(&[3, 4])]);
        let one_way = PartitionShape::OneWay { from: nodes(&[0]), to: nodes(&[1, 2, 3, 4]) };
        network.reachability = one_way.reachability(5).expect("valid shape");
        assert_eq!(network.components(all), vec![nodes(&[0]), nodes(&[1, 2, 3, 4])]);
        network.reachability = Reachability::default();
        network.clog_node(NodeId(4), Instant::from_nanos(10));
        assert_eq!(network.components(all), vec![nodes(&[0, 1, 2, 3]), nodes(&[4])]);
    }

    // Proves malformed shapes are errors, not panics.
    #[test]
    fn invalid_partitions_are_errors() {
        assert!(PartitionShape::Groups(vec![nodes(&[0, 1]), nodes(&[1])]).reachability(3).is_err());
        assert!(PartitionShape::Isolate(NodeId(9)).reachability(3).is_err());
    }

    // Proves histogram quantiles land within a bucket of the true value.
    #[test]
    fn histogram_quantiles_are_close() {
        let mut histogram = LatencyHistogram::default();
        for ms in 1..=100u64 {
            histogram.add(Duration::from_millis(ms));
        }
        let p50 = histogram.quantile(0.5).as_nanos() as f64 / 1e6;
        let p99 = histogram.quantile(0.99).as_nanos() as f64 / 1e6;
        assert!((44.0..=50.0).contains(&p50), "{p50}");
        assert!((87.0..=99.0).contains(&p99), "{p99}");
        assert_eq!(histogram.quantile(1.0), Duration::from_millis(100));
        for nanos in [0u64, 7, 8, 9, 1_000, 123_456_789, u64::MAX / 2] {
            let floor = LatencyHistogram::bucket_floor(LatencyHistogram::bucket(nanos));
            assert!(floor <= nanos && nanos - floor <= nanos / 8 + 1, "{nanos} {floor}");
        }
    }
}
