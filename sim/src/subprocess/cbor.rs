//! `Cbor`: the subset of CBOR (RFC 8949) the child protocol speaks, as a value tree with a
//! strict, bounded decoder and a canonical encoder.
//!
//! The subset is small on purpose, so a client in any language can implement it in a page
//! (the Python client does, with the standard library only):
//! - unsigned integers (major type 0) and negative integers (major type 1) within `i64` for
//!   negatives, any width of head;
//! - byte strings (2) and UTF-8 text strings (3), definite length;
//! - arrays (4) and maps with distinct text keys (5), definite length, keys in the order
//!   written;
//! - `false`, `true` and `null` (simple values 20, 21, 22).
//!
//! Nothing else decodes: no floats, tags, indefinite lengths or `undefined`. The decoder
//! never panics and never allocates more than the input's length: a declared length is
//! checked against the bytes left before anything is reserved, and nesting is limited to
//! `DEPTH_MAX`. The encoder writes the shortest head, so equal values encode to equal bytes.

use std::collections::BTreeSet;
use std::fmt;

/// The deepest nesting of arrays and maps the decoder accepts.
pub const DEPTH_MAX: usize = 32;

/// One CBOR data item of the subset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cbor {
    /// A non-negative integer.
    Unsigned(u64),
    /// A negative integer (always below zero).
    Negative(i64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    /// Entries in the order written (a protocol map never repeats a key).
    Map(Vec<(String, Cbor)>),
    Bool(bool),
    Null,
}

/// Why bytes are not one item of the subset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    #[error("the item ends early, at byte {0}")]
    Truncated(usize),
    #[error("{0} bytes follow the item")]
    Trailing(usize),
    #[error("unsupported CBOR item (initial byte 0x{byte:02x}) at byte {at}")]
    Unsupported { byte: u8, at: usize },
    #[error("a negative integer below i64::MIN at byte {0}")]
    NegativeOutOfRange(usize),
    #[error("text that is not UTF-8 at byte {0}")]
    NotUtf8(usize),
    #[error("a map key that is not text at byte {0}")]
    KeyNotText(usize),
    #[error("a map key repeated at byte {0}")]
    KeyRepeated(usize),
    #[error("nesting deeper than {DEPTH_MAX} at byte {0}")]
    TooDeep(usize),
}

impl Cbor {
    /// Decodes exactly one item filling all of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Cbor, CborError> {
        let mut reader = Reader { bytes, at: 0 };
        let item = reader.item(0)?;
        match bytes.len() - reader.at {
            0 => Ok(item),
            left => Err(CborError::Trailing(left)),
        }
    }

    /// Appends the canonical encoding of the item to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Cbor::Unsigned(value) => head(out, 0, *value),
            Cbor::Negative(value) => head(out, 1, (-1 - i128::from(*value)) as u64),
            Cbor::Bytes(bytes) => {
                head(out, 2, bytes.len() as u64);
                out.extend_from_slice(bytes);
            }
            Cbor::Text(text) => {
                head(out, 3, text.len() as u64);
                out.extend_from_slice(text.as_bytes());
            }
            Cbor::Array(items) => {
                head(out, 4, items.len() as u64);
                for item in items {
                    item.encode(out);
                }
            }
            Cbor::Map(entries) => {
                head(out, 5, entries.len() as u64);
                for (key, value) in entries {
                    head(out, 3, key.len() as u64);
                    out.extend_from_slice(key.as_bytes());
                    value.encode(out);
                }
            }
            Cbor::Bool(false) => out.push(0xf4),
            Cbor::Bool(true) => out.push(0xf5),
            Cbor::Null => out.push(0xf6),
        }
    }

    /// The item's encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// An integer of either sign.
    pub fn int(value: i64) -> Cbor {
        match u64::try_from(value) {
            Ok(value) => Cbor::Unsigned(value),
            Err(_) => Cbor::Negative(value),
        }
    }

    /// A text item.
    pub fn text(text: impl Into<String>) -> Cbor {
        Cbor::Text(text.into())
    }

    /// The value at `key` if this is a map that has it.
    pub fn get(&self, key: &str) -> Option<&Cbor> {
        match self {
            Cbor::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The name of the item's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Cbor::Unsigned(_) => "an unsigned integer",
            Cbor::Negative(_) => "a negative integer",
            Cbor::Bytes(_) => "a byte string",
            Cbor::Text(_) => "a text string",
            Cbor::Array(_) => "an array",
            Cbor::Map(_) => "a map",
            Cbor::Bool(_) => "a boolean",
            Cbor::Null => "null",
        }
    }
}

