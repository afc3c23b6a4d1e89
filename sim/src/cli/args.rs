//! The arguments of `run`, and command-line values parsed by hand: seed ranges (and which of
//! `--seed`, `--seeds` and their variables wins), shards (also from a cluster scheduler's
//! environment), booleans as clap reads them, and the event filter of `trace` and `diff`.
//!
//! Every flag of `run` has an `ORRERY_*` mirror, read the way clap reads them: a flag given
//! on the command line always beats its variable (and any other variable for the same
//! setting: `--seed 5` beats `ORRERY_SEEDS`), booleans accept `1`/`0`, `true`/`false`,
//! `yes`/`no`, `on`/`off`.

use std::ops::Range;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::parser::ValueSource;
use clap::ArgMatches;

use crate::scenario::Override;
use crate::topology::Topology;
use crate::trace::Filter;

/// `orrery run`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub(super) struct RunArgs {
    /// Scenario files (YAML).
    #[arg(required = true)]
    pub(super) scenarios: Vec<PathBuf>,
    /// Seeds as a half-open range `A..B` or inclusive `A..=B` (default: the scenario's).
    #[arg(long, env = "ORRERY_SEEDS")]
    pub(super) seeds: Option<String>,
    /// One seed.
    #[arg(long, env = "ORRERY_SEED")]
    pub(super) seed: Option<String>,
    /// Threads (default: all cores).
    #[arg(long, env = "ORRERY_JOBS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) jobs: Option<u64>,
    /// This machine's share of the seeds: K/N owns the seeds with seed mod N = K-1.
    #[arg(long, env = "ORRERY_SHARD")]
    pub(super) shard: Option<String>,
    /// Run every seed twice; a difference is a failure naming the first diverging event.
    #[arg(long, env = "ORRERY_CHECK_DETERMINISM", value_parser = BoolishValueParser::new())]
    pub(super) check_determinism: bool,
    /// Write the full trace of the (single) seed to this file.
    #[arg(long, env = "ORRERY_TRACE")]
    pub(super) trace: Option<PathBuf>,
    /// JSON lines on stdout: a sweep header, one record per seed (in seed order), a summary.
    #[arg(long, env = "ORRERY_JSON", value_parser = BoolishValueParser::new())]
    pub(super) json: bool,
    /// Where the journal and failure capsules go [default: orrery-out].
    #[arg(long, env = "ORRERY_OUT")]
    pub(super) out: Option<PathBuf>,
    /// Seconds without progress (no event processed) after which a seed is reported as hung.
    #[arg(long, env = "ORRERY_HANG_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) hang_timeout: u64,
    /// Write the sweeps' figures to this new file in the Prometheus text format (seeds by
    /// result, failures by check and kind, events, virtual and wall time, fault effects,
    /// sometimes-points): see docs/METRICS.md. An existing file is never overwritten.
    #[arg(long, env = "ORRERY_METRICS")]
    pub(super) metrics: Option<PathBuf>,
    /// Go on with the interrupted sweep whose journal is in this directory (or this journal
    /// file): only the seeds it has not recorded run; the summary is the whole sweep's.
    #[arg(long, env = "ORRERY_RESUME")]
    pub(super) resume: Option<PathBuf>,
    /// After the sweep, shrink the first failure of each (check, kind) into its capsule.
    #[arg(long, env = "ORRERY_SHRINK", value_parser = BoolishValueParser::new())]
    pub(super) shrink: bool,
    #[command(flatten)]
    pub(super) shrink_budget: super::shrink::ShrinkBudget,
    #[command(flatten)]
    pub(super) overrides: OverrideArgs,
}

/// Where a value came from, for precedence and for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Given {
    Flag(&'static str),
    Variable(&'static str),
}

impl Given {
    /// How an error names the value: `--seed 5` or `ORRERY_SEED=5`.
    pub(super) fn show(&self, text: &str) -> String {
        match self {
            Given::Flag(flag) => format!("{flag} {text}"),
            Given::Variable(name) => format!("{name}={text}"),
        }
    }
}

/// Where `id`'s value came from, if it has one: its flag, or its variable.
pub(super) fn given(
    matches: Option<&ArgMatches>,
    id: &str,
    flag: &'static str,
    variable: &'static str,
) -> Option<Given> {
    match matches?.value_source(id)? {
        ValueSource::CommandLine => Some(Given::Flag(flag)),
        ValueSource::EnvVariable => Some(Given::Variable(variable)),
        _ => None,
    }
}

/// The seeds asked for by `--seed`/`--seeds` or their variables, if any, with where they came
/// from. A flag beats every variable; `--seed` and `--seeds` together are an error; between
/// the two variables the single seed wins (as in `TestRun`).
pub(super) fn chosen_seeds(
    seeds: Option<(&str, Given)>,
    seed: Option<(&str, Given)>,
) -> Result<Option<(Range<u64>, Given, String)>, String> {
    let is_flag = |given: &Option<(&str, Given)>| matches!(given, Some((_, Given::Flag(_))));
    let pick = match (is_flag(&seeds), is_flag(&seed)) {
        (true, true) => return Err("--seed and --seeds both given: choose one".to_string()),
        (true, false) => seeds.map(|s| (s, false)),
        (false, true) => seed.map(|s| (s, true)),
        (false, false) => seed.map(|s| (s, true)).or(seeds.map(|s| (s, false))),
    };
    let Some(((text, given), single)) = pick else { return Ok(None) };
    let range = if single { parse_one_seed(text) } else { parse_seed_range(text) };
    let range = range.map_err(|message| format!("{}: {message}", given.show(text)))?;
    Ok(Some((range, given.clone(), given.show(text))))
}

/// Parses clap's boolish values: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off` (any case).
pub fn parse_boolish(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Ok(true),
        "0" | "false" | "f" | "no" | "n" | "off" => Ok(false),
        _ => Err(format!("{text:?} is not a boolean: expected 1/0, true/false, yes/no or on/off")),
    }
}

