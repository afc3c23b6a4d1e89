//! Merging the JSON-lines outputs of a sweep (shards, interrupted and resumed runs, journals)
//! and proving they are complete: every seed of the range appears exactly once, in the shard
//! that owns it, and no output was cut short. The merged summary and sweep fingerprint equal
//! those of one uninterrupted, unsharded run.
//!
//! An output is a sequence of groups, one per scenario run: an optional `sweep` header, seed
//! records, then a `summary` (`orrery run --json`, or a journal, where `resume` lines mark
//! where a killed run was taken up again). Outputs may come in any order. Problems are
//! errors, never warnings: an empty input, a torn line, an output without its summary.
//!
//! Outputs are read line by line; what is kept per scenario is a set of seed runs and a
//! `Summary`, so merging a sweep of any size takes memory for its gaps and failures only
//! (unless the merged records themselves are asked for).

use std::collections::BTreeMap;
use std::fmt;
use std::io::BufRead;
use std::ops::Range;

use serde_json::Value;

use super::records::{parse_record, Closing, Record, Scope};
use super::seeds::{SeedRange, SeedSet};
use super::{SeedReport, Summary};
use crate::scenario::Expect;

/// One scenario's seeds, merged across outputs.
#[derive(Debug, Clone)]
pub struct MergedScenario {
    pub scenario: String,
    /// The scenario file the sweep ran, for replay commands.
    pub path: String,
    /// The workload it runs (empty if no output named it).
    pub workload: String,
    pub seeds: Range<u64>,
    /// How many shards the outputs came from (1 for an unsharded run).
    pub shards: u64,
    pub expect: Expect,
    /// The totals, as an unsharded sweep would print them (wall time summed over outputs).
    pub summary: Summary,
    /// Every seed's report in seed order (fingerprint, events, failure; no stats), when asked
    /// for.
    pub reports: Option<Vec<SeedReport>>,
}

impl MergedScenario {
    /// The totals, as an unsharded sweep would print them.
    pub fn summary(&self) -> Summary {
        self.summary.clone()
    }

    /// The sweep fingerprint an unsharded run of the same range gives.
    pub fn sweep_fingerprint(&self) -> u64 {
        self.summary.sweep_fingerprint()
    }

    /// Whether the merged sweep met the scenario's expectation (as `orrery run` judges it):
    /// a seed that could not be set up is never the failure an `expect: fail` looks for.
    pub fn as_expected(&self) -> bool {
        self.summary.as_expected(self.expect)
    }
}

