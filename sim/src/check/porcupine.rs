//! porcupine's test-data formats: its Jepsen etcd logs, read as a stream, and writers for both
//! of its formats so that porcupine can be run on the histories we generate.
//!
//! An etcd log is Jepsen's console log, one operation event per line (fields separated by
//! tabs):
//!
//! ```text
//! INFO  jepsen.util - 3    :invoke    :cas    [3 0]
//! INFO  jepsen.util - 3    :fail    :cas    [3 0]
//! INFO  jepsen.util - 1    :info    :write    :timed-out
//! ```
//!
//! Lines of other loggers, and `jepsen.util` lines that are not an operation (their message
//! does not start with a process), are skipped; an operation line that does not parse is an
//! error. Events have no times: as in porcupine, an event's time is its place in the log, and an
//! operation never completed (a timed-out write, whose process Jepsen then retires) is
//! indeterminate. porcupine's kv histories are EDN and read by `jepsen`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;

use super::edn::{parse_interned, parse_keyword, read_token};
use super::format::{ReadError, ReadErrorKind};
use super::history::{Completion, Function, History};
use super::interned::{Builder, Event, EventKind};
use super::jepsen::events_in_order;
use super::source::{Cursor, Source, Stop};
use super::value::{Position, Value};
use super::values::ValueTable;

/// Reads every operation event of a Jepsen etcd log from `source` into `builder`.
pub(super) fn read_events<R: Read>(
    source: &mut Source<R>,
    builder: &mut Builder,
) -> Result<(), ReadError> {
    loop {
        let values = builder.values();
        match source.parse(|cursor| next_line(cursor, values))? {
            None => return Ok(()),
            Some(Some(event)) => builder.push(event)?,
            Some(None) => {}
        }
    }
}

/// The next line's event: `None` at the end, `Some(None)` for a line that is not an operation.
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
                return Err(cursor.end("a log line"))
            }
            None => return Ok(None),
        }
    }
    let end = match cursor.find_newline() {
        Some(end) => end,
        None if cursor.may_grow() => return Err(Stop::Incomplete),
        None => cursor.bytes.len(),
    };
    let mut line = cursor.until(end);
    let event = parse_line(&mut line, values)?;
    // Whatever the line held after what was parsed is skipped with it.
    while line.offset < end {
        line.bump();
    }
    cursor.resume_from(&line);
    Ok(Some(event))
}

fn parse_line(line: &mut Cursor<'_>, values: &mut ValueTable) -> Result<Option<Event>, Stop> {
    let position = line.position();
    read_word(line)?;
    skip_blanks(line);
    if read_word(line)? != "jepsen.util" {
        return Ok(None);
    }
    skip_blanks(line);
    if line.peek() != Some(b'-') {
        return Ok(None);
    }
    line.bump();
    skip_blanks(line);
    let process = match line.peek() {
        Some(byte) if byte.is_ascii_digit() => {
            let token = read_token(line)?;
            match token.parse::<u64>() {
                Ok(process) => process,
                Err(_) => {
                    let problem = "the process must be a non-negative integer";
                    return Err(invalid(line.position(), problem));
                }
            }
        }
        // `:nemesis` and other non-client processes.
        Some(b':') => return Ok(None),
        _ => return Ok(None),
    };
    skip_blanks(line);
    let at = line.position();
    let kind = match keyword(line)? {
        Some("invoke") => EventKind::Invoke,
        Some("ok") => EventKind::Ok,
        Some("fail") => EventKind::Fail,
        Some("info") => EventKind::Info,
        _ => return Err(invalid(at, "the type must be :invoke, :ok, :fail or :info")),
    };
    skip_blanks(line);
    let at = line.position();
    let function = match keyword(line)? {
        Some(name) => Function::from_name(name),
        None => return Err(invalid(at, "the function must be a keyword")),
    };
    skip_blanks(line);
    if line.peek().is_none() {
        return Err(invalid(line.position(), "the value is missing"));
    }
    let value = parse_interned(line, values, 1)?;
    skip_blanks(line);
    if line.peek().is_some() {
        return Err(line.error(ReadErrorKind::TrailingText { after: "the value" }));
    }
    Ok(Some(Event { position, kind, process, function, key: None, value, time: None }))
}

