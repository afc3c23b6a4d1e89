//! `StderrLog`: a child's stderr cut into lines for the trace, bounded in line length and in
//! lines per step. The world reads stderr in the same wait as stdout and drains it once more
//! after each `done`, so what a child writes during a step lands in that step's trace,
//! deterministically (a client library flushes stderr before `done`).

/// Lines of stderr waiting to be traced.
#[derive(Debug)]
pub struct StderrLog {
    partial: Vec<u8>,
    /// The partial line reached the length limit: drop the rest of it.
    cutting: bool,
    lines: Vec<String>,
    dropped: u64,
    line_bytes_max: usize,
    lines_max: usize,
}

impl StderrLog {
    pub fn new(line_bytes_max: usize, lines_max: usize) -> StderrLog {
        StderrLog {
            partial: Vec::new(),
            cutting: false,
            lines: Vec::new(),
            dropped: 0,
            line_bytes_max: line_bytes_max.max(1),
            lines_max,
        }
    }

    /// Adds bytes read from stderr.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (piece, rest, ends_line) = match bytes.iter().position(|b| *b == b'\n') {
                Some(end) => (&bytes[..end], &bytes[end + 1..], true),
                None => (bytes, &[][..], false),
            };
            if !self.cutting {
                let room = self.line_bytes_max - self.partial.len();
                self.partial.extend_from_slice(&piece[..piece.len().min(room)]);
                self.cutting = piece.len() >= room && !ends_line;
            }
            if ends_line {
                self.end_line();
            }
            bytes = rest;
        }
    }

    fn end_line(&mut self) {
        let line = String::from_utf8_lossy(&self.partial).trim_end_matches('\r').to_string();
        self.partial.clear();
        self.cutting = false;
        match self.lines.len() < self.lines_max {
            true => self.lines.push(line),
            false => self.dropped += 1,
        }
    }

    /// At the end of the stream: the unfinished line counts as a line.
    pub fn finish(&mut self) {
        if !self.partial.is_empty() {
            self.end_line();
        }
    }

    /// The lines so far and how many were dropped over the limit; the count starts again.
    pub fn take(&mut self) -> (Vec<String>, u64) {
        (std::mem::take(&mut self.lines), std::mem::take(&mut self.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves lines are reassembled across reads, cut to the length limit, counted beyond
    // the per-step limit, and an unfinished line waits for its end.
    #[test]
    fn lines_are_reassembled_and_bounded() {
        let mut log = StderrLog::new(8, 2);
        log.feed(b"hel");
        log.feed(b"lo\nworld, this line is long\r\nthird\nfourth\nunfin");
        assert_eq!(log.take(), (vec!["hello".to_string(), "world, t".to_string()], 2));
        log.feed(b"ished\n");
        assert_eq!(log.take(), (vec!["unfinish".to_string()], 0));
        log.feed(b"tail");
        assert_eq!(log.take(), (vec![], 0));
        log.finish();
        assert_eq!(log.take(), (vec!["tail".to_string()], 0));
    }
}
