//! Frames on a byte stream: a 4-byte big-endian length, then that many bytes of payload (one
//! CBOR item). `FrameReader` reassembles frames from chunks however the pipe splits or
//! coalesces them, and refuses a frame longer than its maximum as soon as the length is read,
//! before buffering any of it.

/// Bytes of the length prefix.
pub const HEADER_BYTES: usize = 4;

/// Why the stream is not a sequence of frames.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a frame of {length_bytes} bytes exceeds the maximum of {max_bytes}")]
    TooLong { length_bytes: u64, max_bytes: u32 },
    #[error("the stream ended inside a frame ({have} of {want} bytes)")]
    Truncated { have: usize, want: usize },
}

/// Appends one frame carrying `payload` to `out`; a payload whose length does not fit the
/// prefix is refused.
pub fn write_frame(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), FrameError> {
    let length = u32::try_from(payload.len()).map_err(|_| FrameError::TooLong {
        length_bytes: payload.len() as u64,
        max_bytes: u32::MAX,
    })?;
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Reassembles frames from a byte stream fed in arbitrary chunks.
#[derive(Debug)]
pub struct FrameReader {
    buffer: Vec<u8>,
    /// Where the next unconsumed byte of `buffer` is.
    start: usize,
    max_bytes: u32,
}

impl FrameReader {
    /// A reader refusing payloads longer than `max_bytes`.
    pub fn new(max_bytes: u32) -> FrameReader {
        FrameReader { buffer: Vec::new(), start: 0, max_bytes }
    }

    /// Adds bytes read from the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.start > 0 && self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
        self.buffer.extend_from_slice(chunk);
    }

    /// The next whole frame's payload, `Ok(None)` if more bytes are needed, or an error if
    /// the next frame's length is over the maximum (the stream cannot be resynchronised).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let pending = &self.buffer[self.start..];
        let Some(header) = pending.first_chunk::<HEADER_BYTES>() else { return Ok(None) };
        let length = u32::from_be_bytes(*header);
        if length > self.max_bytes {
            return Err(FrameError::TooLong {
                length_bytes: u64::from(length),
                max_bytes: self.max_bytes,
            });
        }
        let end = HEADER_BYTES + length as usize;
        if pending.len() < end {
            return Ok(None);
        }
        let payload = pending[HEADER_BYTES..end].to_vec();
        self.start += end;
        if self.start > self.buffer.len() / 2 && self.start >= 4096 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(payload))
    }

    /// Bytes received and not yet taken as frames.
    pub fn buffered_bytes(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// Whether bytes of an unfinished frame are buffered.
    pub fn is_mid_frame(&self) -> bool {
        self.start < self.buffer.len()
    }

    /// At the end of the stream: an error if it ended inside a frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        let pending = &self.buffer[self.start..];
        if pending.is_empty() {
            return Ok(());
        }
        let want = match pending.first_chunk::<HEADER_BYTES>() {
            Some(header) => HEADER_BYTES + u32::from_be_bytes(*header) as usize,
            None => HEADER_BYTES,
        };
        Err(FrameError::Truncated { have: pending.len(), want })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in payloads {
            write_frame(&mut out, payload).expect("a small frame");
        }
        out
    }

    /// Feeds `stream` in chunks ending at `cuts`, collecting every frame.
    fn read_with_cuts(stream: &[u8], cuts: &[usize]) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut reader = FrameReader::new(1 << 20);
        let mut found = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
            reader.feed(&stream[from..cut]);
            from = cut;
            while let Some(frame) = reader.next_frame()? {
                found.push(frame);
            }
        }
        reader.finish()?;
        Ok(found)
    }

    // Proves frames split across reads, and several frames coalesced in one read, come out
    // whole and in order.
    #[test]
    fn split_and_coalesced_frames_reassemble() {
        let payloads: [&[u8]; 4] = [b"first", b"", b"a third frame", &[0u8; 300]];
        let stream = frames(&payloads);
        let expected: Vec<Vec<u8>> = payloads.iter().map(|p| p.to_vec()).collect();
        assert_eq!(read_with_cuts(&stream, &[]), Ok(expected.clone()));
        let byte_by_byte: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(read_with_cuts(&stream, &byte_by_byte), Ok(expected.clone()));
        assert_eq!(read_with_cuts(&stream, &[2, 3, 40]), Ok(expected));
    }

    // Proves a chunk boundary at every byte of a frame (inside the header, inside the
    // payload, at its edges) yields the same frame.
    #[test]
    fn a_cut_at_every_byte_yields_the_same_frames() {
        let stream = frames(&[b"0123456789", b"xy"]);
        for cut in 0..=stream.len() {
            let found = read_with_cuts(&stream, &[cut]);
            assert_eq!(found, Ok(vec![b"0123456789".to_vec(), b"xy".to_vec()]), "cut {cut}");
        }
    }

    // Proves a frame longer than the maximum is refused from its header alone, and one of
    // exactly the maximum is accepted.
    #[test]
    fn a_frame_over_the_maximum_is_refused_from_its_header() {
        let mut reader = FrameReader::new(8);
        reader.feed(&9u32.to_be_bytes());
        assert_eq!(reader.next_frame(), Err(FrameError::TooLong { length_bytes: 9, max_bytes: 8 }));
        let mut reader = FrameReader::new(8);
        reader.feed(&frames(&[b"12345678"]));
        assert_eq!(reader.next_frame(), Ok(Some(b"12345678".to_vec())));
    }

    // Proves a stray byte before a frame desynchronises the stream into an error (its length
    // reads as huge) rather than a wrong frame, and EOF inside a frame says how far it got.
    #[test]
    fn a_stray_byte_and_eof_mid_frame_are_errors() {
        let stream = [b"x".as_slice(), &frames(&[b"hello"])].concat();
        assert_eq!(
            read_with_cuts(&stream, &[]),
            Err(FrameError::TooLong { length_bytes: 0x7800_0000, max_bytes: 1 << 20 })
        );
        let whole = frames(&[b"hello"]);
        assert_eq!(
            read_with_cuts(&whole[..6], &[]),
            Err(FrameError::Truncated { have: 6, want: 9 })
        );
        assert_eq!(
            read_with_cuts(&whole[..2], &[]),
            Err(FrameError::Truncated { have: 2, want: 4 })
        );
        let mut reader = FrameReader::new(16);
        reader.feed(&whole[..7]);
        assert_eq!(reader.next_frame(), Ok(None));
        assert!(reader.is_mid_frame());
    }
}
