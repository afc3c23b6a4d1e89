//! The control protocol: a live world (or a cluster of real processes) driven from outside
//! over a framed binary protocol, interactively (`orrery ctl`), from a Rust client or from
//! tests in any language. Specified in `docs/CONTROL_PROTOCOL.md`.
//!
//! The wire: `frame` cuts frames out of a byte stream, `codec` is the canonical encoding of a
//! body, `ops` the one registry of operation codes, `request` and `reply` the messages. The
//! operations: `backend` (the one trait every backend implements, and `handle`), `simulated`
//! (a world of a scenario and seed) over `journal` (a run as what drove it: snapshots). The
//! transport: `server` (TCP, one thread owning the backend) and `client` (the Rust client).
//!
//! Nothing here runs during a simulated run's event loop: the server drives the world
//! between events, only through the `Simulation` trait, and every operation it applies is a
//! traced `ControlAction`.

mod backend;
mod client;
pub mod codec;
pub mod frame;
mod journal;
pub mod ops;
pub mod reply;
pub mod request;
mod server;
mod simulated;

#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod simulated_tests;
#[cfg(test)]
pub(crate) mod test_workload;
#[cfg(test)]
mod wire_tests;

pub use backend::{handle, Backend, Fault, NoProgress, NodeAction, OpResult, Progress};
pub use client::{Call, Client, ClientError};
pub use server::{Server, ServerConfig};
pub use simulated::{SimulatedBackend, RUN_SLICE, STEP_SLICE_EVENTS};

pub use codec::{Reader, WireError, Writer};
pub use frame::{read_frame, Flags, Frame, FrameError, FRAME_BYTES_MAX};
pub use ops::{Op, OpInfo, REGISTRY};
pub use reply::{
    ErrorCode, ErrorReply, HealthReply, HelloReply, NodeState, PingReply, Reply, ReplyKind,
    SnapshotInfo, StatusReply, StopReply, StreamEnd, Verdict, VersionReply, PROTOCOL_VERSION,
    PROTOCOL_VERSION_MIN,
};
pub use request::{Request, ALL_NODES};
