//! The disk's contract, rule by rule, and one test per fault family.

use super::*;
use crate::rng::Stream;
use crate::time::us;

use std::error::Error;

type TestResult = Result<(), Box<dyn Error>>;

const SECTOR: u64 = 16;

/// A fault-free disk with 16-byte sectors whose crashes apply `mode`.
fn config(mode: UnsyncedOnCrash) -> DiskConfig {
    DiskConfig { sector_size_bytes: SECTOR, crash_unsynced: mode, ..DiskConfig::default() }
}

fn disk(seed: u64, config: DiskConfig) -> Result<Disk, DiskConfigError> {
    Disk::new(seed, 0, config)
}

/// A disk holding `path` with `content`, file and name both durable.
fn disk_with_durable_file(
    seed: u64,
    config: DiskConfig,
    path: &str,
    content: &[u8],
) -> Result<Disk, Box<dyn Error>> {
    let mut disk = disk(seed, config)?;
    disk.create(path)?;
    disk.write(path, 0, content)?;
    disk.sync(path)?;
    disk.sync_directory()?;
    Ok(disk)
}

fn contents(disk: &Disk, path: &str) -> Vec<u8> {
    disk.peek_contents(path).map(<[u8]>::to_vec).unwrap_or_default()
}

fn bits_differing(left: &[u8], right: &[u8]) -> u32 {
    left.iter().zip(right).map(|(l, r)| (l ^ r).count_ones()).sum()
}

// Rule 1: data synced before a crash reads back unchanged in every mode, whatever happened
// to unsynced writes after it.
#[test]
fn synced_data_survives_a_crash_in_every_mode() -> TestResult {
    let synced = [7u8; 40];
    for mode in UnsyncedOnCrash::RESOLVED.into_iter().chain([UnsyncedOnCrash::Random]) {
        for seed in 0..32 {
            let mut disk = disk_with_durable_file(seed, config(mode), "log", &synced)?;
            disk.append("log", &[9; 50])?;
            disk.write("log", 100, &[8; 20])?;
            disk.crash();
            assert_eq!(&contents(&disk, "log")[..40], &synced[..], "{mode:?} seed {seed}");
        }
    }
    Ok(())
}

// Rule 2, Lost: every unsynced change is gone, including a truncate.
#[test]
fn unsynced_changes_are_lost_in_lost_mode() -> TestResult {
    let mut disk = disk_with_durable_file(1, config(UnsyncedOnCrash::Lost), "f", b"durable")?;
    disk.write("f", 0, b"DUR")?;
    disk.append("f", b" and more")?;
    disk.truncate("f", 3)?;
    let report = disk.crash();
    assert_eq!(contents(&disk, "f"), b"durable");
    assert_eq!((report.changes_kept, report.changes_torn, report.changes_lost), (0, 0, 3));
    assert_eq!(disk.stats().unsynced_changes_lost, 3);
    Ok(())
}

// Rule 2, Kept: every unsynced change survives, and so do unsynced names (rule 3).
#[test]
fn unsynced_changes_and_names_are_kept_in_kept_mode() -> TestResult {
    let mut disk = disk_with_durable_file(1, config(UnsyncedOnCrash::Kept), "f", b"durable")?;
    disk.write("f", 0, b"DUR")?;
    disk.append("f", b" and more")?;
    disk.create("new")?;
    disk.write("new", 0, b"fresh")?;
    let report = disk.crash();
    assert_eq!(contents(&disk, "f"), b"DURable and more");
    assert_eq!(contents(&disk, "new"), b"fresh");
    assert_eq!((report.changes_kept, report.metadata_kept, report.metadata_lost), (3, 1, 0));
    Ok(())
}

