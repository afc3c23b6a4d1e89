//! What a sweep prints: one stable line per failure with the command that replays it, a
//! summary table, and JSON lines (one record per seed, then a summary) that concatenate
//! cleanly across shards.
//!
//! A `Summary` is built one report at a time and keeps counters and the smallest failing
//! seeds only, so its size depends on how many kinds of failure there are, never on how many
//! seeds ran. Everything in it adds up independently of order, the sweep fingerprint
//! included: a sweep split into shards, or interrupted and resumed, sums to the same summary
//! as one uninterrupted run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use super::{FailureKind, SeedReport};
use crate::check::SweepCoverage;
use crate::scenario::Expect;

/// How many of the smallest seeds a summary keeps per kind of failure (and shows).
pub const SMALLEST_KEPT: usize = 5;

/// A number of seeds and the smallest of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSample {
    pub count: u64,
    /// The `SMALLEST_KEPT` smallest, ascending.
    pub smallest: Vec<u64>,
}

impl SeedSample {
    pub fn add(&mut self, seed: u64) {
        self.count += 1;
        if let Err(at) = self.smallest.binary_search(&seed) {
            if at < SMALLEST_KEPT {
                self.smallest.insert(at, seed);
                self.smallest.truncate(SMALLEST_KEPT);
            }
        }
    }

    /// `3, 17, 40 (+12 more)`.
    fn render(&self) -> String {
        let shown: Vec<String> = self.smallest.iter().map(u64::to_string).collect();
        let more = self.count.saturating_sub(self.smallest.len() as u64);
        let more = if more > 0 { format!(" (+{more} more)") } else { String::new() };
        format!("{}{more}", shown.join(", "))
    }
}

/// The seeds that failed one (check, kind), and the report of the smallest of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup {
    pub seeds: SeedSample,
    /// The smallest failing seed's report: the one a failure line shows.
    pub first: SeedReport,
}

/// Totals of a sweep.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub scenario: String,
    pub seeds_run: u64,
    pub passed: u64,
    /// (check, kind) → the seeds that failed it.
    pub failures: BTreeMap<(String, FailureKind), FailureGroup>,
    /// Checks that were undecided, with the seeds.
    pub unknown: BTreeMap<String, SeedSample>,
    pub events_total: u64,
    pub vtime_total_nanos: u128,
    pub wall_seconds: f64,
    /// Sometimes-points over the sweep.
    pub coverage: SweepCoverage,
    /// Per fault family any seed configured: how many times it had an effect, over every
    /// seed (0: configured, but it never did anything).
    pub fault_effects: BTreeMap<String, u64>,
    /// Of `seeds_run`, how many were read back from a journal instead of run by this process.
    pub seeds_resumed: u64,
    /// Of `seeds_run`, how many were run twice and compared (all of them under
    /// `--check-determinism`, a sample otherwise).
    pub determinism_checked: u64,
    /// The sum of `pair_hash` over the seeds (see `sweep_fingerprint`).
    fingerprint: u64,
}

impl Summary {
    /// An empty summary of `scenario`.
    pub fn new(scenario: &str) -> Summary {
        Summary { scenario: scenario.to_string(), ..Summary::default() }
    }

    /// The summary of `reports`.
    pub fn of(scenario: &str, reports: &[SeedReport], wall_seconds: f64) -> Summary {
        let mut summary = Summary::new(scenario);
        for report in reports {
            summary.add(report);
        }
        summary.wall_seconds = wall_seconds;
        summary
    }

