//! Jepsen's EDN history format: `{:type :invoke, :f :read, :value nil, :process 0, :time 123}`,
//! one event map per line or one vector of maps, read as a stream and written back.
//!
//! The reader decodes each event map straight into an [`Event`] without building the map as a
//! value: the keys it needs (`:type`, `:f`, `:process`, `:time`, `:key`, `:value`) are matched
//! as borrowed keywords and only `:key` and `:value` become values; other fields are parsed
//! (so they are checked) and dropped. A map the fast path cannot take apart (one with `#_`
//! inside) is read as a value and decoded the slow way, with the same result.

use std::io::Read;

use super::edn::{
    parse_integer, parse_interned, parse_keyword, parse_value, read_token_bytes, skip_whitespace,
    skip_whitespace_in_value, unexpected,
};
use super::format::{read_with, Format, ReadError, ReadErrorKind};
use super::history::{Completion, Function, History, KeyStyle};
use super::interned::{Builder, Event, EventKind};
use super::source::{Cursor, Source, Stop};
use super::value::{Position, Value};
use super::values::{ValueId, ValueTable, NIL};

/// Reads a Jepsen history: one event map per line (any whitespace between maps works), or a
/// single vector of event maps.
pub fn read_history(text: &[u8]) -> Result<History, ReadError> {
    let (history, _) = read_with(text, Some(Format::Edn), Builder::keeping_order())?;
    Ok(history.to_history())
}

/// Reads every event of an EDN history from `source` into `builder`.
pub(super) fn read_events<R: Read>(
    source: &mut Source<R>,
    builder: &mut Builder,
) -> Result<(), ReadError> {
    builder.name_time_field(":time");
    let mut in_vector = false;
    loop {
        let values = builder.values();
        match source.parse(|cursor| next_item(cursor, values, in_vector))? {
            Item::End => return Ok(()),
            Item::VectorOpen => in_vector = true,
            Item::VectorClose => in_vector = false,
            Item::Event(Some(event)) => builder.push(event)?,
            Item::Event(None) => {}
        }
    }
}

/// What the next top-level item of a history is.
enum Item {
    End,
    /// The `[` of a vector of events.
    VectorOpen,
    VectorClose,
    /// An event; `None` for one that is not a client's (the nemesis) or was discarded.
    Event(Option<Event>),
}

fn next_item(
    cursor: &mut Cursor<'_>,
    values: &mut ValueTable,
    in_vector: bool,
) -> Result<Item, Stop> {
    if !skip_whitespace(cursor)? {
        return if in_vector { Err(cursor.end("']'")) } else { Ok(Item::End) };
    }
    match cursor.peek() {
        Some(b'[') if !in_vector => {
            cursor.bump();
            Ok(Item::VectorOpen)
        }
        Some(b']') if in_vector => {
            cursor.bump();
            Ok(Item::VectorClose)
        }
        Some(b'#') if cursor.peek_at(1) == Some(b'_') => {
            cursor.bump();
            cursor.bump();
            skip_whitespace_in_value(cursor)?;
            parse_value(cursor, 1)?;
            Ok(Item::Event(None))
        }
        Some(b'{') => parse_event(cursor, values).map(Item::Event),
        _ => {
            let position = cursor.position();
            let value = parse_value(cursor, 1)?;
            let kind = ReadErrorKind::EventNotAMap { expected: "a map", found: value.kind_name() };
            Err(Stop::Error(ReadError { position, kind }))
        }
    }
}

/// The fields of an event as read, before they are checked.
#[derive(Default)]
struct Fields {
    kind: Option<Field<EventKind>>,
    process: Option<Field<Option<u64>>>,
    function: Option<Field<Function>>,
    time: Option<Field<u64>>,
    key: Option<ValueId>,
    value: Option<ValueId>,
}

