//! The machine form of a trace file: JSON lines with the same content as the text form, and
//! exact where text is not (types of values, where free text begins, control characters).
//!
//! The first line is the header, then one object per event, keys in a fixed order:
//!
//! ```text
//! {"format":"orrery-trace","version":2,"scenario":"echo-smoke","seed":0,"realized":[["swarm.loss","on"]]}
//! {"time_ns":1000000,"node":"n1","kind":"deliver","fields":{"from":"n0","pkt":17},"detail":"Ping(3)"}
//! ```
//!
//! Field values are JSON numbers, booleans or strings; a node is the string `"n1"`. Strings
//! read back canonically (`OwnedValue::parse`), as recorded values are kept.

use std::fmt::{self, Write as _};

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::node::NodeId;
use crate::time::Instant;

use super::format::{check_version, parse_node, Header, ParseError, TraceFile};
use super::{NodeNames, OwnedValue, Record};

/// The value of the header's `format` key, which tells a trace from other JSON lines.
pub const FORMAT_NAME: &str = "orrery-trace";

/// The JSON-lines form: the header line (if any), then one line per event.
pub fn render(file: &TraceFile) -> String {
    let mut text = String::new();
    if let Some(header) = &file.header {
        text.push_str(&header_line(header));
        text.push('\n');
    }
    for record in &file.records {
        text.push_str(&record_line(record));
        text.push('\n');
    }
    text
}

/// The header as one JSON object.
pub fn header_line(header: &Header) -> String {
    let mut line = format!(
        "{{\"format\":{},\"version\":{},\"scenario\":{},\"seed\":{},\"realized\":[",
        quote(FORMAT_NAME),
        header.version,
        quote(&header.scenario),
        header.seed
    );
    for (index, (label, value)) in header.realized.iter().enumerate() {
        let comma = if index == 0 { "" } else { "," };
        let _ = write!(line, "{comma}[{},{}]", quote(label), quote(value));
    }
    line.push(']');
    if !header.nodes.is_empty() {
        let names: Vec<String> = header.nodes.names().iter().map(|name| quote(name)).collect();
        let _ = write!(line, ",\"nodes\":[{}]", names.join(","));
    }
    line.push('}');
    line
}

/// One event as one JSON object; `node` is `null` for an event of the world, `detail` is left
/// out when there is none.
pub fn record_line(record: &Record) -> String {
    let node = record.node.map_or_else(|| "null".to_string(), |node| quote(&node.to_string()));
    let mut line = format!(
        "{{\"time_ns\":{},\"node\":{node},\"kind\":{},\"fields\":{{",
        record.time.as_nanos(),
        quote(&record.kind)
    );
    for (index, (name, value)) in record.fields.iter().enumerate() {
        let comma = if index == 0 { "" } else { "," };
        let _ = write!(line, "{comma}{}:{}", quote(name), value_to_json(value));
    }
    line.push('}');
    if let Some(detail) = &record.detail {
        let _ = write!(line, ",\"detail\":{}", quote(detail));
    }
    line.push('}');
    line
}

/// A field value as JSON: a number, a boolean or a string (a node is `"n1"`).
pub fn value_to_json(value: &OwnedValue) -> serde_json::Value {
    match value {
        OwnedValue::U64(v) => (*v).into(),
        OwnedValue::I64(v) => (*v).into(),
        OwnedValue::Bool(v) => (*v).into(),
        OwnedValue::Node(v) => v.to_string().into(),
        OwnedValue::Str(v) => v.as_str().into(),
    }
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// Reads the JSON-lines form; empty lines are skipped.
pub fn parse(text: &str) -> Result<TraceFile, ParseError> {
    let mut file = TraceFile::default();
    let mut first = true;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |message: String| ParseError { line: index + 1, message };
        if std::mem::take(&mut first) && is_header(line) {
            let header: JsonHeader =
                serde_json::from_str(line).map_err(|e| at(format!("bad header: {e}")))?;
            if header.format != FORMAT_NAME {
                return Err(at(format!("format is {:?}, not {FORMAT_NAME:?}", header.format)));
            }
            file.header = Some(Header {
                version: check_version(header.version).map_err(at)?,
                scenario: header.scenario,
                seed: header.seed,
                realized: header.realized,
                nodes: NodeNames::new(header.nodes),
            });
            continue;
        }
        let record: JsonRecord =
            serde_json::from_str(line).map_err(|e| at(format!("bad event: {e}")))?;
        file.records.push(record.into_record().map_err(at)?);
    }
    Ok(file)
}

