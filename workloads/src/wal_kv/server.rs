//! The server: a key-value map in front of a write-ahead log, with group commit.
//!
//! A put is appended to the log at once; a sync timer (`sync_interval`) makes every appended
//! put durable with one `sync`, and only then applies them to the map and acknowledges them.
//! Reads are answered from the map, so they only ever see durable puts. On (re)start the
//! server recovers before it serves: make sure the log's name is durable, read it, keep the
//! valid prefix (see `record::scan`), cut the torn tail off, sync, replay. Any disk error
//! during recovery retries the whole recovery a little later; a failed append answers the
//! put as failed (a failed operation has no effect); a failed sync is retried by the next
//! tick (in this disk model a failed sync changes nothing, so retrying is sound).
//!
//! With the planted bug `bug: ack_before_sync`, a put is applied and acknowledged as soon as it is
//! appended; the sync timer still runs, but a crash before it loses acknowledged puts.

use std::collections::{BTreeMap, BTreeSet};

use orrery_sim::disk::DiskError;
use orrery_sim::{Duration, NodeApi, NodeId, Process, Storage, TimerId};

use super::record;
use super::{Bug, Message, OpId, WalKvParams};

/// The one file of the server.
pub const LOG_PATH: &str = "wal.log";
/// Time between recovery attempts after a disk error.
const RECOVERY_RETRY: Duration = Duration::from_millis(1);

const TAG_RECOVER: u64 = 0;
const TAG_SYNC: u64 = 1;

/// A put appended to the log and not yet synced.
#[derive(Debug, Clone, Copy)]
struct Pending {
    client: NodeId,
    id: OpId,
    key: u32,
}

/// See the module documentation.
pub struct Server {
    sync_interval: Duration,
    ack_before_sync: bool,
    /// False until recovery finishes; requests meanwhile are answered `Unavailable`.
    pub ready: bool,
    /// The map the server serves: every durable put (and, with the bug, every appended one),
    /// as the raw bits of the put's id.
    pub map: BTreeMap<u32, u64>,
    /// Values logged or pending, so a duplicated put request is not logged twice (a second
    /// copy arriving after a newer put would otherwise roll the key back).
    logged_values: BTreeSet<u64>,
    pending: Vec<Pending>,
    /// Whether the log has appends the last sync did not cover.
    unsynced: bool,
    sync_timer_set: bool,
    /// Disk errors this incarnation's recovery retried.
    recovery_retries: u64,
}

impl Server {
    /// A server that recovers its log when it starts.
    pub fn new(params: &WalKvParams) -> Server {
        Server {
            sync_interval: params.sync_interval,
            ack_before_sync: params.bug == Bug::AckBeforeSync,
            ready: false,
            map: BTreeMap::new(),
            logged_values: BTreeSet::new(),
            pending: Vec::new(),
            unsynced: false,
            sync_timer_set: false,
            recovery_retries: 0,
        }
    }

    fn recover<N: NodeApi<Message>>(&mut self, node: &mut N) {
        let replayed = replay_log(&mut node.disk());
        match replayed {
            Ok((entries, torn_tail_cut)) => {
                // A green sweep must not hide a fault mix that never reached these paths.
                node.sometimes(torn_tail_cut, "wal-kv: recovery cut a torn tail off the log");
                node.sometimes(!entries.is_empty(), "wal-kv: recovery replayed logged puts");
                let retried = self.recovery_retries > 0;
                node.sometimes(retried, "wal-kv: recovery retried after a disk error");
                for (key, value) in entries {
                    self.map.insert(key, value);
                    self.logged_values.insert(value);
                }
                self.ready = true;
            }
            // The machine is off: nothing after this point happens.
            Err(DiskError::Crashed) => {}
            Err(_) => {
                self.recovery_retries += 1;
                node.set_timer(RECOVERY_RETRY, TAG_RECOVER);
            }
        }
    }

    fn put<N: NodeApi<Message>>(&mut self, node: &mut N, client: NodeId, id: OpId, key: u32) {
        let value = id.0;
        if self.logged_values.contains(&value) {
            // A duplicate of a put already logged: its first copy gets (or got) the answer.
            return;
        }
        let appended = node.disk().append(LOG_PATH, &record::encode(key, value));
        match appended {
            Ok(_) => {}
            Err(DiskError::Crashed) => return,
            // A failed append has no effect on the disk: the put definitely did not happen.
            Err(_) => return node.send(client, Message::PutFailed { id }),
        }
        self.logged_values.insert(value);
        self.unsynced = true;
        if self.ack_before_sync {
            self.map.insert(key, value);
            node.send(client, Message::PutOk { id });
        } else {
            self.pending.push(Pending { client, id, key });
        }
        if !self.sync_timer_set {
            self.sync_timer_set = true;
            node.set_timer(self.sync_interval, TAG_SYNC);
        }
    }

    fn sync<N: NodeApi<Message>>(&mut self, node: &mut N) {
        self.sync_timer_set = false;
        if !self.unsynced {
            return;
        }
        let synced = node.disk().sync(LOG_PATH);
        match synced {
            Ok(()) => {}
            Err(DiskError::Crashed) => return,
            Err(_) => {
                self.sync_timer_set = true;
                node.set_timer(self.sync_interval, TAG_SYNC);
                return;
            }
        }
        self.unsynced = false;
        for Pending { client, id, key } in std::mem::take(&mut self.pending) {
            self.map.insert(key, id.0);
            node.send(client, Message::PutOk { id });
        }
    }
}

impl<N: NodeApi<Message>> Process<Message, N> for Server {
    fn on_start(&mut self, node: &mut N) {
        self.recover(node);
    }

    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        match message {
            Message::Put { id, .. } | Message::Get { id, .. } if !self.ready => {
                node.send(from, Message::Unavailable { id })
            }
            Message::Put { id, key } => self.put(node, from, id, key),
            Message::Get { id, key } => {
                let value = self.map.get(&key).map(|&value| OpId(value));
                node.send(from, Message::GetOk { id, value })
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, node: &mut N, _timer: TimerId, tag: u64) {
        match tag {
            TAG_RECOVER => self.recover(node),
            _ => self.sync(node),
        }
    }
}

/// Recovery's disk work: the log's name made durable, the torn tail cut off and synced; returns
/// the valid entries and whether there was a tail to cut. Safe to repeat after any failure
/// part-way.
fn replay_log(disk: &mut impl Storage) -> Result<(Vec<(u32, u64)>, bool), DiskError> {
    if !disk.exists(LOG_PATH)? {
        match disk.create(LOG_PATH) {
            Ok(()) | Err(DiskError::AlreadyExists { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    // A log whose name is not durable could vanish with every put in it.
    disk.sync_directory()?;
    let bytes = disk.read_all(LOG_PATH)?;
    let scan = record::scan(&bytes);
    let torn_tail = scan.valid_bytes < bytes.len() as u64;
    if torn_tail {
        disk.truncate(LOG_PATH, scan.valid_bytes)?;
    }
    // After a crash nothing is unsynced, but a truncate (or an earlier, interrupted recovery)
    // may be: new appends must land after a durable valid prefix.
    disk.sync(LOG_PATH)?;
    Ok((scan.entries, torn_tail))
}