// Rule 2, Torn: a single unsynced write survives as a prefix ending on the file's sector
// grid (counted from offset 0, so an unaligned write's first piece is short), and over
// seeds every possible prefix occurs.
#[test]
fn torn_write_keeps_a_prefix_of_whole_sectors() -> TestResult {
    let data: Vec<u8> = (1..=56).collect(); // offset 8..64: pieces end at 16, 32, 48, 64
    let mut surviving_lengths = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let mut disk = disk_with_durable_file(seed, config(UnsyncedOnCrash::Torn), "f", &[0; 8])?;
        disk.write("f", 8, &data)?;
        disk.crash();
        let after = contents(&disk, "f");
        let kept = &after[8.min(after.len())..];
        // The durable 8 bytes, then the write up to a sector boundary of the file.
        assert!([8, 16, 32, 48, 64].contains(&after.len()), "{after:?}");
        assert_eq!(kept, &data[..kept.len()], "seed {seed}: not a prefix of the write");
        surviving_lengths.insert(after.len());
    }
    assert_eq!(surviving_lengths.into_iter().collect::<Vec<_>>(), vec![8, 16, 32, 48, 64]);
    Ok(())
}

// Rule 2, Torn: across several unsynced writes the survivors are a prefix in write order:
// if any part of a write survived, every earlier write survived whole.
#[test]
fn torn_crash_keeps_a_prefix_of_the_writes_in_order() -> TestResult {
    for seed in 0..64 {
        let mut disk = disk_with_durable_file(seed, config(UnsyncedOnCrash::Torn), "f", &[0; 96])?;
        for (index, value) in [1u8, 2, 3].into_iter().enumerate() {
            disk.write("f", index as u64 * 32, &[value; 32])?;
        }
        disk.crash();
        let after = contents(&disk, "f");
        let survived: Vec<bool> = after.chunks(32).map(|chunk| chunk[0] != 0).collect();
        let first_missing = survived.iter().position(|s| !s).unwrap_or(survived.len());
        assert!(survived[first_missing..].iter().all(|s| !s), "seed {seed}: {survived:?}");
        if first_missing > 0 {
            let whole = &after[..(first_missing - 1) * 32];
            assert!(whole.iter().all(|b| *b != 0), "seed {seed}: earlier write not whole");
        }
    }
    Ok(())
}

// Rule 2, Reordered: a later write can survive while an earlier one is lost, and every
// sector ends at one of the versions it had.
#[test]
fn reordered_crash_can_keep_a_later_write_and_lose_an_earlier_one() -> TestResult {
    let mut later_without_earlier = 0;
    for seed in 0..64 {
        let mut disk =
            disk_with_durable_file(seed, config(UnsyncedOnCrash::Reordered), "f", &[0; 48])?;
        disk.write("f", 0, &[1; 16])?;
        disk.write("f", 16, &[2; 16])?;
        disk.write("f", 0, &[3; 16])?; // the same sector again
        disk.crash();
        let after = contents(&disk, "f");
        assert!([0u8, 1, 3].contains(&after[0]) && after[..16].iter().all(|b| *b == after[0]));
        assert!([0u8, 2].contains(&after[16]) && after[16..32].iter().all(|b| *b == after[16]));
        if after[0] == 0 && after[16] == 2 {
            later_without_earlier += 1;
        }
    }
    assert!(later_without_earlier > 0, "no seed reordered the writes");
    Ok(())
}

// Rules 3 and 4: a file created, written and synced but never directory-synced vanishes in
// Lost mode; after a directory sync it survives.
#[test]
fn file_synced_without_directory_sync_vanishes_on_crash() -> TestResult {
    for directory_synced in [false, true] {
        let mut disk = disk(1, config(UnsyncedOnCrash::Lost))?;
        disk.create("wal")?;
        disk.write("wal", 0, b"committed")?;
        disk.sync("wal")?;
        if directory_synced {
            disk.sync_directory()?;
        }
        disk.crash();
        assert_eq!(disk.exists("wal")?, directory_synced);
        assert_eq!(disk.list("")?.len(), usize::from(directory_synced));
    }
    Ok(())
}

