//! Tidy: the determinism rules of clippy.toml, checked over the engine and workload sources
//! by a plain test, so a missing lint configuration or an `allow` in the wrong place cannot
//! let ambient time, randomness or hashed iteration into a run unnoticed.

use std::path::{Path, PathBuf};

/// Patterns that must not appear in `sim/` or `workloads/`, with why.
const FORBIDDEN: [(&str, &str); 12] = [
    ("HashMap", "hashed iteration order differs between processes"),
    ("HashSet", "hashed iteration order differs between processes"),
    ("RandomState", "seeded from the OS"),
    ("Instant::now", "wall clock"),
    ("SystemTime", "wall clock"),
    ("thread_rng", "ambient randomness"),
    ("OsRng", "ambient randomness"),
    ("rand::rng(", "ambient randomness"),
    ("from_entropy", "ambient randomness"),
    ("static mut", "global mutable state breaks hermetic parallel seeds"),
    ("thread_local!", "hidden per-thread state breaks hermetic parallel seeds"),
    ("futures::select!", "picks among ready branches from an ambient generator: select_biased!"),
];

/// A line may use a forbidden item only with this marker and a reason, for code that runs
/// outside any simulated run (the runner's wall-clock watchdog, progress display).
const ALLOW_MARKER: &str = "tidy: allow";

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

// Proves no engine or workload source uses hashed collections, the wall clock, ambient
// randomness or global mutable state outside explicitly marked lines.
#[test]
fn engine_and_workloads_stay_deterministic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["sim/src", "workloads/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 10, "tidy found too few sources; did the layout move?");
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        let lines: Vec<&str> = text.lines().collect();
        for (number, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let marked = line.contains(ALLOW_MARKER)
                || number
                    .checked_sub(1)
                    .is_some_and(|previous| lines[previous].contains(ALLOW_MARKER));
            for (pattern, why) in FORBIDDEN {
                if code.contains(pattern) && !marked {
                    problems.push(format!(
                        "{}:{}: `{pattern}` ({why})",
                        file.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "determinism rules broken:\n{}", problems.join("\n"));
}

// Proves the tidy rules match clippy.toml, so the two enforcement paths cannot drift apart.
#[test]
fn clippy_configuration_forbids_the_same_things() {
    let config = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("clippy.toml"))
        .expect("clippy.toml at the root");
    for path in [
        "std::collections::HashMap",
        "std::collections::HashSet",
        "RandomState",
        "std::time::Instant::now",
        "std::time::SystemTime::now",
        "futures_util::select",
    ] {
        assert!(config.contains(path), "clippy.toml no longer disallows {path}");
    }
}
