//! Tidy: the determinism rules, checked over the engine and workload sources by a plain test
//! (`orrery_sim::tidy`, the same check a user's crate can run), so a missing lint
//! configuration or an `allow` in the wrong place cannot let ambient time, randomness or
//! hashed iteration into a run unnoticed.

use std::path::Path;

// Proves no engine or workload source uses hashed collections, the wall clock, ambient
// randomness or global mutable state outside explicitly marked lines.
#[test]
fn engine_and_workloads_stay_deterministic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    orrery_sim::tidy::assert_deterministic(&[root.join("sim/src"), root.join("workloads/src")]);
}

// Proves the repository's clippy.toml holds the rules `tidy::CLIPPY_TOML` gives users, so the
// lint path and the source check cannot drift apart.
#[test]
fn clippy_configuration_forbids_the_same_things() {
    let config = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("clippy.toml"))
        .expect("clippy.toml at the root");
    for line in orrery_sim::tidy::CLIPPY_TOML.lines().filter(|l| l.contains("path =")) {
        assert!(config.contains(line.trim()), "clippy.toml lacks {line}");
    }
}