// Rule 3: a rename that was never directory-synced reverts, and the data follows the file.
#[test]
fn rename_without_directory_sync_reverts_on_crash() -> TestResult {
    let mut disk = disk_with_durable_file(1, config(UnsyncedOnCrash::Lost), "tmp", b"state")?;
    disk.create("current")?;
    disk.sync_directory()?;
    disk.rename("tmp", "current")?;
    disk.sync("current")?;
    assert_eq!(disk.list("")?, vec!["current".to_string()]);
    disk.crash();
    assert_eq!(disk.list("")?, vec!["current".to_string(), "tmp".to_string()]);
    assert_eq!(contents(&disk, "tmp"), b"state");
    assert_eq!(contents(&disk, "current"), b"");
    Ok(())
}

// Rule 3: a delete that was never directory-synced is undone, data included.
#[test]
fn delete_without_directory_sync_is_undone_on_crash() -> TestResult {
    let mut disk = disk_with_durable_file(1, config(UnsyncedOnCrash::Lost), "f", b"precious")?;
    disk.delete("f")?;
    assert!(!disk.exists("f")?);
    let report = disk.crash();
    assert_eq!(contents(&disk, "f"), b"precious");
    assert_eq!(report.metadata_lost, 1);
    disk.delete("f")?;
    disk.sync_directory()?;
    disk.crash();
    assert!(!disk.exists("f")?);
    Ok(())
}

// Rule 3, Torn and Reordered: kept metadata changes replay in order and only if they still
// apply, so the directory always holds a state some prefix/subset replay can reach.
#[test]
fn partial_metadata_survival_replays_consistently() -> TestResult {
    for mode in [UnsyncedOnCrash::Torn, UnsyncedOnCrash::Reordered] {
        let mut outcomes = std::collections::BTreeSet::new();
        for seed in 0..64 {
            let mut disk = disk(seed, config(mode))?;
            disk.create("a")?;
            disk.rename("a", "b")?;
            disk.crash();
            outcomes.insert(disk.list("")?);
        }
        let expected = match mode {
            // Prefixes: nothing, create, create + rename.
            UnsyncedOnCrash::Torn => vec![vec![], vec!["a".to_string()], vec!["b".to_string()]],
            // Subsets, where a rename of a name never created is dropped.
            _ => vec![vec![], vec!["a".to_string()], vec!["b".to_string()]],
        };
        assert_eq!(outcomes.into_iter().collect::<Vec<_>>(), expected, "{mode:?}");
    }
    Ok(())
}

// Rule 5: an operation still in flight at a crash never takes effect and never completes.
#[test]
fn in_flight_operations_are_dropped_by_a_crash() -> TestResult {
    let mut disk = disk_with_durable_file(1, config(UnsyncedOnCrash::Kept), "f", b"old")?;
    let submission =
        disk.submit(DiskOp::Write { path: "f".into(), offset_bytes: 0, data: b"new".to_vec() })?;
    let report = disk.crash();
    assert_eq!(report.in_flight_dropped, 1);
    assert_eq!(disk.complete(submission.ticket), None);
    assert_eq!(contents(&disk, "f"), b"old");
    assert_eq!(disk.in_flight(), 0);
    Ok(())
}

// Rule 6: after a crash everything that survived is durable, so a second crash in Lost
// mode changes nothing.
#[test]
fn what_survives_a_crash_is_durable() -> TestResult {
    let mut disk = disk_with_durable_file(3, config(UnsyncedOnCrash::Kept), "f", b"x")?;
    disk.append("f", b"yz")?;
    disk.create("g")?;
    disk.crash();
    disk.set_config(config(UnsyncedOnCrash::Lost))?;
    disk.crash();
    assert_eq!(contents(&disk, "f"), b"xyz");
    assert!(disk.exists("g")?);
    Ok(())
}

