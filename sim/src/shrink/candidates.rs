//! Candidates: the ways a failing plan can be made smaller, one round at a time. Each
//! function looks at the current plan and returns an ordered list of smaller plans; the
//! search runs them in that order and keeps the first that still fails the same way. Every
//! list is a pure function of the plan (and, for random subsets, of a labelled stream of its
//! seed), so the search is too. This file has the rounds that take things away (the chaos
//! phase's tail, fault entries, nodes) or pin what was random; `lowering` has those that
//! lower a value.
//!
//! A fault *entry* is one scheduled action (`plan.faults[i]`) or one trigger
//! (`plan.triggers[i - faults.len()]`): what a scenario file writes as one `- {...}` line.

use std::collections::BTreeMap;

use crate::disk::DiskConfig;
use crate::fault::{ControlAction, Trigger};
use crate::node::NodeId;
use crate::rng::Stream;
use crate::scenario::RunPlan;
use crate::time::{Duration, Instant};
use crate::trace::Record;

use super::lowering::shorter_durations;
use super::remap::without_node;

/// A smaller plan, and what was changed to get it, in words.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) plan: RunPlan,
    pub(crate) change: String,
}

/// How many fault entries a plan has: scheduled actions and triggers.
pub fn fault_count(plan: &RunPlan) -> usize {
    plan.faults.len() + plan.triggers.len()
}

/// The family of entry `i`: its action's kind, or `trigger NAME`. Removing a whole family at
/// once is how a swarm family goes.
pub(crate) fn family(plan: &RunPlan, i: usize) -> String {
    match entry(plan, i) {
        Entry::Fault(_, action) => action.kind().to_string(),
        Entry::Trigger(trigger) => format!("trigger {}", trigger.name),
    }
}

/// Entry `i` in words: `crash s1 at 1.2s`, `trigger crash-after-vote`.
pub(crate) fn describe(plan: &RunPlan, i: usize) -> String {
    match entry(plan, i) {
        Entry::Fault(at, action) => {
            format!("{} at {}", action_words(plan, action), at.since_start())
        }
        Entry::Trigger(trigger) => format!("trigger {}", trigger.name),
    }
}

/// Entry counts by family, for "removed 8 crash, 4 start".
pub(crate) fn families(plan: &RunPlan) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for i in 0..fault_count(plan) {
        *counts.entry(family(plan, i)).or_insert(0) += 1;
    }
    counts
}

pub(crate) enum Entry<'p> {
    Fault(Instant, &'p ControlAction),
    Trigger(&'p Trigger),
}

pub(crate) fn entry(plan: &RunPlan, i: usize) -> Entry<'_> {
    match plan.faults.get(i) {
        Some((at, action)) => Entry::Fault(*at, action),
        None => Entry::Trigger(&plan.triggers[i - plan.faults.len()]),
    }
}

fn action_words(plan: &RunPlan, action: &ControlAction) -> String {
    match action.node() {
        Some(node) => format!("{} {}", action.kind(), node_name(plan, node)),
        None => action.kind().to_string(),
    }
}

pub(crate) fn node_name(plan: &RunPlan, node: NodeId) -> String {
    plan.topology.node(node).map_or_else(|| node.to_string(), |spec| spec.name.clone())
}

/// The plan with only the entries `keep` accepts.
fn keeping(plan: &RunPlan, keep: impl Fn(usize) -> bool) -> RunPlan {
    let n = plan.faults.len();
    let faults = plan.faults.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, f)| f.clone());
    let triggers =
        plan.triggers.iter().enumerate().filter(|(i, _)| keep(n + i)).map(|(_, t)| t.clone());
    RunPlan { faults: faults.collect(), triggers: triggers.collect(), ..plan.clone() }
}

/// "12 faults (8 crash, 4 start)".
fn counted(plan: &RunPlan, entries: impl Iterator<Item = usize>) -> String {
    let mut by_family: BTreeMap<String, usize> = BTreeMap::new();
    let mut total = 0;
    for i in entries {
        *by_family.entry(family(plan, i)).or_insert(0) += 1;
        total += 1;
    }
    let parts: Vec<String> = by_family.iter().map(|(f, n)| format!("{n} {f}")).collect();
    let noun = if total == 1 { "fault" } else { "faults" };
    format!("{total} {noun} ({})", parts.join(", "))
}

