//! One node's copy of the log: entries by sequence number (from 1) and the commit point, the
//! last sequence the node treats as final. Entries at or below the commit point never change
//! (asserted); entries above it are tentative and a newer leader may replace them.

use super::message::Entry;

#[derive(Debug, Clone, Default)]
pub struct Log {
    entries: Vec<Entry>,
    commit: u64,
}

impl Log {
    /// The last sequence held (0 when empty).
    pub fn tail(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The last sequence treated as final.
    pub fn commit(&self) -> u64 {
        self.commit
    }

    /// The entry at `seq`, if held.
    pub fn entry(&self, seq: u64) -> Option<&Entry> {
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.entries.get(index)
    }

    /// The epoch of the last entry (0 when empty): with `tail`, how up to date the log is.
    pub fn last_epoch(&self) -> u64 {
        self.entries.last().map_or(0, |entry| entry.epoch)
    }

    /// Whether a log ending at (`last_epoch`, `tail`) is at least as up to date as this one
    /// (Raft's rule: a later last epoch, or the same one and at least as long).
    pub fn is_outdone_by(&self, last_epoch: u64, tail: u64) -> bool {
        (last_epoch, tail) >= (self.last_epoch(), self.tail())
    }

    pub fn append(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    /// Drops every entry after `seq`; committed entries are never dropped.
    pub fn truncate_after(&mut self, seq: u64) {
        assert!(seq >= self.commit, "truncating committed entries: {seq} < {}", self.commit);
        self.entries.truncate(usize::try_from(seq).unwrap_or(usize::MAX));
    }

    /// Up to `count` entries from `from` on (none if `from` is past the tail).
    pub fn range(&self, from: u64, count: usize) -> Vec<Entry> {
        let start = usize::try_from(from.saturating_sub(1)).unwrap_or(usize::MAX);
        self.entries.iter().skip(start).take(count).cloned().collect()
    }

    /// Moves the commit point forward to `seq` (never backwards, never past the tail).
    pub fn commit_to(&mut self, seq: u64) {
        self.commit = self.commit.max(seq.min(self.tail()));
    }
}
