//! What the world sends a child, as typed values: `ToChild` (one event per step: `init`,
//! `deliver`, `timer`, `disk_done`, `shutdown`; and the `Reply` to each call), with the
//! step's clock (`StepClock`) and, in `init`, who the child is (`Identity`). Both the world
//! and the Rust client encode and decode through here; docs/SUBPROCESS_PROTOCOL.md
//! specifies the layout. Times are nanoseconds; node, timer and ticket ids their numbers.

use crate::disk::{DiskError, DiskOutput, DiskTicket};
use crate::id::{NodeId, TimerId};
use crate::net::SendError;
use crate::time::Instant;

use super::cbor::Cbor;
use super::disk_codec::{
    error_from_cbor, error_to_cbor, result_entry, result_from_cbor, result_to_cbor,
};
use super::effect::FromChild;
use super::map_access::{entries, with_type, MapAccess, ProtocolError};

/// What every event tells the child about this step: the node's clock, the shared clock,
/// and the id the world gives the step's first timer (later ones count up from it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepClock {
    pub now: Instant,
    pub true_now: Instant,
    pub timer_next: u64,
}

/// Who the child is, sent once in `init`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub node: NodeId,
    pub n_nodes: u32,
    /// The node's name and role in the topology.
    pub name: String,
    pub role: String,
    /// The run's seed: a child derives its random stream from (seed, node, incarnation).
    pub seed: u64,
    pub incarnation: u32,
}

/// What the world sends a child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToChild {
    /// The node boots: build the process and run its `on_start`.
    Init {
        identity: Identity,
        clock: StepClock,
    },
    Deliver {
        clock: StepClock,
        from: NodeId,
        message: Vec<u8>,
    },
    Timer {
        clock: StepClock,
        timer: TimerId,
        tag: u64,
    },
    DiskDone {
        clock: StepClock,
        ticket: DiskTicket,
        result: Result<DiskOutput, DiskError>,
    },
    /// The answer to the child's last call, in the call's own terms (see `Reply`).
    Reply(Reply),
    /// The world is done with the child; it is killed right after, and nothing it does
    /// from now on is seen.
    Shutdown,
}

/// The answer to a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// To `try_send`.
    Sent(Result<(), SendError>),
    /// To an immediate disk operation.
    Disk(Result<DiskOutput, DiskError>),
    /// To `submit`.
    Submitted(Result<DiskTicket, DiskError>),
}

fn send_result_entry(result: &Result<(), SendError>) -> (&'static str, Cbor) {
    match result {
        Ok(()) => ("ok", Cbor::Null),
        Err(SendError::QueueFull(to)) => (
            "error",
            entries([("kind", Cbor::text("queue_full")), ("to", Cbor::Unsigned(u64::from(to.0)))]),
        ),
    }
}