    /// Counts one seed.
    pub fn add(&mut self, report: &SeedReport) {
        self.seeds_run += 1;
        self.determinism_checked += u64::from(report.determinism_checked);
        self.events_total += report.events;
        self.vtime_total_nanos += u128::from(report.vtime.as_nanos());
        self.fingerprint =
            self.fingerprint.wrapping_add(pair_hash(report.seed, report.fingerprint));
        match &report.failure {
            None => self.passed += 1,
            Some(failure) => {
                let key = (failure.check.clone(), failure.kind);
                let group = self.failures.entry(key).or_insert_with(|| FailureGroup {
                    seeds: SeedSample::default(),
                    first: report.clone(),
                });
                if report.seed < group.first.seed {
                    group.first = report.clone();
                }
                group.seeds.add(report.seed);
            }
        }
        self.coverage.add(report.coverage.iter().map(|(l, r)| (l.as_str(), *r)));
        for (family, effects) in &report.fault_effects {
            match self.fault_effects.get_mut(family) {
                Some(total) => *total += effects,
                None => {
                    self.fault_effects.insert(family.clone(), *effects);
                }
            }
        }
        for (check, _) in &report.unknown {
            self.unknown.entry(check.clone()).or_default().add(report.seed);
        }
    }

    pub fn failed(&self) -> u64 {
        self.seeds_run - self.passed
    }

    /// The sweep fingerprint: a hash of the multiset of (seed, fingerprint) pairs, so it is
    /// the same whatever the order the seeds ran in, the thread count, the sharding, and
    /// however often the sweep was interrupted and resumed.
    pub fn sweep_fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The failure worth a line each: the smallest seed of every (check, kind), smallest first.
    pub fn first_failures(&self) -> Vec<&SeedReport> {
        let mut first: Vec<&SeedReport> = self.failures.values().map(|g| &g.first).collect();
        first.sort_by_key(|report| report.seed);
        first
    }

    /// Seeds that could not be set up (a scenario or workload mistake, never a finding).
    pub fn setup_failures(&self) -> Option<&FailureGroup> {
        self.failures.iter().find(|((_, kind), _)| *kind == FailureKind::Setup).map(|(_, g)| g)
    }

    /// Whether some seed failed in a way that counts as finding a bug (not a setup error).
    pub fn found_a_failure(&self) -> bool {
        self.failures.keys().any(|(_, kind)| *kind != FailureKind::Setup)
    }

    /// Whether the seeds counted meet `expect`: every one passed, or (`expect: fail`) some
    /// seed found the bug; a seed that could not be set up is never that finding.
    pub fn as_expected(&self, expect: Expect) -> bool {
        match expect {
            Expect::Pass => self.seeds_run > 0 && self.failed() == 0,
            Expect::Fail { .. } => self.found_a_failure(),
        }
    }

    /// The virtual time simulated over every seed, in seconds.
    pub fn vtime_seconds(&self) -> f64 {
        self.vtime_total_nanos as f64 / 1e9
    }
}

/// The fingerprint of a sweep of `reports` (see `Summary::sweep_fingerprint`).
pub fn sweep_fingerprint(reports: &[SeedReport]) -> u64 {
    reports.iter().fold(0u64, |sum, r| sum.wrapping_add(pair_hash(r.seed, r.fingerprint)))
}

