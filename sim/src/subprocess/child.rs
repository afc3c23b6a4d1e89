//! The Rust client of the child protocol: `run_child` runs an existing `Process`, unchanged,
//! as a child of the world. `ChildNode` is its third backing of `NodeApi` (beside the
//! simulated `Context` and a production runtime): every call becomes an effect written to
//! stdout, and calls that return something (`try_send`, disk operations) wait for the
//! world's reply on stdin.
//!
//! The node's random stream is derived exactly as the world derives it (from the seed, the
//! node and the incarnation in `init`), timer ids are numbered as the world numbers them,
//! and disk results are the simulated disk's own, so the process behaves exactly as it
//! would in the world's own memory: the same seed gives the same trace.
//!
//! ```no_run
//! use orrery_sim::subprocess::run_child;
//! use orrery_sim::wire::{Codec, DecodeError};
//! use orrery_sim::{NodeApi, NodeId, Process};
//!
//! #[derive(Debug, Clone)]
//! struct Ping(u8);
//!
//! #[derive(Clone)]
//! struct PingCodec;
//! impl Codec for PingCodec {
//!     type Message = Ping;
//!     fn encode(&mut self, message: &Ping, buffer: &mut Vec<u8>) {
//!         buffer.push(message.0);
//!     }
//!     fn decode(&mut self, bytes: &[u8]) -> Result<Ping, DecodeError> {
//!         match bytes {
//!             [byte] => Ok(Ping(*byte)),
//!             _ => Err(DecodeError(format!("expected 1 byte, got {}", bytes.len()))),
//!         }
//!     }
//! }
//!
//! /// Answers every ping with the next number: the same code runs in process or as a child.
//! struct Ponger;
//! impl<N: NodeApi<Ping>> Process<Ping, N> for Ponger {
//!     fn on_message(&mut self, node: &mut N, from: NodeId, message: Ping) {
//!         node.send(from, Ping(message.0.wrapping_add(1)));
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     run_child(PingCodec, |_identity| Ponger)
//! }
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::process::ExitCode;

use crate::disk::{DiskError, DiskOp, DiskOutput, DiskTicket};
use crate::id::{NodeId, TimerId};
use crate::net::SendError;
use crate::node::{NodeApi, Process, Storage};
use crate::rng::Stream;
use crate::time::{Duration, Instant};
use crate::trace::Value;
use crate::wire::Codec;

use super::cbor::Cbor;
use super::effect::{FieldValue, FromChild};
use super::event::{Identity, Reply, StepClock, ToChild};
use super::frame::{write_frame, FrameReader};

/// The exit code of a child that received something that is not the protocol
/// (`EX_SOFTWARE`).
pub const EXIT_PROTOCOL_ERROR: u8 = 70;

/// The longest frame the child accepts from the world.
const FRAME_MAX_BYTES: u32 = 1 << 30;

/// Runs a process as a child of the world, over stdin and stdout, until the world is done
/// with it. `factory` builds the process once, from `init`. Anything the process prints to
/// stdout goes to stderr instead (stdout carries the protocol), so it lands in the trace.
///
/// Returns success when the world shuts the child down or closes stdin, the process's own
/// code after it calls `exit`, and `EXIT_PROTOCOL_ERROR` if the world's messages make no
/// sense (with the reason on stderr).
pub fn run_child<M, C, P>(codec: C, factory: impl FnOnce(&Identity) -> P) -> ExitCode
where
    M: 'static,
    C: Codec<Message = M>,
    P: Process<M, ChildNode<M, C>>,
{
    let mut io = match Pipes::take_stdio() {
        Ok(io) => io,
        Err(why) => return fail(&why),
    };
    let (identity, clock) = match io.receive(None) {
        Ok(Some(ToChild::Init { identity, clock })) => (identity, clock),
        Ok(None) | Ok(Some(ToChild::Shutdown)) => return ExitCode::SUCCESS,
        Ok(Some(other)) => return fail(&format!("expected init, got {other:?}")),
        Err(why) => return fail(&why),
    };
    let mut process = factory(&identity);
    let mut node = ChildNode::new(identity, clock, codec, io);
    process.on_start(&mut node);
    loop {
        if let Some(code) = node.finish_step() {
            return code;
        }
        let event = match node.io.receive(None) {
            Ok(Some(event)) => event,
            Ok(None) => return ExitCode::SUCCESS,
            Err(why) => return fail(&why),
        };
        match event {
            ToChild::Deliver { clock, from, message } => {
                node.begin_step(clock);
                match node.codec.decode(&message) {
                    Ok(message) => process.on_message(&mut node, from, message),
                    Err(error) => return fail(&format!("a delivered message: {}", error.0)),
                }
            }
            ToChild::Timer { clock, timer, tag } => {
                node.begin_step(clock);
                process.on_timer(&mut node, timer, tag);
            }
            ToChild::DiskDone { clock, ticket, result } => {
                node.begin_step(clock);
                process.on_disk(&mut node, ticket, result);
            }
            ToChild::Shutdown => return ExitCode::SUCCESS,
            other => return fail(&format!("expected an event, got {other:?}")),
        }
    }
}