/// Parses one seed `N` as the range `N..N+1`.
fn parse_one_seed(text: &str) -> Result<Range<u64>, String> {
    let seed: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid seed {text:?}: expected a whole number"))?;
    single(seed)
}

/// The range of one seed; the largest u64 has none (ranges are half-open).
fn single(seed: u64) -> Result<Range<u64>, String> {
    let end = seed.checked_add(1).ok_or_else(|| {
        format!(
            "seed {seed} is out of range: seed ranges are half-open, so the largest seed is {}",
            u64::MAX - 1
        )
    })?;
    Ok(seed..end)
}

/// `--param KEY=VALUE` and `--set PATH=VALUE`: a scenario changed from the command line
/// without editing it (every `--param` in order, then every `--set`; a later one wins).
#[derive(clap::Args, Debug, Clone, Default)]
pub(super) struct OverrideArgs {
    /// Set a workload parameter: `--param bug=early-ack` (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub(super) params: Vec<String>,
    /// Set any scenario key, the path dot-separated and the value YAML:
    /// `--set phases.chaos=5s`, `--set network.loss_probability=0.1` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub(super) sets: Vec<String>,
}

impl OverrideArgs {
    /// The overrides, in the order they apply.
    pub(super) fn parse(&self) -> Result<Vec<Override>, String> {
        let params = self.params.iter().map(|text| Override::param(text));
        params.chain(self.sets.iter().map(|text| Override::set(text))).collect()
    }

    /// The overrides as command-line words, for a replay command.
    pub(super) fn words(&self) -> Vec<String> {
        let params = self.params.iter().flat_map(|text| ["--param".to_string(), text.clone()]);
        params.chain(self.sets.iter().flat_map(|t| ["--set".to_string(), t.clone()])).collect()
    }

    /// Whether any override was given.
    pub(super) fn is_empty(&self) -> bool {
        self.params.is_empty() && self.sets.is_empty()
    }
}

/// Which events `trace` and `diff` look at; see `trace::Filter`.
#[derive(clap::Args, Debug, Clone)]
pub(super) struct FilterArgs {
    /// Only events at these nodes: `n1,n2`, or the scenario's node names (`s0,c1`) when the
    /// trace comes from a scenario; `-` for the world's own events.
    #[arg(long)]
    pub(super) node: Option<String>,
    /// Only events of these kinds: `deliver,crash`.
    #[arg(long)]
    pub(super) kind: Option<String>,
    /// Only events at or after this virtual time: `2s`, `1500ms`.
    #[arg(long)]
    pub(super) from: Option<String>,
    /// Only events before this virtual time.
    #[arg(long)]
    pub(super) to: Option<String>,
}