/// FNV-1a over the pair, then a finaliser (MurmurHash3's) so that the sum over many pairs
/// mixes every bit: the element hash of an additive multiset hash.
fn pair_hash(seed: u64, fingerprint: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for word in [seed, fingerprint] {
        for byte in word.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// How a failure is replayed: what the hint under a failure line tells the user to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayer {
    /// A binary with Orrery's command line (the path of the running one, as the CLI gives
    /// it): `PROGRAM replay SCENARIO --seed N`, `PROGRAM replay CAPSULE`. `overrides` are the
    /// `--param`/`--set` words the scenario was run with, given to a replay of the scenario
    /// file (a capsule's plan has them applied already).
    Program { program: String, overrides: Vec<String> },
    /// A test sweeping the scenario: `ORRERY_SEED=N COMMAND` (e.g. `cargo test NAME`).
    Test(String),
}

impl Replayer {
    /// The command that replays `seed` of the scenario at `scenario_path`.
    pub fn seed_command(&self, scenario_path: &str, seed: u64) -> String {
        match self {
            Replayer::Program { program, overrides } => {
                let mut command = format!(
                    "{} replay {} --seed {seed}",
                    shell_quote(program),
                    shell_quote(scenario_path)
                );
                for word in overrides {
                    command.push(' ');
                    command.push_str(&shell_quote(word));
                }
                command
            }
            Replayer::Test(command) => format!("ORRERY_SEED={seed} {command}"),
        }
    }

    /// The command that replays a capsule, when there is a binary to do it.
    pub fn capsule_command(&self, capsule: &Path) -> Option<String> {
        match self {
            Replayer::Program { program, .. } => Some(format!(
                "{} replay {}",
                shell_quote(program),
                shell_quote(&capsule.display().to_string())
            )),
            Replayer::Test(_) => None,
        }
    }

    /// The command that shrinks a capsule's failure, when there is a binary to do it.
    pub fn shrink_command(&self, capsule: &Path) -> Option<String> {
        match self {
            Replayer::Program { program, .. } => Some(format!(
                "{} shrink {}",
                shell_quote(program),
                shell_quote(&capsule.display().to_string())
            )),
            Replayer::Test(_) => None,
        }
    }
}

/// `text` as one shell word: unchanged if it needs no quoting, else in single quotes.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The stable failure line and its replay command.
pub fn render_failure(
    scenario: &str,
    scenario_path: &str,
    report: &SeedReport,
    replayer: &Replayer,
) -> String {
    let Some(failure) = &report.failure else { return String::new() };
    // The whole message, indented: a linearizability failure's witness is several lines.
    let message: String = failure.message.lines().map(|line| format!("  {line}\n")).collect();
    format!(
        "ORRERY FAIL scenario={scenario} seed={} check={} kind={} vtime={}\n{message}  replay: {}\n",
        report.seed,
        failure.check,
        failure.kind.name(),
        failure.vtime,
        replayer.seed_command(scenario_path, report.seed)
    )
}

/// How far a sweep got, beyond what its summary counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepStatus {
    /// Seeds in the sweep (this shard's share of the range).
    pub seeds_planned: u64,
    /// The signal that interrupted it (`SIGINT`, `SIGTERM`), if one did.
    pub interrupted: Option<String>,
}

/// A human-readable summary table.
pub fn render_summary(summary: &Summary, status: &SweepStatus) -> String {
    let mut text = String::new();
    let vtime_seconds = summary.vtime_seconds();
    let rate = if summary.wall_seconds > 0.0 {
        summary.events_total as f64 / summary.wall_seconds
    } else {
        0.0
    };
    let _ = writeln!(text, "scenario {}", summary.scenario);
    let _ = writeln!(text, "  seeds run        {}", summary.seeds_run);
    if summary.seeds_resumed > 0 {
        let _ = writeln!(
            text,
            "    resumed        {} (read back from the journal)",
            summary.seeds_resumed
        );
    }
    let _ = writeln!(text, "  passed           {}", summary.passed);
    let _ = writeln!(text, "  failed           {}", summary.failed());
    for ((check, kind), group) in &summary.failures {
        let _ = writeln!(
            text,
            "    {check} ({}): {} seed(s), smallest first: {}",
            kind.name(),
            group.seeds.count,
            group.seeds.render()
        );
    }
    if summary.seeds_run > 0 {
        let nondeterministic = summary
            .failures
            .iter()
            .filter(|((_, kind), _)| *kind == FailureKind::Nondeterminism)
            .map(|(_, group)| group.seeds.count)
            .sum::<u64>();
        let verdict = match nondeterministic {
            0 => "all matched".to_string(),
            n => format!("{n} diverged"),
        };
        let _ = writeln!(
            text,
            "  determinism      {} of {} seed(s) run twice: {verdict}",
            summary.determinism_checked, summary.seeds_run
        );
    }
    for (check, seeds) in &summary.unknown {
        let _ = writeln!(
            text,
            "  undecided        {check}: {} seed(s), first {}",
            seeds.count,
            seeds.render()
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
    let _ = writeln!(text, "  sweep fingerprint {:016x}", summary.sweep_fingerprint());
    if let Some(signal) = &status.interrupted {
        let _ = writeln!(
            text,
            "interrupted: {} of {} seeds run ({signal})",
            summary.seeds_run, status.seeds_planned
        );
    }
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
        "determinism_checked": report.determinism_checked,
        "sometimes": report.coverage.iter().map(|(l, r)| (l.clone(), serde_json::Value::Bool(*r))).collect::<serde_json::Map<_, _>>(),
        "fault_effects": report.fault_effects.iter().map(|(f, n)| (f.clone(), serde_json::json!(n))).collect::<serde_json::Map<_, _>>(),
    })
    .to_string()
}

