//! EDN values, our own small EDN reader and writer, and Jepsen's EDN history format.
//!
//! Jepsen writes histories as EDN maps, `{:type :invoke, :f :read, :value nil, :process 0,
//! :time 123}`, either one map per line or as one vector of maps. We read them without a
//! dependency: the subset of EDN that histories use is small, and owning the reader lets us
//! promise what a dependency would not — every malformed input becomes a typed [`EdnError`] with
//! `line:column`, never a panic, whatever the nesting depth, size or encoding of the input.
//!
//! Reading is a pure function of the bytes given; the caller (the CLI's `load`) reads the file.

use std::cmp::Ordering;
use std::fmt;

use super::history::{Completion, Function, History, KeyStyle, OperationRef};

/// How deep collections may nest before the reader refuses the input. Histories nest about
/// four levels; the bound exists so that `[[[[…` cannot exhaust the stack.
pub const NESTING_DEPTH_MAX: usize = 128;

/// One EDN value. Maps and sets keep their entries in input order (EDN's equality for maps is
/// order-insensitive, but histories only need lookups by keyword key).
#[derive(Clone, Debug)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    /// A keyword, stored without its leading `:`.
    Keyword(Box<str>),
    Symbol(Box<str>),
    List(Vec<Value>),
    Vector(Vec<Value>),
    Set(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

/// A place in the input: 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// Why an EDN document or the history in it could not be read, and where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}:{}: {kind}", position.line, position.column)]
pub struct EdnError {
    pub position: Position,
    pub kind: EdnErrorKind,
}

/// The reasons an EDN history can be rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EdnErrorKind {
    #[error("input is not valid UTF-8")]
    InvalidUtf8,
    #[error("unexpected end of input; expected {expected}")]
    UnexpectedEnd { expected: &'static str },
    #[error("unexpected character {found:?}")]
    UnexpectedCharacter { found: char },
    #[error("closing {found:?} does not match the opening {expected:?}")]
    MismatchedDelimiter { found: char, expected: char },
    #[error("unterminated string")]
    UnterminatedString,
    #[error("invalid escape sequence in string")]
    InvalidEscape,
    #[error("invalid number {token:?}")]
    InvalidNumber { token: String },
    #[error("collections nest deeper than {NESTING_DEPTH_MAX} levels")]
    NestingTooDeep,
    #[error("map has a key without a value")]
    MapOddEntries,
    #[error("a history event must be a map, found {found}")]
    EventNotAMap { found: &'static str },
    #[error("event has no {field} field")]
    MissingField { field: &'static str },
    #[error("event field {field} must be {expected}")]
    InvalidField { field: &'static str, expected: &'static str },
    #[error("process {process} completes an operation it never invoked")]
    CompletionWithoutInvoke { process: u64 },
    #[error("process {process} invokes an operation while its previous one is still open")]
    InvokeWhileOpen { process: u64 },
    #[error("completion time {complete_time} is before the invoke time {invoke_time}")]
    CompletionBeforeInvoke { invoke_time: u64, complete_time: u64 },
}

impl Value {
    /// The keyword's name if this is a keyword.
    pub fn as_keyword(&self) -> Option<&str> {
        match self {
            Value::Keyword(name) => Some(name),
            _ => None,
        }
    }

    /// The value under keyword `key` if this is a map that has one.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => {
                entries.iter().find(|(k, _)| k.as_keyword() == Some(key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Keyword(_) => "a keyword",
            Value::Symbol(_) => "a symbol",
            Value::List(_) => "a list",
            Value::Vector(_) => "a vector",
            Value::Set(_) => "a set",
            Value::Map(_) => "a map",
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Nil => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Float(_) => 3,
            Value::Str(_) => 4,
            Value::Keyword(_) => 5,
            Value::Symbol(_) => 6,
            Value::List(_) => 7,
            Value::Vector(_) => 8,
            Value::Set(_) => 9,
            Value::Map(_) => 10,
        }
    }
}

// Values are compared structurally, floats by their total order, so that values can key the
// interning tables of the built-in models (BTreeMap needs `Ord`).
impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Nil, Value::Nil) => Ordering::Equal,
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
            (Value::Str(a), Value::Str(b))
            | (Value::Keyword(a), Value::Keyword(b))
            | (Value::Symbol(a), Value::Symbol(b)) => a.cmp(b),
            (Value::List(a), Value::List(b))
            | (Value::Vector(a), Value::Vector(b))
            | (Value::Set(a), Value::Set(b)) => a.cmp(b),
            (Value::Map(a), Value::Map(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

// Consistent with `Eq`: floats are equal exactly when their bits are (that is `total_cmp`).
impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u8(self.rank());
        match self {
            Value::Nil => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::Float(x) => x.to_bits().hash(state),
            Value::Str(text) | Value::Keyword(text) | Value::Symbol(text) => text.hash(state),
            Value::List(items) | Value::Vector(items) | Value::Set(items) => items.hash(state),
            Value::Map(entries) => entries.hash(state),
        }
    }
}

impl fmt::Display for Value {
    /// Writes the value as EDN that [`read_values`] reads back to an equal value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.is_nan() => f.write_str("##NaN"),
            Value::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { "##Inf" } else { "##-Inf" })
            }
            // `{:?}` always writes a decimal point or exponent, so the text reads back as a float.
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write_string(f, s),
            Value::Keyword(k) => write!(f, ":{k}"),
            Value::Symbol(s) => f.write_str(s),
            Value::List(items) => write_sequence(f, "(", items, ")"),
            Value::Vector(items) => write_sequence(f, "[", items, "]"),
            Value::Set(items) => write_sequence(f, "#{", items, "}"),
            Value::Map(entries) => {
                f.write_str("{")?;
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key} {value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Reads every top-level value of an EDN document, with the position where each starts.
pub fn read_values(text: &[u8]) -> Result<Vec<(Position, Value)>, EdnError> {
    let mut reader = Reader::new(text)?;
    let mut values = Vec::new();
    while let Some(position) = reader.skip_whitespace_to_value() {
        let value = reader.read_value(0)?;
        values.push((position, value));
    }
    Ok(values)
}

/// Reads a Jepsen history: one event map per line (any whitespace between maps works), or a
/// single vector of event maps.
pub fn read_history(text: &[u8]) -> Result<History, EdnError> {
    read_history_with_positions(text).map(|(history, _)| history)
}

/// Like [`read_history`], also returning where each operation's invoke event starts, so that
/// errors found later (by a model) can point into the file.
pub fn read_history_with_positions(text: &[u8]) -> Result<(History, Vec<Position>), EdnError> {
    let mut reader = Reader::new(text)?;
    let mut events = Vec::new();
    while let Some(position) = reader.skip_whitespace_to_value() {
        // A top-level vector holds the events; its elements' positions are recorded as read.
        reader.element_positions.clear();
        let value = reader.read_value(0)?;
        match value {
            Value::Vector(items) => {
                let positions = std::mem::take(&mut reader.element_positions);
                events.extend(positions.into_iter().zip(items));
            }
            other => events.push((position, other)),
        }
    }
    history_from_events(&events)
}

/// Writes a history as Jepsen EDN, one event map per line, in recording order. Reading the
/// text back with [`read_history`] gives an equal history.
pub fn write_history(history: &History) -> String {
    use std::fmt::Write as _;
    // Events are (sequence, operation index, is completion); sorting by sequence restores the
    // order in which they were recorded or read.
    let mut events: Vec<(u64, usize, bool)> = Vec::with_capacity(history.operations().len() * 2);
    for (index, operation) in history.operations().iter().enumerate() {
        events.push((operation.invoke_sequence, index, false));
        if let Some(completed) = &operation.completed {
            events.push((completed.sequence, index, true));
        }
    }
    events.sort_unstable();
    let mut text = String::with_capacity(events.len() * 64);
    for (_, index, is_completion) in events {
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

fn write_string(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

fn write_sequence(
    f: &mut fmt::Formatter<'_>,
    open: &str,
    items: &[Value],
    close: &str,
) -> fmt::Result {
    f.write_str(open)?;
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str(close)
}

/// One event of the input, decoded from its map but not yet paired.
struct Event {
    position: Position,
    kind: EventKind,
    process: u64,
    function: Function,
    key: Option<Value>,
    value: Value,
    time: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

fn history_from_events(events: &[(Position, Value)]) -> Result<(History, Vec<Position>), EdnError> {
    let mut decoded = Vec::with_capacity(events.len());
    for (position, value) in events {
        if let Some(event) = decode_event(*position, value)? {
            decoded.push(event);
        }
    }
    let has_key_field = decoded.iter().any(|event| event.key.is_some());
    let independent = !has_key_field && is_independent_form(&decoded);
    let key_style = if independent { KeyStyle::Independent } else { KeyStyle::Field };
    if independent {
        for event in &mut decoded {
            if let Value::Vector(items) = &mut event.value {
                if items.len() == 2 {
                    let value = items.pop().unwrap_or(Value::Nil);
                    event.key = items.pop();
                    event.value = value;
                }
            }
        }
    }
    // Jepsen histories carry `:time`; hand-written ones may not, and then event order is time.
    let times_from_order = decoded.first().is_some_and(|event| event.time.is_none());
    let mut history = History::with_key_style(key_style);
    let mut positions = Vec::new();
    let mut open: std::collections::BTreeMap<u64, (OperationRef, u64)> = Default::default();
    for (index, event) in decoded.into_iter().enumerate() {
        let time = match (event.time, times_from_order) {
            (Some(time), _) => time,
            (None, true) => index as u64,
            (None, false) => {
                return Err(error(event.position, EdnErrorKind::MissingField { field: ":time" }));
            }
        };
        if event.kind == EventKind::Invoke {
            if open.contains_key(&event.process) {
                let kind = EdnErrorKind::InvokeWhileOpen { process: event.process };
                return Err(error(event.position, kind));
            }
            let operation = history.invoke_with_key(
                time,
                event.process,
                event.function,
                event.key,
                event.value,
            );
            open.insert(event.process, (operation, time));
            positions.push(event.position);
            continue;
        }
        let Some((operation, invoke_time)) = open.remove(&event.process) else {
            let kind = EdnErrorKind::CompletionWithoutInvoke { process: event.process };
            return Err(error(event.position, kind));
        };
        if time < invoke_time {
            let kind = EdnErrorKind::CompletionBeforeInvoke { invoke_time, complete_time: time };
            return Err(error(event.position, kind));
        }
        let completion = match event.kind {
            EventKind::Ok => Completion::Ok(event.value),
            EventKind::Fail => Completion::Fail,
            _ => Completion::Info,
        };
        history.complete(time, operation, completion);
    }
    Ok((history, positions))
}

/// Jepsen's `independent` histories wrap every value as `[key value]`. We take a history to be
/// in that form when no event has a `:key` field, every invoke's value is a pair, and every
/// compare-and-set's pair holds a nested `[expected new]` pair — a single-register history
/// always fails one of these, because its reads are invoked with `nil`.
fn is_independent_form(events: &[Event]) -> bool {
    let mut invokes = events.iter().filter(|event| event.kind == EventKind::Invoke).peekable();
    invokes.peek().is_some()
        && invokes.all(|event| match &event.value {
            Value::Vector(items) if items.len() == 2 => {
                event.function != Function::Cas
                    || matches!(&items[1], Value::Vector(pair) if pair.len() == 2)
            }
            _ => false,
        })
}

fn decode_event(position: Position, value: &Value) -> Result<Option<Event>, EdnError> {
    if !matches!(value, Value::Map(_)) {
        return Err(error(position, EdnErrorKind::EventNotAMap { found: value.kind_name() }));
    }
    let field_error =
        |field, expected| error(position, EdnErrorKind::InvalidField { field, expected });
    let kind = match value.get("type") {
        None => return Err(error(position, EdnErrorKind::MissingField { field: ":type" })),
        Some(kind) => match kind.as_keyword() {
            Some("invoke") => EventKind::Invoke,
            Some("ok") => EventKind::Ok,
            Some("fail") => EventKind::Fail,
            Some("info") => EventKind::Info,
            _ => return Err(field_error(":type", ":invoke, :ok, :fail or :info")),
        },
    };
    let process = match value.get("process") {
        None => return Err(error(position, EdnErrorKind::MissingField { field: ":process" })),
        Some(Value::Int(process)) => match u64::try_from(*process) {
            Ok(process) => process,
            Err(_) => return Err(field_error(":process", "a non-negative integer")),
        },
        // Jepsen's nemesis logs its faults as `:process :nemesis`; they are not client operations.
        Some(Value::Keyword(_)) => return Ok(None),
        Some(_) => return Err(field_error(":process", "an integer or a keyword")),
    };
    let function = match value.get("f") {
        None => return Err(error(position, EdnErrorKind::MissingField { field: ":f" })),
        Some(Value::Keyword(name)) => Function::from_name(name),
        Some(_) => return Err(field_error(":f", "a keyword")),
    };
    let time = match value.get("time") {
        None => None,
        Some(Value::Int(time)) => match u64::try_from(*time) {
            Ok(time) => Some(time),
            Err(_) => return Err(field_error(":time", "a non-negative integer")),
        },
        Some(_) => return Err(field_error(":time", "an integer")),
    };
    Ok(Some(Event {
        position,
        kind,
        process,
        function,
        key: value.get("key").cloned(),
        value: value.get("value").cloned().unwrap_or(Value::Nil),
        time,
    }))
}

fn error(position: Position, kind: EdnErrorKind) -> EdnError {
    EdnError { position, kind }
}

/// A cursor over validated UTF-8 bytes that knows its line and column.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u32,
    column: u32,
    /// Positions of the elements of the top-level collection being read (depth 1).
    element_positions: Vec<Position>,
}

impl<'a> Reader<'a> {
    fn new(text: &'a [u8]) -> Result<Reader<'a>, EdnError> {
        let mut reader =
            Reader { bytes: text, offset: 0, line: 1, column: 1, element_positions: Vec::new() };
        if let Err(utf8_error) = std::str::from_utf8(text) {
            // Walk to the first invalid byte so the error says where it is.
            while reader.offset < utf8_error.valid_up_to() {
                reader.advance();
            }
            return Err(error(reader.position(), EdnErrorKind::InvalidUtf8));
        }
        Ok(reader)
    }

    fn position(&self) -> Position {
        Position { line: self.line, column: self.column }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.offset).copied()
    }

    fn advance(&mut self) {
        if let Some(&byte) = self.bytes.get(self.offset) {
            self.offset += 1;
            if byte == b'\n' {
                self.line += 1;
                self.column = 1;
            } else if byte & 0xC0 != 0x80 {
                // Continuation bytes of a UTF-8 sequence do not start a new character.
                self.column += 1;
            }
        }
    }

    /// The character starting at the cursor, for error messages.
    fn current_char(&self) -> char {
        let rest = self.bytes.get(self.offset..).unwrap_or_default();
        let end = rest.len().min(4);
        (1..=end)
            .find_map(|length| std::str::from_utf8(&rest[..length]).ok())
            .and_then(|text| text.chars().next())
            .unwrap_or('\u{fffd}')
    }

    /// Skips whitespace, commas and comments; returns the position of the next value, if any.
    fn skip_whitespace_to_value(&mut self) -> Option<Position> {
        loop {
            match self.peek()? {
                b' ' | b'\t' | b'\n' | b'\r' | b',' => self.advance(),
                b';' => {
                    while self.peek().is_some_and(|byte| byte != b'\n') {
                        self.advance();
                    }
                }
                b'#' if self.bytes.get(self.offset + 1) == Some(&b'_') => {
                    // `#_` discards the next value; reading it still validates it, so a
                    // malformed discarded value is reported where it is.
                    return Some(self.position());
                }
                _ => return Some(self.position()),
            }
        }
    }

    fn read_value(&mut self, depth: usize) -> Result<Value, EdnError> {
        if depth >= NESTING_DEPTH_MAX {
            return Err(error(self.position(), EdnErrorKind::NestingTooDeep));
        }
        let Some(start) = self.skip_whitespace_to_value() else {
            return Err(error(
                self.position(),
                EdnErrorKind::UnexpectedEnd { expected: "a value" },
            ));
        };
        if depth == 1 {
            self.element_positions.push(start);
        }
        let Some(byte) = self.peek() else {
            return Err(error(start, EdnErrorKind::UnexpectedEnd { expected: "a value" }));
        };
        match byte {
            b'(' => self.read_sequence(depth, b')').map(Value::List),
            b'[' => self.read_sequence(depth, b']').map(Value::Vector),
            b'{' => self.read_map(depth),
            b'"' => self.read_string().map(Value::Str),
            b':' => {
                self.advance();
                let token = self.read_token();
                if token.is_empty() {
                    return Err(self.unexpected());
                }
                Ok(Value::Keyword(token.into()))
            }
            b'#' => self.read_dispatch(depth, start),
            b'\\' => {
                // A character literal, `\a` or `\newline`; histories hardly use them, so we keep
                // them as one-character strings.
                self.advance();
                let token = self.read_token();
                let text = match token {
                    "newline" => "\n",
                    "space" => " ",
                    "tab" => "\t",
                    "return" => "\r",
                    _ if token.chars().count() == 1 => token,
                    _ if token.is_empty() && self.peek().is_some() => {
                        let c = self.current_char();
                        for _ in 0..c.len_utf8() {
                            self.advance();
                        }
                        return Ok(Value::Str(c.to_string().into()));
                    }
                    _ => {
                        return Err(error(start, EdnErrorKind::UnexpectedCharacter { found: '\\' }))
                    }
                };
                Ok(Value::Str(text.into()))
            }
            b')' | b']' | b'}' => Err(self.unexpected()),
            _ => {
                let token = self.read_token();
                if token.is_empty() {
                    return Err(self.unexpected());
                }
                token_value(token).ok_or_else(|| {
                    error(start, EdnErrorKind::InvalidNumber { token: token.to_string() })
                })
            }
        }
    }

    fn unexpected(&self) -> EdnError {
        match self.peek() {
            None => error(self.position(), EdnErrorKind::UnexpectedEnd { expected: "a value" }),
            Some(_) => error(
                self.position(),
                EdnErrorKind::UnexpectedCharacter { found: self.current_char() },
            ),
        }
    }

    fn read_dispatch(&mut self, depth: usize, start: Position) -> Result<Value, EdnError> {
        self.advance();
        match self.peek() {
            Some(b'{') => self.read_sequence(depth, b'}').map(Value::Set),
            Some(b'_') => {
                self.advance();
                self.read_value(depth + 1)?;
                if depth == 0 {
                    // A discarded top-level value: read what follows instead.
                    match self.skip_whitespace_to_value() {
                        Some(_) => self.read_value(depth),
                        None => Err(error(
                            self.position(),
                            EdnErrorKind::UnexpectedEnd { expected: "a value after #_" },
                        )),
                    }
                } else {
                    // Inside a collection the caller's loop reads the next element.
                    self.read_value(depth)
                }
            }
            Some(b'#') => {
                self.advance();
                match self.read_token() {
                    "NaN" => Ok(Value::Float(f64::NAN)),
                    "Inf" => Ok(Value::Float(f64::INFINITY)),
                    "-Inf" => Ok(Value::Float(f64::NEG_INFINITY)),
                    token => Err(error(
                        start,
                        EdnErrorKind::InvalidNumber { token: format!("##{token}") },
                    )),
                }
            }
            Some(byte) if byte.is_ascii_alphabetic() => {
                // A tagged literal such as `#inst "…"` or `#jepsen.history.Op{…}`: the tag is
                // dropped and the value kept, which is what a history needs.
                self.read_token();
                self.read_value(depth + 1)
            }
            _ => Err(error(start, EdnErrorKind::UnexpectedCharacter { found: '#' })),
        }
    }

    fn read_sequence(&mut self, depth: usize, close: u8) -> Result<Vec<Value>, EdnError> {
        let open_position = self.position();
        let open = self.current_char();
        self.advance();
        let mut items = Vec::new();
        loop {
            match self.skip_whitespace_to_value() {
                None => {
                    let expected = match close {
                        b')' => "')'",
                        b']' => "']'",
                        _ => "'}'",
                    };
                    let _ = open_position;
                    return Err(error(self.position(), EdnErrorKind::UnexpectedEnd { expected }));
                }
                Some(_) => match self.peek() {
                    Some(byte) if byte == close => {
                        self.advance();
                        return Ok(items);
                    }
                    Some(byte @ (b')' | b']' | b'}')) => {
                        let kind = EdnErrorKind::MismatchedDelimiter {
                            found: byte as char,
                            expected: close as char,
                        };
                        let _ = open;
                        return Err(error(self.position(), kind));
                    }
                    _ => {
                        // `#_` before the closing delimiter discards to nothing.
                        if self.peek() == Some(b'#')
                            && self.bytes.get(self.offset + 1) == Some(&b'_')
                        {
                            self.advance();
                            self.advance();
                            self.read_value(depth + 1)?;
                            if depth == 0 {
                                self.element_positions.pop();
                            }
                            continue;
                        }
                        items.push(self.read_value(depth + 1)?);
                    }
                },
            }
        }
    }

    fn read_map(&mut self, depth: usize) -> Result<Value, EdnError> {
        let open_position = self.position();
        let mut items = self.read_sequence(depth, b'}')?;
        if items.len() % 2 != 0 {
            return Err(error(open_position, EdnErrorKind::MapOddEntries));
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut drain = items.drain(..);
        while let (Some(key), Some(value)) = (drain.next(), drain.next()) {
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }

    fn read_string(&mut self) -> Result<Box<str>, EdnError> {
        let start = self.position();
        self.advance();
        let mut text = String::new();
        loop {
            let run_start = self.offset;
            while self.peek().is_some_and(|byte| byte != b'"' && byte != b'\\') {
                self.advance();
            }
            // The input was validated as UTF-8 and the run ends at an ASCII byte.
            text.push_str(std::str::from_utf8(&self.bytes[run_start..self.offset]).unwrap_or(""));
            match self.peek() {
                None => return Err(error(start, EdnErrorKind::UnterminatedString)),
                Some(b'"') => {
                    self.advance();
                    return Ok(text.into());
                }
                _ => {
                    let escape_position = self.position();
                    self.advance();
                    let invalid = || error(escape_position, EdnErrorKind::InvalidEscape);
                    let Some(byte) = self.peek() else {
                        return Err(error(start, EdnErrorKind::UnterminatedString));
                    };
                    self.advance();
                    match byte {
                        b'"' => text.push('"'),
                        b'\\' => text.push('\\'),
                        b'n' => text.push('\n'),
                        b't' => text.push('\t'),
                        b'r' => text.push('\r'),
                        b'b' => text.push('\u{8}'),
                        b'f' => text.push('\u{c}'),
                        b'u' => {
                            let digits =
                                self.bytes.get(self.offset..self.offset + 4).ok_or_else(invalid)?;
                            let digits = std::str::from_utf8(digits).map_err(|_| invalid())?;
                            let code = u32::from_str_radix(digits, 16).map_err(|_| invalid())?;
                            text.push(char::from_u32(code).ok_or_else(invalid)?);
                            for _ in 0..4 {
                                self.advance();
                            }
                        }
                        _ => return Err(invalid()),
                    }
                }
            }
        }
    }

    /// Reads the characters of a symbol, keyword name or number.
    fn read_token(&mut self) -> &'a str {
        let start = self.offset;
        while self.peek().is_some_and(is_token_byte) {
            self.advance();
        }
        // Token bytes are ASCII or whole UTF-8 sequences of validated input.
        std::str::from_utf8(&self.bytes[start..self.offset]).unwrap_or("")
    }
}

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || byte >= 0x80
        || matches!(
            byte,
            b'.' | b'*'
                | b'+'
                | b'!'
                | b'-'
                | b'_'
                | b'?'
                | b'$'
                | b'%'
                | b'&'
                | b'='
                | b'<'
                | b'>'
                | b'/'
                | b'\''
                | b':'
                | b'#'
        )
}

/// The value a bare token stands for: `nil`, a boolean, a number or a symbol. `None` for a
/// token that starts like a number but is not one.
fn token_value(token: &str) -> Option<Value> {
    match token {
        "nil" => return Some(Value::Nil),
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    let bytes = token.as_bytes();
    let starts_numeric = bytes.first().is_some_and(u8::is_ascii_digit)
        || (matches!(bytes.first(), Some(b'+' | b'-'))
            && bytes.get(1).is_some_and(u8::is_ascii_digit));
    if !starts_numeric {
        return Some(Value::Symbol(token.into()));
    }
    if let Some(integer) = token.strip_suffix('N') {
        return integer.parse().ok().map(Value::Int);
    }
    if token.contains(['.', 'e', 'E']) || token.ends_with('M') {
        let float = token.strip_suffix('M').unwrap_or(token);
        // Rust's float syntax is wider than EDN's (it takes "inf"), but a token that starts with
        // a digit can only be an EDN-shaped number here.
        return float.parse().ok().map(Value::Float);
    }
    token.parse().ok().map(Value::Int)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    // Proves comments, commas, sets, discards, tags, big-int suffixes and escapes read as EDN says.
    #[test]
    fn reader_handles_the_edn_subset() {
        let text = "; a comment\n[1, 2N -3 4.5 1e3 \"t\\u0041\\t\" :k/x sym #{1 2} (a) #_ 99 \
                    #inst \"2020\" ##NaN true false nil \\c]";
        let values = read_values(text.as_bytes()).expect("reads");
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].0, position(2, 1));
        let Value::Vector(items) = &values[0].1 else { panic!("expected a vector") };
        assert_eq!(items[0], Value::Int(1));
        assert_eq!(items[1], Value::Int(2));
        assert_eq!(items[2], Value::Int(-3));
        assert_eq!(items[3], Value::Float(4.5));
        assert_eq!(items[4], Value::Float(1000.0));
        assert_eq!(items[5], Value::Str("tA\t".into()));
        assert_eq!(items[6], Value::Keyword("k/x".into()));
        assert_eq!(items[7], Value::Symbol("sym".into()));
        assert_eq!(items[8], Value::Set(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(items[9], Value::List(vec![Value::Symbol("a".into())]));
        assert_eq!(items[10], Value::Str("2020".into()));
        assert!(matches!(items[11], Value::Float(x) if x.is_nan()));
        assert_eq!(
            &items[12..],
            &[Value::Bool(true), Value::Bool(false), Value::Nil, Value::Str("c".into())]
        );
    }

    // Proves each kind of malformed input is a typed error at the right line:column, never a
    // panic.
    #[test]
    fn malformed_input_reports_line_and_column() {
        let deep = "[".repeat(100_000);
        let cases: Vec<(&[u8], Position, EdnErrorKind)> = vec![
            (b"{:type :invoke", position(1, 15), EdnErrorKind::UnexpectedEnd { expected: "'}'" }),
            (
                b"[1 2)",
                position(1, 5),
                EdnErrorKind::MismatchedDelimiter { found: ')', expected: ']' },
            ),
            (b"\n  \"abc", position(2, 3), EdnErrorKind::UnterminatedString),
            (b"\"a\\qb\"", position(1, 3), EdnErrorKind::InvalidEscape),
            (b"\"\\u12\"", position(1, 2), EdnErrorKind::InvalidEscape),
            (b"12abc", position(1, 1), EdnErrorKind::InvalidNumber { token: "12abc".into() }),
            (
                b"99999999999999999999",
                position(1, 1),
                EdnErrorKind::InvalidNumber { token: "99999999999999999999".into() },
            ),
            (deep.as_bytes(), position(1, 129), EdnErrorKind::NestingTooDeep),
            (b"{:a}", position(1, 1), EdnErrorKind::MapOddEntries),
            (b"  )", position(1, 3), EdnErrorKind::UnexpectedCharacter { found: ')' }),
            (b"{:a 1}\n\xff", position(2, 1), EdnErrorKind::InvalidUtf8),
            (b"\"\xc3\xa9\" \xe2\x82", position(1, 5), EdnErrorKind::InvalidUtf8),
            (b"#?", position(1, 1), EdnErrorKind::UnexpectedCharacter { found: '#' }),
            (b":", position(1, 2), EdnErrorKind::UnexpectedEnd { expected: "a value" }),
            (b"1 2\n[3 #_]", position(2, 6), EdnErrorKind::UnexpectedCharacter { found: ']' }),
        ];
        for (text, expected_position, expected_kind) in cases {
            let result = read_values(text);
            assert_eq!(
                result.map(|_| ()),
                Err(EdnError { position: expected_position, kind: expected_kind }),
                "input {:?}",
                String::from_utf8_lossy(&text[..text.len().min(40)])
            );
        }
    }

    // Proves malformed histories (well-formed EDN, wrong shape) are typed errors pointing at the
    // offending event.
    #[test]
    fn malformed_history_reports_the_event_position() {
        let cases: Vec<(&str, Position, EdnErrorKind)> = vec![
            ("[1]", position(1, 2), EdnErrorKind::EventNotAMap { found: "an integer" }),
            ("{:f :read, :process 0}", position(1, 1), EdnErrorKind::MissingField { field: ":type" }),
            ("\n{:type :done, :f :read, :process 0}", position(2, 1), EdnErrorKind::InvalidField { field: ":type", expected: ":invoke, :ok, :fail or :info" }),
            ("{:type :ok, :f :read, :process 4, :time 1}", position(1, 1), EdnErrorKind::CompletionWithoutInvoke { process: 4 }),
            ("{:type :invoke, :f :read, :process 0, :time 1}\n {:type :invoke, :f :read, :process 0, :time 2}", position(2, 2), EdnErrorKind::InvokeWhileOpen { process: 0 }),
            ("{:type :invoke, :f :read, :process -1, :time 1}", position(1, 1), EdnErrorKind::InvalidField { field: ":process", expected: "a non-negative integer" }),
            ("{:type :invoke, :f :read, :process 0, :time 5}\n{:type :ok, :f :read, :process 0, :time 4}", position(2, 1), EdnErrorKind::CompletionBeforeInvoke { invoke_time: 5, complete_time: 4 }),
            ("{:type :invoke, :f :read, :process 0, :time 5}\n{:type :ok, :f :read, :process 0}", position(2, 1), EdnErrorKind::MissingField { field: ":time" }),
        ];
        for (text, expected_position, expected_kind) in cases {
            assert_eq!(
                read_history(text.as_bytes()).map(|_| ()),
                Err(EdnError { position: expected_position, kind: expected_kind }),
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
