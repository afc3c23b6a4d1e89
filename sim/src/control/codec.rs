//! The canonical encoding of a control message body: fixed-width little-endian integers,
//! length-prefixed strings, lists with a validated count, maps sorted by key, and records
//! whose trailing fields an older decoder skips and a newer one defaults.
//!
//! A decoder never trusts a count or a length: each is checked against the bytes that remain
//! before anything is allocated, so a frame claiming four billion items costs nothing. Every
//! value has exactly one encoding (booleans are 0 or 1, map keys strictly increase, floats are
//! finite), so two encoders of the same message agree byte for byte.

use std::collections::BTreeMap;

/// Why a body could not be decoded: what was expected, at which byte of the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset} of the body: {message}")]
pub struct WireError {
    /// Bytes of the body read before the problem.
    pub offset: usize,
    /// What was expected, in our words.
    pub message: String,
}

/// Builds a body. Integers are little-endian and fixed-width; strings and byte strings are a
/// `u32` length then the bytes; lists are a `u32` count then the items; records are a `u32`
/// length then the fields, so fields added later can be skipped.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty body.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// The bytes written.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }

    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes.push(value);
        self
    }

    pub fn u16(&mut self, value: u16) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn i64(&mut self, value: i64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A probability or other real as its IEEE-754 bits; callers write finite values only.
    pub fn f64(&mut self, value: f64) -> &mut Self {
        debug_assert!(value.is_finite(), "only finite reals travel");
        self.u64(value.to_bits())
    }

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.u8(u8::from(value))
    }

    /// A UTF-8 string: its byte length as `u32`, then the bytes.
    pub fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    /// A byte string: its length as `u32`, then the bytes.
    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.u32(len_u32(value.len()));
        self.bytes.extend_from_slice(value);
        self
    }

    /// An optional string: a flag byte, then the string if present.
    pub fn opt_str(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(text) => self.u8(1).str(text),
            None => self.u8(0),
        }
    }

    /// A list: the count as `u32`, then each item as `item` writes it.
    pub fn list<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Writer, &T)) -> &mut Self {
        self.u32(len_u32(items.len()));
        for value in items {
            item(self, value);
        }
        self
    }

    /// A map from names to counters, in key order (the only order a decoder accepts).
    pub fn map_u64(&mut self, map: &BTreeMap<String, u64>) -> &mut Self {
        self.u32(len_u32(map.len()));
        for (key, value) in map {
            self.str(key).u64(*value);
        }
        self
    }

    /// A record: its byte length as `u32`, then what `fields` writes.
    pub fn record(&mut self, fields: impl FnOnce(&mut Writer)) -> &mut Self {
        let start = self.bytes.len();
        self.u32(0);
        fields(self);
        let length = len_u32(self.bytes.len() - start - 4);
        self.bytes[start..start + 4].copy_from_slice(&length.to_le_bytes());
        self
    }
}

/// A length that must fit the wire's `u32`: frames are far smaller, so anything larger is a
/// bug of the caller, not of the input.
fn len_u32(length: usize) -> u32 {
    u32::try_from(length).expect("a control message part is shorter than 4 GiB")
}

