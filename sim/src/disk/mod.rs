//! Simulated storage: one `Disk` per node, which outlives the node's crashes and restarts.
//!
//! Persistence bugs hide in the gap between what a process wrote and what a crash leaves, so
//! the disk models that gap exactly: every file has a durable copy (on the medium) and a
//! current copy (the page cache, which reads see), and a log of the changes between them.
//! The one flat directory has the same split for names. A crash resolves each log by the
//! contract below, drawing from labelled streams, so every seed is reproducible.
//!
//! # Driving it (the world's side)
//!
//! - `Disk::new(seed, node_index, config)` once per node, before the run; keep it across
//!   crashes and restarts. `set_config` changes fault rates mid-run (the control handle).
//! - Immediate API: `create`, `exists`, `write`, `append`, `read`, `length_bytes`,
//!   `truncate`, `delete`, `rename`, `list`, `sync`, `sync_directory` take effect at once in
//!   virtual time and return `Result<_, DiskError>`.
//! - Completion API: `submit(DiskOp)` returns a `DiskSubmission { ticket, latency, .. }`; the
//!   world schedules a completion event `latency` from now and, when it fires, calls
//!   `complete(ticket)`, which applies the operation then and returns what to hand to the
//!   process (`None` if a crash dropped the ticket). Operations in flight are not ordered
//!   with each other: they take effect in completion-time order (the world breaks equal
//!   times by event sequence), so a process that needs a write durable before a sync waits
//!   for the write's completion first, as with a real queue. At most `in_flight_max` wait.
//! - Every operation (immediate call or submission) counts once, when issued, towards the
//!   node's per-incarnation operation index, which crash points use (1-based).
//! - Crash points: `arm_crash_at_operation(n)` (one-shot) or
//!   `crash_probability_per_operation` (drawn per operation). When one fires, that operation
//!   has no effect and returns `DiskError::Crashed`, `crash_pending()` becomes true, and every
//!   later operation also returns `Crashed` without effect or count (a `complete` then
//!   returns `Crashed` and drops its operation). The world checks `crash_pending()` after
//!   each handler, and if set crashes the node (discarding the rest of the handler's sends
//!   and timers, as if power was cut there). `complete` never fires a crash point itself.
//! - `crash()` must be called whenever the node crashes, for any reason: it applies the
//!   crash contract, drops in-flight operations, resets the operation index and clears
//!   `crash_pending`. Then the node restarts on the same `Disk`.
//! - `drain_events()` yields `DiskEvent`s to trace (no text is formatted here); `stats()`
//!   counts everything for run summaries.
//!
//! # The crash contract
//!
//! 1. **Synced data survives.** Bytes made durable by `sync(path)` and not changed since
//!    read back unchanged after any number of crashes, in every mode, as long as the file's
//!    name survives (rule 4) — unless a latent corruption fault flipped them.
//! 2. **Unsynced data** (writes, appends, truncates since the file's last sync) meets, per
//!    `DiskConfig::crash_unsynced`:
//!    - `Lost`: none of it survives; the file is as of its last sync.
//!    - `Kept`: all of it survives (a process crash on a machine that kept power).
//!    - `Torn`: the disk was persisting the changes in order when power failed: a uniformly
//!      drawn prefix of them survives whole; the change at the cut, if a write spanning two
//!      or more sectors, keeps a prefix of its pieces ending at a sector boundary (at least
//!      none, at most all but one); it and everything after it are otherwise lost.
//!    - `Reordered`: the disk persisted sectors in its own order: each sector piece of each
//!      write, and each resize, survives independently with probability one half; survivors
//!      apply in their original order, so every sector holds one of the versions it had.
//!    - `Random`: each crash applies one of the four, drawn from `disk.crash_mode`.
//!
//!    Sectors lie on the file's grid (offset 0 is a boundary); a piece is the part of a
//!    write within one sector.
//! 3. **Names are durable only after `sync_directory`.** Unsynced creates, deletes and
//!    renames meet the same mode: `Lost` reverts the directory to its last sync, `Kept`
//!    keeps them all, `Torn` keeps a prefix (a journal committed in order), `Reordered`
//!    keeps each with probability one half. Kept changes replay in order, each only if it
//!    still applies (a rename of a file whose creation was lost is dropped).
//! 4. **`sync(path)` does not make the name durable.** A file created, written and synced but
//!    never directory-synced can vanish with its data; a rename can revert; a deleted file
//!    can come back, with its data as rules 1 and 2 say.
//! 5. **In-flight operations are dropped.** Submitted, not completed: never take effect,
//!    never complete.
//! 6. **What survives is durable.** After `crash()` nothing is unsynced, so a second crash
//!    changes nothing.
//!
//! # Faults (each from its own stream `disk.<family>[node]`; probability 0 draws nothing)
//!
//! - Read errors (`read`) and write errors (create, write, append, truncate, delete, rename,
//!   sync, sync_directory): `DiskError::Io`, no effect.
//! - Read corruption: one bit flipped in a non-empty read's result; stored data intact.
//! - Latent corruption: a sync that persists data flips one bit of that file on the medium,
//!   visible to every later read and across crashes.
//! - Misdirected writes: the write reports success and the length grows as asked, but the
//!   data lands at another sector-aligned offset of the file (clipped to its length) or
//!   nowhere; the intended range keeps its old bytes (zeros where the file grew).
//! - Disk full: growing the stored bytes (every file not yet forgotten, including deleted
//!   files whose deletion is not durable) beyond `capacity_bytes` fails with `NoSpace`.
//! - Latency: uniform in `latency_min..=latency_max`, plus `slow_latency` with
//!   `slow_probability` (completion API only; the immediate API takes no virtual time).
//! - Crash points, as above.

