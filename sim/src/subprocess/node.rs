//! `SubprocessNode`: a process whose logic runs in a child OS process, in lockstep with the
//! world. It is an ordinary `Process` to the world: at each boot (`on_start`) it spawns the
//! command, and every callback becomes one step of the protocol: the event goes to the child,
//! then the child's effects are applied through the node's `Context` in the order written
//! (a call waits for its reply) until its `done`. Nothing else happens in the world
//! meanwhile, so a run with child nodes is as deterministic as the child.
//!
//! Messages cross as bytes through the workload's codec. The child's stderr is traced as
//! `stderr line=...` records of its node. A child that breaks the conversation ends its node
//! with `abort` and a stable reason (see `ChildEnd`), so peers see the node down, a
//! supervisor may restart it, and the sweep goes on. A crash drops the process, and with it
//! the child: it is killed (SIGKILL) and reaped.

use std::fmt::Debug;
use std::sync::Arc;

use crate::disk::{DiskError, DiskOp, DiskOutput, DiskTicket};
use crate::id::{NodeId, TimerId};
use crate::node::{NodeApi, Process, Storage};
use crate::topology::NodeSpec;
use crate::trace::Value;
use crate::wire::{Codec, Wire};
use crate::world::Context;

use super::config::SubprocessConfig;
use super::effect::{FieldValue, FromChild};
use super::ending::ChildEnd;
use super::event::{Identity, Reply, StepClock, ToChild};
use super::transport::Transport;

/// Converts a node's messages to bytes and back, for child processes (a `Codec` as an
/// object, shared by every node of a run).
pub type BoxedCodec<M> = Box<dyn Codec<Message = M>>;

/// A node whose process is a child OS process speaking the lockstep protocol.
pub struct SubprocessNode<M> {
    command: Arc<[String]>,
    codec: BoxedCodec<M>,
    config: SubprocessConfig,
    name: String,
    role: String,
    transport: Option<Transport>,
    steps: u64,
}

impl<M> SubprocessNode<M> {
    /// A node running `command` (program, then arguments) for the node `spec` describes.
    pub fn new(
        command: Arc<[String]>,
        codec: BoxedCodec<M>,
        config: SubprocessConfig,
        spec: &NodeSpec,
    ) -> SubprocessNode<M> {
        SubprocessNode {
            command,
            codec,
            config,
            name: spec.name.clone(),
            role: spec.role.clone(),
            transport: None,
            steps: 0,
        }
    }

    /// Steps the child has completed since this incarnation started.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Whether the child is running and talking.
    pub fn is_connected(&self) -> bool {
        self.transport.is_some()
    }
}

impl<M: Debug + 'static, W: Wire<M>> Process<M, Context<M, W>> for SubprocessNode<M> {
    fn on_start(&mut self, ctx: &mut Context<M, W>) {
        let command = self.command.join(" ");
        ctx.record("spawn", &[("command", Value::Str(&command))]);
        match Transport::spawn(&self.command, self.config) {
            Ok(transport) => self.transport = Some(transport),
            Err(end) => return ctx.abort(&end.to_string()),
        }
        let identity = Identity {
            node: ctx.id(),
            n_nodes: ctx.n_nodes() as u32,
            name: self.name.clone(),
            role: self.role.clone(),
            seed: ctx.seed(),
            incarnation: ctx.incarnation(),
        };
        let clock = step_clock(ctx);
        self.step(ctx, ToChild::Init { identity, clock });
    }

    fn on_message(&mut self, ctx: &mut Context<M, W>, from: NodeId, message: M) {
        let mut bytes = Vec::new();
        self.codec.encode(&message, &mut bytes);
        let clock = step_clock(ctx);
        self.step(ctx, ToChild::Deliver { clock, from, message: bytes });
    }

    fn on_timer(&mut self, ctx: &mut Context<M, W>, timer: TimerId, tag: u64) {
        let clock = step_clock(ctx);
        self.step(ctx, ToChild::Timer { clock, timer, tag });
    }

    fn on_disk(
        &mut self,
        ctx: &mut Context<M, W>,
        ticket: DiskTicket,
        result: Result<DiskOutput, DiskError>,
    ) {
        let clock = step_clock(ctx);
        self.step(ctx, ToChild::DiskDone { clock, ticket, result });
    }
}

fn step_clock<M: Debug + 'static, W: Wire<M>>(ctx: &Context<M, W>) -> StepClock {
    StepClock { now: ctx.now(), true_now: ctx.true_now(), timer_next: ctx.timer_next() }
}