/// Shorter chaos phases, shortest first; faults at or after the new end go (they would never
/// be applied). `failure_at`: when the failure happened, if during the chaos phase; the
/// millisecond after it is tried too.
pub(crate) fn chaos(plan: &RunPlan, failure_at: Option<Instant>) -> Vec<Candidate> {
    let chaos = plan.phases.chaos;
    let mut lengths = shorter_durations(chaos);
    if let Some(at) = failure_at {
        let after = Duration::from_millis(at.as_nanos() / 1_000_000 + 1);
        if after < chaos {
            lengths.push(after);
        }
    }
    lengths.sort();
    lengths.dedup();
    lengths
        .into_iter()
        .map(|length| {
            let end = Instant::ZERO + length;
            let mut smaller = plan.clone();
            smaller.phases.chaos = length;
            smaller.faults.retain(|(at, _)| *at < end);
            Candidate { plan: smaller, change: format!("chaos {chaos} -> {length}") }
        })
        .collect()
}

/// Every family removed whole, in order of first appearance (only when there are two or
/// more: removing the only family is removing everything, which the chunks try).
pub(crate) fn family_removals(plan: &RunPlan) -> Vec<Candidate> {
    let mut order: Vec<String> = Vec::new();
    for i in 0..fault_count(plan) {
        let f = family(plan, i);
        if !order.contains(&f) {
            order.push(f);
        }
    }
    if order.len() < 2 {
        return Vec::new();
    }
    order
        .iter()
        .map(|f| {
            let gone: Vec<usize> =
                (0..fault_count(plan)).filter(|i| family(plan, *i) == *f).collect();
            Candidate {
                plan: keeping(plan, |i| family(plan, i) != *f),
                change: format!("removed every {f}: {}", counted(plan, gone.into_iter())),
            }
        })
        .collect()
}

/// Delta debugging at granularity `n`: the entries in `n` contiguous chunks; first each
/// chunk alone (for `n > 2`), then each chunk removed. Returns the candidates and how many of
/// them are "chunk alone" ones.
pub(crate) fn chunks(plan: &RunPlan, n: usize) -> (Vec<Candidate>, usize) {
    let len = fault_count(plan);
    let n = n.clamp(1, len.max(1));
    let bounds: Vec<(usize, usize)> = (0..n).map(|k| (k * len / n, (k + 1) * len / n)).collect();
    let mut candidates = Vec::new();
    if n > 2 {
        for &(start, end) in &bounds {
            let removed = (0..start).chain(end..len);
            candidates.push(Candidate {
                plan: keeping(plan, |i| (start..end).contains(&i)),
                change: format!(
                    "kept {} of {len} faults, removed {}",
                    end - start,
                    counted(plan, removed)
                ),
            });
        }
    }
    let alone = candidates.len();
    for &(start, end) in &bounds {
        let change = match end - start {
            1 => format!("removed {}", describe(plan, start)),
            _ => format!("removed {}", counted(plan, start..end)),
        };
        candidates.push(Candidate { plan: keeping(plan, |i| !(start..end).contains(&i)), change });
    }
    (candidates, alone)
}

