//! Small durable state over any `Storage`, honouring the disk crash contract: a typed
//! `DurableCell` (one value replaced atomically) and a typed append-only `DurableLog`
//! (checksummed records, torn-tail truncation on recovery).
//!
//! "Persist term and vote before replying" is a few lines:
//!
//! ```
//! use orrery_sim::durable::{DurableCell, DurableError};
//! use orrery_sim::{NodeApi, NodeId};
//!
//! #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
//! pub struct HardState { pub term: u64, pub voted_for: Option<u32> }
//!
//! pub fn grant_vote<M, N: NodeApi<M>>(
//!     node: &mut N,
//!     hard: &mut DurableCell<HardState>,
//!     term: u64,
//!     candidate: NodeId,
//! ) -> Result<(), DurableError> {
//!     hard.set(&mut node.disk(), HardState { term, voted_for: Some(candidate.0) })?;
//!     Ok(()) // only now is it safe to send the vote
//! }
//! ```
//!
//! Records are framed `[length u32 LE][checksum u64 LE][payload]`, the checksum FNV-1a over
//! the length bytes and the payload; payloads are JSON (serde). A cell is written to a
//! temporary file, synced, renamed over the old one, and the directory synced: once `set`
//! returns, the new value survives any crash, and before, a crash leaves the old one. A log
//! appends to the page cache (`append`) and is durable after `sync`; on `open`, records are
//! read up to the first that does not verify (a crash tore it, or left it out), and the rest
//! is truncated and synced. Records that verify after a bad one are cut too: a crash that
//! persisted unsynced sectors out of order leaves exactly that, and none of them was ever
//! synced, so none was acknowledged. `DurableLog::recovery` says what was cut, so a caller
//! that needs to tell damage to synced data apart (e.g. with its own redundancy) can.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::checksum::fnv1a64;
use crate::disk::DiskError;
use crate::node::Storage;

const HEADER_BYTES: u64 = 12;
/// A record longer than this is not a record: its length field is garbage.
pub const RECORD_BYTES_MAX: u64 = 64 << 20;

/// Why durable state could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurableError {
    /// The disk refused (an I/O error, no space, a crash point...).
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// A record that was durable reads back wrong, and it is not a torn tail.
    #[error("corrupt record in {path:?} at byte {offset_bytes}")]
    Corrupt {
        /// The file.
        path: String,
        /// Where the bad record starts.
        offset_bytes: u64,
    },
    /// A value could not be encoded.
    #[error("cannot encode a record for {path:?}: {message}")]
    Encode {
        /// The file.
        path: String,
        /// serde's reason.
        message: String,
    },
}

/// Frames `value` as one record.
fn encode<T: Serialize>(path: &str, value: &T) -> Result<Vec<u8>, DurableError> {
    let payload = serde_json::to_vec(value).map_err(|error| DurableError::Encode {
        path: path.to_string(),
        message: error.to_string(),
    })?;
    let length = u32::try_from(payload.len())
        .ok()
        .filter(|&length| u64::from(length) <= RECORD_BYTES_MAX)
        .ok_or_else(|| DurableError::Encode {
            path: path.to_string(),
            message: format!("{} bytes is more than a record holds", payload.len()),
        })?;
    let length_bytes = length.to_le_bytes();
    let mut record = Vec::with_capacity(HEADER_BYTES as usize + payload.len());
    record.extend_from_slice(&length_bytes);
    record.extend_from_slice(&fnv1a64(&[&length_bytes, &payload]).to_le_bytes());
    record.extend_from_slice(&payload);
    Ok(record)
}

/// The record at the start of `bytes`: its value and length, or `None` if it is torn or
/// does not decode.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<(T, u64)> {
    let length_bytes: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    let length = u64::from(u32::from_le_bytes(length_bytes));
    if length > RECORD_BYTES_MAX {
        return None;
    }
    let checksum = u64::from_le_bytes(bytes.get(4..12)?.try_into().ok()?);
    let payload = bytes.get(12..12 + length as usize)?;
    if fnv1a64(&[&length_bytes, payload]) != checksum {
        return None;
    }
    let value = serde_json::from_slice(payload).ok()?;
    Some((value, HEADER_BYTES + length))
}

/// One value, replaced atomically.
pub struct DurableCell<T> {
    path: String,
    value: T,
}

