//! What the search remembers: the set of linearized operations (a bitset whose distinguishing
//! window is small), the explored (set, state) pairs, and the deterministic hasher both use.
//!
//! The cache is the search's memory and, on long histories, its largest cost: a search may
//! explore tens of millions of pairs. An entry is 20 bytes for a four-byte state and a slot 4,
//! and pairs far behind the search's frontier are forgotten (see [`CACHE_HORIZON_WORDS`]), so
//! the cache is bounded by how far the search backtracks, not by the length of the history.

use std::hash::{Hash, Hasher};

/// SplitMix64's finaliser: spreads consecutive integers over all 64 bits.
#[inline]
pub(super) fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(super) fn hash_state<S: Hash>(state: &S) -> u64 {
    let mut hasher = FxHasher::default();
    state.hash(&mut hasher);
    hasher.finish()
}

/// The checker's deterministic hasher: FxHash's word step (rotate, xor, multiply). Its output
/// is a function of the bytes hashed only, unlike std's randomly seeded `RandomState`.
#[derive(Default)]
pub struct FxHasher {
    hash: u64,
}

const FX_MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_MULTIPLIER);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u16(&mut self, value: u16) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// The set of linearized operations. Operations are numbered in call order and the search
/// linearizes roughly in that order, so the set is "all operations below some point, plus a few
/// after it": words below `low` are all ones and words from `high` on are all zeros, and only
/// `words[low..high]` distinguishes two sets. That window is what the cache stores.
pub(super) struct Bitset {
    words: Vec<u64>,
    /// The first word that is not all ones.
    pub(super) low: usize,
    /// One past the last word that is not zero.
    high: usize,
}

impl Bitset {
    pub(super) fn new(bits: usize) -> Bitset {
        Bitset { words: vec![0; bits.div_ceil(64)], low: 0, high: 0 }
    }

    #[inline]
    pub(super) fn insert(&mut self, bit: usize) {
        let word = bit / 64;
        self.words[word] |= 1 << (bit % 64);
        self.high = self.high.max(word + 1);
        while self.low < self.words.len() && self.words[self.low] == u64::MAX {
            self.low += 1;
        }
    }

    #[inline]
    pub(super) fn remove(&mut self, bit: usize) {
        let word = bit / 64;
        self.words[word] &= !(1 << (bit % 64));
        self.low = self.low.min(word);
        while self.high > 0 && self.words[self.high - 1] == 0 {
            self.high -= 1;
        }
    }

    #[inline]
    fn window(&self) -> &[u64] {
        &self.words[self.low..self.high]
    }
}

/// One explored (linearized set, state) pair: 20 bytes for a four-byte state.
struct CacheEntry<S> {
    state: S,
    /// The high half of the pair's hash: rejects most mismatches without touching the window,
    /// and places the entry again when the table grows.
    tag: u32,
    low: u32,
    window_start: u32,
    window_length: u32,
}

/// The set of explored (linearized set, state) pairs: open addressing with linear probing over
/// slots holding entry index + 1, the windows of the bitsets kept in one arena. A search may
/// insert tens of millions of pairs, so every byte per pair counts: a slot is four bytes.
pub(super) struct Cache<S> {
    slots: Vec<u32>,
    entries: Vec<CacheEntry<S>>,
    windows: Vec<u64>,
    /// The slot of a hash is its top `64 - shift` bits.
    shift: u32,
}

const CACHE_SLOTS_INITIAL: usize = 1 << 8;

/// How far behind the search's frontier (in bitset words of 64 operations) the cache keeps
/// what it explored: 64 words, 4,096 operations.
const CACHE_HORIZON_WORDS: usize = 64;

impl<S: Clone + Eq> Cache<S> {
    pub(super) fn new() -> Cache<S> {
        Cache {
            slots: vec![0; CACHE_SLOTS_INITIAL],
            entries: Vec::new(),
            windows: Vec::new(),
            shift: 64 - CACHE_SLOTS_INITIAL.trailing_zeros(),
        }
    }

