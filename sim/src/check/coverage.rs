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

/// One fault family a run plan configures, and how many times it had an effect in the run:
/// packets for the network families (lost, duplicated, corrupted, dropped at a partition,
/// held by a clog), nodes for crashes and pauses, crash points fired, unsynced changes lost
/// or torn at crashes, disk I/O errors and corruptions injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultEffects {
    /// The family's name in metrics and JSON (`loss`, `crash`, `disk_io_error`...).
    pub family: &'static str,
    /// Its coverage point (`fault: a packet lost`...).
    pub label: &'static str,
    /// How many times it had an effect (0: configured, but it never did anything).
    pub effects: u64,
}

/// The engine's fault points for a run: declared from what `plan` configures, reached from
/// what the run's statistics show happened (see `fault_effects`).
pub fn fault_coverage(plan: &RunPlan, net: &NetStats, disk: &DiskStats, pauses: u64) -> Coverage {
    let mut coverage = Coverage::default();
    for family in fault_effects(plan, net, disk, pauses) {
        coverage.sometimes(family.label, family.effects > 0);
    }
    coverage
}

/// Every fault family `plan` configures (its schedule, its triggers, its link and disk
/// settings), with how many times each had an effect by the run's statistics; `pauses` is
/// the number of pauses that froze a running node. Families the plan does not configure are
/// left out; disk families too when the run's processes never used the disk.
pub fn fault_effects(
    plan: &RunPlan,
    net: &NetStats,
    disk: &DiskStats,
    pauses: u64,
) -> Vec<FaultEffects> {
    let mut links: Vec<LinkConfig> = vec![plan.link_default];
    links.extend(plan.topology.links().map(|(_, _, config)| *config));
    let mut disks = vec![plan.disk];
    let (mut loss, mut duplicate, mut corrupt) = (false, false, false);
    let (mut partition, mut clog, mut crash, mut pause, mut crash_at_disk_operation) =
        (false, false, false, false, false);
    let scheduled = plan.faults.iter().map(|(_, action)| action);
    for mut action in scheduled.chain(plan.triggers.iter().map(|trigger| &trigger.action)) {
        // An action aimed at whoever holds a role is of the family of what it does.
        while let ControlAction::ToRoleHolder { action: inner, .. } = action {
            action = inner;
        }
        match action {
            ControlAction::SetLoss(p) => loss |= *p > 0.0,
            ControlAction::SetDuplicate(p) => duplicate |= *p > 0.0,
            ControlAction::SetCorrupt(p) => corrupt |= *p > 0.0,
            ControlAction::SetDefaultLink(config) | ControlAction::SetLink { config, .. } => {
                links.push(*config)
            }
            ControlAction::Partition { .. } => partition = true,
            ControlAction::ClogLink { .. } | ControlAction::ClogNode { .. } => clog = true,
            ControlAction::Crash(_)
            | ControlAction::CrashAndRestart { .. }
            | ControlAction::Restart(_) => crash = true,
            ControlAction::Pause(_) => pause = true,
            ControlAction::CrashAtDiskOperation { .. } => crash_at_disk_operation = true,
            ControlAction::SetDisk { config, .. } => disks.push(*config),
            _ => {}
        }
    }
    // A crash or pause the `max_dead` budget skipped was still configured: its point is
    // declared (and, if the budget skipped them all, never reached), so a budget that leaves
    // nothing to fire shows in the summary instead of hiding the fault family.
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
    let families = [
        (loss, "loss", "fault: a packet lost", t.dropped_by(DropCause::Loss)),
        (duplicate, "duplicate", "fault: a packet duplicated", t.duplicated),
        (corrupt, "corrupt", "fault: a packet corrupted", t.corrupted),
        (
            partition,
            "partition",
            "fault: a packet dropped at a partition",
            t.dropped_by(DropCause::Partition),
        ),
        (clog, "clog", "fault: a packet held by a clog", t.held),
        (crash, "crash", "fault: a node crashed", disk.crashes),
        (pause, "pause", "fault: a node paused", pauses),
        (
            crash_at_disk_operation,
            "crash_at_disk_operation",
            "fault: a crash at a disk operation",
            disk.crash_points,
        ),
        (
            (crash || crash_at_disk_operation) && unsynced_fate,
            "unsynced_writes_lost",
            "fault: unsynced disk writes lost or torn at a crash",
            disk.unsynced_changes_lost + disk.unsynced_changes_torn + disk.unsynced_metadata_lost,
        ),
        (
            io_errors && disk_used,
            "disk_io_error",
            "fault: a disk I/O error",
            disk.read_errors_injected + disk.write_errors_injected,
        ),
        (
            corruption && disk_used,
            "disk_corruption",
            "fault: disk data corrupted",
            disk.read_corruptions_injected
                + disk.latent_corruptions_injected
                + disk.misdirected_writes_injected,
        ),
    ];
    families
        .into_iter()
        .filter(|(declared, ..)| *declared)
        .map(|(_, family, label, effects)| FaultEffects { family, label, effects })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{parse, test_support::registry};

    fn plan(faults: &str, extra: &str) -> RunPlan {
        let text = format!(
            "name: t\ntopology: {{count: 3}}\nworkload: {{name: kv}}\n{extra}\nfaults: [{faults}]\n\
             phases: {{chaos: 1s}}\nchecks: [agreement]\n"
        );
        let scenario = parse("t.yaml", text.as_bytes(), &registry())
            .unwrap_or_else(|errors| panic!("{errors}"));
        scenario.sample(0)
    }

    fn families(effects: &[FaultEffects]) -> Vec<(&'static str, u64)> {
        effects.iter().map(|family| (family.family, family.effects)).collect()
    }

    // Proves every way a scenario configures a crash, a pause or a partition declares its
    // family (a restart, a role-holder target, a trigger), each family counts its effects
    // from the run's statistics, and a family with none is declared at 0 (its point is then
    // not reached), while an unconfigured family is left out.
    #[test]
    fn configured_families_count_their_effects() {
        let mut net = NetStats::default();
        net.total.dropped[DropCause::Partition as usize] = 4;
        let disk = DiskStats { operations: 1, crashes: 2, ..DiskStats::default() };
        // A crash of a node that used its disk declares what a crash does to unsynced writes.
        let crashed = [("crash", 2), ("unsynced_writes_lost", 0)];
        let restart = plan("{at: 10ms, kind: restart, node: n1}", "");
        assert_eq!(families(&fault_effects(&restart, &net, &disk, 0)), crashed);
        let holder = plan("{at: 10ms, kind: crash, node: {holding: leader}}", "");
        assert_eq!(families(&fault_effects(&holder, &net, &disk, 0)), crashed);
        let triggered = "{on: {event: voted}, kind: partition, isolate: n0, duration: 5ms}";
        let trigger = plan(triggered, "");
        assert_eq!(families(&fault_effects(&trigger, &net, &disk, 0)), [("partition", 4)]);
        let paused = plan("{at: 10ms, kind: pause, node: n2}", "network: {loss_probability: 0.1}");
        assert_eq!(families(&fault_effects(&paused, &net, &disk, 3)), [("loss", 0), ("pause", 3)]);
        let coverage = fault_coverage(&paused, &net, &disk, 3);
        let points: Vec<(&str, bool)> = coverage.points().collect();
        assert_eq!(points, [("fault: a node paused", true), ("fault: a packet lost", false)]);
        assert!(fault_effects(&plan("", ""), &net, &disk, 0).is_empty(), "nothing configured");
    }
}
