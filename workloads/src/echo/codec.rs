//! Echo's messages as bytes, so its servers can run as child processes (a topology node with
//! `command: [...]`): the Rust server is the `orrery-echo-server` binary, the Python one
//! `clients/python/examples/echo_server.py`.

use orrery_sim::wire::{Codec, DecodeError};

use super::Message;

/// Messages as 17 bytes: a tag (0 request, 1 reply), then the id and the value, each a
/// big-endian u64.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoCodec;

impl EchoCodec {
    /// Bytes of every encoded message.
    pub const LEN: usize = 17;
}

impl Codec for EchoCodec {
    type Message = Message;

    fn encode(&mut self, message: &Message, buffer: &mut Vec<u8>) {
        let (tag, id, value) = match message {
            Message::Request { id, value } => (0u8, id, value),
            Message::Reply { id, value } => (1u8, id, value),
        };
        buffer.push(tag);
        buffer.extend_from_slice(&id.to_be_bytes());
        buffer.extend_from_slice(&value.to_be_bytes());
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<Message, DecodeError> {
        let Some((&tag, words)) = bytes.split_first().filter(|_| bytes.len() == Self::LEN) else {
            return Err(DecodeError(format!("expected {} bytes, got {}", Self::LEN, bytes.len())));
        };
        let word = |at: usize| {
            let mut array = [0u8; 8];
            array.copy_from_slice(&words[at..at + 8]);
            u64::from_be_bytes(array)
        };
        let (id, value) = (word(0), word(8));
        match tag {
            0 => Ok(Message::Request { id, value }),
            1 => Ok(Message::Reply { id, value }),
            _ => Err(DecodeError(format!("unknown message tag {tag}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the codec round-trips both messages and refuses wrong lengths and tags.
    #[test]
    fn codec_round_trips_and_refuses_garbage() {
        let mut codec = EchoCodec;
        for message in
            [Message::Request { id: 1, value: u64::MAX }, Message::Reply { id: 7, value: 0 }]
        {
            let mut bytes = Vec::new();
            codec.encode(&message, &mut bytes);
            assert_eq!(bytes.len(), EchoCodec::LEN);
            assert_eq!(codec.decode(&bytes), Ok(message));
        }
        assert!(codec.decode(&[0; 16]).is_err());
        assert!(codec.decode(&[]).is_err());
        assert!(codec.decode(&[2; 17]).is_err());
    }
}