/// Whether a line is an object with a `format` key (the header) rather than an event.
fn is_header(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok_and(|value| value.get("format").is_some())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonHeader {
    format: String,
    version: u32,
    scenario: String,
    seed: u64,
    #[serde(default)]
    realized: Vec<(String, String)>,
    /// The scenario's node names (by id), for views; events keep node ids.
    #[serde(default)]
    nodes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRecord {
    time_ns: u64,
    node: Option<String>,
    kind: String,
    #[serde(default)]
    fields: OrderedFields,
    #[serde(default)]
    detail: Option<String>,
}

impl JsonRecord {
    fn into_record(self) -> Result<Record, String> {
        let node: Option<NodeId> = match self.node {
            Some(text) => parse_node(&text)?,
            None => None,
        };
        let fields = self
            .fields
            .0
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    serde_json::Value::Bool(v) => OwnedValue::Bool(v),
                    serde_json::Value::String(text) => OwnedValue::parse(&text),
                    serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                        (Some(v), _) => OwnedValue::U64(v),
                        (None, Some(v)) => OwnedValue::I64(v),
                        _ => return Err(format!("field {name}: {n} is not an integer")),
                    },
                    other => return Err(format!("field {name}: {other} is not a field value")),
                };
                Ok((name, value))
            })
            .collect::<Result<_, String>>()?;
        Ok(Record {
            time: Instant::from_nanos(self.time_ns),
            node,
            kind: self.kind,
            fields,
            detail: self.detail,
        })
    }
}

/// A JSON object's entries in document order (a `serde_json::Map` would sort them, and field
/// order is part of an event).
#[derive(Default)]
struct OrderedFields(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for OrderedFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesInOrder;
        impl<'de> Visitor<'de> for EntriesInOrder {
            type Value = OrderedFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of field values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedFields, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(OrderedFields(entries))
            }
        }
        deserializer.deserialize_map(EntriesInOrder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Trace, Value, FORMAT_VERSION};

    // Proves render -> parse JSON lines gives back the same events and header, including what
    // text cannot keep (a detail that looks like fields, spaces in strings, newlines).
    #[test]
    fn json_lines_round_trip_exactly() {
        let mut trace = Trace::default();
        trace.enable_recording();
        let t = Instant::from_nanos;
        trace.record(t(0), Some(NodeId(0)), "start", &[("incarnation", 0u64.into())], || None);
        trace.record(
            t(1_000_000),
            Some(NodeId(1)),
            "deliver",
            &[("from", NodeId(0).into()), ("pkt", 17u64.into()), ("duplicate", true.into())],
            || Some("Ping(3)".to_string()),
        );
        trace.record(t(2), None, "set_clock", &[], || Some("offset=5ns drift=3ppm".to_string()));
        trace.record(
            t(3),
            Some(NodeId(2)),
            "note",
            &[("text", Value::Str("two words")), ("delta", Value::I64(-4)), ("z", 0u64.into())],
            || Some("line one\nline two \"quoted\"".to_string()),
        );
        let file = TraceFile {
            header: Some(Header {
                version: FORMAT_VERSION,
                scenario: "s".to_string(),
                seed: u64::MAX,
                realized: vec![("a".to_string(), "1".to_string()), ("a".to_string(), "2".into())],
                nodes: NodeNames::new(["x", "y", "z"].map(String::from).to_vec()),
            }),
            records: trace.take_records(),
        };
        let text = render(&file);
        assert_eq!(text.lines().count(), 5, "one line per event plus the header:\n{text}");
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("every line is JSON");
        }
        assert_eq!(TraceFile::parse(&text), Ok(file));
    }

    // Proves the documented shape of an event line, key order included.
    #[test]
    fn event_lines_have_the_documented_shape() {
        let record = Record {
            time: Instant::from_nanos(1_000_000),
            node: Some(NodeId(1)),
            kind: "deliver".to_string(),
            fields: vec![
                ("from".to_string(), OwnedValue::Node(NodeId(0))),
                ("pkt".to_string(), OwnedValue::U64(17)),
            ],
            detail: Some("Ping(3)".to_string()),
        };
        assert_eq!(
            record_line(&record),
            r#"{"time_ns":1000000,"node":"n1","kind":"deliver","fields":{"from":"n0","pkt":17},"detail":"Ping(3)"}"#
        );
    }

    // Proves bad JSON lines are errors naming the line.
    #[test]
    fn rejects_bad_lines() {
        for (text, line) in [
            ("{\"format\":\"other\",\"version\":2,\"scenario\":\"a\",\"seed\":1}\n", 1),
            ("{\"time_ns\":1,\"node\":null,\"kind\":\"x\"}\n{\"time_ns\":-1}\n", 2),
            ("{\"time_ns\":1,\"node\":\"q\",\"kind\":\"x\"}\n", 1),
            ("{\"time_ns\":1,\"node\":null,\"kind\":\"x\",\"fields\":{\"a\":1.5}}\n", 1),
        ] {
            assert_eq!(parse(text).map_err(|e| e.line), Err(line), "{text}");
        }
    }
}
