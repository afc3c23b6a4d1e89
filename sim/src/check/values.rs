//! Interned values: every value of a history gets a `u32` id (equal values, equal id), so the
//! checker's states are four bytes and a step is an integer comparison.
//!
//! The readers intern values as they read them, so a history in memory holds ids, not trees of
//! strings; the built-in models take the table over and intern the few values the search makes
//! (the result of an append, a set with one more element, a queue with one fewer), memoised so
//! that each is built once.
//!
//! A hash table, not a `BTreeMap<Value, _>`: appended strings share long prefixes, and ordered
//! lookups compared those prefixes over and over. Strings hash with a polynomial hash, which
//! composes: the hash of `a + b` follows from the hashes of `a` and `b` and the length of `b`,
//! so a key-value search that appends to long strings finds an existing concatenation in
//! constant time plus one comparison, and builds a new one only when it is new. Other values
//! hash with our own FxHash. Both are deterministic, so ids are a pure function of the order in
//! which values are first seen.

use std::hash::{Hash, Hasher};

use super::cache::FxHasher;
use super::value::Value;

/// An interned value.
pub type ValueId = u32;

/// The id of `nil` in every table.
pub const NIL: ValueId = 0;

/// The values of a history, interned.
#[derive(Debug)]
pub struct ValueTable {
    values: Vec<Value>,
    /// Per value, its hash before spreading (for strings, the polynomial hash).
    hashes: Vec<u64>,
    /// Open addressing with linear probing; each slot holds `id + 1`, 0 when empty.
    slots: Vec<u32>,
    /// Values the models derived from others.
    memo: Memo,
}

/// The ways models derive values, the keys of the memo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Derivation {
    Append,
    SetAdd,
    CounterAdd,
    Enqueue,
    Dequeue,
}

impl Default for ValueTable {
    fn default() -> ValueTable {
        ValueTable::new()
    }
}

impl ValueTable {
    /// A table holding only `nil` (id [`NIL`]).
    pub fn new() -> ValueTable {
        let mut table = ValueTable {
            values: Vec::new(),
            hashes: Vec::new(),
            slots: vec![0; 64],
            memo: Memo::new(),
        };
        table.intern_owned(Value::Nil);
        table
    }

    /// The value's id; the value is cloned only the first time it is seen.
    pub fn intern(&mut self, value: &Value) -> ValueId {
        let hash = hash_value(value);
        match self.find(hash, |known| known == value) {
            Ok(id) => id,
            Err(slot) => self.insert(slot, hash, value.clone()),
        }
    }

    /// Like [`ValueTable::intern`], taking the value so that a new one is not cloned.
    pub fn intern_owned(&mut self, value: Value) -> ValueId {
        let hash = hash_value(&value);
        match self.find(hash, |known| *known == value) {
            Ok(id) => id,
            Err(slot) => self.insert(slot, hash, value),
        }
    }

    /// The id of the string `text`; the text is copied only the first time it is seen. The
    /// same id as interning `Value::Str(text)`.
    pub fn intern_str(&mut self, text: &str) -> ValueId {
        let hash = string_hash(text.as_bytes());
        match self.find(hash, |known| matches!(known, Value::Str(s) if **s == *text)) {
            Ok(id) => id,
            Err(slot) => self.insert(slot, hash, Value::Str(text.into())),
        }
    }

    /// The id of the concatenation of two strings, built only if it is new.
    pub fn concatenate(&mut self, base: ValueId, suffix: ValueId) -> Option<ValueId> {
        let (Value::Str(head), Value::Str(tail)) = (self.get(base), self.get(suffix)) else {
            return None;
        };
        let hash = self.hashes[base as usize]
            .wrapping_mul(STRING_BASE.wrapping_pow(tail.len() as u32))
            .wrapping_add(self.hashes[suffix as usize]);
        let is_concatenation = |known: &Value| match known {
            Value::Str(s) => {
                s.len() == head.len() + tail.len() && s.starts_with(&**head) && s.ends_with(&**tail)
            }
            _ => false,
        };
        match self.find(hash, is_concatenation) {
            Ok(id) => Some(id),
            Err(slot) => {
                let mut text = String::with_capacity(head.len() + tail.len());
                text.push_str(head);
                text.push_str(tail);
                Some(self.insert(slot, hash, Value::Str(text.into())))
            }
        }
    }

    /// The value with id `id`.
    pub fn get(&self, id: ValueId) -> &Value {
        &self.values[id as usize]
    }