/// What a sweep covered, written into its closing JSON record so that `orrery merge` can
/// prove shard outputs cover the range exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepScope {
    /// The scenario file, for replay commands.
    pub path: String,
    /// The workload the scenario runs (empty when an output does not say: written before
    /// outputs named it).
    pub workload: String,
    /// The whole range, before sharding (half-open).
    pub seeds: Range<u64>,
    /// `(K, N)`: this output holds the seeds with seed mod N = K - 1.
    pub shard: Option<(u64, u64)>,
    pub expect: Expect,
}

/// The JSON form of an expectation.
pub(crate) fn expect_json(expect: Expect) -> serde_json::Value {
    match expect {
        Expect::Pass => serde_json::json!("pass"),
        Expect::Fail { within_seeds } => {
            serde_json::json!({"fail": {"within_seeds": within_seeds}})
        }
    }
}

/// The closing JSON record of a sweep. `seeds_resumed` of `seeds_run` were not run by this
/// output's writer (their records are in the journal it resumed); `complete` is false for a
/// sweep that was interrupted.
pub fn json_summary(summary: &Summary, scope: &SweepScope, status: &SweepStatus) -> String {
    let failures: Vec<serde_json::Value> = summary
        .failures
        .iter()
        .map(|((check, kind), group)| {
            serde_json::json!({"check": check, "kind": kind.name(), "seeds": group.seeds.count, "smallest": group.seeds.smallest})
        })
        .collect();
    let undecided: Vec<serde_json::Value> = summary
        .unknown
        .iter()
        .map(|(check, seeds)| serde_json::json!({"check": check, "seeds": seeds.count}))
        .collect();
    let sometimes: serde_json::Map<String, serde_json::Value> = summary
        .coverage
        .points
        .iter()
        .map(|(label, (declared, reached))| {
            (label.clone(), serde_json::json!({"declared": declared, "reached": reached}))
        })
        .collect();
    let never_reached = summary.coverage.never_reached().count();
    serde_json::json!({
        "type": "summary",
        "workload": scope.workload,
        "scenario": summary.scenario,
        "path": scope.path,
        "seeds": format!("{}..{}", scope.seeds.start, scope.seeds.end),
        "shard": scope.shard.map(|(k, n)| format!("{k}/{n}")),
        "expect": expect_json(scope.expect),
        "complete": status.interrupted.is_none(),
        "interrupted": status.interrupted,
        "seeds_planned": status.seeds_planned,
        "seeds_run": summary.seeds_run,
        "seeds_resumed": summary.seeds_resumed,
        "determinism_checked": summary.determinism_checked,
        "passed": summary.passed,
        "failed": summary.failed(),
        "failures": failures,
        "undecided": undecided,
        "as_expected": summary.as_expected(scope.expect),
        "events": summary.events_total,
        "vtime_s": summary.vtime_seconds(),
        "wall_s": summary.wall_seconds,
        "sweep_fingerprint": format!("{:016x}", summary.sweep_fingerprint()),
        "never_reached": summary.coverage.never_reached().map(|(label, _)| label).collect::<Vec<_>>(),
        "sometimes_reached": summary.coverage.points.len() - never_reached,
        "sometimes_not_reached": never_reached,
        "sometimes": sometimes,
        "fault_effects": summary.fault_effects,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Failure;
    use crate::time::Instant;

    fn report(seed: u64, failing: Option<&str>) -> SeedReport {
        SeedReport {
            seed,
            fingerprint: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            events: 10,
            vtime: Instant::from_nanos(5),
            failure: failing.map(|check| Failure {
                kind: FailureKind::Invariant,
                check: check.to_string(),
                message: format!("{check} broke"),
                vtime: Instant::ZERO,
            }),
            unknown: Vec::new(),
            determinism_checked: false,
            stats: String::new(),
            coverage: vec![("p".to_string(), seed.is_multiple_of(2))],
            fault_effects: vec![("crash".to_string(), seed % 3)],
        }
    }

    // Proves a summary keeps counts and the smallest seeds only, and that it (fingerprint
    // included) is the same whatever the order the reports arrive in.
    #[test]
    fn a_summary_is_bounded_and_independent_of_order() {
        let reports: Vec<SeedReport> = (0..1000)
            .map(|seed| {
                report(seed, (seed % 3 == 0).then_some(if seed % 2 == 0 { "a" } else { "b" }))
            })
            .collect();
        let forward = Summary::of("s", &reports, 0.0);
        let mut shuffled = reports.clone();
        shuffled.reverse();
        shuffled.rotate_left(333);
        let backward = Summary::of("s", &shuffled, 0.0);
        assert_eq!(forward.sweep_fingerprint(), backward.sweep_fingerprint());
        assert_eq!(forward.sweep_fingerprint(), sweep_fingerprint(&shuffled));
        assert_eq!((forward.seeds_run, forward.passed), (1000, 666));
        for summary in [&forward, &backward] {
            let group = &summary.failures[&("a".to_string(), FailureKind::Invariant)];
            assert_eq!(group.seeds.count, 167);
            assert_eq!(group.seeds.smallest, [0, 6, 12, 18, 24]);
            assert_eq!(group.first.seed, 0);
            assert_eq!(summary.coverage.points["p"], (1000, 500));
        }
        assert_eq!(
            forward.first_failures().iter().map(|r| r.seed).collect::<Vec<_>>(),
            [0, 3],
            "one line per (check, kind), smallest seed first"
        );
        let mut other = reports.clone();
        other[500].fingerprint ^= 1;
        assert_ne!(Summary::of("s", &other, 0.0).sweep_fingerprint(), forward.sweep_fingerprint());
    }

    // Proves the replay hint is a command that works: the program's own path, quoted for the
    // shell when it needs to be, or the test command with the seed in its variable.
    #[test]
    fn replay_hints_name_what_will_run() {
        let program =
            Replayer::Program { program: "/opt/my tools/orrery".to_string(), overrides: vec![] };
        assert_eq!(
            program.seed_command("scenarios/x.yaml", 7),
            "'/opt/my tools/orrery' replay scenarios/x.yaml --seed 7"
        );
        let overridden = Replayer::Program {
            program: "orrery".to_string(),
            overrides: ["--param", "bug=early-ack", "--set", "phases.chaos=2 s"]
                .map(String::from)
                .to_vec(),
        };
        assert_eq!(
            overridden.seed_command("x.yaml", 7),
            "orrery replay x.yaml --seed 7 --param bug=early-ack --set 'phases.chaos=2 s'"
        );
        assert_eq!(overridden.capsule_command(Path::new("c")).as_deref(), Some("orrery replay c"));
        assert_eq!(
            program.capsule_command(Path::new("out/x-seed-7")).as_deref(),
            Some("'/opt/my tools/orrery' replay out/x-seed-7")
        );
        let test = Replayer::Test("cargo test -p app raft_survives -- --exact".to_string());
        assert_eq!(
            test.seed_command("inline.yaml", 7),
            "ORRERY_SEED=7 cargo test -p app raft_survives -- --exact"
        );
        assert_eq!(test.capsule_command(Path::new("x")), None);
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
