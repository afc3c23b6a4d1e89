//! Frames: how one message's codec bytes travel over a TCP stream, and the hello that opens
//! every connection. Sans-IO, so the decoder is tested against any split or coalescing of the
//! bytes without a socket.
//!
//! A frame is `[length u32 LE][checksum u64 LE][payload]`, the checksum FNV-1a over the
//! length bytes and the payload (the framing of the durable helpers' records). The payload is
//! exactly what the workload's `Codec` encodes, the bytes a simulated `Encoded` wire carries.
//!
//! A length above the connection's `frame_bytes_max` is refused before any of its payload is
//! buffered, so a garbage length cannot make a node allocate gigabytes; a checksum mismatch
//! means the stream can no longer be trusted to be in step. Both are errors that close the
//! connection: the decoder never skips ahead hoping to find the next frame.

use orrery_sim::checksum::fnv1a64;
use orrery_sim::NodeId;

/// Bytes before a frame's payload: the length and the checksum.
pub const HEADER_BYTES: usize = 12;

/// What opens every hello's payload: the protocol's name and version.
pub const HELLO_MAGIC: [u8; 8] = *b"orrery\x00\x01";

/// Why a stream of frames cannot be read any further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length field says more than this connection accepts.
    #[error(
        "a frame of {length_bytes} bytes is more than the {max_bytes} this connection accepts"
    )]
    Oversize {
        /// What the length field said.
        length_bytes: u64,
        /// `frame_bytes_max`.
        max_bytes: u64,
    },
    /// The checksum does not match the length and payload: the bytes were damaged, or the
    /// peer does not speak this protocol.
    #[error("frame checksum mismatch (a {length_bytes}-byte frame)")]
    Checksum {
        /// What the length field said.
        length_bytes: u64,
    },
}

/// Appends one frame to `out`: the header, then whatever `payload` appends. Returns the
/// payload's length. The header is patched in after the payload is written, so the codec
/// encodes straight into the frame with no copy.
pub fn encode(out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    payload(out);
    let length = out.len() - start - HEADER_BYTES;
    // A payload past 4 GiB cannot be framed; the sender refuses it first (`frame_bytes_max`
    // is a u32), so the saturation here never reaches a peer as a valid frame.
    let length_bytes = u32::try_from(length).unwrap_or(u32::MAX).to_le_bytes();
    let checksum = fnv1a64(&[&length_bytes, &out[start + HEADER_BYTES..]]);
    out[start..start + 4].copy_from_slice(&length_bytes);
    out[start + 4..start + HEADER_BYTES].copy_from_slice(&checksum.to_le_bytes());
    length
}

/// Reassembles frames from a byte stream however it was split or coalesced by the network.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    start: usize,
    frame_bytes_max: u32,
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `frame_bytes_max`.
    pub fn new(frame_bytes_max: u32) -> FrameDecoder {
        FrameDecoder { buffer: Vec::new(), start: 0, frame_bytes_max }
    }

    /// Appends bytes received from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The buffer to read into directly (append only), with room for `at_least` more bytes.
    pub fn read_buffer(&mut self, at_least: usize) -> &mut Vec<u8> {
        self.compact();
        self.buffer.reserve(at_least);
        &mut self.buffer
    }

    /// Bytes received and not yet returned as frames.
    pub fn buffered_bytes(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// The next whole frame's payload, `None` if it has not fully arrived, or why the stream
    /// cannot be read on. After an error, the decoder keeps returning it.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let available = &self.buffer[self.start..];
        let Some(header) = available.get(..HEADER_BYTES) else { return Ok(None) };
        let length_bytes: [u8; 4] = [header[0], header[1], header[2], header[3]];
        let length = u32::from_le_bytes(length_bytes);
        if length > self.frame_bytes_max {
            return Err(FrameError::Oversize {
                length_bytes: u64::from(length),
                max_bytes: u64::from(self.frame_bytes_max),
            });
        }
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&header[4..HEADER_BYTES]);
        let end = HEADER_BYTES + length as usize;
        let Some(payload) = available.get(HEADER_BYTES..end) else { return Ok(None) };
        if fnv1a64(&[&length_bytes, payload]) != u64::from_le_bytes(checksum) {
            return Err(FrameError::Checksum { length_bytes: u64::from(length) });
        }
        let payload = payload.to_vec();
        self.start += end;
        Ok(Some(payload))
    }

    /// Moves the unread bytes to the front once the consumed ones are worth reclaiming.
    fn compact(&mut self) {
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        } else if self.start > 0 && self.start >= self.buffer.len() / 2 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
    }
}

/// The first frame on every connection: who is calling whom. A node refuses a connection
/// whose hello is not for it, so a misconfigured address is logged, never misdelivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The node that connected (the sender of every later frame on this connection).
    pub from: NodeId,
    /// The node it meant to reach.
    pub to: NodeId,
    /// The sender's incarnation, for the receiver's logs.
    pub incarnation: u32,
}

/// Why a hello was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("the first frame is not an orrery hello (wrong length or magic)")]
    NotHello,
    #[error("the hello is for {to}, but this is {me}")]
    WrongNode { to: NodeId, me: NodeId },
    #[error("the hello is from {from}, which is not one of the {n_nodes} configured nodes")]
    UnknownSender { from: NodeId, n_nodes: usize },
}

