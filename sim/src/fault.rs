//! Faults as data: the control actions a test or scenario can apply to a world (now or at a
//! scheduled time), and in-code fault points (buggify).
//!
//! Every power over the system under test is one `ControlAction`, applied in one place
//! (`Control::apply`), which traces it; scenario fault schedules are lists of these.

use std::collections::BTreeMap;

use crate::disk::DiskConfig;
use crate::net::{LinkConfig, PartitionShape};
use crate::node::NodeId;
use crate::rng::{label_hash, Stream};
use crate::time::Duration;

/// One action of the control authority.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlAction {
    /// Power loss: volatile state, timers, held inbound work and unsynced disk data (per the
    /// disk's crash contract) are gone. The node stays down until restarted.
    Crash(NodeId),
    /// Boots the node with its factory (crashing it first if it is up).
    Restart(NodeId),
    /// Brings a node back to health if it is not: restarts it if down, resumes it if
    /// paused, brings its interface up, resets its clock and disarms a pending crash point
    /// (`CrashAtDiskOperation`). Does nothing else to a healthy node.
    Recover(NodeId),
    /// Freezes the node: no timers, no deliveries; inbound events are held.
    Pause(NodeId),
    /// Unfreezes the node; held events are processed now, in their original order.
    Resume(NodeId),
    /// The node's clock reads `offset` ahead (negative: behind) of true time from now on and
    /// runs `drift_ppm` parts per million fast (negative: slow).
    SetClock {
        node: NodeId,
        offset_nanos: i64,
        drift_ppm: i64,
    },
    /// Takes the node's network interface down or up (the process keeps running).
    SetNodeUp {
        node: NodeId,
        up: bool,
    },
    /// Partitions the network; with a duration, heals by itself after it.
    Partition {
        shape: PartitionShape,
        duration: Option<Duration>,
    },
    /// Ends any partition.
    Heal,
    /// Holds traffic on `from -> to` for `duration`, then delivers it in order.
    ClogLink {
        from: NodeId,
        to: NodeId,
        duration: Duration,
    },
    /// Holds all traffic into and out of `node` for `duration`.
    ClogNode {
        node: NodeId,
        duration: Duration,
    },
    /// Ends every clog now, delivering what they held.
    Unclog,
    /// Global fault rates (every link); each in [0, 1].
    SetLoss(f64),
    SetDuplicate(f64),
    SetCorrupt(f64),
    /// Replaces the default link settings (links with overrides keep theirs).
    SetDefaultLink(LinkConfig),
    /// Overrides one directed link's settings.
    SetLink {
        from: NodeId,
        to: NodeId,
        config: LinkConfig,
    },
    /// Sets every link's capacity (`path_capacity`) in packets.
    SetCapacity(u32),
    /// Replaces a node's disk settings (fault rates, latency, crash mode), or every node's.
    SetDisk {
        node: Option<NodeId>,
        config: DiskConfig,
    },
    /// The node loses power at its `operation`-th disk operation from now (1-based, counted
    /// in its current incarnation; one-shot), inside whatever handler issues it.
    CrashAtDiskOperation {
        node: NodeId,
        operation: u64,
    },
}

