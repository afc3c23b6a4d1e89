//! The scenario file as written: serde structs that mirror the YAML one to one (keys equal
//! field names), every user value wrapped in `Spanned` so validation can point at it.
//!
//! Nothing here is checked beyond YAML shape and types; `validate` turns a `ScenarioFile`
//! into a `Scenario`. Durations stay strings until then, so a bad one becomes a located error
//! among all the others instead of stopping the parse.
//!
//! Fault entries are one flat struct tagged by `kind` rather than a serde internally tagged
//! enum: serde buffers the fields of such enums and the buffer loses every source position.
//! The kind decides which fields an entry may carry (see `validate::FAULT_FIELDS`).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioFile {
    /// A scenario file this one starts from; its keys are overridden by this file's.
    pub extends: Option<Spanned<String>>,
    /// Required (here or in what the file extends), like `topology`, `workload`, `phases`.
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub topology: Option<Spanned<TopologyFile>>,
    pub network: Option<Spanned<LinkFile>>,
    pub disk: Option<Spanned<DiskFile>>,
    pub workload: Option<Spanned<WorkloadFile>>,
    pub faults: Option<Vec<Spanned<FaultFile>>>,
    pub max_dead: Option<Spanned<u32>>,
    pub supervisor: Option<Spanned<SupervisorFile>>,
    pub swarm: Option<SwarmFile>,
    pub phases: Option<Spanned<PhasesFile>>,
    pub checks: Option<Vec<Spanned<String>>>,
    pub limits: Option<LimitsFile>,
    pub seeds: Option<Spanned<String>>,
    pub buggify: Option<BuggifyFile>,
    pub expect: Option<ExpectFile>,
}

/// Either an explicit node list or `count` nodes named `n0..` with one role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopologyFile {
    pub nodes: Option<Vec<Spanned<NodeFile>>>,
    pub count: Option<Spanned<u32>>,
    pub role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeFile {
    pub name: Spanned<String>,
    pub role: Option<String>,
    pub machine: Option<String>,
    pub rack: Option<String>,
    pub zone: Option<String>,
    /// Run the node as a child process: `[program, args...]`.
    pub command: Option<Spanned<Vec<String>>>,
}

/// Link settings. At the top of `network` they are the defaults and `links` holds
/// per-link overrides; in an override (or a `set_link` fault) `from` and `to` name the link.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkFile {
    pub from: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    pub latency: Option<Spanned<LatencyFile>>,
    pub loss_probability: Option<Spanned<f64>>,
    pub duplicate_probability: Option<Spanned<f64>>,
    pub corrupt_probability: Option<Spanned<f64>>,
    pub capacity_packets: Option<Spanned<u32>>,
    pub when_full: Option<WhenFullFile>,
    pub fifo: Option<bool>,
    pub links: Option<Vec<Spanned<LinkFile>>>,
    /// Latency between failure-domain zones, for every pair of nodes in them.
    pub zones: Option<Vec<Spanned<ZoneLinkFile>>>,
}

/// One entry of the zone latency matrix: `{between: [a, b], latency}` (both directions) or
/// `{from: a, to: b, latency}` (one direction).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ZoneLinkFile {
    pub between: Option<Spanned<Vec<Spanned<String>>>>,
    pub from: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    pub latency: Spanned<LatencyFile>,
}

/// Nodes that come back by themselves: `{restart_after: 10ms}` or `[1ms, 50ms]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SupervisorFile {
    pub restart_after: Spanned<DurationRangeFile>,
}

/// A duration, or an inclusive range `[min, max]` drawn from per use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationRangeFile {
    One(String),
    Range(String, String),
}

/// A latency distribution, tagged by `kind`. Its durations are located at the mapping.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum LatencyFile {
    Fixed {
        value: String,
    },
    Uniform {
        min: String,
        max: String,
    },
    Exponential {
        min: String,
        mean: String,
    },
    LongTail {
        min: String,
        max: String,
        slow_probability: f64,
        slow_min: String,
        slow_max: String,
    },
    /// Heavy tail: `min` scaled by a Pareto draw of `shape`, capped at `max`.
    Pareto {
        min: String,
        shape: f64,
        max: String,
    },
    /// `median` times e^(sigma * a normal draw), capped at `max`.
    Lognormal {
        median: String,
        sigma: f64,
        max: String,
    },
    /// Two uniform modes: `fast` most of the time, `slow` with `slow_probability`.
    Bimodal {
        fast: Vec<String>,
        slow: Vec<String>,
        slow_probability: f64,
    },
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WhenFullFile {
    DropTail,
    Reject,
}

