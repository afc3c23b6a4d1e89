//! Orrery's engine: a deterministic world that runs distributed-system code against a
//! simulated network and disks, with faults, checkers and a seed-sweeping runner.
//! See ARCHITECTURE.md at the repository root for the map.

pub mod check;
pub mod disk;
pub mod fault;
pub mod net;
pub mod node;
pub mod rng;
pub mod scheduler;
pub mod time;
pub mod topology;
pub mod trace;
pub mod wire;
pub mod world;

pub use fault::{BuggifyConfig, ControlAction};
pub use net::{Latency, LinkConfig, PartitionShape, WhenFull};
pub use node::{
    Context, Endpoint, Envelope, FaultPoints, NoFaults, NodeId, NodeStatus, Process, TimerId,
};
pub use rng::Stream;
pub use time::{ms, ns, secs, us, Duration, Instant};
pub use topology::{DomainKind, NodeSpec, Topology};
pub use trace::Value;
pub use wire::{Bytes, Codec, DecodeError, Encoded, Typed, Wire};
pub use world::{Control, Limit, Outcome, World, WorldBuilder, WorldConfig};