impl<T: Serialize + DeserializeOwned> DurableCell<T> {
    /// Loads the cell at `path`, or `default` if it was never stored; removes a temporary
    /// file a crash left behind. What it returns is durable: after a process abort the page
    /// cache may hold a value a failed sync never persisted, so `open` syncs it first.
    pub fn open(disk: &mut impl Storage, path: &str, default: T) -> Result<Self, DurableError> {
        let temporary = temporary_path(path);
        if disk.exists(&temporary)? {
            disk.delete(&temporary)?;
        }
        if disk.exists(path)? {
            disk.sync(path)?;
        }
        disk.sync_directory()?;
        let value = if disk.exists(path)? {
            // Read corruption is drawn per read: look twice before calling the cell corrupt.
            let first = decode(&disk.read_all(path)?);
            match first.map_or_else(|| disk.read_all(path).map(|b| decode(&b)), |v| Ok(Some(v)))? {
                Some((value, _)) => value,
                None => {
                    let path = path.to_string();
                    return Err(DurableError::Corrupt { path, offset_bytes: 0 });
                }
            }
        } else {
            default
        };
        Ok(DurableCell { path: path.to_string(), value })
    }

    /// The current value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// Stores `value` durably; on `Ok` it survives any crash. On `Err` the stored value is
    /// the old one or the new one, and the in-memory value stays the old one.
    pub fn set(&mut self, disk: &mut impl Storage, value: T) -> Result<(), DurableError> {
        let record = encode(&self.path, &value)?;
        let temporary = temporary_path(&self.path);
        if disk.exists(&temporary)? {
            disk.delete(&temporary)?;
        }
        disk.create(&temporary)?;
        disk.write(&temporary, 0, &record)?;
        disk.sync(&temporary)?;
        disk.rename(&temporary, &self.path)?;
        disk.sync_directory()?;
        self.value = value;
        Ok(())
    }
}

fn temporary_path(path: &str) -> String {
    format!("{path}.tmp")
}

/// An append-only log of records of type `T`.
pub struct DurableLog<T> {
    path: String,
    /// Where each record starts, then where the next would.
    offsets: Vec<u64>,
    recovery: Recovery,
    _records: PhantomData<fn() -> T>,
}

/// What `DurableLog::open` cut off the end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Bytes truncated after the last record that verified.
    pub truncated_bytes: u64,
    /// Of those, how many records still verified on their own (left by a crash that kept
    /// some unsynced sectors and not others; or damage to synced data).
    pub verified_after_cut: u64,
}

impl<T: Serialize + DeserializeOwned> DurableLog<T> {
    /// Opens the log at `path` (creating it if absent) and recovers it: every record up to
    /// the first that does not verify, whose bytes and everything after are truncated. What
    /// it returns is durable: the file and its name are synced before `open` returns (after a
    /// process abort the page cache may hold records a failed sync never persisted).
    pub fn open(disk: &mut impl Storage, path: &str) -> Result<(Self, Vec<T>), DurableError> {
        if !disk.exists(path)? {
            disk.create(path)?;
        }
        disk.sync_directory()?;
        let mut bytes = disk.read_all(path)?;
        let mut records = Vec::new();
        let mut offsets = vec![0u64];
        let mut at = 0u64;
        let mut reread = false;
        let mut recovery = Recovery::default();
        while at < bytes.len() as u64 {
            match decode::<T>(&bytes[at as usize..]) {
                Some((record, length)) => {
                    records.push(record);
                    at += length;
                    offsets.push(at);
                }
                None if !reread => {
                    // Read corruption is drawn per read: look again before judging the bytes.
                    reread = true;
                    bytes = disk.read_all(path)?;
                }
                None => {
                    recovery = Recovery {
                        truncated_bytes: bytes.len() as u64 - at,
                        verified_after_cut: verified_after(&bytes, at),
                    };
                    disk.truncate(path, at)?;
                    break;
                }
            }
        }
        disk.sync(path)?;
        let log = DurableLog { path: path.to_string(), offsets, recovery, _records: PhantomData };
        Ok((log, records))
    }

    /// What the last `open` cut off the end of the log.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// How many records the log holds.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether the log holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a record to the page cache: durable only after `sync`.
    pub fn append(&mut self, disk: &mut impl Storage, record: &T) -> Result<(), DurableError> {
        let bytes = encode(&self.path, record)?;
        let at = disk.append(&self.path, &bytes)?;
        self.offsets.push(at + bytes.len() as u64);
        Ok(())
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self, disk: &mut impl Storage) -> Result<(), DurableError> {
        disk.sync(&self.path)?;
        Ok(())
    }