// Crash point: operations 1..N-1 take effect, operation N and everything after it fail with
// Crashed and have no effect, until the world crashes the node; the point fires once.
#[test]
fn crash_at_nth_operation_cuts_the_handler_there() -> TestResult {
    let mut disk = disk(1, config(UnsyncedOnCrash::Kept))?;
    disk.arm_crash_at_operation(3);
    disk.create("f")?; // 1
    disk.write("f", 0, b"one")?; // 2
    assert_eq!(disk.append("f", b"three"), Err(DiskError::Crashed)); // 3
    assert!(disk.crash_pending());
    assert_eq!(disk.write("f", 0, b"four"), Err(DiskError::Crashed));
    assert_eq!(disk.operations_this_incarnation(), 3);
    assert_eq!(contents(&disk, "f"), b"one");
    let events: Vec<DiskEvent> = disk.drain_events().collect();
    assert_eq!(
        events.last(),
        Some(&DiskEvent::CrashPoint { operation_index: 3, kind: DiskOpKind::Append })
    );
    disk.crash();
    assert!(!disk.crash_pending());
    assert_eq!(disk.operations_this_incarnation(), 0);
    for _ in 0..5 {
        disk.append("f", b"!")?; // disarmed: the 3rd operation of this incarnation passes
    }
    assert_eq!(contents(&disk, "f"), b"one!!!!!");
    assert_eq!(disk.stats().crash_points, 1);
    Ok(())
}

// Crash point by probability: at probability one the very first operation crashes.
#[test]
fn crash_probability_one_crashes_the_first_operation() -> TestResult {
    let config =
        DiskConfig { crash_probability_per_operation: 1.0, ..config(UnsyncedOnCrash::Lost) };
    let mut disk = disk(1, config)?;
    assert_eq!(disk.create("f"), Err(DiskError::Crashed));
    assert!(disk.crash_pending());
    disk.crash();
    assert!(!disk.exists("f").is_ok_and(|exists| exists));
    Ok(())
}

// Read and write errors at probability one: every such operation fails, has no effect and
// is counted; operations outside the family are untouched.
#[test]
fn injected_read_and_write_errors_fail_without_effect() -> TestResult {
    let mut disk = disk_with_durable_file(1, config(UnsyncedOnCrash::Lost), "f", b"abc")?;
    disk.set_config(DiskConfig { read_error_probability: 1.0, ..config(UnsyncedOnCrash::Lost) })?;
    assert!(matches!(disk.read("f", 0, 3), Err(DiskError::Io { operation: DiskOpKind::Read, .. })));
    disk.write("f", 0, b"xyz")?;
    disk.set_config(DiskConfig { write_error_probability: 1.0, ..config(UnsyncedOnCrash::Lost) })?;
    let io = |result: Result<(), DiskError>| matches!(result, Err(DiskError::Io { .. }));
    assert!(io(disk.write("f", 0, b"123")));
    assert!(io(disk.append("f", b"4").map(|_| ())));
    assert!(io(disk.truncate("f", 0)));
    assert!(io(disk.create("g")));
    assert!(io(disk.rename("f", "h")));
    assert!(io(disk.delete("f")));
    assert!(io(disk.sync("f")));
    assert!(io(disk.sync_directory()));
    assert_eq!(disk.read("f", 0, 10)?, b"xyz");
    assert_eq!(disk.list("")?, vec!["f".to_string()]);
    assert_eq!((disk.stats().read_errors_injected, disk.stats().write_errors_injected), (1, 8));
    disk.crash();
    assert_eq!(contents(&disk, "f"), b"abc", "the failed sync persisted nothing");
    Ok(())
}

// Read corruption flips exactly one bit of what a read returns, never what is stored.
#[test]
fn read_corruption_flips_a_bit_in_the_result_only() -> TestResult {
    let stored = b"the quick brown fox".to_vec();
    let mut disk = disk_with_durable_file(1, config(UnsyncedOnCrash::Lost), "f", &stored)?;
    disk.set_config(DiskConfig {
        read_corruption_probability: 1.0,
        ..config(UnsyncedOnCrash::Lost)
    })?;
    disk.drain_events().for_each(drop);
    let read = disk.read("f", 4, 100)?;
    assert_eq!(bits_differing(&read, &stored[4..]), 1);
    assert_eq!(contents(&disk, "f"), stored);
    let corrupted = disk.drain_events().find_map(|event| match event {
        DiskEvent::ReadCorrupted { offset_bytes, bit, .. } => Some((offset_bytes, bit)),
        _ => None,
    });
    let (offset, bit) = corrupted.ok_or("no ReadCorrupted event")?;
    assert_eq!(read[(offset - 4) as usize] ^ stored[offset as usize], 1 << bit);
    assert_eq!(disk.stats().read_corruptions_injected, 1);
    Ok(())
}

