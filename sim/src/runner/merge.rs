//! Merging the JSON-lines outputs of a sharded sweep, and proving they are complete: every
//! seed of the range appears exactly once, in the shard that owns it, and no shard's output
//! was cut short. The merged summary and sweep fingerprint equal those of an unsharded run.
//!
//! An output is a sequence of groups, one per scenario run: seed records followed by one
//! summary record (`orrery run --json`). Outputs may be concatenated in any order.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde_json::Value;

use super::report::fingerprint_pairs;
use super::{Failure, FailureKind, SeedReport, Summary};
use crate::scenario::Expect;
use crate::time::Instant;

/// One scenario's seeds, merged across shards.
#[derive(Debug, Clone)]
pub struct MergedScenario {
    pub scenario: String,
    /// The scenario file the sweep ran, for replay commands.
    pub path: String,
    pub seeds: Range<u64>,
    /// How many shards the outputs came from (1 for an unsharded run).
    pub shards: u64,
    pub expect: Expect,
    /// Every seed's report, in seed order (fingerprint, events, failure; no stats).
    pub reports: Vec<SeedReport>,
    /// Sum of the shards' wall times.
    pub wall_seconds: f64,
}

impl MergedScenario {
    /// The totals, as an unsharded sweep would print them.
    pub fn summary(&self) -> Summary {
        Summary::new(&self.scenario, &self.reports, self.wall_seconds)
    }

    /// The sweep fingerprint an unsharded run of the same range gives.
    pub fn sweep_fingerprint(&self) -> u64 {
        fingerprint_pairs(self.reports.iter().map(|r| (r.seed, r.fingerprint)))
    }

    /// Whether the merged sweep met the scenario's expectation (as `orrery run` judges it).
    pub fn as_expected(&self) -> bool {
        let failed = self.reports.iter().any(|r| r.failure.is_some());
        match self.expect {
            Expect::Pass => !failed,
            Expect::Fail { .. } => failed,
        }
    }
}

/// Why outputs do not merge: a malformed line, or seeds missing, duplicated or misplaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError {
    /// `file:line`, or the scenario name for coverage problems.
    pub at: String,
    pub message: String,
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// One run's group: its seed records and the summary that closed them.
struct Group {
    at: String,
    path: String,
    seeds: Range<u64>,
    shard: Option<(u64, u64)>,
    expect: Expect,
    seeds_run: u64,
    wall_seconds: f64,
    reports: Vec<SeedReport>,
}

/// Merges outputs given as (source name, text). Every problem is reported, not just the first.
pub fn merge_json_lines(
    outputs: &[(String, String)],
) -> Result<Vec<MergedScenario>, Vec<MergeError>> {
    let mut errors = Vec::new();
    let mut groups: BTreeMap<String, Vec<Group>> = BTreeMap::new();
    for (source, text) in outputs {
        let mut pending: Vec<SeedReport> = Vec::new();
        let mut pending_scenario: Option<String> = None;
        for (index, line) in text.lines().enumerate() {
            let at = format!("{source}:{}", index + 1);
            if line.trim().is_empty() {
                continue;
            }
            let parsed = serde_json::from_str::<Value>(line)
                .map_err(|error| format!("not a JSON record: {error}"))
                .and_then(|record| parse_record(&record));
            match parsed {
                Err(message) => errors.push(MergeError { at, message }),
                Ok(Record::Seed(scenario, report)) => {
                    if pending_scenario.as_ref().is_some_and(|s| *s != scenario) {
                        errors.push(MergeError {
                            at,
                            message: format!(
                                "a record of scenario {scenario} among records of {} with no summary between them",
                                pending_scenario.as_deref().unwrap_or("")
                            ),
                        });
                        continue;
                    }
                    pending_scenario = Some(scenario);
                    pending.push(report);
                }
                Ok(Record::Summary { scenario, path, seeds, shard, expect, seeds_run, wall }) => {
                    if pending_scenario.as_ref().is_some_and(|s| *s != scenario) {
                        errors.push(MergeError {
                            at: at.clone(),
                            message: format!(
                                "summary of {scenario} closes records of another scenario"
                            ),
                        });
                    }
                    pending_scenario = None;
                    groups.entry(scenario).or_default().push(Group {
                        at,
                        path,
                        seeds,
                        shard,
                        expect,
                        seeds_run,
                        wall_seconds: wall,
                        reports: std::mem::take(&mut pending),
                    });
                }
            }
        }
        if !pending.is_empty() {
            errors.push(MergeError {
                at: source.clone(),
                message: format!(
                    "{} seed record(s) after the last summary: this output was cut short",
                    pending.len()
                ),
            });
        }
    }
    let mut merged = Vec::new();
    for (scenario, groups) in groups {
        match merge_scenario(&scenario, groups) {
            Ok(scenario) => merged.push(scenario),
            Err(mut problems) => errors.append(&mut problems),
        }
    }
    if errors.is_empty() {
        Ok(merged)
    } else {
        Err(errors)
    }
}