/// A field's value, or what it should have been.
enum Field<T> {
    Valid(T),
    Invalid(&'static str),
}

/// An event map at the cursor, taken apart without building it.
fn parse_event(cursor: &mut Cursor<'_>, values: &mut ValueTable) -> Result<Option<Event>, Stop> {
    let start = cursor.offset;
    let position = cursor.position();
    cursor.bump();
    let mut fields = Fields::default();
    loop {
        if !skip_whitespace(cursor)? {
            return Err(cursor.end("'}'"));
        }
        match cursor.peek() {
            Some(b'}') => {
                cursor.bump();
                break;
            }
            Some(byte @ (b')' | b']')) => {
                let kind =
                    ReadErrorKind::MismatchedDelimiter { found: byte as char, expected: '}' };
                return Err(cursor.error(kind));
            }
            Some(b'#') if cursor.peek_at(1) == Some(b'_') => {
                // A discard shifts keys and values: read the map as a value instead.
                cursor.offset = start;
                let map = parse_value(cursor, 0)?;
                return decode_map(position, &map, values).map_err(Stop::Error);
            }
            Some(b':') => {
                cursor.bump();
                let name = read_token_bytes(cursor)?;
                if name.is_empty() {
                    return Err(unexpected(cursor));
                }
                value_follows(cursor, position)?;
                match name {
                    b"type" => fields.kind = Some(parse_type(cursor)?),
                    b"process" => fields.process = Some(parse_process(cursor)?),
                    b"f" => fields.function = Some(parse_function(cursor)?),
                    b"time" => fields.time = Some(parse_time(cursor)?),
                    b"key" => fields.key = Some(parse_interned(cursor, values, 1)?),
                    b"value" => fields.value = Some(parse_interned(cursor, values, 1)?),
                    _ => {
                        parse_value(cursor, 1)?;
                    }
                }
            }
            Some(_) => {
                // A key that is not a keyword names no field of ours.
                parse_value(cursor, 1)?;
                value_follows(cursor, position)?;
                parse_value(cursor, 1)?;
            }
            None => return Err(cursor.end("'}'")),
        }
    }
    fields_to_event(position, fields).map_err(Stop::Error)
}

/// Skips to the value of a map entry; a map that closes instead has a key without a value.
fn value_follows(cursor: &mut Cursor<'_>, map: Position) -> Result<(), Stop> {
    skip_whitespace_in_value(cursor)?;
    if cursor.peek() == Some(b'}') {
        return Err(Stop::Error(ReadError { position: map, kind: ReadErrorKind::MapOddEntries }));
    }
    Ok(())
}

fn parse_type(cursor: &mut Cursor<'_>) -> Result<Field<EventKind>, Stop> {
    let name = if cursor.peek() == Some(b':') { Some(keyword_bytes(cursor)?) } else { None };
    Ok(match name.and_then(event_kind) {
        Some(kind) => Field::Valid(kind),
        None => {
            if name.is_none() {
                parse_value(cursor, 1)?;
            }
            Field::Invalid(":invoke, :ok, :fail or :info")
        }
    })
}

fn event_kind(name: &[u8]) -> Option<EventKind> {
    match name {
        b"invoke" => Some(EventKind::Invoke),
        b"ok" => Some(EventKind::Ok),
        b"fail" => Some(EventKind::Fail),
        b"info" => Some(EventKind::Info),
        _ => None,
    }
}

/// A keyword at the cursor, without its colon, as bytes.
fn keyword_bytes<'a>(cursor: &mut Cursor<'a>) -> Result<&'a [u8], Stop> {
    cursor.bump();
    let name = read_token_bytes(cursor)?;
    if name.is_empty() {
        return Err(unexpected(cursor));
    }
    Ok(name)
}

fn parse_process(cursor: &mut Cursor<'_>) -> Result<Field<Option<u64>>, Stop> {
    // Jepsen's nemesis logs its faults as `:process :nemesis`; they are not client operations.
    if cursor.peek() == Some(b':') {
        parse_keyword(cursor)?;
        return Ok(Field::Valid(None));
    }
    if cursor.peek().is_some_and(|byte| byte.is_ascii_digit()) {
        let start = cursor.offset;
        if let Some(process) = parse_integer(read_token_bytes(cursor)?) {
            return Ok(Field::Valid(Some(process as u64)));
        }
        cursor.offset = start;
    }
    Ok(match parse_value(cursor, 1)? {
        Value::Int(process) => match u64::try_from(process) {
            Ok(process) => Field::Valid(Some(process)),
            Err(_) => Field::Invalid("a non-negative integer"),
        },
        _ => Field::Invalid("an integer or a keyword"),
    })
}

fn parse_function(cursor: &mut Cursor<'_>) -> Result<Field<Function>, Stop> {
    if cursor.peek() == Some(b':') {
        return Ok(Field::Valid(Function::from_name_bytes(keyword_bytes(cursor)?)));
    }
    parse_value(cursor, 1)?;
    Ok(Field::Invalid("a keyword"))
}

