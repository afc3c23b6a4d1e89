//! Candidates that lower a value, smallest first: a workload parameter marked `shrink`, a
//! fault rate of the network or disks, a remaining fault's duration, rate, skew, disk
//! operation, trigger budget or time, buggify. Steps only go down and cannot go on forever:
//! durations and times in whole milliseconds, probabilities by quarters and halves down to 0
//! (below 1e-4 straight to 0), counts down to their declared minimum.

use crate::disk::DiskConfig;
use crate::fault::{ControlAction, Trigger};
use crate::net::LinkConfig;
use crate::scenario::RunPlan;
use crate::time::{Duration, Instant};
use crate::workload::{ParamKind, ParamSpec, ParamValue};

use super::candidates::{describe, entry, Candidate, Entry};

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