mod config;
mod directory;
mod error;
mod event;
mod fault;
mod file;
mod operation;
mod stats;
#[cfg(test)]
mod tests;

pub use config::{DiskConfig, DiskConfigError, UnsyncedOnCrash};
pub use error::{DiskError, DiskErrorKind};
pub use event::{DiskCrashReport, DiskEvent};
pub use fault::{
    CRASH_MODE_LABEL, CRASH_POINT_LABEL, CRASH_UNSYNCED_LABEL, LATENCY_LABEL,
    LATENT_CORRUPTION_LABEL, MISDIRECTED_WRITE_LABEL, READ_CORRUPTION_LABEL, READ_ERROR_LABEL,
    SLOW_LABEL, WRITE_ERROR_LABEL,
};
pub use operation::{DiskOp, DiskOpKind, DiskOutput, DiskSubmission, DiskTicket};
pub use stats::DiskStats;

use crate::time::Duration;
use directory::Directory;
use fault::{strikes, FaultStreams};
use file::{flip_bit, CrashTally, FileData, FileId};
use std::collections::BTreeMap;

/// One node's simulated disk. See the module documentation for the contract.
#[derive(Clone, Debug)]
pub struct Disk {
    config: DiskConfig,
    streams: FaultStreams,
    directory: Directory,
    /// Every file some name (durable, current or unsynced) still points at.
    files: BTreeMap<FileId, FileData>,
    file_id_next: u64,
    operations_this_incarnation: u64,
    crash_point_armed: Option<u64>,
    crash_pending: bool,
    in_flight: BTreeMap<DiskTicket, InFlight>,
    ticket_next: u64,
    stats: DiskStats,
    events: Vec<DiskEvent>,
}

#[derive(Clone, Debug)]
struct InFlight {
    operation_index: u64,
    op: DiskOp,
}

/// What an operation's event says besides its index and outcome.
struct OperationRecord<'a> {
    kind: DiskOpKind,
    path: &'a str,
    target_path: Option<&'a str>,
    offset_bytes: u64,
    length_bytes: u64,
}

impl Disk {
    /// An empty disk for node `node_index` in the run with `seed`.
    pub fn new(seed: u64, node_index: u64, config: DiskConfig) -> Result<Disk, DiskConfigError> {
        config.validate()?;
        Ok(Disk {
            config,
            streams: FaultStreams::new(seed, node_index),
            directory: Directory::default(),
            files: BTreeMap::new(),
            file_id_next: 0,
            operations_this_incarnation: 0,
            crash_point_armed: None,
            crash_pending: false,
            in_flight: BTreeMap::new(),
            ticket_next: 0,
            stats: DiskStats::default(),
            events: Vec::new(),
        })
    }