/// Disk settings; absent fields keep the engine's defaults (or the scenario's, in `set_disk`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiskFile {
    pub sector_size_bytes: Option<Spanned<u64>>,
    pub capacity_bytes: Option<u64>,
    pub crash_unsynced: Option<UnsyncedFile>,
    pub read_error_probability: Option<Spanned<f64>>,
    pub write_error_probability: Option<Spanned<f64>>,
    pub read_corruption_probability: Option<Spanned<f64>>,
    pub latent_corruption_probability: Option<Spanned<f64>>,
    pub misdirected_write_probability: Option<Spanned<f64>>,
    pub latency_min: Option<Spanned<String>>,
    pub latency_max: Option<Spanned<String>>,
    pub slow_probability: Option<Spanned<f64>>,
    pub slow_latency: Option<Spanned<String>>,
    pub crash_probability_per_operation: Option<Spanned<f64>>,
    pub in_flight_max: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UnsyncedFile {
    Lost,
    Kept,
    Torn,
    Reordered,
    Random,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkloadFile {
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub params: ParamsFile,
}

/// Workload parameters in file order, each key and value located.
#[derive(Debug, Default)]
pub(crate) struct ParamsFile(pub Vec<(Spanned<String>, Spanned<ScalarFile>)>);

/// A scalar parameter value as YAML typed it; the workload's declaration decides what fits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ScalarFile {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

/// Every kind of scheduled fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FaultKind {
    Crash,
    Restart,
    Start,
    Recover,
    Pause,
    Resume,
    SetClock,
    SetNodeUp,
    Partition,
    Heal,
    Clog,
    Unclog,
    SetLoss,
    SetDuplicate,
    SetCorrupt,
    SetDefaultLink,
    SetLink,
    SetCapacity,
    SetDisk,
    CrashAtDiskOperation,
    DisarmCrashPoint,
}

/// One scheduled fault: a timing (`at`, or `every` with optional `after` / `until`) and an
/// action chosen by `kind` with the fields that kind takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultFile {
    /// Names the rule, so another can aim at the node it picked (`node: {rule: NAME}`).
    pub name: Option<Spanned<String>>,
    pub at: Option<Spanned<String>>,
    pub every: Option<Spanned<String>>,
    pub after: Option<Spanned<String>>,
    pub until: Option<Spanned<String>>,
    /// A fault that follows the protocol: fires at an observed event instead of a time.
    pub on: Option<Spanned<TriggerFile>>,
    pub kind: Spanned<FaultKind>,
    pub node: Option<Spanned<NodeRefFile>>,
    pub domain: Option<Spanned<DomainFile>>,
    pub from: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    pub duration: Option<Spanned<String>>,
    pub groups: Option<Spanned<Vec<Vec<Spanned<String>>>>>,
    pub isolate: Option<Spanned<NodeRefFile>>,
    pub one_way: Option<Spanned<OneWayFile>>,
    pub ring: Option<Spanned<RingFile>>,
    pub bridge: Option<Spanned<BridgeFile>>,
    pub random: Option<Spanned<RandomSplitFile>>,
    pub probability: Option<Spanned<f64>>,
    pub offset: Option<Spanned<String>>,
    pub drift_ppm: Option<Spanned<i64>>,
    pub up: Option<Spanned<bool>>,
    pub link: Option<Spanned<LinkFile>>,
    pub capacity_packets: Option<Spanned<u32>>,
    pub disk: Option<Spanned<DiskFile>>,
    pub operation: Option<Spanned<u64>>,
    pub restart_after: Option<Spanned<DurationRangeFile>>,
}

/// `on: {event: vote_granted, nodes: {role: server}, probability: 0.5, budget: 3, when: after}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TriggerFile {
    pub event: Spanned<String>,
    /// Only these nodes' events pull the trigger (every node's when absent).
    pub nodes: Option<Spanned<SelectorFile>>,
    pub probability: Option<Spanned<f64>>,
    pub budget: Option<Spanned<u32>>,
    pub when: Option<Spanned<WhenFile>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WhenFile {
    Before,
    After,
}