/// Why outputs do not merge: a malformed line, or seeds missing, duplicated or misplaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError {
    /// `file:line`, the file, or the scenario for coverage problems.
    pub at: String,
    pub message: String,
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// Merges outputs given as (source name, text). Every problem is reported, not just the first.
pub fn merge_json_lines(
    outputs: &[(String, String)],
) -> Result<Vec<MergedScenario>, Vec<MergeError>> {
    let inputs: Vec<(String, Box<dyn BufRead + '_>)> = outputs
        .iter()
        .map(|(name, text)| (name.clone(), Box::new(text.as_bytes()) as Box<dyn BufRead>))
        .collect();
    merge_outputs(inputs, true)
}

/// Merges outputs read line by line; with `keep_reports`, the merged records are returned too
/// (in seed order, which takes memory for every seed).
pub fn merge_outputs<'a>(
    inputs: Vec<(String, Box<dyn BufRead + 'a>)>,
    keep_reports: bool,
) -> Result<Vec<MergedScenario>, Vec<MergeError>> {
    let mut merge = Merge { keep_reports, scenarios: BTreeMap::new(), errors: Vec::new() };
    if inputs.is_empty() {
        merge.error("merge", "no outputs to merge".to_string());
    }
    for (source, reader) in inputs {
        merge.read(&source, reader);
    }
    let Merge { scenarios, mut errors, .. } = merge;
    if scenarios.is_empty() && errors.is_empty() {
        errors.push(MergeError {
            at: "merge".to_string(),
            message: "the outputs hold no records (did every shard die before writing?)"
                .to_string(),
        });
    }
    let mut merged = Vec::new();
    for (name, scenario) in scenarios {
        match scenario.finish(&name) {
            Ok(done) => merged.push(done),
            Err(mut problems) => errors.append(&mut problems),
        }
    }
    if errors.is_empty() {
        Ok(merged)
    } else {
        Err(errors)
    }
}

struct Merge {
    keep_reports: bool,
    scenarios: BTreeMap<String, ScenarioMerge>,
    errors: Vec<MergeError>,
}

/// One output's current group.
#[derive(Default)]
struct Group {
    scenario: Option<String>,
    /// The scope a header announced, if the group had one.
    scope: Option<Scope>,
    /// Records seen before the scope was known (outputs without a header), held until the
    /// summary says which shard they belong to.
    held: Vec<SeedReport>,
    records: u64,
}

impl Merge {
    fn error(&mut self, at: &str, message: String) {
        self.errors.push(MergeError { at: at.to_string(), message });
    }

    fn read(&mut self, source: &str, mut reader: Box<dyn BufRead + '_>) {
        let mut group = Group::default();
        let mut line = Vec::new();
        let mut number = 0usize;
        let mut records_in_output = 0u64;
        let mut last_was_summary = false;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    self.error(source, format!("cannot read: {error}"));
                    return;
                }
            }
            number += 1;
            let at = format!("{source}:{number}");
            let whole = line.last() == Some(&b'\n');
            let Ok(text) = std::str::from_utf8(&line) else {
                self.error(&at, "not UTF-8 text".to_string());
                continue;
            };
            if text.trim().is_empty() {
                continue;
            }
            let record = serde_json::from_str::<Value>(text)
                .map_err(|error| format!("not a JSON record: {error}"))
                .and_then(|value| parse_record(&value));
            let record = match record {
                Ok(record) => record,
                Err(_) if !whole => {
                    self.error(
                        &at,
                        "the last line is cut short (no line end): the writer was killed \
                         mid-line"
                            .to_string(),
                    );
                    continue;
                }
                Err(message) => {
                    self.error(&at, message);
                    continue;
                }
            };
            records_in_output += 1;
            last_was_summary = matches!(record, Record::Summary { .. });
            self.take(&at, &mut group, record);
        }
        if records_in_output == 0 {
            self.error(
                source,
                "empty: no records (did this shard die before writing?)".to_string(),
            );
        } else if group.records > 0 || !last_was_summary {
            let message = if group.records > 0 {
                format!(
                    "{} seed record(s) after the last summary: this output was cut short",
                    group.records
                )
            } else {
                "no summary after the last records: this output was cut short".to_string()
            };
            self.error(source, message);
        }
    }

    fn take(&mut self, at: &str, group: &mut Group, record: Record) {
        let keep = self.keep_reports;
        match record {
            Record::Sweep { scenario, scope, digest } => {
                if group.records > 0 {
                    self.error(at, "a sweep header among records of an unfinished run".to_string());
                }
                let merged = self
                    .scenarios
                    .entry(scenario.clone())
                    .or_insert_with(|| ScenarioMerge::new(keep));
                let checked =
                    merged.check_scope(at, &scope).and_then(|()| merged.check_digest(at, digest));
                if let Err(message) = checked {
                    self.error(at, message);
                }
                *group = Group { scenario: Some(scenario), scope: Some(scope), ..Group::default() };
            }
            Record::Seed { scenario, report } => {
                if group.scenario.as_ref().is_some_and(|s| *s != scenario) {
                    let message = format!(
                        "a record of scenario {scenario} among records of {} with no summary between them",
                        group.scenario.as_deref().unwrap_or("")
                    );
                    self.error(at, message);
                    return;
                }
                group.scenario = Some(scenario.clone());
                group.records += 1;
                let merged =
                    self.scenarios.entry(scenario).or_insert_with(|| ScenarioMerge::new(keep));
                match &group.scope {
                    Some(scope) => merged.add(scope, report),
                    None => group.held.push(report),
                }
            }
            Record::Resume { scenario } => {
                if group.scenario.as_ref().is_some_and(|s| *s != scenario) {
                    self.error(at, format!("a resume of {scenario} in a run of another scenario"));
                }
                group.records = 0;
            }
            Record::Summary { scenario, scope, closing } => {
                if group.scenario.as_ref().is_some_and(|s| *s != scenario) {
                    self.error(
                        at,
                        format!("summary of {scenario} closes records of another scenario"),
                    );
                }
                let expected = closing.seeds_run.saturating_sub(closing.seeds_resumed);
                if group.records != expected {
                    self.error(
                        at,
                        format!(
                            "the summary counts {} seed(s) but {} record(s) precede it",
                            expected, group.records
                        ),
                    );
                }
                let merged = self
                    .scenarios
                    .entry(scenario.clone())
                    .or_insert_with(|| ScenarioMerge::new(keep));
                if let Err(message) = merged.check_scope(at, &scope) {
                    self.errors.push(MergeError { at: at.to_string(), message });
                }
                for report in std::mem::take(&mut group.held) {
                    merged.add(&scope, report);
                }
                merged.close(at, &scope, &closing);
                // A journal goes on after an interrupted run's summary: same scope.
                let scope = (!closing.complete).then_some(scope);
                *group =
                    Group { scenario: scope.as_ref().map(|_| scenario), scope, ..Group::default() };
            }
        }
    }
}

