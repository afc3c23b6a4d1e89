//! The trace: an always-on 64-bit rolling fingerprint of every event, and, when asked for, a
//! full record of them, one line per event.
//!
//! The fingerprint is computed from the same numbers whether or not recording is on (kind,
//! time, node, ids, numeric fields; never message bodies, which would need formatting), so a
//! recorded run and an unrecorded one of the same seed have the same fingerprint. Recording
//! formats message bodies with `Debug` only when it is on: the hot path never formats.
//!
//! Line format (version 2), the snapshot format of traces: virtual time in seconds with nine
//! decimals, the node (or `-`), the event kind, `key=value` fields in a fixed order, then the
//! message body if any: `0.001000000 n1 deliver from=n0 pkt=17 Ping(3)`. `docs/TRACE_FORMAT.md`
//! is the full specification; the submodules read, write, filter, compare and export it.

use std::fmt::{self, Write as _};

use crate::node::NodeId;
use crate::time::Instant;

pub mod diff;
pub mod filter;
pub mod format;
pub mod json;
pub mod perfetto;
pub mod stream;
pub mod watch;

pub use diff::{diff, Diff};
pub use filter::Filter;
pub use format::{Header, ParseError, TraceFile};
pub use stream::{StreamEnd, TraceStream};
pub use watch::{Stopped, Watch, WATCH_EVERY_EVENTS};

/// The version of the line format; bump it on any change to how lines render, and say what
/// changed in `docs/TRACE_FORMAT.md`. Version 2 escapes control characters (one event is
/// always one line) and defines the header and the JSON-lines form.
pub const FORMAT_VERSION: u32 = 2;

/// A field value as handed over by the engine or a process's `record` call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    U64(u64),
    I64(i64),
    Bool(bool),
    Str(&'a str),
    Node(NodeId),
}

impl From<u64> for Value<'_> {
    fn from(value: u64) -> Self {
        Value::U64(value)
    }
}
impl From<u32> for Value<'_> {
    fn from(value: u32) -> Self {
        Value::U64(u64::from(value))
    }
}
impl From<usize> for Value<'_> {
    fn from(value: usize) -> Self {
        Value::U64(value as u64)
    }
}
impl From<i64> for Value<'_> {
    fn from(value: i64) -> Self {
        Value::I64(value)
    }
}
impl From<bool> for Value<'_> {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}
impl<'a> From<&'a str> for Value<'a> {
    fn from(value: &'a str) -> Self {
        Value::Str(value)
    }
}
impl From<NodeId> for Value<'_> {
    fn from(value: NodeId) -> Self {
        Value::Node(value)
    }
}

/// An owned field value, as kept in a recorded trace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum OwnedValue {
    U64(u64),
    I64(i64),
    Bool(bool),
    Str(String),
    Node(NodeId),
}

/// A recorded value is kept in its canonical form: two values that render the same are the
/// same value (`I64(3)` is `U64(3)`, `Str("n2")` is `Node(n2)`, `Str("true")` is `Bool(true)`),
/// so a trace read back from its text or its JSON lines equals the recorded one.
impl From<Value<'_>> for OwnedValue {
    fn from(value: Value<'_>) -> Self {
        match value {
            Value::U64(v) => OwnedValue::U64(v),
            Value::I64(v) => u64::try_from(v).map_or(OwnedValue::I64(v), OwnedValue::U64),
            Value::Bool(v) => OwnedValue::Bool(v),
            Value::Str(v) => OwnedValue::parse(v),
            Value::Node(v) => OwnedValue::Node(v),
        }
    }
}

impl OwnedValue {
    /// The canonical value whose rendering is `text`: a node, an integer or a boolean if
    /// `text` is exactly how one renders, otherwise the string itself.
    pub fn parse(text: &str) -> OwnedValue {
        let canonical_digits = |digits: &str| {
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'))
        };
        match text {
            "true" => return OwnedValue::Bool(true),
            "false" => return OwnedValue::Bool(false),
            _ => {}
        }
        if let Some(digits) = text.strip_prefix('n').filter(|d| canonical_digits(d)) {
            if let Ok(index) = digits.parse() {
                return OwnedValue::Node(NodeId(index));
            }
        }
        if canonical_digits(text) {
            if let Ok(value) = text.parse() {
                return OwnedValue::U64(value);
            }
        }
        if let Some(digits) = text.strip_prefix('-').filter(|d| canonical_digits(d) && *d != "0") {
            if let Ok(value) = format!("-{digits}").parse() {
                return OwnedValue::I64(value);
            }
        }
        OwnedValue::Str(text.to_string())
    }
}