fn invalid(position: Position, problem: &'static str) -> Stop {
    Stop::Error(ReadError { position, kind: ReadErrorKind::InvalidLogLine { problem } })
}

fn keyword<'a>(line: &mut Cursor<'a>) -> Result<Option<&'a str>, Stop> {
    if line.peek() == Some(b':') {
        parse_keyword(line).map(Some)
    } else {
        Ok(None)
    }
}

/// The characters up to the next blank.
fn read_word<'a>(line: &mut Cursor<'a>) -> Result<&'a str, Stop> {
    let start = line.offset;
    while line.peek().is_some_and(|byte| !matches!(byte, b' ' | b'\t' | b'\r')) {
        line.bump();
    }
    Ok(std::str::from_utf8(&line.bytes[start..line.offset]).unwrap_or(""))
}

fn skip_blanks(line: &mut Cursor<'_>) {
    while matches!(line.peek(), Some(b' ' | b'\t' | b'\r')) {
        line.bump();
    }
}

/// Why a history cannot be written in one of porcupine's formats.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("operation #{index}: {problem}")]
pub struct WriteError {
    pub index: usize,
    pub problem: String,
}

/// Writes a single-register history of integers (read, write, cas) as a Jepsen etcd log that
/// porcupine's `parseJepsenLog` reads with the verdict we give it. An operation porcupine's
/// parser leaves open (an indeterminate one, a failed write) retires its process, as Jepsen
/// does, so that the operation stays open to the end rather than being mistaken for the
/// process's next one.
pub fn write_etcd_log(history: &History) -> Result<String, WriteError> {
    let mut text = String::with_capacity(history.operations().len() * 80);
    let mut numbers = Renumbering::new(history);
    for (index, is_completion) in events_in_order(history) {
        let operation = &history.operations()[index];
        let problem = |problem: &str| WriteError { index, problem: problem.to_string() };
        if operation.key.is_some() {
            return Err(problem("an etcd log holds one register; this operation has a key"));
        }
        let argument = match (&operation.function, &operation.input) {
            (Function::Read, _) => "nil".to_string(),
            (Function::Write, Value::Int(value)) if *value >= 0 => value.to_string(),
            (Function::Cas, Value::Vector(pair)) => match &pair[..] {
                [Value::Int(from), Value::Int(to)] if *from >= 0 && *to >= 0 => {
                    format!("[{from} {to}]")
                }
                _ => return Err(problem("a cas must be [from to] of non-negative integers")),
            },
            _ => return Err(problem("only reads, writes and cas of non-negative integers fit")),
        };
        let (kind, value) = match (&operation.completed, is_completion) {
            (Some(completed), true) => match (&completed.completion, &operation.function) {
                (Completion::Ok(Value::Int(read)), Function::Read) if *read >= 0 => {
                    ("ok", read.to_string())
                }
                (Completion::Ok(Value::Nil), Function::Read) => ("ok", "nil".to_string()),
                (Completion::Ok(_), Function::Read) => {
                    return Err(problem("a read must return a non-negative integer or nil"))
                }
                (Completion::Ok(_), _) => ("ok", argument),
                (Completion::Fail, Function::Read) => ("fail", ":timed-out".to_string()),
                (Completion::Fail, Function::Cas) => ("fail", argument),
                (Completion::Fail, _) => {
                    return Err(problem("a failed write has no form porcupine reads the same way"))
                }
                (Completion::Info, _) => {
                    // porcupine's parser leaves it open, which is what indeterminate means; the
                    // process is retired so its next operation is not taken for this one.
                    let process = numbers.of(index);
                    let f = operation.function.name();
                    let _ =
                        writeln!(text, "INFO  jepsen.util - {process}\t:info\t:{f}\t:timed-out");
                    numbers.retire(operation.process);
                    continue;
                }
            },
            _ => ("invoke", argument),
        };
        let process = if is_completion {
            numbers.of(index)
        } else {
            numbers.invoke(index, operation.process)
        };
        let f = operation.function.name();
        let _ = writeln!(text, "INFO  jepsen.util - {process}\t:{kind}\t:{f}\t{value}");
    }
    Ok(text)
}