// Latent corruption: a sync that persists data leaves one flipped bit on the medium, seen
// by later reads and surviving crashes; a sync with nothing to persist draws nothing.
#[test]
fn latent_corruption_persists_across_crashes() -> TestResult {
    let written = [0x55u8; 40];
    let corrupt =
        DiskConfig { latent_corruption_probability: 1.0, ..config(UnsyncedOnCrash::Lost) };
    let mut disk = disk(1, corrupt)?;
    disk.create("f")?;
    disk.write("f", 0, &written)?;
    disk.sync("f")?;
    let after_sync = contents(&disk, "f");
    assert_eq!(bits_differing(&after_sync, &written), 1);
    disk.sync("f")?;
    disk.sync_directory()?;
    disk.crash();
    assert_eq!(contents(&disk, "f"), after_sync);
    assert_eq!(disk.stats().latent_corruptions_injected, 1);
    Ok(())
}

// Misdirected write: success is reported and the length grows as asked, but the data lands
// at another sector-aligned offset (clipped to the file) or nowhere; over seeds both occur.
#[test]
fn misdirected_write_lands_elsewhere_or_nowhere() -> TestResult {
    let mut landings = std::collections::BTreeSet::new();
    for seed in 0..32 {
        let mut disk =
            disk_with_durable_file(seed, config(UnsyncedOnCrash::Lost), "f", &[b'a'; 64])?;
        disk.set_config(DiskConfig {
            misdirected_write_probability: 1.0,
            ..config(UnsyncedOnCrash::Lost)
        })?;
        disk.drain_events().for_each(drop);
        disk.write("f", 16, &[b'b'; 16])?;
        let after = contents(&disk, "f");
        assert_eq!(after.len(), 64);
        assert_eq!(&after[16..32], &[b'a'; 16], "the intended sector keeps its old bytes");
        let landed = disk.drain_events().find_map(|event| match event {
            DiskEvent::MisdirectedWrite { landed_offset_bytes, .. } => Some(landed_offset_bytes),
            _ => None,
        });
        let landed = landed.ok_or("no MisdirectedWrite event")?;
        let b_count = after.iter().filter(|b| **b == b'b').count();
        match landed {
            Some(offset) => {
                assert!([0, 32, 48].contains(&offset), "aligned, elsewhere, in the file");
                assert_eq!(&after[offset as usize..offset as usize + 16], &[b'b'; 16]);
                assert_eq!(b_count, 16);
            }
            None => assert_eq!(b_count, 0),
        }
        landings.insert(landed);
    }
    assert!(landings.contains(&None) && landings.len() > 2, "{landings:?}");
    Ok(())
}

// Disk full: growth beyond capacity fails with NoSpace and has no effect; growth up to it,
// and overwrites in place, succeed.
#[test]
fn disk_full_refuses_growth_beyond_capacity() -> TestResult {
    let mut disk = disk(1, DiskConfig { capacity_bytes: 100, ..config(UnsyncedOnCrash::Lost) })?;
    disk.create("a")?;
    disk.create("b")?;
    disk.write("a", 0, &[1; 60])?;
    let no_space = |result: Result<(), DiskError>| matches!(result, Err(DiskError::NoSpace { .. }));
    assert!(no_space(disk.write("b", 0, &[2; 41])));
    assert!(no_space(disk.truncate("b", 41)));
    assert!(no_space(disk.write("a", u64::MAX, b"x")));
    assert_eq!(disk.length_bytes("b")?, 0);
    assert_eq!(disk.append("b", &[2; 40])?, 0);
    disk.write("a", 0, &[3; 60])?;
    assert_eq!(disk.stats().no_space_errors, 3);
    disk.delete("a")?;
    disk.sync_directory()?;
    disk.append("b", &[2; 60])?; // the deleted file's space is free once the delete is durable
    Ok(())
}