    /// How many distinct values the table holds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The memoised result of deriving from `a` and `b`, computed by `derive` the first time.
    #[inline]
    pub fn derive(
        &mut self,
        derivation: Derivation,
        a: ValueId,
        b: ValueId,
        derive: impl FnOnce(&mut ValueTable) -> Option<(ValueId, ValueId)>,
    ) -> Option<(ValueId, ValueId)> {
        match self.memo.get(derivation, a, b) {
            Ok(result) => result,
            Err(()) => {
                let result = derive(self);
                self.memo.insert(derivation, a, b, result);
                result
            }
        }
    }

    #[inline]
    fn find(&self, hash: u64, equal: impl Fn(&Value) -> bool) -> Result<ValueId, usize> {
        let spread = spread(hash);
        let mask = self.slots.len() - 1;
        let shift = 64 - self.slots.len().trailing_zeros();
        let mut slot = (spread >> shift) as usize;
        while self.slots[slot] != 0 {
            let id = self.slots[slot] - 1;
            if self.hashes[id as usize] == hash && equal(&self.values[id as usize]) {
                return Ok(id);
            }
            slot = (slot + 1) & mask;
        }
        Err(slot)
    }

    fn insert(&mut self, slot: usize, hash: u64, value: Value) -> ValueId {
        assert!(self.values.len() < u32::MAX as usize - 2, "more than 2^32 distinct values");
        let id = self.values.len() as ValueId;
        self.values.push(value);
        self.hashes.push(hash);
        self.slots[slot] = id + 1;
        if self.values.len() * 2 > self.slots.len() {
            self.grow();
        }
        id
    }

    fn grow(&mut self) {
        let capacity = self.slots.len() * 2;
        let mask = capacity - 1;
        let shift = 64 - capacity.trailing_zeros();
        let mut slots = vec![0; capacity];
        for (id, &hash) in self.hashes.iter().enumerate() {
            let mut slot = (spread(hash) >> shift) as usize;
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = id as u32 + 1;
        }
        self.slots = slots;
    }
}

/// The multiplier of the polynomial string hash (odd, so powers never vanish mod 2^64).
const STRING_BASE: u64 = 0x100_0000_01b3;

/// The polynomial hash of a string's bytes: `sum of byte_i * BASE^(n-1-i)`, mod 2^64, with
/// every byte offset by one so that zero bytes count.
#[inline]
fn string_hash(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0u64, |hash, &byte| hash.wrapping_mul(STRING_BASE).wrapping_add(u64::from(byte) + 1))
}

fn hash_value(value: &Value) -> u64 {
    match value {
        Value::Str(text) => string_hash(text.as_bytes()),
        _ => {
            let mut hasher = FxHasher::default();
            value.hash(&mut hasher);
            hasher.finish()
        }
    }
}

