//! Streaming input for the history readers: a window of bytes refilled from any `Read`, checked
//! as UTF-8 as it arrives, with the line and column of every position, in memory bounded by the
//! largest single event rather than the file.
//!
//! A reader parses one top-level item (an event, a line) at a time from a [`Cursor`] over the
//! window. When the item runs past the end of what has been read so far, the parser says
//! [`Stop::Incomplete`]; the source then reads more (keeping the item's bytes) and the parser
//! starts the item again. Items are small, so the retry costs nothing measurable, and parsers
//! stay plain functions over a byte slice.
//!
//! Columns count characters, not bytes. They are worked out from a mark (a known column at a
//! known offset on the current line) that only moves forward, so asking for the position of
//! every event costs time linear in the input even when a whole history sits on one line.

use std::io::Read;

use super::format::{ReadError, ReadErrorKind};
use super::value::Position;

/// The window starts this large and doubles at each read up to [`WINDOW_BYTES`], so a small
/// file costs a small buffer.
const WINDOW_BYTES_FIRST: usize = 1 << 14;

/// How much is read at a time once the window has grown; it grows beyond this only for an item
/// larger than it.
const WINDOW_BYTES: usize = 1 << 20;

/// Why a parser stopped without a result.
#[derive(Debug)]
pub(super) enum Stop {
    /// The item continues past the bytes read so far: read more and start it again.
    Incomplete,
    Error(ReadError),
}

impl From<ReadError> for Stop {
    fn from(error: ReadError) -> Stop {
        Stop::Error(error)
    }
}

/// Where the cursor is, in lines: everything of a cursor that survives a refill.
#[derive(Clone, Copy, Debug)]
pub(super) struct Place {
    line: u32,
    /// A known column (`mark_column`) at a known offset (`mark_offset`) on the current line.
    mark_offset: usize,
    mark_column: u32,
}

/// A position in the window, with line tracking.
pub(super) struct Cursor<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) offset: usize,
    place: Place,
    /// No more bytes will come after `bytes`.
    at_end: bool,
    /// What follows `bytes` is not UTF-8 (so the end of `bytes` is an error, not the end).
    invalid_utf8_follows: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor over the whole of `bytes`, which must be valid UTF-8 up to `valid_up_to`.
    pub(super) fn over(bytes: &'a [u8]) -> Cursor<'a> {
        let (valid, invalid) = match std::str::from_utf8(bytes) {
            Ok(_) => (bytes, false),
            Err(error) => (&bytes[..error.valid_up_to()], true),
        };
        Cursor {
            bytes: valid,
            offset: 0,
            place: Place { line: 1, mark_offset: 0, mark_column: 1 },
            at_end: true,
            invalid_utf8_follows: invalid,
        }
    }

    /// A cursor over `bytes` that more input may follow, for tests of cut input.
    #[cfg(test)]
    pub(super) fn partial(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { at_end: false, ..Cursor::over(bytes) }
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.offset).copied()
    }

    #[inline]
    pub(super) fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.offset + ahead).copied()
    }

    /// True when the cursor is at the end of the input for good.
    #[cfg(test)]
    pub(super) fn is_at_end(&self) -> bool {
        self.offset >= self.bytes.len() && self.at_end && !self.invalid_utf8_follows
    }

    /// True when more bytes may still be read after the window.
    pub(super) fn may_grow(&self) -> bool {
        !self.at_end
    }

    /// True when the window ends where the input stops being UTF-8.
    pub(super) fn followed_by_invalid_utf8(&self) -> bool {
        self.invalid_utf8_follows
    }

    /// Moves past one byte that is not a newline.
    #[inline]
    pub(super) fn bump(&mut self) {
        self.offset += 1;
    }

    /// Moves past a newline at the cursor.
    #[inline]
    pub(super) fn newline(&mut self) {
        self.offset += 1;
        self.place.line += 1;
        self.place.mark_offset = self.offset;
        self.place.mark_column = 1;
    }

    /// Moves past one byte, whatever it is.
    #[inline]
    pub(super) fn advance(&mut self) {
        if self.peek() == Some(b'\n') {
            self.newline();
        } else {
            self.bump();
        }
    }

    /// The position of the cursor (1-based line and character column).
    pub(super) fn position(&mut self) -> Position {
        let from = self.place.mark_offset.min(self.offset);
        let characters =
            self.bytes[from..self.offset].iter().filter(|&&byte| byte & 0xC0 != 0x80).count();
        self.place.mark_column += characters as u32;
        self.place.mark_offset = self.offset;
        Position { line: self.place.line, column: self.place.mark_column }
    }

    /// The stop for running out of bytes: read more, or, at the real end, an error saying what
    /// was expected (or that the input is not UTF-8 there).
    pub(super) fn end(&mut self, expected: &'static str) -> Stop {
        if !self.at_end {
            return Stop::Incomplete;
        }
        let kind = if self.invalid_utf8_follows {
            ReadErrorKind::InvalidUtf8
        } else {
            ReadErrorKind::UnexpectedEnd { expected }
        };
        Stop::Error(ReadError { position: self.position(), kind })
    }

    /// An error at the cursor.
    pub(super) fn error(&mut self, kind: ReadErrorKind) -> Stop {
        Stop::Error(ReadError { position: self.position(), kind })
    }

    /// The offset of the next newline at or after the cursor, if the window holds one.
    pub(super) fn find_newline(&self) -> Option<usize> {
        self.bytes[self.offset..].iter().position(|&byte| byte == b'\n').map(|i| self.offset + i)
    }

    /// A cursor over the same bytes that ends at `end` for good (a line parsed on its own).
    pub(super) fn until(&self, end: usize) -> Cursor<'a> {
        Cursor {
            bytes: &self.bytes[..end],
            offset: self.offset,
            place: self.place,
            at_end: true,
            invalid_utf8_follows: false,
        }
    }

    /// Continues from where a cursor made by [`Cursor::until`] stopped.
    pub(super) fn resume_from(&mut self, other: &Cursor<'_>) {
        self.offset = other.offset;
        self.place = other.place;
    }
}