// The completion API: latency within the configured bounds, effect only at `complete`, the
// output the immediate call would give, and a bounded queue.
#[test]
fn completion_api_applies_at_completion_with_bounded_latency() -> TestResult {
    let config = DiskConfig {
        latency_min: us(20),
        latency_max: us(80),
        in_flight_max: 2,
        ..config(UnsyncedOnCrash::Lost)
    };
    let mut disk = disk_with_durable_file(1, config, "f", b"")?;
    let write = disk.submit(DiskOp::Append { path: "f".into(), data: b"hello".to_vec() })?;
    let read = disk.submit(DiskOp::Read { path: "f".into(), offset_bytes: 0, length_bytes: 10 })?;
    assert_eq!(disk.submit(DiskOp::SyncDirectory), Err(DiskError::QueueFull));
    for submission in [write, read] {
        assert!((us(20)..=us(80)).contains(&submission.latency), "{:?}", submission.latency);
    }
    assert_eq!(contents(&disk, "f"), b"");
    assert_eq!(disk.complete(write.ticket), Some(Ok(DiskOutput::AppendedAt { offset_bytes: 0 })));
    assert_eq!(disk.complete(read.ticket), Some(Ok(DiskOutput::Bytes(b"hello".to_vec()))));
    assert_eq!(disk.complete(read.ticket), None, "a ticket completes once");
    assert_eq!((write.operation_index, read.operation_index), (5, 6));
    let mut latencies = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let submission = disk.submit(DiskOp::Length { path: "f".into() })?;
        latencies.insert(submission.latency);
        assert!(disk.complete(submission.ticket).is_some());
    }
    assert!(latencies.len() > 20 && latencies.iter().all(|l| (us(20)..=us(80)).contains(l)));
    Ok(())
}

// The slow tail adds `slow_latency` to a submission at `slow_probability`.
#[test]
fn slow_tail_adds_its_latency() -> TestResult {
    let config = DiskConfig {
        latency_min: us(10),
        latency_max: us(10),
        slow_probability: 1.0,
        slow_latency: us(5_000),
        ..config(UnsyncedOnCrash::Lost)
    };
    let mut disk = disk(1, config)?;
    assert_eq!(disk.submit(DiskOp::SyncDirectory)?.latency, us(5_010));
    Ok(())
}

/// Every outcome and event of a fixed script under every fault at once, for comparisons.
fn scripted_outcomes(seed: u64, config: DiskConfig) -> Result<Vec<String>, DiskConfigError> {
    let mut disk = disk(seed, config)?;
    let mut outcomes = Vec::new();
    for round in 0..40u8 {
        let path = ["a", "b", "c"][usize::from(round % 3)];
        outcomes.push(format!("{:?}", disk.create(path)));
        outcomes.push(format!("{:?}", disk.write(path, u64::from(round) * 7, &[round; 30])));
        outcomes.push(format!("{:?}", disk.read(path, 0, 64)));
        outcomes.push(format!("{:?}", disk.sync(path)));
        if round % 5 == 4 {
            outcomes.push(format!("{:?}", disk.sync_directory()));
            outcomes.push(format!("{:?}", disk.crash()));
        }
        if disk.crash_pending() {
            outcomes.push(format!("{:?}", disk.crash()));
        }
    }
    outcomes.extend(disk.drain_events().map(|event| format!("{event:?}")));
    outcomes.push(format!("{:?}", disk.stats()));
    Ok(outcomes)
}

fn every_fault(probability: f64) -> DiskConfig {
    DiskConfig {
        read_error_probability: probability,
        write_error_probability: probability,
        read_corruption_probability: probability,
        latent_corruption_probability: probability,
        misdirected_write_probability: probability,
        crash_probability_per_operation: probability / 4.0,
        ..config(UnsyncedOnCrash::Random)
    }
}

