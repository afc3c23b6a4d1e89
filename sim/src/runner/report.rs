//! What a sweep prints: one stable line per failure with the command that replays it, a
//! summary table, and JSON lines (one record per seed, then a summary) that concatenate
//! cleanly across shards.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;

use super::{FailureKind, SeedReport};
use crate::check::SweepCoverage;
use crate::scenario::Expect;

/// Totals of a sweep.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub scenario: String,
    pub seeds_run: u64,
    pub passed: u64,
    /// (check, kind) → failing seeds, ascending.
    pub failures: BTreeMap<(String, FailureKind), Vec<u64>>,
    /// Checks that were undecided, with the seeds.
    pub unknown: BTreeMap<String, Vec<u64>>,
    pub events_total: u64,
    pub vtime_total_nanos: u128,
    pub wall_seconds: f64,
    /// Sometimes-points over the sweep.
    pub coverage: SweepCoverage,
}

impl Summary {
    pub fn new(scenario: &str, reports: &[SeedReport], wall_seconds: f64) -> Summary {
        let mut summary =
            Summary { scenario: scenario.to_string(), wall_seconds, ..Summary::default() };
        for report in reports {
            summary.seeds_run += 1;
            summary.events_total += report.events;
            summary.vtime_total_nanos += u128::from(report.vtime.as_nanos());
            match &report.failure {
                None => summary.passed += 1,
                Some(failure) => summary
                    .failures
                    .entry((failure.check.clone(), failure.kind))
                    .or_default()
                    .push(report.seed),
            }
            summary.coverage.add(report.coverage.iter().map(|(l, r)| (l.as_str(), *r)));
            for (check, _) in &report.unknown {
                summary.unknown.entry(check.clone()).or_default().push(report.seed);
            }
        }
        for seeds in summary.failures.values_mut().chain(summary.unknown.values_mut()) {
            seeds.sort_unstable();
        }
        summary
    }

    pub fn failed(&self) -> u64 {
        self.seeds_run - self.passed
    }
}

/// The exact command that replays a seed of a scenario.
pub fn replay_command(scenario_path: &str, seed: u64) -> String {
    format!("cargo run --release -- replay {scenario_path} --seed {seed}")
}

/// The stable failure line and its replay command.
pub fn render_failure(scenario: &str, scenario_path: &str, report: &SeedReport) -> String {
    let Some(failure) = &report.failure else { return String::new() };
    format!(
        "ORRERY FAIL scenario={scenario} seed={} check={} kind={} vtime={}\n  {}\n  replay: {}\n",
        report.seed,
        failure.check,
        failure.kind.name(),
        failure.vtime,
        failure.message.lines().next().unwrap_or(""),
        replay_command(scenario_path, report.seed)
    )
}

/// The failing reports worth a line each: the first (smallest seed, given reports in seed
/// order) per (check, failure kind); the rest are counted in the summary.
pub fn first_failures(reports: &[SeedReport]) -> impl Iterator<Item = &SeedReport> {
    let mut shown = std::collections::BTreeSet::new();
    reports.iter().filter(move |report| {
        report.failure.as_ref().is_some_and(|f| shown.insert((f.check.clone(), f.kind)))
    })
}

