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
//! `ORRERY_SEED=N` or `ORRERY_SEEDS=A..B` in the environment override the range, so a failure
//! printed by a nightly run replays with `ORRERY_SEED=17 cargo test raft_survives_partitions`.
//! The environment is read once, before any run starts; runs themselves never see it.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    first_failures, render_failure, render_summary, sweep, Planner, SeedReport, Summary,
    SweepOptions,
};
use crate::cli::parse_seed_range;
use crate::scenario::{self, Expect, Scenario};
use crate::workload::Registry;

/// A scenario to sweep from a test. Build it, then `run()` or one of the `assert_*` methods.
pub struct TestRun {
    source: Source,
    registry: Arc<Registry>,
    seeds: Option<Range<u64>>,
    options: SweepOptions,
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
        for report in first_failures(&self.reports) {
            text.push_str(&render_failure(self.scenario.name(), &self.origin, report));
            let _ = writeln!(text, "  or rerun this test with ORRERY_SEED={}", report.seed);
        }
        text.push_str(&render_summary(&self.summary));
        text
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
            options: SweepOptions::default(),
        }
    }

    /// The seeds to run (half-open); default: the scenario's `seeds`.
    pub fn seeds(mut self, seeds: Range<u64>) -> TestRun {
        self.seeds = Some(seeds);
        self
    }

    /// Threads to use; default: every core.
    pub fn jobs(mut self, jobs: usize) -> TestRun {
        self.options.jobs = jobs;
        self
    }

    /// Wall-clock time after which a seed is reported as hung (default 60 s).
    pub fn hang_timeout(mut self, timeout: std::time::Duration) -> TestRun {
        self.options.hang_timeout = timeout;
        self
    }

    /// Run every seed twice; a difference fails the seed, naming the first diverging event.
    pub fn check_determinism(mut self) -> TestRun {
        self.options.check_determinism = true;
        self
    }

    /// Runs the sweep. Panics (the test fails) with the rendered errors if the scenario does
    /// not load, or if `ORRERY_SEED(S)` is malformed.
    pub fn run(self) -> TestOutcome {
        let (scenario, origin) = match &self.source {
            Source::File(path) => {
                (scenario::load(path, &self.registry), path.display().to_string())
            }
            Source::Yaml { name, text } => {
                (scenario::parse(name, text.as_bytes(), &self.registry), name.clone())
            }
        };
        let scenario = match scenario {
            Ok(scenario) => scenario,
            Err(errors) => panic!("orrery: the scenario does not load:\n{errors}"),
        };
        let seeds = match seeds_from_environment() {
            Ok(Some(seeds)) => seeds,
            Ok(None) => self.seeds.clone().unwrap_or_else(|| scenario.default_seeds()),
            Err(message) => panic!("orrery: {message}"),
        };
        let seeds: Vec<u64> = seeds.collect();
        let planned = Arc::new(scenario.clone());
        let planner: Arc<Planner> = Arc::new(move |seed| planned.sample(seed));
        #[allow(clippy::disallowed_methods)] // tidy: allow (reports wall time only)
        let started = std::time::Instant::now();
        let reports = sweep(planner, &seeds, self.registry.clone(), self.options, |_, _, _| {});
        let summary = Summary::new(scenario.name(), &reports, started.elapsed().as_secs_f64());
        TestOutcome { scenario, origin, reports, summary }
    }

    /// Every seed passes, whatever the scenario expects.
    pub fn assert_passes(self) -> TestOutcome {
        let outcome = self.run();
        if outcome.summary.failed() > 0 {
            panic!(
                "orrery: {} of {} seed(s) failed\n{}",
                outcome.summary.failed(),
                outcome.summary.seeds_run,
                outcome.explain()
            );
        }
        outcome
    }

    /// The scenario's `expect`: every seed passes, or (`expect: fail`) some seed fails.
    pub fn assert_expected(self) -> TestOutcome {
        let outcome = self.run();
        match outcome.scenario.expect() {
            Expect::Pass if outcome.summary.failed() > 0 => panic!(
                "orrery: {} of {} seed(s) failed\n{}",
                outcome.summary.failed(),
                outcome.summary.seeds_run,
                outcome.explain()
            ),
            Expect::Fail { within_seeds } if outcome.summary.failed() == 0 => panic!(
                "orrery: expected a failure within {within_seeds} seeds, but all {} passed\n{}",
                outcome.summary.seeds_run,
                outcome.explain()
            ),
            _ => outcome,
        }
    }
}

/// `ORRERY_SEED=N` or `ORRERY_SEEDS=A..B` (or `A..=B`), if set.
fn seeds_from_environment() -> Result<Option<Range<u64>>, String> {
    seeds_override(|name| std::env::var(name).ok())
}

/// The seed range the variables `ORRERY_SEED` (first) or `ORRERY_SEEDS` ask for, if any.
fn seeds_override(var: impl Fn(&str) -> Option<String>) -> Result<Option<Range<u64>>, String> {
    for name in ["ORRERY_SEED", "ORRERY_SEEDS"] {
        if let Some(text) = var(name) {
            return parse_seed_range(&text).map(Some).map_err(|e| format!("{name}: {e}"));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves ORRERY_SEED wins over ORRERY_SEEDS, both accept the CLI's range syntax, and a
    // malformed value is an error naming the variable rather than a silent default.
    #[test]
    fn environment_overrides_the_seed_range() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(seeds_override(env(&[])), Ok(None));
        assert_eq!(seeds_override(env(&[("ORRERY_SEED", "17")])), Ok(Some(17..18)));
        assert_eq!(seeds_override(env(&[("ORRERY_SEEDS", "0..=9")])), Ok(Some(0..10)));
        assert_eq!(
            seeds_override(env(&[("ORRERY_SEEDS", "0..100"), ("ORRERY_SEED", "3")])),
            Ok(Some(3..4))
        );
        let error = seeds_override(env(&[("ORRERY_SEEDS", "ten")])).expect_err("malformed");
        assert!(error.starts_with("ORRERY_SEEDS: invalid seed range"), "{error}");
    }
}