    /// Drops the records from index `len` on, durably (synced before it returns, so a crash
    /// can never bring back a dropped record after newer ones were appended).
    pub fn truncate(&mut self, disk: &mut impl Storage, len: usize) -> Result<(), DurableError> {
        if len >= self.len() {
            return Ok(());
        }
        disk.truncate(&self.path, self.offsets[len])?;
        disk.sync(&self.path)?;
        self.offsets.truncate(len + 1);
        Ok(())
    }
}

/// How many records that verify start after the bad one at `at`, scanning byte by byte and
/// skipping over each one found.
fn verified_after(bytes: &[u8], at: u64) -> u64 {
    let (mut offset, mut found) = (at as usize + 1, 0);
    while offset < bytes.len() {
        match decode::<serde_json::Value>(&bytes[offset..]) {
            Some((_, length)) => {
                found += 1;
                offset += length as usize;
            }
            None => offset += 1,
        }
    }
    found
}

impl<T> fmt::Debug for DurableLog<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DurableLog({:?}, {} records)", self.path, self.offsets.len() - 1)
    }
}

impl<T: fmt::Debug> fmt::Debug for DurableCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DurableCell({:?} = {:?})", self.path, self.value)
    }
}

/// A bare simulated disk as `Storage`, for tests of code that persists state without a
/// world around it. Submitted operations never complete here (no world schedules them).
impl Storage for crate::disk::Disk {
    fn create(&mut self, path: &str) -> Result<(), DiskError> {
        crate::disk::Disk::create(self, path)
    }
    fn exists(&mut self, path: &str) -> Result<bool, DiskError> {
        crate::disk::Disk::exists(self, path)
    }
    fn write(&mut self, path: &str, offset_bytes: u64, data: &[u8]) -> Result<(), DiskError> {
        crate::disk::Disk::write(self, path, offset_bytes, data)
    }
    fn append(&mut self, path: &str, data: &[u8]) -> Result<u64, DiskError> {
        crate::disk::Disk::append(self, path, data)
    }
    fn read(
        &mut self,
        path: &str,
        offset_bytes: u64,
        length_bytes: u64,
    ) -> Result<Vec<u8>, DiskError> {
        crate::disk::Disk::read(self, path, offset_bytes, length_bytes)
    }
    fn length_bytes(&mut self, path: &str) -> Result<u64, DiskError> {
        crate::disk::Disk::length_bytes(self, path)
    }
    fn truncate(&mut self, path: &str, length_bytes: u64) -> Result<(), DiskError> {
        crate::disk::Disk::truncate(self, path, length_bytes)
    }
    fn delete(&mut self, path: &str) -> Result<(), DiskError> {
        crate::disk::Disk::delete(self, path)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        crate::disk::Disk::rename(self, from, to)
    }
    fn list(&mut self, prefix: &str) -> Result<Vec<String>, DiskError> {
        crate::disk::Disk::list(self, prefix)
    }
    fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        crate::disk::Disk::sync(self, path)
    }
    fn sync_directory(&mut self) -> Result<(), DiskError> {
        crate::disk::Disk::sync_directory(self)
    }
    fn submit(&mut self, op: crate::disk::DiskOp) -> Result<crate::disk::DiskTicket, DiskError> {
        crate::disk::Disk::submit(self, op).map(|submission| submission.ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{Disk, DiskConfig, UnsyncedOnCrash};

    fn disk(seed: u64, mode: UnsyncedOnCrash) -> Disk {
        let config =
            DiskConfig { crash_unsynced: mode, sector_size_bytes: 4, ..DiskConfig::default() };
        Disk::new(seed, 0, config).expect("valid config")
    }

    // Proves synced records survive every crash mode and an unsynced, possibly torn, append
    // is cut back to a record boundary: recovery yields a prefix, never garbage.
    #[test]
    fn a_log_recovers_a_prefix_after_any_crash() {
        for seed in 0..40 {
            for mode in [
                UnsyncedOnCrash::Lost,
                UnsyncedOnCrash::Torn,
                UnsyncedOnCrash::Kept,
                UnsyncedOnCrash::Random,
            ] {
                let mut disk = disk(seed, mode);
                let (mut log, empty) = DurableLog::<String>::open(&mut disk, "log").expect("open");
                assert!(empty.is_empty());
                for value in ["one", "two", "three"] {
                    log.append(&mut disk, &value.to_string()).expect("append");
                }
                log.sync(&mut disk).expect("sync");
                log.append(&mut disk, &"unsynced and long enough to tear".to_string())
                    .expect("append");
                disk.crash();
                let (log, records) = DurableLog::<String>::open(&mut disk, "log").expect("recover");
                assert!(records.len() == 3 || records.len() == 4, "{mode:?} {records:?}");
                assert_eq!(&records[..3], ["one", "two", "three"], "{mode:?} seed {seed}");
                assert_eq!(log.len(), records.len());
                let length = disk.peek_contents("log").map_or(0, <[u8]>::len) as u64;
                assert_eq!(length, log.offsets[log.len()], "truncated to a record boundary");
            }
        }
    }

    // Proves recovery cuts at a damaged record and says how many verifying records it cut
    // after it, that a crash keeping unsynced sectors out of order never fails recovery,
    // and that truncation is durable before it returns.
    #[test]
    fn recovery_cuts_at_the_first_bad_record_and_truncation_is_durable() {
        let mut disk = disk(1, UnsyncedOnCrash::Lost);
        let (mut log, _) = DurableLog::<u64>::open(&mut disk, "log").expect("open");
        for value in 10..15 {
            log.append(&mut disk, &value).expect("append");
        }
        log.sync(&mut disk).expect("sync");
        let second = log.offsets[1];
        disk.write("log", second + HEADER_BYTES, b"9").expect("damage");
        disk.sync("log").expect("sync");
        let (log, records) = DurableLog::<u64>::open(&mut disk, "log").expect("recovers");
        assert_eq!(records, [10]);
        assert_eq!(log.recovery().verified_after_cut, 3, "records 12, 13 and 14 were cut");
        for seed in 0..200 {
            let config = DiskConfig {
                crash_unsynced: UnsyncedOnCrash::Reordered,
                sector_size_bytes: 16,
                ..DiskConfig::default()
            };
            let mut disk = Disk::new(seed, 0, config).expect("valid");
            let (mut log, _) = DurableLog::<u64>::open(&mut disk, "log").expect("open");
            for value in 0..3 {
                log.append(&mut disk, &value).expect("append");
            }
            log.sync(&mut disk).expect("sync");
            for value in 3..6 {
                log.append(&mut disk, &value).expect("append");
            }
            disk.crash();
            let (_, records) = DurableLog::<u64>::open(&mut disk, "log").expect("recovers");
            assert!(records.len() >= 3 && records[..3] == [0, 1, 2], "seed {seed}: {records:?}");
            assert!(
                records.iter().enumerate().all(|(i, r)| *r == i as u64),
                "a prefix: {records:?}"
            );
        }
        let mut disk = self::disk(2, UnsyncedOnCrash::Kept);
        let (mut log, _) = DurableLog::<u64>::open(&mut disk, "log").expect("open");
        for value in 0..4 {
            log.append(&mut disk, &value).expect("append");
        }
        log.sync(&mut disk).expect("sync");
        log.truncate(&mut disk, 2).expect("truncate");
        log.append(&mut disk, &99).expect("append");
        disk.crash();
        let (_, records) = DurableLog::<u64>::open(&mut disk, "log").expect("recover");
        assert_eq!(records, [0, 1, 99], "a dropped record never comes back");
    }

    // Proves a cell holds the last value `set` returned for, in every crash mode, and a
    // crash in the middle of a set leaves the old value or the new one.
    #[test]
    fn a_cell_is_replaced_atomically() {
        for seed in 0..40 {
            let mut disk = disk(seed, UnsyncedOnCrash::Random);
            let mut cell = DurableCell::open(&mut disk, "hard", (0u64, None::<u32>)).expect("open");
            assert_eq!(*cell.get(), (0, None));
            cell.set(&mut disk, (1, Some(2))).expect("set");
            cell.set(&mut disk, (2, Some(0))).expect("set");
            disk.crash();
            let cell = DurableCell::open(&mut disk, "hard", (0, None)).expect("reopen");
            assert_eq!(*cell.get(), (2, Some(0)), "seed {seed}");
            // Power lost at each operation of a `set`: the old or the new value, nothing else.
            for operation in 1..=6 {
                let mut disk = self::disk(seed, UnsyncedOnCrash::Random);
                let mut cell = DurableCell::open(&mut disk, "hard", 0u64).expect("open");
                cell.set(&mut disk, 7).expect("set");
                disk.arm_crash_at_operation(disk.operations_this_incarnation() + operation);
                assert!(cell.set(&mut disk, 8).is_err(), "power lost at operation {operation}");
                disk.crash();
                let value = *DurableCell::open(&mut disk, "hard", 0u64).expect("reopen").get();
                assert!(value == 7 || value == 8, "operation {operation}: {value}");
            }
        }
    }
}