/// Spreads a hash so that the slot, taken from the high bits, depends on all of it.
#[inline]
fn spread(hash: u64) -> u64 {
    (hash ^ (hash >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The memo of derivations: open addressing over (derivation, a, b) keys.
#[derive(Debug)]
struct Memo {
    slots: Vec<MemoSlot>,
    used: usize,
}

#[derive(Clone, Copy, Debug)]
struct MemoSlot {
    /// `derivation + 1`; 0 for an empty slot.
    derivation: u8,
    /// The result is known not to exist.
    none: bool,
    a: ValueId,
    b: ValueId,
    result: (ValueId, ValueId),
}

const MEMO_EMPTY: MemoSlot = MemoSlot { derivation: 0, none: false, a: 0, b: 0, result: (0, 0) };

impl Memo {
    fn new() -> Memo {
        Memo { slots: vec![MEMO_EMPTY; 64], used: 0 }
    }

    #[inline]
    fn slot_of(derivation: Derivation, a: ValueId, b: ValueId, capacity: usize) -> usize {
        let key = (u64::from(a) << 32 | u64::from(b)) ^ ((derivation as u64) << 59);
        (spread(key) >> (64 - capacity.trailing_zeros())) as usize
    }

    /// The memoised result, or `Err` if there is none.
    #[inline]
    #[allow(clippy::result_unit_err)]
    fn get(
        &self,
        derivation: Derivation,
        a: ValueId,
        b: ValueId,
    ) -> Result<Option<(ValueId, ValueId)>, ()> {
        let mask = self.slots.len() - 1;
        let mut slot = Memo::slot_of(derivation, a, b, self.slots.len());
        loop {
            let entry = &self.slots[slot];
            if entry.derivation == 0 {
                return Err(());
            }
            if entry.derivation == derivation as u8 + 1 && entry.a == a && entry.b == b {
                return Ok(if entry.none { None } else { Some(entry.result) });
            }
            slot = (slot + 1) & mask;
        }
    }

    fn insert(
        &mut self,
        derivation: Derivation,
        a: ValueId,
        b: ValueId,
        result: Option<(ValueId, ValueId)>,
    ) {
        if (self.used + 1) * 2 > self.slots.len() {
            let capacity = self.slots.len() * 2;
            let old = std::mem::replace(&mut self.slots, vec![MEMO_EMPTY; capacity]);
            for entry in old.into_iter().filter(|entry| entry.derivation != 0) {
                self.place(entry);
            }
        }
        let entry = MemoSlot {
            derivation: derivation as u8 + 1,
            none: result.is_none(),
            a,
            b,
            result: result.unwrap_or((0, 0)),
        };
        self.place(entry);
        self.used += 1;
    }

    fn place(&mut self, entry: MemoSlot) {
        let mask = self.slots.len() - 1;
        let derivation = DERIVATIONS[entry.derivation as usize - 1];
        let mut slot = Memo::slot_of(derivation, entry.a, entry.b, self.slots.len());
        while self.slots[slot].derivation != 0 {
            slot = (slot + 1) & mask;
        }
        self.slots[slot] = entry;
    }
}

/// The derivations by their number.
const DERIVATIONS: [Derivation; 5] = [
    Derivation::Append,
    Derivation::SetAdd,
    Derivation::CounterAdd,
    Derivation::Enqueue,
    Derivation::Dequeue,
];

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the eight-at-a-time string hash is the plain polynomial, so concatenations hash
    // like the strings they equal.
    #[test]
    fn string_hash_is_the_polynomial() {
        for length in 0..40 {
            let text: Vec<u8> = (0..length).map(|i| (i * 37 % 251) as u8).collect();
            let plain = text.iter().fold(0u64, |hash, &byte| {
                hash.wrapping_mul(STRING_BASE).wrapping_add(u64::from(byte) + 1)
            });
            assert_eq!(string_hash(&text), plain, "length {length}");
        }
    }

    // Proves interning is hash-consing: equal values get one id however they arrive (whole,
    // from borrowed text, or as a concatenation), distinct values distinct ids, across table
    // growth; and derivations run once, failed ones included.
    #[test]
    fn equal_values_share_an_id_and_derivations_are_memoised() {
        let mut table = ValueTable::new();
        assert_eq!(table.intern(&Value::Nil), NIL);
        let ids: Vec<ValueId> =
            (0..1000).map(|i| table.intern_owned(Value::Str(format!("v{i}").into()))).collect();
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(table.intern(&Value::Str(format!("v{i}").into())), id);
            assert_eq!(table.get(id), &Value::Str(format!("v{i}").into()));
        }
        assert_eq!(table.len(), 1001);
        assert_eq!(table.intern_str("v7"), ids[7]);
        let fresh = table.intern_str("fresh");
        assert_eq!(table.intern(&Value::Str("fresh".into())), fresh);
        let joined = table.concatenate(ids[1], ids[2]).expect("strings concatenate");
        assert_eq!(table.get(joined), &Value::Str("v1v2".into()));
        assert_eq!(table.intern_str("v1v2"), joined);
        assert_eq!(table.concatenate(ids[1], ids[2]), Some(joined));
        let twelve = table.intern_str("v1v2v3");
        let again = table.concatenate(joined, ids[3]);
        assert_eq!(again, Some(twelve));
        assert_eq!(table.concatenate(NIL, ids[3]), None);
        let mut calls = 0;
        for _ in 0..3 {
            for (derivation, result) in
                [(Derivation::Append, Some((7, 0))), (Derivation::Dequeue, None)]
            {
                let got = table.derive(derivation, ids[0], ids[1], |_| {
                    calls += 1;
                    result
                });
                assert_eq!(got, result);
            }
        }
        assert_eq!(calls, 2);
        for i in 0..500 {
            table.derive(Derivation::SetAdd, i, i + 1, |_| Some((i, i)));
        }
        for i in 0..500 {
            assert_eq!(table.derive(Derivation::SetAdd, i, i + 1, |_| None), Some((i, i)));
        }
    }
}
