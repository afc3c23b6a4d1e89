//! `RaftKvCodec`: raft-kv's messages as bytes, the one wire format both backings carry: the
//! simulated `Encoded` wire (the `raft-kv-bytes` workload) and the production runtime's TCP
//! frames. Written by hand: a tag byte per variant, integers as LEB128 varints, strings and
//! lists length-prefixed.
//!
//! Decoding never panics and never allocates more than the input could hold, whatever the
//! bytes: a truncated, padded or garbage payload is a `DecodeError`. The codec carries no
//! checksum of its own; in production every frame has one, so a corrupted frame never reaches
//! it, and a simulated sweep that wants corruption faults needs a checksummed codec.

use orrery_sim::wire::{Codec, DecodeError};
use orrery_sim::NodeId;

use super::message::{Answer, Command, Entry, Message, Op};

/// raft-kv's wire codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct RaftKvCodec;

impl Codec for RaftKvCodec {
    type Message = Message;

    fn encode(&mut self, message: &Message, out: &mut Vec<u8>) {
        match message {
            Message::RequestVote { term, last_log_index, last_log_term } => {
                out.push(0);
                put_all(out, &[*term, *last_log_index, *last_log_term]);
            }
            Message::Vote { term, granted } => {
                out.push(1);
                put(out, *term);
                out.push(u8::from(*granted));
            }
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => {
                out.push(2);
                put_all(out, &[*term, *prev_log_index, *prev_log_term, *leader_commit]);
                put(out, entries.len() as u64);
                for entry in entries {
                    put(out, entry.term);
                    let command = &entry.command;
                    put_all(out, &[u64::from(command.client.0), command.session, command.seq]);
                    put_op(out, &command.op);
                }
            }
            Message::AppendReply { term, success, match_index } => {
                out.push(3);
                put(out, *term);
                out.push(u8::from(*success));
                put(out, *match_index);
            }
            Message::Request { session, seq, op } => {
                out.push(4);
                put_all(out, &[*session, *seq]);
                put_op(out, op);
            }
            Message::Reply { session, seq, answer } => {
                out.push(5);
                put_all(out, &[*session, *seq]);
                match answer {
                    Answer::Done { value } => {
                        out.push(0);
                        match value {
                            None => out.push(0),
                            Some(value) => {
                                out.push(1);
                                put_text(out, value);
                            }
                        }
                    }
                    Answer::NotLeader { leader } => {
                        out.push(1);
                        match leader {
                            None => out.push(0),
                            Some(leader) => {
                                out.push(1);
                                put(out, u64::from(leader.0));
                            }
                        }
                    }
                }
            }
        }
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<Message, DecodeError> {
        let mut input = Input { bytes, at: 0 };
        let message = match input.byte("message tag")? {
            0 => Message::RequestVote {
                term: input.number()?,
                last_log_index: input.number()?,
                last_log_term: input.number()?,
            },
            1 => Message::Vote { term: input.number()?, granted: input.flag()? },
            2 => {
                let (term, prev_log_index, prev_log_term, leader_commit) =
                    (input.number()?, input.number()?, input.number()?, input.number()?);
                let count = input.count()?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    let term = input.number()?;
                    let client = input.node()?;
                    let (session, seq) = (input.number()?, input.number()?);
                    let op = input.op()?;
                    entries.push(Entry { term, command: Command { client, session, seq, op } });
                }
                Message::AppendEntries {
                    term,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                }
            }
            3 => Message::AppendReply {
                term: input.number()?,
                success: input.flag()?,
                match_index: input.number()?,
            },
            4 => {
                Message::Request { session: input.number()?, seq: input.number()?, op: input.op()? }
            }
            5 => {
                let (session, seq) = (input.number()?, input.number()?);
                let answer = match input.byte("answer tag")? {
                    0 => Answer::Done {
                        value: if input.flag()? { Some(input.text()?) } else { None },
                    },
                    1 => Answer::NotLeader {
                        leader: if input.flag()? { Some(input.node()?) } else { None },
                    },
                    tag => return Err(DecodeError(format!("unknown answer tag {tag}"))),
                };
                Message::Reply { session, seq, answer }
            }
            tag => return Err(DecodeError(format!("unknown message tag {tag}"))),
        };
        match input.at == bytes.len() {
            true => Ok(message),
            false => {
                Err(DecodeError(format!("{} bytes after the message", bytes.len() - input.at)))
            }
        }
    }
}