/// A human-readable summary table.
pub fn render_summary(summary: &Summary) -> String {
    let mut text = String::new();
    let vtime_seconds = summary.vtime_total_nanos as f64 / 1e9;
    let rate = if summary.wall_seconds > 0.0 {
        summary.events_total as f64 / summary.wall_seconds
    } else {
        0.0
    };
    let _ = writeln!(text, "scenario {}", summary.scenario);
    let _ = writeln!(text, "  seeds run        {}", summary.seeds_run);
    let _ = writeln!(text, "  passed           {}", summary.passed);
    let _ = writeln!(text, "  failed           {}", summary.failed());
    for ((check, kind), seeds) in &summary.failures {
        let shown: Vec<String> = seeds.iter().take(5).map(u64::to_string).collect();
        let more =
            if seeds.len() > 5 { format!(" (+{} more)", seeds.len() - 5) } else { String::new() };
        let _ = writeln!(
            text,
            "    {check} ({}): {} seed(s), smallest first: {}{more}",
            kind.name(),
            seeds.len(),
            shown.join(", ")
        );
    }
    for (check, seeds) in &summary.unknown {
        let _ = writeln!(
            text,
            "  undecided        {check}: {} seed(s), first {}",
            seeds.len(),
            seeds[0]
        );
    }
    let points = summary.coverage.points.len();
    if points > 0 {
        let never: Vec<(&str, u64)> = summary.coverage.never_reached().collect();
        let _ = writeln!(
            text,
            "  sometimes        {} of {points} point(s) reached in some seed",
            points - never.len()
        );
        for (label, declared) in never {
            let _ = writeln!(text, "    never reached: {label} (declared in {declared} seed(s))");
        }
    }
    let _ = writeln!(text, "  events           {}", summary.events_total);
    let _ = writeln!(text, "  virtual time     {vtime_seconds:.3}s");
    let _ = writeln!(text, "  wall time        {:.3}s", summary.wall_seconds);
    let _ = writeln!(text, "  events/s         {rate:.0}");
    text
}

/// One JSON record for a seed.
pub fn json_line(scenario: &str, report: &SeedReport) -> String {
    let failure = report.failure.as_ref().map(|f| {
        serde_json::json!({"check": f.check, "kind": f.kind.name(), "message": f.message, "vtime_ns": f.vtime.as_nanos()})
    });
    serde_json::json!({
        "type": "seed",
        "scenario": scenario,
        "seed": report.seed,
        "passed": report.failure.is_none(),
        "fingerprint": format!("{:016x}", report.fingerprint),
        "events": report.events,
        "vtime_ns": report.vtime.as_nanos(),
        "failure": failure,
        "unknown": report.unknown.iter().map(|(c, w)| serde_json::json!({"check": c, "why": w})).collect::<Vec<_>>(),
        "sometimes": report.coverage.iter().map(|(l, r)| (l.clone(), serde_json::Value::Bool(*r))).collect::<serde_json::Map<_, _>>(),
    })
    .to_string()
}

/// What a sweep covered, written into its closing JSON record so that `orrery merge` can
/// prove shard outputs cover the range exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepScope {
    /// The scenario file, for replay commands.
    pub path: String,
    /// The whole range, before sharding (half-open).
    pub seeds: Range<u64>,
    /// `(K, N)`: this output holds the seeds with seed mod N = K - 1.
    pub shard: Option<(u64, u64)>,
    pub expect: Expect,
}

/// The closing JSON record of a sweep.
pub fn json_summary(summary: &Summary, sweep_fingerprint: u64, scope: &SweepScope) -> String {
    let expect = match scope.expect {
        Expect::Pass => serde_json::json!("pass"),
        Expect::Fail { within_seeds } => {
            serde_json::json!({"fail": {"within_seeds": within_seeds}})
        }
    };
    serde_json::json!({
        "type": "summary",
        "scenario": summary.scenario,
        "path": scope.path,
        "seeds": format!("{}..{}", scope.seeds.start, scope.seeds.end),
        "shard": scope.shard.map(|(k, n)| format!("{k}/{n}")),
        "expect": expect,
        "seeds_run": summary.seeds_run,
        "passed": summary.passed,
        "failed": summary.failed(),
        "events": summary.events_total,
        "wall_s": summary.wall_seconds,
        "sweep_fingerprint": format!("{sweep_fingerprint:016x}"),
        "never_reached": summary.coverage.never_reached().map(|(label, _)| label).collect::<Vec<_>>(),
    })
    .to_string()
}

/// A fingerprint of a whole sweep: (seed, fingerprint) in seed order. Independent of thread
/// count because reports come back in seed order.
pub fn sweep_fingerprint(reports: &[SeedReport]) -> u64 {
    fingerprint_pairs(reports.iter().map(|r| (r.seed, r.fingerprint)))
}

/// FNV-1a over (seed, fingerprint) pairs in the given order.
pub(super) fn fingerprint_pairs(pairs: impl Iterator<Item = (u64, u64)>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for (seed, fingerprint) in pairs {
        for word in [seed, fingerprint] {
            for byte in word.to_le_bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    hash
}
