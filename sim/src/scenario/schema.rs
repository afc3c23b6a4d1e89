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
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub topology: Spanned<TopologyFile>,
    pub network: Option<Spanned<LinkFile>>,
    pub disk: Option<Spanned<DiskFile>>,
    pub workload: Spanned<WorkloadFile>,
    #[serde(default)]
    pub faults: Vec<Spanned<FaultFile>>,
    pub max_dead: Option<Spanned<u32>>,
    pub swarm: Option<SwarmFile>,
    pub phases: Spanned<PhasesFile>,
    #[serde(default)]
    pub checks: Vec<Spanned<String>>,
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
}

/// A latency distribution, tagged by `kind`. Its durations are located at the mapping.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum LatencyFile {
    Fixed { value: String },
    Uniform { min: String, max: String },
    Exponential { min: String, mean: String },
    LongTail { min: String, max: String, slow_probability: f64, slow_min: String, slow_max: String },
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
    pub name: Spanned<String>,
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
}

/// One scheduled fault: a timing (`at`, or `every` with optional `after` / `until`) and an
/// action chosen by `kind` with the fields that kind takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultFile {
    pub at: Option<Spanned<String>>,
    pub every: Option<Spanned<String>>,
    pub after: Option<Spanned<String>>,
    pub until: Option<Spanned<String>>,
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
        ];
        fields.into_iter().filter_map(|(name, at)| Some((name, at?))).collect()
    }
}

/// A node: by name, `random` (one per seed), or `{role: r}` (one of that role per seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeRefFile {
    Named(String),
    Random,
    RandomWithRole(String),
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
    pub from: Vec<Spanned<String>>,
    pub to: Vec<Spanned<String>>,
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
    pub chaos: Spanned<String>,
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

        /// The mapping form: `{role: replica}`.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RoleFile {
            role: String,
        }

        impl<'de> Visitor<'de> for NodeRefVisitor {
            type Value = NodeRefFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a node name, `random`, or `{role: <role>}`")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<NodeRefFile, E> {
                Ok(match text {
                    "random" => NodeRefFile::Random,
                    name => NodeRefFile::Named(name.to_string()),
                })
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<NodeRefFile, M::Error> {
                let role = RoleFile::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(NodeRefFile::RandomWithRole(role.role))
            }
        }

        deserializer.deserialize_any(NodeRefVisitor)
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
