//! The log's record framing: what one put looks like on disk, and the scan that recovery uses
//! to find where the valid log ends.
//!
//! A record is `[length: u32 LE][checksum: u64 LE][payload]`, the payload being
//! `[key: u32 LE][value: u64 LE]`. The checksum is FNV-1a over the length bytes and the
//! payload, so a torn record (a prefix of its sectors on disk, zeros after), a zeroed region
//! left by a lost write, or a record whose length field itself was torn all fail the check.
//! FNV-1a starts from a non-zero basis, so an all-zero header never matches all-zero bytes.
//!
//! Why not `orrery_sim::durable::DurableLog`, which frames records the same way: on recovery
//! it reports a bad record followed by a good one as corruption. Group commit leaves several
//! unsynced appends at a crash, and a disk that persisted their sectors out of order leaves
//! exactly that; the log is still sound (nothing unsynced was acknowledged), so the server
//! must cut it at the first bad record, which is what `scan` does.

use orrery_sim::checksum::fnv1a64;

/// Bytes of the length and checksum in front of every payload.
pub const HEADER_BYTES: usize = 12;
/// Bytes of one payload: a key and a value.
pub const PAYLOAD_BYTES: usize = 12;

/// The valid prefix of a log: its entries, and where the first bad or partial record starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scan {
    /// (key, value) of every valid record, in log order.
    pub entries: Vec<(u32, u64)>,
    /// Bytes of the valid prefix: everything from here on is a torn tail to cut off.
    pub valid_bytes: u64,
}

/// One framed record holding `key = value`.
pub fn encode(key: u32, value: u64) -> Vec<u8> {
    let mut payload = [0u8; PAYLOAD_BYTES];
    payload[..4].copy_from_slice(&key.to_le_bytes());
    payload[4..].copy_from_slice(&value.to_le_bytes());
    let length = (PAYLOAD_BYTES as u32).to_le_bytes();
    let mut record = Vec::with_capacity(HEADER_BYTES + PAYLOAD_BYTES);
    record.extend_from_slice(&length);
    record.extend_from_slice(&fnv1a64(&[&length, &payload]).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

/// Reads records from the start of `bytes` and stops at the first one that is incomplete,
/// has an unexpected length or fails its checksum. Nothing after a bad record is trusted,
/// even if it looks valid: under reordered crashes a later record can survive while an
/// earlier one did not, and replaying it would skip a write.
pub fn scan(bytes: &[u8]) -> Scan {
    let mut scan = Scan::default();
    let mut offset = 0;
    while let Some((key, value)) = decode_at(bytes, offset) {
        scan.entries.push((key, value));
        offset += HEADER_BYTES + PAYLOAD_BYTES;
    }
    scan.valid_bytes = offset as u64;
    scan
}

/// The record starting at `offset`, if it is whole and its checksum matches.
fn decode_at(bytes: &[u8], offset: usize) -> Option<(u32, u64)> {
    let header = bytes.get(offset..offset + HEADER_BYTES)?;
    let length: [u8; 4] = header[..4].try_into().ok()?;
    if u32::from_le_bytes(length) as usize != PAYLOAD_BYTES {
        return None;
    }
    let stored = u64::from_le_bytes(header[4..].try_into().ok()?);
    let start = offset + HEADER_BYTES;
    let payload = bytes.get(start..start + PAYLOAD_BYTES)?;
    if fnv1a64(&[&length, payload]) != stored {
        return None;
    }
    let key = u32::from_le_bytes(payload[..4].try_into().ok()?);
    let value = u64::from_le_bytes(payload[4..].try_into().ok()?);
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(entries: &[(u32, u64)]) -> Vec<u8> {
        entries.iter().flat_map(|&(key, value)| encode(key, value)).collect()
    }

    // Proves whole records read back in order and the whole log counts as valid.
    #[test]
    fn whole_records_round_trip() {
        let entries = [(0, 7), (3, u64::MAX), (u32::MAX, 0)];
        let bytes = log_of(&entries);
        assert_eq!(scan(&bytes), Scan { entries: entries.to_vec(), valid_bytes: 72 });
    }

    // Proves a tail cut at any byte keeps exactly the records before the cut.
    #[test]
    fn a_torn_tail_at_every_length_keeps_the_whole_records_before_it() {
        let bytes = log_of(&[(1, 10), (2, 20), (3, 30)]);
        let record = HEADER_BYTES + PAYLOAD_BYTES;
        for cut in 0..=bytes.len() {
            let scan = scan(&bytes[..cut]);
            assert_eq!(scan.entries.len(), cut / record, "cut at {cut}");
            assert_eq!(scan.valid_bytes as usize, cut / record * record, "cut at {cut}");
        }
    }

    // Proves zeros where a write was lost, and any single flipped bit, end the valid prefix
    // there, and that records after a bad one are not trusted.
    #[test]
    fn zeroed_or_flipped_records_end_the_valid_prefix() {
        let mut bytes = log_of(&[(1, 10), (2, 20), (3, 30)]);
        let record = HEADER_BYTES + PAYLOAD_BYTES;
        let mut zeroed = bytes.clone();
        zeroed[record + 16..2 * record].fill(0);
        assert_eq!(scan(&zeroed), Scan { entries: vec![(1, 10)], valid_bytes: record as u64 });
        assert_eq!(scan(&vec![0u8; 3 * record]), Scan::default());
        for bit in 0..record * 8 {
            bytes[record + bit / 8] ^= 1 << (bit % 8);
            assert_eq!(scan(&bytes).entries, vec![(1, 10)], "bit {bit}");
            bytes[record + bit / 8] ^= 1 << (bit % 8);
        }
    }
}
