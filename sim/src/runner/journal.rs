//! The journal: a sweep's results on disk as they happen, so that a killed sweep loses
//! nothing it finished and `--resume` runs only what is left.
//!
//! A journal is a JSON-lines file in the output directory, readable by `orrery merge`: a
//! `sweep` header (scenario, path, range, shard, expectation, and a digest of the scenario
//! file), then one seed record per finished seed in completion order, each written whole in
//! one `write` to a file opened for appending, then the closing summary. A resumed sweep
//! first cuts off a torn last line (a write cut short by the kill), then appends a `resume`
//! line and goes on; its summary counts the seeds it read back.
//!
//! Nothing in a journal is ever rewritten: only appended to, or cut back to its last whole
//! line.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::records::{parse_record, Record, Scope};
use super::report::expect_json;
use super::seeds::{SeedRange, SeedSet};
use super::Summary;
use crate::scenario::Expect;

/// The version of the journal's layout.
const FORMAT: u64 = 1;
/// Every journal file name ends so.
const SUFFIX: &str = ".journal.jsonl";

/// What a journal is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalHeader {
    pub scenario: String,
    /// The scenario file as given on the command line.
    pub path: String,
    /// The workload the scenario runs.
    pub workload: String,
    pub seeds: Range<u64>,
    pub shard: Option<(u64, u64)>,
    pub expect: Expect,
    /// A digest of the scenario file's bytes: a journal resumes only the scenario it was of.
    pub digest: u64,
}

impl JournalHeader {
    /// The header line (also the first line of `run --json`'s output).
    pub fn sweep_line(&self) -> String {
        serde_json::json!({
            "type": "sweep",
            "format": FORMAT,
            "scenario": self.scenario,
            "path": self.path,
            "workload": self.workload,
            "seeds": format!("{}..{}", self.seeds.start, self.seeds.end),
            "shard": self.shard.map(|(k, n)| format!("{k}/{n}")),
            "expect": expect_json(self.expect),
            "digest": format!("{:016x}", self.digest),
        })
        .to_string()
    }

    /// The seeds the journal's sweep covers.
    pub fn seed_range(&self) -> SeedRange {
        SeedRange::new(self.seeds.clone(), self.shard)
    }
}

/// Why a journal cannot be written or resumed: the file (and line) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct JournalError {
    pub at: String,
    pub message: String,
}

fn error(at: impl std::fmt::Display, message: impl Into<String>) -> JournalError {
    JournalError { at: at.to_string(), message: message.into() }
}

/// A journal open for appending.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
}

/// What a journal held when it was taken up again.
#[derive(Debug, Clone)]
pub struct Resumed {
    pub header: JournalHeader,
    /// The recorded seeds, counted (`seeds_resumed` is set to all of them).
    pub summary: Summary,
    /// The positions of the recorded seeds in `header.seed_range()`.
    pub done: SeedSet,
    /// A last line cut short by a kill, removed from the file: (its line number, its bytes).
    pub torn: Option<(usize, usize)>,
    /// Whether a complete summary already closes the journal (nothing is left to run).
    pub complete: bool,
    /// Seed records that repeat an earlier one, ignored (a journal written by Orrery has none).
    pub repeated: u64,
}

