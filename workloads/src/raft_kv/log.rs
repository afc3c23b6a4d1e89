//! The replicated log in memory: entries and a chained digest of the log up to each one.
//!
//! Indices are 1-based as in the Raft paper; index 0 is the empty prefix with term 0. Two
//! logs with equal digests at an index hold identical prefixes, which is what a server
//! observes for the log-matching check (see `node`). On disk the log is a `DurableLog` of
//! entries (see `storage`).

use orrery_sim::checksum::fnv1a64;

use super::message::{Entry, Op};

/// The in-memory log: entries and their chained digests.
#[derive(Debug, Default, Clone)]
pub struct Log {
    entries: Vec<Entry>,
    digests: Vec<u64>,
}

impl Log {
    /// The log holding `entries`, in order (as recovered from disk).
    pub fn from_entries(entries: Vec<Entry>) -> Log {
        let mut log = Log::default();
        log.extend(entries);
        log
    }

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

    /// Appends `entries` after the last one.
    pub fn extend(&mut self, entries: impl IntoIterator<Item = Entry>) {
        for entry in entries {
            let digest = chain(self.digest_at(self.last_index()), &entry);
            self.entries.push(entry);
            self.digests.push(digest);
        }
    }

    /// Keeps entries `1..=last_index`.
    pub fn truncate(&mut self, last_index: u64) {
        let keep = last_index.min(self.last_index()) as usize;
        self.entries.truncate(keep);
        self.digests.truncate(keep);
    }
}

/// The digest of a prefix ending in `entry`, given the digest of the prefix before it.
fn chain(previous: u64, entry: &Entry) -> u64 {
    let command = &entry.command;
    let (tag, value) = match &command.op {
        Op::Get { .. } => (0u8, ""),
        Op::Put { value, .. } => (1, value.as_str()),
        Op::Append { value, .. } => (2, value.as_str()),
    };
    let words = [previous, entry.term, u64::from(command.client.0), command.session, command.seq];
    let words: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
    fnv1a64(&[&words, &[tag], &command.op.key().to_le_bytes(), value.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft_kv::message::Command;
    use orrery_sim::NodeId;

    fn entry(term: u64, seq: u64) -> Entry {
        let op = Op::Append { key: 1, value: format!("{seq} ") };
        Entry { term, command: Command { client: NodeId(5), session: 2, seq, op } }
    }

    // Proves the chained digests tell logs apart by their whole prefix, and truncation
    // restores the digests of the kept prefix.
    #[test]
    fn digests_chain_and_truncation_restores_the_prefix() {
        let (mut a, mut b) = (Log::default(), Log::default());
        for log in [&mut a, &mut b] {
            log.extend([entry(1, 1), entry(1, 2)]);
        }
        a.extend([entry(2, 3)]);
        b.extend([entry(3, 3)]);
        assert_eq!(a.digest_at(2), b.digest_at(2));
        assert_ne!(a.digest_at(3), b.digest_at(3));
        a.truncate(1);
        assert_eq!(a.last_index(), 1);
        a.extend([entry(1, 2)]);
        assert_eq!(a.digest_at(2), b.digest_at(2));
        assert_eq!(a.first_index_of_term_at(2), 1);
        let recovered = Log::from_entries(vec![entry(1, 1), entry(1, 2)]);
        assert_eq!(recovered.digest_at(2), b.digest_at(2));
    }
}