impl Hello {
    const PAYLOAD_BYTES: usize = HELLO_MAGIC.len() + 12;

    /// Appends the hello as one frame.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode(out, |payload| {
            payload.extend_from_slice(&HELLO_MAGIC);
            payload.extend_from_slice(&self.from.0.to_le_bytes());
            payload.extend_from_slice(&self.to.0.to_le_bytes());
            payload.extend_from_slice(&self.incarnation.to_le_bytes());
        });
    }

    /// Reads a hello from a frame's payload, checking it is for `me` from a configured node.
    pub fn decode(payload: &[u8], me: NodeId, n_nodes: usize) -> Result<Hello, HelloError> {
        if payload.len() != Self::PAYLOAD_BYTES || payload[..8] != HELLO_MAGIC {
            return Err(HelloError::NotHello);
        }
        let word = |at: usize| {
            u32::from_le_bytes([payload[at], payload[at + 1], payload[at + 2], payload[at + 3]])
        };
        let hello = Hello { from: NodeId(word(8)), to: NodeId(word(12)), incarnation: word(16) };
        if hello.to != me {
            return Err(HelloError::WrongNode { to: hello.to, me });
        }
        if hello.from.index() >= n_nodes || hello.from == me {
            return Err(HelloError::UnknownSender { from: hello.from, n_nodes });
        }
        Ok(hello)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in payloads {
            encode(&mut out, |buffer| buffer.extend_from_slice(payload));
        }
        out
    }

    fn drain(decoder: &mut FrameDecoder) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut out = Vec::new();
        while let Some(frame) = decoder.next_frame()? {
            out.push(frame);
        }
        Ok(out)
    }

    // Proves every way of splitting a stream of frames (one byte at a time, every single cut
    // point, all at once) yields exactly the frames sent, in order, empty payloads included.
    #[test]
    fn frames_survive_any_split_and_coalescing() {
        let payloads: [&[u8]; 4] = [b"first", b"", &[7u8; 300], b"last"];
        let stream = frames(&payloads);
        let expected: Vec<Vec<u8>> = payloads.iter().map(|p| p.to_vec()).collect();
        let mut decoder = FrameDecoder::new(1 << 20);
        decoder.extend(&stream);
        assert_eq!(drain(&mut decoder), Ok(expected.clone()), "coalesced");
        let mut decoder = FrameDecoder::new(1 << 20);
        let mut got = Vec::new();
        for byte in &stream {
            decoder.extend(std::slice::from_ref(byte));
            got.extend(drain(&mut decoder).expect("valid stream"));
        }
        assert_eq!(got, expected, "byte by byte");
        for cut in 0..=stream.len() {
            let mut decoder = FrameDecoder::new(1 << 20);
            decoder.read_buffer(cut).extend_from_slice(&stream[..cut]);
            let mut got = drain(&mut decoder).expect("valid prefix");
            decoder.read_buffer(0).extend_from_slice(&stream[cut..]);
            got.extend(drain(&mut decoder).expect("valid rest"));
            assert_eq!(got, expected, "cut at {cut}");
            assert_eq!(decoder.buffered_bytes(), 0);
        }
    }

    // Proves a flipped bit anywhere in a frame is a checksum error (never a wrong payload),
    // and an oversize length is refused from its header alone.
    #[test]
    fn damaged_and_oversize_frames_are_errors() {
        let stream = frames(&[b"hello, world"]);
        for bit in 0..stream.len() * 8 {
            let mut damaged = stream.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let mut decoder = FrameDecoder::new(64);
            decoder.extend(&damaged);
            match decoder.next_frame() {
                Err(_) => {}
                // A flip in the length field can make the frame look longer: it never arrives.
                Ok(None) => assert!(bit < 32, "bit {bit} went unnoticed"),
                Ok(Some(payload)) => panic!("bit {bit} flipped, yet decoded {payload:?}"),
            }
        }
        let mut decoder = FrameDecoder::new(64);
        decoder.extend(&u32::MAX.to_le_bytes());
        decoder.extend(&[0; 8]);
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::Oversize { length_bytes: u64::from(u32::MAX), max_bytes: 64 })
        );
        assert_eq!(decoder.buffered_bytes(), HEADER_BYTES, "nothing of the payload is awaited");
    }

    // Proves a hello round-trips and is refused when it is garbage, for another node, or from
    // a node that is not configured.
    #[test]
    fn hello_names_both_ends() {
        let hello = Hello { from: NodeId(2), to: NodeId(0), incarnation: 5 };
        let mut out = Vec::new();
        hello.encode(&mut out);
        let mut decoder = FrameDecoder::new(64);
        decoder.extend(&out);
        let payload = decoder.next_frame().expect("valid").expect("whole");
        assert_eq!(Hello::decode(&payload, NodeId(0), 3), Ok(hello));
        assert_eq!(
            Hello::decode(&payload, NodeId(1), 3),
            Err(HelloError::WrongNode { to: NodeId(0), me: NodeId(1) })
        );
        assert_eq!(
            Hello::decode(&payload, NodeId(0), 2),
            Err(HelloError::UnknownSender { from: NodeId(2), n_nodes: 2 })
        );
        assert_eq!(Hello::decode(b"GET / HTTP/1.1\r\n", NodeId(0), 3), Err(HelloError::NotHello));
    }
}
