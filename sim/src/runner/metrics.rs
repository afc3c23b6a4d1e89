//! Metrics for dashboards: sweeps in the Prometheus text exposition format (version 0.0.4),
//! what `orrery run --metrics FILE` and `orrery merge --metrics FILE` write for a nightly job
//! to hand to a textfile collector or a Pushgateway.
//!
//! Every figure is derived from a sweep's `Summary` (and its scope and status), never
//! measured apart, so the metrics and the JSON summary cannot disagree, and the metrics of
//! merged shards equal those of one unsharded run (wall time aside: merged, it is the sum
//! of the shards'). Each sample is labelled with the `scenario` and the `workload`; a file
//! describes the sweeps it names, and a counter counts over that sweep only. The families
//! are listed in `docs/METRICS.md`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::report::{Summary, SweepScope, SweepStatus};
use crate::scenario::Expect;

/// One sweep's figures, as a metrics file shows them.
#[derive(Debug, Clone, Copy)]
pub struct SweepMetrics<'a> {
    pub summary: &'a Summary,
    pub scope: &'a SweepScope,
    pub status: &'a SweepStatus,
}

/// A sample's labels beyond scenario and workload, and its value.
type Sample = (Vec<(&'static str, String)>, f64);

/// A metric family: its name, type, help line, and the samples of every sweep.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    /// (labels beyond scenario and workload, value) of one sweep.
    samples: fn(&SweepMetrics<'_>) -> Vec<Sample>,
}

fn one(value: f64) -> Vec<Sample> {
    vec![(Vec::new(), value)]
}

fn flag(value: bool) -> f64 {
    if value {
        1.0
    } else {
        0.0
    }
}

/// Every family, in the order the file lists them.
const FAMILIES: &[Family] = &[
    Family {
        name: "orrery_sweep_info",
        kind: "gauge",
        help: "The sweep: its scenario file, seed range, shard, expectation and sweep fingerprint (always 1).",
        samples: |m| {
            let expect = match m.scope.expect {
                Expect::Pass => "pass".to_string(),
                Expect::Fail { within_seeds } => format!("fail within {within_seeds} seeds"),
            };
            let labels = vec![
                ("path", m.scope.path.clone()),
                ("seeds", format!("{}..{}", m.scope.seeds.start, m.scope.seeds.end)),
                ("shard", m.scope.shard.map_or(String::new(), |(k, n)| format!("{k}/{n}"))),
                ("expect", expect),
                ("fingerprint", format!("{:016x}", m.summary.sweep_fingerprint())),
            ];
            vec![(labels, 1.0)]
        },
    },
    Family {
        name: "orrery_sweep_complete",
        kind: "gauge",
        help: "1 if every seed of the sweep ran, 0 if it was interrupted.",
        samples: |m| one(flag(m.status.interrupted.is_none())),
    },
    Family {
        name: "orrery_sweep_as_expected",
        kind: "gauge",
        help: "1 if the sweep met its scenario's expectation (every seed passed, or an expect: fail scenario found its bug), else 0.",
        samples: |m| one(flag(m.summary.as_expected(m.scope.expect))),
    },
    Family {
        name: "orrery_seeds_planned",
        kind: "gauge",
        help: "Seeds the sweep was to run (its shard's share of the range).",
        samples: |m| one(m.status.seeds_planned as f64),
    },
    Family {
        name: "orrery_seeds_total",
        kind: "counter",
        help: "Seeds run, by result: passed, or failed (by any check or kind).",
        samples: |m| {
            vec![
                (vec![("result", "passed".to_string())], m.summary.passed as f64),
                (vec![("result", "failed".to_string())], m.summary.failed() as f64),
            ]
        },
    },
    Family {
        name: "orrery_seed_failures_total",
        kind: "counter",
        help: "Failed seeds by the check that failed and the kind of failure (invariant, liveness, check, panic, limit, hang, nondeterminism, setup); a seed fails once, at its first failure.",
        samples: |m| {
            (m.summary.failures.iter())
                .map(|((check, kind), group)| {
                    let labels = vec![("check", check.clone()), ("kind", kind.name().to_string())];
                    (labels, group.seeds.count as f64)
                })
                .collect()
        },
    },
    Family {
        name: "orrery_seed_undecided_total",
        kind: "counter",
        help: "Seeds in which a check could not decide (e.g. a linearizability search ran out of budget), by check.",
        samples: |m| {
            (m.summary.unknown.iter())
                .map(|(check, seeds)| (vec![("check", check.clone())], seeds.count as f64))
                .collect()
        },
    },
    Family {
        name: "orrery_seeds_determinism_checked_total",
        kind: "counter",
        help: "Seeds run twice to compare their fingerprints (seed 0 and one in 64, or every seed under --check-determinism); a mismatch is a nondeterminism failure.",
        samples: |m| one(m.summary.determinism_checked as f64),
    },
    Family {
        name: "orrery_events_total",
        kind: "counter",
        help: "Events simulated over every seed.",
        samples: |m| one(m.summary.events_total as f64),
    },
    Family {
        name: "orrery_virtual_seconds_total",
        kind: "counter",
        help: "Virtual time simulated over every seed, in seconds.",
        samples: |m| one(m.summary.vtime_seconds()),
    },
    Family {
        name: "orrery_wall_seconds_total",
        kind: "counter",
        help: "Wall-clock time the sweep took, in seconds (merged outputs: the sum of theirs).",
        samples: |m| one(m.summary.wall_seconds),
    },
    Family {
        name: "orrery_fault_effects_total",
        kind: "counter",
        help: "Per fault family the scenario configures, how many times it had an effect over every seed (packets lost, duplicated, corrupted, dropped at a partition or held by a clog; nodes crashed or paused; crash points fired; unsynced changes lost or torn; disk errors and corruptions injected); 0 means configured but never effective.",
        samples: |m| {
            (m.summary.fault_effects.iter())
                .map(|(family, effects)| (vec![("family", family.clone())], *effects as f64))
                .collect()
        },
    },
    Family {
        name: "orrery_sometimes_points",
        kind: "gauge",
        help: "Sometimes-points declared in the sweep (fault points included), by whether some seed reached them.",
        samples: |m| {
            let never = m.summary.coverage.never_reached().count();
            let reached = m.summary.coverage.points.len() - never;
            vec![
                (vec![("state", "reached".to_string())], reached as f64),
                (vec![("state", "not_reached".to_string())], never as f64),
            ]
        },
    },
    Family {
        name: "orrery_sometimes_seeds_total",
        kind: "counter",
        help: "Per sometimes-point: the seeds that declared it and the seeds that reached it.",
        samples: |m| {
            let mut samples = Vec::new();
            for (point, (declared, reached)) in &m.summary.coverage.points {
                for (state, seeds) in [("declared", declared), ("reached", reached)] {
                    let labels = vec![("point", point.clone()), ("state", state.to_string())];
                    samples.push((labels, *seeds as f64));
                }
            }
            samples
        },
    },
];

/// The metrics of `sweeps`, in the text exposition format: each family once, with a `HELP`
/// and a `TYPE` line, then its samples for every sweep. Two sweeps of one scenario would
/// share their labels: refused, with the scenario's name.
pub fn render_metrics(sweeps: &[SweepMetrics<'_>]) -> Result<String, String> {
    let mut scenarios = BTreeSet::new();
    for sweep in sweeps {
        if !scenarios.insert(sweep.summary.scenario.as_str()) {
            return Err(format!(
                "two sweeps of scenario {}: their metrics would carry the same labels",
                sweep.summary.scenario
            ));
        }
    }
    let mut text = String::new();
    for family in FAMILIES {
        let _ = writeln!(text, "# HELP {} {}", family.name, escape_help(family.help));
        let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind);
        for sweep in sweeps {
            let base = [
                ("scenario", sweep.summary.scenario.clone()),
                ("workload", sweep.scope.workload.clone()),
            ];
            for (labels, value) in (family.samples)(sweep) {
                let rendered: Vec<String> = (base.iter().cloned().chain(labels))
                    .map(|(name, value)| format!("{name}=\"{}\"", escape_label(&value)))
                    .collect();
                let _ =
                    writeln!(text, "{}{{{}}} {}", family.name, rendered.join(","), number(value));
            }
        }
    }
    Ok(text)
}

/// A sample value: integers without a fraction, other numbers in Rust's shortest form (both
/// are valid Go floats, as the format requires).
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A help text: backslash and line feed escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{Failure, FailureKind, SeedReport};
    use crate::time::Instant;

    fn report(seed: u64, failing: Option<&str>) -> SeedReport {
        SeedReport {
            seed,
            fingerprint: seed.wrapping_mul(31),
            events: 100 + seed,
            vtime: Instant::from_nanos(1_500_000_000),
            failure: failing.map(|check| Failure {
                kind: FailureKind::Liveness,
                check: check.to_string(),
                message: "stuck".to_string(),
                vtime: Instant::ZERO,
            }),
            unknown: Vec::new(),
            stats: String::new(),
            coverage: vec![("a \"quoted\" point\\".to_string(), seed == 1)],
            fault_effects: vec![("loss".to_string(), seed * 2), ("pause".to_string(), 0)],
            determinism_checked: seed == 0,
        }
    }

    fn scope(workload: &str) -> SweepScope {
        SweepScope {
            path: "scenarios/x.yaml".to_string(),
            workload: workload.to_string(),
            seeds: 0..3,
            shard: None,
            expect: Expect::Pass,
        }
    }

    // Proves the rendered figures are the summary's (counts by result, by check and kind,
    // events, virtual time, fault effects with a configured family at 0, points reached and
    // not), label values are escaped, each family appears once, and two sweeps of one
    // scenario are refused.
    #[test]
    fn metrics_render_the_summary_once_per_family() {
        let reports = [report(0, None), report(1, Some("progress")), report(2, None)];
        let mut summary = Summary::of("x", &reports, 0.25);
        summary.scenario = "x".to_string();
        let scope = scope("stream");
        let status = SweepStatus { seeds_planned: 3, interrupted: None };
        let sweep = SweepMetrics { summary: &summary, scope: &scope, status: &status };
        let text = render_metrics(&[sweep]).expect("renders");
        let labels = r#"scenario="x",workload="stream""#;
        for line in [
            format!(r#"orrery_seeds_total{{{labels},result="passed"}} 2"#),
            format!(r#"orrery_seeds_total{{{labels},result="failed"}} 1"#),
            format!(r#"orrery_seed_failures_total{{{labels},check="progress",kind="liveness"}} 1"#),
            format!("orrery_events_total{{{labels}}} 303"),
            format!("orrery_seeds_determinism_checked_total{{{labels}}} 1"),
            format!("orrery_virtual_seconds_total{{{labels}}} 4.5"),
            format!("orrery_wall_seconds_total{{{labels}}} 0.25"),
            format!(r#"orrery_fault_effects_total{{{labels},family="loss"}} 6"#),
            format!(r#"orrery_fault_effects_total{{{labels},family="pause"}} 0"#),
            format!(r#"orrery_sometimes_points{{{labels},state="reached"}} 1"#),
            format!(r#"orrery_sometimes_points{{{labels},state="not_reached"}} 0"#),
            format!(
                r#"orrery_sometimes_seeds_total{{{labels},point="a \"quoted\" point\\",state="reached"}} 1"#
            ),
            format!("orrery_sweep_as_expected{{{labels}}} 0"),
            format!("orrery_sweep_complete{{{labels}}} 1"),
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line} in:\n{text}");
        }
        for family in FAMILIES {
            let help = format!("# HELP {} ", family.name);
            assert_eq!(text.matches(&help).count(), 1, "{}", family.name);
        }
        let twice = render_metrics(&[sweep, sweep]).expect_err("two sweeps of x");
        assert!(twice.contains("two sweeps of scenario x"), "{twice}");
    }
}
