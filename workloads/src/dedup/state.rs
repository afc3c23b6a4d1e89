//! The producer's state file: its nonce and sequence numbers, in two checksummed slots so a
//! torn write can never destroy the last durable state.
//!
//! Each slot is `[nonce][next_seq][acked_below][checksum]` (u64 LE each; FNV-1a over the
//! first three). Slot `i` starts at `i * SLOT_STRIDE_BYTES`. A write always goes to the slot
//! *not* holding the latest durable state, so a crash that tears or loses it leaves the
//! other slot intact; recovery takes the valid slot that is furthest along. With sectors of
//! 32 bytes or less the slots share no sector; with larger sectors both slots sit in one
//! sector, whose writes the disk keeps whole or not at all, so the argument still holds.

use orrery_sim::checksum::fnv1a64;

/// The state file's name.
pub const STATE_PATH: &str = "producer.state";
/// Where slot 1 starts; slot 0 starts at 0.
pub const SLOT_STRIDE_BYTES: u64 = 32;
const SLOT_BYTES: usize = 32;

/// What the producer persists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct State {
    /// Names this producer's stream at the consumer, which deduplicates on (nonce, seq).
    pub nonce: u64,
    /// Every event numbered below this is produced (reserved durably before it is sent).
    pub next_seq: u64,
    /// Every event numbered below this was acknowledged (persisted lazily: a lower value only
    /// costs resends).
    pub acked_below: u64,
}

impl State {
    /// The slot's bytes.
    pub fn encode(&self) -> [u8; SLOT_BYTES] {
        let mut slot = [0u8; SLOT_BYTES];
        slot[..8].copy_from_slice(&self.nonce.to_le_bytes());
        slot[8..16].copy_from_slice(&self.next_seq.to_le_bytes());
        slot[16..24].copy_from_slice(&self.acked_below.to_le_bytes());
        let checksum = fnv1a64(&[&slot[..24]]);
        slot[24..].copy_from_slice(&checksum.to_le_bytes());
        slot
    }

    /// The state in `slot`, if it is whole and its checksum matches.
    fn decode(slot: &[u8]) -> Option<State> {
        let word = |i: usize| slot.get(i * 8..i * 8 + 8)?.try_into().ok().map(u64::from_le_bytes);
        let (nonce, next_seq, acked_below, checksum) = (word(0)?, word(1)?, word(2)?, word(3)?);
        (fnv1a64(&[&slot[..24]]) == checksum && acked_below <= next_seq).then_some(State {
            nonce,
            next_seq,
            acked_below,
        })
    }
}

/// The valid slot furthest along (by next_seq, then acked_below) and its index, if any.
pub fn best_slot(file: &[u8]) -> Option<(usize, State)> {
    (0..2)
        .filter_map(|index| {
            let start = index * SLOT_STRIDE_BYTES as usize;
            Some((index, State::decode(file.get(start..start + SLOT_BYTES)?)?))
        })
        .max_by_key(|&(_, state)| (state.next_seq, state.acked_below))
}

/// How many slots hold bytes that are not a valid state (a torn or lost-and-zeroed write
/// leaves these; a slot never written is all zeros or missing and does not count).
pub fn damaged_slots(file: &[u8]) -> usize {
    (0..2)
        .filter(|index| {
            let start = index * SLOT_STRIDE_BYTES as usize;
            let slot = &file[start.min(file.len())..(start + SLOT_BYTES).min(file.len())];
            slot.iter().any(|&byte| byte != 0) && State::decode(slot).is_none()
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(slots: [Option<State>; 2]) -> Vec<u8> {
        let mut bytes = vec![0u8; 2 * SLOT_BYTES];
        for (index, state) in slots.iter().enumerate() {
            if let Some(state) = state {
                let start = index * SLOT_STRIDE_BYTES as usize;
                bytes[start..start + SLOT_BYTES].copy_from_slice(&state.encode());
            }
        }
        bytes
    }

    // Proves recovery takes the slot furthest along, ignores empty and short files, and
    // falls back to the other slot when one is torn at any byte or has any bit flipped.
    #[test]
    fn the_best_valid_slot_survives_a_damaged_one() {
        let old = State { nonce: 7, next_seq: 8, acked_below: 4 };
        let new = State { nonce: 7, next_seq: 12, acked_below: 8 };
        assert_eq!(best_slot(&[]), None);
        assert_eq!(best_slot(&file([None, None])), None);
        assert_eq!(damaged_slots(&file([None, None])) + damaged_slots(&[]), 0);
        assert_eq!(best_slot(&file([Some(old), Some(new)])), Some((1, new)));
        assert_eq!(best_slot(&file([Some(new), Some(old)])), Some((0, new)));
        let both = file([Some(old), Some(new)]);
        for cut in 0..SLOT_BYTES {
            let mut torn = both.clone();
            torn[32 + cut..].fill(0);
            assert_eq!(best_slot(&torn), Some((0, old)), "slot 1 torn at {cut}");
            assert_eq!(damaged_slots(&torn), usize::from(cut > 0), "slot 1 torn at {cut}");
            assert_eq!(best_slot(&both[..32 + cut]), Some((0, old)), "file cut at {cut}");
        }
        for bit in 0..SLOT_BYTES * 8 {
            let mut flipped = both.clone();
            flipped[32 + bit / 8] ^= 1 << (bit % 8);
            assert_eq!(best_slot(&flipped), Some((0, old)), "bit {bit}");
        }
    }
}
