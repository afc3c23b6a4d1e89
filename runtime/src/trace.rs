//! Where a production node's records and observations go: always to `tracing` (records at
//! debug, observations at info, under the targets `orrery::record` and `orrery::observe`),
//! and, if configured, appended to a JSON-lines file in the simulation trace format
//! (`docs/TRACE_FORMAT.md`), stamped with the host's monotonic clock, so `orrery trace` and
//! the checks read a production node's file as they read a simulated run's.
//!
//! The file gets the trace header when it is new; each boot then adds a `start` event with
//! its incarnation and seed, so one file holds a node's whole life across restarts. Lines
//! are written whole, once per loop iteration: a node killed mid-run leaves a file that
//! parses up to its last whole line.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use orrery_sim::trace::{json, Header, OwnedValue, Record, FORMAT_VERSION};
use orrery_sim::{Instant, NodeId, Value};

/// The trace of one node.
pub(crate) struct TraceSink {
    node: NodeId,
    file: Option<File>,
    pending: String,
}

impl TraceSink {
    /// A sink for `node`, appending to `path` if given (writing `header` if it is new).
    pub fn open(node: NodeId, path: Option<&Path>, header: &Header) -> io::Result<TraceSink> {
        let file = match path {
            None => None,
            Some(path) => {
                let mut file = OpenOptions::new().create(true).append(true).open(path)?;
                if file.metadata()?.len() == 0 {
                    file.write_all(format!("{}\n", json::header_line(header)).as_bytes())?;
                }
                Some(file)
            }
        };
        Ok(TraceSink { node, file, pending: String::new() })
    }

    /// A record of the process (or the runtime): debug-level `tracing`, and the file.
    pub fn record(&mut self, at: Instant, kind: &str, fields: &[(&str, Value<'_>)]) {
        tracing::debug!(target: "orrery::record", node = %self.node, "{kind}{}", Fields(fields));
        self.write(at, kind, fields);
    }

    /// An observation: info-level `tracing`, and the file.
    pub fn observe(&mut self, at: Instant, kind: &str, fields: &[(&str, Value<'_>)]) {
        tracing::info!(target: "orrery::observe", node = %self.node, "{kind}{}", Fields(fields));
        self.write(at, kind, fields);
    }

    fn write(&mut self, at: Instant, kind: &str, fields: &[(&str, Value<'_>)]) {
        if self.file.is_none() {
            return;
        }
        let record = Record {
            time: at,
            node: Some(self.node),
            kind: kind.to_string(),
            fields: fields
                .iter()
                .map(|(name, value)| (name.to_string(), (*value).into()))
                .collect(),
            detail: None,
        };
        self.pending.push_str(&json::record_line(&record));
        self.pending.push('\n');
    }

    /// Writes the lines recorded since the last flush. A failing file is reported once and
    /// then left alone: the node runs on without it.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Some(file) = &mut self.file {
            if let Err(error) = file.write_all(self.pending.as_bytes()) {
                tracing::error!(target: "orrery::record", node = %self.node, %error, "cannot write the trace file; no more trace lines");
                self.file = None;
            }
        }
        self.pending.clear();
    }
}

/// Fields rendered as the text trace does: ` name=value` each.
struct Fields<'a>(&'a [(&'a str, Value<'a>)]);

impl fmt::Display for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in self.0 {
            f.write_char(' ')?;
            f.write_str(name)?;
            f.write_char('=')?;
            match value {
                Value::Str(text) => write!(f, "{}", OwnedValue::Str((*text).to_string()))?,
                Value::U64(v) => write!(f, "{v}")?,
                Value::I64(v) => write!(f, "{v}")?,
                Value::Bool(v) => write!(f, "{v}")?,
                Value::Node(v) => write!(f, "{v}")?,
            }
        }
        Ok(())
    }
}

/// The header of a production node's trace file.
pub(crate) fn header(node: NodeId, role: &str, seed: u64) -> Header {
    Header {
        version: FORMAT_VERSION,
        scenario: "production".to_string(),
        seed,
        realized: vec![
            ("runtime.node".to_string(), node.to_string()),
            ("runtime.role".to_string(), role.to_string()),
            ("runtime.seed".to_string(), seed.to_string()),
        ],
    }
}