impl fmt::Display for OwnedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwnedValue::U64(v) => write!(f, "{v}"),
            OwnedValue::I64(v) => write!(f, "{v}"),
            OwnedValue::Bool(v) => write!(f, "{v}"),
            OwnedValue::Str(v) => write_escaped(f, v),
            OwnedValue::Node(v) => write!(f, "{v}"),
        }
    }
}

/// Writes `text` with control characters escaped (`\n`, `\r`, `\u{1b}`), so that one event
/// is always one line whatever a message's `Debug` or an invariant's message contains.
fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if !text.chars().any(char::is_control) {
        return f.write_str(text);
    }
    for c in text.chars() {
        match c {
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub time: Instant,
    pub node: Option<NodeId>,
    pub kind: String,
    pub fields: Vec<(String, OwnedValue)>,
    /// The message body or other free text, rendered last.
    pub detail: Option<String>,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.time)?;
        match self.node {
            Some(node) => write!(f, "{node} ")?,
            None => f.write_str("- ")?,
        }
        f.write_str(&self.kind)?;
        for (name, value) in &self.fields {
            write!(f, " {name}={value}")?;
        }
        if let Some(detail) = &self.detail {
            f.write_char(' ')?;
            write_escaped(f, detail)?;
        }
        Ok(())
    }
}

/// The fingerprint and, optionally, the recorded events of one run.
///
/// A clone is a snapshot of the fingerprint and of records kept in memory; it has no watch
/// and no stream (those belong to the run).
#[derive(Debug)]
pub struct Trace {
    fingerprint: u64,
    events_total: u64,
    recording: Recording,
    /// The fingerprint after each event, kept only by determinism checks.
    fingerprints: Option<Vec<u64>>,
    /// The watchdog's view of this run, if one watches it.
    watch: Option<Watch>,
}

/// Where recorded events go.
#[derive(Debug)]
enum Recording {
    Off,
    Memory(Vec<Record>),
    Stream(Box<TraceStream>),
}

impl Clone for Trace {
    fn clone(&self) -> Self {
        let recording = match &self.recording {
            Recording::Memory(records) => Recording::Memory(records.clone()),
            Recording::Off | Recording::Stream(_) => Recording::Off,
        };
        Trace {
            fingerprint: self.fingerprint,
            events_total: self.events_total,
            recording,
            fingerprints: self.fingerprints.clone(),
            watch: None,
        }
    }
}

const FINGERPRINT_SEED: u64 = 0x6f72_7265_7279_2d31; // "orrery-1"
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl Default for Trace {
    fn default() -> Self {
        Trace {
            fingerprint: FINGERPRINT_SEED,
            events_total: 0,
            recording: Recording::Off,
            fingerprints: None,
            watch: None,
        }
    }
}

impl Trace {
    /// Turns on full recording (one `Record` per event), kept in memory.
    pub fn enable_recording(&mut self) {
        if matches!(self.recording, Recording::Off) {
            self.recording = Recording::Memory(Vec::new());
        }
    }

    /// Sends every record to `stream` from now on instead of memory; records kept so far go
    /// first. Turns recording on if it was off.
    pub fn stream_to(&mut self, mut stream: TraceStream) {
        if let Recording::Memory(records) = &self.recording {
            for record in records {
                stream.write(record);
            }
        }
        self.recording = Recording::Stream(Box::new(stream));
    }

    /// The stream records went to, if any; recording stops.
    pub fn take_stream(&mut self) -> Option<TraceStream> {
        match std::mem::replace(&mut self.recording, Recording::Off) {
            Recording::Stream(stream) => Some(*stream),
            other => {
                self.recording = other;
                None
            }
        }
    }

    /// Lets `watch` see this run's progress, and stop it (see `watch`).
    pub fn set_watch(&mut self, watch: Watch) {
        self.watch = Some(watch);
    }

    /// Keeps the fingerprint after each event, so two runs can be compared event by event.
    pub fn enable_fingerprint_history(&mut self) {
        self.fingerprints.get_or_insert_with(Vec::new);
    }

