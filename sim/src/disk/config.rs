//! What one node's disk is like and which faults it suffers: plain data, validated once.
//!
//! A scenario (or the control handle, mid-run) builds a `DiskConfig`; `Disk::new` and
//! `Disk::set_config` refuse an invalid one with a typed error, so the hot path never has to
//! wonder whether a probability is out of range.

use crate::time::{us, Duration};

/// What happens on a crash to the changes made since the last sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnsyncedOnCrash {
    /// Every unsynced change is gone: the disk holds exactly what was last synced.
    Lost,
    /// Every unsynced change survives, as after a process crash on a machine that kept power.
    Kept,
    /// The disk was persisting the changes in order and lost power part-way: a prefix of the
    /// changes survives, the change at the cut keeps a prefix of its whole sectors, the rest
    /// is gone.
    Torn,
    /// The disk persisted sectors in its own order: each sector-sized piece of each unsynced
    /// write (and each unsynced resize) survives or not, independently.
    Reordered,
    /// Each crash picks one of the four above from the `disk.crash_mode` stream.
    Random,
}

impl UnsyncedOnCrash {
    /// The modes a crash can actually apply; `Random` resolves to one of these.
    pub const RESOLVED: [UnsyncedOnCrash; 4] = [
        UnsyncedOnCrash::Lost,
        UnsyncedOnCrash::Kept,
        UnsyncedOnCrash::Torn,
        UnsyncedOnCrash::Reordered,
    ];

    /// The snake_case name used in scenarios and traces.
    pub fn name(self) -> &'static str {
        match self {
            UnsyncedOnCrash::Lost => "lost",
            UnsyncedOnCrash::Kept => "kept",
            UnsyncedOnCrash::Torn => "torn",
            UnsyncedOnCrash::Reordered => "reordered",
            UnsyncedOnCrash::Random => "random",
        }
    }
}

/// The shape of one node's disk and its fault rates. Every probability is per operation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiskConfig {
    /// The unit of atomicity: a torn or reordered write survives in whole sectors of the
    /// file's sector grid (offset 0 is a sector boundary).
    pub sector_size_bytes: u64,
    /// Total bytes the node's files may hold (live files plus files whose deletion is not yet
    /// durable); growing beyond it fails with `DiskError::NoSpace`.
    pub capacity_bytes: u64,
    /// What a crash does to unsynced data and unsynced directory changes.
    pub crash_unsynced: UnsyncedOnCrash,
    /// A `read` fails with `DiskError::Io` and returns nothing.
    pub read_error_probability: f64,
    /// A mutating operation (create, write, append, truncate, delete, rename, sync,
    /// sync_directory) fails with `DiskError::Io` and has no effect.
    pub write_error_probability: f64,
    /// A non-empty `read` returns its data with one bit flipped; the stored data is intact.
    pub read_corruption_probability: f64,
    /// A `sync` that persists data also flips one stored bit of that file, for good.
    pub latent_corruption_probability: f64,
    /// A write or append reports success, the file's length grows as asked, but the data
    /// lands at another sector-aligned offset of the same file, or nowhere.
    pub misdirected_write_probability: f64,
    /// Completion-based operations take a latency uniform in `latency_min..=latency_max`.
    pub latency_min: Duration,
    pub latency_max: Duration,
    /// With this probability a submitted operation takes `slow_latency` longer (a long tail).
    pub slow_probability: f64,
    pub slow_latency: Duration,
    /// Each operation crashes the node with this probability (see `Disk::crash_pending`).
    pub crash_probability_per_operation: f64,
    /// The submission queue's depth: `submit` beyond it fails with `DiskError::QueueFull`.
    pub in_flight_max: u64,
}

impl Default for DiskConfig {
    /// A fault-free 1 GiB disk with 4 KiB sectors and NVMe-like latency, whose crashes treat
    /// unsynced data in a mode chosen per crash.
    fn default() -> DiskConfig {
        DiskConfig {
            sector_size_bytes: 4096,
            capacity_bytes: 1 << 30,
            crash_unsynced: UnsyncedOnCrash::Random,
            read_error_probability: 0.0,
            write_error_probability: 0.0,
            read_corruption_probability: 0.0,
            latent_corruption_probability: 0.0,
            misdirected_write_probability: 0.0,
            latency_min: us(10),
            latency_max: us(100),
            slow_probability: 0.0,
            slow_latency: Duration::ZERO,
            crash_probability_per_operation: 0.0,
            in_flight_max: 1024,
        }
    }
}

/// Why a `DiskConfig` was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DiskConfigError {
    #[error("disk {field} = {value} is not a probability; expected a number in [0, 1]")]
    ProbabilityOutOfRange { field: &'static str, value: f64 },
    #[error("disk sector_size_bytes must be at least 1")]
    ZeroSectorSize,
    #[error("disk latency_min ({latency_min}) is greater than latency_max ({latency_max})")]
    LatencyRangeInverted { latency_min: Duration, latency_max: Duration },
}

impl DiskConfig {
    /// Checks every field once, so the disk can trust them on every operation.
    pub fn validate(&self) -> Result<(), DiskConfigError> {
        if self.sector_size_bytes == 0 {
            return Err(DiskConfigError::ZeroSectorSize);
        }
        if self.latency_min > self.latency_max {
            return Err(DiskConfigError::LatencyRangeInverted {
                latency_min: self.latency_min,
                latency_max: self.latency_max,
            });
        }
        let probabilities = [
            ("read_error_probability", self.read_error_probability),
            ("write_error_probability", self.write_error_probability),
            ("read_corruption_probability", self.read_corruption_probability),
            ("latent_corruption_probability", self.latent_corruption_probability),
            ("misdirected_write_probability", self.misdirected_write_probability),
            ("slow_probability", self.slow_probability),
            ("crash_probability_per_operation", self.crash_probability_per_operation),
        ];
        for (field, value) in probabilities {
            // Written so that NaN fails too.
            if !(0.0..=1.0).contains(&value) {
                return Err(DiskConfigError::ProbabilityOutOfRange { field, value });
            }
        }
        Ok(())
    }
}