fn fail(why: &str) -> ExitCode {
    eprintln!("orrery child: protocol error: {why}");
    ExitCode::from(EXIT_PROTOCOL_ERROR)
}

/// The protocol's stdin and stdout.
struct Pipes {
    stdin: std::io::Stdin,
    stdout: File,
    frames: FrameReader,
    out: Vec<u8>,
    chunk: Vec<u8>,
}

impl Pipes {
    /// Takes stdin, and stdout to a descriptor of its own; fd 1 becomes a copy of stderr so
    /// that stray prints cannot corrupt the protocol.
    fn take_stdio() -> Result<Pipes, String> {
        // SAFETY: plain descriptor calls; the duplicate is owned by the `File` alone.
        let stdout = unsafe {
            let protocol = libc::dup(1);
            if protocol < 0 || libc::dup2(2, 1) < 0 {
                return Err("cannot set up stdout".to_string());
            }
            File::from_raw_fd(protocol)
        };
        Ok(Pipes {
            stdin: std::io::stdin(),
            stdout,
            frames: FrameReader::new(FRAME_MAX_BYTES),
            out: Vec::new(),
            chunk: vec![0; 64 * 1024],
        })
    }

    fn push(&mut self, message: &FromChild) {
        // An effect's frame is the child's own encoding of small values; one too large for
        // the length prefix cannot be sent, and the world would refuse it anyway.
        if write_frame(&mut self.out, &message.to_cbor().to_bytes()).is_err() {
            eprintln!("orrery child: an effect too large to send was dropped");
        }
    }

    fn flush(&mut self) -> Result<(), String> {
        let result = self.stdout.write_all(&self.out).map_err(|e| format!("writing: {e}"));
        self.out.clear();
        result
    }

    /// The next message, `None` at the end of stdin; `call` is what a reply answers.
    fn receive(&mut self, call: Option<&FromChild>) -> Result<Option<ToChild>, String> {
        loop {
            match self.frames.next_frame() {
                Ok(Some(payload)) => {
                    let item = Cbor::decode(&payload).map_err(|e| format!("bad CBOR: {e}"))?;
                    return ToChild::from_cbor(&item, call).map(Some).map_err(|e| e.0);
                }
                Ok(None) => {}
                Err(error) => return Err(error.to_string()),
            }
            let count = match self.stdin.read(&mut self.chunk) {
                Ok(count) => count,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(format!("reading: {error}")),
            };
            if count == 0 {
                return self.frames.finish().map(|()| None).map_err(|e| e.to_string());
            }
            self.frames.feed(&self.chunk[..count]);
        }
    }
}

/// The node authority of a process running as a child: each call is an effect sent to the
/// world (see the module documentation).
pub struct ChildNode<M, C: Codec<Message = M>> {
    identity: Identity,
    clock: StepClock,
    /// The id the next timer gets (the world numbers them the same way).
    timer_next: u64,
    rng: Stream,
    codec: C,
    io: Pipes,
    /// The process called `exit` (its code) or `abort`.
    ended: Option<ExitCode>,
    buffer: Vec<u8>,
}

impl<M, C: Codec<Message = M>> ChildNode<M, C> {
    fn new(identity: Identity, clock: StepClock, codec: C, io: Pipes) -> ChildNode<M, C> {
        let rng =
            crate::world::app_stream(identity.seed, identity.node.index(), identity.incarnation);
        ChildNode {
            timer_next: clock.timer_next,
            identity,
            clock,
            rng,
            codec,
            io,
            ended: None,
            buffer: Vec::new(),
        }
    }

