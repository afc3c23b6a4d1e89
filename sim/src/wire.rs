//! What travels on the simulated network: typed messages, or bytes through a codec.
//!
//! A world carries one message type `M` (an enum of the protocol's messages is the preferred
//! shape). Its `Wire` decides what a packet in flight is:
//! - [`Typed`] (the default): the message itself, moved inline through the event queue. Zero
//!   cost, but there are no bytes to corrupt.
//! - [`Encoded`]: the message encoded by a [`Codec`] when sent and decoded when delivered, so
//!   protocol code with its own wire format runs its real codec on every packet, corruption
//!   faults flip real bits, and a decode error is a traced drop instead of a panic.

use std::fmt::{self, Debug};

use crate::rng::Stream;

/// Converts messages to packets at send time and back at delivery.
pub trait Wire<M>: 'static {
    /// What sits in the network queues.
    type Packet: Clone + Debug;
    /// Whether corruption faults can act on this wire.
    const CORRUPTIBLE: bool;
    fn pack(&mut self, message: M) -> Self::Packet;
    fn unpack(&mut self, packet: Self::Packet) -> Result<M, DecodeError>;
    /// Flips bits in `packet`; returns whether anything changed.
    fn corrupt(&mut self, packet: &mut Self::Packet, stream: &mut Stream) -> bool;
}

/// Encodes protocol messages to bytes and decodes them. Decoding must never panic on
/// arbitrary input: corrupted packets reach it.
pub trait Codec: 'static {
    type Message;
    /// Appends the encoding of `message` to `buffer` (the caller owns and reuses it).
    fn encode(&mut self, message: &Self::Message, buffer: &mut Vec<u8>);
    /// Decodes one whole packet. Borrowing the bytes lets the caller keep or drop them.
    fn decode(&mut self, bytes: &[u8]) -> Result<Self::Message, DecodeError>;
}

/// A packet the receiving codec could not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("decode error: {0}")]
pub struct DecodeError(pub String);

/// Messages travel as themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Typed;

impl<M: Clone + Debug + 'static> Wire<M> for Typed {
    type Packet = M;
    const CORRUPTIBLE: bool = false;

    #[inline(always)]
    fn pack(&mut self, message: M) -> M {
        message
    }

    #[inline(always)]
    fn unpack(&mut self, packet: M) -> Result<M, DecodeError> {
        Ok(packet)
    }

    fn corrupt(&mut self, _packet: &mut M, _stream: &mut Stream) -> bool {
        false
    }
}

/// Messages travel as bytes produced by the codec `C`.
#[derive(Debug, Clone, Default)]
pub struct Encoded<C>(pub C);

/// Bytes in flight; `Debug` prints them as hex so traces stay one line per event.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame(pub Box<[u8]>);

impl Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        for byte in self.0.iter() {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl<C: Codec> Wire<C::Message> for Encoded<C> {
    type Packet = Frame;
    const CORRUPTIBLE: bool = true;

    fn pack(&mut self, message: C::Message) -> Frame {
        let mut buffer = Vec::new();
        self.0.encode(&message, &mut buffer);
        Frame(buffer.into_boxed_slice())
    }

    fn unpack(&mut self, packet: Frame) -> Result<C::Message, DecodeError> {
        self.0.decode(&packet.0)
    }

    /// Flips one to three distinct random bits (never the same bit twice, which would undo
    /// the corruption and report a change that did not happen).
    fn corrupt(&mut self, packet: &mut Frame, stream: &mut Stream) -> bool {
        if packet.0.is_empty() {
            return false;
        }
        let flips = 1 + stream.below(3) as usize;
        let mut flipped = [u64::MAX; 3];
        for slot in 0..flips {
            let bit = stream.below(packet.0.len() as u64 * 8);
            if flipped.contains(&bit) {
                continue;
            }
            flipped[slot] = bit;
            packet.0[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        true
    }
}

/// The byte bus: messages are raw byte vectors, decoded as themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bytes;

impl Codec for Bytes {
    type Message = Vec<u8>;

    fn encode(&mut self, message: &Vec<u8>, buffer: &mut Vec<u8>) {
        buffer.extend_from_slice(message);
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
        Ok(bytes.to_vec())
    }
}

/// Example of a fixed-layout codec: `[tag: u8][sequence: u64 LE][value: u64 LE][crc: u32 LE]`.
/// The CRC makes corruption visible as a decode error, as a real protocol's checksum would.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedLayout;

/// The message the [`FixedLayout`] codec carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedMessage {
    pub tag: u8,
    pub sequence: u64,
    pub value: u64,
}

impl FixedLayout {
    pub const LEN: usize = 1 + 8 + 8 + 4;
}

impl Codec for FixedLayout {
    type Message = FixedMessage;

    fn encode(&mut self, message: &FixedMessage, buffer: &mut Vec<u8>) {
        let start = buffer.len();
        buffer.push(message.tag);
        buffer.extend_from_slice(&message.sequence.to_le_bytes());
        buffer.extend_from_slice(&message.value.to_le_bytes());
        let crc = crc32(&buffer[start..]);
        buffer.extend_from_slice(&crc.to_le_bytes());
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<FixedMessage, DecodeError> {
        if bytes.len() != Self::LEN {
            return Err(DecodeError(format!("expected {} bytes, got {}", Self::LEN, bytes.len())));
        }
        let (body, crc) = bytes.split_at(Self::LEN - 4);
        let expected = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32(body) != expected {
            return Err(DecodeError("checksum mismatch".to_string()));
        }
        let word = |range: std::ops::Range<usize>| {
            let mut array = [0u8; 8];
            array.copy_from_slice(&body[range]);
            u64::from_le_bytes(array)
        };
        Ok(FixedMessage { tag: body[0], sequence: word(1..9), value: word(9..17) })
    }
}

/// CRC-32 (IEEE), bitwise: small and dependency-free; codecs are not the hot path.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the fixed-layout codec round-trips and rejects every corrupted frame it sees.
    #[test]
    fn fixed_layout_round_trips_and_detects_corruption() {
        let mut wire = Encoded(FixedLayout);
        let message = FixedMessage { tag: 3, sequence: 17, value: 0xdead_beef };
        let packet = wire.pack(message);
        assert_eq!(packet.0.len(), FixedLayout::LEN);
        assert_eq!(wire.unpack(packet.clone()), Ok(message));
        let mut stream = Stream::new(1, "wire.test");
        for _ in 0..1_000 {
            let mut corrupted = packet.clone();
            assert!(wire.corrupt(&mut corrupted, &mut stream));
            assert!(wire.unpack(corrupted).is_err());
        }
        assert!(wire.unpack(Frame(vec![1, 2].into_boxed_slice())).is_err());
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    // Proves typed messages pass through untouched and cannot be corrupted.
    #[test]
    fn typed_wire_is_the_identity() {
        let mut wire = Typed;
        let mut packet = <Typed as Wire<(u8, &str)>>::pack(&mut wire, (1, "x"));
        assert!(!wire.corrupt(&mut packet, &mut Stream::new(1, "t")));
        assert_eq!(wire.unpack(packet), Ok((1, "x")));
        assert_eq!(format!("{:?}", Frame(vec![0xab, 1].into_boxed_slice())), "0xab01");
    }
}
