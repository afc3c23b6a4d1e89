//! Frames: how control messages are cut out of a byte stream.
//!
//! ```text
//! [u32 length][u16 code][u64 request id][body: length - 10 bytes]
//! ```
//! All little-endian. `length` counts everything after itself and is at most
//! `FRAME_BYTES_MAX`; `code` is the operation (low byte, see `ops::REGISTRY`) or'ed with the
//! flags (high byte). A reader never allocates what a frame claims: the body is read as it
//! arrives, and a claim past the limit is refused before any of it is read.

use std::io::{self, Read, Write};

/// The largest `length` a frame may have (1 MiB): larger claims close the connection.
pub const FRAME_BYTES_MAX: u32 = 1 << 20;

/// Bytes of a frame's header after the length word: code and request id.
pub const HEADER_BYTES: u32 = 2 + 8;

/// The bits of the code word that name the operation.
pub const OP_MASK: u16 = 0x00ff;

/// The flags of a frame (the code word's high byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(u16);

impl Flags {
    /// No flag: a request.
    pub const NONE: Flags = Flags(0);
    /// A reply to the request with the same id.
    pub const RESPONSE: Flags = Flags(0x0100);
    /// The reply is an error; its body is an `ErrorReply`.
    pub const ERROR: Flags = Flags(0x0200);
    /// One item of a stream; more follow under the same id.
    pub const STREAM_ITEM: Flags = Flags(0x0400);
    /// The last frame of a stream.
    pub const STREAM_END: Flags = Flags(0x0800);
    /// Sent by a client: cancel the in-flight request with this id.
    pub const CANCEL: Flags = Flags(0x1000);
    /// Every flag this version defines; other bits of the high byte are reserved (zero).
    pub const ALL: Flags = Flags(0x1f00);

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of flags.
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The operation's wire code (possibly one this version does not know).
    pub op_code: u16,
    pub flags: Flags,
    /// Chosen by the client; every reply to a request carries its id.
    pub request_id: u64,
    pub body: Vec<u8>,
}

/// Why no frame could be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer claimed a frame past the limit; the stream cannot be resynchronised.
    #[error("a frame of {0} bytes is larger than the limit of {FRAME_BYTES_MAX} bytes")]
    TooLarge(u32),
    /// The length cannot even hold the header.
    #[error("a frame of {0} bytes is shorter than its 10-byte header")]
    TooShort(u32),
    /// The stream ended inside a frame.
    #[error("the connection ended inside a frame ({got} of {expected} bytes)")]
    Truncated { expected: u32, got: u32 },
    /// A reserved flag bit is set.
    #[error("reserved flag bits {0:#06x} are set")]
    ReservedFlags(u16),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl Frame {
    /// A request frame.
    pub fn request(op_code: u16, request_id: u64, body: Vec<u8>) -> Frame {
        Frame { op_code, flags: Flags::NONE, request_id, body }
    }

    /// A reply to `request` with `flags` (RESPONSE is added).
    pub fn reply_to(request: &Frame, flags: Flags, body: Vec<u8>) -> Frame {
        Frame {
            op_code: request.op_code,
            flags: flags.with(Flags::RESPONSE),
            request_id: request.request_id,
            body,
        }
    }

    /// The frame as bytes. Panics if the body is past the limit (a bug of the sender).
    pub fn encode(&self) -> Vec<u8> {
        let length = HEADER_BYTES + u32::try_from(self.body.len()).unwrap_or(u32::MAX);
        assert!(length <= FRAME_BYTES_MAX, "a frame body past the limit was built");
        let mut bytes = Vec::with_capacity(4 + length as usize);
        bytes.extend_from_slice(&length.to_le_bytes());
        bytes.extend_from_slice(&((self.op_code & OP_MASK) | self.flags.bits()).to_le_bytes());
        bytes.extend_from_slice(&self.request_id.to_le_bytes());
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Writes the frame in one write call (so frames from two threads never interleave when
    /// each holds the stream's lock for the call).
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(&self.encode())?;
        out.flush()
    }
}

/// Reads one frame; `Ok(None)` if the stream ended cleanly between frames.
pub fn read_frame(input: &mut impl Read) -> Result<Option<Frame>, FrameError> {
    let mut length = [0u8; 4];
    let got = read_full(input, &mut length)?;
    if got == 0 {
        return Ok(None);
    }
    if got < 4 {
        return Err(FrameError::Truncated { expected: 4, got: got as u32 });
    }
    let length = u32::from_le_bytes(length);
    if length > FRAME_BYTES_MAX {
        return Err(FrameError::TooLarge(length));
    }
    if length < HEADER_BYTES {
        return Err(FrameError::TooShort(length));
    }
    let mut header = [0u8; HEADER_BYTES as usize];
    let got = read_full(input, &mut header)?;
    if got < header.len() {
        return Err(FrameError::Truncated { expected: length, got: got as u32 });
    }
    let code = u16::from_le_bytes([header[0], header[1]]);
    let request_id = u64::from_le_bytes(header[2..10].try_into().expect("8 bytes"));
    // The body grows only as bytes arrive: a peer that claims 1 MiB and sends 3 bytes costs
    // 3 bytes.
    let body_length = u64::from(length - HEADER_BYTES);
    let mut body = Vec::new();
    Read::take(&mut *input, body_length).read_to_end(&mut body)?;
    if (body.len() as u64) < body_length {
        let got = HEADER_BYTES + body.len() as u32;
        return Err(FrameError::Truncated { expected: length, got });
    }
    let reserved = code & !OP_MASK & !Flags::ALL.bits();
    if reserved != 0 {
        return Err(FrameError::ReservedFlags(reserved));
    }
    Ok(Some(Frame { op_code: code & OP_MASK, flags: Flags(code & !OP_MASK), request_id, body }))
}

/// Reads until `buffer` is full or the stream ends; returns the bytes read.
fn read_full(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a frame survives encoding with its op, flags, id and body, and a stream of two
    // frames reads back as two then a clean end.
    #[test]
    fn frames_round_trip() {
        let first = Frame {
            op_code: 0x12,
            flags: Flags::RESPONSE.with(Flags::STREAM_ITEM),
            request_id: 0xdead_beef_0000_0001,
            body: vec![1, 2, 3],
        };
        let second = Frame::request(0x02, 2, Vec::new());
        let mut bytes = first.encode();
        bytes.extend(second.encode());
        let mut input = &bytes[..];
        assert_eq!(read_frame(&mut input).expect("first"), Some(first));
        assert_eq!(read_frame(&mut input).expect("second"), Some(second));
        assert!(read_frame(&mut input).expect("end").is_none());
    }

    // Proves hostile headers are refused with what was wrong: past the limit, shorter than a
    // header, cut off, reserved bits.
    #[test]
    fn hostile_frames_are_refused() {
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend([0; 10]);
        assert!(matches!(read_frame(&mut &huge[..]), Err(FrameError::TooLarge(u32::MAX))));
        let short = 3u32.to_le_bytes();
        assert!(matches!(read_frame(&mut &short[..]), Err(FrameError::TooShort(3))));
        let mut cut = Frame::request(0x02, 1, vec![9; 100]).encode();
        cut.truncate(50);
        assert!(matches!(read_frame(&mut &cut[..]), Err(FrameError::Truncated { .. })));
        assert!(matches!(read_frame(&mut &[1u8, 0][..]), Err(FrameError::Truncated { .. })));
        let mut reserved = Frame::request(0x02, 1, Vec::new()).encode();
        reserved[5] |= 0x80;
        assert!(matches!(read_frame(&mut &reserved[..]), Err(FrameError::ReservedFlags(0x8000))));
    }
}