impl FaultFile {
    /// The action fields present, by name, with where each value is.
    pub fn action_fields(&self) -> Vec<(&'static str, &serde_saphyr::Location)> {
        let fields = [
            ("node", self.node.as_ref().map(|s| &s.referenced)),
            ("domain", self.domain.as_ref().map(|s| &s.referenced)),
            ("from", self.from.as_ref().map(|s| &s.referenced)),
            ("to", self.to.as_ref().map(|s| &s.referenced)),
            ("duration", self.duration.as_ref().map(|s| &s.referenced)),
            ("groups", self.groups.as_ref().map(|s| &s.referenced)),
            ("isolate", self.isolate.as_ref().map(|s| &s.referenced)),
            ("one_way", self.one_way.as_ref().map(|s| &s.referenced)),
            ("ring", self.ring.as_ref().map(|s| &s.referenced)),
            ("bridge", self.bridge.as_ref().map(|s| &s.referenced)),
            ("random", self.random.as_ref().map(|s| &s.referenced)),
            ("probability", self.probability.as_ref().map(|s| &s.referenced)),
            ("offset", self.offset.as_ref().map(|s| &s.referenced)),
            ("drift_ppm", self.drift_ppm.as_ref().map(|s| &s.referenced)),
            ("up", self.up.as_ref().map(|s| &s.referenced)),
            ("link", self.link.as_ref().map(|s| &s.referenced)),
            ("capacity_packets", self.capacity_packets.as_ref().map(|s| &s.referenced)),
            ("disk", self.disk.as_ref().map(|s| &s.referenced)),
            ("operation", self.operation.as_ref().map(|s| &s.referenced)),
            ("restart_after", self.restart_after.as_ref().map(|s| &s.referenced)),
        ];
        fields.into_iter().filter_map(|(name, at)| Some((name, at?))).collect()
    }
}

/// A node: by name, `random` (one per seed), `{role: r}` (one of that role per seed),
/// `{role: r, pick: all}` (every node of the role), `{rule: name}` (the node that rule
/// picked last), or `{holding: role, otherwise: skip | random | {role: r}}` (whoever holds
/// that role when the fault fires).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeRefFile {
    Named(String),
    Random,
    RandomWithRole(String),
    AllWithRole(String),
    Rule(String),
    Holding { role: String, otherwise: OtherwiseFile },
}

/// Whom a role-holder fault hits when nobody holds the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OtherwiseFile {
    Skip,
    Random,
    RandomWithRole(String),
    /// One of these nodes, drawn when the fault applies.
    RandomOf(Vec<String>),
}

/// A failure domain: exactly one of the three keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DomainFile {
    pub machine: Option<String>,
    pub rack: Option<String>,
    pub zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OneWayFile {
    pub from: Spanned<SelectorFile>,
    pub to: Spanned<SelectorFile>,
}

/// Several nodes: a list of names, or every node of a role or failure domain
/// (`{role: r}`, `{zone: z}`, `{rack: r}`, `{machine: m}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SelectorFile {
    Names(Vec<String>),
    Role(String),
    Zone(String),
    Rack(String),
    Machine(String),
}

/// Each node reaches its `reach` nearest neighbours on either side of the ring `order`
/// (every node in id order when absent).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RingFile {
    pub order: Option<Vec<Spanned<String>>>,
    pub reach: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BridgeFile {
    pub left: Vec<Spanned<String>>,
    pub bridge: Spanned<String>,
    pub right: Vec<Spanned<String>>,
}

/// A partition drawn per seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RandomSplitFile {
    /// A random majority against the rest.
    MajorityMinority,
    /// Two random halves (sizes differ by at most one).
    RandomHalves,
}

/// Swarm testing: per fault family, a probability that it is on for a seed and the ranges
/// its values are drawn from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwarmFile {
    pub partition: Option<Spanned<FamilyFile>>,
    pub clog: Option<Spanned<FamilyFile>>,
    pub crash: Option<Spanned<FamilyFile>>,
    pub pause: Option<Spanned<FamilyFile>>,
    pub loss: Option<Spanned<FamilyFile>>,
    pub duplicate: Option<Spanned<FamilyFile>>,
    pub corrupt: Option<Spanned<FamilyFile>>,
    pub clock_skew: Option<Spanned<FamilyFile>>,
    pub disk_errors: Option<Spanned<FamilyFile>>,
}