fn merge_scenario(scenario: &str, groups: Vec<Group>) -> Result<MergedScenario, Vec<MergeError>> {
    let problem = |message: String| MergeError { at: format!("scenario {scenario}"), message };
    let mut errors = Vec::new();
    let first = &groups[0];
    let (seeds, expect, path) = (first.seeds.clone(), first.expect, first.path.clone());
    for group in &groups {
        if group.seeds != seeds {
            errors.push(MergeError {
                at: group.at.clone(),
                message: format!(
                    "seed range {}..{} differs from {}..{} in {}",
                    group.seeds.start, group.seeds.end, seeds.start, seeds.end, first.at
                ),
            });
        }
        if group.expect != expect {
            errors.push(MergeError {
                at: group.at.clone(),
                message: format!("expectation differs from the one in {}", first.at),
            });
        }
        if group.reports.len() as u64 != group.seeds_run {
            errors.push(MergeError {
                at: group.at.clone(),
                message: format!(
                    "the summary counts {} seed(s) but {} record(s) precede it",
                    group.seeds_run,
                    group.reports.len()
                ),
            });
        }
    }
    // Shards: either one unsharded output, or K = 1..=N each exactly once.
    let shards = match first.shard {
        None if groups.len() == 1 => 1,
        _ => {
            let n = first.shard.map_or(0, |(_, n)| n);
            let mut owners: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
            for group in &groups {
                match group.shard {
                    Some((k, count)) if count == n => owners.entry(k).or_default().push(&group.at),
                    Some((k, count)) => errors.push(MergeError {
                        at: group.at.clone(),
                        message: format!("shard {k}/{count} mixed with shards of {n}"),
                    }),
                    None => errors.push(MergeError {
                        at: group.at.clone(),
                        message:
                            "an unsharded output mixed with other outputs of the same scenario"
                                .to_string(),
                    }),
                }
            }
            let missing: Vec<String> =
                (1..=n).filter(|k| !owners.contains_key(k)).map(|k| format!("{k}/{n}")).collect();
            if !missing.is_empty() {
                errors.push(problem(format!("missing shard(s): {}", missing.join(", "))));
            }
            for (k, places) in owners.iter().filter(|(_, places)| places.len() > 1) {
                errors.push(problem(format!("shard {k}/{n} appears twice: {}", places.join(", "))));
            }
            n
        }
    };
    let mut reports: Vec<SeedReport> = Vec::new();
    let mut misplaced = Vec::new();
    for group in &groups {
        for report in &group.reports {
            let owned = group.shard.is_none_or(|(k, n)| report.seed % n == k - 1);
            if !seeds.contains(&report.seed) || !owned {
                misplaced.push(report.seed);
            }
            reports.push(report.clone());
        }
    }
    reports.sort_by_key(|r| r.seed);
    let duplicated: Vec<u64> =
        reports.windows(2).filter(|w| w[0].seed == w[1].seed).map(|w| w[0].seed).collect();
    reports.dedup_by_key(|r| r.seed);
    let seen = reports.iter().filter(|r| seeds.contains(&r.seed)).count() as u64;
    if seen < seeds.end - seeds.start {
        let missing = missing_seeds(&reports, &seeds);
        errors.push(problem(format!(
            "{} seed(s) of {}..{} missing: {}",
            seeds.end - seeds.start - seen,
            seeds.start,
            seeds.end,
            missing
        )));
    }
    if !duplicated.is_empty() {
        errors.push(problem(format!("seed(s) appear more than once: {}", list(&duplicated))));
    }
    if !misplaced.is_empty() {
        misplaced.sort_unstable();
        errors.push(problem(format!(
            "seed(s) outside the range or in a shard that does not own them: {}",
            list(&misplaced)
        )));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let wall_seconds = groups.iter().map(|g| g.wall_seconds).sum();
    Ok(MergedScenario {
        scenario: scenario.to_string(),
        path,
        seeds,
        shards,
        expect,
        reports,
        wall_seconds,
    })
}

/// The missing seeds as compact ranges (`3, 7..10`), at most 10 of them.
fn missing_seeds(sorted: &[SeedReport], seeds: &Range<u64>) -> String {
    let mut gaps: Vec<Range<u64>> = Vec::new();
    let mut next = seeds.start;
    for seed in sorted.iter().map(|r| r.seed).filter(|s| seeds.contains(s)) {
        if seed > next {
            gaps.push(next..seed);
        }
        next = seed + 1;
    }
    if next < seeds.end {
        gaps.push(next..seeds.end);
    }
    let shown: Vec<String> = gaps
        .iter()
        .take(10)
        .map(|g| {
            if g.end - g.start == 1 {
                g.start.to_string()
            } else {
                format!("{}..{}", g.start, g.end)
            }
        })
        .collect();
    let more =
        if gaps.len() > 10 { format!(" (+{} more gaps)", gaps.len() - 10) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

fn list(seeds: &[u64]) -> String {
    let shown: Vec<String> = seeds.iter().take(10).map(u64::to_string).collect();
    let more =
        if seeds.len() > 10 { format!(" (+{} more)", seeds.len() - 10) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

enum Record {
    Seed(String, SeedReport),
    Summary {
        scenario: String,
        path: String,
        seeds: Range<u64>,
        shard: Option<(u64, u64)>,
        expect: Expect,
        seeds_run: u64,
        wall: f64,
    },
}

fn parse_record(record: &Value) -> Result<Record, String> {
    let text = |key: &str| {
        record.get(key).and_then(Value::as_str).ok_or_else(|| format!("missing text field {key:?}"))
    };
    let number = |value: Option<&Value>, key: &str| {
        value.and_then(Value::as_u64).ok_or_else(|| format!("missing number field {key:?}"))
    };
    let scenario = text("scenario")?.to_string();
    match text("type")? {
        "seed" => {
            let failure = match record.get("failure") {
                None | Some(Value::Null) => None,
                Some(failure) => {
                    let field = |key: &str| {
                        failure
                            .get(key)
                            .and_then(Value::as_str)
                            .ok_or_else(|| format!("missing text field failure.{key}"))
                    };
                    let kind = field("kind")?;
                    Some(Failure {
                        kind: FailureKind::from_name(kind)
                            .ok_or_else(|| format!("unknown failure kind {kind:?}"))?,
                        check: field("check")?.to_string(),
                        message: field("message")?.to_string(),
                        vtime: Instant::from_nanos(number(
                            failure.get("vtime_ns"),
                            "failure.vtime_ns",
                        )?),
                    })
                }
            };
            let fingerprint = u64::from_str_radix(text("fingerprint")?, 16)
                .map_err(|_| "fingerprint is not 16 hex digits".to_string())?;
            let unknown = record
                .get("unknown")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .map(|item| {
                            let field = |key| item.get(key).and_then(Value::as_str).unwrap_or("");
                            (field("check").to_string(), field("why").to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(Record::Seed(
                scenario,
                SeedReport {
                    seed: number(record.get("seed"), "seed")?,
                    fingerprint,
                    events: number(record.get("events"), "events")?,
                    vtime: Instant::from_nanos(number(record.get("vtime_ns"), "vtime_ns")?),
                    failure,
                    unknown,
                    stats: String::new(),
                    coverage: record
                        .get("sometimes")
                        .and_then(Value::as_object)
                        .map(|points| {
                            points
                                .iter()
                                .map(|(label, reached)| {
                                    (label.clone(), reached.as_bool().unwrap_or(false))
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                },
            ))
        }
        "summary" => {
            let range = text("seeds")?;
            let seeds = range
                .split_once("..")
                .and_then(|(a, b)| Some(a.parse().ok()?..b.parse().ok()?))
                .ok_or_else(|| format!("seeds {range:?} is not a range A..B"))?;
            let shard = match record.get("shard") {
                None | Some(Value::Null) => None,
                Some(value) => {
                    let text = value.as_str().unwrap_or("");
                    let parsed = text
                        .split_once('/')
                        .and_then(|(k, n)| Some((k.parse().ok()?, n.parse().ok()?)))
                        .filter(|&(k, n): &(u64, u64)| k >= 1 && k <= n);
                    Some(parsed.ok_or_else(|| format!("shard {value} is not K/N"))?)
                }
            };
            let expect = match record.get("expect") {
                Some(Value::String(s)) if s == "pass" => Expect::Pass,
                Some(value) => Expect::Fail {
                    within_seeds: number(
                        value.pointer("/fail/within_seeds"),
                        "expect.fail.within_seeds",
                    )?,
                },
                None => return Err("missing field \"expect\"".to_string()),
            };
            Ok(Record::Summary {
                scenario,
                path: text("path").unwrap_or("").to_string(),
                seeds,
                shard,
                expect,
                seeds_run: number(record.get("seeds_run"), "seeds_run")?,
                wall: record.get("wall_s").and_then(Value::as_f64).unwrap_or(0.0),
            })
        }
        other => Err(format!("unknown record type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(seed: u64) -> String {
        format!(
            r#"{{"type":"seed","scenario":"s","seed":{seed},"fingerprint":"{seed:016x}","events":1,"vtime_ns":0,"failure":null,"unknown":[]}}"#
        )
    }

    fn summary(shard: &str, seeds_run: u64) -> String {
        format!(
            r#"{{"type":"summary","scenario":"s","path":"s.yaml","seeds":"0..4","shard":{shard},"expect":"pass","seeds_run":{seeds_run}}}"#
        )
    }

    fn output(lines: &[String]) -> (String, String) {
        ("out".to_string(), lines.join("\n"))
    }

    // Proves a seed in a shard that does not own it, a summary that miscounts its records and
    // a seed outside the range are each refused, while a complete set merges.
    #[test]
    fn refuses_misplaced_and_miscounted_seeds() {
        let complete = [
            output(&[seed(0), seed(2), summary(r#""1/2""#, 2)]),
            output(&[seed(1), seed(3), summary(r#""2/2""#, 2)]),
        ];
        let merged = merge_json_lines(&complete).expect("a complete set merges");
        assert_eq!(merged[0].reports.iter().map(|r| r.seed).collect::<Vec<_>>(), [0, 1, 2, 3]);

        let misplaced = [
            output(&[seed(0), seed(1), summary(r#""1/2""#, 2)]),
            output(&[seed(3), seed(2), summary(r#""2/2""#, 2)]),
        ];
        let errors = merge_json_lines(&misplaced).expect_err("misplaced seeds");
        assert!(errors.iter().any(|e| e.message.contains("does not own them: 1, 2")), "{errors:?}");

        let miscounted = [output(&[seed(0), seed(1), seed(2), seed(3), summary("null", 5)])];
        let errors = merge_json_lines(&miscounted).expect_err("miscounted");
        assert!(errors.iter().any(|e| e.message.contains("counts 5 seed(s) but 4")), "{errors:?}");

        let outside = [output(&[seed(0), seed(1), seed(2), seed(3), seed(9), summary("null", 5)])];
        let errors = merge_json_lines(&outside).expect_err("outside the range");
        assert!(errors.iter().any(|e| e.message.contains("outside the range")), "{errors:?}");

        let garbage = [output(&["{not json".to_string()])];
        let errors = merge_json_lines(&garbage).expect_err("garbage");
        assert_eq!(errors[0].at, "out:1");
    }
}