    #[inline]
    pub fn is_recording(&self) -> bool {
        !matches!(self.recording, Recording::Off)
    }

    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// How many events went into the fingerprint.
    pub fn events_total(&self) -> u64 {
        self.events_total
    }

    /// The records kept in memory (none when they are streamed).
    pub fn records(&self) -> &[Record] {
        match &self.recording {
            Recording::Memory(records) => records,
            Recording::Off | Recording::Stream(_) => &[],
        }
    }

    pub fn take_records(&mut self) -> Vec<Record> {
        match &mut self.recording {
            Recording::Memory(records) => std::mem::take(records),
            Recording::Off | Recording::Stream(_) => Vec::new(),
        }
    }

    pub fn fingerprint_history(&self) -> &[u64] {
        self.fingerprints.as_deref().unwrap_or(&[])
    }

    /// Folds one engine event into the fingerprint: a kind code and up to four numbers.
    /// This is the hot path: no allocation, no formatting.
    #[inline(always)]
    pub fn mix(&mut self, kind: Kind, time: Instant, words: [u64; 4]) {
        let mut fingerprint = self.fingerprint;
        fingerprint = (fingerprint.rotate_left(26) ^ (kind as u64)).wrapping_mul(MIX);
        fingerprint = (fingerprint.rotate_left(26) ^ time.as_nanos()).wrapping_mul(MIX);
        for word in words {
            fingerprint = (fingerprint.rotate_left(26) ^ word).wrapping_mul(MIX);
        }
        self.fingerprint = fingerprint;
        self.events_total += 1;
        if let Some(history) = &mut self.fingerprints {
            history.push(fingerprint);
        }
        if self.events_total & (WATCH_EVERY_EVENTS - 1) == 0 {
            self.publish_progress();
        }
    }

    /// Off the hot path: tells the watch, if any, how far the run got (and stops the run if
    /// the watch asked for it).
    #[cold]
    #[inline(never)]
    fn publish_progress(&self) {
        if let Some(watch) = &self.watch {
            watch.publish(self.events_total);
        }
    }

    /// Folds a string (a user record's kind or a text field) into the fingerprint.
    pub fn mix_text(&mut self, text: &str) {
        let mut fingerprint = self.fingerprint;
        for chunk in text.as_bytes().chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            fingerprint =
                (fingerprint.rotate_left(26) ^ u64::from_le_bytes(word)).wrapping_mul(MIX);
        }
        self.fingerprint = (fingerprint.rotate_left(26) ^ text.len() as u64).wrapping_mul(MIX);
    }

    /// Folds a field value into the fingerprint (text fields by content).
    pub fn mix_value(&mut self, value: Value<'_>) {
        let word = match value {
            Value::U64(v) => v,
            Value::I64(v) => v as u64,
            Value::Bool(v) => u64::from(v),
            Value::Node(v) => u64::from(v.0),
            Value::Str(text) => return self.mix_text(text),
        };
        self.fingerprint = (self.fingerprint.rotate_left(26) ^ word).wrapping_mul(MIX);
    }

    /// Records an event if recording is on; `detail` is only called then.
    #[inline]
    pub fn record(
        &mut self,
        time: Instant,
        node: Option<NodeId>,
        kind: &str,
        fields: &[(&str, Value<'_>)],
        detail: impl FnOnce() -> Option<String>,
    ) {
        if matches!(self.recording, Recording::Off) {
            return;
        }
        let record = Record {
            time,
            node,
            kind: kind.to_string(),
            fields: fields
                .iter()
                .map(|(name, value)| (name.to_string(), (*value).into()))
                .collect(),
            detail: detail(),
        };
        match &mut self.recording {
            Recording::Memory(records) => records.push(record),
            Recording::Stream(stream) => stream.write(&record),
            Recording::Off => {}
        }
    }

    /// Renders the recorded events as text, one line each.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for record in self.records() {
            let _ = writeln!(text, "{record}");
        }
        text
    }
}

/// Engine event kinds, as folded into the fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Kind {
    Start = 1,
    Send = 2,
    Deliver = 3,
    Drop = 4,
    Timer = 5,
    Crash = 6,
    Restart = 7,
    Pause = 8,
    Resume = 9,
    Control = 10,
    User = 11,
    Buggify = 12,
    Disk = 13,
    Duplicate = 14,
    Hold = 15,
    Release = 16,
    Limit = 17,
    Observe = 18,
    End = 19,
}