/// Reads a body (or a record inside one). Reads past the end fail, except the `*_or`
/// readers of trailing fields, which give the default a message from an older encoder lacks.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Where this reader's bytes start within the whole body, for error offsets.
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole body.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0, base: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// Whether every byte has been read (a trailing field would start here).
    pub fn is_at_end(&self) -> bool {
        self.remaining() == 0
    }

    /// A problem at the current position.
    pub fn error(&self, message: impl Into<String>) -> WireError {
        WireError { offset: self.base + self.at, message: message.into() }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(self.error(format!(
                "expected {what} ({n} bytes) but only {} bytes remain",
                self.remaining()
            )));
        }
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], WireError> {
        let slice = self.take(N, what)?;
        let mut array = [0u8; N];
        array.copy_from_slice(slice);
        Ok(array)
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>("a u8")?[0])
    }

    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array("a u16")?))
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array("a u32")?))
    }

    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array("a u64")?))
    }

    pub fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_le_bytes(self.array("an i64")?))
    }

    /// A finite real.
    pub fn f64(&mut self) -> Result<f64, WireError> {
        let value = f64::from_bits(self.u64()?);
        if !value.is_finite() {
            return Err(self.error("expected a finite real, found NaN or an infinity"));
        }
        Ok(value)
    }

    /// A probability: a real in [0, 1].
    pub fn probability(&mut self) -> Result<f64, WireError> {
        let value = self.f64()?;
        if !(0.0..=1.0).contains(&value) {
            return Err(self.error(format!("expected a probability in [0, 1], found {value}")));
        }
        Ok(value)
    }

    pub fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.error(format!("expected a boolean (0 or 1), found {other}"))),
        }
    }

    /// A byte string whose length is checked against what remains before it is read.
    pub fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let length = self.u32()? as usize;
        self.take(length, "a string's bytes")
    }

    /// A UTF-8 string.
    pub fn str(&mut self) -> Result<String, WireError> {
        let start = self.at;
        let bytes = self.bytes()?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_string()),
            Err(_) => Err(WireError {
                offset: self.base + start,
                message: "expected a UTF-8 string".to_string(),
            }),
        }
    }

    /// An optional string (a flag byte, then the string if the flag is 1).
    pub fn opt_str(&mut self) -> Result<Option<String>, WireError> {
        match self.bool()? {
            true => Ok(Some(self.str()?)),
            false => Ok(None),
        }
    }

    /// A list's count, refused if `count` items of at least `item_bytes_min` bytes each
    /// cannot fit in what remains: the only count a caller may allocate for.
    pub fn count(&mut self, item_bytes_min: usize) -> Result<usize, WireError> {
        let count = self.u32()? as usize;
        let needed = count.saturating_mul(item_bytes_min.max(1));
        if needed > self.remaining() {
            return Err(self.error(format!(
                "a list claims {count} items but only {} bytes remain",
                self.remaining()
            )));
        }
        Ok(count)
    }

    /// A list of items each at least `item_bytes_min` bytes long.
    pub fn list<T>(
        &mut self,
        item_bytes_min: usize,
        mut item: impl FnMut(&mut Reader<'a>) -> Result<T, WireError>,
    ) -> Result<Vec<T>, WireError> {
        let count = self.count(item_bytes_min)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(item(self)?);
        }
        Ok(items)
    }

    /// A map from names to counters; keys must strictly increase (sorted, no duplicates).
    pub fn map_u64(&mut self) -> Result<BTreeMap<String, u64>, WireError> {
        let count = self.count(4 + 8)?;
        let mut map = BTreeMap::new();
        let mut last: Option<String> = None;
        for _ in 0..count {
            let key = self.str()?;
            if last.as_ref().is_some_and(|previous| *previous >= key) {
                return Err(self.error(format!("map key `{key}` is out of order or repeated")));
            }
            let value = self.u64()?;
            last = Some(key.clone());
            map.insert(key, value);
        }
        Ok(map)
    }

    /// A record: a reader over exactly its bytes. What the caller leaves unread (fields a
    /// newer encoder appended) is skipped.
    pub fn record(&mut self) -> Result<Reader<'a>, WireError> {
        let length = self.u32()? as usize;
        let base = self.base + self.at;
        let bytes = self.take(length, "a record's bytes")?;
        Ok(Reader { bytes, at: 0, base })
    }

    /// A trailing `u64` field, or `default` if the encoder predates it.
    pub fn u64_or(&mut self, default: u64) -> Result<u64, WireError> {
        if self.is_at_end() {
            return Ok(default);
        }
        self.u64()
    }

    /// A trailing string field, or `default` if the encoder predates it.
    pub fn str_or(&mut self, default: &str) -> Result<String, WireError> {
        if self.is_at_end() {
            return Ok(default.to_string());
        }
        self.str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves every value decodes to what was encoded, and a record's unknown trailing fields
    // are skipped while missing ones take their defaults.
    #[test]
    fn values_round_trip_and_records_evolve() {
        let mut map = BTreeMap::new();
        map.insert("a".to_string(), 1);
        map.insert("b".to_string(), 2);
        let mut writer = Writer::new();
        writer.u8(7).u16(300).u32(70_000).u64(u64::MAX).i64(-5).f64(0.25).bool(true);
        writer.str("héllo").opt_str(None).opt_str(Some("x")).map_u64(&map);
        writer.list(&[1u64, 2, 3], |w, v| {
            w.u64(*v);
        });
        // A newer encoder's record: two fields, the second unknown to an old decoder.
        writer.record(|w| {
            w.u64(11).str("appended");
        });
        // An older encoder's record: one field missing.
        writer.record(|w| {
            w.u64(12);
        });
        writer.u8(0xee);
        let bytes = writer.finish();
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u8(), Ok(7));
        assert_eq!(reader.u16(), Ok(300));
        assert_eq!(reader.u32(), Ok(70_000));
        assert_eq!(reader.u64(), Ok(u64::MAX));
        assert_eq!(reader.i64(), Ok(-5));
        assert_eq!(reader.f64(), Ok(0.25));
        assert_eq!(reader.bool(), Ok(true));
        assert_eq!(reader.str().as_deref(), Ok("héllo"));
        assert_eq!(reader.opt_str(), Ok(None));
        assert_eq!(reader.opt_str(), Ok(Some("x".to_string())));
        assert_eq!(reader.map_u64(), Ok(map));
        assert_eq!(reader.list(8, |r| r.u64()), Ok(vec![1, 2, 3]));
        let mut newer = reader.record().expect("record");
        assert_eq!(newer.u64(), Ok(11));
        let mut older = reader.record().expect("record");
        assert_eq!(older.u64(), Ok(12));
        assert_eq!(older.str_or("default").as_deref(), Ok("default"));
        assert_eq!(reader.u8(), Ok(0xee), "the unread appended field was skipped");
        assert!(reader.is_at_end());
    }

    // Proves lengths and counts are checked against the remaining bytes before anything is
    // allocated, and non-canonical values are refused.
    #[test]
    fn hostile_lengths_counts_and_values_are_refused() {
        let huge = u32::MAX.to_le_bytes();
        assert!(Reader::new(&huge).str().is_err());
        let error = Reader::new(&huge).count(1).expect_err("count");
        assert!(error.message.contains("claims 4294967295 items"), "{error}");
        assert!(Reader::new(&huge).record().is_err());
        assert!(Reader::new(&[2]).bool().is_err());
        assert!(Reader::new(&f64::NAN.to_bits().to_le_bytes()).f64().is_err());
        assert!(Reader::new(&1.5f64.to_bits().to_le_bytes()).probability().is_err());
        let mut unsorted = Writer::new();
        unsorted.u32(2).str("b").u64(1).str("a").u64(2);
        let bytes = unsorted.finish();
        let error = Reader::new(&bytes).map_u64().expect_err("unsorted");
        assert!(error.message.contains("out of order"), "{error}");
        let mut bad_utf8 = Writer::new();
        bad_utf8.bytes(&[0xff, 0xfe]);
        assert!(Reader::new(&bad_utf8.finish()).str().is_err());
    }
}