impl fmt::Display for Cbor {
    /// CBOR diagnostic notation (RFC 8949 section 8), for messages and tests.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cbor::Unsigned(value) => write!(f, "{value}"),
            Cbor::Negative(value) => write!(f, "{value}"),
            Cbor::Bytes(bytes) => {
                f.write_str("h'")?;
                for byte in bytes {
                    write!(f, "{byte:02x}")?;
                }
                f.write_str("'")
            }
            Cbor::Text(text) => write!(f, "{text:?}"),
            Cbor::Array(items) => {
                f.write_str("[")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Cbor::Map(entries) => {
                f.write_str("{")?;
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key:?}: {value}")?;
                }
                f.write_str("}")
            }
            Cbor::Bool(value) => write!(f, "{value}"),
            Cbor::Null => f.write_str("null"),
        }
    }
}

/// Writes a head: the major type and the argument in its shortest form.
fn head(out: &mut Vec<u8>, major: u8, argument: u64) {
    let major = major << 5;
    match argument {
        0..=23 => out.push(major | argument as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, argument as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(argument as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(argument as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&argument.to_be_bytes());
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, count: u64) -> Result<&[u8], CborError> {
        let left = (self.bytes.len() - self.at) as u64;
        if count > left {
            return Err(CborError::Truncated(self.bytes.len()));
        }
        let start = self.at;
        self.at += count as usize;
        Ok(&self.bytes[start..self.at])
    }

    /// The initial byte's major type and the argument that follows it.
    fn head(&mut self) -> Result<(u8, u8, u64), CborError> {
        let at = self.at;
        let initial = *self.take(1)?.first().ok_or(CborError::Truncated(at))?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let width = match info {
            0..=23 => return Ok((major, initial, u64::from(info))),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return Err(CborError::Unsupported { byte: initial, at }),
        };
        let mut word = [0u8; 8];
        word[8 - width..].copy_from_slice(self.take(width as u64)?);
        Ok((major, initial, u64::from_be_bytes(word)))
    }

    /// A count of items that each take at least one byte: more than the bytes left is a
    /// truncation, found before anything is reserved for them.
    fn count(&self, declared: u64) -> Result<usize, CborError> {
        match declared <= (self.bytes.len() - self.at) as u64 {
            true => Ok(declared as usize),
            false => Err(CborError::Truncated(self.bytes.len())),
        }
    }

    fn item(&mut self, depth: usize) -> Result<Cbor, CborError> {
        let at = self.at;
        let (major, initial, argument) = self.head()?;
        match major {
            0 => Ok(Cbor::Unsigned(argument)),
            1 => match i64::try_from(argument) {
                Ok(magnitude) => Ok(Cbor::Negative(-1 - magnitude)),
                Err(_) => Err(CborError::NegativeOutOfRange(at)),
            },
            2 => Ok(Cbor::Bytes(self.take(argument)?.to_vec())),
            3 => self.text(argument, at).map(Cbor::Text),
            4 | 5 if depth >= DEPTH_MAX => Err(CborError::TooDeep(at)),
            4 => {
                let count = self.count(argument)?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.item(depth + 1)?);
                }
                Ok(Cbor::Array(items))
            }
            5 => {
                let count = self.count(argument.saturating_mul(2))? / 2;
                let mut entries = Vec::with_capacity(count);
                let mut keys = BTreeSet::new();
                for _ in 0..count {
                    let key_at = self.at;
                    let (key_major, _, key_length) = self.head()?;
                    if key_major != 3 {
                        return Err(CborError::KeyNotText(key_at));
                    }
                    let key = self.text(key_length, key_at)?;
                    if !keys.insert(key.clone()) {
                        return Err(CborError::KeyRepeated(key_at));
                    }
                    entries.push((key, self.item(depth + 1)?));
                }
                Ok(Cbor::Map(entries))
            }
            7 => match initial {
                0xf4 => Ok(Cbor::Bool(false)),
                0xf5 => Ok(Cbor::Bool(true)),
                0xf6 => Ok(Cbor::Null),
                _ => Err(CborError::Unsupported { byte: initial, at }),
            },
            _ => Err(CborError::Unsupported { byte: initial, at }),
        }
    }

    fn text(&mut self, length: u64, at: usize) -> Result<String, CborError> {
        let bytes = self.take(length)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CborError::NotUtf8(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn sample() -> Cbor {
        Cbor::Map(vec![
            ("type".into(), Cbor::text("deliver")),
            ("from".into(), Cbor::Unsigned(3)),
            ("big".into(), Cbor::Unsigned(u64::MAX)),
            ("low".into(), Cbor::Negative(i64::MIN)),
            ("minus_one".into(), Cbor::int(-1)),
            ("message".into(), Cbor::Bytes(vec![0, 1, 2, 255])),
            ("list".into(), Cbor::Array(vec![Cbor::Bool(true), Cbor::Bool(false), Cbor::Null])),
            ("name".into(), Cbor::text("ünïcode")),
        ])
    }

    // Proves every kind of item round-trips and heads are the shortest RFC 8949 forms.
    #[test]
    fn items_round_trip_with_shortest_heads() {
        let item = sample();
        assert_eq!(Cbor::decode(&item.to_bytes()), Ok(item));
        for (value, bytes) in [
            (Cbor::Unsigned(0), vec![0x00]),
            (Cbor::Unsigned(23), vec![0x17]),
            (Cbor::Unsigned(24), vec![0x18, 0x18]),
            (Cbor::Unsigned(1000), vec![0x19, 0x03, 0xe8]),
            (Cbor::Unsigned(1_000_000), vec![0x1a, 0x00, 0x0f, 0x42, 0x40]),
            (Cbor::Negative(-1), vec![0x20]),
            (Cbor::Negative(-1000), vec![0x39, 0x03, 0xe7]),
            (Cbor::text("a"), vec![0x61, 0x61]),
            (Cbor::Bytes(vec![1, 2]), vec![0x42, 1, 2]),
            (Cbor::Map(vec![("a".into(), Cbor::Null)]), vec![0xa1, 0x61, 0x61, 0xf6]),
        ] {
            assert_eq!(value.to_bytes(), bytes, "{value}");
            assert_eq!(Cbor::decode(&bytes), Ok(value));
        }
        // A longer head than needed still decodes.
        assert_eq!(Cbor::decode(&[0x18, 0x05]), Ok(Cbor::Unsigned(5)));
    }

    // Proves what lies outside the subset, or is malformed, is an error naming where.
    #[test]
    fn malformed_and_unsupported_items_are_errors() {
        for (bytes, expected) in [
            (vec![], CborError::Truncated(0)),
            (vec![0x19, 0x01], CborError::Truncated(2)),
            (vec![0x00, 0x00], CborError::Trailing(1)),
            (vec![0xf9, 0x3c, 0x00], CborError::Unsupported { byte: 0xf9, at: 0 }),
            (vec![0xc1, 0x00], CborError::Unsupported { byte: 0xc1, at: 0 }),
            (vec![0x5f], CborError::Unsupported { byte: 0x5f, at: 0 }),
            (vec![0xf7], CborError::Unsupported { byte: 0xf7, at: 0 }),
            (vec![0x62, 0xff, 0xfe], CborError::NotUtf8(0)),
            (vec![0xa1, 0x01, 0x01], CborError::KeyNotText(1)),
            (vec![0xa2, 0x61, 0x61, 0x00, 0x61, 0x61, 0x01], CborError::KeyRepeated(4)),
            (vec![0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0], CborError::NegativeOutOfRange(0)),
            // A declared length far beyond the input is refused before any allocation.
            (vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], CborError::Truncated(9)),
            (vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], CborError::Truncated(9)),
        ] {
            assert_eq!(Cbor::decode(&bytes), Err(expected), "{bytes:02x?}");
        }
        let deep = [vec![0x81; DEPTH_MAX + 1], vec![0x00]].concat();
        assert_eq!(Cbor::decode(&deep), Err(CborError::TooDeep(DEPTH_MAX)));
        let deepest = [vec![0x81; DEPTH_MAX], vec![0x00]].concat();
        assert!(Cbor::decode(&deepest).is_ok());
    }

    // Proves the decoder never panics on arbitrary bytes: random inputs and every prefix and
    // bit flip of a valid frame either decode or give an error.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let valid = sample().to_bytes();
        for end in 0..valid.len() {
            assert!(Cbor::decode(&valid[..end]).is_err());
        }
        for bit in 0..valid.len() * 8 {
            let mut flipped = valid.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let _ = Cbor::decode(&flipped);
        }
        let mut stream = Stream::new(7, "cbor.fuzz");
        for _ in 0..20_000 {
            let length = stream.below(24) as usize;
            let bytes: Vec<u8> = (0..length).map(|_| stream.below(256) as u8).collect();
            let _ = Cbor::decode(&bytes);
        }
    }
}