/// One swarm family. Which fields a family takes is in `validate::FAMILY_FIELDS`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FamilyFile {
    pub probability: Spanned<f64>,
    pub interval: Option<Spanned<Vec<Spanned<String>>>>,
    pub duration: Option<Spanned<Vec<Spanned<String>>>>,
    pub rate: Option<Spanned<Vec<Spanned<f64>>>>,
    pub offset: Option<Spanned<Vec<Spanned<String>>>>,
    pub drift_ppm: Option<Spanned<Vec<Spanned<i64>>>>,
    /// Only nodes with this role are crashed, paused or clogged.
    pub role: Option<Spanned<String>>,
}

impl FamilyFile {
    /// The optional fields present, by name, with where each value is.
    pub fn fields(&self) -> Vec<(&'static str, &serde_saphyr::Location)> {
        let fields = [
            ("interval", self.interval.as_ref().map(|s| &s.referenced)),
            ("duration", self.duration.as_ref().map(|s| &s.referenced)),
            ("rate", self.rate.as_ref().map(|s| &s.referenced)),
            ("offset", self.offset.as_ref().map(|s| &s.referenced)),
            ("drift_ppm", self.drift_ppm.as_ref().map(|s| &s.referenced)),
            ("role", self.role.as_ref().map(|s| &s.referenced)),
        ];
        fields.into_iter().filter_map(|(name, at)| Some((name, at?))).collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PhasesFile {
    pub chaos: Option<Spanned<String>>,
    pub heal: Option<Spanned<String>>,
    pub converge_deadline: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsFile {
    pub vtime_max: Option<Spanned<String>>,
    pub events_max: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BuggifyFile {
    pub enabled: Option<bool>,
    pub site_probability: Option<Spanned<f64>>,
    pub fire_probability: Option<Spanned<f64>>,
}

/// `expect: pass` or `expect: {fail: {within_seeds: N}}`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ExpectFile {
    Pass,
    Fail { within_seeds: u64 },
}

impl<'de> Deserialize<'de> for NodeRefFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeRefVisitor;

        /// The mapping forms.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NodeMapFile {
            role: Option<String>,
            pick: Option<PickFile>,
            rule: Option<String>,
            holding: Option<String>,
            otherwise: Option<OtherwiseFile>,
        }

        #[derive(Deserialize, PartialEq)]
        #[serde(rename_all = "snake_case")]
        enum PickFile {
            One,
            All,
        }

        impl<'de> Visitor<'de> for NodeRefVisitor {
            type Value = NodeRefFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(NODE_FORMS)
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<NodeRefFile, E> {
                Ok(match text {
                    "random" => NodeRefFile::Random,
                    name => NodeRefFile::Named(name.to_string()),
                })
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<NodeRefFile, M::Error> {
                let file = NodeMapFile::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let pick_all = file.pick == Some(PickFile::All);
                match (file.role, file.rule, file.holding) {
                    (Some(role), None, None) if file.otherwise.is_none() => Ok(match pick_all {
                        true => NodeRefFile::AllWithRole(role),
                        false => NodeRefFile::RandomWithRole(role),
                    }),
                    (None, Some(rule), None) if file.pick.is_none() && file.otherwise.is_none() => {
                        Ok(NodeRefFile::Rule(rule))
                    }
                    (None, None, Some(role)) if file.pick.is_none() => Ok(NodeRefFile::Holding {
                        role,
                        otherwise: file.otherwise.unwrap_or(OtherwiseFile::Skip),
                    }),
                    _ => Err(de::Error::custom(format!("a node is {NODE_FORMS}"))),
                }
            }
        }

        deserializer.deserialize_any(NodeRefVisitor)
    }
}

const NODE_FORMS: &str = "a node name, `random`, `{role: R}`, `{role: R, pick: all}`, \
     `{rule: NAME}` or `{holding: ROLE, otherwise: skip | random | {role: R}}`";

impl<'de> Deserialize<'de> for OtherwiseFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OtherwiseVisitor;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RoleFile {
            role: String,
        }