fn clock_fields(clock: &StepClock) -> [(&'static str, Cbor); 3] {
    [
        ("now", Cbor::Unsigned(clock.now.as_nanos())),
        ("true_now", Cbor::Unsigned(clock.true_now.as_nanos())),
        ("timer_next", Cbor::Unsigned(clock.timer_next)),
    ]
}

fn clock_from(map: &MapAccess<'_>) -> Result<StepClock, ProtocolError> {
    Ok(StepClock {
        now: Instant::from_nanos(map.u64("now")?),
        true_now: Instant::from_nanos(map.u64("true_now")?),
        timer_next: map.u64("timer_next")?,
    })
}

impl ToChild {
    /// The message as its CBOR map.
    pub fn to_cbor(&self) -> Cbor {
        match self {
            ToChild::Init { identity, clock } => with_type(
                "init",
                [
                    ("node", Cbor::Unsigned(u64::from(identity.node.0))),
                    ("n_nodes", Cbor::Unsigned(u64::from(identity.n_nodes))),
                    ("name", Cbor::text(identity.name.as_str())),
                    ("role", Cbor::text(identity.role.as_str())),
                    ("seed", Cbor::Unsigned(identity.seed)),
                    ("incarnation", Cbor::Unsigned(u64::from(identity.incarnation))),
                ]
                .into_iter()
                .chain(clock_fields(clock)),
            ),
            ToChild::Deliver { clock, from, message } => with_type(
                "deliver",
                clock_fields(clock).into_iter().chain([
                    ("from", Cbor::Unsigned(u64::from(from.0))),
                    ("message", Cbor::Bytes(message.clone())),
                ]),
            ),
            ToChild::Timer { clock, timer, tag } => with_type(
                "timer",
                clock_fields(clock)
                    .into_iter()
                    .chain([("timer", Cbor::Unsigned(timer.0)), ("tag", Cbor::Unsigned(*tag))]),
            ),
            ToChild::DiskDone { clock, ticket, result } => with_type(
                "disk_done",
                clock_fields(clock).into_iter().chain([
                    ("ticket", Cbor::Unsigned(ticket.id())),
                    ("result", result_to_cbor(result)),
                ]),
            ),
            ToChild::Reply(reply) => {
                let entry = match reply {
                    Reply::Sent(result) => send_result_entry(result),
                    Reply::Disk(result) => result_entry(result),
                    Reply::Submitted(Ok(ticket)) => {
                        ("ok", entries([("ticket", Cbor::Unsigned(ticket.id()))]))
                    }
                    Reply::Submitted(Err(error)) => ("error", error_to_cbor(error)),
                };
                with_type("reply", [entry])
            }
            ToChild::Shutdown => with_type("shutdown", []),
        }
    }

    /// Decodes a message; a reply is read as the answer to `call` (the child knows what it
    /// asked).
    pub fn from_cbor(item: &Cbor, call: Option<&FromChild>) -> Result<ToChild, ProtocolError> {
        let map = MapAccess::new(item, "a message to the child")?;
        Ok(match map.kind()? {
            "init" => ToChild::Init {
                identity: Identity {
                    node: map.node("node")?,
                    n_nodes: map.u32("n_nodes")?,
                    name: map.text("name")?.to_string(),
                    role: map.text("role")?.to_string(),
                    seed: map.u64("seed")?,
                    incarnation: map.u32("incarnation")?,
                },
                clock: clock_from(&map)?,
            },
            "deliver" => ToChild::Deliver {
                clock: clock_from(&map)?,
                from: map.node("from")?,
                message: map.bytes("message")?.to_vec(),
            },
            "timer" => ToChild::Timer {
                clock: clock_from(&map)?,
                timer: TimerId(map.u64("timer")?),
                tag: map.u64("tag")?,
            },
            "disk_done" => ToChild::DiskDone {
                clock: clock_from(&map)?,
                ticket: DiskTicket::from_id(map.u64("ticket")?),
                result: result_from_cbor(map.field("result")?)?,
            },
            "reply" => ToChild::Reply(reply_from_cbor(item, call)?),
            "shutdown" => ToChild::Shutdown,
            other => return Err(ProtocolError(format!("unknown message type `{other}`"))),
        })
    }
}

fn reply_from_cbor(item: &Cbor, call: Option<&FromChild>) -> Result<Reply, ProtocolError> {
    let error = item.get("error");
    Ok(match call {
        Some(FromChild::TrySend { .. }) => Reply::Sent(match error {
            None => Ok(()),
            Some(error) => {
                Err(SendError::QueueFull(MapAccess::new(error, "a send error")?.node("to")?))
            }
        }),
        Some(FromChild::Disk(_)) => Reply::Disk(result_from_cbor(item)?),
        Some(FromChild::Submit(_)) => Reply::Submitted(match (item.get("ok"), error) {
            (Some(ok), None) => {
                Ok(DiskTicket::from_id(MapAccess::new(ok, "a ticket")?.u64("ticket")?))
            }
            (None, Some(error)) => Err(error_from_cbor(error)?),
            _ => return Err(ProtocolError("a reply needs exactly one of `ok` and `error`".into())),
        }),
        _ => return Err(ProtocolError("a reply to no call".into())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{DiskOp, DiskOpKind};

    fn clock() -> StepClock {
        StepClock { now: Instant::from_nanos(5), true_now: Instant::from_nanos(6), timer_next: 7 }
    }

    // Proves every message to the child survives encoding, bytes and decoding unchanged.
    #[test]
    fn messages_to_the_child_round_trip() {
        let identity = Identity {
            node: NodeId(2),
            n_nodes: 5,
            name: "s2".into(),
            role: "server".into(),
            seed: u64::MAX,
            incarnation: 3,
        };
        let cases = [
            (ToChild::Init { identity, clock: clock() }, None),
            (ToChild::Deliver { clock: clock(), from: NodeId(4), message: vec![1, 2] }, None),
            (ToChild::Timer { clock: clock(), timer: TimerId(9), tag: 1 }, None),
            (
                ToChild::DiskDone {
                    clock: clock(),
                    ticket: DiskTicket::from_id(3),
                    result: Err(DiskError::Io { operation: DiskOpKind::Write, path: "f".into() }),
                },
                None,
            ),
            (ToChild::Shutdown, None),
        ];
        let send = FromChild::TrySend { to: NodeId(1), message: vec![] };
        let disk = FromChild::Disk(DiskOp::Length { path: "f".into() });
        let submit = FromChild::Submit(DiskOp::SyncDirectory);
        let replies = [
            (Reply::Sent(Ok(())), &send),
            (Reply::Sent(Err(SendError::QueueFull(NodeId(1)))), &send),
            (Reply::Disk(Ok(DiskOutput::Length { length_bytes: 4 })), &disk),
            (Reply::Disk(Err(DiskError::NotFound { path: "f".into() })), &disk),
            (Reply::Submitted(Ok(DiskTicket::from_id(11))), &submit),
            (Reply::Submitted(Err(DiskError::QueueFull)), &submit),
        ];
        let all = cases
            .into_iter()
            .chain(replies.into_iter().map(|(reply, call)| (ToChild::Reply(reply), Some(call))));
        for (message, call) in all {
            let item = Cbor::decode(&message.to_cbor().to_bytes()).expect("decodes");
            assert_eq!(ToChild::from_cbor(&item, call), Ok(message));
        }
    }
}
