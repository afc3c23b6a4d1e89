//! History file formats: which ones we read, how a file's format is recognised, and the one
//! error type every reader reports, always with `line:column`.
//!
//! - `edn`: Jepsen's EDN history, one event map per line or one vector of maps (`jepsen`);
//! - `jsonl`: Orrery's JSON lines, one event object per line, the same fields by the same
//!   names (`jsonl`);
//! - `porcupine-etcd`: the Jepsen etcd logs of porcupine's test data, `INFO  jepsen.util - 3`
//!   then tab-separated `:invoke :read nil` (`porcupine`);
//! - `porcupine-kv`: porcupine's key-value test histories. Their syntax is EDN without `:time`,
//!   so the format differs from `edn` only in its conventions: porcupine's kv model holds `""`
//!   in a key never written.
//!
//! A file's format is recognised from its first bytes where that is unambiguous: a log line
//! (`INFO  jepsen.util ...`), a JSON object (`{"`), else EDN. `porcupine-kv` is EDN to the
//! eye, so it is never guessed: name it, or give its convention (`--initial '""'`).

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use super::interned::{Builder, InternedHistory};
use super::source::{Source, Stop};
use super::value::{Position, Value};

/// Why a history could not be read, and where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}:{}: {kind}", position.line, position.column)]
pub struct ReadError {
    pub position: Position,
    pub kind: ReadErrorKind,
}

/// The reasons a history file can be rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ReadErrorKind {
    #[error("cannot read the input: {message}")]
    Io { message: String },
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
    #[error("collections nest deeper than {} levels", super::edn::NESTING_DEPTH_MAX)]
    NestingTooDeep,
    #[error("map has a key without a value")]
    MapOddEntries,
    #[error("unexpected text after {after}; expected the end of the line")]
    TrailingText { after: &'static str },
    #[error("not valid JSON: {reason}")]
    InvalidJson { reason: &'static str },
    #[error("a history event must be {expected}, found {found}")]
    EventNotAMap { expected: &'static str, found: &'static str },
    #[error("event has no {field} field")]
    MissingField { field: &'static str },
    #[error("event field {field} must be {expected}")]
    InvalidField { field: &'static str, expected: &'static str },
    #[error("a log line of an operation must be `PROCESS TYPE F VALUE`; {problem}")]
    InvalidLogLine { problem: &'static str },
    #[error("process {process} completes an operation it never invoked")]
    CompletionWithoutInvoke { process: u64 },
    #[error("process {process} invokes an operation while its previous one is still open")]
    InvokeWhileOpen { process: u64 },
    #[error("completion time {complete_time} is before the invoke time {invoke_time}")]
    CompletionBeforeInvoke { invoke_time: u64, complete_time: u64 },
    #[error("the history holds no operations: there is nothing to check")]
    Empty,
}

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Jepsen's EDN history.
    Edn,
    /// Orrery's JSON lines.
    JsonLines,
    /// porcupine's Jepsen etcd logs.
    PorcupineEtcd,
    /// porcupine's key-value histories: EDN syntax, with porcupine's kv conventions.
    PorcupineKv,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}; expected edn, jsonl, porcupine-etcd or porcupine-kv")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(text: &str) -> Result<Format, UnknownFormat> {
        match text {
            "edn" => Ok(Format::Edn),
            "jsonl" => Ok(Format::JsonLines),
            "porcupine-etcd" => Ok(Format::PorcupineEtcd),
            "porcupine-kv" => Ok(Format::PorcupineKv),
            other => Err(UnknownFormat(other.to_string())),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Edn => "edn",
            Format::JsonLines => "jsonl",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
        })
    }
}

impl Format {
    /// The value a key (or register) holds before any write, in this format's convention:
    /// `""` for porcupine's kv histories, `nil` (Jepsen's) for the rest.
    pub fn initial_value(self) -> Value {
        match self {
            Format::PorcupineKv => Value::Str("".into()),
            Format::Edn | Format::JsonLines | Format::PorcupineEtcd => Value::Nil,
        }
    }
}

/// Reads a history from `reader` in `format`, or in the format its first bytes show. Returns
/// the format read, too. Memory is bounded by the history's operations and distinct values,
/// never by the size of the file.
pub fn read_interned(
    reader: impl Read,
    format: Option<Format>,
) -> Result<(InternedHistory, Format), ReadError> {
    read_with(reader, format, Builder::new())
}

/// Like [`read_interned`], and the history also remembers the order its events were read in,
/// so [`InternedHistory::to_history`] can give it back (for pictures of it); this costs memory
/// per event.
pub fn read_interned_in_order(
    reader: impl Read,
    format: Option<Format>,
) -> Result<(InternedHistory, Format), ReadError> {
    read_with(reader, format, Builder::keeping_order())
}

pub(super) fn read_with(
    reader: impl Read,
    format: Option<Format>,
    mut builder: Builder,
) -> Result<(InternedHistory, Format), ReadError> {
    let mut source = Source::new(reader);
    let format = match format {
        Some(format) => format,
        None => source.parse(detect)?,
    };
    match format {
        Format::Edn | Format::PorcupineKv => super::jepsen::read_events(&mut source, &mut builder)?,
        Format::JsonLines => super::jsonl::read_events(&mut source, &mut builder)?,
        Format::PorcupineEtcd => super::porcupine::read_events(&mut source, &mut builder)?,
    }
    Ok((builder.finish()?, format))
}

/// How many bytes the format is recognised from.
const DETECT_BYTES: usize = 64;

/// Recognises the format from the first bytes after leading whitespace.
fn detect(cursor: &mut super::source::Cursor<'_>) -> Result<Format, Stop> {
    let mut offset = cursor.offset;
    while cursor.bytes.get(offset).is_some_and(u8::is_ascii_whitespace) {
        offset += 1;
    }
    let head = &cursor.bytes[offset.min(cursor.bytes.len())..];
    if head.len() < DETECT_BYTES && cursor.may_grow() {
        return Err(Stop::Incomplete);
    }
    if head.is_empty() {
        while cursor.offset < offset {
            cursor.advance();
        }
        return Err(if cursor.followed_by_invalid_utf8() {
            cursor.error(ReadErrorKind::InvalidUtf8)
        } else {
            cursor.error(ReadErrorKind::Empty)
        });
    }
    let word_end = head.iter().position(|byte| byte.is_ascii_whitespace()).unwrap_or(head.len());
    if matches!(&head[..word_end], b"INFO" | b"WARN" | b"DEBUG" | b"ERROR" | b"TRACE") {
        return Ok(Format::PorcupineEtcd);
    }
    if head[0] == b'{' {
        let after = head[1..].iter().find(|byte| !byte.is_ascii_whitespace());
        if after == Some(&b'"') {
            return Ok(Format::JsonLines);
        }
    }
    Ok(Format::Edn)
}
