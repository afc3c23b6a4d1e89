//! Nodes as child processes: a node's logic written in any language, or a real binary, runs
//! in a child OS process inside the deterministic world, in lockstep.
//!
//! The world side is `SubprocessNode`, an ordinary `Process` (so faults, checks and
//! supervisors treat it like any other): it spawns its command at each boot and turns each
//! callback into one step of a conversation over the child's stdin and stdout. The world
//! sends one event; the child answers with its effects and `done`; nothing else happens in
//! the world meanwhile. The child side is any program that speaks the protocol: in Rust,
//! `run_child` runs an existing `Process` unchanged; in Python, `clients/python/orrery_child.py`
//! (standard library only).
//!
//! # The protocol (docs/SUBPROCESS_PROTOCOL.md has every field)
//!
//! - **Frames**: a 4-byte big-endian payload length, then the payload: one CBOR map (the
//!   subset in `cbor`) with a `type` key. The world refuses frames longer than
//!   `SubprocessConfig::frame_max_bytes`. Message bytes are CBOR byte strings.
//! - **Events** (world → child): `init` (node, n_nodes, name, role, seed, incarnation),
//!   `deliver` (from, message), `timer` (timer, tag), `disk_done` (ticket, result), each
//!   with the step's clock (`now`, `true_now`, and `timer_next`, the id of the step's first
//!   timer); `shutdown` before the child is killed.
//! - **Effects** (child → world): `send`, `set_timer`, `cancel_timer`, `record`, `observe`,
//!   `sometimes`, `hold_role`, `exit`, `abort`, and `done` to end the step. **Calls** wait for
//!   a `reply`: `try_send`, `disk` (an immediate disk operation) and `submit` (a disk
//!   operation completing later as a `disk_done` event).
//! - **Endings**: a child that exits, closes stdout, writes what is not the protocol, or
//!   does not finish a step within `step_timeout` ends its node with `abort` and a stable
//!   reason: `exited(code)`, `signal(n)`, `transport_closed`, `protocol_error: ...`,
//!   `step_timeout` (or `spawn_failed: ...` if it never started).
//! - **stderr** is traced as `stderr line=...` records of the node, at most
//!   `stderr_lines_per_step_max` lines per step.
//!
//! # Determinism
//!
//! A step is a pure function of the event and the child's state if the child's is: the
//! world applies effects in the order written, replies to calls at once, and reads stderr
//! up to `done`. Wall-clock time enters only to give up on a child (`step_timeout`,
//! `exit_grace`). What a child reads from the environment, files or the OS is its own
//! concern: the Rust and Python clients derive their randomness from `init`.

mod cbor;
mod child;
mod config;
mod disk_codec;
mod effect;
mod ending;
mod event;
mod frame;
mod map_access;
mod node;
mod stderr_log;
mod transport;

pub use cbor::{Cbor, CborError};
pub use child::{run_child, ChildDisk, ChildNode, EXIT_PROTOCOL_ERROR};
pub use config::SubprocessConfig;
pub use effect::{FieldValue, FromChild};
pub use ending::ChildEnd;
pub use event::{Identity, Reply, StepClock, ToChild};
pub use frame::{write_frame, FrameError, FrameReader};
pub use map_access::ProtocolError;
pub use node::{BoxedCodec, SubprocessNode};
