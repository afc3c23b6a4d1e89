//! `DirectoryStorage`: the `Storage` a production node's process uses, over a real directory
//! with real `fdatasync` (a file's `sync`) and directory `fsync` (`sync_directory`).
//!
//! The contract is the simulated disk's, which the real one keeps for real: written data is
//! durable only after `sync`, a create, rename or delete only after `sync_directory`, so code
//! that survives the simulated crash contract (the durable helpers, raft-kv's storage)
//! survives a power loss on this one. Operations return the errors the simulated disk
//! returns for the same mistakes (`NotFound`, `AlreadyExists`); an operating-system failure is
//! `DiskError::Io` (logged with the OS's reason) or `NoSpace`.
//!
//! The namespace is flat, as on the simulated disk: any name is a file of the directory.
//! Bytes that a file name cannot hold (`/`, a leading `.`, control characters, `%`) are
//! stored `%XX`-escaped and listed back as the name the process gave. Files stay open
//! between operations. Operations are synchronous: `submit` performs its operation at once
//! and the completion arrives in `on_disk` after the current callback.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use orrery_sim::disk::{DiskError, DiskOp, DiskOpKind, DiskOutput, DiskTicket};
use orrery_sim::Storage;

/// A node's files in one directory of the host's file system.
#[derive(Debug)]
pub struct DirectoryStorage {
    directory: PathBuf,
    open: BTreeMap<String, File>,
    completions: VecDeque<(DiskTicket, Result<DiskOutput, DiskError>)>,
    ticket_next: u64,
}

impl DirectoryStorage {
    /// The storage in `directory`, created (and its parent's entry synced) if missing.
    pub fn open(directory: impl Into<PathBuf>) -> io::Result<DirectoryStorage> {
        let directory = directory.into();
        if !directory.is_dir() {
            std::fs::create_dir_all(&directory)?;
            if let Some(parent) = directory.parent().filter(|p| !p.as_os_str().is_empty()) {
                File::open(parent)?.sync_all()?;
            }
        }
        Ok(DirectoryStorage {
            directory,
            open: BTreeMap::new(),
            completions: VecDeque::new(),
            ticket_next: 0,
        })
    }

    /// The directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The oldest completed submission not yet delivered to the process.
    pub fn next_completion(&mut self) -> Option<(DiskTicket, Result<DiskOutput, DiskError>)> {
        self.completions.pop_front()
    }

    fn path_of(&self, name: &str) -> PathBuf {
        self.directory.join(escape(name))
    }

    /// The open file behind `name`, opening it if it exists.
    fn file(&mut self, kind: DiskOpKind, name: &str) -> Result<&File, DiskError> {
        if !self.open.contains_key(name) {
            let path = self.path_of(name);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|error| disk_error(kind, name, &error))?;
            self.open.insert(name.to_string(), file);
        }
        Ok(&self.open[name])
    }

    fn perform(&mut self, op: DiskOp) -> Result<DiskOutput, DiskError> {
        Ok(match op {
            DiskOp::Create { path } => self.create(&path).map(|()| DiskOutput::Done)?,
            DiskOp::Exists { path } => DiskOutput::Exists(self.exists(&path)?),
            DiskOp::Read { path, offset_bytes, length_bytes } => {
                DiskOutput::Bytes(self.read(&path, offset_bytes, length_bytes)?)
            }
            DiskOp::Write { path, offset_bytes, data } => {
                self.write(&path, offset_bytes, &data).map(|()| DiskOutput::Done)?
            }
            DiskOp::Append { path, data } => {
                DiskOutput::AppendedAt { offset_bytes: self.append(&path, &data)? }
            }
            DiskOp::Length { path } => {
                DiskOutput::Length { length_bytes: self.length_bytes(&path)? }
            }
            DiskOp::Truncate { path, length_bytes } => {
                self.truncate(&path, length_bytes).map(|()| DiskOutput::Done)?
            }
            DiskOp::Delete { path } => self.delete(&path).map(|()| DiskOutput::Done)?,
            DiskOp::Rename { from, to } => self.rename(&from, &to).map(|()| DiskOutput::Done)?,
            DiskOp::List { prefix } => DiskOutput::Names(self.list(&prefix)?),
            DiskOp::Sync { path } => self.sync(&path).map(|()| DiskOutput::Done)?,
            DiskOp::SyncDirectory => self.sync_directory().map(|()| DiskOutput::Done)?,
        })
    }
}

