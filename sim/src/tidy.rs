//! The determinism rules, for a user's own crate: what protocol and workload code must not
//! use (hashed iteration, the wall clock, ambient randomness, global mutable state, the
//! unbiased `select!` of `futures`), as a source check a test can call and as the
//! `clippy.toml` that enforces the same rules at lint time. Orrery checks its own sources
//! with it (`tests/tidy.rs`).
//!
//! ```no_run
//! // tests/tidy.rs of your crate
//! #[test]
//! fn protocol_code_stays_deterministic() {
//!     orrery_sim::tidy::assert_deterministic(&["src"]);
//! }
//! ```
//!
//! This reads files; it is for tests, never for code inside a simulated run. A sweep also
//! re-runs a sample of its seeds and compares fingerprints, which catches what a source
//! check cannot see (a dependency drawing from `thread_rng`).

use std::fmt;
use std::path::{Path, PathBuf};

/// Patterns that must not appear in protocol code, with why. (Each is spelt in two halves
/// here so that this file passes its own check.)
pub const FORBIDDEN: [(&str, &str); 12] = [
    (concat!("Hash", "Map"), "hashed iteration order differs between processes"),
    (concat!("Hash", "Set"), "hashed iteration order differs between processes"),
    (concat!("Random", "State"), "seeded from the OS"),
    (concat!("Instant::", "now"), "wall clock"),
    (concat!("System", "Time"), "wall clock"),
    (concat!("thread_", "rng"), "ambient randomness"),
    (concat!("Os", "Rng"), "ambient randomness"),
    (concat!("rand::", "rng("), "ambient randomness"),
    (concat!("from_", "entropy"), "ambient randomness"),
    (concat!("static ", "mut"), "global mutable state breaks hermetic parallel seeds"),
    (concat!("thread_", "local!"), "hidden per-thread state breaks hermetic parallel seeds"),
    (
        concat!("futures::", "select!"),
        "picks among ready branches from a thread-local generator: use select_biased!",
    ),
];

/// A line may use a forbidden item only with this marker (on it or the line above) and a
/// reason, for code that runs outside any simulated run.
pub const ALLOW_MARKER: &str = "tidy: allow";

/// The same rules as a `clippy.toml`: put it at your crate's root so `cargo clippy` refuses
/// them too.
pub const CLIPPY_TOML: &str = concat!(
    "disallowed-types = [\n",
    "    { path = \"std::collections::Hash",
    "Map\", reason = \"iteration order is random per process: use BTreeMap or a Vec\" },\n",
    "    { path = \"std::collections::Hash",
    "Set\", reason = \"iteration order is random per process: use BTreeSet or a Vec\" },\n",
    "    { path = \"std::collections::hash_map::Random",
    "State\", reason = \"seeded from the OS: runs would differ\" },\n",
    "]\n",
    "disallowed-methods = [\n",
    "    { path = \"std::time::Instant::",
    "now\", reason = \"wall clock: use the world's virtual time\" },\n",
    "    { path = \"std::time::System",
    "Time::now\", reason = \"wall clock: use the world's virtual time\" },\n",
    "]\n",
    "disallowed-macros = [\n",
    "    { path = \"futures_util::",
    "select\", reason = \"picks among ready branches with a thread-local generator seeded by a \
     process-wide counter, so a seed's run depends on what ran before it on the thread: use \
     `futures::select_biased!` (branches in the order written)\" },\n",
    "]\n",
);

/// One use of a forbidden item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The source file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What was found.
    pub pattern: &'static str,
    /// Why it is forbidden.
    pub why: &'static str,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: `{}` ({})", self.file.display(), self.line, self.pattern, self.why)
    }
}

/// Every use of a forbidden item in the Rust sources under `dirs` (recursively, in path
/// order), outside comments and lines marked with `ALLOW_MARKER`. A directory that does not
/// exist is a finding too: a check over nothing must not pass.
pub fn check(dirs: &[impl AsRef<Path>]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for dir in dirs {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            findings.push(Finding {
                file: dir.to_path_buf(),
                line: 0,
                pattern: "(no such directory)",
                why: "nothing was checked",
            });
            continue;
        }
        let mut files = Vec::new();
        rust_files(dir, &mut files);
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else { continue };
            findings.extend(check_text(&file, &text));
        }
    }
    findings
}

/// Panics with every finding, for a `#[test]`; also if `dirs` hold no Rust source at all.
pub fn assert_deterministic(dirs: &[impl AsRef<Path>]) {
    let mut files = Vec::new();
    for dir in dirs {
        rust_files(dir.as_ref(), &mut files);
    }
    assert!(!files.is_empty(), "tidy found no Rust sources under the given directories");
    let findings = check(dirs);
    let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(findings.is_empty(), "determinism rules broken:\n{}", lines.join("\n"));
}

/// The findings of one source text.
pub fn check_text(file: &Path, text: &str) -> Vec<Finding> {
    let lines: Vec<&str> = text.lines().collect();
    let mut findings = Vec::new();
    for (number, line) in lines.iter().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let marked = line.contains(ALLOW_MARKER)
            || number.checked_sub(1).is_some_and(|previous| lines[previous].contains(ALLOW_MARKER));
        if marked {
            continue;
        }
        for (pattern, why) in FORBIDDEN {
            if code.contains(pattern) {
                findings.push(Finding { file: file.to_path_buf(), line: number + 1, pattern, why });
            }
        }
    }
    findings
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves each forbidden item is found with its line, comments and marked lines are not,
    // and a check over a directory that does not exist does not pass.
    #[test]
    fn finds_forbidden_items_outside_comments_and_marked_lines() {
        let text = [
            format!("use std::collections::{};", FORBIDDEN[0].0),
            format!("// {} in a comment", FORBIDDEN[3].0),
            format!("let t = {}(); // {ALLOW_MARKER} (progress bar)", FORBIDDEN[3].0),
            "let unrelated = 1;".to_string(),
            format!("let r = rand::{}();", FORBIDDEN[5].0),
        ]
        .join("\n");
        let found: Vec<(usize, &str)> =
            check_text(Path::new("x.rs"), &text).iter().map(|f| (f.line, f.pattern)).collect();
        assert_eq!(found, [(1, FORBIDDEN[0].0), (5, FORBIDDEN[5].0)]);
        let missing = check(&["/no/such/dir/for/tidy"]);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].why, "nothing was checked");
    }
}
