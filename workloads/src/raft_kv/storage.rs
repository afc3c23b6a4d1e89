//! A server's persistent state on its simulated disk: the current term and vote in
//! `raft.meta`, the log in `raft.log`. Only this survives a crash; recovery rebuilds a server
//! from it.
//!
//! The meta record is 24 bytes written in place at offset 0: it lies within one sector, so a
//! crash leaves either the old or the new record whole. The log is append-only except where a
//! conflict truncates it. Every change here is followed by a sync when the caller asks for one;
//! Raft's rule is that nothing is acknowledged before the sync returns.

use orrery_sim::disk::DiskError;
use orrery_sim::{NodeApi, Context, NodeId};

use super::log::{checksum, decode_records, encode_record, Log};
use super::message::{Entry, Message};

const META_PATH: &str = "raft.meta";
const LOG_PATH: &str = "raft.log";
const NO_VOTE: u64 = u64::MAX;

/// Why the state could not be read or written; the server drops its volatile state and
/// recovers from disk again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    Disk(DiskError),
    /// The meta record fails its checksum: the disk lost data Raft assumes it keeps.
    MetaDamaged,
}

impl From<DiskError> for StorageError {
    fn from(error: DiskError) -> StorageError {
        StorageError::Disk(error)
    }
}

/// Everything a server persists.
#[derive(Debug, Default)]
pub struct Durable {
    pub term: u64,
    pub voted_for: Option<NodeId>,
    pub log: Log,
}

/// Reads the persistent state, creating empty files on first boot and cutting a torn tail
/// off the log.
pub fn load(ctx: &mut Context<Message>) -> Result<Durable, StorageError> {
    let mut disk = ctx.disk();
    let mut created = false;
    for path in [META_PATH, LOG_PATH] {
        if !disk.exists(path)? {
            disk.create(path)?;
            created = true;
        }
    }
    if created {
        disk.sync_directory()?;
    }
    let meta = disk.read_all(META_PATH)?;
    let (term, voted_for) = decode_meta(&meta).ok_or(StorageError::MetaDamaged)?;
    let bytes = disk.read_all(LOG_PATH)?;
    let mut log = Log::default();
    for (entry, record_bytes) in decode_records(&bytes) {
        log.push(entry, record_bytes);
    }
    if log.end_bytes() < bytes.len() as u64 {
        disk.truncate(LOG_PATH, log.end_bytes())?;
        disk.sync(LOG_PATH)?;
    }
    Ok(Durable { term, voted_for, log })
}

/// Writes the term and vote; durable once `sync` is true and this returns.
pub fn save_meta(
    ctx: &mut Context<Message>,
    term: u64,
    voted_for: Option<NodeId>,
    sync: bool,
) -> Result<(), StorageError> {
    let mut record = Vec::with_capacity(24);
    record.extend_from_slice(&term.to_le_bytes());
    record.extend_from_slice(&voted_for.map_or(NO_VOTE, |node| u64::from(node.0)).to_le_bytes());
    record.extend_from_slice(&checksum(&record).to_le_bytes());
    let mut disk = ctx.disk();
    disk.write(META_PATH, 0, &record)?;
    if sync {
        disk.sync(META_PATH)?;
    }
    Ok(())
}

/// Replaces the log after `last_kept` with `entries`, on disk and in `log`.
pub fn write_entries(
    ctx: &mut Context<Message>,
    log: &mut Log,
    last_kept: u64,
    entries: &[Entry],
    sync: bool,
) -> Result<(), StorageError> {
    let mut disk = ctx.disk();
    if last_kept < log.last_index() {
        disk.truncate(LOG_PATH, log.offset_bytes_of(last_kept + 1))?;
        log.truncate(last_kept);
    }
    let records: Vec<Vec<u8>> = entries.iter().map(encode_record).collect();
    if !records.is_empty() {
        disk.write(LOG_PATH, log.end_bytes(), &records.concat())?;
    }
    for (entry, record) in entries.iter().zip(&records) {
        log.push(entry.clone(), record.len() as u64);
    }
    if sync {
        disk.sync(LOG_PATH)?;
    }
    Ok(())
}

/// Makes the log's writes durable.
pub fn sync_log(ctx: &mut Context<Message>) -> Result<(), StorageError> {
    ctx.disk().sync(LOG_PATH)?;
    Ok(())
}

fn decode_meta(bytes: &[u8]) -> Option<(u64, Option<NodeId>)> {
    if bytes.is_empty() {
        return Some((0, None));
    }
    let word = |i: usize| -> Option<u64> {
        Some(u64::from_le_bytes(bytes.get(i * 8..i * 8 + 8)?.try_into().ok()?))
    };
    let (term, vote, sum) = (word(0)?, word(1)?, word(2)?);
    if bytes.len() != 24 || checksum(&bytes[..16]) != sum {
        return None;
    }
    let voted_for = (vote != NO_VOTE).then_some(NodeId(vote as u32));
    Some((term, voted_for))
}
