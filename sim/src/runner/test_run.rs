//! Seed sweeps inside a user's own `#[test]`: a scenario (a file, or YAML written in the test)
//! over a seed range in a few lines, with an assertion failure that names the seed, the check
//! and the command that replays it.
//!
//! ```no_run
//! # use orrery_sim::workload::Registry;
//! # fn my_registry() -> Registry { Registry::new() }
//! #[test]
//! fn raft_survives_partitions() {
//!     orrery_sim::TestRun::file("scenarios/smoke/raft-kv.yaml", my_registry())
//!         .seeds(0..500)
//!         .assert_expected();
//! }
//! ```
//!
//! The environment is a test's command line (`cargo test` passes nothing else), read once
//! before any run starts; runs never see it:
//! - `ORRERY_SEED=N` or `ORRERY_SEEDS=A..B` replace the seeds (the scenario's, or the test's
//!   `seeds(...)`, which is the test's default range as `seeds:` is a scenario's): that is
//!   how a failure replays, `ORRERY_SEED=17 cargo test raft_survives_partitions`, and how a
//!   nightly widens a sweep. `ORRERY_SEED` wins over `ORRERY_SEEDS`, as `--seed` would.
//! - `ORRERY_JOBS`, `ORRERY_HANG_TIMEOUT` (seconds), `ORRERY_CHECK_DETERMINISM` (1/0,
//!   true/false) and `ORRERY_OUT` apply unless the test sets the same thing in code: a value
//!   given explicitly beats its variable, as a flag beats its variable on the command line.
//!
//! A failing assertion writes a capsule per failing (check, kind) under `ORRERY_OUT` (default:
//! `orrery-out` in the system's temporary directory), the scenario's YAML included.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::capsule::{Capsule, CAPSULES_MAX, CAPSULE_TRACE_BYTES_MAX};
use super::sweep::{record_seeds, run_sweep, Planner, Rerun, SweepObserver, SweepOptions};
use super::{render_failure, render_summary, Replayer, SeedReport, Summary, SweepStatus};
use crate::cli::{parse_boolish, parse_seed_range};
use crate::scenario::{self, Expect, Scenario};
use crate::workload::Registry;

/// A scenario to sweep from a test. Build it, then `run()` or one of the `assert_*` methods.
pub struct TestRun {
    source: Source,
    registry: Arc<Registry>,
    seeds: Option<Range<u64>>,
    jobs: Option<usize>,
    hang_timeout: Option<Duration>,
    check_determinism: Option<bool>,
    out: Option<PathBuf>,
}

enum Source {
    File(PathBuf),
    Yaml { name: String, text: String },
}

/// The results of a sweep, in seed order.
pub struct TestOutcome {
    pub scenario: Scenario,
    /// Where the scenario came from, for replay commands.
    pub origin: String,
    pub reports: Vec<SeedReport>,
    pub summary: Summary,
    /// The seeds that ran, and what chose them (`ORRERY_SEED`, the test, the scenario).
    pub seeds: Range<u64>,
    pub seeds_from: String,
    /// How to replay a failing seed: `ORRERY_SEED=N cargo test NAME`.
    pub replayer: Replayer,
    /// Capsules written for the failures (by a failing assertion).
    pub capsules: Vec<PathBuf>,
    inline_source: Option<String>,
    registry: Arc<Registry>,
    options: SweepOptions,
    out: PathBuf,
}

impl TestOutcome {
    /// The failing seeds' reports, smallest seed first.
    pub fn failures(&self) -> impl Iterator<Item = &SeedReport> {
        self.reports.iter().filter(|r| r.failure.is_some())
    }

    /// Every failure line with its replay command, the first per (check, kind), then the
    /// summary table: what an assertion prints.
    pub fn explain(&self) -> String {
        let mut text = String::new();
        for report in self.summary.first_failures() {
            text.push_str(&render_failure(
                self.scenario.name(),
                &self.origin,
                report,
                &self.replayer,
            ));
        }
        for capsule in &self.capsules {
            let _ = writeln!(text, "capsule: {}", capsule.display());
        }
        if self.seeds_from != "the scenario" {
            let _ = writeln!(
                text,
                "seeds {}..{} from {}",
                self.seeds.start, self.seeds.end, self.seeds_from
            );
        }
        let status = SweepStatus { seeds_planned: self.summary.seeds_run, interrupted: None };
        text.push_str(&render_summary(&self.summary, &status));
        text
    }