    fn begin_step(&mut self, clock: StepClock) {
        self.clock = clock;
        self.timer_next = clock.timer_next;
    }

    /// Ends the step with `done`; the exit code if the process ended itself.
    fn finish_step(&mut self) -> Option<ExitCode> {
        let _ = std::io::stderr().flush();
        self.io.push(&FromChild::Done);
        if let Err(why) = self.io.flush() {
            return Some(fail(&why));
        }
        self.ended
    }

    fn encode(&mut self, message: &M) -> Vec<u8> {
        self.buffer.clear();
        self.codec.encode(message, &mut self.buffer);
        self.buffer.clone()
    }

    /// Sends a call and waits for its reply; a world that stops making sense ends the child.
    fn call(&mut self, call: FromChild) -> Reply {
        self.io.push(&call);
        let reply = self.io.flush().and_then(|()| self.io.receive(Some(&call)));
        match reply {
            Ok(Some(ToChild::Reply(reply))) => reply,
            Ok(None) => std::process::exit(0),
            Ok(Some(other)) => exit_failing(&format!("expected a reply, got {other:?}")),
            Err(why) => exit_failing(&why),
        }
    }

    fn disk_call(&mut self, op: DiskOp) -> Result<DiskOutput, DiskError> {
        match self.call(FromChild::Disk(op)) {
            Reply::Disk(result) => result,
            other => exit_failing(&format!("expected a disk result, got {other:?}")),
        }
    }
}

fn exit_failing(why: &str) -> ! {
    eprintln!("orrery child: protocol error: {why}");
    std::process::exit(i32::from(EXIT_PROTOCOL_ERROR))
}

fn owned_fields<F: AsRef<str>>(fields: &[(F, Value<'_>)]) -> Vec<(String, FieldValue)> {
    fields
        .iter()
        .map(|(name, value)| {
            let value = match *value {
                Value::U64(v) => FieldValue::U64(v),
                Value::I64(v) => FieldValue::I64(v),
                Value::Bool(v) => FieldValue::Bool(v),
                Value::Str(v) => FieldValue::Str(v.to_string()),
                Value::Node(v) => FieldValue::Node(v),
            };
            (name.as_ref().to_string(), value)
        })
        .collect()
}

impl<M: 'static, C: Codec<Message = M>> NodeApi<M> for ChildNode<M, C> {
    type Storage<'a>
        = ChildDisk<'a, M, C>
    where
        Self: 'a;

    fn id(&self) -> NodeId {
        self.identity.node
    }

    fn n_nodes(&self) -> usize {
        self.identity.n_nodes as usize
    }

    fn now(&self) -> Instant {
        self.clock.now
    }

    fn true_now(&self) -> Instant {
        self.clock.true_now
    }

    fn incarnation(&self) -> u32 {
        self.identity.incarnation
    }

    fn send(&mut self, to: NodeId, message: M) {
        let message = self.encode(&message);
        self.io.push(&FromChild::Send { to, message });
    }

    fn try_send(&mut self, to: NodeId, message: M) -> Result<(), SendError> {
        let message = self.encode(&message);
        match self.call(FromChild::TrySend { to, message }) {
            Reply::Sent(result) => result,
            other => exit_failing(&format!("expected a send result, got {other:?}")),
        }
    }

    fn set_timer(&mut self, after: Duration, tag: u64) -> TimerId {
        let timer = TimerId(self.timer_next);
        self.timer_next += 1;
        self.io.push(&FromChild::SetTimer { after, tag });
        timer
    }

    fn cancel_timer(&mut self, timer: TimerId) {
        self.io.push(&FromChild::CancelTimer { timer });
    }

    fn rng(&mut self) -> &mut Stream {
        &mut self.rng
    }

    fn record(&mut self, kind: &str, fields: &[(&str, Value<'_>)]) {
        let fields = owned_fields(fields);
        self.io.push(&FromChild::Record { kind: kind.to_string(), fields });
    }

    fn observe(&mut self, kind: &'static str, fields: &[(&'static str, Value<'_>)]) {
        let fields = owned_fields(fields);
        self.io.push(&FromChild::Observe { kind: kind.to_string(), fields });
    }

    fn sometimes(&mut self, condition: bool, label: &'static str) {
        self.io.push(&FromChild::Sometimes { label: label.to_string(), condition });
    }

    fn hold_role(&mut self, role: &'static str, held: bool) {
        self.io.push(&FromChild::HoldRole { role: role.to_string(), held });
    }

    fn disk(&mut self) -> ChildDisk<'_, M, C> {
        ChildDisk { node: self }
    }

    fn exit(&mut self, code: i32) {
        self.io.push(&FromChild::Exit { code });
        // An exit code outside 0..=255 reads as its low byte, as the OS would report it.
        self.ended.get_or_insert(ExitCode::from(code as u8));
    }

    fn abort(&mut self, reason: &str) {
        self.io.push(&FromChild::Abort { reason: reason.to_string() });
        self.ended.get_or_insert(ExitCode::FAILURE);
    }
}

/// A child's disk: each operation is a call answered by the world's simulated disk.
pub struct ChildDisk<'a, M, C: Codec<Message = M>> {
    node: &'a mut ChildNode<M, C>,
}

fn unexpected(output: DiskOutput) -> ! {
    exit_failing(&format!("unexpected disk output {output:?}"))
}

impl<M, C: Codec<Message = M>> ChildDisk<'_, M, C> {
    fn done(&mut self, op: DiskOp) -> Result<(), DiskError> {
        match self.node.disk_call(op)? {
            DiskOutput::Done => Ok(()),
            other => unexpected(other),
        }
    }
}