    /// Adds the pair unless present; true when it was new.
    #[inline]
    pub(super) fn insert_if_absent(&mut self, hash: u64, state: &S, linearized: &Bitset) -> bool {
        // Multiply so that the slot, taken from the high bits, depends on every bit of the hash.
        let hash = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let tag = (hash >> 32) as u32;
        let mask = self.slots.len() - 1;
        let window = linearized.window();
        let mut slot = (hash >> self.shift) as usize;
        loop {
            let index = self.slots[slot];
            if index == 0 {
                break;
            }
            let entry = &self.entries[index as usize - 1];
            if entry.tag == tag
                && entry.low as usize == linearized.low
                && entry.window_length as usize == window.len()
                && entry.state == *state
            {
                let start = entry.window_start as usize;
                if self.windows[start..start + window.len()] == *window {
                    return false;
                }
            }
            slot = (slot + 1) & mask;
        }
        assert!(self.entries.len() < u32::MAX as usize - 1, "cache entries overflow u32");
        assert!(
            self.windows.len() + window.len() < u32::MAX as usize,
            "cache windows overflow u32"
        );
        self.entries.push(CacheEntry {
            state: state.clone(),
            tag,
            low: linearized.low as u32,
            window_start: self.windows.len() as u32,
            window_length: window.len() as u32,
        });
        self.windows.extend_from_slice(window);
        self.slots[slot] = self.entries.len() as u32;
        // Keep the load under a half so probe sequences stay short.
        if self.entries.len() * 2 > self.slots.len() {
            self.forget_behind(linearized.low);
            if self.entries.len() * 4 > self.slots.len() {
                self.shift -= 1;
            }
            self.rebuild();
        }
        true
    }

    /// Forgets the pairs whose linearized set lies more than [`CACHE_HORIZON_WORDS`] words
    /// behind `frontier` (the current set's first word that is not all ones). The search gets
    /// back to them only by backtracking that far, and then merely explores again what it
    /// forgot: the cache prunes, it never decides, so forgetting costs steps, not correctness.
    /// That bounds the cache by the search's frontier instead of the history's length.
    fn forget_behind(&mut self, frontier: usize) {
        let horizon = frontier.saturating_sub(CACHE_HORIZON_WORDS) as u32;
        if self.entries.first().is_none_or(|entry| entry.low >= horizon) {
            return;
        }
        let mut windows = Vec::with_capacity(self.windows.len());
        let old_windows = &self.windows;
        self.entries.retain_mut(|entry| {
            if entry.low < horizon {
                return false;
            }
            let start = entry.window_start as usize;
            entry.window_start = windows.len() as u32;
            windows.extend_from_slice(&old_windows[start..start + entry.window_length as usize]);
            true
        });
        self.windows = windows;
    }

    /// Places every entry again, in a table of `2^(64 - shift)` slots.
    fn rebuild(&mut self) {
        assert!(self.shift >= 32, "a cache of more than 2^32 slots");
        let capacity = 1usize << (64 - self.shift);
        let mask = capacity - 1;
        let mut slots = vec![0u32; capacity];
        for (index, entry) in self.entries.iter().enumerate() {
            let mut slot = (entry.tag >> (self.shift - 32)) as usize;
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = index as u32 + 1;
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the deterministic hasher hashes by content and the bitset window stays canonical.
    #[test]
    fn hasher_and_bitset_are_canonical() {
        assert_eq!(hash_state(&(1u32, 2u64)), hash_state(&(1u32, 2u64)));
        assert_ne!(hash_state(&1u32), hash_state(&2u32));
        let mut bits = Bitset::new(200);
        for bit in 0..130 {
            bits.insert(bit);
        }
        assert_eq!((bits.low, bits.high), (2, 3));
        bits.remove(129);
        bits.remove(128);
        assert_eq!((bits.low, bits.high, bits.window()), (2, 2, &[][..]));
        bits.remove(3);
        assert_eq!((bits.low, bits.high), (0, 2));
    }
}
