//! Command-line values parsed by hand: seed ranges, shards (also from a cluster scheduler's
//! environment), and the event filter of `trace` and `diff`.

use std::ops::Range;

use crate::topology::Topology;
use crate::trace::Filter;

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
    Ok(n..n + 1)
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
        for bad in ["", "a..b", "5..5", "9..=3", "1..2..3", "-1..4"] {
            assert!(parse_seed_range(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        for bad in ["0/4", "5/4", "1/0", "x", "1-4"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