// Determinism: the same seed gives the identical sequence of outcomes and events; another
// seed gives a different one.
#[test]
fn same_seed_gives_identical_outcomes() -> TestResult {
    let first = scripted_outcomes(11, every_fault(0.2))?;
    assert_eq!(first, scripted_outcomes(11, every_fault(0.2))?);
    assert_ne!(first, scripted_outcomes(12, every_fault(0.2))?);
    Ok(())
}

// Stream independence: enabling write errors (on another file) leaves the read-corruption
// pattern exactly as it was, and a disabled fault draws nothing.
#[test]
fn enabling_one_fault_family_does_not_shift_another() -> TestResult {
    let corrupted_reads = |write_error_probability: f64| -> Result<Vec<u64>, Box<dyn Error>> {
        let mut disk = Disk::new(5, 2, config(UnsyncedOnCrash::Lost))?;
        disk.create("read_me")?;
        disk.create("write_me")?;
        disk.write("read_me", 0, &[0; 64])?;
        disk.set_config(DiskConfig {
            read_corruption_probability: 0.3,
            write_error_probability,
            ..config(UnsyncedOnCrash::Lost)
        })?;
        let mut pattern = Vec::new();
        for _ in 0..100 {
            let _ = disk.write("write_me", 0, b"noise");
            let read = disk.read("read_me", 0, 64)?;
            let flipped = read.iter().position(|b| *b != 0).map_or(u64::MAX, |at| at as u64);
            pattern.push(flipped);
        }
        Ok(pattern)
    };
    let without = corrupted_reads(0.0)?;
    assert_eq!(without, corrupted_reads(0.5)?);
    assert!(without.iter().filter(|at| **at != u64::MAX).count() > 10);
    Ok(())
}

// Property: over many seeds, random operations and faults, and crashes in every mode, every
// byte synced (and not changed since) reads back unchanged after the crash.
#[test]
fn synced_bytes_survive_random_histories() -> TestResult {
    const PATHS: [&str; 3] = ["x", "y", "z"];
    let mut totals = DiskStats::default();
    for seed in 0..300 {
        let mut choices = Stream::new(seed, "test.disk.history");
        let config = DiskConfig {
            write_error_probability: 0.05,
            crash_probability_per_operation: 0.02,
            sector_size_bytes: 1 + choices.below(32),
            ..config(UnsyncedOnCrash::Random)
        };
        let mut disk = disk(seed, DiskConfig { sector_size_bytes: 1, ..DiskConfig::default() })?;
        // Per file: the bytes at its last sync, and which of them changed since.
        let mut synced: Vec<Vec<u8>> = vec![Vec::new(); PATHS.len()];
        let mut touched: Vec<Vec<bool>> = vec![Vec::new(); PATHS.len()];
        for path in PATHS {
            disk.create(path)?;
        }
        disk.sync_directory()?;
        disk.set_config(config)?;
        for step in 0..200u64 {
            let file = choices.below(PATHS.len() as u64) as usize;
            let path = PATHS[file];
            let length_now = contents(&disk, path).len() as u64;
            let mut mark = |start: u64, end: u64| {
                let marks = &mut touched[file];
                if marks.len() < end as usize {
                    marks.resize(end as usize, false);
                }
                marks[start as usize..end as usize].iter_mut().for_each(|m| *m = true);
            };
            match choices.below(4) {
                0 | 1 => {
                    let offset = choices.below(length_now + 40);
                    let data = vec![step as u8; 1 + choices.below(50) as usize];
                    if disk.write(path, offset, &data).is_ok() {
                        mark(offset.min(length_now), offset + data.len() as u64);
                    }
                }
                2 => {
                    let length = choices.below(length_now + 20);
                    if disk.truncate(path, length).is_ok() {
                        mark(length.min(length_now), length.max(length_now));
                    }
                }
                _ => {
                    if disk.sync(path).is_ok() {
                        synced[file] = contents(&disk, path);
                        touched[file].clear();
                    }
                }
            }
            if disk.crash_pending() || choices.below(20) == 0 {
                let report = disk.crash();
                for (file, path) in PATHS.iter().enumerate() {
                    let after = contents(&disk, path);
                    for (at, byte) in synced[file].iter().enumerate() {
                        if !touched[file].get(at).copied().unwrap_or(false) {
                            assert_eq!(
                                after.get(at),
                                Some(byte),
                                "seed {seed} {path}@{at} {report:?}"
                            );
                        }
                    }
                    synced[file] = after;
                    touched[file].clear();
                }
            }
        }
        totals.merge(disk.stats());
    }
    // The property is only as strong as the histories: every fate must have occurred.
    assert!(totals.crash_points > 100 && totals.crashes > 1000, "{totals:?}");
    assert!(totals.unsynced_changes_kept > 1000 && totals.unsynced_changes_lost > 1000);
    assert!(totals.unsynced_changes_torn > 100 && totals.write_errors_injected > 100);
    Ok(())
}

