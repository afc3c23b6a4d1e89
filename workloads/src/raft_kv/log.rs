//! The replicated log in memory, and its record format on disk.
//!
//! Indices are 1-based as in the Raft paper; index 0 is the empty prefix with term 0. Each
//! entry also keeps where its record starts in the log file (so a conflict truncates the file
//! at the right byte) and a chained digest of the log up to it: two logs with equal digests at
//! an index hold identical prefixes, which lets the invariants compare logs in O(1) per entry.
//!
//! A record is `[payload length u32][checksum u64][payload]`, little-endian. A crash can tear
//! the last records; recovery keeps the longest prefix of whole records whose checksums hold.

use super::message::{Command, Entry, Op};
use orrery_sim::NodeId;

/// The in-memory log: entries, their file offsets and chained digests.
#[derive(Debug, Default, Clone)]
pub struct Log {
    entries: Vec<Entry>,
    offsets_bytes: Vec<u64>,
    digests: Vec<u64>,
    end_bytes: u64,
}

impl Log {
    pub fn last_index(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(0, |entry| entry.term)
    }

    /// The term of the entry at `index` (0 for index 0), `None` beyond the end.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        match index {
            0 => Some(0),
            _ => self.entry(index).map(|entry| entry.term),
        }
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let position = usize::try_from(index.checked_sub(1)?).ok()?;
        self.entries.get(position)
    }

    /// The digest of the prefix ending at `index` (0 for the empty prefix).
    pub fn digest_at(&self, index: u64) -> u64 {
        match index {
            0 => 0,
            _ => self.digests[(index - 1) as usize],
        }
    }

    /// Up to `count` entries starting at `index`.
    pub fn entries_from(&self, index: u64, count: usize) -> Vec<Entry> {
        let start = (index.max(1) - 1) as usize;
        self.entries.iter().skip(start).take(count).cloned().collect()
    }

    /// The first index of the run of entries with the same term as the one at `index`.
    pub fn first_index_of_term_at(&self, index: u64) -> u64 {
        let Some(term) = self.term_at(index) else { return index };
        let mut first = index;
        while first > 1 && self.term_at(first - 1) == Some(term) {
            first -= 1;
        }
        first
    }

    /// The byte offset at which the record of `index` starts (the file's end for the index
    /// after the last).
    pub fn offset_bytes_of(&self, index: u64) -> u64 {
        self.offsets_bytes.get((index.max(1) - 1) as usize).copied().unwrap_or(self.end_bytes)
    }

    pub fn end_bytes(&self) -> u64 {
        self.end_bytes
    }

    /// Adds an entry whose record (of `record_bytes`) was written at the file's end.
    pub fn push(&mut self, entry: Entry, record_bytes: u64) {
        let digest = chain(self.digest_at(self.last_index()), &encode_entry(&entry));
        self.entries.push(entry);
        self.offsets_bytes.push(self.end_bytes);
        self.digests.push(digest);
        self.end_bytes += record_bytes;
    }

    /// Keeps entries `1..=last_index` (and the file bytes before the next record).
    pub fn truncate(&mut self, last_index: u64) {
        let keep = last_index.min(self.last_index());
        self.end_bytes = self.offset_bytes_of(keep + 1);
        self.entries.truncate(keep as usize);
        self.offsets_bytes.truncate(keep as usize);
        self.digests.truncate(keep as usize);
    }
}