/// Writes a key-value history (get, put, append of strings) as porcupine's kv text, which its
/// `parseKvLog` reads with porcupine's conventions: a key never written holds `""`, so a read of
/// `nil` is written `""`. Indeterminate reads are left out (they constrain nothing, but
/// porcupine would take an open read to return `""`); indeterminate puts and appends are left
/// open, retiring their process as Jepsen does.
pub fn write_kv_log(history: &History) -> Result<String, WriteError> {
    let mut text = String::with_capacity(history.operations().len() * 80);
    let mut numbers = Renumbering::new(history);
    for (index, is_completion) in events_in_order(history) {
        let operation = &history.operations()[index];
        let problem = |problem: &str| WriteError { index, problem: problem.to_string() };
        let Some(key) = &operation.key else {
            return Err(problem("a kv history needs a key on every operation"));
        };
        let key = match key {
            Value::Str(text) => text.to_string(),
            other => other.to_string(),
        };
        if key.contains('"') {
            return Err(problem("porcupine's kv format cannot quote a key holding '\"'"));
        }
        let is_read = matches!(operation.function, Function::Get | Function::Read);
        if is_read && operation.is_indeterminate() {
            continue;
        }
        let f = match operation.function {
            Function::Get | Function::Read => "get",
            Function::Put | Function::Write => "put",
            Function::Append => "append",
            _ => return Err(problem("only get, put and append fit porcupine's kv format")),
        };
        let quoted = |value: &Value| match value {
            Value::Str(text) if !text.contains('"') => Ok(format!("\"{text}\"")),
            Value::Nil => Ok("\"\"".to_string()),
            _ => Err(problem("values must be strings without '\"'")),
        };
        let (kind, value) = match (&operation.completed, is_completion) {
            (Some(completed), true) => match &completed.completion {
                Completion::Ok(read) if is_read => ("ok", quoted(read)?),
                Completion::Ok(_) => ("ok", quoted(&operation.input)?),
                Completion::Fail if is_read => continue,
                // porcupine's format has no `:fail` or `:info`: the operation stays open.
                Completion::Fail | Completion::Info => {
                    numbers.retire(operation.process);
                    continue;
                }
            },
            _ if is_read => ("invoke", "nil".to_string()),
            _ => ("invoke", quoted(&operation.input)?),
        };
        let process = if is_completion {
            numbers.of(index)
        } else {
            numbers.invoke(index, operation.process)
        };
        let _ = writeln!(
            text,
            "{{:process {process}, :type :{kind}, :f :{f}, :key \"{key}\", :value {value}}}"
        );
    }
    Ok(text)
}

/// Jepsen's process numbering: a process whose operation is left open continues under a fresh
/// number.
struct Renumbering {
    current: BTreeMap<u64, u64>,
    next: u64,
    /// Per operation, the number its process had when it was invoked.
    numbers: Vec<u64>,
}

impl Renumbering {
    fn new(history: &History) -> Renumbering {
        let max = history.operations().iter().map(|operation| operation.process).max();
        Renumbering {
            current: BTreeMap::new(),
            next: max.map_or(0, |max| max + 1),
            numbers: vec![0; history.operations().len()],
        }
    }

    fn invoke(&mut self, index: usize, process: u64) -> u64 {
        let number = *self.current.entry(process).or_insert(process);
        self.numbers[index] = number;
        number
    }

    fn of(&self, index: usize) -> u64 {
        self.numbers[index]
    }

    fn retire(&mut self, process: u64) {
        self.current.insert(process, self.next);
        self.next += 1;
    }
}