    pub fn config(&self) -> &DiskConfig {
        &self.config
    }

    /// Replaces the configuration from the next operation on; unsynced changes already made
    /// are cut into sectors of the sector size in force at the crash.
    pub fn set_config(&mut self, config: DiskConfig) -> Result<(), DiskConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Crashes the node at the first operation whose 1-based index within its incarnation
    /// is `operation_index` (so an index already passed fires in the next incarnation; 0
    /// never fires). Fires once, then disarms. Replaces any armed crash point.
    pub fn arm_crash_at_operation(&mut self, operation_index: u64) {
        self.crash_point_armed = Some(operation_index);
    }

    /// Whether a crash point is armed and has not fired.
    pub fn crash_point_armed(&self) -> bool {
        self.crash_point_armed.is_some()
    }

    pub fn disarm_crash_point(&mut self) {
        self.crash_point_armed = None;
    }

    /// True from the moment a crash point fires until `crash()`: the world must crash the
    /// node, and meanwhile every operation returns `DiskError::Crashed`.
    #[inline]
    pub fn crash_pending(&self) -> bool {
        self.crash_pending
    }

    /// Operations issued so far in this incarnation (the last one's index).
    pub fn operations_this_incarnation(&self) -> u64 {
        self.operations_this_incarnation
    }

    pub fn stats(&self) -> &DiskStats {
        &self.stats
    }

