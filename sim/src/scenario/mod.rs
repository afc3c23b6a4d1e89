//! Scenarios: YAML in, validated with file:line:col, sampled per seed into run plans.
//!
//! One loader (`load` / `parse`) is the only way YAML enters the engine. The file is parsed
//! into `schema` types that mirror it, `validate` resolves and checks them into a
//! `Scenario` (or every problem, located), `Scenario::sample(seed)` draws a concrete
//! `RunPlan`, and `plan_to_yaml` writes a plan back as a scenario with nothing left to chance.
//!
//! Invariants, as absences: no YAML is read anywhere else; no validation error lacks a
//! position (except unreadable or oversized files); no input panics the loader; `sample`
//! draws nothing a disabled family or a fixed fault would need.
//!
//! # The format
//!
//! Keys are the Rust field names; durations are strings with units ("150ms"); enums are
//! tagged by `kind`; unknown keys are errors. Optional sections shown with their defaults.
//!
//! ```yaml
//! name: kv-partitions                  # required
//! description: free text
//! topology:                            # `nodes`, or `count` (+ `role`) for n0..n{count-1}
//!   nodes:
//!     - {name: n0, role: replica, zone: a, rack: r0, machine: m0}   # domains optional
//!     - {name: n1, role: replica, zone: b}
//!     - {name: c0, role: client, zone: b}
//! network:                             # default link settings, then per-link overrides
//!   latency: {kind: uniform, min: 1ms, max: 5ms}  # fixed {value} | uniform {min, max}
//!                                      # | exponential {min, mean}
//!                                      # | long_tail {min, max, slow_probability, slow_min, slow_max}
//!   loss_probability: 0.0              # also duplicate_probability, corrupt_probability
//!   capacity_packets: 1048576
//!   when_full: drop_tail               # or reject
//!   fifo: false
//!   links:
//!     - {from: n0, to: n1, latency: {kind: fixed, value: 20ms}}
//! disk: {crash_unsynced: random}       # every DiskConfig field; lost|kept|torn|reordered|random
//! workload: {name: kv, params: {replicas: 3, timeout: 250ms}}  # checked against the workload
//! max_dead: 1                          # crashes/pauses beyond this many down nodes are skipped
//! faults:                              # `at: T`, or `every: P` with `after` / `until`
//!   - {at: 1s, kind: partition, groups: [[n0], [n1, c0]], duration: 500ms}
//!   - {at: 2s, kind: partition, random: majority_minority}   # or random_halves, per seed
//!   - {at: 3s, kind: partition, isolate: random}            # shapes: groups, isolate, one_way
//!                                                            # {from, to}, ring {order, reach},
//!                                                            # bridge {left, bridge, right}
//!   - {every: 2s, after: 1s, until: 8s, kind: crash, node: {role: replica}}  # one per seed
//!   - {at: 4s, kind: crash, domain: {zone: b}}               # every node of the zone
//!   - {at: 5s, kind: restart, domain: {zone: b}}             # also recover, pause, resume
//!   - {at: 5s, kind: clog, from: n0, to: n1, duration: 200ms} # or `node:`; then `unclog`
//!   - {at: 6s, kind: set_loss, probability: 0.1}             # set_duplicate, set_corrupt
//!   - {at: 6s, kind: set_clock, node: n1, offset: -5ms, drift_ppm: 100}
//!   - {at: 6s, kind: set_disk, node: n0, disk: {write_error_probability: 0.01}}
//!   - {at: 7s, kind: crash_at_disk_operation, node: random, operation: 3}
//!   - {at: 7s, kind: set_link, from: n0, to: n1, link: {loss_probability: 0.5}}
//!   - {at: 9s, kind: heal}             # also set_node_up, set_default_link, set_capacity
//! swarm:                               # each family on with `probability` per seed
//!   partition: {probability: 0.5, interval: [1s, 3s], duration: [100ms, 1s]}
//!   clog: {probability: 0.5, interval: [200ms, 2s], duration: [10ms, 300ms]}
//!   crash: {probability: 0.3, interval: [1s, 4s], duration: [100ms, 2s], role: replica}
//!                                      # then recover; `role` (optional) also for pause, clog
//!   pause: {probability: 0.3, interval: [1s, 4s], duration: [50ms, 500ms]}
//!   loss: {probability: 0.5, rate: [0.0, 0.1]}   # also duplicate, corrupt, disk_errors
//!   clock_skew: {probability: 0.3, offset: [-20ms, 20ms], drift_ppm: [-100, 100]}
//! phases: {chaos: 10s, heal: 1s, converge_deadline: 5s}     # heal, converge default 0s
//! checks: [agreement, linearizable]    # declared by the workload
//! limits: {vtime_max: 600s, events_max: 50000000}
//! seeds: 0..100
//! buggify: {enabled: false, site_probability: 0.25, fire_probability: 0.25}
//! expect: pass                         # or {fail: {within_seeds: 20}}
//! ```

mod compose;
mod diagnostics;
mod error;
mod load;
mod model;
mod plan;
mod sample;
mod schema;
#[cfg(test)]
mod test_support;
mod validate;
mod write;

pub use compose::Override;
pub use error::{ErrorKind, ScenarioError, ScenarioErrors};
pub use load::{load, load_with, parse, INPUT_BYTES_MAX};
pub use model::Scenario;
pub use plan::{Expect, Limits, Phases, RunPlan};
pub use write::plan_to_yaml;

#[cfg(test)]
mod tests {
    use super::test_support::registry;

    // Proves the format example in this module's documentation is a valid scenario, so the
    // documentation cannot drift from the schema.
    #[test]
    fn documented_example_loads() {
        let source = include_str!("mod.rs");
        let example: String = source
            .lines()
            .skip_while(|line| *line != "//! ```yaml")
            .skip(1)
            .take_while(|line| *line != "//! ```")
            .map(|line| {
                format!("{}\n", line.trim_start_matches("//!").strip_prefix(' ').unwrap_or(""))
            })
            .collect();
        assert!(example.contains("swarm:"), "example not found");
        if let Err(errors) = super::parse("mod.rs", example.as_bytes(), &registry()) {
            panic!("the documented example is refused:\n{errors}");
        }
    }
}