/// The disk crash points that struck at random (`crash_probability_per_operation`) in the
/// run whose trace is `records`, pinned: the rate off everywhere and, for each crash point,
/// a `crash_at_disk_operation` armed at its instant on the operation it struck. Each crash
/// then happens where it did however the faults before it change the count of operations,
/// and the ones the failure does not need can be removed like any fault. `None` when no rate
/// is on, or the plan already arms crash points (their strikes look the same in a trace).
pub(crate) fn pinned_crash_points(plan: &RunPlan, records: &[Record]) -> Option<Candidate> {
    let random = |config: &DiskConfig| config.crash_probability_per_operation > 0.0;
    let armed =
        plan.faults.iter().any(|(_, a)| matches!(a, ControlAction::CrashAtDiskOperation { .. }));
    let rated = random(&plan.disk)
        || plan
            .faults
            .iter()
            .any(|(_, a)| matches!(a, ControlAction::SetDisk { config, .. } if random(config)));
    if armed || !rated {
        return None;
    }
    let mut smaller = plan.clone();
    smaller.disk.crash_probability_per_operation = 0.0;
    for (_, action) in &mut smaller.faults {
        if let ControlAction::SetDisk { config, .. } = action {
            config.crash_probability_per_operation = 0.0;
        }
    }
    let is_operation = |r: &Record| {
        r.kind == "disk"
            && r.detail
                .as_deref()
                .is_some_and(|d| d.starts_with("Operation {") || d.starts_with("CrashPoint {"))
    };
    let mut pinned = Vec::new();
    for (k, record) in records.iter().enumerate() {
        let is_crash = record.kind == "disk"
            && record.detail.as_deref().is_some_and(|d| d.starts_with("CrashPoint {"));
        let Some(node) = record.node.filter(|_| is_crash) else { continue };
        // Armed at the crash's instant (scheduled faults come before the run's own events
        // at an instant), on the operation it struck, counting the node's operations there.
        let operation = records[..=k]
            .iter()
            .rev()
            .take_while(|r| r.time == record.time)
            .filter(|r| r.node == Some(node) && is_operation(r))
            .count() as u64;
        pinned.push((
            record.time,
            ControlAction::CrashAtDiskOperation { node, operation, restart_after: None },
        ));
    }
    let count = pinned.len();
    for (at, action) in pinned {
        let position = smaller.faults.partition_point(|(t, _)| *t <= at);
        smaller.faults.insert(position, (at, action));
    }
    let was = plan.disk.crash_probability_per_operation;
    Some(Candidate {
        plan: smaller,
        change: format!("disk crash points pinned: crash_probability_per_operation {was} -> 0.0 and {count} crash_at_disk_operation where they struck"),
    })
}

/// Random subsets of the entries removed, a half, a quarter or three quarters at a time:
/// what shrinks a failure that any change to its history is likely to lose (a chaotic
/// interleaving found in one seed of a hundred), where removing big pieces costs no more
/// chances than removing small ones. Drawn from `shrink.subsets[round]` of the plan's
/// seed, so the same round of the same search draws the same subsets.
pub(crate) fn random_subsets(plan: &RunPlan, round: u64) -> Vec<Candidate> {
    let len = fault_count(plan);
    let mut stream = Stream::with_parts(plan.seed, "shrink.subsets", &[round]);
    (0..SUBSETS_PER_ROUND)
        .map(|k| {
            let removed = match k % 3 {
                0 => len / 2,
                1 => len / 4,
                _ => len - len / 4,
            }
            .max(1);
            let mut order: Vec<usize> = (0..len).collect();
            stream.shuffle(&mut order);
            let mut gone = order[..removed].to_vec();
            gone.sort_unstable();
            let change = format!("removed {} (at random)", counted(plan, gone.iter().copied()));
            Candidate { plan: keeping(plan, |i| gone.binary_search(&i).is_err()), change }
        })
        .collect()
}

/// How many random subsets one round tries.
const SUBSETS_PER_ROUND: usize = 24;

/// Every pair of entries removed, in order: for plans where no single entry can go.
pub(crate) fn pairs(plan: &RunPlan) -> Vec<Candidate> {
    let len = fault_count(plan);
    let mut candidates = Vec::new();
    for a in 0..len {
        for b in a + 1..len {
            candidates.push(Candidate {
                plan: keeping(plan, |i| i != a && i != b),
                change: format!("removed {} and {}", describe(plan, a), describe(plan, b)),
            });
        }
    }
    candidates
}