    /// Events since the last drain, oldest first.
    /// Whether `drain_events` would yield anything (a cheap check for the world's hot path).
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    pub fn drain_events(&mut self) -> std::vec::Drain<'_, DiskEvent> {
        self.events.drain(..)
    }

    /// What reads of `path` would see, for checkers and tests: not an operation, so it
    /// counts nothing, draws nothing and never fails by fault.
    pub fn peek_contents(&self, path: &str) -> Option<&[u8]> {
        let file_id = self.directory.lookup(path)?;
        self.files.get(&file_id).map(FileData::current)
    }

    /// Creates an empty file named `path`; fails if the name is taken.
    pub fn create(&mut self, path: &str) -> Result<(), DiskError> {
        let index = self.begin(DiskOpKind::Create)?;
        self.create_now(index, path)
    }

    /// Whether a file named `path` exists (the "open" check: there are no handles).
    pub fn exists(&mut self, path: &str) -> Result<bool, DiskError> {
        let index = self.begin(DiskOpKind::Exists)?;
        self.exists_now(index, path)
    }

    /// Writes `data` at `offset_bytes`, zero-filling any gap past the end.
    pub fn write(&mut self, path: &str, offset_bytes: u64, data: &[u8]) -> Result<(), DiskError> {
        let index = self.begin(DiskOpKind::Write)?;
        self.write_now(index, path, Some(offset_bytes), data).map(|_| ())
    }

    /// Writes `data` at the end of the file; returns the offset where it starts.
    pub fn append(&mut self, path: &str, data: &[u8]) -> Result<u64, DiskError> {
        let index = self.begin(DiskOpKind::Append)?;
        self.write_now(index, path, None, data)
    }

    /// Up to `length_bytes` bytes from `offset_bytes`: fewer at the end of the file, none
    /// past it.
    pub fn read(
        &mut self,
        path: &str,
        offset_bytes: u64,
        length_bytes: u64,
    ) -> Result<Vec<u8>, DiskError> {
        let index = self.begin(DiskOpKind::Read)?;
        self.read_now(index, path, offset_bytes, length_bytes)
    }

    /// The file's current length.
    pub fn length_bytes(&mut self, path: &str) -> Result<u64, DiskError> {
        let index = self.begin(DiskOpKind::Length)?;
        self.length_now(index, path)
    }

    /// Cuts the file to `length_bytes`, or extends it with zeros.
    pub fn truncate(&mut self, path: &str, length_bytes: u64) -> Result<(), DiskError> {
        let index = self.begin(DiskOpKind::Truncate)?;
        self.truncate_now(index, path, length_bytes)
    }

    /// Removes the name `path`.
    pub fn delete(&mut self, path: &str) -> Result<(), DiskError> {
        let index = self.begin(DiskOpKind::Delete)?;
        self.delete_now(index, path)
    }

    /// Renames `from` to `to`, replacing any file named `to`.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        let index = self.begin(DiskOpKind::Rename)?;
        self.rename_now(index, from, to)
    }

    /// Names starting with `prefix`, ascending.
    pub fn list(&mut self, prefix: &str) -> Result<Vec<String>, DiskError> {
        let index = self.begin(DiskOpKind::List)?;
        self.list_now(index, prefix)
    }

    /// Makes the file's data durable (not its name: see `sync_directory`).
    pub fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        let index = self.begin(DiskOpKind::Sync)?;
        self.sync_now(index, path)
    }

    /// Makes every create, delete and rename so far durable.
    pub fn sync_directory(&mut self) -> Result<(), DiskError> {
        let index = self.begin(DiskOpKind::SyncDirectory)?;
        self.sync_directory_now(index)
    }

    /// Issues `op` for completion later: counts it and checks crash points now, draws its
    /// latency, and holds it until `complete`. Fails with `QueueFull` (not counted) when
    /// `in_flight_max` operations are already waiting.
    pub fn submit(&mut self, op: DiskOp) -> Result<DiskSubmission, DiskError> {
        if self.crash_pending {
            return Err(DiskError::Crashed);
        }
        if self.in_flight.len() as u64 >= self.config.in_flight_max {
            return Err(DiskError::QueueFull);
        }
        let operation_index = self.begin(op.kind())?;
        let latency = self.sample_latency();
        let ticket = DiskTicket(self.ticket_next);
        self.ticket_next += 1;
        self.in_flight.insert(ticket, InFlight { operation_index, op });
        Ok(DiskSubmission { ticket, latency, operation_index })
    }

    /// Applies the operation behind `ticket` now and returns its result for the process, or
    /// `None` if there is no such operation (a crash dropped it, or it already completed).
    pub fn complete(&mut self, ticket: DiskTicket) -> Option<Result<DiskOutput, DiskError>> {
        let InFlight { operation_index, op } = self.in_flight.remove(&ticket)?;
        if self.crash_pending {
            return Some(Err(DiskError::Crashed));
        }
        Some(self.perform(operation_index, op))
    }

    /// Operations submitted and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The node crashed: applies the crash contract to everything unsynced, drops in-flight
    /// operations, resets the operation index and clears `crash_pending`.
    pub fn crash(&mut self) -> DiskCrashReport {
        let mode = match self.config.crash_unsynced {
            UnsyncedOnCrash::Random => {
                let choices = UnsyncedOnCrash::RESOLVED;
                choices[self.streams.crash_mode.below(choices.len() as u64) as usize]
            }
            mode => mode,
        };
        let sector_size_bytes = self.sector_size_bytes();
        let mut data = CrashTally::default();
        for file in self.files.values_mut() {
            let tally = file.crash(mode, sector_size_bytes, &mut self.streams.crash_unsynced);
            data.kept += tally.kept;
            data.torn += tally.torn;
            data.lost += tally.lost;
        }
        let metadata = self.directory.crash(mode, &mut self.streams.crash_unsynced);
        self.forget_unreferenced_files();
        let report = DiskCrashReport {
            mode,
            changes_kept: data.kept,
            changes_torn: data.torn,
            changes_lost: data.lost,
            metadata_kept: metadata.kept,
            metadata_lost: metadata.lost,
            in_flight_dropped: self.in_flight.len() as u64,
        };
        self.in_flight.clear();
        self.operations_this_incarnation = 0;
        self.crash_pending = false;
        self.stats.crashes += 1;
        self.stats.unsynced_changes_kept += report.changes_kept;
        self.stats.unsynced_changes_torn += report.changes_torn;
        self.stats.unsynced_changes_lost += report.changes_lost;
        self.stats.unsynced_metadata_kept += report.metadata_kept;
        self.stats.unsynced_metadata_lost += report.metadata_lost;
        self.stats.in_flight_dropped += report.in_flight_dropped;
        self.events.push(DiskEvent::Crash(report));
        report
    }

    /// The node's process ended (exit or abort) while the machine stayed up: the page cache
    /// keeps every write, unsynced or not, as the operating system would; operations still
    /// in flight are dropped (the process is gone before they complete); a new incarnation
    /// counts its operations from 1 again. Armed crash points stay armed.
    pub fn process_ended(&mut self) {
        self.stats.in_flight_dropped += self.in_flight.len() as u64;
        self.in_flight.clear();
        self.operations_this_incarnation = 0;
    }

    /// Counts an operation and checks the crash points; `Err(Crashed)` means the operation
    /// must not take effect.
    fn begin(&mut self, kind: DiskOpKind) -> Result<u64, DiskError> {
        if self.crash_pending {
            return Err(DiskError::Crashed);
        }
        self.operations_this_incarnation += 1;
        let operation_index = self.operations_this_incarnation;
        self.stats.operations += 1;
        // Drawn before looking at the armed point so the stream advances once per operation.
        let random_crash =
            strikes(&mut self.streams.crash_point, self.config.crash_probability_per_operation);
        let armed_crash = self.crash_point_armed == Some(operation_index);
        if armed_crash {
            self.crash_point_armed = None;
        }
        if armed_crash || random_crash {
            self.crash_pending = true;
            self.stats.crash_points += 1;
            self.events.push(DiskEvent::CrashPoint { operation_index, kind });
            return Err(DiskError::Crashed);
        }
        Ok(operation_index)
    }

    /// Applies an owned operation: the one dispatch of the completion API.
    fn perform(&mut self, index: u64, op: DiskOp) -> Result<DiskOutput, DiskError> {
        let done = |()| DiskOutput::Done;
        match op {
            DiskOp::Create { path } => self.create_now(index, &path).map(done),
            DiskOp::Exists { path } => self.exists_now(index, &path).map(DiskOutput::Exists),
            DiskOp::Read { path, offset_bytes, length_bytes } => {
                self.read_now(index, &path, offset_bytes, length_bytes).map(DiskOutput::Bytes)
            }
            DiskOp::Write { path, offset_bytes, data } => {
                self.write_now(index, &path, Some(offset_bytes), &data).map(|_| DiskOutput::Done)
            }
            DiskOp::Append { path, data } => self
                .write_now(index, &path, None, &data)
                .map(|offset_bytes| DiskOutput::AppendedAt { offset_bytes }),
            DiskOp::Length { path } => self
                .length_now(index, &path)
                .map(|length_bytes| DiskOutput::Length { length_bytes }),
            DiskOp::Truncate { path, length_bytes } => {
                self.truncate_now(index, &path, length_bytes).map(done)
            }
            DiskOp::Delete { path } => self.delete_now(index, &path).map(done),
            DiskOp::Rename { from, to } => self.rename_now(index, &from, &to).map(done),
            DiskOp::List { prefix } => self.list_now(index, &prefix).map(DiskOutput::Names),
            DiskOp::Sync { path } => self.sync_now(index, &path).map(done),
            DiskOp::SyncDirectory => self.sync_directory_now(index).map(done),
        }
    }

    fn create_now(&mut self, index: u64, path: &str) -> Result<(), DiskError> {
        let result = self.try_create(path);
        self.finish(index, OperationRecord::on(DiskOpKind::Create, path), result)
    }

    fn exists_now(&mut self, index: u64, path: &str) -> Result<bool, DiskError> {
        let result = Ok(self.directory.lookup(path).is_some());
        self.finish(index, OperationRecord::on(DiskOpKind::Exists, path), result)
    }

    /// Write at `offset_bytes`, or append when it is `None`; returns where the data went.
    fn write_now(
        &mut self,
        index: u64,
        path: &str,
        offset_bytes: Option<u64>,
        data: &[u8],
    ) -> Result<u64, DiskError> {
        let kind = if offset_bytes.is_some() { DiskOpKind::Write } else { DiskOpKind::Append };
        let result = self.try_write(kind, path, offset_bytes, data);
        let record = OperationRecord {
            offset_bytes: offset_bytes.or(result.as_ref().ok().copied()).unwrap_or(0),
            length_bytes: data.len() as u64,
            ..OperationRecord::on(kind, path)
        };
        self.finish(index, record, result)
    }

    fn read_now(
        &mut self,
        index: u64,
        path: &str,
        offset_bytes: u64,
        length_bytes: u64,
    ) -> Result<Vec<u8>, DiskError> {
        let result = self.try_read(path, offset_bytes, length_bytes);
        let record = OperationRecord {
            offset_bytes,
            length_bytes,
            ..OperationRecord::on(DiskOpKind::Read, path)
        };
        self.finish(index, record, result)
    }

    fn length_now(&mut self, index: u64, path: &str) -> Result<u64, DiskError> {
        let result = self.resolve(path).map(|file_id| self.file(file_id).length_bytes() as u64);
        self.finish(index, OperationRecord::on(DiskOpKind::Length, path), result)
    }

    fn truncate_now(&mut self, index: u64, path: &str, length_bytes: u64) -> Result<(), DiskError> {
        let result = self.try_truncate(path, length_bytes);
        let record =
            OperationRecord { length_bytes, ..OperationRecord::on(DiskOpKind::Truncate, path) };
        self.finish(index, record, result)
    }

    fn delete_now(&mut self, index: u64, path: &str) -> Result<(), DiskError> {
        let result = self.try_delete(path);
        self.finish(index, OperationRecord::on(DiskOpKind::Delete, path), result)
    }

    fn rename_now(&mut self, index: u64, from: &str, to: &str) -> Result<(), DiskError> {
        let result = self.try_rename(from, to);
        let record = OperationRecord {
            target_path: Some(to),
            ..OperationRecord::on(DiskOpKind::Rename, from)
        };
        self.finish(index, record, result)
    }

    fn list_now(&mut self, index: u64, prefix: &str) -> Result<Vec<String>, DiskError> {
        let result = Ok(self.directory.list(prefix));
        self.finish(index, OperationRecord::on(DiskOpKind::List, prefix), result)
    }

    fn sync_now(&mut self, index: u64, path: &str) -> Result<(), DiskError> {
        let result = self.try_sync(path);
        self.finish(index, OperationRecord::on(DiskOpKind::Sync, path), result)
    }

    fn sync_directory_now(&mut self, index: u64) -> Result<(), DiskError> {
        let result = self.try_sync_directory();
        self.finish(index, OperationRecord::on(DiskOpKind::SyncDirectory, ""), result)
    }

    fn try_create(&mut self, path: &str) -> Result<(), DiskError> {
        if self.directory.lookup(path).is_some() {
            return Err(DiskError::AlreadyExists { path: path.to_string() });
        }
        self.inject_write_error(DiskOpKind::Create, path)?;
        let file_id = FileId(self.file_id_next);
        self.file_id_next += 1;
        self.files.insert(file_id, FileData::default());
        self.directory.create(path, file_id);
        self.stats.metadata_operations += 1;
        Ok(())
    }

    fn try_write(
        &mut self,
        kind: DiskOpKind,
        path: &str,
        offset_bytes: Option<u64>,
        data: &[u8],
    ) -> Result<u64, DiskError> {
        let file_id = self.resolve(path)?;
        let length_now = self.file(file_id).length_bytes() as u64;
        let offset_bytes = offset_bytes.unwrap_or(length_now);
        let no_space = || DiskError::NoSpace { operation: kind, path: path.to_string() };
        let end_bytes = offset_bytes.checked_add(data.len() as u64).ok_or_else(no_space)?;
        let length_after = if data.is_empty() { length_now } else { length_now.max(end_bytes) };
        self.reserve(kind, path, length_now, length_after)?;
        let offset = usize::try_from(offset_bytes).map_err(|_| no_space())?;
        self.inject_write_error(kind, path)?;
        if strikes(&mut self.streams.misdirected_write, self.config.misdirected_write_probability) {
            self.misdirect(file_id, path, offset, data);
        } else {
            file_mut(&mut self.files, file_id).write(offset, data);
        }
        self.stats.writes += 1;
        self.stats.bytes_written += data.len() as u64;
        Ok(offset_bytes)
    }

    /// The write reported success, but its data goes to another sector-aligned offset of the
    /// same file (clipped to the file's length) or nowhere; the file still grows as asked.
    fn misdirect(&mut self, file_id: FileId, path: &str, offset: usize, data: &[u8]) {
        let sector_size_bytes = self.sector_size_bytes();
        let file = file_mut(&mut self.files, file_id);
        let length_after = file.length_bytes().max(offset + data.len());
        file.resize(length_after);
        let sectors = length_after.div_ceil(sector_size_bytes);
        // One more choice than there are sectors: the last one means "nowhere".
        let choice = self.streams.misdirected_write.below(sectors as u64 + 1) as usize;
        let landed = if choice == sectors {
            None
        } else {
            let target = choice * sector_size_bytes;
            let target =
                if target == offset { (choice + 1) % sectors * sector_size_bytes } else { target };
            // A one-sector file has nowhere else to put it.
            (target != offset).then_some(target)
        };
        if let Some(target) = landed {
            let length = data.len().min(length_after - target);
            file.write(target, &data[..length]);
        }
        self.stats.misdirected_writes_injected += 1;
        self.events.push(DiskEvent::MisdirectedWrite {
            path: path.to_string(),
            intended_offset_bytes: offset as u64,
            landed_offset_bytes: landed.map(|target| target as u64),
        });
    }

    fn try_read(
        &mut self,
        path: &str,
        offset_bytes: u64,
        length_bytes: u64,
    ) -> Result<Vec<u8>, DiskError> {
        let file_id = self.resolve(path)?;
        if strikes(&mut self.streams.read_error, self.config.read_error_probability) {
            self.stats.read_errors_injected += 1;
            return Err(DiskError::Io { operation: DiskOpKind::Read, path: path.to_string() });
        }
        let content = self.file(file_id).current();
        let length_now = content.len() as u64;
        let start = offset_bytes.min(length_now);
        let end = offset_bytes.saturating_add(length_bytes).min(length_now);
        // Both bounds are at most the content's length, which is a usize.
        let mut bytes = content[start as usize..end as usize].to_vec();
        if !bytes.is_empty()
            && strikes(&mut self.streams.read_corruption, self.config.read_corruption_probability)
        {
            let bit_index = self.streams.read_corruption.below(bytes.len() as u64 * 8);
            flip_bit(&mut bytes, bit_index as usize);
            self.stats.read_corruptions_injected += 1;
            self.events.push(DiskEvent::ReadCorrupted {
                path: path.to_string(),
                offset_bytes: start + bit_index / 8,
                bit: (bit_index % 8) as u8,
            });
        }
        self.stats.reads += 1;
        self.stats.bytes_read += bytes.len() as u64;
        Ok(bytes)
    }

    fn try_truncate(&mut self, path: &str, length_bytes: u64) -> Result<(), DiskError> {
        let kind = DiskOpKind::Truncate;
        let file_id = self.resolve(path)?;
        let length_now = self.file(file_id).length_bytes() as u64;
        self.reserve(kind, path, length_now, length_bytes)?;
        let length = usize::try_from(length_bytes)
            .map_err(|_| DiskError::NoSpace { operation: kind, path: path.to_string() })?;
        self.inject_write_error(kind, path)?;
        file_mut(&mut self.files, file_id).resize(length);
        self.stats.truncates += 1;
        Ok(())
    }

    fn try_delete(&mut self, path: &str) -> Result<(), DiskError> {
        let file_id = self.resolve(path)?;
        self.inject_write_error(DiskOpKind::Delete, path)?;
        self.directory.delete(path, file_id);
        self.forget_unreferenced_files();
        self.stats.metadata_operations += 1;
        Ok(())
    }

    fn try_rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        let file_id = self.resolve(from)?;
        self.inject_write_error(DiskOpKind::Rename, from)?;
        if from != to {
            self.directory.rename(from, to, file_id);
            self.forget_unreferenced_files();
        }
        self.stats.metadata_operations += 1;
        Ok(())
    }

    fn try_sync(&mut self, path: &str) -> Result<(), DiskError> {
        let file_id = self.resolve(path)?;
        self.inject_write_error(DiskOpKind::Sync, path)?;
        let file = file_mut(&mut self.files, file_id);
        let changes_persisted = file.sync();
        let length_bytes = file.length_bytes() as u64;
        if changes_persisted > 0
            && length_bytes > 0
            && strikes(
                &mut self.streams.latent_corruption,
                self.config.latent_corruption_probability,
            )
        {
            let bit_index = self.streams.latent_corruption.below(length_bytes * 8);
            file.flip_durable_bit(bit_index as usize);
            self.stats.latent_corruptions_injected += 1;
            self.events.push(DiskEvent::LatentCorruption {
                path: path.to_string(),
                offset_bytes: bit_index / 8,
                bit: (bit_index % 8) as u8,
            });
        }
        self.stats.syncs += 1;
        Ok(())
    }

    fn try_sync_directory(&mut self) -> Result<(), DiskError> {
        self.inject_write_error(DiskOpKind::SyncDirectory, "")?;
        self.directory.sync();
        self.forget_unreferenced_files();
        self.stats.directory_syncs += 1;
        Ok(())
    }

    /// Records the operation's event and passes its result through.
    fn finish<T>(
        &mut self,
        operation_index: u64,
        record: OperationRecord<'_>,
        result: Result<T, DiskError>,
    ) -> Result<T, DiskError> {
        let error = result.as_ref().err().map(DiskError::kind);
        if error == Some(DiskErrorKind::NoSpace) {
            self.stats.no_space_errors += 1;
        }
        self.events.push(DiskEvent::Operation {
            operation_index,
            kind: record.kind,
            path: record.path.to_string(),
            target_path: record.target_path.map(str::to_string),
            offset_bytes: record.offset_bytes,
            length_bytes: record.length_bytes,
            error,
        });
        result
    }

    fn resolve(&self, path: &str) -> Result<FileId, DiskError> {
        self.directory.lookup(path).ok_or_else(|| DiskError::NotFound { path: path.to_string() })
    }

    fn file(&self, file_id: FileId) -> &FileData {
        self.files.get(&file_id).expect("every name points at a file the disk still holds")
    }

    fn inject_write_error(&mut self, operation: DiskOpKind, path: &str) -> Result<(), DiskError> {
        if strikes(&mut self.streams.write_error, self.config.write_error_probability) {
            self.stats.write_errors_injected += 1;
            return Err(DiskError::Io { operation, path: path.to_string() });
        }
        Ok(())
    }

    /// Fails with `NoSpace` if growing one file from `length_now` to `length_after` bytes
    /// would take the disk past its capacity.
    fn reserve(
        &self,
        operation: DiskOpKind,
        path: &str,
        length_now: u64,
        length_after: u64,
    ) -> Result<(), DiskError> {
        let growth = length_after.saturating_sub(length_now);
        let stored_bytes: u64 = self.files.values().map(|file| file.length_bytes() as u64).sum();
        match stored_bytes.checked_add(growth) {
            Some(total) if total <= self.config.capacity_bytes => Ok(()),
            _ => Err(DiskError::NoSpace { operation, path: path.to_string() }),
        }
    }

    fn forget_unreferenced_files(&mut self) {
        let directory = &self.directory;
        self.files.retain(|file_id, _| directory.references(*file_id));
    }

    fn sector_size_bytes(&self) -> usize {
        usize::try_from(self.config.sector_size_bytes).unwrap_or(usize::MAX)
    }

    fn sample_latency(&mut self) -> Duration {
        let (low, high) = (self.config.latency_min.as_nanos(), self.config.latency_max.as_nanos());
        // A fixed latency is not a choice, so it draws nothing.
        let base = if low == high { low } else { self.streams.latency.uniform_u64(low, high) };
        let latency = Duration::from_nanos(base);
        if strikes(&mut self.streams.slow, self.config.slow_probability) {
            latency + self.config.slow_latency
        } else {
            latency
        }
    }
}

impl<'a> OperationRecord<'a> {
    fn on(kind: DiskOpKind, path: &'a str) -> OperationRecord<'a> {
        OperationRecord { kind, path, target_path: None, offset_bytes: 0, length_bytes: 0 }
    }
}

/// The file behind a name; a free function so callers can borrow the streams alongside.
fn file_mut(files: &mut BTreeMap<FileId, FileData>, file_id: FileId) -> &mut FileData {
    files.get_mut(&file_id).expect("every name points at a file the disk still holds")
}