    /// Writes a capsule (plan, scenario, summary, trace) for the smallest failing seed of each
    /// (check, kind), at most `CAPSULES_MAX`, and lists them in `explain`.
    pub fn write_capsules(&mut self) {
        let planned = Arc::new(self.scenario.clone());
        let planner: Arc<Planner> = Arc::new(move |seed| planned.sample(seed));
        let mut capsules = Vec::new();
        let failures = self.summary.first_failures().into_iter().filter(|r| !r.is_setup_failure());
        for report in failures.take(CAPSULES_MAX) {
            let plan = self.scenario.sample(report.seed);
            let source = self.inline_source.as_deref();
            match Capsule::create(&self.out, &plan, report, &self.origin, source, &self.replayer) {
                Ok(capsule) => capsules.push(capsule),
                Err(message) => eprintln!("orrery: could not write a capsule: {message}"),
            }
        }
        let reruns: Vec<Rerun> = capsules
            .iter()
            .map(|c| Rerun {
                seed: c.seed,
                path: c.trace_path(),
                bytes_max: Some(CAPSULE_TRACE_BYTES_MAX),
            })
            .collect();
        let outcomes = record_seeds(planner, self.registry.clone(), self.options, reruns)
            .unwrap_or_else(|error| panic!("orrery: {error}"));
        for (capsule, (_, outcome)) in capsules.iter().zip(&outcomes) {
            let _ = capsule.note_trace(outcome);
        }
        self.capsules = capsules.into_iter().map(|c| c.dir).collect();
    }

    fn fail(mut self, headline: String) -> ! {
        self.write_capsules();
        panic!("orrery: {headline}\n{}", self.explain());
    }

    fn refuse_setup_failures(self) -> TestOutcome {
        match self.summary.setup_failures() {
            Some(group) => {
                let first = &group.first;
                let message = first.failure.as_ref().map_or("", |f| f.message.as_str());
                let headline = format!(
                    "{} seed(s) could not be set up (seed {}: {message}): a mistake in the \
                     scenario or the workload, not a finding",
                    group.seeds.count, first.seed
                );
                self.fail(headline)
            }
            None => self,
        }
    }
}

impl TestRun {
    /// A scenario file; relative paths are relative to the test's working directory (the
    /// package root under `cargo test`).
    pub fn file(path: impl AsRef<Path>, registry: Registry) -> TestRun {
        TestRun::new(Source::File(path.as_ref().to_path_buf()), registry)
    }

    /// A scenario written in the test itself; `name` stands in for the file name in errors.
    pub fn yaml(name: &str, text: &str, registry: Registry) -> TestRun {
        TestRun::new(Source::Yaml { name: name.to_string(), text: text.to_string() }, registry)
    }

    fn new(source: Source, registry: Registry) -> TestRun {
        TestRun {
            source,
            registry: Arc::new(registry),
            seeds: None,
            jobs: None,
            hang_timeout: None,
            check_determinism: None,
            out: None,
        }
    }

    /// The test's seeds (half-open); default: the scenario's. `ORRERY_SEED(S)` replace them.
    pub fn seeds(mut self, seeds: Range<u64>) -> TestRun {
        self.seeds = Some(seeds);
        self
    }

    /// Threads to use (beats `ORRERY_JOBS`); default: every core.
    pub fn jobs(mut self, jobs: usize) -> TestRun {
        self.jobs = Some(jobs);
        self
    }

    /// Wall-clock time without progress after which a seed is reported as hung (beats
    /// `ORRERY_HANG_TIMEOUT`; default 60 s).
    pub fn hang_timeout(mut self, timeout: Duration) -> TestRun {
        self.hang_timeout = Some(timeout);
        self
    }

    /// Run every seed twice; a difference fails the seed, naming the first diverging event
    /// (beats `ORRERY_CHECK_DETERMINISM`).
    pub fn check_determinism(mut self) -> TestRun {
        self.check_determinism = Some(true);
        self
    }

