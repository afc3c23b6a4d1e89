//! The disk's one flat directory: which names point at which files, durably (as of the last
//! directory sync) and currently (what the process sees), plus the log of metadata changes
//! between the two.
//!
//! Like file data, names are durable only once synced: a file created, written and synced
//! but never directory-synced is gone after a crash that loses unsynced metadata.

use super::config::UnsyncedOnCrash;
use super::file::FileId;
use crate::rng::Stream;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Names to files. Invariant: replaying `pending` in order on `durable` gives `current`.
#[derive(Clone, Debug, Default)]
pub(super) struct Directory {
    durable: BTreeMap<String, FileId>,
    current: BTreeMap<String, FileId>,
    pending: Vec<MetadataChange>,
}

/// How many unsynced metadata changes a crash kept or lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct MetadataTally {
    pub kept: u64,
    pub lost: u64,
}

/// One metadata change since the last directory sync. Each names the file it acted on, so a
/// crash that keeps some changes and not others replays only those that still make sense.
#[derive(Clone, Debug, PartialEq, Eq)]
enum MetadataChange {
    Create { path: String, file: FileId },
    Delete { path: String, file: FileId },
    Rename { from: String, to: String, file: FileId },
}

impl Directory {
    pub(super) fn lookup(&self, path: &str) -> Option<FileId> {
        self.current.get(path).copied()
    }

    /// Current names starting with `prefix`, ascending.
    pub(super) fn list(&self, prefix: &str) -> Vec<String> {
        self.current
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(name, _)| name.starts_with(prefix))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Links a new name; the caller has checked that `path` is free.
    pub(super) fn create(&mut self, path: &str, file: FileId) {
        self.record(MetadataChange::Create { path: path.to_string(), file });
    }

    /// Unlinks `path`, which the caller has checked points at `file`.
    pub(super) fn delete(&mut self, path: &str, file: FileId) {
        self.record(MetadataChange::Delete { path: path.to_string(), file });
    }

    /// Moves `file` from `from` to `to`, replacing whatever `to` named (as POSIX rename does).
    pub(super) fn rename(&mut self, from: &str, to: &str, file: FileId) {
        self.record(MetadataChange::Rename { from: from.to_string(), to: to.to_string(), file });
    }

    /// Makes every metadata change durable.
    pub(super) fn sync(&mut self) {
        self.pending.clear();
        self.durable.clone_from(&self.current);
    }

    /// Whether any name, durable or current or in an unsynced change, still points at `file`:
    /// only unreferenced files may be forgotten.
    pub(super) fn references(&self, file: FileId) -> bool {
        self.durable.values().any(|id| *id == file)
            || self.current.values().any(|id| *id == file)
            || self.pending.iter().any(|change| change.file() == file)
    }

    /// Applies the crash contract to unsynced metadata (`mode` is never `Random` here). Torn
    /// keeps a prefix of the changes (a journal committed in order); Reordered keeps each
    /// change with probability one half. Kept changes replay in their original order, each
    /// only if it still applies (a rename of a name whose creation was lost is dropped).
    pub(super) fn crash(&mut self, mode: UnsyncedOnCrash, stream: &mut Stream) -> MetadataTally {
        let changes = std::mem::take(&mut self.pending);
        let total = changes.len() as u64;
        let mut recovered = self.durable.clone();
        let mut tally = MetadataTally::default();
        let mut replay = |change: &MetadataChange, tally: &mut MetadataTally| {
            if change.apply_to(&mut recovered) {
                tally.kept += 1;
            }
        };
        match mode {
            UnsyncedOnCrash::Lost | UnsyncedOnCrash::Random => {
                assert!(mode != UnsyncedOnCrash::Random, "Random must be resolved before a crash");
            }
            UnsyncedOnCrash::Kept => changes.iter().for_each(|change| replay(change, &mut tally)),
            UnsyncedOnCrash::Torn if changes.is_empty() => {}
            UnsyncedOnCrash::Torn => {
                let cut = stream.below(total + 1) as usize;
                changes[..cut].iter().for_each(|change| replay(change, &mut tally));
            }
            UnsyncedOnCrash::Reordered => {
                for change in &changes {
                    if stream.bernoulli(0.5) {
                        replay(change, &mut tally);
                    }
                }
            }
        }
        tally.lost = total - tally.kept;
        self.durable = recovered;
        self.current.clone_from(&self.durable);
        tally
    }

    fn record(&mut self, change: MetadataChange) {
        let applied = change.apply_to(&mut self.current);
        assert!(applied, "the disk checks a metadata change before making it: {change:?}");
        self.pending.push(change);
    }
}

impl MetadataChange {
    fn file(&self) -> FileId {
        match self {
            MetadataChange::Create { file, .. }
            | MetadataChange::Delete { file, .. }
            | MetadataChange::Rename { file, .. } => *file,
        }
    }

    /// Applies the change if it still makes sense on `names`; returns whether it did.
    fn apply_to(&self, names: &mut BTreeMap<String, FileId>) -> bool {
        match self {
            MetadataChange::Create { path, file } => {
                if names.contains_key(path) {
                    return false;
                }
                names.insert(path.clone(), *file);
            }
            MetadataChange::Delete { path, file } => {
                if names.get(path) != Some(file) {
                    return false;
                }
                names.remove(path);
            }
            MetadataChange::Rename { from, to, file } => {
                if names.get(from) != Some(file) {
                    return false;
                }
                names.remove(from);
                names.insert(to.clone(), *file);
            }
        }
        true
    }
}