/// One shard's seeds (or the whole range's, unsharded).
#[derive(Default)]
struct ShardMerge {
    done: SeedSet,
    complete_at: Vec<String>,
    interrupted_at: Vec<(String, u64, Option<u64>)>,
}

struct ScenarioMerge {
    scope: Option<(String, Scope)>,
    /// The digest of the scenario file, from the first header that has one.
    digest: Option<(String, u64)>,
    shards: BTreeMap<Option<(u64, u64)>, ShardMerge>,
    summary: Summary,
    duplicated: Vec<u64>,
    misplaced: Vec<u64>,
    reports: Option<Vec<SeedReport>>,
}

/// Seeds listed in an error at most.
const LISTED_MAX: usize = 10;

impl ScenarioMerge {
    fn new(keep_reports: bool) -> ScenarioMerge {
        ScenarioMerge {
            scope: None,
            digest: None,
            shards: BTreeMap::new(),
            summary: Summary::default(),
            duplicated: Vec::new(),
            misplaced: Vec::new(),
            reports: keep_reports.then(Vec::new),
        }
    }

    /// The range, expectation and path must agree across every output of the scenario.
    fn check_scope(&mut self, at: &str, scope: &Scope) -> Result<(), String> {
        let Some((first_at, first)) = &self.scope else {
            self.scope = Some((at.to_string(), scope.clone()));
            return Ok(());
        };
        if scope.seeds != first.seeds {
            return Err(format!(
                "seed range {}..{} differs from {}..{} in {first_at}",
                scope.seeds.start, scope.seeds.end, first.seeds.start, first.seeds.end
            ));
        }
        if scope.expect != first.expect {
            return Err(format!("expectation differs from the one in {first_at}"));
        }
        Ok(())
    }

    /// Outputs of one scenario must come from the same scenario file: another version of it
    /// would have run other seeds under the same numbers.
    fn check_digest(&mut self, at: &str, digest: Option<u64>) -> Result<(), String> {
        let Some(digest) = digest else { return Ok(()) };
        match &self.digest {
            None => {
                self.digest = Some((at.to_string(), digest));
                Ok(())
            }
            Some((_, first)) if *first == digest => Ok(()),
            Some((first_at, _)) => Err(format!(
                "the scenario file differs from the one the output at {first_at} ran (another \
                 version of it: its seeds are other runs)"
            )),
        }
    }

    fn add(&mut self, scope: &Scope, report: SeedReport) {
        let seeds = SeedRange::new(scope.seeds.clone(), scope.shard);
        let Some(position) = seeds.position(report.seed) else {
            if self.misplaced.len() < LISTED_MAX {
                self.misplaced.push(report.seed);
            }
            return;
        };
        let shard = self.shards.entry(scope.shard).or_default();
        if !shard.done.insert(position) {
            if self.duplicated.len() < LISTED_MAX {
                self.duplicated.push(report.seed);
            }
            return;
        }
        self.summary.add(&report);
        if let Some(reports) = &mut self.reports {
            reports.push(report);
        }
    }

    fn close(&mut self, at: &str, scope: &Scope, closing: &Closing) {
        let shard = self.shards.entry(scope.shard).or_default();
        if closing.complete {
            shard.complete_at.push(at.to_string());
        } else {
            shard.interrupted_at.push((at.to_string(), closing.seeds_run, closing.seeds_planned));
        }
        self.summary.wall_seconds += closing.wall_seconds;
    }