impl FilterArgs {
    /// The filter; node names of `topology` (the scenario's, if known) stand for their ids.
    pub(super) fn parse(&self, topology: Option<&Topology>) -> Result<Filter, String> {
        let nodes = self.node.as_deref().map(|text| {
            text.split(',')
                .map(|item| match topology.and_then(|t| t.find(item.trim())) {
                    Some(node) => node.to_string(),
                    None => item.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        });
        Filter::parse(
            nodes.as_deref(),
            self.kind.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
        )
        .map_err(|message| match topology {
            Some(topology) if message.starts_with("bad node") => {
                let names: Vec<String> = topology
                    .nodes()
                    .map(|node| match topology.node(node) {
                        Some(spec) if !spec.name.is_empty() => format!("{} ({node})", spec.name),
                        _ => node.to_string(),
                    })
                    .collect();
                format!("{message}, or one of this scenario's nodes: {}", names.join(", "))
            }
            _ => message,
        })
    }
}

/// Parses `A..B` (half-open, as in Rust) or `A..=B` or a single `N`.
pub fn parse_seed_range(text: &str) -> Result<Range<u64>, String> {
    let bad = || format!("invalid seed range {text:?}: expected A..B (half-open), A..=B or N");
    let text = text.trim();
    if let Some((a, b)) = text.split_once("..=") {
        let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        let end = b.checked_add(1).ok_or_else(bad)?;
        return if a <= b { Ok(a..end) } else { Err(format!("empty seed range {text:?}")) };
    }
    if let Some((a, b)) = text.split_once("..") {
        let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        return if a < b { Ok(a..b) } else { Err(format!("empty seed range {text:?}")) };
    }
    let n: u64 = text.parse().map_err(|_| bad())?;
    single(n)
}

/// Parses `K/N` with K in 1..=N (nextest's partition convention).
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("invalid shard {text:?}: expected K/N with 1 <= K <= N");
    let (k, n) = text.trim().split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The shard from a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, 0-based, with
/// `ORRERY_SHARD_COUNT`) or a Slurm array (`SLURM_ARRAY_TASK_ID`, `_MIN`, `_COUNT`).
pub(super) fn shard_from_environment() -> Result<Option<(u64, u64)>, String> {
    let var = |name: &str| std::env::var(name).ok();
    let number = |name: &str, text: String| {
        text.trim().parse::<u64>().map_err(|_| format!("{name}={text:?} is not a number"))
    };
    if let Some(index) = var("JOB_COMPLETION_INDEX") {
        let count = var("ORRERY_SHARD_COUNT").ok_or(
            "JOB_COMPLETION_INDEX is set but ORRERY_SHARD_COUNT is not: how many shards are there?",
        )?;
        let (index, count) =
            (number("JOB_COMPLETION_INDEX", index)?, number("ORRERY_SHARD_COUNT", count)?);
        return parse_shard(&format!("{}/{count}", index + 1)).map(Some);
    }
    if let Some(task) = var("SLURM_ARRAY_TASK_ID") {
        let task = number("SLURM_ARRAY_TASK_ID", task)?;
        let min = var("SLURM_ARRAY_TASK_MIN")
            .map(|t| number("SLURM_ARRAY_TASK_MIN", t))
            .transpose()?
            .unwrap_or(0);
        let count = var("SLURM_ARRAY_TASK_COUNT")
            .ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
        let count = number("SLURM_ARRAY_TASK_COUNT", count)?;
        return parse_shard(&format!("{}/{count}", task.saturating_sub(min) + 1)).map(Some);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves seed ranges are half-open as in Rust, `..=` is inclusive, and bad ones are errors.
    #[test]
    fn parses_seed_ranges_and_shards() {
        assert_eq!(parse_seed_range("0..1000"), Ok(0..1000));
        assert_eq!(parse_seed_range("5..=7"), Ok(5..8));
        assert_eq!(parse_seed_range("42"), Ok(42..43));
        for bad in ["", "a..b", "5..5", "9..=3", "1..2..3", "-1..4", "18446744073709551615"] {
            assert!(parse_seed_range(bad).is_err(), "{bad}");
        }
        let error = parse_one_seed("18446744073709551615").expect_err("no room for it");
        assert!(error.contains("the largest seed is 18446744073709551614"), "{error}");
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        for bad in ["0/4", "5/4", "1/0", "x", "1-4"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod precedence_tests {
    use super::*;

    // Proves a flag beats any variable for the seeds, two flags conflict, ORRERY_SEED beats
    // ORRERY_SEEDS when both come from the environment, and errors name where the value came
    // from.
    #[test]
    fn a_flag_beats_its_variable() {
        let flag = |f| Given::Flag(f);
        let var = |v| Given::Variable(v);
        let chosen = |seeds, seed| chosen_seeds(seeds, seed).map(|c| c.map(|(r, g, _)| (r, g)));
        assert_eq!(
            chosen(Some(("0..100", var("ORRERY_SEEDS"))), Some(("5", flag("--seed")))),
            Ok(Some((5..6, flag("--seed"))))
        );
        assert_eq!(
            chosen(Some(("0..3", flag("--seeds"))), Some(("5", var("ORRERY_SEED")))),
            Ok(Some((0..3, flag("--seeds"))))
        );
        assert_eq!(
            chosen(Some(("0..100", var("ORRERY_SEEDS"))), Some(("5", var("ORRERY_SEED")))),
            Ok(Some((5..6, var("ORRERY_SEED"))))
        );
        assert!(chosen(Some(("0..3", flag("--seeds"))), Some(("5", flag("--seed")))).is_err());
        let error = chosen(Some(("ten", var("ORRERY_SEEDS"))), None).expect_err("bad");
        assert!(error.starts_with("ORRERY_SEEDS=ten: invalid seed range"), "{error}");
        let error = chosen(None, Some(("18446744073709551615", flag("--seed")))).expect_err("max");
        assert!(
            error.starts_with(
                "--seed 18446744073709551615: seed 18446744073709551615 is out of range"
            ),
            "{error}"
        );
        for (text, value) in [("1", true), ("0", false), ("TRUE", true), ("off", false)] {
            assert_eq!(parse_boolish(text), Ok(value), "{text}");
        }
        assert!(parse_boolish("maybe").is_err());
    }
}