impl Journal {
    /// A new journal in `dir` (created if need be), named after the sweep; an existing file is
    /// never reused: a numbered name is taken instead.
    pub fn create(dir: &Path, header: &JournalHeader) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(dir).map_err(|e| error(dir.display(), e.to_string()))?;
        let mut base = format!(
            "{}-seeds-{}-{}",
            sanitize(&header.scenario),
            header.seeds.start,
            header.seeds.end
        );
        if let Some((k, n)) = header.shard {
            base.push_str(&format!("-shard-{k}-of-{n}"));
        }
        for number in 1..1_000_000u64 {
            let name = if number == 1 {
                format!("{base}{SUFFIX}")
            } else {
                format!("{base}-{number}{SUFFIX}")
            };
            let path = dir.join(name);
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(file) => {
                    let mut journal = Journal { file, path };
                    journal
                        .append(&header.sweep_line())
                        .map_err(|e| error(journal.path.display(), e.to_string()))?;
                    return Ok(journal);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(error(path.display(), e.to_string())),
            }
        }
        Err(error(dir.display(), format!("too many journals named {base}")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `line` and its line end in one write: a kill leaves it whole or torn at the
    /// end of the file, never interleaved.
    pub fn append(&mut self, line: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.file.write_all(&bytes)
    }

    /// Opens the journal at `path` to go on with it: reads it back, cuts off a torn last
    /// line, and appends a `resume` line (unless it is already complete).
    pub fn resume(path: &Path) -> Result<(Journal, Resumed), JournalError> {
        let at = path.display().to_string();
        let file = File::open(path).map_err(|e| error(&at, e.to_string()))?;
        let mut reader = BufReader::new(file);
        let mut header: Option<JournalHeader> = None;
        let mut summary = Summary::default();
        let mut done = SeedSet::new();
        let mut complete = false;
        let mut repeated = 0;
        let mut torn = None;
        let mut whole_bytes = 0u64;
        let mut line = Vec::new();
        let mut number = 0usize;
        loop {
            line.clear();
            let read =
                reader.read_until(b'\n', &mut line).map_err(|e| error(&at, e.to_string()))?;
            if read == 0 {
                break;
            }
            number += 1;
            let here = format!("{at}:{number}");
            if line.last() != Some(&b'\n') {
                torn = Some((number, line.len()));
                break;
            }
            whole_bytes += read as u64;
            let text = std::str::from_utf8(&line).map_err(|_| error(&here, "not UTF-8 text"))?;
            if text.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(text)
                .map_err(|e| error(&here, format!("not a JSON record: {e}")))?;
            let record = parse_record(&value).map_err(|message| error(&here, message))?;
            match record {
                Record::Sweep { scenario, scope, digest } if header.is_none() => {
                    let Scope { path: scenario_path, workload, seeds, shard, expect } = scope;
                    let digest =
                        digest.ok_or_else(|| error(&here, "the sweep header has no digest"))?;
                    summary = Summary::new(&scenario);
                    header = Some(JournalHeader {
                        scenario,
                        path: scenario_path,
                        workload,
                        seeds,
                        shard,
                        expect,
                        digest,
                    });
                }
                Record::Sweep { .. } => return Err(error(&here, "a second sweep header")),
                _ if header.is_none() => {
                    return Err(error(&here, "not a journal: no sweep header first"))
                }
                Record::Seed { report, .. } => {
                    let seeds = header.as_ref().map(JournalHeader::seed_range);
                    let Some(position) = seeds.and_then(|s| s.position(report.seed)) else {
                        return Err(error(
                            &here,
                            format!("seed {} is not of this sweep", report.seed),
                        ));
                    };
                    if done.insert(position) {
                        summary.add(&report);
                    } else {
                        repeated += 1;
                    }
                }
                Record::Summary { closing, .. } => complete = closing.complete,
                Record::Resume { .. } => complete = false,
            }
        }
        let Some(header) = header else {
            return Err(error(&at, "empty: not a journal"));
        };
        let mut file =
            OpenOptions::new().append(true).open(path).map_err(|e| error(&at, e.to_string()))?;
        if torn.is_some() {
            file.set_len(whole_bytes)
                .map_err(|e| error(&at, format!("cannot cut the torn line: {e}")))?;
            file.seek(SeekFrom::End(0)).map_err(|e| error(&at, e.to_string()))?;
        }
        summary.seeds_resumed = summary.seeds_run;
        let mut journal = Journal { file, path: path.to_path_buf() };
        if !complete {
            let line = serde_json::json!({"type": "resume", "scenario": header.scenario, "seeds_recorded": summary.seeds_run});
            journal.append(&line.to_string()).map_err(|e| error(&at, e.to_string()))?;
        }
        Ok((journal, Resumed { header, summary, done, torn, complete, repeated }))
    }

    /// The journal of scenario `scenario` (file `path`) to resume in `dir`: the newest one
    /// that is not complete, else the newest complete one; one written for the same path is
    /// preferred, but the same file named another way (`./x.yaml`) is found too (the digest
    /// in its header then tells whether it is the same scenario).
    pub fn find(dir: &Path, scenario: &str, path: &str) -> Result<PathBuf, JournalError> {
        let entries = std::fs::read_dir(dir).map_err(|e| error(dir.display(), e.to_string()))?;
        let prefix = format!("{}-seeds-", sanitize(scenario));
        // tidy: allow (file times to pick the newest journal, outside any run)
        let mut candidates: Vec<(bool, bool, std::time::SystemTime, PathBuf)> = Vec::new();
        let mut journals = 0;
        for entry in entries.flatten() {
            let file = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(SUFFIX) {
                continue;
            }
            journals += 1;
            if !name.starts_with(&prefix) {
                continue;
            }
            let Ok(first) = first_line(&file) else { continue };
            let Ok(Record::Sweep { scenario: of, scope, .. }) =
                serde_json::from_str::<Value>(&first)
                    .map_err(|e| e.to_string())
                    .and_then(|v| parse_record(&v))
            else {
                continue;
            };
            if of != scenario {
                continue;
            }
            let same_path = scope.path == path;
            let modified =
                entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            candidates.push((!ends_complete(&file), same_path, modified, file));
        }
        candidates.sort();
        match candidates.pop() {
            Some((_, _, _, file)) => Ok(file),
            None if journals == 0 => Err(error(dir.display(), "no journal here to resume")),
            None => Err(error(
                dir.display(),
                format!("no journal of scenario {scenario} ({path}) here"),
            )),
        }
    }
}

fn first_line(path: &Path) -> io::Result<String> {
    let mut line = String::new();
    BufReader::new(File::open(path)?).read_line(&mut line)?;
    Ok(line)
}

/// Whether the last whole line of the journal is a complete summary.
fn ends_complete(path: &Path) -> bool {
    let Ok(file) = File::open(path) else { return false };
    let mut last = None;
    for line in BufReader::new(file).lines().map_while(Result::ok) {
        if !line.trim().is_empty() {
            last = Some(line);
        }
    }
    last.and_then(|line| serde_json::from_str::<Value>(&line).ok()).is_some_and(|record| {
        record["type"] == "summary"
            && record.get("complete").and_then(Value::as_bool).unwrap_or(true)
    })
}

/// A name made safe for a file name.
pub(crate) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect()
}

/// A digest of a scenario file's bytes (FNV-1a), for journal headers.
pub fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{json_line, SeedReport};