/// A crash followed by a start of the same node (with nothing else done to it in between)
/// as one crash with `restart_after`: every such pair at once, then each alone.
pub(crate) fn merges(plan: &RunPlan) -> Vec<Candidate> {
    let pairs: Vec<(usize, usize)> = plan
        .faults
        .iter()
        .enumerate()
        .filter_map(|(i, (_, action))| {
            let ControlAction::Crash(node) = action else { return None };
            let j =
                i + 1 + plan.faults[i + 1..].iter().position(|(_, a)| a.node() == Some(*node))?;
            matches!(plan.faults[j].1, ControlAction::Start(_)).then_some((i, j))
        })
        .collect();
    let merged = |pairs: &[(usize, usize)]| {
        let mut smaller = plan.clone();
        for &(i, j) in pairs {
            let (at, start_at) = (plan.faults[i].0, plan.faults[j].0);
            if let ControlAction::Crash(node) = plan.faults[i].1 {
                let after = start_at.saturating_since(at);
                smaller.faults[i].1 = ControlAction::CrashAndRestart { node, after };
            }
        }
        let starts: Vec<usize> = pairs.iter().map(|(_, j)| *j).collect();
        smaller.faults = smaller
            .faults
            .into_iter()
            .enumerate()
            .filter(|(k, _)| !starts.contains(k))
            .map(|(_, fault)| fault)
            .collect();
        smaller
    };
    let mut candidates = Vec::new();
    if pairs.len() > 1 {
        candidates.push(Candidate {
            plan: merged(&pairs),
            change: format!(
                "{} crashes and their starts as crashes with restart_after",
                pairs.len()
            ),
        });
    }
    for &(i, j) in &pairs {
        let (at, start_at) = (plan.faults[i].0, plan.faults[j].0);
        let name = plan.faults[i].1.node().map_or_else(String::new, |n| node_name(plan, n));
        candidates.push(Candidate {
            plan: merged(&[(i, j)]),
            change: format!(
                "crash {name} at {} and its start at {} as one crash with restart_after {}",
                at.since_start(),
                start_at.since_start(),
                start_at.saturating_since(at)
            ),
        });
    }
    candidates
}

/// Each node removed, the last first (removing a later node renumbers fewer).
pub(crate) fn node_removals(plan: &RunPlan) -> Vec<Candidate> {
    plan.topology
        .nodes()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .filter_map(|node| {
            let smaller = without_node(plan, node)?;
            Some(Candidate {
                plan: smaller,
                change: format!("removed node {}", node_name(plan, node)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;
    use crate::scenario::test_support::registry;
    use crate::time::ms;

    fn plan(faults: &str) -> RunPlan {
        let text = format!(
            "name: t\ntopology: {{count: 3}}\nworkload: {{name: kv}}\nphases: {{chaos: 10s}}\nfaults:\n{faults}"
        );
        match parse("t.yaml", text.as_bytes(), &registry()) {
            Ok(scenario) => scenario.sample(0),
            Err(errors) => panic!("{errors}"),
        }
    }

    const FIVE: &str = "  - {at: 1s, kind: crash, node: n1}
  - {at: 2s, kind: partition, isolate: n0, duration: 100ms}
  - {at: 3s, kind: start, node: n1}
  - {at: 4s, kind: crash, node: n2}
  - {at: 5s, kind: pause, node: n2}
";

    // Proves delta debugging's chunks cover every entry once at any granularity, "alone"
    // candidates first, and that removing a chunk keeps the rest in order.
    #[test]
    fn chunks_partition_the_entries() {
        let plan = plan(FIVE);
        for n in 1..=5 {
            let (round, alone) = chunks(&plan, n);
            assert_eq!(alone, if n > 2 { n } else { 0 });
            let removed: usize = round[alone..].iter().map(|c| 5 - fault_count(&c.plan)).sum();
            assert_eq!(removed, 5, "granularity {n}");
        }
        let (round, _) = chunks(&plan, 5);
        let left: Vec<&str> = round[5 + 1].plan.faults.iter().map(|(_, a)| a.kind()).collect();
        assert_eq!(left, ["crash", "start", "crash", "pause"]);
    }

    // Proves a crash and the next start of its node merge into one crash with restart_after,
    // and a crash followed by something else done to its node does not.
    #[test]
    fn a_crash_and_its_start_merge() {
        let plan = plan(FIVE);
        let round = merges(&plan);
        assert_eq!(round.len(), 1, "only n1's crash has a start next");
        let merged = &round[0].plan;
        assert_eq!(fault_count(merged), 4);
        assert_eq!(
            merged.faults[0].1,
            ControlAction::CrashAndRestart { node: NodeId(1), after: ms(2000) }
        );
    }

    // Proves random subsets are the same for the same round and differ between rounds.
    #[test]
    fn random_subsets_are_drawn_from_their_round() {
        let plan = plan(&FIVE.repeat(3));
        let texts = |round| -> Vec<String> {
            random_subsets(&plan, round).iter().map(|c| c.change.clone()).collect()
        };
        assert_eq!(texts(0), texts(0));
        assert_ne!(texts(0), texts(1));
        assert_eq!(random_subsets(&plan, 0).len(), SUBSETS_PER_ROUND);
    }
}