impl<M, C: Codec<Message = M>> Storage for ChildDisk<'_, M, C> {
    fn create(&mut self, path: &str) -> Result<(), DiskError> {
        self.done(DiskOp::Create { path: path.to_string() })
    }
    fn exists(&mut self, path: &str) -> Result<bool, DiskError> {
        match self.node.disk_call(DiskOp::Exists { path: path.to_string() })? {
            DiskOutput::Exists(exists) => Ok(exists),
            other => unexpected(other),
        }
    }
    fn write(&mut self, path: &str, offset_bytes: u64, data: &[u8]) -> Result<(), DiskError> {
        self.done(DiskOp::Write { path: path.to_string(), offset_bytes, data: data.to_vec() })
    }
    fn append(&mut self, path: &str, data: &[u8]) -> Result<u64, DiskError> {
        let op = DiskOp::Append { path: path.to_string(), data: data.to_vec() };
        match self.node.disk_call(op)? {
            DiskOutput::AppendedAt { offset_bytes } => Ok(offset_bytes),
            other => unexpected(other),
        }
    }
    fn read(
        &mut self,
        path: &str,
        offset_bytes: u64,
        length_bytes: u64,
    ) -> Result<Vec<u8>, DiskError> {
        let op = DiskOp::Read { path: path.to_string(), offset_bytes, length_bytes };
        match self.node.disk_call(op)? {
            DiskOutput::Bytes(bytes) => Ok(bytes),
            other => unexpected(other),
        }
    }
    fn length_bytes(&mut self, path: &str) -> Result<u64, DiskError> {
        match self.node.disk_call(DiskOp::Length { path: path.to_string() })? {
            DiskOutput::Length { length_bytes } => Ok(length_bytes),
            other => unexpected(other),
        }
    }
    fn truncate(&mut self, path: &str, length_bytes: u64) -> Result<(), DiskError> {
        self.done(DiskOp::Truncate { path: path.to_string(), length_bytes })
    }
    fn delete(&mut self, path: &str) -> Result<(), DiskError> {
        self.done(DiskOp::Delete { path: path.to_string() })
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        self.done(DiskOp::Rename { from: from.to_string(), to: to.to_string() })
    }
    fn list(&mut self, prefix: &str) -> Result<Vec<String>, DiskError> {
        match self.node.disk_call(DiskOp::List { prefix: prefix.to_string() })? {
            DiskOutput::Names(names) => Ok(names),
            other => unexpected(other),
        }
    }
    fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        self.done(DiskOp::Sync { path: path.to_string() })
    }
    fn sync_directory(&mut self) -> Result<(), DiskError> {
        self.done(DiskOp::SyncDirectory)
    }
    fn submit(&mut self, op: DiskOp) -> Result<DiskTicket, DiskError> {
        match self.node.call(FromChild::Submit(op)) {
            Reply::Submitted(result) => result,
            other => exit_failing(&format!("expected a ticket, got {other:?}")),
        }
    }
}