        impl<'de> Visitor<'de> for OtherwiseVisitor {
            type Value = OtherwiseFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`skip`, `random`, `{role: R}` or a list of node names")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<OtherwiseFile, E> {
                match text {
                    "skip" => Ok(OtherwiseFile::Skip),
                    "random" => Ok(OtherwiseFile::Random),
                    other => Err(E::custom(format!(
                        "`otherwise: {other}` is not a fallback: expected `skip`, `random` or `{{role: R}}`"
                    ))),
                }
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<OtherwiseFile, M::Error> {
                let role = RoleFile::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(OtherwiseFile::RandomWithRole(role.role))
            }

            fn visit_seq<S: de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<OtherwiseFile, S::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(OtherwiseFile::RandomOf(names))
            }
        }

        deserializer.deserialize_any(OtherwiseVisitor)
    }
}

impl<'de> Deserialize<'de> for SelectorFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SelectorVisitor;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct SelectorMapFile {
            role: Option<String>,
            zone: Option<String>,
            rack: Option<String>,
            machine: Option<String>,
        }

        impl<'de> Visitor<'de> for SelectorVisitor {
            type Value = SelectorFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of node names, or one of `{role: R}`, `{zone: Z}`, `{rack: R}`, `{machine: M}`")
            }

            fn visit_seq<S: de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<SelectorFile, S::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(SelectorFile::Names(names))
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<SelectorFile, M::Error> {
                let file =
                    SelectorMapFile::deserialize(de::value::MapAccessDeserializer::new(map))?;
                match (file.role, file.zone, file.rack, file.machine) {
                    (Some(role), None, None, None) => Ok(SelectorFile::Role(role)),
                    (None, Some(zone), None, None) => Ok(SelectorFile::Zone(zone)),
                    (None, None, Some(rack), None) => Ok(SelectorFile::Rack(rack)),
                    (None, None, None, Some(machine)) => Ok(SelectorFile::Machine(machine)),
                    _ => Err(de::Error::custom(
                        "a node selector names exactly one of `role`, `zone`, `rack` or `machine`",
                    )),
                }
            }
        }

        deserializer.deserialize_any(SelectorVisitor)
    }
}

impl<'de> Deserialize<'de> for DurationRangeFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RangeVisitor;

        impl<'de> Visitor<'de> for RangeVisitor {
            type Value = DurationRangeFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like \"5ms\" or a range like [\"1ms\", \"5ms\"]")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<DurationRangeFile, E> {
                Ok(DurationRangeFile::One(text.to_string()))
            }

            fn visit_seq<S: de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<DurationRangeFile, S::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                match <[String; 2]>::try_from(items) {
                    Ok([low, high]) => Ok(DurationRangeFile::Range(low, high)),
                    Err(items) => Err(de::Error::custom(format!(
                        "a duration range has two values, [min, max]; this one has {}",
                        items.len()
                    ))),
                }
            }
        }

        deserializer.deserialize_any(RangeVisitor)
    }
}