impl<M: Debug + 'static> SubprocessNode<M> {
    /// One step: the event out, the effects in until `done`, stderr into the trace. A child
    /// that breaks the conversation ends the node.
    fn step<W: Wire<M>>(&mut self, ctx: &mut Context<M, W>, event: ToChild) {
        let Some(mut transport) = self.transport.take() else { return };
        let result = self.converse(ctx, &mut transport, event);
        transport.drain_stderr();
        let (lines, dropped) = transport.stderr_lines();
        for line in &lines {
            ctx.record("stderr", &[("line", Value::Str(line))]);
        }
        if dropped > 0 {
            ctx.record("stderr_dropped", &[("lines", Value::U64(dropped))]);
        }
        match result {
            Ok(()) => {
                self.steps += 1;
                self.transport = Some(transport);
            }
            // Dropping the transport kills and reaps the child.
            Err(end) => ctx.abort(&end.to_string()),
        }
    }

    fn converse<W: Wire<M>>(
        &mut self,
        ctx: &mut Context<M, W>,
        transport: &mut Transport,
        event: ToChild,
    ) -> Result<(), ChildEnd> {
        let deadline = transport.step_deadline();
        transport.send(&event, deadline)?;
        for _ in 0..self.config.effects_per_step_max {
            let reply = match transport.receive(deadline)? {
                FromChild::Done => return Ok(()),
                FromChild::Send { to, message } => {
                    let message = self.decode(to, &message)?;
                    ctx.send(to, message);
                    None
                }
                FromChild::TrySend { to, message } => {
                    let message = self.decode(to, &message)?;
                    Some(Reply::Sent(ctx.try_send(to, message)))
                }
                FromChild::SetTimer { after, tag } => {
                    ctx.set_timer(after, tag);
                    None
                }
                FromChild::CancelTimer { timer } => {
                    ctx.cancel_timer(timer);
                    None
                }
                FromChild::Record { kind, fields } => {
                    ctx.record(&kind, &borrowed(&fields));
                    None
                }
                FromChild::Observe { kind, fields } => {
                    ctx.observe_owned(kind, &borrowed(&fields));
                    None
                }
                FromChild::Sometimes { label, condition } => {
                    ctx.sometimes_owned(condition, &label);
                    None
                }
                FromChild::HoldRole { role, held } => {
                    ctx.hold_role_owned(role, held);
                    None
                }
                FromChild::Disk(op) => Some(Reply::Disk(perform(&mut ctx.disk(), op))),
                FromChild::Submit(op) => Some(Reply::Submitted(ctx.disk().submit(op))),
                FromChild::Exit { code } => {
                    ctx.exit(code);
                    None
                }
                FromChild::Abort { reason } => {
                    ctx.abort(&reason);
                    None
                }
            };
            if let Some(reply) = reply {
                transport.send(&ToChild::Reply(reply), deadline)?;
            }
        }
        Err(ChildEnd::ProtocolError(format!(
            "more than {} effects in one step",
            self.config.effects_per_step_max
        )))
    }

    fn decode(&mut self, to: NodeId, bytes: &[u8]) -> Result<M, ChildEnd> {
        self.codec.decode(bytes).map_err(|error| {
            ChildEnd::ProtocolError(format!("a message to {to} does not decode: {}", error.0))
        })
    }
}

fn borrowed(fields: &[(String, FieldValue)]) -> Vec<(&str, Value<'_>)> {
    fields.iter().map(|(name, value)| (name.as_str(), value.as_value())).collect()
}

/// Runs an immediate disk operation through the node's storage.
pub(crate) fn perform(storage: &mut impl Storage, op: DiskOp) -> Result<DiskOutput, DiskError> {
    Ok(match op {
        DiskOp::Create { path } => storage.create(&path).map(|()| DiskOutput::Done)?,
        DiskOp::Exists { path } => DiskOutput::Exists(storage.exists(&path)?),
        DiskOp::Read { path, offset_bytes, length_bytes } => {
            DiskOutput::Bytes(storage.read(&path, offset_bytes, length_bytes)?)
        }
        DiskOp::Write { path, offset_bytes, data } => {
            storage.write(&path, offset_bytes, &data).map(|()| DiskOutput::Done)?
        }
        DiskOp::Append { path, data } => {
            DiskOutput::AppendedAt { offset_bytes: storage.append(&path, &data)? }
        }
        DiskOp::Length { path } => {
            DiskOutput::Length { length_bytes: storage.length_bytes(&path)? }
        }
        DiskOp::Truncate { path, length_bytes } => {
            storage.truncate(&path, length_bytes).map(|()| DiskOutput::Done)?
        }
        DiskOp::Delete { path } => storage.delete(&path).map(|()| DiskOutput::Done)?,
        DiskOp::Rename { from, to } => storage.rename(&from, &to).map(|()| DiskOutput::Done)?,
        DiskOp::List { prefix } => DiskOutput::Names(storage.list(&prefix)?),
        DiskOp::Sync { path } => storage.sync(&path).map(|()| DiskOutput::Done)?,
        DiskOp::SyncDirectory => storage.sync_directory().map(|()| DiskOutput::Done)?,
    })
}
