//! One file's bytes: the durable copy on the medium, the page-cache copy that reads see, and
//! the log of changes between the two.
//!
//! Keeping the log (rather than only the two copies) is what lets a crash lose, keep, tear or
//! reorder exactly the changes made since the last sync, at sector granularity.

use super::config::UnsyncedOnCrash;
use crate::rng::Stream;

/// A file's identity, independent of its names: a rename moves the name, not the data, and a
/// crash that undoes the rename finds the same data under the old name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct FileId(pub(super) u64);

/// A file's contents. Invariant: applying `pending` in order to `durable` gives `current`.
#[derive(Clone, Debug, Default)]
pub(super) struct FileData {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<PendingChange>,
}

/// How many unsynced changes a crash kept whole, tore (kept some sectors of) or lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct CrashTally {
    pub kept: u64,
    pub torn: u64,
    pub lost: u64,
}

/// One change since the last sync, in the order the process made it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PendingChange {
    Write { offset_bytes: usize, data: Vec<u8> },
    Resize { length_bytes: usize },
}

impl FileData {
    /// What reads see: durable data with every unsynced change applied.
    pub(super) fn current(&self) -> &[u8] {
        &self.current
    }

    /// What a crash in `Lost` mode would leave.
    #[cfg(test)]
    pub(super) fn durable(&self) -> &[u8] {
        &self.durable
    }

    pub(super) fn length_bytes(&self) -> usize {
        self.current.len()
    }

    /// Writes `data` at `offset_bytes`, filling any gap past the end with zeros. An empty
    /// write changes nothing (not even the length), as with `pwrite`.
    pub(super) fn write(&mut self, offset_bytes: usize, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        write_into(&mut self.current, offset_bytes, data);
        self.pending.push(PendingChange::Write { offset_bytes, data: data.to_vec() });
    }

    /// Cuts the file or extends it with zeros.
    pub(super) fn resize(&mut self, length_bytes: usize) {
        if length_bytes == self.current.len() {
            return;
        }
        self.current.resize(length_bytes, 0);
        self.pending.push(PendingChange::Resize { length_bytes });
    }

    /// Makes every unsynced change durable; returns how many there were.
    pub(super) fn sync(&mut self) -> usize {
        let count = self.pending.len();
        for change in self.pending.drain(..) {
            change.apply_to(&mut self.durable);
        }
        debug_assert!(self.durable == self.current, "sync must leave durable == current");
        count
    }

    /// Flips one bit of the file on the medium (and so in what reads see). Only meaningful
    /// right after a sync, when the two copies are equal.
    pub(super) fn flip_durable_bit(&mut self, bit_index: usize) {
        assert!(self.pending.is_empty(), "latent corruption strikes synced data only");
        flip_bit(&mut self.durable, bit_index);
        flip_bit(&mut self.current, bit_index);
    }

    /// Applies the crash contract to the unsynced changes (`mode` is never `Random` here),
    /// drawing from `stream` only when there is a choice to make. Afterwards the file holds
    /// what survived, all of it durable.
    pub(super) fn crash(
        &mut self,
        mode: UnsyncedOnCrash,
        sector_size_bytes: usize,
        stream: &mut Stream,
    ) -> CrashTally {
        let mut tally = CrashTally::default();
        let changes = std::mem::take(&mut self.pending);
        let total = changes.len() as u64;
        match mode {
            UnsyncedOnCrash::Lost | UnsyncedOnCrash::Random => {
                assert!(mode != UnsyncedOnCrash::Random, "Random must be resolved before a crash");
                tally.lost = total;
            }
            UnsyncedOnCrash::Kept => {
                changes.iter().for_each(|change| change.apply_to(&mut self.durable));
                tally.kept = total;
            }
            UnsyncedOnCrash::Torn if changes.is_empty() => {}
            UnsyncedOnCrash::Torn => {
                let cut = stream.below(total + 1) as usize;
                changes[..cut].iter().for_each(|change| change.apply_to(&mut self.durable));
                tally.kept = cut as u64;
                if let Some(interrupted) = changes.get(cut) {
                    let torn = self.tear(interrupted, sector_size_bytes, stream);
                    tally.torn = u64::from(torn);
                    tally.lost = total - tally.kept - tally.torn;
                }
            }
            UnsyncedOnCrash::Reordered => {
                for change in &changes {
                    let (pieces_kept, pieces_total) =
                        self.keep_random_pieces(change, sector_size_bytes, stream);
                    match pieces_kept {
                        0 => tally.lost += 1,
                        kept if kept == pieces_total => tally.kept += 1,
                        _ => tally.torn += 1,
                    }
                }
            }
        }
        self.current.clone_from(&self.durable);
        tally
    }

