//! Counters of everything a disk did and suffered, for run summaries.

/// Per-disk counters; `merge` sums them over the nodes of a run. Successful reads and writes
/// count in `reads` / `writes`; failed ones count only under their error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Operations issued (immediate calls and submissions), including failed ones.
    pub operations: u64,
    pub reads: u64,
    pub bytes_read: u64,
    /// Writes and appends.
    pub writes: u64,
    pub bytes_written: u64,
    pub truncates: u64,
    /// Creates, deletes and renames.
    pub metadata_operations: u64,
    pub syncs: u64,
    pub directory_syncs: u64,
    pub read_errors_injected: u64,
    pub write_errors_injected: u64,
    pub read_corruptions_injected: u64,
    pub latent_corruptions_injected: u64,
    pub misdirected_writes_injected: u64,
    pub no_space_errors: u64,
    /// Crash points that fired (armed or probabilistic).
    pub crash_points: u64,
    pub crashes: u64,
    /// Unsynced data changes at crashes, by fate.
    pub unsynced_changes_kept: u64,
    pub unsynced_changes_torn: u64,
    pub unsynced_changes_lost: u64,
    /// Unsynced metadata changes at crashes, by fate.
    pub unsynced_metadata_kept: u64,
    pub unsynced_metadata_lost: u64,
    /// Submitted operations that had not completed when their node crashed.
    pub in_flight_dropped: u64,
}

impl DiskStats {
    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &DiskStats) {
        self.operations += other.operations;
        self.reads += other.reads;
        self.bytes_read += other.bytes_read;
        self.writes += other.writes;
        self.bytes_written += other.bytes_written;
        self.truncates += other.truncates;
        self.metadata_operations += other.metadata_operations;
        self.syncs += other.syncs;
        self.directory_syncs += other.directory_syncs;
        self.read_errors_injected += other.read_errors_injected;
        self.write_errors_injected += other.write_errors_injected;
        self.read_corruptions_injected += other.read_corruptions_injected;
        self.latent_corruptions_injected += other.latent_corruptions_injected;
        self.misdirected_writes_injected += other.misdirected_writes_injected;
        self.no_space_errors += other.no_space_errors;
        self.crash_points += other.crash_points;
        self.crashes += other.crashes;
        self.unsynced_changes_kept += other.unsynced_changes_kept;
        self.unsynced_changes_torn += other.unsynced_changes_torn;
        self.unsynced_changes_lost += other.unsynced_changes_lost;
        self.unsynced_metadata_kept += other.unsynced_metadata_kept;
        self.unsynced_metadata_lost += other.unsynced_metadata_lost;
        self.in_flight_dropped += other.in_flight_dropped;
    }
}