/// Where two fingerprint histories first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the first event whose fingerprint differs (or where one run ended early).
    pub event_index: usize,
    pub left_events: usize,
    pub right_events: usize,
}

/// Compares two per-event fingerprint histories; `None` if they are identical.
pub fn first_divergence(left: &[u64], right: &[u64]) -> Option<Divergence> {
    let event_index = first_difference(left, right)?;
    Some(Divergence { event_index, left_events: left.len(), right_events: right.len() })
}

/// The index of the first position where two sequences differ, or the length of the shorter
/// one if it is a prefix of the longer; `None` if they are equal.
pub fn first_difference<T: PartialEq>(left: &[T], right: &[T]) -> Option<usize> {
    left.iter()
        .zip(right)
        .position(|(a, b)| a != b)
        .or_else(|| (left.len() != right.len()).then_some(left.len().min(right.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the fingerprint depends on every mixed number and on order, and that recording
    // does not change it.
    #[test]
    fn fingerprint_is_order_sensitive_and_independent_of_recording() {
        let run = |recording: bool, words: [[u64; 4]; 2]| {
            let mut trace = Trace::default();
            if recording {
                trace.enable_recording();
            }
            for (i, w) in words.iter().enumerate() {
                trace.mix(Kind::Deliver, Instant::from_nanos(i as u64), *w);
                trace.record(Instant::from_nanos(i as u64), None, "x", &[], || None);
            }
            trace.fingerprint()
        };
        let a = [[1, 2, 3, 4], [5, 6, 7, 8]];
        let b = [[5, 6, 7, 8], [1, 2, 3, 4]];
        assert_eq!(run(false, a), run(true, a));
        assert_ne!(run(false, a), run(false, b));
        assert_ne!(run(false, a), run(false, [[1, 2, 3, 4], [5, 6, 7, 9]]));
    }

    // Proves records render in the documented line format.
    #[test]
    fn renders_the_line_format() {
        let mut trace = Trace::default();
        trace.enable_recording();
        trace.record(
            Instant::from_nanos(1_000_000),
            Some(NodeId(1)),
            "deliver",
            &[("from", NodeId(0).into()), ("pkt", 17u64.into())],
            || Some("Ping(3)".to_string()),
        );
        trace.record(Instant::ZERO, None, "partition", &[("groups", "n0|n1".into())], || None);
        assert_eq!(
            trace.render(),
            "0.001000000 n1 deliver from=n0 pkt=17 Ping(3)\n0.000000000 - partition groups=n0|n1\n"
        );
    }

    // Proves recorded values are kept canonically: what renders the same is the same value,
    // and every value reads back from its rendering.
    #[test]
    fn values_are_canonical() {
        let owned = |value: Value<'_>| OwnedValue::from(value);
        assert_eq!(owned(Value::I64(3)), OwnedValue::U64(3));
        assert_eq!(owned(Value::I64(-3)), OwnedValue::I64(-3));
        assert_eq!(owned(Value::Str("n2")), OwnedValue::Node(NodeId(2)));
        assert_eq!(owned(Value::Str("false")), OwnedValue::Bool(false));
        assert_eq!(owned(Value::Str("17")), OwnedValue::U64(17));
        for text in ["n02", "007", "-0", "+1", "n", "", "1.5", "True", "18446744073709551616"] {
            assert_eq!(owned(Value::Str(text)), OwnedValue::Str(text.to_string()), "{text}");
        }
        for value in [OwnedValue::U64(u64::MAX), OwnedValue::I64(i64::MIN), OwnedValue::Bool(true)]
        {
            assert_eq!(OwnedValue::parse(&value.to_string()), value);
        }
    }

    // Proves divergence detection finds the first differing event, including early ends.
    #[test]
    fn finds_the_first_divergence() {
        assert_eq!(first_divergence(&[1, 2, 3], &[1, 2, 3]), None);
        assert_eq!(first_divergence(&[1, 2, 3], &[1, 9, 3]).map(|d| d.event_index), Some(1));
        assert_eq!(first_divergence(&[1, 2], &[1, 2, 3]).map(|d| d.event_index), Some(2));
    }
}
