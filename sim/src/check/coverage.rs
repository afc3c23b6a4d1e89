//! Sometimes-assertions and fault coverage: points that should be reached in *some* run, so a
//! green sweep cannot hide a fault model that did nothing or a code path never taken.
//!
//! Two sources of points:
//! - Code under test and checkers declare points (`Context::sometimes(condition, label)`,
//!   `Harness::sometimes`): declared whenever the call runs, reached when its condition was
//!   true at least once in the run.
//! - The engine declares a point for every fault family a run plan configures (loss in a link
//!   setting, a partition in the schedule, disk error probabilities...) and marks it reached
//!   when the run's statistics show the fault had an effect (a packet lost, a packet dropped at
//!   a partition, an I/O error injected...). A family the plan does not configure declares
//!   nothing; disk families declare nothing in a run whose processes never used the disk.
//!
//! A sweep counts, per point, the seeds that declared it and the seeds that reached it; the
//! summary lists the points declared but never reached.

use std::collections::BTreeMap;

use crate::disk::{DiskStats, UnsyncedOnCrash};
use crate::fault::ControlAction;
use crate::net::{DropCause, LinkConfig, NetStats};
use crate::scenario::RunPlan;

/// The points of one run: label → reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    points: BTreeMap<String, bool>,
}

impl Coverage {
    /// Declares `label`; it counts as reached if `condition` is true now or ever was.
    pub fn sometimes(&mut self, label: &str, condition: bool) {
        match self.points.get_mut(label) {
            Some(reached) => *reached |= condition,
            None => {
                self.points.insert(label.to_string(), condition);
            }
        }
    }

    /// Adds every point of `other` (reached if reached in either).
    pub fn merge(&mut self, other: &Coverage) {
        for (label, reached) in &other.points {
            self.sometimes(label, *reached);
        }
    }

    /// (label, reached) in label order.
    pub fn points(&self) -> impl Iterator<Item = (&str, bool)> {
        self.points.iter().map(|(label, reached)| (label.as_str(), *reached))
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// Per point, over a sweep: in how many seeds it was declared and reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepCoverage {
    /// label → (seeds declared, seeds reached).
    pub points: BTreeMap<String, (u64, u64)>,
}

impl SweepCoverage {
    /// Counts one seed's points.
    pub fn add<'a>(&mut self, points: impl IntoIterator<Item = (&'a str, bool)>) {
        for (label, reached) in points {
            let entry = self.points.entry(label.to_string()).or_default();
            entry.0 += 1;
            entry.1 += u64::from(reached);
        }
    }

    /// The points no seed reached, with the number of seeds that declared them.
    pub fn never_reached(&self) -> impl Iterator<Item = (&str, u64)> {
        self.points
            .iter()
            .filter(|(_, (_, reached))| *reached == 0)
            .map(|(label, (declared, _))| (label.as_str(), *declared))
    }
}

/// The engine's fault points for a run: declared from what `plan` configures, reached from
/// what the run's statistics show happened.
pub fn fault_coverage(plan: &RunPlan, net: &NetStats, disk: &DiskStats) -> Coverage {
    let mut links: Vec<LinkConfig> = vec![plan.link_default];
    links.extend(plan.topology.links().map(|(_, _, config)| *config));
    let mut disks = vec![plan.disk];
    let (mut loss, mut duplicate, mut corrupt) = (false, false, false);
    let (mut partition, mut clog, mut crash, mut crash_at_disk_operation) =
        (false, false, false, false);
    for (_, action) in &plan.faults {
        match action {
            ControlAction::SetLoss(p) => loss |= *p > 0.0,
            ControlAction::SetDuplicate(p) => duplicate |= *p > 0.0,
            ControlAction::SetCorrupt(p) => corrupt |= *p > 0.0,
            ControlAction::SetDefaultLink(config) | ControlAction::SetLink { config, .. } => {
                links.push(*config)
            }
            ControlAction::Partition { .. } => partition = true,
            ControlAction::ClogLink { .. } | ControlAction::ClogNode { .. } => clog = true,
            ControlAction::Crash(_) => crash = true,
            ControlAction::CrashAtDiskOperation { .. } => crash_at_disk_operation = true,
            ControlAction::SetDisk { config, .. } => disks.push(*config),
            _ => {}
        }
    }
    // A crash or pause the `max_dead` budget skipped was still configured: its point is
    // declared (and, if the budget skipped them all, never reached), so a budget that leaves
    // nothing to fire shows in the summary instead of hiding the fault family.
    let mut pause = plan.faults.iter().any(|(_, action)| matches!(action, ControlAction::Pause(_)));
    let paused = pause;
    for (label, value) in &plan.realized {
        if label == "max_dead.skipped" {
            crash |= value.starts_with("crash ");
            pause |= value.starts_with("pause ");
        }
    }
    loss |= links.iter().any(|l| l.loss_probability > 0.0);
    duplicate |= links.iter().any(|l| l.duplicate_probability > 0.0);
    corrupt |= links.iter().any(|l| l.corrupt_probability > 0.0);
    let io_errors =
        disks.iter().any(|d| d.read_error_probability > 0.0 || d.write_error_probability > 0.0);
    let corruption = disks.iter().any(|d| {
        d.read_corruption_probability > 0.0
            || d.latent_corruption_probability > 0.0
            || d.misdirected_write_probability > 0.0
    });
    crash_at_disk_operation |= disks.iter().any(|d| d.crash_probability_per_operation > 0.0);
    // Disk faults of a run whose processes never touch the disk would be noise, not news.
    let disk_used = disk.operations > 0;
    let unsynced_fate =
        disk_used && disks.iter().any(|d| d.crash_unsynced != UnsyncedOnCrash::Kept);

    let t = &net.total;
    let mut coverage = Coverage::default();
    let mut point = |declared: bool, label: &str, reached: bool| {
        if declared {
            coverage.sometimes(label, reached);
        }
    };
    point(loss, "fault: a packet lost", t.dropped_by(DropCause::Loss) > 0);
    point(duplicate, "fault: a packet duplicated", t.duplicated > 0);
    point(corrupt, "fault: a packet corrupted", t.corrupted > 0);
    point(
        partition,
        "fault: a packet dropped at a partition",
        t.dropped_by(DropCause::Partition) > 0,
    );
    point(clog, "fault: a packet held by a clog", t.held > 0);
    point(crash, "fault: a node crashed", disk.crashes > 0);
    point(pause, "fault: a node paused", paused);
    point(crash_at_disk_operation, "fault: a crash at a disk operation", disk.crash_points > 0);
    point(
        (crash || crash_at_disk_operation) && unsynced_fate,
        "fault: unsynced disk writes lost or torn at a crash",
        disk.unsynced_changes_lost + disk.unsynced_changes_torn + disk.unsynced_metadata_lost > 0,
    );
    point(
        io_errors && disk_used,
        "fault: a disk I/O error",
        disk.read_errors_injected + disk.write_errors_injected > 0,
    );
    point(
        corruption && disk_used,
        "fault: disk data corrupted",
        disk.read_corruptions_injected
            + disk.latent_corruptions_injected
            + disk.misdirected_writes_injected
            > 0,
    );
    coverage
}