/// A stream of bytes being read, and what of it was parsed.
pub(super) struct Source<R> {
    reader: R,
    buffer: Vec<u8>,
    /// Bytes before this offset were parsed and may be dropped.
    consumed: usize,
    /// Bytes before this offset are known to be UTF-8.
    valid: usize,
    /// Bytes before this offset were read.
    filled: usize,
    eof: bool,
    invalid_utf8: bool,
    place: Place,
}

impl<R: Read> Source<R> {
    pub(super) fn new(reader: R) -> Source<R> {
        Source {
            reader,
            buffer: Vec::new(),
            consumed: 0,
            valid: 0,
            filled: 0,
            eof: false,
            invalid_utf8: false,
            place: Place { line: 1, mark_offset: 0, mark_column: 1 },
        }
    }

    /// Runs `parse` on the input not yet parsed; when it needs more input, reads more and runs
    /// it again from the same place. `parse` must have no effect except through its result.
    pub(super) fn parse<T>(
        &mut self,
        mut parse: impl FnMut(&mut Cursor<'_>) -> Result<T, Stop>,
    ) -> Result<T, ReadError> {
        loop {
            let at_end = self.eof || self.invalid_utf8;
            let mut cursor = Cursor {
                bytes: &self.buffer[..self.valid],
                offset: self.consumed,
                place: self.place,
                at_end,
                invalid_utf8_follows: self.invalid_utf8 || (self.eof && self.valid < self.filled),
            };
            match parse(&mut cursor) {
                Ok(value) => {
                    self.consumed = cursor.offset;
                    self.place = cursor.place;
                    return Ok(value);
                }
                Err(Stop::Error(error)) => return Err(error),
                Err(Stop::Incomplete) => {
                    assert!(!at_end, "a parser asked for more input at the end of it");
                    self.fill()?;
                }
            }
        }
    }

    /// Reads at least one more byte (or learns there are none), keeping what is not parsed.
    fn fill(&mut self) -> Result<(), ReadError> {
        if self.consumed > 0 {
            // Settle the column mark at the cut, so it stays inside the kept bytes.
            let cut = self.consumed;
            if self.place.mark_offset < cut {
                let skipped = &self.buffer[self.place.mark_offset..cut];
                self.place.mark_column +=
                    skipped.iter().filter(|&&byte| byte & 0xC0 != 0x80).count() as u32;
                self.place.mark_offset = cut;
            }
            self.place.mark_offset -= cut;
            self.buffer.copy_within(cut..self.filled, 0);
            self.filled -= cut;
            self.valid -= cut;
            self.consumed = 0;
        }
        if self.filled == self.buffer.len() || self.buffer.len() < WINDOW_BYTES {
            let grown = (self.buffer.len() * 2).max(WINDOW_BYTES_FIRST);
            self.buffer.resize(grown, 0);
        }
        loop {
            match self.reader.read(&mut self.buffer[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(read) => {
                    self.filled += read;
                    break;
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    let position = Position { line: self.place.line, column: 0 };
                    let kind = ReadErrorKind::Io { message: error.to_string() };
                    return Err(ReadError { position, kind });
                }
            }
        }
        match std::str::from_utf8(&self.buffer[self.valid..self.filled]) {
            Ok(_) => self.valid = self.filled,
            Err(error) => {
                self.valid += error.valid_up_to();
                // A sequence cut by the end of the read may complete with the next one.
                if error.error_len().is_some() {
                    self.invalid_utf8 = true;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes a few at a time, to cut items anywhere.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(self.bytes.len()).min(buffer.len());
            buffer[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    /// Splits the input into lines through the source, with each line's start position.
    fn lines(text: &[u8], step: usize) -> Result<Vec<(Position, String)>, ReadError> {
        let mut source = Source::new(Trickle { bytes: text, step });
        let mut lines = Vec::new();
        loop {
            let line = source.parse(|cursor| {
                if cursor.is_at_end() {
                    return Ok(None);
                }
                let position = cursor.position();
                let end = match cursor.find_newline() {
                    Some(end) => end,
                    None if !cursor.at_end => return Err(Stop::Incomplete),
                    None if cursor.invalid_utf8_follows => {
                        cursor.offset = cursor.bytes.len();
                        return Err(cursor.end("a line"));
                    }
                    None => cursor.bytes.len(),
                };
                let text = String::from_utf8_lossy(&cursor.bytes[cursor.offset..end]).into_owned();
                while cursor.offset < end {
                    cursor.bump();
                }
                if cursor.peek() == Some(b'\n') {
                    cursor.newline();
                }
                Ok(Some((position, text)))
            })?;
            match line {
                Some(line) => lines.push(line),
                None => return Ok(lines),
            }
        }
    }

    // Proves items cut anywhere by the reads come out whole, with line numbers, and that
    // invalid UTF-8 is an error at its line and column however the reads fall.
    #[test]
    fn items_survive_any_cut_and_bad_bytes_are_located() {
        let text = "first line\nsecond é line\n\nlast".as_bytes();
        for step in [1, 2, 3, 7, 100] {
            let read = lines(text, step).expect("valid input");
            let texts: Vec<&str> = read.iter().map(|(_, text)| text.as_str()).collect();
            assert_eq!(texts, ["first line", "second é line", "", "last"], "step {step}");
            assert_eq!(read[3].0, Position { line: 4, column: 1 });
        }
        let bad = b"ok\nab\xffcd\n";
        for step in [1, 2, 5, 100] {
            let error = lines(bad, step).expect_err("invalid UTF-8");
            assert_eq!(error.kind, ReadErrorKind::InvalidUtf8, "step {step}");
            assert_eq!(error.position, Position { line: 2, column: 3 }, "step {step}");
        }
    }

    // Proves the column of a position far along one long line is its character count.
    #[test]
    fn columns_count_characters_on_long_lines() {
        let text = "é".repeat(10_000) + "x";
        let mut cursor = Cursor::over(text.as_bytes());
        for _ in 0..10_000 {
            cursor.bump();
            cursor.bump();
            cursor.position();
        }
        assert_eq!(cursor.position(), Position { line: 1, column: 10_001 });
    }
}