    /// Persists a prefix of the whole sectors of the change at the cut, strictly fewer than
    /// all of them (possibly none). Returns false when the change cannot tear (a resize, or a
    /// write within one sector) and is simply lost.
    fn tear(
        &mut self,
        change: &PendingChange,
        sector_size_bytes: usize,
        stream: &mut Stream,
    ) -> bool {
        let PendingChange::Write { offset_bytes, data } = change else {
            return false;
        };
        let pieces = SectorPieces::new(*offset_bytes, data.len(), sector_size_bytes);
        if pieces.count < 2 {
            return false;
        }
        let pieces_kept = stream.below(pieces.count as u64) as usize;
        if pieces_kept > 0 {
            let end = pieces.range(pieces_kept - 1).1;
            write_into(&mut self.durable, *offset_bytes, &data[..end - offset_bytes]);
        }
        true
    }

    /// Persists each sector piece of `change` (a resize is one piece) with probability one
    /// half. Returns (pieces kept, pieces in the change).
    fn keep_random_pieces(
        &mut self,
        change: &PendingChange,
        sector_size_bytes: usize,
        stream: &mut Stream,
    ) -> (usize, usize) {
        match change {
            PendingChange::Resize { .. } => {
                let kept = stream.bernoulli(0.5);
                if kept {
                    change.apply_to(&mut self.durable);
                }
                (usize::from(kept), 1)
            }
            PendingChange::Write { offset_bytes, data } => {
                let pieces = SectorPieces::new(*offset_bytes, data.len(), sector_size_bytes);
                let mut kept = 0;
                for piece in 0..pieces.count {
                    if stream.bernoulli(0.5) {
                        let (start, end) = pieces.range(piece);
                        let slice = &data[start - offset_bytes..end - offset_bytes];
                        write_into(&mut self.durable, start, slice);
                        kept += 1;
                    }
                }
                (kept, pieces.count)
            }
        }
    }
}

impl PendingChange {
    fn apply_to(&self, content: &mut Vec<u8>) {
        match self {
            PendingChange::Write { offset_bytes, data } => write_into(content, *offset_bytes, data),
            PendingChange::Resize { length_bytes } => content.resize(*length_bytes, 0),
        }
    }
}

/// The pieces a write splits into on the file's sector grid: each piece lies within one
/// sector, the first and last may be partial.
struct SectorPieces {
    offset_bytes: usize,
    end_bytes: usize,
    first_sector: usize,
    sector_size_bytes: usize,
    count: usize,
}

impl SectorPieces {
    fn new(offset_bytes: usize, length_bytes: usize, sector_size_bytes: usize) -> SectorPieces {
        let end_bytes = offset_bytes + length_bytes;
        let first_sector = offset_bytes / sector_size_bytes;
        let count = if length_bytes == 0 {
            0
        } else {
            (end_bytes - 1) / sector_size_bytes - first_sector + 1
        };
        SectorPieces { offset_bytes, end_bytes, first_sector, sector_size_bytes, count }
    }

    /// The file range `(start, end)` of piece `index`.
    fn range(&self, index: usize) -> (usize, usize) {
        let sector_start = (self.first_sector + index) * self.sector_size_bytes;
        let start = sector_start.max(self.offset_bytes);
        let end = (sector_start + self.sector_size_bytes).min(self.end_bytes);
        (start, end)
    }
}

fn write_into(content: &mut Vec<u8>, offset_bytes: usize, data: &[u8]) {
    let end = offset_bytes + data.len();
    if content.len() < end {
        content.resize(end, 0);
    }
    content[offset_bytes..end].copy_from_slice(data);
}

/// Flips bit `bit_index` counted from the start of `bytes`, least significant bit first.
pub(super) fn flip_bit(bytes: &mut [u8], bit_index: usize) {
    if let Some(byte) = bytes.get_mut(bit_index / 8) {
        *byte ^= 1 << (bit_index % 8);
    }
}
