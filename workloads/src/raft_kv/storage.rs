//! A server's persistent state on its simulated disk: the current term and vote in a
//! `DurableCell` (`raft.hard`, replaced atomically and durably by every save), the log in a
//! `DurableLog` of entries (`raft.log`, one checksummed record per entry, a torn tail cut
//! off on recovery). Only this survives a crash; recovery rebuilds a server from it.
//!
//! Raft's rule is that nothing is acknowledged before what it depends on is durable: a save
//! of the term and vote is durable when it returns, appended entries once `sync_log`
//! returns. Callers order their sends accordingly (the planted bugs are the exceptions, see
//! `node`).

use orrery_sim::durable::{DurableCell, DurableError, DurableLog};
use orrery_sim::{NodeId, Storage};
use serde::{Deserialize, Serialize};

use super::log::Log;
use super::message::Entry;

const HARD_STATE_PATH: &str = "raft.hard";
const LOG_PATH: &str = "raft.log";

/// Raft's hard state: what a server must never forget once it has acted on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct HardState {
    term: u64,
    voted_for: Option<u32>,
}

/// The term, the vote and the log on disk, with the log mirrored in memory.
#[derive(Debug)]
pub struct Durable {
    hard: DurableCell<HardState>,
    file: DurableLog<Entry>,
    log: Log,
}

impl Durable {
    /// Reads the persistent state, creating it on first boot and cutting a torn tail off
    /// the log.
    pub fn open(disk: &mut impl Storage) -> Result<Durable, DurableError> {
        let hard = DurableCell::open(disk, HARD_STATE_PATH, HardState::default())?;
        let (file, entries) = DurableLog::open(disk, LOG_PATH)?;
        Ok(Durable { hard, file, log: Log::from_entries(entries) })
    }

    /// The term on disk.
    pub fn term(&self) -> u64 {
        self.hard.get().term
    }

    /// The vote on disk.
    pub fn voted_for(&self) -> Option<NodeId> {
        self.hard.get().voted_for.map(NodeId)
    }

    /// The log (what was appended, durable or not yet).
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Stores the term and vote; durable when this returns. Storing what is already stored
    /// costs nothing.
    pub fn save_hard_state(
        &mut self,
        disk: &mut impl Storage,
        term: u64,
        voted_for: Option<NodeId>,
    ) -> Result<(), DurableError> {
        let hard = HardState { term, voted_for: voted_for.map(|node| node.0) };
        if *self.hard.get() != hard {
            self.hard.set(disk, hard)?;
        }
        Ok(())
    }

    /// Replaces the log after `last_kept` with `entries`: a conflicting suffix is dropped
    /// durably, the new entries are appended to the page cache (durable after `sync_log`).
    pub fn replace_entries(
        &mut self,
        disk: &mut impl Storage,
        last_kept: u64,
        entries: &[Entry],
    ) -> Result<(), DurableError> {
        if last_kept < self.log.last_index() {
            self.file.truncate(disk, last_kept as usize)?;
            self.log.truncate(last_kept);
        }
        for entry in entries {
            self.file.append(disk, entry)?;
            self.log.extend([entry.clone()]);
        }
        Ok(())
    }

    /// Makes every appended entry durable.
    pub fn sync_log(&mut self, disk: &mut impl Storage) -> Result<(), DurableError> {
        self.file.sync(disk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft_kv::message::{Command, Op};
    use orrery_sim::disk::{Disk, DiskConfig, UnsyncedOnCrash};

    fn entry(term: u64, seq: u64) -> Entry {
        let op = Op::Put { key: 0, value: format!("{seq}") };
        Entry { term, command: Command { client: NodeId(4), session: 4, seq, op } }
    }

    // Proves what a server saved survives a crash that loses every unsynced write: the last
    // hard state, the synced log with a conflicting suffix replaced (never brought back), and
    // not an append that was never synced.
    #[test]
    fn saved_state_survives_a_crash_and_replaced_entries_stay_replaced() {
        let config = DiskConfig { crash_unsynced: UnsyncedOnCrash::Lost, ..DiskConfig::default() };
        let mut disk = Disk::new(7, 0, config).expect("valid disk");
        let mut durable = Durable::open(&mut disk).expect("first boot");
        assert_eq!((durable.term(), durable.voted_for(), durable.log().last_index()), (0, None, 0));
        durable.save_hard_state(&mut disk, 3, Some(NodeId(1))).expect("save");
        durable
            .replace_entries(&mut disk, 0, &[entry(1, 1), entry(1, 2), entry(2, 3)])
            .expect("append");
        durable.sync_log(&mut disk).expect("sync");
        durable.replace_entries(&mut disk, 1, &[entry(3, 4)]).expect("replace");
        durable.sync_log(&mut disk).expect("sync");
        durable.replace_entries(&mut disk, 2, &[entry(3, 5)]).expect("append, never synced");
        disk.crash();
        let recovered = Durable::open(&mut disk).expect("recover");
        assert_eq!((recovered.term(), recovered.voted_for()), (3, Some(NodeId(1))));
        let log = recovered.log();
        assert_eq!(
            (log.entry(1), log.entry(2), log.last_index()),
            (Some(&entry(1, 1)), Some(&entry(3, 4)), 2)
        );
        assert_eq!(log.digest_at(2), durable.log().digest_at(2), "the same prefix");
    }
}