    /// Where failing assertions write capsules (beats `ORRERY_OUT`).
    pub fn out(mut self, dir: impl AsRef<Path>) -> TestRun {
        self.out = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Runs the sweep. Panics (the test fails) with the rendered errors if the scenario does
    /// not load, if an `ORRERY_*` variable is malformed, or if there is no seed to run.
    pub fn run(self) -> TestOutcome {
        self.run_with(|name| std::env::var(name).ok())
    }

    fn run_with(self, var: impl Fn(&str) -> Option<String>) -> TestOutcome {
        let (scenario, origin, inline_source) = match &self.source {
            Source::File(path) => {
                (scenario::load(path, &self.registry), path.display().to_string(), None)
            }
            Source::Yaml { name, text } => (
                scenario::parse(name, text.as_bytes(), &self.registry),
                name.clone(),
                Some(text.clone()),
            ),
        };
        let scenario = match scenario {
            Ok(scenario) => scenario,
            Err(errors) => panic!("orrery: the scenario does not load:\n{errors}"),
        };
        let settings = match Settings::resolve(&self, &scenario, &var) {
            Ok(settings) => settings,
            Err(message) => panic!("orrery: {message}"),
        };
        if self.seeds.is_some() && settings.seeds_from.starts_with("ORRERY_SEED") {
            // Not silent: the test named its seeds, the environment replaced them.
            eprintln!(
                "orrery: running seeds {}..{} from {}",
                settings.seeds.start, settings.seeds.end, settings.seeds_from
            );
        }
        if settings.seeds.is_empty() {
            panic!(
                "orrery: no seed to run: {}..{} from {} is empty",
                settings.seeds.start, settings.seeds.end, settings.seeds_from
            );
        }
        let planned = Arc::new(scenario.clone());
        let planner: Arc<Planner> = Arc::new(move |seed| planned.sample(seed));
        #[allow(clippy::disallowed_methods)] // tidy: allow (reports wall time only)
        let started = std::time::Instant::now();
        let mut collect = Collect { reports: Vec::new(), summary: Summary::new(scenario.name()) };
        let seeds = Box::new(settings.seeds.clone());
        if let Err(error) =
            run_sweep(planner, seeds, self.registry.clone(), settings.options, &mut collect)
        {
            panic!("orrery: {error}");
        }
        collect.summary.wall_seconds = started.elapsed().as_secs_f64();
        TestOutcome {
            scenario,
            origin,
            reports: collect.reports,
            summary: collect.summary,
            seeds: settings.seeds,
            seeds_from: settings.seeds_from,
            replayer: test_replayer(&var),
            capsules: Vec::new(),
            inline_source,
            registry: self.registry.clone(),
            options: settings.options,
            out: settings.out,
        }
    }

    /// Every seed passes, whatever the scenario expects.
    pub fn assert_passes(self) -> TestOutcome {
        let outcome = self.run().refuse_setup_failures();
        if outcome.summary.failed() > 0 {
            let headline = format!(
                "{} of {} seed(s) failed",
                outcome.summary.failed(),
                outcome.summary.seeds_run
            );
            outcome.fail(headline);
        }
        outcome
    }

    /// The scenario's `expect`: every seed passes, or (`expect: fail`) some seed fails. A seed
    /// that could not be set up fails the assertion either way: it is never the bug.
    pub fn assert_expected(self) -> TestOutcome {
        let outcome = self.run().refuse_setup_failures();
        match outcome.scenario.expect() {
            Expect::Pass if outcome.summary.failed() > 0 => {
                let headline = format!(
                    "{} of {} seed(s) failed",
                    outcome.summary.failed(),
                    outcome.summary.seeds_run
                );
                outcome.fail(headline)
            }
            Expect::Fail { within_seeds } if !outcome.summary.found_a_failure() => panic!(
                "orrery: expected a failure within {within_seeds} seeds, but all {} passed\n{}",
                outcome.summary.seeds_run,
                outcome.explain()
            ),
            _ => outcome,
        }
    }
}

/// Collects every report in seed order, and the summary.
struct Collect {
    reports: Vec<SeedReport>,
    summary: Summary,
}

impl SweepObserver for Collect {
    fn finished(&mut self, report: &SeedReport) {
        self.summary.add(report);
    }
    fn released(&mut self, report: SeedReport) -> Vec<Rerun> {
        self.reports.push(report);
        Vec::new()
    }
}

/// What a test run uses, each from the code, else its variable, else the default.
struct Settings {
    seeds: Range<u64>,
    seeds_from: String,
    options: SweepOptions,
    out: PathBuf,
}

impl Settings {
    fn resolve(
        run: &TestRun,
        scenario: &Scenario,
        var: &impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, String> {
        let (seeds, seeds_from) = match seeds_override(var)? {
            Some((seeds, name)) => {
                let asked = run.seeds.as_ref().map_or(String::new(), |s| {
                    format!(" (the test asks for {}..{})", s.start, s.end)
                });
                (seeds, format!("{name}{asked}"))
            }
            None => match &run.seeds {
                Some(seeds) => (seeds.clone(), "the test".to_string()),
                None => (scenario.default_seeds(), "the scenario".to_string()),
            },
        };
        let defaults = SweepOptions::default();
        let number =
            |name: &str| -> Result<Option<u64>, String> {
                var(name)
                    .map(|text| {
                        text.trim().parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
                            format!("{name}={text:?}: expected a whole number above 0")
                        })
                    })
                    .transpose()
            };
        let jobs = match run.jobs {
            Some(jobs) => jobs,
            None => number("ORRERY_JOBS")?.map_or(defaults.jobs, |n| n as usize),
        };
        let hang_timeout = match run.hang_timeout {
            Some(timeout) => timeout,
            None => {
                number("ORRERY_HANG_TIMEOUT")?.map_or(defaults.hang_timeout, Duration::from_secs)
            }
        };
        let check_determinism = match run.check_determinism {
            Some(on) => on,
            None => match var("ORRERY_CHECK_DETERMINISM") {
                Some(text) => parse_boolish(&text)
                    .map_err(|e| format!("ORRERY_CHECK_DETERMINISM={text:?}: {e}"))?,
                None => false,
            },
        };
        let out = run
            .out
            .clone()
            .or_else(|| var("ORRERY_OUT").map(PathBuf::from))
            .unwrap_or_else(|| std::env::temp_dir().join("orrery-out"));
        let options = SweepOptions { jobs, hang_timeout, check_determinism, ..defaults };
        Ok(Settings { seeds, seeds_from, options, out })
    }
}

