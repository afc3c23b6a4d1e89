//! The control protocol: a live world (or a cluster of real processes) driven from outside
//! over a framed binary protocol, interactively (`orrery ctl`), from a Rust client or from
//! tests in any language. Specified in `docs/CONTROL_PROTOCOL.md`.
//!
//! The wire is in four files: `frame` cuts frames out of a byte stream, `codec` is the
//! canonical encoding of a body, `ops` the one registry of operation codes, `request` and
//! `reply` the messages.
//!
//! Nothing here runs during a simulated run's event loop: the server drives the world
//! between events, only through the `Simulation` trait, and every operation it applies is a
//! traced `ControlAction`.

pub mod codec;
pub mod frame;
pub mod ops;
pub mod reply;
pub mod request;

#[cfg(test)]
mod wire_tests;

pub use codec::{Reader, WireError, Writer};
pub use frame::{read_frame, Flags, Frame, FrameError, FRAME_BYTES_MAX};
pub use ops::{Op, OpInfo, REGISTRY};
pub use reply::{
    ErrorCode, ErrorReply, HealthReply, HelloReply, NodeState, PingReply, Reply, ReplyKind,
    SnapshotInfo, StatusReply, StopReply, StreamEnd, Verdict, VersionReply, PROTOCOL_VERSION,
    PROTOCOL_VERSION_MIN,
};
pub use request::{Request, ALL_NODES};