fn parse_time(cursor: &mut Cursor<'_>) -> Result<Field<u64>, Stop> {
    if cursor.peek().is_some_and(|byte| byte.is_ascii_digit()) {
        let start = cursor.offset;
        if let Some(time) = parse_integer(read_token_bytes(cursor)?) {
            return Ok(Field::Valid(time as u64));
        }
        cursor.offset = start;
    }
    Ok(match parse_value(cursor, 1)? {
        Value::Int(_) => Field::Invalid("a non-negative integer"),
        _ => Field::Invalid("an integer"),
    })
}

/// Checks the fields in a fixed order, so a map with several problems reports the same one
/// whichever order its keys came in.
fn fields_to_event(position: Position, fields: Fields) -> Result<Option<Event>, ReadError> {
    let error = |kind| ReadError { position, kind };
    let invalid = |field, expected| error(ReadErrorKind::InvalidField { field, expected });
    let kind = match fields.kind {
        None => return Err(error(ReadErrorKind::MissingField { field: ":type" })),
        Some(Field::Invalid(expected)) => return Err(invalid(":type", expected)),
        Some(Field::Valid(kind)) => kind,
    };
    let process = match fields.process {
        None => return Err(error(ReadErrorKind::MissingField { field: ":process" })),
        Some(Field::Invalid(expected)) => return Err(invalid(":process", expected)),
        Some(Field::Valid(None)) => return Ok(None),
        Some(Field::Valid(Some(process))) => process,
    };
    let function = match fields.function {
        None => return Err(error(ReadErrorKind::MissingField { field: ":f" })),
        Some(Field::Invalid(expected)) => return Err(invalid(":f", expected)),
        Some(Field::Valid(function)) => function,
    };
    let time = match fields.time {
        None => None,
        Some(Field::Invalid(expected)) => return Err(invalid(":time", expected)),
        Some(Field::Valid(time)) => Some(time),
    };
    Ok(Some(Event {
        position,
        kind,
        process,
        function,
        key: fields.key,
        value: fields.value.unwrap_or(NIL),
        time,
    }))
}

/// Decodes an event map read as a value (the slow path).
fn decode_map(
    position: Position,
    map: &Value,
    values: &mut ValueTable,
) -> Result<Option<Event>, ReadError> {
    let Value::Map(entries) = map else {
        let kind = ReadErrorKind::EventNotAMap { expected: "a map", found: map.kind_name() };
        return Err(ReadError { position, kind });
    };
    let mut fields = Fields::default();
    for (key, value) in entries {
        match key.as_keyword() {
            Some("type") => {
                let kind = value.as_keyword().map(str::as_bytes).and_then(event_kind);
                fields.kind = Some(match kind {
                    Some(kind) => Field::Valid(kind),
                    None => Field::Invalid(":invoke, :ok, :fail or :info"),
                })
            }
            Some("process") => {
                fields.process = Some(match value {
                    Value::Keyword(_) => Field::Valid(None),
                    Value::Int(process) => match u64::try_from(*process) {
                        Ok(process) => Field::Valid(Some(process)),
                        Err(_) => Field::Invalid("a non-negative integer"),
                    },
                    _ => Field::Invalid("an integer or a keyword"),
                })
            }
            Some("f") => {
                fields.function = Some(match value.as_keyword() {
                    Some(name) => Field::Valid(Function::from_name(name)),
                    None => Field::Invalid("a keyword"),
                })
            }
            Some("time") => {
                fields.time = Some(match value {
                    Value::Int(time) => match u64::try_from(*time) {
                        Ok(time) => Field::Valid(time),
                        Err(_) => Field::Invalid("a non-negative integer"),
                    },
                    _ => Field::Invalid("an integer"),
                })
            }
            Some("key") => fields.key = Some(values.intern(value)),
            Some("value") => fields.value = Some(values.intern(value)),
            _ => {}
        }
    }
    fields_to_event(position, fields)
}

