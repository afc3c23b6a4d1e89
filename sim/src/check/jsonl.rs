//! Orrery's JSON-lines history format: one JSON object per line with the fields of Jepsen's
//! events under the same names, read as a stream and written back.
//!
//! ```text
//! {"type":"invoke","process":0,"f":"write","key":"x","value":1,"time":10}
//! {"type":"ok","process":0,"f":"write","key":"x","value":1,"time":12}
//! ```
//!
//! `type` is one of `invoke`, `ok`, `fail`, `info`; `process` a non-negative integer (a string,
//! such as `"nemesis"`, marks an event that is not a client's, which is skipped); `f` a string;
//! `time` a non-negative integer, optional as in EDN; `key` optional; `value` any JSON. Values
//! map to EDN's: `null` is nil, arrays are vectors, objects maps with string keys. Written
//! histories use the same mapping, so EDN values JSON lacks (keywords, symbols, lists, sets,
//! non-finite floats) do not survive a round trip: keywords and symbols become strings, lists
//! and sets arrays, and non-finite floats `null`.

use std::io::Read;

use super::format::{ReadError, ReadErrorKind};
use super::history::{Completion, Function, History};
use super::interned::{Builder, Event, EventKind};
use super::jepsen::events_in_order;
use super::source::{Cursor, Source, Stop};
use super::value::{Position, Value};
use super::values::{ValueTable, NIL};

/// Reads every event of a JSON-lines history from `source` into `builder`.
pub(super) fn read_events<R: Read>(
    source: &mut Source<R>,
    builder: &mut Builder,
) -> Result<(), ReadError> {
    builder.name_time_field("\"time\"");
    loop {
        let values = builder.values();
        match source.parse(|cursor| next_line(cursor, values))? {
            None => return Ok(()),
            Some(Some(event)) => builder.push(event)?,
            Some(None) => {}
        }
    }
}

/// The next line's event: `None` at the end, `Some(None)` for an event that is not a client's.
fn next_line(
    cursor: &mut Cursor<'_>,
    values: &mut ValueTable,
) -> Result<Option<Option<Event>>, Stop> {
    loop {
        match cursor.peek() {
            Some(b'\n') => cursor.newline(),
            Some(b' ' | b'\t' | b'\r') => cursor.bump(),
            Some(_) => break,
            None if cursor.may_grow() || cursor.followed_by_invalid_utf8() => {
                return Err(cursor.end("an event"))
            }
            None => return Ok(None),
        }
    }
    let end = match cursor.find_newline() {
        Some(end) => end,
        None if cursor.may_grow() => return Err(Stop::Incomplete),
        None => cursor.bytes.len(),
    };
    let position = cursor.position();
    let line = &cursor.bytes[cursor.offset..end];
    let json: serde_json::Value = match serde_json::from_slice(line) {
        Ok(json) => json,
        Err(error) => {
            // The column where the JSON reader stopped, in characters.
            let stopped = line.len().min(error.column().saturating_sub(1));
            let column = line[..stopped].iter().filter(|&&byte| byte & 0xC0 != 0x80).count() as u32;
            let reason = match error.classify() {
                serde_json::error::Category::Eof => "the line ends before the object does",
                _ => "a syntax error",
            };
            let position = Position { line: position.line, column: position.column + column };
            return Err(Stop::Error(ReadError {
                position,
                kind: ReadErrorKind::InvalidJson { reason },
            }));
        }
    };
    while cursor.offset < end {
        cursor.bump();
    }
    decode(position, json, values).map(Some).map_err(Stop::Error)
}

fn decode(
    position: Position,
    json: serde_json::Value,
    values: &mut ValueTable,
) -> Result<Option<Event>, ReadError> {
    let error = |kind| ReadError { position, kind };
    let invalid = |field, expected| error(ReadErrorKind::InvalidField { field, expected });
    let serde_json::Value::Object(mut object) = json else {
        let found = json_kind_name(&json);
        return Err(error(ReadErrorKind::EventNotAMap { expected: "a JSON object", found }));
    };
    let kind = match object.get("type") {
        None => return Err(error(ReadErrorKind::MissingField { field: "\"type\"" })),
        Some(kind) => match kind.as_str() {
            Some("invoke") => EventKind::Invoke,
            Some("ok") => EventKind::Ok,
            Some("fail") => EventKind::Fail,
            Some("info") => EventKind::Info,
            _ => return Err(invalid("\"type\"", "\"invoke\", \"ok\", \"fail\" or \"info\"")),
        },
    };
    let process = match object.get("process") {
        None => return Err(error(ReadErrorKind::MissingField { field: "\"process\"" })),
        Some(serde_json::Value::String(_)) => return Ok(None),
        Some(process) => match process.as_u64() {
            Some(process) => process,
            None => return Err(invalid("\"process\"", "a non-negative integer or a string")),
        },
    };
    let function = match object.get("f") {
        None => return Err(error(ReadErrorKind::MissingField { field: "\"f\"" })),
        Some(serde_json::Value::String(name)) => Function::from_name(name),
        Some(_) => return Err(invalid("\"f\"", "a string")),
    };
    let time = match object.get("time") {
        None => None,
        Some(time) => match time.as_u64() {
            Some(time) => Some(time),
            None => return Err(invalid("\"time\"", "a non-negative integer")),
        },
    };
    Ok(Some(Event {
        position,
        kind,
        process,
        function,
        key: object.remove("key").map(|key| values.intern_owned(from_json(key))),
        value: object.remove("value").map_or(NIL, |value| values.intern_owned(from_json(value))),
        time,
    }))
}