    fn finish(mut self, name: &str) -> Result<MergedScenario, Vec<MergeError>> {
        let problem = |message: String| MergeError { at: format!("scenario {name}"), message };
        let mut errors = Vec::new();
        let Some((_, scope)) = self.scope.clone() else {
            return Err(vec![problem("seed records but no summary of this scenario".to_string())]);
        };
        let n = match self.shards.keys().next() {
            Some(Some((_, n))) => *n,
            _ => 1,
        };
        for (shard, state) in &self.shards {
            match shard {
                Some((k, count)) if *count != n => errors.push(MergeError {
                    at: state
                        .complete_at
                        .first()
                        .cloned()
                        .unwrap_or_else(|| format!("scenario {name}")),
                    message: format!("shard {k}/{count} mixed with shards of {n}"),
                }),
                None if self.shards.len() > 1 => errors.push(problem(
                    "an unsharded output mixed with other outputs of the same scenario".to_string(),
                )),
                _ => {}
            }
            if state.complete_at.len() > 1 {
                let which = shard
                    .map_or("the unsharded run".to_string(), |(k, n)| format!("shard {k}/{n}"));
                errors.push(problem(format!(
                    "{which} appears twice: {}",
                    state.complete_at.join(", ")
                )));
            }
        }
        let keys: Vec<Option<(u64, u64)>> = if n > 1 || self.shards.keys().any(Option::is_some) {
            (1..=n).map(|k| Some((k, n))).collect()
        } else {
            vec![None]
        };
        let missing_shards: Vec<String> = keys
            .iter()
            .filter(|key| {
                self.shards
                    .get(key)
                    .is_none_or(|s| s.complete_at.is_empty() && s.interrupted_at.is_empty())
            })
            .filter_map(|key| key.map(|(k, n)| format!("{k}/{n}")))
            .collect();
        if !missing_shards.is_empty() {
            errors.push(problem(format!("missing shard(s): {}", missing_shards.join(", "))));
        }
        let empty = ShardMerge::default();
        let mut missing_total = 0u64;
        let mut missing: Vec<Range<u64>> = Vec::new();
        let mut interrupted = Vec::new();
        for key in &keys {
            let state = self.shards.get(key).unwrap_or(&empty);
            let seeds = SeedRange::new(scope.seeds.clone(), *key);
            missing_total += seeds.len() - state.done.len();
            for gap in state.done.gaps(seeds.len()).into_iter().take(LISTED_MAX) {
                if key.is_none() {
                    missing.push(seeds.seed_at(gap.start)..seeds.seed_at(gap.end - 1) + 1);
                } else {
                    // A shard's gap is every N-th seed: listed one by one.
                    for position in gap.take(LISTED_MAX) {
                        let seed = seeds.seed_at(position);
                        missing.push(seed..seed + 1);
                    }
                }
            }
            if state.complete_at.is_empty() {
                interrupted.extend(state.interrupted_at.iter().cloned());
            }
        }
        if missing_total > 0 {
            missing.sort_unstable_by_key(|run| run.start);
            let mut message = format!(
                "{missing_total} seed(s) of {}..{} missing: {}",
                scope.seeds.start,
                scope.seeds.end,
                compact(&missing, missing_total)
            );
            for (at, run, planned) in interrupted {
                let of = planned.map_or(String::new(), |p| format!(" of {p}"));
                message.push_str(&format!("; {at} was interrupted after {run}{of} seeds"));
            }
            errors.push(problem(message));
        }
        if !self.duplicated.is_empty() {
            errors.push(problem(format!(
                "seed(s) appear more than once: {}",
                list(&self.duplicated)
            )));
        }
        if !self.misplaced.is_empty() {
            self.misplaced.sort_unstable();
            errors.push(problem(format!(
                "seed(s) outside the range or in a shard that does not own them: {}",
                list(&self.misplaced)
            )));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        self.summary.scenario = name.to_string();
        if let Some(reports) = &mut self.reports {
            reports.sort_by_key(|r| r.seed);
        }
        Ok(MergedScenario {
            scenario: name.to_string(),
            path: scope.path,
            workload: scope.workload,
            seeds: scope.seeds,
            shards: keys.len() as u64,
            expect: scope.expect,
            summary: self.summary,
            reports: self.reports,
        })
    }
}

/// The first missing seeds as compact ranges (`3, 7..10`), then how many more.
fn compact(sorted: &[Range<u64>], total: u64) -> String {
    let mut runs: Vec<Range<u64>> = Vec::new();
    for run in sorted {
        match runs.last_mut() {
            Some(last) if last.end == run.start => last.end = run.end,
            _ => runs.push(run.clone()),
        }
    }
    let shown: Vec<String> = runs
        .iter()
        .take(LISTED_MAX)
        .map(|r| {
            if r.end - r.start == 1 {
                r.start.to_string()
            } else {
                format!("{}..{}", r.start, r.end)
            }
        })
        .collect();
    let listed: u64 = runs.iter().take(LISTED_MAX).map(|r| r.end - r.start).sum();
    let more = total.saturating_sub(listed);
    let more = if more > 0 { format!(" (+{more} more)") } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

fn list(seeds: &[u64]) -> String {
    seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
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
        ("out".to_string(), lines.iter().map(|l| format!("{l}\n")).collect())
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
        let reports = merged[0].reports.as_ref().expect("kept");
        assert_eq!(reports.iter().map(|r| r.seed).collect::<Vec<_>>(), [0, 1, 2, 3]);

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

    // Proves an empty input, an output without a summary and a torn last line are errors
    // naming the file (and line), never an empty green merge.
    #[test]
    fn refuses_empty_unsummarised_and_torn_outputs() {
        let errors = merge_json_lines(&[("empty".to_string(), String::new())]).expect_err("empty");
        assert!(
            errors.iter().any(|e| e.at == "empty" && e.message.contains("no records")),
            "{errors:?}"
        );
        assert!(merge_json_lines(&[]).is_err(), "no outputs at all");

        let unsummarised = [output(&[seed(0), seed(1)])];
        let errors = merge_json_lines(&unsummarised).expect_err("no summary");
        assert!(errors.iter().any(|e| e.message.contains("cut short")), "{errors:?}");

        let whole = format!("{}\n{}\n", seed(0), seed(1));
        let torn = format!("{whole}{}", &seed(2)[..40]);
        let errors = merge_json_lines(&[("torn.jsonl".to_string(), torn)]).expect_err("torn");
        assert!(
            errors
                .iter()
                .any(|e| e.at == "torn.jsonl:3" && e.message.contains("cut short (no line end)")),
            "{errors:?}"
        );
    }

    // Proves shards run from two versions of the scenario file do not merge.
    #[test]
    fn refuses_outputs_of_another_version_of_the_scenario() {
        let header = |shard: &str, digest: &str| {
            format!(
                r#"{{"type":"sweep","scenario":"s","path":"s.yaml","seeds":"0..4","shard":{shard},"expect":"pass","digest":"{digest}"}}"#
            )
        };
        let first = output(&[header(r#""1/2""#, "aa"), seed(0), seed(2), summary(r#""1/2""#, 2)]);
        let second = output(&[header(r#""2/2""#, "bb"), seed(1), seed(3), summary(r#""2/2""#, 2)]);
        let errors = merge_json_lines(&[first.clone(), second]).expect_err("two versions");
        assert!(errors.iter().any(|e| e.message.contains("scenario file differs")), "{errors:?}");
        let same = output(&[header(r#""2/2""#, "aa"), seed(1), seed(3), summary(r#""2/2""#, 2)]);
        assert!(merge_json_lines(&[first, same]).is_ok());
    }

    // Proves an interrupted run's output and the resumed run's output merge to the whole range
    // (the resumed summary counts the seeds it read back), while the interrupted one alone
    // is missing seeds and says it was interrupted.
    #[test]
    fn an_interrupted_and_a_resumed_output_merge() {
        let interrupted = r#"{"type":"summary","scenario":"s","path":"s.yaml","seeds":"0..4","shard":null,"expect":"pass","seeds_run":1,"seeds_planned":4,"complete":false}"#;
        let resumed = r#"{"type":"summary","scenario":"s","path":"s.yaml","seeds":"0..4","shard":null,"expect":"pass","seeds_run":4,"seeds_resumed":1,"complete":true}"#;
        let first = ("first".to_string(), format!("{}\n{interrupted}\n", seed(2)));
        let second =
            ("second".to_string(), format!("{}\n{}\n{}\n{resumed}\n", seed(0), seed(1), seed(3)));
        let merged = merge_json_lines(&[first.clone(), second]).expect("merges");
        assert_eq!(merged[0].summary.seeds_run, 4);
        let errors = merge_json_lines(&[first]).expect_err("incomplete");
        assert!(
            errors.iter().any(|e| e.message.contains("3 seed(s) of 0..4 missing: 0..2, 3")
                && e.message.contains("first:2 was interrupted after 1 of 4 seeds")),
            "{errors:?}"
        );
    }
}