impl<'de> Deserialize<'de> for ScalarFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl Visitor<'_> for ScalarVisitor {
            type Value = ScalarFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar: number, boolean, duration or string")
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<ScalarFile, E> {
                Ok(ScalarFile::Bool(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<ScalarFile, E> {
                Ok(ScalarFile::Int(value))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<ScalarFile, E> {
                i64::try_from(value).map(ScalarFile::Int).map_err(|_| {
                    E::custom(format!("integer {value} is too large (the limit is {})", i64::MAX))
                })
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<ScalarFile, E> {
                Ok(ScalarFile::Float(value))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<ScalarFile, E> {
                Ok(ScalarFile::Text(value.to_string()))
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}

impl<'de> Deserialize<'de> for ParamsFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParamsVisitor;

        impl<'de> Visitor<'de> for ParamsVisitor {
            type Value = ParamsFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of parameter names to values")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<ParamsFile, M::Error> {
                let mut params = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    params.push(entry);
                }
                Ok(ParamsFile(params))
            }
        }

        deserializer.deserialize_map(ParamsVisitor)
    }
}

/// Copies every field `other` sets over `self`'s.
macro_rules! overlay_fields {
    ($self:ident, $other:ident, [$($field:ident),* $(,)?]) => {
        $(if $other.$field.is_some() { $self.$field = $other.$field; })*
    };
}

impl ScenarioFile {
    /// This file with `other` laid over it (`other` extends this one, or is a command-line
    /// override): sections `other` sets replace this file's, except that `network`, `disk`,
    /// `phases`, `limits` and `buggify` merge field by field, `swarm` family by family, and
    /// `workload.params` parameter by parameter.
    pub fn overlay(mut self, mut other: ScenarioFile) -> ScenarioFile {
        self.network = merge_spanned(self.network, other.network.take(), LinkFile::overlay);
        self.disk = merge_spanned(self.disk, other.disk.take(), DiskFile::overlay);
        self.phases = merge_spanned(self.phases, other.phases.take(), PhasesFile::overlay);
        self.workload = merge_spanned(self.workload, other.workload.take(), WorkloadFile::overlay);
        self.limits = merge(self.limits, other.limits.take(), LimitsFile::overlay);
        self.buggify = merge(self.buggify, other.buggify.take(), BuggifyFile::overlay);
        self.swarm = merge(self.swarm, other.swarm.take(), SwarmFile::overlay);
        overlay_fields!(
            self,
            other,
            [name, description, topology, faults, max_dead, supervisor, checks, seeds, expect,]
        );
        self
    }
}

fn merge<T>(base: Option<T>, over: Option<T>, overlay: fn(T, T) -> T) -> Option<T> {
    match (base, over) {
        (Some(base), Some(over)) => Some(overlay(base, over)),
        (base, over) => over.or(base),
    }
}

/// Merges two located sections; the result keeps the overlay's location.
fn merge_spanned<T>(
    base: Option<Spanned<T>>,
    over: Option<Spanned<T>>,
    overlay: fn(T, T) -> T,
) -> Option<Spanned<T>> {
    match (base, over) {
        (Some(base), Some(over)) => {
            let (referenced, defined) = (over.referenced, over.defined);
            Some(Spanned::new(overlay(base.value, over.value), referenced, defined))
        }
        (base, over) => over.or(base),
    }
}

impl LinkFile {
    fn overlay(mut self, other: LinkFile) -> LinkFile {
        overlay_fields!(
            self,
            other,
            [
                from,
                to,
                latency,
                loss_probability,
                duplicate_probability,
                corrupt_probability,
                capacity_packets,
                when_full,
                fifo,
                links,
                zones,
            ]
        );
        self
    }
}

impl DiskFile {
    fn overlay(mut self, other: DiskFile) -> DiskFile {
        overlay_fields!(
            self,
            other,
            [
                sector_size_bytes,
                capacity_bytes,
                crash_unsynced,
                read_error_probability,
                write_error_probability,
                read_corruption_probability,
                latent_corruption_probability,
                misdirected_write_probability,
                latency_min,
                latency_max,
                slow_probability,
                slow_latency,
                crash_probability_per_operation,
                in_flight_max,
            ]
        );
        self
    }
}

impl PhasesFile {
    fn overlay(mut self, other: PhasesFile) -> PhasesFile {
        overlay_fields!(self, other, [chaos, heal, converge_deadline]);
        self
    }
}

impl LimitsFile {
    fn overlay(mut self, other: LimitsFile) -> LimitsFile {
        overlay_fields!(self, other, [vtime_max, events_max]);
        self
    }
}

impl BuggifyFile {
    fn overlay(mut self, other: BuggifyFile) -> BuggifyFile {
        overlay_fields!(self, other, [enabled, site_probability, fire_probability]);
        self
    }
}

impl SwarmFile {
    fn overlay(mut self, other: SwarmFile) -> SwarmFile {
        overlay_fields!(
            self,
            other,
            [partition, clog, crash, pause, loss, duplicate, corrupt, clock_skew, disk_errors,]
        );
        self
    }
}

impl WorkloadFile {
    fn overlay(mut self, other: WorkloadFile) -> WorkloadFile {
        if other.name.is_some() {
            self.name = other.name;
        }
        for (key, value) in other.params.0 {
            match self.params.0.iter_mut().find(|(existing, _)| existing.value == key.value) {
                Some(entry) => *entry = (key, value),
                None => self.params.0.push((key, value)),
            }
        }
        self
    }
}