impl ControlAction {
    /// The trace kind of the action.
    pub fn kind(&self) -> &'static str {
        match self {
            ControlAction::Crash(_) => "crash",
            ControlAction::Restart(_) => "restart",
            ControlAction::Recover(_) => "recover",
            ControlAction::Pause(_) => "pause",
            ControlAction::Resume(_) => "resume",
            ControlAction::SetClock { .. } => "set_clock",
            ControlAction::SetNodeUp { .. } => "set_node_up",
            ControlAction::Partition { .. } => "partition",
            ControlAction::Heal => "heal",
            ControlAction::ClogLink { .. } => "clog_link",
            ControlAction::ClogNode { .. } => "clog_node",
            ControlAction::Unclog => "unclog",
            ControlAction::SetLoss(_) => "set_loss",
            ControlAction::SetDuplicate(_) => "set_duplicate",
            ControlAction::SetCorrupt(_) => "set_corrupt",
            ControlAction::SetDefaultLink(_) => "set_default_link",
            ControlAction::SetLink { .. } => "set_link",
            ControlAction::SetCapacity(_) => "set_capacity",
            ControlAction::SetDisk { .. } => "set_disk",
            ControlAction::CrashAtDiskOperation { .. } => "crash_at_disk_operation",
        }
    }

    /// The node the action is about, if it is about one.
    pub fn node(&self) -> Option<NodeId> {
        match self {
            ControlAction::Crash(node)
            | ControlAction::Restart(node)
            | ControlAction::Recover(node)
            | ControlAction::Pause(node)
            | ControlAction::Resume(node)
            | ControlAction::SetClock { node, .. }
            | ControlAction::SetNodeUp { node, .. }
            | ControlAction::ClogNode { node, .. }
            | ControlAction::CrashAtDiskOperation { node, .. } => Some(*node),
            ControlAction::SetDisk { node, .. } => *node,
            _ => None,
        }
    }

    /// Free text for the trace line (fields other than the node).
    pub fn describe(&self) -> Option<String> {
        match self {
            ControlAction::SetClock { offset_nanos, drift_ppm, .. } => {
                Some(format!("offset={offset_nanos}ns drift={drift_ppm}ppm"))
            }
            ControlAction::SetNodeUp { up, .. } => Some(format!("up={up}")),
            ControlAction::Partition { shape, duration } => Some(match duration {
                Some(duration) => format!("{} for={duration}", shape.describe()),
                None => shape.describe(),
            }),
            ControlAction::ClogLink { from, to, duration } => {
                Some(format!("{from}->{to} for={duration}"))
            }
            ControlAction::ClogNode { duration, .. } => Some(format!("for={duration}")),
            ControlAction::SetLoss(p)
            | ControlAction::SetDuplicate(p)
            | ControlAction::SetCorrupt(p) => Some(format!("probability={p}")),
            ControlAction::SetDefaultLink(config) => Some(format!("{config:?}")),
            ControlAction::SetLink { from, to, config } => Some(format!("{from}->{to} {config:?}")),
            ControlAction::SetCapacity(capacity) => Some(format!("packets={capacity}")),
            ControlAction::SetDisk { config, .. } => Some(format!("{config:?}")),
            ControlAction::CrashAtDiskOperation { operation, .. } => {
                Some(format!("operation={operation}"))
            }
            _ => None,
        }
    }
}

/// Buggify settings of a run (FoundationDB's defaults: a quarter of the sites on, each
/// firing a quarter of the time it is reached).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuggifyConfig {
    pub enabled: bool,
    pub site_probability: f64,
    pub fire_probability: f64,
}

impl Default for BuggifyConfig {
    fn default() -> Self {
        BuggifyConfig { enabled: false, site_probability: 0.25, fire_probability: 0.25 }
    }
}

/// Per-run state of the fault points: for each site reached so far, whether it is on, and
/// the stream its firings draw from (`buggify[hash(site)]`).
#[derive(Debug, Clone, Default)]
pub struct Buggify {
    pub config: BuggifyConfig,
    sites: BTreeMap<&'static str, Option<Stream>>,
}

impl Buggify {
    pub fn new(config: BuggifyConfig) -> Buggify {
        Buggify { config, sites: BTreeMap::new() }
    }

    /// Whether the fault point `site` fires now. A site's on/off switch is its stream's first
    /// draw, so it does not depend on which sites were reached before it.
    pub fn fires(&mut self, seed: u64, site: &'static str) -> bool {
        if !self.config.enabled {
            return false;
        }
        let config = self.config;
        let state = self.sites.entry(site).or_insert_with(|| {
            let mut stream = Stream::with_parts(seed, "buggify", &[label_hash(site, &[])]);
            stream.bernoulli(config.site_probability).then_some(stream)
        });
        match state {
            Some(stream) => stream.bernoulli(config.fire_probability),
            None => false,
        }
    }

    /// Sites reached so far and whether each is switched on, sorted by name.
    pub fn sites(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        self.sites.iter().map(|(site, state)| (*site, state.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves buggify is off unless enabled, and that a site's switch does not depend on the
    // order sites are reached in.
    #[test]
    fn buggify_sites_switch_independently() {
        let mut off = Buggify::new(BuggifyConfig::default());
        assert!((0..100).all(|_| !off.fires(1, "site")));
        let config = BuggifyConfig { enabled: true, site_probability: 0.5, fire_probability: 1.0 };
        let sites = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let mut forward = Buggify::new(config);
        let mut backward = Buggify::new(config);
        for site in sites {
            forward.fires(9, site);
        }
        for site in sites.iter().rev() {
            backward.fires(9, site);
        }
        assert_eq!(forward.sites().collect::<Vec<_>>(), backward.sites().collect::<Vec<_>>());
        let on = forward.sites().filter(|(_, on)| *on).count();
        assert!(on > 0 && on < sites.len(), "with p=0.5 over 8 sites expect a mix, got {on}");
    }
}