impl Storage for DirectoryStorage {
    fn create(&mut self, path: &str) -> Result<(), DiskError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.path_of(path))
            .map_err(|error| disk_error(DiskOpKind::Create, path, &error))?;
        self.open.insert(path.to_string(), file);
        Ok(())
    }

    fn exists(&mut self, path: &str) -> Result<bool, DiskError> {
        if self.open.contains_key(path) {
            return Ok(true);
        }
        match std::fs::symlink_metadata(self.path_of(path)) {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
            Err(error) => Err(disk_error(DiskOpKind::Exists, path, &error)),
        }
    }

    fn write(&mut self, path: &str, offset_bytes: u64, data: &[u8]) -> Result<(), DiskError> {
        let file = self.file(DiskOpKind::Write, path)?;
        file.write_all_at(data, offset_bytes)
            .map_err(|error| disk_error(DiskOpKind::Write, path, &error))
    }

    fn append(&mut self, path: &str, data: &[u8]) -> Result<u64, DiskError> {
        let file = self.file(DiskOpKind::Append, path)?;
        let fail = |error: io::Error| disk_error(DiskOpKind::Append, path, &error);
        let offset_bytes = file.metadata().map_err(fail)?.len();
        file.write_all_at(data, offset_bytes).map_err(fail)?;
        Ok(offset_bytes)
    }

    fn read(
        &mut self,
        path: &str,
        offset_bytes: u64,
        length_bytes: u64,
    ) -> Result<Vec<u8>, DiskError> {
        let file = self.file(DiskOpKind::Read, path)?;
        let fail = |error: io::Error| disk_error(DiskOpKind::Read, path, &error);
        let length_now = file.metadata().map_err(fail)?.len();
        let end = offset_bytes.saturating_add(length_bytes).min(length_now);
        let mut bytes = vec![0; end.saturating_sub(offset_bytes) as usize];
        file.read_exact_at(&mut bytes, offset_bytes).map_err(fail)?;
        Ok(bytes)
    }

    fn length_bytes(&mut self, path: &str) -> Result<u64, DiskError> {
        let file = self.file(DiskOpKind::Length, path)?;
        let metadata = file.metadata();
        metadata.map(|m| m.len()).map_err(|error| disk_error(DiskOpKind::Length, path, &error))
    }

    fn truncate(&mut self, path: &str, length_bytes: u64) -> Result<(), DiskError> {
        let file = self.file(DiskOpKind::Truncate, path)?;
        file.set_len(length_bytes).map_err(|error| disk_error(DiskOpKind::Truncate, path, &error))
    }

    fn delete(&mut self, path: &str) -> Result<(), DiskError> {
        std::fs::remove_file(self.path_of(path))
            .map_err(|error| disk_error(DiskOpKind::Delete, path, &error))?;
        self.open.remove(path);
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        std::fs::rename(self.path_of(from), self.path_of(to))
            .map_err(|error| disk_error(DiskOpKind::Rename, from, &error))?;
        if from != to {
            self.open.remove(to);
            if let Some(file) = self.open.remove(from) {
                self.open.insert(to.to_string(), file);
            }
        }
        Ok(())
    }

    fn list(&mut self, prefix: &str) -> Result<Vec<String>, DiskError> {
        let fail = |error: io::Error| disk_error(DiskOpKind::List, prefix, &error);
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.directory).map_err(fail)? {
            let entry = entry.map_err(fail)?;
            let Some(name) = entry.file_name().to_str().and_then(unescape) else { continue };
            if name.starts_with(prefix) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        let file = self.file(DiskOpKind::Sync, path)?;
        file.sync_data().map_err(|error| disk_error(DiskOpKind::Sync, path, &error))
    }

    fn sync_directory(&mut self) -> Result<(), DiskError> {
        File::open(&self.directory)
            .and_then(|directory| directory.sync_all())
            .map_err(|error| disk_error(DiskOpKind::SyncDirectory, "", &error))
    }

    fn submit(&mut self, op: DiskOp) -> Result<DiskTicket, DiskError> {
        let ticket = DiskTicket::new(self.ticket_next);
        self.ticket_next += 1;
        let result = self.perform(op);
        self.completions.push_back((ticket, result));
        Ok(ticket)
    }
}

/// The simulated disk's error for what the operating system said.
fn disk_error(operation: DiskOpKind, path: &str, error: &io::Error) -> DiskError {
    let path = path.to_string();
    match error.kind() {
        ErrorKind::NotFound => DiskError::NotFound { path },
        ErrorKind::AlreadyExists => DiskError::AlreadyExists { path },
        ErrorKind::StorageFull => DiskError::NoSpace { operation, path },
        _ => {
            tracing::warn!(target: "orrery::disk", %error, "{} of {path:?} failed", operation.name());
            DiskError::Io { operation, path }
        }
    }
}

/// The file name that stores `name`: bytes a name cannot hold as `%XX`.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.is_empty() {
        // The directory itself has no name: the empty name gets one a name never escapes to.
        return "%".to_string();
    }
    for (index, byte) in name.bytes().enumerate() {
        let plain = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'+' | b',' | b'=' | b'@')
            || (byte == b'.' && index > 0);
        if plain {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The name a file name stores, `None` for one `escape` never makes (not ours).
fn unescape(file_name: &str) -> Option<String> {
    if file_name == "%" {
        return Some(String::new());
    }
    let mut bytes = Vec::with_capacity(file_name.len());
    let mut rest = file_name.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    let name = String::from_utf8(bytes).ok()?;
    (escape(&name) == file_name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves names are stored losslessly: awkward names escape to plain file names that list
    // back as themselves, and file names escape never makes are not taken for ours.
    #[test]
    fn names_escape_and_unescape() {
        for name in ["raft.log", "", ".", "..", "a/b", "50%", "tmp.raft.hard", "é", "\n"] {
            let stored = escape(name);
            assert!(!stored.contains('/') && stored != "." && stored != "..", "{stored}");
            assert!(!stored.starts_with('.'), "{stored}");
            assert_eq!(unescape(&stored).as_deref(), Some(name), "{stored}");
        }
        assert_eq!(escape("raft.log"), "raft.log");
        assert_eq!(unescape(".hidden"), None);
        assert_eq!(unescape("%2"), None);
        assert_eq!(unescape("%61"), None, "`a` is never escaped");
    }
}
