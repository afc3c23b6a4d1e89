//! A run's client history, as clients recorded it (`workload::history`: `invoke`, `ok`,
//! `fail` and `info` observations with a `process`), read back from the run's trace and
//! written as Jepsen EDN: what a capsule of a linearizability failure holds, so that
//! `orrery check-history` (or Jepsen's own tools) can look at exactly the history the run's
//! check judged.
//!
//! Values are mapped as the run's check maps them: integers, booleans and text as
//! themselves, a node as its index, a compare-and-set's input as `[expected new]`; a `fail`
//! or `info` repeats its invocation's value, as Jepsen writes them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::trace::{OwnedValue, Record};

/// The history in `records` as EDN, one event per line, and how many operations it has;
/// `None` if the run recorded no history.
pub fn history_edn(records: &[Record]) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut open: BTreeMap<u64, String> = BTreeMap::new();
    let mut operations = 0;
    for record in records {
        let kind = record.kind.as_str();
        if !matches!(kind, "invoke" | "ok" | "fail" | "info") || record.node.is_none() {
            continue;
        }
        let field = |name: &str| record.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let Some(OwnedValue::U64(process)) = field("process") else { continue };
        let time = record.time.as_nanos();
        if kind == "invoke" {
            let Some(OwnedValue::Str(function)) = field("f") else { continue };
            let value = field("value").map_or_else(|| "nil".to_string(), edn);
            let input = match field("expected") {
                Some(expected) => format!("[{} {value}]", edn(expected)),
                None => value,
            };
            let key = field("key").map_or(String::new(), |key| format!(", :key {}", edn(key)));
            let _ = writeln!(
                text,
                "{{:type :invoke, :f :{function}{key}, :value {input}, :process {process}, :time {time}}}"
            );
            open.insert(*process, format!(":f :{function}{key}, :value {input}"));
            operations += 1;
        } else {
            let Some(invoked) = open.remove(process) else { continue };
            let body = match kind {
                "ok" => {
                    let function_and_key = invoked.split(", :value ").next().unwrap_or(&invoked);
                    let value = field("value").map_or_else(|| "nil".to_string(), edn);
                    format!("{function_and_key}, :value {value}")
                }
                _ => invoked,
            };
            let _ = writeln!(text, "{{:type :{kind}, {body}, :process {process}, :time {time}}}");
        }
    }
    (operations > 0).then_some((text, operations))
}

/// One value as EDN.
fn edn(value: &OwnedValue) -> String {
    match value {
        OwnedValue::U64(v) => v.to_string(),
        OwnedValue::I64(v) => v.to_string(),
        OwnedValue::Bool(v) => v.to_string(),
        OwnedValue::Node(node) => node.0.to_string(),
        OwnedValue::Str(text) => {
            let mut out = String::with_capacity(text.len() + 2);
            out.push('"');
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if c.is_control() => {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{check_edn, ModelName, Verdict};
    use crate::node::NodeId;
    use crate::time::Instant;

    fn record(at: u64, node: u32, kind: &str, fields: &[(&str, OwnedValue)]) -> Record {
        Record {
            time: Instant::from_nanos(at),
            node: Some(NodeId(node)),
            kind: kind.to_string(),
            fields: fields.iter().map(|(n, v)| (n.to_string(), v.clone())).collect(),
            detail: None,
        }
    }

    // Proves a recorded history written as EDN reads back into the history the run judged: a
    // stale read after an acknowledged put is not linearizable to the checker that reads the
    // file, and records that are not history are left out.
    #[test]
    fn a_recorded_history_reads_back_with_its_verdict() {
        use OwnedValue::{Str, U64};
        let records = [
            record(
                1,
                3,
                "invoke",
                &[
                    ("process", U64(0)),
                    ("f", Str("put".into())),
                    ("key", Str("k".into())),
                    ("value", U64(1)),
                ],
            ),
            record(2, 3, "ok", &[("process", U64(0))]),
            record(3, 4, "deliver", &[("from", U64(0))]),
            record(
                4,
                4,
                "invoke",
                &[("process", U64(1)), ("f", Str("get".into())), ("key", Str("k".into()))],
            ),
            record(5, 4, "ok", &[("process", U64(1))]),
            record(
                6,
                4,
                "invoke",
                &[
                    ("process", U64(1)),
                    ("f", Str("put".into())),
                    ("key", Str("k".into())),
                    ("value", U64(2)),
                ],
            ),
            record(7, 4, "info", &[("process", U64(1))]),
        ];
        let (text, operations) = history_edn(&records).expect("a history");
        assert_eq!(operations, 3);
        assert_eq!(text.lines().count(), 6, "{text}");
        assert!(
            text.contains("{:type :info, :f :put, :key \"k\", :value 2, :process 1, :time 7}"),
            "{text}"
        );
        let report = check_edn(text.as_bytes(), ModelName::Kv, 100_000).expect("reads back");
        assert!(matches!(report.verdict, Verdict::NotLinearizable(_)), "{report}");
        assert!(history_edn(&records[2..3]).is_none());
    }
}
