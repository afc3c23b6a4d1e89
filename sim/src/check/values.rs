//! Interned values: every value of a history gets a `u32` id (equal values, equal id), so the
//! checker's states are four bytes and a step is an integer comparison.
//!
//! The readers intern values as they read them, so a history in memory holds ids, not trees of
//! strings; the built-in models take the table over and intern the few values the search makes
//! (the result of an append, a set with one more element, a queue with one fewer), memoised so
//! that each is built once.
//!
//! A hash table, not a `BTreeMap<Value, _>`: appended strings share long prefixes, and ordered
//! lookups compared those prefixes over and over. The hash is our own deterministic FxHash, so
//! ids are a pure function of the order values are first seen.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use super::edn::Value;
use super::search::FxHasher;

/// An interned value.
pub type ValueId = u32;

/// The id of `nil` in every table.
pub const NIL: ValueId = 0;

/// The values of a history, interned.
#[derive(Debug)]
pub struct ValueTable {
    values: Vec<Value>,
    hashes: Vec<u64>,
    /// Open addressing with linear probing; each slot holds `id + 1`, 0 when empty.
    slots: Vec<u32>,
    /// Values the models derived from others: (operation, a, b) → result.
    derived: BTreeMap<(Derivation, ValueId, ValueId), Option<(ValueId, ValueId)>>,
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
            derived: BTreeMap::new(),
        };
        table.intern_owned(Value::Nil);
        table
    }

    /// The value's id; the value is cloned only the first time it is seen.
    pub fn intern(&mut self, value: &Value) -> ValueId {
        let hash = hash_value(value);
        match self.find(hash, value) {
            Ok(id) => id,
            Err(slot) => self.insert(slot, hash, value.clone()),
        }
    }

    /// Like [`ValueTable::intern`], taking the value so that a new one is not cloned.
    pub fn intern_owned(&mut self, value: Value) -> ValueId {
        let hash = hash_value(&value);
        match self.find(hash, &value) {
            Ok(id) => id,
            Err(slot) => self.insert(slot, hash, value),
        }
    }

    /// The id of the string `text`; the text is copied only the first time it is seen. The
    /// same id as interning `Value::Str(text)`.
    pub fn intern_str(&mut self, text: &str) -> ValueId {
        let mut hasher = FxHasher::default();
        // What `Value::Str`'s `Hash` writes: its kind's rank, then the text.
        hasher.write_u8(STR_RANK);
        text.hash(&mut hasher);
        let hash = spread(hasher.finish());
        let found =
            self.find_by(hash, |value| matches!(value, Value::Str(known) if **known == *text));
        match found {
            Ok(id) => id,
            Err(slot) => self.insert(slot, hash, Value::Str(text.into())),
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
    pub fn derive(
        &mut self,
        derivation: Derivation,
        a: ValueId,
        b: ValueId,
        derive: impl FnOnce(&mut ValueTable) -> Option<(ValueId, ValueId)>,
    ) -> Option<(ValueId, ValueId)> {
        if let Some(&result) = self.derived.get(&(derivation, a, b)) {
            return result;
        }
        let result = derive(self);
        self.derived.insert((derivation, a, b), result);
        result
    }

    fn find(&self, hash: u64, value: &Value) -> Result<ValueId, usize> {
        self.find_by(hash, |known| known == value)
    }

    #[inline]
    fn find_by(&self, hash: u64, equal: impl Fn(&Value) -> bool) -> Result<ValueId, usize> {
        let mask = self.slots.len() - 1;
        let shift = 64 - self.slots.len().trailing_zeros();
        let mut slot = (hash >> shift) as usize;
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
            let mut slot = (hash >> shift) as usize;
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = id as u32 + 1;
        }
        self.slots = slots;
    }
}

/// The rank `Value`'s `Hash` writes first for a string.
const STR_RANK: u8 = 4;

fn hash_value(value: &Value) -> u64 {
    let mut hasher = FxHasher::default();
    value.hash(&mut hasher);
    spread(hasher.finish())
}

/// Spreads the hash so that the slot, taken from the high bits, depends on all of it.
#[inline]
fn spread(hash: u64) -> u64 {
    hash.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves interning is hash-consing: equal values get one id however they arrive, distinct
    // values distinct ids, across table growth; and derivations run once.
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
        let mut calls = 0;
        for _ in 0..3 {
            let result = table.derive(Derivation::Append, ids[0], ids[1], |_| {
                calls += 1;
                Some((7, 0))
            });
            assert_eq!(result, Some((7, 0)));
        }
        assert_eq!(calls, 1);
    }
}
