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
    /// A crash whose node boots again `after` it (`restart_after` in a scenario).
    CrashAndRestart {
        node: NodeId,
        after: Duration,
    },
    /// Boots the node with its factory (crashing it first if it is up).
    Restart(NodeId),
    /// Boots the node if it is down; does nothing (and is not traced) otherwise.
    Start(NodeId),
    /// Removes every trigger (faults that follow the protocol): the chaos phase is over.
    /// Does nothing (and is not traced) if there are none.
    StopTriggers,
    /// Disarms a crash point armed on the node's disk (`CrashAtDiskOperation`) that has not
    /// fired; does nothing (and is not traced) if none is armed.
    DisarmCrashPoint(NodeId),
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
        /// Boots the node again this long after the power loss (else it stays down).
        restart_after: Option<Duration>,
    },
    /// `action` aimed at the node that holds `role` now (see `NodeApi::hold_role`), or as
    /// `otherwise` says when no live node holds it. The action's own node is a placeholder.
    ToRoleHolder {
        role: String,
        otherwise: RoleFallback,
        action: Box<ControlAction>,
    },
}

/// Whom an action aimed at a role holder hits when no live node holds the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleFallback {
    /// Nobody: the action is skipped (traced as skipped).
    Skip,
    /// One of these nodes, drawn from the world's `fault.role_fallback` stream.
    Random(Vec<NodeId>),
}

impl ControlAction {
    /// The trace kind of the action.
    pub fn kind(&self) -> &'static str {
        match self {
            ControlAction::Crash(_) | ControlAction::CrashAndRestart { .. } => "crash",
            ControlAction::Restart(_) => "restart",
            ControlAction::Start(_) => "start",
            ControlAction::DisarmCrashPoint(_) => "disarm_crash_point",
            ControlAction::StopTriggers => "stop_triggers",
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
            ControlAction::ToRoleHolder { action, .. } => action.kind(),
        }
    }

    /// The same action aimed at `node` (for actions about one node; others are unchanged).
    pub fn with_node(&self, node: NodeId) -> ControlAction {
        let mut action = self.clone();
        match &mut action {
            ControlAction::Crash(n)
            | ControlAction::CrashAndRestart { node: n, .. }
            | ControlAction::Restart(n)
            | ControlAction::Start(n)
            | ControlAction::DisarmCrashPoint(n)
            | ControlAction::Pause(n)
            | ControlAction::Resume(n)
            | ControlAction::SetClock { node: n, .. }
            | ControlAction::SetNodeUp { node: n, .. }
            | ControlAction::ClogNode { node: n, .. }
            | ControlAction::CrashAtDiskOperation { node: n, .. }
            | ControlAction::Partition { shape: PartitionShape::Isolate(n), .. } => *n = node,
            ControlAction::SetDisk { node: n, .. } => *n = Some(node),
            ControlAction::ToRoleHolder { action: inner, .. } => **inner = inner.with_node(node),
            _ => {}
        }
        action
    }

    /// What healing does to one node: each one-thing action that brings it back (a start if
    /// down, a resume if paused, its interface up, a pending crash point disarmed). Actions
    /// with nothing to do change and trace nothing. Clock skew stays: it is the node's.
    pub fn heal_node(node: NodeId) -> [ControlAction; 4] {
        [
            ControlAction::Start(node),
            ControlAction::Resume(node),
            ControlAction::SetNodeUp { node, up: true },
            ControlAction::DisarmCrashPoint(node),
        ]
    }

    /// The same action with a restart `after` it, for the actions that crash a node (a
    /// crash, a crash point, either aimed at a role holder); others are unchanged.
    pub fn with_restart(&self, after: Duration) -> ControlAction {
        match self {
            ControlAction::Crash(node) => ControlAction::CrashAndRestart { node: *node, after },
            ControlAction::CrashAtDiskOperation { node, operation, .. } => {
                ControlAction::CrashAtDiskOperation {
                    node: *node,
                    operation: *operation,
                    restart_after: Some(after),
                }
            }
            ControlAction::ToRoleHolder { role, otherwise, action } => {
                ControlAction::ToRoleHolder {
                    role: role.clone(),
                    otherwise: otherwise.clone(),
                    action: Box::new(action.with_restart(after)),
                }
            }
            other => other.clone(),
        }
    }

    /// The node the action is about, if it is about one.
    pub fn node(&self) -> Option<NodeId> {
        match self {
            ControlAction::Crash(node)
            | ControlAction::CrashAndRestart { node, .. }
            | ControlAction::Restart(node)
            | ControlAction::Start(node)
            | ControlAction::DisarmCrashPoint(node)
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
            ControlAction::CrashAtDiskOperation { operation, restart_after, .. } => {
                Some(match restart_after {
                    Some(after) => format!("operation={operation} restart_after={after}"),
                    None => format!("operation={operation}"),
                })
            }
            ControlAction::CrashAndRestart { after, .. } => Some(format!("restart_after={after}")),
            ControlAction::ToRoleHolder { role, action, .. } => Some(match action.describe() {
                Some(text) => format!("holder_of={role} {text}"),
                None => format!("holder_of={role}"),
            }),
            _ => None,
        }
    }
}

/// A fault that follows the protocol: when a process observes (or records) an event of kind
/// `event`, the fault fires with `probability`, at most `budget` times in the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// The rule's name, for the trace.
    pub name: String,
    /// The observation or record kind that pulls the trigger.
    pub event: String,
    /// Only these observing nodes pull it (every node when `None`).
    pub nodes: Option<Vec<NodeId>>,
    /// Chance that a matching event fires it (drawn from `fault.trigger[name]`).
    pub probability: f64,
    /// At most this many firings per run.
    pub budget: Option<u32>,
    /// Whether the fault strikes before the rest of the callback or after all of it.
    pub when: TriggerWhen,
    /// What to do. If `at_observer`, its node is replaced by the observing node.
    pub action: ControlAction,
    /// Aim `action` at the node that observed the event.
    pub at_observer: bool,
    /// For a crash: boot the node again after a delay in this range (drawn from
    /// `fault.trigger[name].restart`); otherwise it stays down.
    pub restart_after: Option<(Duration, Duration)>,
}

/// When a triggered fault strikes relative to the callback that pulled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerWhen {
    /// At the observation: the node loses power there, and the rest of the callback's
    /// effects (its sends, timers, disk writes) vanish. Only for crashes of the observer.
    Before,
    /// Once the callback returns: its sends are out, then the fault applies.
    After,
}

/// How nodes the world has not been told to restart come back: a supervisor that boots a
/// node again after a delay drawn from `supervisor[node]` whenever it loses power at a disk
/// crash point, exits or aborts (a crash fault restarts only if it says `restart_after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervisor {
    /// Shortest delay before the restart.
    pub restart_after_min: Duration,
    /// Longest delay before the restart.
    pub restart_after_max: Duration,
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
