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
//! `docs/SCENARIO.md` is the full reference (a test keeps it complete).
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
//!   zones:                             # latency between failure-domain zones
//!     - {between: [a, b], latency: {kind: pareto, min: 2ms, shape: 1.5, max: 1s}}
//! disk: {crash_unsynced: random}       # every DiskConfig field; lost|kept|torn|reordered|random
//! workload: {name: kv, params: {replicas: 3, timeout: 250ms}}  # checked against the workload
//! max_dead: 1                          # crashes/pauses beyond this many down nodes are skipped
//! supervisor: {restart_after: [1ms, 20ms]}  # restarts nodes that lose power, exit or abort
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
//!   - {at: 7s, kind: crash_at_disk_operation, node: random, operation: 3, restart_after: 5ms}
//!   - {name: kill, every: 2s, kind: crash, node: {role: replica}, restart_after: [1ms, 3ms]}
//!   - {every: 2s, after: 500ms, kind: pause, node: {rule: kill}}  # the node `kill` picked
//!   - {at: 8s, kind: partition, isolate: {holding: leader, otherwise: skip}}
//!   - {on: {event: vote_granted, nodes: {role: replica}, probability: 0.5, budget: 3},
//!      kind: crash, restart_after: [1ms, 3ms]}  # a fault that follows the protocol
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
pub(crate) mod test_support;
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

/// Keeps `docs/SCENARIO.md` true: every key of every schema type, every fault kind with its
/// fields, every latency kind and swarm family must appear in it.
#[cfg(test)]
mod reference_tests {
    use std::cell::RefCell;

    use serde::de::{self, Deserialize, Visitor};

    use super::schema::*;
    use super::validate::{FAMILY_FIELDS, FAULT_FIELDS};

    /// A deserializer that only learns what a type asks for: the field names of a struct or
    /// the variant names of an enum.
    struct Introspect<'a>(&'a RefCell<Vec<&'static str>>);

    #[derive(Debug)]
    struct Stop;

    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("introspection only")
        }
    }

    impl std::error::Error for Stop {}

    impl de::Error for Stop {
        fn custom<T: std::fmt::Display>(_msg: T) -> Self {
            Stop
        }
    }

    impl<'de> de::Deserializer<'de> for Introspect<'_> {
        type Error = Stop;

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Stop> {
            self.0.borrow_mut().extend(fields);
            Err(Stop)
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _name: &'static str,
            variants: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Stop> {
            self.0.borrow_mut().extend(variants);
            Err(Stop)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            identifier ignored_any
        }
    }

    fn names<T: for<'de> Deserialize<'de>>() -> Vec<&'static str> {
        let seen = RefCell::new(Vec::new());
        let _ = T::deserialize(Introspect(&seen));
        seen.into_inner()
    }

    /// The part of the reference under heading `title` (up to the next heading of its
    /// level or above).
    fn section<'a>(text: &'a str, title: &str) -> &'a str {
        let start = text.find(title).unwrap_or_else(|| panic!("SCENARIO.md has no `{title}`"));
        let level = title.chars().take_while(|c| *c == '#').count();
        let rest = &text[start + title.len()..];
        let end = rest
            .match_indices("\n#")
            .find(|(i, _)| rest[i + 1..].chars().take_while(|c| *c == '#').count() <= level)
            .map_or(rest.len(), |(i, _)| i);
        &rest[..end]
    }

    // Proves the scenario reference names every key, fault kind and its fields, latency kind,
    // swarm family and enum value the loader accepts, so the reference cannot drift.
    #[test]
    fn the_reference_covers_the_schema() {
        let text = include_str!("../../../docs/SCENARIO.md");
        let mut missing = Vec::new();
        let mut check = |where_: &str, part: &str, key: &str| {
            if !part.contains(&format!("`{key}`")) && !part.contains(&format!("`{key}:")) {
                missing.push(format!("{where_}: `{key}`"));
            }
        };
        let sections: [(&str, Vec<&'static str>); 14] = [
            ("## Top level", names::<ScenarioFile>()),
            ("## topology", [names::<TopologyFile>(), names::<NodeFile>()].concat()),
            ("## network", [names::<LinkFile>(), names::<ZoneLinkFile>()].concat()),
            ("## disk", [names::<DiskFile>(), names::<UnsyncedFile>()].concat()),
            ("## workload", names::<WorkloadFile>()),
            (
                "### Timing",
                names::<FaultFile>()
                    .into_iter()
                    .filter(|f| ["at", "every", "after", "until", "on", "name"].contains(f))
                    .collect(),
            ),
            ("### Targets", names::<DomainFile>()),
            ("### Fault kinds", names::<FaultKind>()),
            (
                "### Partition shapes",
                [
                    names::<OneWayFile>(),
                    names::<RingFile>(),
                    names::<BridgeFile>(),
                    names::<RandomSplitFile>(),
                ]
                .concat(),
            ),
            ("### Triggers", [names::<TriggerFile>(), names::<WhenFile>()].concat()),
            ("## swarm", [names::<SwarmFile>(), names::<FamilyFile>()].concat()),
            ("## phases", names::<PhasesFile>()),
            (
                "## Top level",
                [names::<LimitsFile>(), names::<BuggifyFile>(), names::<SupervisorFile>()].concat(),
            ),
            ("## network", names::<WhenFullFile>()),
        ];
        for (title, keys) in &sections {
            assert!(!keys.is_empty(), "introspection found nothing for {title}");
            let part = section(text, title);
            for key in keys {
                check(title, part, key);
            }
        }
        let kinds = section(text, "### Fault kinds");
        for (_, name, required, optional) in FAULT_FIELDS {
            let row = kinds
                .lines()
                .find(|line| {
                    line.starts_with(&format!("| `{name}`"))
                        || line.contains(&format!(", `{name}`"))
                })
                .unwrap_or_else(|| panic!("no row for fault kind `{name}`"));
            for field in required.iter().flat_map(|g| g.iter()).chain(optional.iter()) {
                check(&format!("fault kind {name}"), row, field);
            }
        }
        let swarm = section(text, "## swarm");
        for (family, required, optional) in FAMILY_FIELDS {
            check("## swarm", swarm, family.name());
            for field in required.iter().chain(optional.iter()) {
                check("## swarm", swarm, field);
            }
        }
        let latency = section(text, "### Latency kinds");
        for kind in
            ["fixed", "uniform", "exponential", "long_tail", "bimodal", "pareto", "lognormal"]
        {
            check("### Latency kinds", latency, kind);
        }
        assert!(missing.is_empty(), "docs/SCENARIO.md lacks:\n{}", missing.join("\n"));
    }

    // Proves the latency kinds listed above are every kind the loader accepts: a kind not in
    // the list is refused with the list of kinds.
    #[test]
    fn the_latency_kinds_are_all_listed() {
        let text = "name: x\ntopology: {count: 2}\nworkload: {name: kv}\nphases: {chaos: 1s}\nnetwork: {latency: {kind: nope}}\n";
        let error = super::parse("x.yaml", text.as_bytes(), &super::test_support::registry())
            .expect_err("unknown latency kind")
            .to_string();
        for kind in
            ["fixed", "uniform", "exponential", "long_tail", "bimodal", "pareto", "lognormal"]
        {
            assert!(error.contains(kind), "{kind} missing from: {error}");
        }
    }
}