/// The record for `entry`: header and payload.
pub fn encode_record(entry: &Entry) -> Vec<u8> {
    let payload = encode_entry(entry);
    let mut record = Vec::with_capacity(12 + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&checksum(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

/// The whole records at the start of `bytes`, in order, each with its length in bytes. Stops
/// at the first short or damaged record: what follows it is a torn tail.
pub fn decode_records(bytes: &[u8]) -> Vec<(Entry, u64)> {
    let mut records = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 12 {
        let length = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&rest[4..12]);
        let Some(payload) = rest.get(12..12 + length) else { break };
        if checksum(payload) != u64::from_le_bytes(sum) {
            break;
        }
        let Some(entry) = decode_entry(payload) else { break };
        records.push((entry, (12 + length) as u64));
        rest = &rest[12 + length..];
    }
    records
}

/// FNV-1a, 64 bits: enough to tell a torn record from a whole one.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn chain(previous: u64, payload: &[u8]) -> u64 {
    checksum(&[&previous.to_le_bytes()[..], payload].concat())
}

fn encode_entry(entry: &Entry) -> Vec<u8> {
    let command = &entry.command;
    let mut bytes = Vec::with_capacity(48);
    bytes.extend_from_slice(&entry.term.to_le_bytes());
    bytes.extend_from_slice(&command.client.0.to_le_bytes());
    bytes.extend_from_slice(&command.session.to_le_bytes());
    bytes.extend_from_slice(&command.seq.to_le_bytes());
    let (tag, value) = match &command.op {
        Op::Get { .. } => (0u8, None),
        Op::Put { value, .. } => (1, Some(value)),
        Op::Append { value, .. } => (2, Some(value)),
    };
    bytes.push(tag);
    bytes.extend_from_slice(&command.op.key().to_le_bytes());
    if let Some(value) = value {
        bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
        bytes.extend_from_slice(value.as_bytes());
    }
    bytes
}

fn decode_entry(bytes: &[u8]) -> Option<Entry> {
    let mut reader = Reader { bytes };
    let term = reader.u64()?;
    let client = NodeId(reader.u32()?);
    let session = reader.u64()?;
    let seq = reader.u64()?;
    let tag = reader.take(1)?[0];
    let key = reader.u64()?;
    let op = match tag {
        0 => Op::Get { key },
        1 => Op::Put { key, value: reader.text()? },
        2 => Op::Append { key, value: reader.text()? },
        _ => return None,
    };
    reader.bytes.is_empty().then_some(Entry { term, command: Command { client, session, seq, op } })
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, count: usize) -> Option<&[u8]> {
        let taken = self.bytes.get(..count)?;
        self.bytes = &self.bytes[count..];
        Some(taken)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn text(&mut self) -> Option<String> {
        let length = self.u32()? as usize;
        String::from_utf8(self.take(length)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: u64, seq: u64) -> Entry {
        let op = Op::Append { key: 1, value: format!("{seq} ") };
        Entry { term, command: Command { client: NodeId(5), session: 2, seq, op } }
    }

    // Proves records decode back to their entries, and a torn or damaged tail is cut at the
    // last whole record, so recovery never invents or keeps half an entry.
    #[test]
    fn records_round_trip_and_torn_tails_are_cut() {
        let entries = [entry(1, 1), entry(1, 2), entry(2, 3)];
        let bytes: Vec<u8> = entries.iter().flat_map(encode_record).collect();
        let decoded: Vec<Entry> = decode_records(&bytes).into_iter().map(|(e, _)| e).collect();
        assert_eq!(decoded, entries);
        let two = encode_record(&entries[0]).len() + encode_record(&entries[1]).len();
        assert_eq!(decode_records(&bytes[..bytes.len() - 1]).len(), 2);
        let mut damaged = bytes.clone();
        damaged[two + 20] ^= 1;
        assert_eq!(decode_records(&damaged).len(), 2);
        assert_eq!(decode_records(&[0; 64]).len(), 0, "zeros are not a record");
    }

    // Proves the chained digests tell logs apart by their whole prefix, and truncation
    // restores the digests and file offsets of the kept prefix.
    #[test]
    fn digests_chain_and_truncation_restores_the_prefix() {
        let (mut a, mut b) = (Log::default(), Log::default());
        for log in [&mut a, &mut b] {
            log.push(entry(1, 1), 40);
            log.push(entry(1, 2), 40);
        }
        a.push(entry(2, 3), 40);
        b.push(entry(3, 3), 40);
        assert_eq!(a.digest_at(2), b.digest_at(2));
        assert_ne!(a.digest_at(3), b.digest_at(3));
        a.truncate(1);
        assert_eq!((a.last_index(), a.end_bytes(), a.offset_bytes_of(2)), (1, 40, 40));
        a.push(entry(1, 2), 40);
        assert_eq!(a.digest_at(2), b.digest_at(2));
        assert_eq!(a.first_index_of_term_at(2), 1);
    }
}