fn put(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_all(out: &mut Vec<u8>, values: &[u64]) {
    for &value in values {
        put(out, value);
    }
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    put(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn put_op(out: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Get { key } => {
            out.push(0);
            put(out, *key);
        }
        Op::Put { key, value } | Op::Append { key, value } => {
            out.push(if matches!(op, Op::Put { .. }) { 1 } else { 2 });
            put(out, *key);
            put_text(out, value);
        }
    }
}

/// The bytes being decoded and how far.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn byte(&mut self, what: &str) -> Result<u8, DecodeError> {
        let byte = self.bytes.get(self.at).copied();
        let byte = byte.ok_or_else(|| DecodeError(format!("truncated before the {what}")))?;
        self.at += 1;
        Ok(byte)
    }

    fn number(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte("number")?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError("a number past 64 bits".to_string()));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError("a number past 64 bits".to_string()))
    }

    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.byte("flag")? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError(format!("flag byte {other} is neither 0 nor 1"))),
        }
    }

    fn node(&mut self) -> Result<NodeId, DecodeError> {
        let number = self.number()?;
        let id = u32::try_from(number);
        id.map(NodeId).map_err(|_| DecodeError(format!("node id {number} past 32 bits")))
    }

    /// A length that the rest of the input could hold (each item takes at least a byte).
    fn count(&mut self) -> Result<usize, DecodeError> {
        let count = self.number()?;
        let left = (self.bytes.len() - self.at) as u64;
        match count <= left {
            true => Ok(count as usize),
            false => Err(DecodeError(format!("{count} items announced, {left} bytes left"))),
        }
    }

    fn text(&mut self) -> Result<String, DecodeError> {
        let length = self.count()?;
        let bytes = &self.bytes[self.at..self.at + length];
        self.at += length;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError("text is not UTF-8".into()))
    }

    fn op(&mut self) -> Result<Op, DecodeError> {
        match self.byte("operation tag")? {
            0 => Ok(Op::Get { key: self.number()? }),
            1 => Ok(Op::Put { key: self.number()?, value: self.text()? }),
            2 => Ok(Op::Append { key: self.number()?, value: self.text()? }),
            tag => Err(DecodeError(format!("unknown operation tag {tag}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_sim::Stream;

    fn every_kind() -> Vec<Message> {
        let entry = |term, op| Entry {
            term,
            command: Command { client: NodeId(4), session: 1 << 40, seq: 7, op },
        };
        vec![
            Message::RequestVote { term: 3, last_log_index: 0, last_log_term: u64::MAX },
            Message::Vote { term: 3, granted: true },
            Message::AppendEntries {
                term: 5,
                prev_log_index: 300,
                prev_log_term: 4,
                entries: vec![
                    entry(5, Op::Get { key: 1 }),
                    entry(5, Op::Put { key: 2, value: "12.3 ".into() }),
                    entry(5, Op::Append { key: 0, value: "é".into() }),
                ],
                leader_commit: 299,
            },
            Message::AppendEntries {
                term: 1,
                prev_log_index: 0,
                prev_log_term: 0,
                entries: vec![],
                leader_commit: 0,
            },
            Message::AppendReply { term: 9, success: false, match_index: 128 },
            Message::Request { session: 3, seq: 1, op: Op::Put { key: 9, value: String::new() } },
            Message::Reply { session: 3, seq: 1, answer: Answer::Done { value: None } },
            Message::Reply { session: 3, seq: 2, answer: Answer::Done { value: Some("x".into()) } },
            Message::Reply { session: 3, seq: 3, answer: Answer::NotLeader { leader: None } },
            Message::Reply {
                session: 3,
                seq: 4,
                answer: Answer::NotLeader { leader: Some(NodeId(2)) },
            },
        ]
    }

    // Proves every kind of message round-trips, and every strict prefix or padded encoding
    // of one is an error rather than a different message.
    #[test]
    fn messages_round_trip_and_truncation_is_an_error() {
        let mut codec = RaftKvCodec;
        for message in every_kind() {
            let mut bytes = Vec::new();
            codec.encode(&message, &mut bytes);
            assert_eq!(codec.decode(&bytes), Ok(message.clone()));
            for cut in 0..bytes.len() {
                assert!(codec.decode(&bytes[..cut]).is_err(), "{message:?} cut at {cut}");
            }
            bytes.push(0);
            assert!(codec.decode(&bytes).is_err(), "{message:?} padded");
        }
    }

    // Proves arbitrary bytes and bit-flipped messages never panic the decoder (it sees what
    // a broken peer sends), and a huge announced count allocates nothing.
    #[test]
    fn garbage_never_panics() {
        let mut codec = RaftKvCodec;
        let mut stream = Stream::new(11, "raft_kv.codec.test");
        let encoded: Vec<Vec<u8>> = every_kind()
            .iter()
            .map(|message| {
                let mut bytes = Vec::new();
                codec.encode(message, &mut bytes);
                bytes
            })
            .collect();
        for _ in 0..20_000 {
            let mut bytes = stream.pick(&encoded).expect("messages").clone();
            let bit = stream.below(bytes.len() as u64 * 8) as usize;
            bytes[bit / 8] ^= 1 << (bit % 8);
            let _ = codec.decode(&bytes);
            let random: Vec<u8> = (0..stream.below(40)).map(|_| stream.below(256) as u8).collect();
            let _ = codec.decode(&random);
        }
        let mut huge = vec![2, 1, 1, 1, 1];
        put(&mut huge, u64::MAX);
        assert!(codec.decode(&huge).is_err());
    }
}