    fn header() -> JournalHeader {
        JournalHeader {
            scenario: "s".to_string(),
            path: "s.yaml".to_string(),
            workload: "w".to_string(),
            seeds: 0..10,
            shard: None,
            expect: Expect::Pass,
            digest: 7,
        }
    }

    fn report(seed: u64) -> SeedReport {
        SeedReport {
            seed,
            fingerprint: seed * 3,
            events: 1,
            vtime: crate::time::Instant::ZERO,
            failure: None,
            unknown: Vec::new(),
            stats: String::new(),
            coverage: Vec::new(),
            fault_effects: vec![("loss".to_string(), seed)],
            determinism_checked: false,
        }
    }

    // Proves a journal read back counts each recorded seed once (a repeat is counted apart),
    // drops a torn last line and cuts it off the file, appends its resume mark after the last
    // whole line, and never reuses a file name for a new journal.
    #[test]
    fn a_journal_resumes_past_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("orrery-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut journal = Journal::create(&dir, &header()).expect("created");
        for seed in [3, 0, 1, 3] {
            journal.append(&json_line("s", &report(seed))).expect("appended");
        }
        let path = journal.path().to_path_buf();
        drop(journal);
        let whole = std::fs::metadata(&path).expect("file").len();
        let torn = json_line("s", &report(2));
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&torn.as_bytes()[..20]))
            .expect("torn");
        let (_, resumed) = Journal::resume(&path).expect("resumes");
        assert_eq!(resumed.header, header());
        assert_eq!(
            (resumed.summary.seeds_run, resumed.summary.seeds_resumed, resumed.repeated),
            (3, 3, 1)
        );
        assert_eq!((resumed.done.len(), resumed.torn), (3, Some((6, 20))));
        assert!(!resumed.complete);
        let text = std::fs::read_to_string(&path).expect("file");
        assert!(text.len() as u64 > whole && text.ends_with("\"type\":\"resume\"}\n"), "{text}");
        for line in text.lines() {
            assert!(serde_json::from_str::<Value>(line).is_ok(), "a whole line each: {line}");
        }
        assert_eq!(text.lines().count(), 1 + 4 + 1, "header, four records, the resume mark");
        assert_eq!(Journal::find(&dir, "s", "./s.yaml").expect("found by name"), path);
        let again = Journal::create(&dir, &header()).expect("a second journal");
        assert_ne!(again.path(), path, "a new journal never reuses an existing file");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
