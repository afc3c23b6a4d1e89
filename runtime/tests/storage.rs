//! `DirectoryStorage` against the simulated disk's contract: the same operations give the same
//! answers on both, and the durable helpers keep their promises across a real reopen.

mod support;

use orrery_runtime::DirectoryStorage;
use orrery_sim::disk::{Disk, DiskConfig, DiskOp, DiskOutput};
use orrery_sim::durable::{DurableCell, DurableLog};
use orrery_sim::Storage;

use support::TempDir;

/// One operation and its answer, rendered so both disks' answers compare as text.
fn apply(disk: &mut impl Storage, step: &DiskOp) -> String {
    let answer = match step.clone() {
        DiskOp::Create { path } => disk.create(&path).map(|()| DiskOutput::Done),
        DiskOp::Exists { path } => disk.exists(&path).map(DiskOutput::Exists),
        DiskOp::Read { path, offset_bytes, length_bytes } => {
            disk.read(&path, offset_bytes, length_bytes).map(DiskOutput::Bytes)
        }
        DiskOp::Write { path, offset_bytes, data } => {
            disk.write(&path, offset_bytes, &data).map(|()| DiskOutput::Done)
        }
        DiskOp::Append { path, data } => {
            disk.append(&path, &data).map(|offset_bytes| DiskOutput::AppendedAt { offset_bytes })
        }
        DiskOp::Length { path } => {
            disk.length_bytes(&path).map(|length_bytes| DiskOutput::Length { length_bytes })
        }
        DiskOp::Truncate { path, length_bytes } => {
            disk.truncate(&path, length_bytes).map(|()| DiskOutput::Done)
        }
        DiskOp::Delete { path } => disk.delete(&path).map(|()| DiskOutput::Done),
        DiskOp::Rename { from, to } => disk.rename(&from, &to).map(|()| DiskOutput::Done),
        DiskOp::List { prefix } => disk.list(&prefix).map(DiskOutput::Names),
        DiskOp::Sync { path } => disk.sync(&path).map(|()| DiskOutput::Done),
        DiskOp::SyncDirectory => disk.sync_directory().map(|()| DiskOutput::Done),
    };
    format!("{step:?} -> {answer:?}")
}

// Proves the real directory answers every operation as the simulated disk does, errors
// included, names that a file system cannot hold as-is included.
#[test]
fn a_real_directory_answers_as_the_simulated_disk() {
    use DiskOp::*;
    let s = |text: &str| text.to_string();
    let steps = [
        Exists { path: s("a") },
        Create { path: s("a") },
        Create { path: s("a") },
        Write { path: s("missing"), offset_bytes: 0, data: vec![1] },
        Append { path: s("a"), data: b"hello".to_vec() },
        Append { path: s("a"), data: b" world".to_vec() },
        Write { path: s("a"), offset_bytes: 14, data: b"!".to_vec() },
        Length { path: s("a") },
        Read { path: s("a"), offset_bytes: 0, length_bytes: 100 },
        Read { path: s("a"), offset_bytes: 6, length_bytes: 5 },
        Read { path: s("a"), offset_bytes: 99, length_bytes: 5 },
        Truncate { path: s("a"), length_bytes: 5 },
        Read { path: s("a"), offset_bytes: 0, length_bytes: 100 },
        Truncate { path: s("a"), length_bytes: 8 },
        Read { path: s("a"), offset_bytes: 0, length_bytes: 100 },
        Sync { path: s("a") },
        Sync { path: s("missing") },
        Create { path: s("dir/odd%name") },
        Create { path: s(".hidden") },
        Create { path: s("b.tmp") },
        Append { path: s("b.tmp"), data: b"new".to_vec() },
        Rename { from: s("b.tmp"), to: s("a") },
        Read { path: s("a"), offset_bytes: 0, length_bytes: 100 },
        Rename { from: s("missing"), to: s("a") },
        SyncDirectory,
        List { prefix: s("") },
        List { prefix: s("dir/") },
        Delete { path: s("dir/odd%name") },
        Delete { path: s("dir/odd%name") },
        Exists { path: s("dir/odd%name") },
        List { prefix: s("") },
    ];
    let data = TempDir::new("storage-conformance");
    let mut real = DirectoryStorage::open(data.path().join("disk")).expect("a directory");
    let mut simulated = Disk::new(1, 0, DiskConfig::default()).expect("a disk");
    for step in &steps {
        assert_eq!(apply(&mut real, step), apply(&mut simulated, step));
    }
}

// Proves completion-based operations complete in submission order with the same results as
// immediate ones.
#[test]
fn submissions_complete_in_order() {
    let data = TempDir::new("storage-submit");
    let mut disk = DirectoryStorage::open(data.path()).expect("a directory");
    let create = disk.submit(DiskOp::Create { path: "f".into() }).expect("submitted");
    let append = disk.submit(DiskOp::Append { path: "f".into(), data: vec![9; 3] }).expect("ok");
    let length = disk.submit(DiskOp::Length { path: "f".into() }).expect("submitted");
    let completions: Vec<_> = std::iter::from_fn(|| disk.next_completion()).collect();
    assert_eq!(
        completions,
        [
            (create, Ok(DiskOutput::Done)),
            (append, Ok(DiskOutput::AppendedAt { offset_bytes: 0 })),
            (length, Ok(DiskOutput::Length { length_bytes: 3 })),
        ]
    );
    assert!(create < append && append < length);
}

// Proves the durable helpers work unchanged on a real directory: a cell and a log read back
// after the storage is reopened (as after a process restart), and a torn log tail (a write
// a crash cut short) is cut off on recovery, keeping every whole record before it.
#[test]
fn durable_helpers_survive_a_reopen_and_a_torn_tail() {
    let data = TempDir::new("storage-durable");
    let directory = data.path().join("disk");
    {
        let mut disk = DirectoryStorage::open(&directory).expect("a directory");
        let mut cell = DurableCell::open(&mut disk, "hard", (0u64, None::<u32>)).expect("cell");
        cell.set(&mut disk, (7, Some(2))).expect("stored");
        let (mut log, entries) = DurableLog::<String>::open(&mut disk, "log").expect("log");
        assert!(entries.is_empty());
        for entry in ["one", "two", "three"] {
            log.append(&mut disk, &entry.to_string()).expect("appended");
        }
        log.sync(&mut disk).expect("synced");
    }
    // A crash in the middle of appending a fourth record: half of it reached the file.
    let mut record = Vec::new();
    {
        let scratch = TempDir::new("storage-durable-scratch");
        let mut disk = DirectoryStorage::open(scratch.path()).expect("a directory");
        let (mut log, _) = DurableLog::<String>::open(&mut disk, "log").expect("log");
        log.append(&mut disk, &"four".to_string()).expect("appended");
        record.extend(disk.read_all("log").expect("read"));
    }
    let mut disk = DirectoryStorage::open(&directory).expect("reopened");
    let whole = disk.length_bytes("log").expect("length");
    disk.append("log", &record[..record.len() / 2]).expect("a torn tail");
    let cell = DurableCell::open(&mut disk, "hard", (0u64, None::<u32>)).expect("cell");
    assert_eq!(*cell.get(), (7, Some(2)));
    let (_, entries) = DurableLog::<String>::open(&mut disk, "log").expect("recovered");
    assert_eq!(entries, ["one", "two", "three"]);
    assert_eq!(disk.length_bytes("log").expect("length"), whole, "the torn tail is cut off");
    assert_eq!(disk.list("").expect("names"), ["hard", "log"], "no temporary file is left");
}
