//! Recording a trace straight to a writer as the run goes, in the text line format, so a run
//! of any length is recorded in bounded memory: `--trace`, capsules and `replay` write this
//! way. The header is written first; then one line per event, each written whole.
//!
//! A stream may have a size limit (capsules do, so a seed that exhausted `events_max` cannot
//! fill the disk): past it, lines are counted but not written, and the file ends with a
//! comment saying where it was cut. A write error is kept and reported by `finish`; the run
//! itself never sees it.

use std::fmt::{self, Write as _};
use std::io::{self, Write};

use crate::time::Instant;

use super::{Header, Record};

/// Where a recording goes while the run records it.
pub struct TraceStream {
    out: Box<dyn Write>,
    line: String,
    lines: u64,
    bytes: u64,
    bytes_max: Option<u64>,
    /// The first event left out by the size limit: (its index, its time).
    cut_at: Option<(u64, Instant)>,
    error: Option<io::Error>,
}

/// What a finished stream wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamEnd {
    /// Records (event lines) recorded: written or, past a size limit, left out.
    pub records: u64,
    pub bytes: u64,
    /// The first event left out by the size limit, if any: (its index, its time).
    pub cut_at: Option<(u64, Instant)>,
}

impl TraceStream {
    /// A stream to `out` that starts with `header`; `bytes_max` limits the event lines.
    pub fn new(
        mut out: Box<dyn Write>,
        header: &Header,
        bytes_max: Option<u64>,
    ) -> io::Result<TraceStream> {
        let header = header.to_string();
        out.write_all(header.as_bytes())?;
        Ok(TraceStream {
            out,
            line: String::new(),
            lines: 0,
            bytes: header.len() as u64,
            bytes_max,
            cut_at: None,
            error: None,
        })
    }

    /// Writes one event line (or counts it, past the size limit or after an error).
    pub(crate) fn write(&mut self, record: &Record) {
        let index = self.lines;
        self.lines += 1;
        if self.error.is_some() || self.cut_at.is_some() {
            return;
        }
        self.line.clear();
        let _ = writeln!(self.line, "{record}");
        let length = self.line.len() as u64;
        if self.bytes_max.is_some_and(|max| self.bytes + length > max) {
            self.cut_at = Some((index, record.time));
            return;
        }
        match self.out.write_all(self.line.as_bytes()) {
            Ok(()) => self.bytes += length,
            Err(error) => self.error = Some(error),
        }
    }

    /// Ends the stream: the cut comment if the size limit was reached, then a flush. The first
    /// write error, if any, is returned here.
    pub fn finish(mut self) -> io::Result<StreamEnd> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        if let Some((index, time)) = self.cut_at {
            let comment = format!(
                "# cut: the trace reached its limit of {} bytes at event {index} ({time}); {} \
                 event(s) left out; `orrery replay` records the whole run\n",
                self.bytes_max.unwrap_or(0),
                self.lines - index
            );
            self.out.write_all(comment.as_bytes())?;
            self.bytes += comment.len() as u64;
        }
        self.out.flush()?;
        Ok(StreamEnd { records: self.lines, bytes: self.bytes, cut_at: self.cut_at })
    }
}

impl fmt::Debug for TraceStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceStream")
            .field("lines", &self.lines)
            .field("bytes", &self.bytes)
            .field("bytes_max", &self.bytes_max)
            .field("cut_at", &self.cut_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::node::NodeId;
    use crate::trace::{format::parse_text, Trace, FORMAT_VERSION};

    /// A writer whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().map_err(|_| io::Error::other("poisoned"))?.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn header() -> Header {
        Header { version: FORMAT_VERSION, scenario: "s".to_string(), seed: 3, realized: vec![] }
    }

    fn record_events(trace: &mut Trace, count: u64) {
        for i in 0..count {
            trace.record(
                Instant::from_nanos(i),
                Some(NodeId(1)),
                "tick",
                &[("n", i.into())],
                || None,
            );
        }
    }

    // Proves a streamed trace holds nothing in memory, and its file reads back to exactly the
    // records an in-memory recording of the same events keeps, header included.
    #[test]
    fn a_streamed_trace_equals_the_recorded_one() {
        let out = Shared::default();
        let mut streamed = Trace::default();
        streamed.enable_recording();
        record_events(&mut streamed, 2);
        let stream = TraceStream::new(Box::new(out.clone()), &header(), None).expect("header");
        streamed.stream_to(stream);
        record_events(&mut streamed, 3);
        assert!(streamed.is_recording() && streamed.records().is_empty());
        let end = streamed.take_stream().expect("a stream").finish().expect("written");
        assert_eq!((end.records, end.cut_at), (5, None));

        let mut kept = Trace::default();
        kept.enable_recording();
        record_events(&mut kept, 2);
        record_events(&mut kept, 3);
        let text = String::from_utf8(out.0.lock().expect("bytes").clone()).expect("utf-8");
        let file = parse_text(&text).expect("the streamed file parses");
        assert_eq!(file.header, Some(header()));
        assert_eq!(file.records, kept.records());
        assert_eq!(end.bytes, text.len() as u64);
    }

    // Proves a size limit keeps whole lines only, counts what it left out and says so at the
    // end of the file.
    #[test]
    fn a_size_limit_cuts_between_lines_and_says_so() {
        let out = Shared::default();
        let limit = header().to_string().len() as u64 + 60;
        let mut trace = Trace::default();
        trace.enable_recording();
        trace
            .stream_to(TraceStream::new(Box::new(out.clone()), &header(), Some(limit)).expect("h"));
        record_events(&mut trace, 10);
        let end = trace.take_stream().expect("a stream").finish().expect("written");
        let text = String::from_utf8(out.0.lock().expect("bytes").clone()).expect("utf-8");
        let events: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(end.records, 10);
        let (index, _) = end.cut_at.expect("cut");
        assert_eq!(events.len() as u64, index);
        let file = parse_text(&text).expect("only whole lines were written");
        assert_eq!(file.records.len() as u64, index);
        assert!(text.ends_with("`orrery replay` records the whole run\n"), "{text}");
        assert!(text.contains(&format!("{} event(s) left out", 10 - index)), "{text}");
    }
}