/// The seed range `ORRERY_SEED` (first) or `ORRERY_SEEDS` ask for, with the variable's name.
fn seeds_override(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Option<(Range<u64>, String)>, String> {
    for name in ["ORRERY_SEED", "ORRERY_SEEDS"] {
        if let Some(text) = var(name) {
            let seeds = parse_seed_range(&text).map_err(|e| format!("{name}={text:?}: {e}"))?;
            return Ok(Some((seeds, name.to_string())));
        }
    }
    Ok(None)
}

/// `cargo test -p PACKAGE TEST -- --exact`: the test running now (its thread is named after
/// it), in the package cargo is testing.
fn test_replayer(var: &impl Fn(&str) -> Option<String>) -> Replayer {
    let thread = std::thread::current();
    let test = thread.name().filter(|name| *name != "main").unwrap_or("TEST_NAME");
    let package = var("CARGO_PKG_NAME").map_or(String::new(), |name| format!(" -p {name}"));
    Replayer::Test(format!("cargo test{package} {test} -- --exact"))
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use super::*;
    use crate::scenario::RunPlan;
    use crate::workload::{CheckSpec, ParamSpec, Setup, Simulation, Workload};

    /// A workload whose setup always fails, as a workload whose parameters or topology do not
    /// fit does.
    struct NeverSetsUp;

    impl Workload for NeverSetsUp {
        fn name(&self) -> &'static str {
            "never"
        }
        fn description(&self) -> &'static str {
            "cannot be set up"
        }
        fn parameters(&self) -> Vec<ParamSpec> {
            Vec::new()
        }
        fn checks(&self) -> Vec<CheckSpec> {
            Vec::new()
        }
        fn instantiate(&self, _: &RunPlan, _: &Setup<'_>) -> Result<Box<dyn Simulation>, String> {
            Err("test workload does not run".to_string())
        }
    }

    fn registry() -> Registry {
        let mut registry = Registry::new();
        registry.register(NeverSetsUp);
        registry
    }

    const NEVER_SETS_UP: &str = "name: never\ntopology: {count: 2}\nworkload: {name: never}\n\
        phases: {chaos: 10ms}\nseeds: 0..3\nexpect: {fail: {within_seeds: 3}}\n";

    // Proves a value set in code beats its variable, a variable beats the default, the seed
    // variables beat the test's range (saying so), and a malformed variable is an error that
    // names it.
    #[test]
    fn a_value_set_in_code_beats_its_variable() {
        let scenario =
            scenario::parse("s.yaml", NEVER_SETS_UP.as_bytes(), &registry()).expect("loads");
        let variables = env(&[
            ("ORRERY_JOBS", "7"),
            ("ORRERY_HANG_TIMEOUT", "9"),
            ("ORRERY_CHECK_DETERMINISM", "1"),
            ("ORRERY_OUT", "/tmp/from-env"),
            ("ORRERY_SEEDS", "10..20"),
        ]);
        let coded = TestRun::yaml("s.yaml", NEVER_SETS_UP, registry())
            .jobs(2)
            .hang_timeout(Duration::from_secs(3))
            .out("/tmp/from-code")
            .seeds(0..5);
        let settings = Settings::resolve(&coded, &scenario, &variables).expect("resolves");
        assert_eq!(settings.options.jobs, 2);
        assert_eq!(settings.options.hang_timeout, Duration::from_secs(3));
        assert!(settings.options.check_determinism, "not set in code: the variable applies");
        assert_eq!(settings.out, PathBuf::from("/tmp/from-code"));
        assert_eq!(settings.seeds, 10..20);
        assert_eq!(settings.seeds_from, "ORRERY_SEEDS (the test asks for 0..5)");

        let plain = TestRun::yaml("s.yaml", NEVER_SETS_UP, registry());
        let settings = Settings::resolve(&plain, &scenario, &variables).expect("resolves");
        assert_eq!(settings.options.jobs, 7);
        assert_eq!(settings.options.hang_timeout, Duration::from_secs(9));
        assert_eq!(settings.out, PathBuf::from("/tmp/from-env"));
        let settings = Settings::resolve(&plain, &scenario, &env(&[])).expect("resolves");
        assert_eq!((settings.seeds, settings.seeds_from.as_str()), (0..3, "the scenario"));

        for (name, value) in [("ORRERY_CHECK_DETERMINISM", "maybe"), ("ORRERY_JOBS", "0")] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(Box::new([(name, value)]));
            let error = Settings::resolve(&plain, &scenario, &env(pairs)).err().expect("malformed");
            assert!(error.starts_with(&format!("{name}=")), "{error}");
        }
    }

    // Proves a seed that cannot be set up is never the bug an `expect: fail` scenario looks
    // for: the assertion fails, saying the seeds could not be set up.
    #[test]
    fn a_setup_failure_is_never_the_expected_bug() {
        let out = std::env::temp_dir().join(format!("orrery-setup-{}", std::process::id()));
        let run = TestRun::yaml("never.yaml", NEVER_SETS_UP, registry()).jobs(1).out(&out);
        let panic = catch_unwind(AssertUnwindSafe(|| run.assert_expected())).err().expect("fails");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.contains("3 seed(s) could not be set up (seed 0: test workload does not run)"),
            "{message}"
        );
        assert!(!out.exists(), "no capsule for a seed that never ran");
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    }

    // Proves ORRERY_SEED wins over ORRERY_SEEDS, both accept the CLI's range syntax, and a
    // malformed value is an error naming the variable rather than a silent default.
    #[test]
    fn environment_overrides_the_seed_range() {
        let seeds = |pairs| seeds_override(&env(pairs)).map(|o| o.map(|(range, _)| range));
        assert_eq!(seeds(&[]), Ok(None));
        assert_eq!(seeds(&[("ORRERY_SEED", "17")]), Ok(Some(17..18)));
        assert_eq!(seeds(&[("ORRERY_SEEDS", "0..=9")]), Ok(Some(0..10)));
        assert_eq!(seeds(&[("ORRERY_SEEDS", "0..100"), ("ORRERY_SEED", "3")]), Ok(Some(3..4)));
        let error = seeds(&[("ORRERY_SEEDS", "ten")]).expect_err("malformed");
        assert!(error.starts_with("ORRERY_SEEDS=\"ten\": invalid seed range"), "{error}");
    }
}
