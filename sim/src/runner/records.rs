//! The records of a sweep's JSON-lines output, read back: the `sweep` header, `seed` records,
//! `resume` marks and `summary` records that `run --json` prints and a journal holds (see
//! `report` for how they are written). `merge` and the journal read them through here.

use std::ops::Range;

use serde_json::Value;

use super::{Failure, FailureKind, SeedReport};
use crate::scenario::Expect;
use crate::time::Instant;

/// What a sweep covered, as its header or summary states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    pub path: String,
    /// The workload, if the record names it (outputs of older versions do not).
    pub workload: String,
    pub seeds: Range<u64>,
    pub shard: Option<(u64, u64)>,
    pub expect: Expect,
}

/// One line of an output.
#[derive(Debug)]
pub(crate) enum Record {
    /// A journal's (or an output's) first line: what the sweep covers.
    Sweep {
        scenario: String,
        scope: Scope,
        digest: Option<u64>,
    },
    Seed {
        scenario: String,
        report: SeedReport,
    },
    Summary {
        scenario: String,
        scope: Scope,
        closing: Closing,
    },
    /// A journal taken up again after its writer died: the records before it stand.
    Resume {
        scenario: String,
    },
}

/// What a summary record says about the records before it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Closing {
    pub seeds_run: u64,
    pub seeds_resumed: u64,
    /// False if the sweep was interrupted.
    pub complete: bool,
    pub seeds_planned: Option<u64>,
    pub wall_seconds: f64,
}

/// Reads one record; the message says what is wrong with it.
pub(crate) fn parse_record(record: &Value) -> Result<Record, String> {
    let text = |key: &str| {
        record.get(key).and_then(Value::as_str).ok_or_else(|| format!("missing text field {key:?}"))
    };
    let number = |value: Option<&Value>, key: &str| {
        value.and_then(Value::as_u64).ok_or_else(|| format!("missing number field {key:?}"))
    };
    let scenario = text("scenario")?.to_string();
    match text("type")? {
        "seed" => Ok(Record::Seed { scenario, report: parse_seed(record)? }),
        "sweep" => {
            let digest = match record.get("digest").and_then(Value::as_str) {
                Some(hex) => Some(
                    u64::from_str_radix(hex, 16).map_err(|_| "digest is not hex".to_string())?,
                ),
                None => None,
            };
            Ok(Record::Sweep { scenario, scope: parse_scope(record)?, digest })
        }
        "summary" => {
            let closing = Closing {
                seeds_run: number(record.get("seeds_run"), "seeds_run")?,
                seeds_resumed: record.get("seeds_resumed").and_then(Value::as_u64).unwrap_or(0),
                complete: record.get("complete").and_then(Value::as_bool).unwrap_or(true),
                seeds_planned: record.get("seeds_planned").and_then(Value::as_u64),
                wall_seconds: record.get("wall_s").and_then(Value::as_f64).unwrap_or(0.0),
            };
            Ok(Record::Summary { scenario, scope: parse_scope(record)?, closing })
        }
        "resume" => Ok(Record::Resume { scenario }),
        other => Err(format!("unknown record type {other:?}")),
    }
}

fn parse_scope(record: &Value) -> Result<Scope, String> {
    let range =
        record.get("seeds").and_then(Value::as_str).ok_or("missing text field \"seeds\"")?;
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
            within_seeds: value
                .pointer("/fail/within_seeds")
                .and_then(Value::as_u64)
                .ok_or("missing number field \"expect.fail.within_seeds\"")?,
        },
        None => return Err("missing field \"expect\"".to_string()),
    };
    let path = record.get("path").and_then(Value::as_str).unwrap_or("").to_string();
    let workload = record.get("workload").and_then(Value::as_str).unwrap_or("").to_string();
    Ok(Scope { path, workload, seeds, shard, expect })
}

fn parse_seed(record: &Value) -> Result<SeedReport, String> {
    let text = |key: &str| {
        record.get(key).and_then(Value::as_str).ok_or_else(|| format!("missing text field {key:?}"))
    };
    let number = |value: Option<&Value>, key: &str| {
        value.and_then(Value::as_u64).ok_or_else(|| format!("missing number field {key:?}"))
    };
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
                vtime: Instant::from_nanos(number(failure.get("vtime_ns"), "failure.vtime_ns")?),
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
    let coverage = record
        .get("sometimes")
        .and_then(Value::as_object)
        .map(|points| {
            points
                .iter()
                .map(|(label, reached)| (label.clone(), reached.as_bool().unwrap_or(false)))
                .collect()
        })
        .unwrap_or_default();
    let fault_effects = match record.get("fault_effects") {
        // Outputs written before fault effects were counted have none.
        None => Vec::new(),
        Some(value) => {
            let families = value.as_object().ok_or("fault_effects is not an object")?;
            families
                .iter()
                .map(|(family, effects)| {
                    let key = format!("fault_effects.{family}");
                    Ok((family.clone(), number(Some(effects), &key)?))
                })
                .collect::<Result<Vec<_>, String>>()?
        }
    };
    Ok(SeedReport {
        seed: number(record.get("seed"), "seed")?,
        fingerprint,
        events: number(record.get("events"), "events")?,
        vtime: Instant::from_nanos(number(record.get("vtime_ns"), "vtime_ns")?),
        failure,
        unknown,
        stats: String::new(),
        coverage,
        fault_effects,
        determinism_checked: record
            .get("determinism_checked")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}
