//! A replica's disk: the fence and the log. The fence is the highest ballot the replica has
//! promised, in a `DurableCell` (`standby.promise`): it never accepts an append of a lower
//! ballot again, across its crashes too. The log is a `DurableLog` of entries
//! (`standby.log`), mirrored in memory; an append is synced before `append` returns, and a
//! truncation is durable when `truncate` returns. Only this survives a crash.

use orrery_sim::durable::{DurableCell, DurableError, DurableLog};
use orrery_sim::Storage;

use super::message::Entry;

const PROMISE_PATH: &str = "standby.promise";
const LOG_PATH: &str = "standby.log";

/// The fence and the log on disk, the log mirrored in memory.
pub struct Durable {
    promise: DurableCell<u64>,
    file: DurableLog<Entry>,
    entries: Vec<Entry>,
}

impl Durable {
    /// Reads the fence and the log, creating them on first boot and cutting a torn tail off
    /// the log.
    pub fn open(disk: &mut impl Storage) -> Result<Durable, DurableError> {
        let promise = DurableCell::open(disk, PROMISE_PATH, 0)?;
        let (file, entries) = DurableLog::open(disk, LOG_PATH)?;
        Ok(Durable { promise, file, entries })
    }

    /// The highest ballot promised.
    pub fn promise(&self) -> u64 {
        *self.promise.get()
    }

    /// Raises the fence to `ballot` (no lower ballot is accepted again); durable when it
    /// returns. A ballot not above the fence changes nothing.
    pub fn promise_at_least(
        &mut self,
        disk: &mut impl Storage,
        ballot: u64,
    ) -> Result<(), DurableError> {
        if ballot > self.promise() {
            self.promise.set(disk, ballot)?;
        }
        Ok(())
    }

    /// Every entry, index 1 first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The last index (0 for an empty log).
    pub fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The entry at `index` (1-based).
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.entries.get(usize::try_from(index).ok()?.checked_sub(1)?)
    }

    /// The ballot of the entry at `index`; 0 at index 0 (the start matches everything).
    pub fn ballot_at(&self, index: u64) -> Option<u64> {
        match index {
            0 => Some(0),
            _ => self.entry(index).map(|entry| entry.ballot),
        }
    }

    /// Appends `entries` after the last one and syncs: durable when it returns.
    pub fn append(
        &mut self,
        disk: &mut impl Storage,
        entries: &[Entry],
    ) -> Result<(), DurableError> {
        for entry in entries {
            self.file.append(disk, entry)?;
            self.entries.push(*entry);
        }
        self.file.sync(disk)
    }

    /// Keeps the first `len` entries, durably.
    pub fn truncate(&mut self, disk: &mut impl Storage, len: u64) -> Result<(), DurableError> {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len < self.entries.len() {
            self.file.truncate(disk, len)?;
            self.entries.truncate(len);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_sim::disk::{Disk, DiskConfig, UnsyncedOnCrash};

    fn entry(ballot: u64, seq: u64) -> Entry {
        Entry { ballot, client: 2, session: 0, seq, amount: seq * 10 }
    }

    // Proves the fence and the appended, truncated log survive a crash that loses every
    // unsynced write, and the fence never moves down.
    #[test]
    fn fence_and_log_survive_a_crash() {
        let config = DiskConfig { crash_unsynced: UnsyncedOnCrash::Lost, ..DiskConfig::default() };
        let mut disk = Disk::new(7, 0, config).expect("valid disk");
        let mut durable = Durable::open(&mut disk).expect("first boot");
        assert_eq!((durable.promise(), durable.len(), durable.ballot_at(0)), (0, 0, Some(0)));
        durable.promise_at_least(&mut disk, 3).expect("fence");
        durable.promise_at_least(&mut disk, 2).expect("no-op");
        durable.append(&mut disk, &[entry(2, 1), entry(2, 2), entry(2, 3)]).expect("append");
        durable.truncate(&mut disk, 1).expect("truncate");
        durable.append(&mut disk, &[entry(3, 2)]).expect("append");
        disk.crash();
        let recovered = Durable::open(&mut disk).expect("recover");
        assert_eq!(recovered.promise(), 3);
        assert_eq!(recovered.entries(), &[entry(2, 1), entry(3, 2)]);
        assert_eq!((recovered.ballot_at(2), recovered.ballot_at(3)), (Some(3), None));
    }
}