// Configuration: out-of-range probabilities (NaN included), a zero sector and an inverted
// latency range are typed errors, at construction and at reconfiguration.
#[test]
fn invalid_configurations_are_refused() -> TestResult {
    let base = DiskConfig::default();
    let cases = [
        DiskConfig { read_error_probability: 1.5, ..base },
        DiskConfig { misdirected_write_probability: -0.1, ..base },
        DiskConfig { crash_probability_per_operation: f64::NAN, ..base },
        DiskConfig { sector_size_bytes: 0, ..base },
        DiskConfig { latency_min: us(2), latency_max: us(1), ..base },
    ];
    for config in cases {
        assert!(Disk::new(1, 0, config).is_err(), "{config:?}");
    }
    let mut disk = disk(1, base)?;
    assert_eq!(
        disk.set_config(DiskConfig { slow_probability: 2.0, ..base }),
        Err(DiskConfigError::ProbabilityOutOfRange { field: "slow_probability", value: 2.0 })
    );
    assert_eq!(disk.config(), &base);
    Ok(())
}

// Names: errors for missing and taken names, POSIX rename-over, sorted prefix listing, and
// short reads at the end of a file.
#[test]
fn names_and_reads_behave_like_a_filesystem() -> TestResult {
    let mut disk = disk(1, config(UnsyncedOnCrash::Lost))?;
    assert_eq!(disk.read("nope", 0, 1), Err(DiskError::NotFound { path: "nope".into() }));
    for path in ["log.2", "log.1", "meta", "log.10"] {
        disk.create(path)?;
    }
    assert_eq!(disk.create("meta"), Err(DiskError::AlreadyExists { path: "meta".into() }));
    assert_eq!(disk.list("log.")?, vec!["log.1", "log.10", "log.2"]);
    disk.write("log.1", 0, b"one")?;
    disk.rename("log.1", "meta")?;
    assert_eq!(disk.list("")?, vec!["log.10", "log.2", "meta"]);
    assert_eq!(disk.read("meta", 1, 100)?, b"ne");
    assert_eq!(disk.read("meta", 100, 5)?, b"");
    disk.write("meta", 5, b"!")?;
    assert_eq!(disk.read("meta", 0, 100)?, b"one\0\0!");
    let stats = *disk.stats();
    assert_eq!((stats.reads, stats.bytes_read, stats.writes, stats.bytes_written), (3, 8, 2, 4));
    Ok(())
}

// Internal check on the file model: `durable` is untouched by unsynced changes.
#[test]
fn unsynced_changes_do_not_reach_the_durable_copy() {
    let mut file = file::FileData::default();
    file.write(0, b"abc");
    file.sync();
    file.write(1, b"Z");
    file.resize(10);
    assert_eq!(file.durable(), b"abc");
    assert_eq!(file.current(), b"aZc\0\0\0\0\0\0\0");
}