/// Writes a history as Jepsen EDN, one event map per line, in recording order. Reading the
/// text back with [`read_history`] gives an equal history.
pub fn write_history(history: &History) -> String {
    use std::fmt::Write as _;
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
        let f = operation.function.name();
        // Writing to a String cannot fail.
        let _ = match (&operation.key, history.key_style()) {
            (Some(key), KeyStyle::Independent) => writeln!(
                text,
                "{{:type :{kind}, :f :{f}, :value [{key} {value}], :process {}, :time {time}}}",
                operation.process
            ),
            (Some(key), KeyStyle::Field) => writeln!(
                text,
                "{{:type :{kind}, :f :{f}, :key {key}, :value {value}, :process {}, :time {time}}}",
                operation.process
            ),
            (None, _) => writeln!(
                text,
                "{{:type :{kind}, :f :{f}, :value {value}, :process {}, :time {time}}}",
                operation.process
            ),
        };
    }
    text
}

/// The events of a history as (operation index, is completion), in the order they were
/// recorded or read.
pub(super) fn events_in_order(history: &History) -> Vec<(usize, bool)> {
    let mut events: Vec<(u64, usize, bool)> = Vec::with_capacity(history.operations().len() * 2);
    for (index, operation) in history.operations().iter().enumerate() {
        events.push((operation.invoke_sequence, index, false));
        if let Some(completed) = &operation.completed {
            events.push((completed.sequence, index, true));
        }
    }
    events.sort_unstable();
    events.into_iter().map(|(_, index, is_completion)| (index, is_completion)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history::Completion;

    fn position(line: u32, column: u32) -> Position {
        Position { line, column }
    }
    // Proves both history forms (a map per line, and one vector of maps) read to the same
    // history, with extra keys tolerated and events paired per process.
    #[test]
    fn per_line_maps_and_vector_form_read_the_same_history() {
        let per_line = "{:type :invoke, :f :write, :value 1, :process 0, :time 10, :index 0}\n\
                        {:type :invoke, :f :read, :value nil, :process 1, :time 11}\n\
                        {:type :ok, :f :write, :value 1, :process 0, :time 20}\n\
                        {:type :ok, :f :read, :value 1, :process 1, :time 21, :error nil}\n";
        let vector = format!("[{}]", per_line.replace('\n', " "));
        let from_lines = read_history(per_line.as_bytes()).expect("per-line form reads");
        let from_vector = read_history(vector.as_bytes()).expect("vector form reads");
        assert_eq!(from_lines, from_vector);
        assert_eq!(from_lines.operations().len(), 2);
        let read = &from_lines.operations()[1];
        assert_eq!(read.function, Function::Read);
        assert_eq!(read.invoke_time, 11);
        let completed = read.completed.as_ref().expect("the read completed");
        assert_eq!(completed.completion, Completion::Ok(Value::Int(1)));
        assert_eq!(completed.time, 21);
    }

    // Proves Jepsen's independent `[key value]` form and the `:key` field form both yield keyed
    // operations, with the cas pair kept as the value.
    #[test]
    fn independent_and_key_field_forms_yield_keys() {
        let independent = "{:type :invoke, :f :cas, :value [3 [1 2]], :process 0, :time 1}\n\
                           {:type :fail, :f :cas, :value [3 [1 2]], :process 0, :time 2}\n\
                           {:type :invoke, :f :write, :value [4 5], :process 1, :time 3}\n";
        let history = read_history(independent.as_bytes()).expect("independent form reads");
        assert_eq!(history.key_style(), KeyStyle::Independent);
        let cas = &history.operations()[0];
        assert_eq!(cas.key, Some(Value::Int(3)));
        assert_eq!(cas.input, Value::Vector(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(cas.completed.as_ref().map(|c| &c.completion), Some(&Completion::Fail));
        assert_eq!(history.operations()[1].key, Some(Value::Int(4)));
        assert!(history.operations()[1].completed.is_none());

        let field = "{:type :invoke, :f :write, :key \"x\", :value 5, :process 0, :time 1}\n";
        let history = read_history(field.as_bytes()).expect("key field form reads");
        assert_eq!(history.key_style(), KeyStyle::Field);
        assert_eq!(history.operations()[0].key, Some(Value::Str("x".into())));
        assert_eq!(history.operations()[0].input, Value::Int(5));
    }

    // Proves a single-register cas history (reads invoked with nil) is not mistaken for the
    // independent form.
    #[test]
    fn single_register_cas_pairs_are_not_keys() {
        let text = "{:type :invoke, :f :cas, :value [1 2], :process 0, :time 1}\n\
                    {:type :invoke, :f :read, :value nil, :process 1, :time 2}\n";
        let history = read_history(text.as_bytes()).expect("reads");
        assert_eq!(history.operations()[0].key, None);
    }

    // Proves export then import gives back an equal history, for all completion kinds, both
    // key styles and odd values (escapes, floats, sets, nested collections).
    #[test]
    fn export_import_round_trips() {
        let mut history = History::new();
        let write = history.invoke(0, 0, Function::Write, Value::Str("a\"b\\c\n\u{1}é".into()));
        let read = history.invoke(1, 1, Function::Read, Value::Nil);
        history.complete(2, write, Completion::Ok(Value::Str("a\"b\\c\n\u{1}é".into())));
        let cas =
            history.invoke(3, 0, Function::Cas, Value::Vector(vec![Value::Int(1), Value::Int(-2)]));
        history.complete(4, cas, Completion::Fail);
        history.complete(4, read, Completion::Info);
        let other = history.invoke(
            5,
            2,
            Function::Other("txn".into()),
            Value::Set(vec![Value::Float(1.5), Value::Float(f64::INFINITY)]),
        );
        history.complete(
            6,
            other,
            Completion::Ok(Value::Map(vec![(
                Value::Keyword("a".into()),
                Value::List(vec![Value::Bool(true), Value::Symbol("x".into())]),
            )])),
        );
        history.invoke(7, 3, Function::Write, Value::Int(9));
        let text = write_history(&history);
        let again = read_history(text.as_bytes()).expect("exported history reads back");
        assert_eq!(history, again, "text was:\n{text}");

        for style in [KeyStyle::Independent, KeyStyle::Field] {
            let mut keyed = History::with_key_style(style);
            let a =
                keyed.invoke_with_key(1, 0, Function::Write, Some(Value::Int(7)), Value::Int(1));
            let b = keyed.invoke_with_key(1, 1, Function::Read, Some(Value::Int(8)), Value::Nil);
            keyed.complete(2, b, Completion::Ok(Value::Nil));
            keyed.complete(3, a, Completion::Ok(Value::Int(1)));
            let text = write_history(&keyed);
            assert_eq!(read_history(text.as_bytes()).as_ref(), Ok(&keyed), "text was:\n{text}");
        }
    }

    #[test]
    fn malformed_history_reports_the_event_position() {
        let cases: Vec<(&str, Position, ReadErrorKind)> = vec![
            ("[1]", position(1, 2), ReadErrorKind::EventNotAMap { expected: "a map", found: "an integer" }),
            ("{:f :read, :process 0}", position(1, 1), ReadErrorKind::MissingField { field: ":type" }),
            ("\n{:type :done, :f :read, :process 0}", position(2, 1), ReadErrorKind::InvalidField { field: ":type", expected: ":invoke, :ok, :fail or :info" }),
            ("{:type :ok, :f :read, :process 4, :time 1}", position(1, 1), ReadErrorKind::CompletionWithoutInvoke { process: 4 }),
            ("{:type :invoke, :f :read, :process 0, :time 1}\n {:type :invoke, :f :read, :process 0, :time 2}", position(2, 2), ReadErrorKind::InvokeWhileOpen { process: 0 }),
            ("{:type :invoke, :f :read, :process -1, :time 1}", position(1, 1), ReadErrorKind::InvalidField { field: ":process", expected: "a non-negative integer" }),
            ("{:type :invoke, :f :read, :process 0, :time 5}\n{:type :ok, :f :read, :process 0, :time 4}", position(2, 1), ReadErrorKind::CompletionBeforeInvoke { invoke_time: 5, complete_time: 4 }),
            ("{:type :invoke, :f :read, :process 0, :time 5}\n{:type :ok, :f :read, :process 0}", position(2, 1), ReadErrorKind::MissingField { field: ":time" }),
        ];
        for (text, expected_position, expected_kind) in cases {
            assert_eq!(
                read_history(text.as_bytes()).map(|_| ()),
                Err(ReadError { position: expected_position, kind: expected_kind }),
                "input {text:?}"
            );
        }
    }

    // Proves nemesis events (`:process :nemesis`) are skipped rather than rejected.
    #[test]
    fn nemesis_events_are_skipped() {
        let text = "{:type :info, :f :start, :process :nemesis, :time 1}\n\
                    {:type :invoke, :f :read, :value nil, :process 0, :time 2}\n";
        let history = read_history(text.as_bytes()).expect("reads");
        assert_eq!(history.operations().len(), 1);
    }
}