fn json_kind_name(json: &serde_json::Value) -> &'static str {
    match json {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn from_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(number) => match number.as_i64() {
            Some(integer) => Value::Int(integer),
            None => Value::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(text) => Value::Str(text.into()),
        serde_json::Value::Array(items) => {
            Value::Vector(items.into_iter().map(from_json).collect())
        }
        serde_json::Value::Object(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(key, value)| (Value::Str(key.into()), from_json(value)))
                .collect(),
        ),
    }
}

fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(integer) => serde_json::Value::from(*integer),
        Value::Float(float) => serde_json::Number::from_f64(*float)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Str(text) | Value::Keyword(text) | Value::Symbol(text) => {
            serde_json::Value::String(text.to_string())
        }
        Value::List(items) | Value::Vector(items) | Value::Set(items) => {
            serde_json::Value::Array(items.iter().map(to_json).collect())
        }
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(key, value)| {
                    let key = match key {
                        Value::Str(text) | Value::Keyword(text) | Value::Symbol(text) => {
                            text.to_string()
                        }
                        other => other.to_string(),
                    };
                    (key, to_json(value))
                })
                .collect(),
        ),
    }
}

/// Writes a history as JSON lines, one event per line, in recording order.
pub fn write_history_jsonl(history: &History) -> String {
    let mut text = String::with_capacity(history.operations().len() * 128);
    for (index, is_completion) in events_in_order(history) {
        let operation = &history.operations()[index];
        let (kind, value, time) = match (&operation.completed, is_completion) {
            (Some(completed), true) => match &completed.completion {
                Completion::Ok(output) => ("ok", output, completed.time),
                Completion::Fail => ("fail", &operation.input, completed.time),
                Completion::Info => ("info", &operation.input, completed.time),
            },
            _ => ("invoke", &operation.input, operation.invoke_time),
        };
        let mut object = serde_json::Map::new();
        object.insert("type".into(), kind.into());
        object.insert("process".into(), operation.process.into());
        object.insert("f".into(), operation.function.name().into());
        if let Some(key) = &operation.key {
            object.insert("key".into(), to_json(key));
        }
        object.insert("value".into(), to_json(value));
        object.insert("time".into(), time.into());
        text.push_str(&serde_json::Value::Object(object).to_string());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::format::{read_interned, Format};

    fn read(text: &str) -> Result<History, ReadError> {
        let builder = Builder::keeping_order();
        let (history, _) = crate::check::format::read_with(text.as_bytes(), None, builder)?;
        Ok(history.to_history())
    }

    // Proves JSON lines round-trip a history of JSON-representable values, and are recognised
    // without being named.
    #[test]
    fn export_import_round_trips() {
        let mut history = History::new();
        let write = history.invoke_with_key(
            0,
            0,
            Function::Write,
            Some(Value::Str("k".into())),
            Value::Str("a\"b\n é".into()),
        );
        let read_op =
            history.invoke_with_key(1, 1, Function::Read, Some(Value::Int(3)), Value::Nil);
        history.complete(2, write, Completion::Ok(Value::Str("a\"b\n é".into())));
        history.complete(
            3,
            read_op,
            Completion::Ok(Value::Vector(vec![Value::Int(-1), Value::Float(2.5)])),
        );
        let cas =
            history.invoke(4, 2, Function::Cas, Value::Vector(vec![Value::Int(1), Value::Int(2)]));
        history.complete(5, cas, Completion::Fail);
        let info = history.invoke(6, 3, Function::Append, Value::Bool(true));
        history.complete(7, info, Completion::Info);
        history.invoke(8, 4, Function::Other("txn".into()), Value::Nil);
        let text = write_history_jsonl(&history);
        assert!(text.starts_with("{\""), "{text}");
        assert_eq!(read(&text).as_ref(), Ok(&history), "text was:\n{text}");
        let (_, format) = read_interned(text.as_bytes(), None).expect("reads");
        assert_eq!(format, Format::JsonLines);
    }

    // Proves malformed JSON lines are errors at their line and column, in our words, and
    // events that are not a client's are skipped.
    #[test]
    fn bad_lines_name_their_place() {
        let good = "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n";
        let cases: [(String, Position, ReadErrorKind); 5] = [
            (
                format!("{good}{{\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"value\":[1,}}\n"),
                Position { line: 2, column: 48 },
                ReadErrorKind::InvalidJson { reason: "a syntax error" },
            ),
            (
                format!("{good}  {{\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"value\":[1"),
                Position { line: 2, column: 48 },
                ReadErrorKind::InvalidJson { reason: "the line ends before the object does" },
            ),
            (
                "{\"type\":\"done\",\"process\":0,\"f\":\"read\"}".to_string(),
                Position { line: 1, column: 1 },
                ReadErrorKind::InvalidField {
                    field: "\"type\"",
                    expected: "\"invoke\", \"ok\", \"fail\" or \"info\"",
                },
            ),
            (
                "{\"type\":\"invoke\",\"f\":\"read\"}".to_string(),
                Position { line: 1, column: 1 },
                ReadErrorKind::MissingField { field: "\"process\"" },
            ),
            (
                format!("{good}{{\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"time\":-3}}"),
                Position { line: 2, column: 1 },
                ReadErrorKind::InvalidField {
                    field: "\"time\"",
                    expected: "a non-negative integer",
                },
            ),
        ];
        for (text, position, kind) in cases {
            let builder = Builder::new();
            let result =
                crate::check::format::read_with(text.as_bytes(), Some(Format::JsonLines), builder);
            assert_eq!(result.map(|_| ()), Err(ReadError { position, kind }), "{text}");
        }
        let nemesis =
            format!("{{\"type\":\"info\",\"process\":\"nemesis\",\"f\":\"start\"}}\n{good}");
        assert_eq!(read(&nemesis).map(|history| history.operations().len()), Ok(1));
    }
}
