//! Candidates: the ways a failing plan can be made smaller, one round at a time. Each
//! function looks at the current plan and returns an ordered list of smaller plans; the
//! search runs them in that order and keeps the first that still fails the same way. Every
//! list is a pure function of the plan, so the search is too.
//!
//! Sizes only go down, in steps that cannot go on forever: durations and times in whole
//! milliseconds, probabilities by quarters and halves down to 0 (below 1e-4 straight to 0),
//! counts down to their declared minimum.
//!
//! A fault *entry* is one scheduled action (`plan.faults[i]`) or one trigger
//! (`plan.triggers[i - faults.len()]`): what a scenario file writes as one `- {...}` line.

use std::collections::BTreeMap;

use crate::disk::DiskConfig;
use crate::fault::{ControlAction, Trigger};
use crate::net::LinkConfig;
use crate::node::NodeId;
use crate::rng::Stream;
use crate::scenario::RunPlan;
use crate::time::{Duration, Instant};
use crate::trace::Record;
use crate::workload::{ParamKind, ParamSpec, ParamValue};

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

enum Entry<'p> {
    Fault(Instant, &'p ControlAction),
    Trigger(&'p Trigger),
}

fn entry(plan: &RunPlan, i: usize) -> Entry<'_> {
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

fn node_name(plan: &RunPlan, node: NodeId) -> String {
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

/// Lower values of a parameter the workload marks `shrink`, smallest first.
pub(crate) fn param(plan: &RunPlan, spec: &ParamSpec) -> Vec<Candidate> {
    let (true, Some(ParamValue::Int(value)), ParamKind::Int { min, .. }) =
        (spec.shrink, plan.params.get(spec.name), spec.kind)
    else {
        return Vec::new();
    };
    lower_counts(*value, min)
        .into_iter()
        .map(|lower| {
            let mut smaller = plan.clone();
            smaller.params.insert(spec.name.to_string(), ParamValue::Int(lower));
            Candidate { plan: smaller, change: format!("param {} {value} -> {lower}", spec.name) }
        })
        .collect()
}

/// One round per fault rate of the network defaults and the disk (in a fixed order), lowest
/// first.
pub(crate) fn plan_rates(plan: &RunPlan) -> Vec<Vec<Candidate>> {
    let mut rounds: Vec<Vec<Candidate>> = Vec::new();
    for (name, get, set) in LINK_RATES {
        let value = get(&plan.link_default);
        rounds.push(
            lower_probabilities(value)
                .into_iter()
                .map(|lower| {
                    let mut smaller = plan.clone();
                    set(&mut smaller.link_default, lower);
                    Candidate {
                        plan: smaller,
                        change: format!("network {name} {value} -> {lower}"),
                    }
                })
                .collect(),
        );
    }
    for (name, get, set) in DISK_RATES {
        let value = get(&plan.disk);
        rounds.push(
            lower_probabilities(value)
                .into_iter()
                .map(|lower| {
                    let mut smaller = plan.clone();
                    set(&mut smaller.disk, lower);
                    Candidate { plan: smaller, change: format!("disk {name} {value} -> {lower}") }
                })
                .collect(),
        );
    }
    // Always one round per rate, empty or not, so that round k is the same rate whatever
    // the earlier rounds changed.
    rounds
}

/// Entry `i` lasting less: a partition's or clog's duration, a crash's restart delay.
pub(crate) fn shorter(plan: &RunPlan, i: usize) -> Vec<Candidate> {
    let what = describe(plan, i);
    match entry(plan, i) {
        Entry::Fault(_, action) => {
            let Some(current) = action_duration(action) else { return Vec::new() };
            shorter_durations(current)
                .into_iter()
                .filter_map(|d| {
                    let mut smaller = plan.clone();
                    smaller.faults[i].1 = with_action_duration(action, d)?;
                    Some(Candidate { plan: smaller, change: format!("{what}: {current} -> {d}") })
                })
                .collect()
        }
        Entry::Trigger(trigger) => {
            let Some((low, high)) = trigger.restart_after else { return Vec::new() };
            let t = i - plan.faults.len();
            shorter_durations(high)
                .into_iter()
                .map(|d| {
                    let mut smaller = plan.clone();
                    smaller.triggers[t].restart_after = Some((low.min(d), d));
                    let change = format!("{what}: restart_after up to {high} -> up to {d}");
                    Candidate { plan: smaller, change }
                })
                .collect()
        }
    }
}

/// Entry `i` milder: a lower rate or probability, a smaller clock skew, an earlier disk
/// operation, a trigger with a smaller budget of firings.
pub(crate) fn milder(plan: &RunPlan, i: usize) -> Vec<Candidate> {
    let what = describe(plan, i);
    let at_fault = |action: ControlAction, change: String| {
        let mut smaller = plan.clone();
        smaller.faults[i].1 = action;
        Candidate { plan: smaller, change: format!("{what}: {change}") }
    };
    match entry(plan, i) {
        Entry::Fault(_, action) => match action {
            ControlAction::SetLoss(p)
            | ControlAction::SetDuplicate(p)
            | ControlAction::SetCorrupt(p) => lower_probabilities(*p)
                .into_iter()
                .map(|lower| {
                    let action = match action {
                        ControlAction::SetLoss(_) => ControlAction::SetLoss(lower),
                        ControlAction::SetDuplicate(_) => ControlAction::SetDuplicate(lower),
                        _ => ControlAction::SetCorrupt(lower),
                    };
                    at_fault(action, format!("probability {p} -> {lower}"))
                })
                .collect(),
            ControlAction::SetDisk { node, config } => SCALES
                .iter()
                .filter_map(|&(scale, words)| {
                    let milder = scaled_disk(config, scale);
                    (milder != *config).then(|| {
                        at_fault(
                            ControlAction::SetDisk { node: *node, config: milder },
                            format!("fault rates {words}"),
                        )
                    })
                })
                .collect(),
            ControlAction::SetDefaultLink(config) => SCALES
                .iter()
                .filter_map(|&(scale, words)| {
                    let milder = scaled_link(config, scale);
                    (milder != *config).then(|| {
                        at_fault(
                            ControlAction::SetDefaultLink(milder),
                            format!("fault rates {words}"),
                        )
                    })
                })
                .collect(),
            ControlAction::SetLink { from, to, config } => SCALES
                .iter()
                .filter_map(|&(scale, words)| {
                    let milder = scaled_link(config, scale);
                    (milder != *config).then(|| {
                        let action =
                            ControlAction::SetLink { from: *from, to: *to, config: milder };
                        at_fault(action, format!("fault rates {words}"))
                    })
                })
                .collect(),
            ControlAction::SetClock { node, offset_nanos, drift_ppm } => SCALES
                .iter()
                .filter_map(|&(scale, words)| {
                    let offset = (*offset_nanos as f64 * scale) as i64;
                    let drift = (*drift_ppm as f64 * scale) as i64;
                    ((offset, drift) != (*offset_nanos, *drift_ppm)).then(|| {
                        let action = ControlAction::SetClock {
                            node: *node,
                            offset_nanos: offset,
                            drift_ppm: drift,
                        };
                        at_fault(action, format!("skew {words}"))
                    })
                })
                .collect(),
            ControlAction::CrashAtDiskOperation { node, operation, restart_after } => {
                lower_counts(i64::try_from(*operation).unwrap_or(i64::MAX), 1)
                    .into_iter()
                    .map(|lower| {
                        let action = ControlAction::CrashAtDiskOperation {
                            node: *node,
                            operation: lower as u64,
                            restart_after: *restart_after,
                        };
                        at_fault(action, format!("operation {operation} -> {lower}"))
                    })
                    .collect()
            }
            _ => Vec::new(),
        },
        Entry::Trigger(trigger) => {
            let t = i - plan.faults.len();
            let with = |change: &dyn Fn(&mut Trigger), words: String| {
                let mut smaller = plan.clone();
                change(&mut smaller.triggers[t]);
                Candidate { plan: smaller, change: format!("{what}: {words}") }
            };
            let budgets: Vec<i64> = match trigger.budget {
                None => vec![1, 2, 4],
                Some(budget) => lower_counts(i64::from(budget), 1),
            };
            let candidates: Vec<Candidate> = budgets
                .into_iter()
                .map(|b| {
                    let was = trigger.budget.map_or("none".to_string(), |b| b.to_string());
                    with(
                        &|t: &mut Trigger| t.budget = Some(b as u32),
                        format!("budget {was} -> {b}"),
                    )
                })
                .collect();
            // A lower firing probability is not simpler to read: only the budget goes down.
            candidates
        }
    }
}

/// Entry `i` earlier (scheduled faults only), earliest first.
pub(crate) fn earlier(plan: &RunPlan, i: usize) -> Vec<Candidate> {
    let Some((at, _)) = plan.faults.get(i) else { return Vec::new() };
    let what = describe(plan, i);
    earlier_times(*at)
        .into_iter()
        .map(|time| {
            let mut smaller = plan.clone();
            smaller.faults[i].0 = time;
            // Plans keep faults in time order, equal times in their written order.
            smaller.faults.sort_by_key(|(at, _)| *at);
            Candidate {
                plan: smaller,
                change: format!("{what}: at {} -> {}", at.since_start(), time.since_start()),
            }
        })
        .collect()
}

/// Buggify off, then fewer sites on, then fewer firings (only while it is enabled).
pub(crate) fn buggify(plan: &RunPlan) -> Vec<Vec<Candidate>> {
    let config = plan.buggify;
    if !config.enabled {
        return Vec::new();
    }
    let with = |change: &dyn Fn(&mut RunPlan), words: String| {
        let mut smaller = plan.clone();
        change(&mut smaller);
        Candidate { plan: smaller, change: words }
    };
    let site = config.site_probability;
    let fire = config.fire_probability;
    vec![
        vec![with(&|p: &mut RunPlan| p.buggify.enabled = false, "buggify off".to_string())],
        lower_probabilities(site)
            .into_iter()
            .filter(|q| *q > 0.0)
            .map(|q| {
                with(
                    &|p: &mut RunPlan| p.buggify.site_probability = q,
                    format!("buggify site_probability {site} -> {q}"),
                )
            })
            .collect(),
        lower_probabilities(fire)
            .into_iter()
            .filter(|q| *q > 0.0)
            .map(|q| {
                with(
                    &|p: &mut RunPlan| p.buggify.fire_probability = q,
                    format!("buggify fire_probability {fire} -> {q}"),
                )
            })
            .collect(),
    ]
}

/// How long an action lasts, if it says.
fn action_duration(action: &ControlAction) -> Option<Duration> {
    match action {
        ControlAction::Partition { duration, .. } => *duration,
        ControlAction::ClogLink { duration, .. } | ControlAction::ClogNode { duration, .. } => {
            Some(*duration)
        }
        ControlAction::CrashAndRestart { after, .. } => Some(*after),
        ControlAction::CrashAtDiskOperation { restart_after, .. } => *restart_after,
        ControlAction::ToRoleHolder { action, .. } => action_duration(action),
        _ => None,
    }
}

fn with_action_duration(action: &ControlAction, d: Duration) -> Option<ControlAction> {
    let mut action = action.clone();
    match &mut action {
        ControlAction::Partition { duration: Some(duration), .. }
        | ControlAction::ClogLink { duration, .. }
        | ControlAction::ClogNode { duration, .. }
        | ControlAction::CrashAndRestart { after: duration, .. }
        | ControlAction::CrashAtDiskOperation { restart_after: Some(duration), .. } => {
            *duration = d;
        }
        ControlAction::ToRoleHolder { action: inner, .. } => {
            **inner = with_action_duration(inner, d)?;
        }
        _ => return None,
    }
    Some(action)
}

/// How a milder candidate scales a group of rates: off, a quarter, half.
const SCALES: [(f64, &str); 3] = [(0.0, "off"), (0.25, "quartered"), (0.5, "halved")];

pub(crate) type Rate<C> = (&'static str, fn(&C) -> f64, fn(&mut C, f64));

pub(crate) const LINK_RATES: [Rate<LinkConfig>; 3] = [
    ("loss_probability", |c| c.loss_probability, |c, p| c.loss_probability = p),
    ("duplicate_probability", |c| c.duplicate_probability, |c, p| c.duplicate_probability = p),
    ("corrupt_probability", |c| c.corrupt_probability, |c, p| c.corrupt_probability = p),
];

pub(crate) const DISK_RATES: [Rate<DiskConfig>; 6] = [
    (
        "crash_probability_per_operation",
        |c| c.crash_probability_per_operation,
        |c, p| c.crash_probability_per_operation = p,
    ),
    ("read_error_probability", |c| c.read_error_probability, |c, p| c.read_error_probability = p),
    (
        "write_error_probability",
        |c| c.write_error_probability,
        |c, p| c.write_error_probability = p,
    ),
    (
        "read_corruption_probability",
        |c| c.read_corruption_probability,
        |c, p| c.read_corruption_probability = p,
    ),
    (
        "latent_corruption_probability",
        |c| c.latent_corruption_probability,
        |c, p| c.latent_corruption_probability = p,
    ),
    (
        "misdirected_write_probability",
        |c| c.misdirected_write_probability,
        |c, p| c.misdirected_write_probability = p,
    ),
];

fn scaled_link(config: &LinkConfig, scale: f64) -> LinkConfig {
    let mut config = *config;
    for (_, get, set) in LINK_RATES {
        let value = get(&config);
        set(&mut config, value * scale);
    }
    config
}

fn scaled_disk(config: &DiskConfig, scale: f64) -> DiskConfig {
    let mut config = *config;
    for (_, get, set) in DISK_RATES {
        let value = get(&config);
        set(&mut config, value * scale);
    }
    config
}

/// `d` times 1/8, 1/4, 1/2 and 3/4, in whole milliseconds, at least 1ms, ascending.
pub(crate) fn shorter_durations(d: Duration) -> Vec<Duration> {
    let millis = d.as_nanos() / 1_000_000;
    let mut out: Vec<Duration> = [(1, 8), (1, 4), (1, 2), (3, 4)]
        .iter()
        .map(|(num, den)| millis * num / den)
        .filter(|m| *m >= 1)
        .map(Duration::from_millis)
        .filter(|shorter| *shorter < d)
        .collect();
    out.dedup();
    out
}

/// `t` times 0, 1/4, 1/2 and 3/4, in whole milliseconds, ascending.
fn earlier_times(t: Instant) -> Vec<Instant> {
    let millis = t.as_nanos() / 1_000_000;
    let mut out: Vec<Instant> = [(0, 4), (1, 4), (1, 2), (3, 4)]
        .iter()
        .map(|(num, den)| Instant::ZERO + Duration::from_millis(millis * num / den))
        .filter(|earlier| *earlier < t)
        .collect();
    out.dedup();
    out
}

/// 0, `p`/4 and `p`/2 (just 0 once `p` is below 1e-4), ascending.
fn lower_probabilities(p: f64) -> Vec<f64> {
    if p.is_nan() || p <= 0.0 {
        return Vec::new();
    }
    if p < 1e-4 {
        return vec![0.0];
    }
    vec![0.0, p / 4.0, p / 2.0]
}

/// `min`, `v`/4, `v`/2 and 3`v`/4, at least `min` and below `v`, ascending.
fn lower_counts(v: i64, min: i64) -> Vec<i64> {
    let mut out: Vec<i64> =
        [min, v / 4, v / 2, v - v / 4].into_iter().filter(|c| *c >= min && *c < v).collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::ms;

    // Proves every step list goes strictly down and stops: at 1ms, at time 0, at 0, at the
    // minimum.
    #[test]
    fn steps_go_down_and_stop() {
        assert_eq!(shorter_durations(ms(800)), [ms(100), ms(200), ms(400), ms(600)]);
        assert_eq!(shorter_durations(ms(4)), [ms(1), ms(2), ms(3)]);
        assert!(shorter_durations(ms(1)).is_empty());
        assert!(shorter_durations(Duration::from_micros(1500)).iter().all(|d| *d == ms(1)));
        assert!(earlier_times(Instant::ZERO).is_empty());
        assert_eq!(
            earlier_times(Instant::ZERO + ms(3)),
            [Instant::ZERO, Instant::ZERO + ms(1), Instant::ZERO + ms(2)]
        );
        assert_eq!(lower_probabilities(0.1), [0.0, 0.025, 0.05]);
        assert_eq!(lower_probabilities(0.00001), [0.0]);
        assert!(lower_probabilities(0.0).is_empty());
        assert_eq!(lower_counts(120, 1), [1, 30, 60, 90]);
        assert_eq!(lower_counts(2, 1), [1]);
        assert!(lower_counts(1, 1).is_empty());
    }
}
