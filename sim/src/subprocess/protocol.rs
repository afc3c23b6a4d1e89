//! The messages of the child protocol as typed values, each way: `ToChild` (what the world
//! tells a child: one event per step, and replies to its calls) and `FromChild` (what the
//! child does: effects, calls, and the `done` that ends its step). Both sides encode and
//! decode through here, so the Rust client and the world cannot disagree; the layout is
//! specified in docs/SUBPROCESS_PROTOCOL.md, which the Python client follows.
//!
//! Every message is one CBOR map with a `type` key. Times and durations are nanoseconds;
//! node, timer and ticket ids are their numbers.

use crate::disk::{DiskError, DiskOp, DiskOutput, DiskTicket};
use crate::id::{NodeId, TimerId};
use crate::net::SendError;
use crate::time::{Duration, Instant};
use crate::trace::Value;

use super::cbor::Cbor;
use super::disk_codec::{
    error_from_cbor, error_to_cbor, op_from_cbor, op_to_cbor, result_entry, result_from_cbor,
    result_to_cbor,
};

/// A message that breaks the protocol, with what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

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

/// A field value of a record or observation, kept as the child gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    U64(u64),
    I64(i64),
    Bool(bool),
    Str(String),
    Node(NodeId),
}

impl FieldValue {
    /// The borrowed value for the trace.
    pub fn as_value(&self) -> Value<'_> {
        match self {
            FieldValue::U64(v) => Value::U64(*v),
            FieldValue::I64(v) => Value::I64(*v),
            FieldValue::Bool(v) => Value::Bool(*v),
            FieldValue::Str(v) => Value::Str(v),
            FieldValue::Node(v) => Value::Node(*v),
        }
    }
}

/// What a child sends the world during its step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FromChild {
    Send {
        to: NodeId,
        message: Vec<u8>,
    },
    /// A call: answered with `Reply::Sent`.
    TrySend {
        to: NodeId,
        message: Vec<u8>,
    },
    SetTimer {
        after: Duration,
        tag: u64,
    },
    CancelTimer {
        timer: TimerId,
    },
    Record {
        kind: String,
        fields: Vec<(String, FieldValue)>,
    },
    Observe {
        kind: String,
        fields: Vec<(String, FieldValue)>,
    },
    Sometimes {
        label: String,
        condition: bool,
    },
    HoldRole {
        role: String,
        held: bool,
    },
    /// A call: an immediate disk operation, answered with `Reply::Disk`.
    Disk(DiskOp),
    /// A call: a submitted disk operation, answered with `Reply::Submitted`.
    Submit(DiskOp),
    Exit {
        code: i32,
    },
    Abort {
        reason: String,
    },
    /// The step is over.
    Done,
}

impl FromChild {
    /// Whether the child waits for a `Reply` after sending this.
    pub fn is_call(&self) -> bool {
        matches!(self, FromChild::TrySend { .. } | FromChild::Disk(_) | FromChild::Submit(_))
    }
}

/// A map from `(key, value)` pairs.
pub(crate) fn entries<'k>(fields: impl IntoIterator<Item = (&'k str, Cbor)>) -> Cbor {
    Cbor::Map(fields.into_iter().map(|(key, value)| (key.to_string(), value)).collect())
}

/// Typed access to a protocol map's fields, with errors that name the field and the map.
pub(crate) struct MapAccess<'a> {
    item: &'a Cbor,
    what: &'a str,
}

impl<'a> MapAccess<'a> {
    pub(crate) fn new(item: &'a Cbor, what: &'a str) -> Result<MapAccess<'a>, ProtocolError> {
        match item {
            Cbor::Map(_) => Ok(MapAccess { item, what }),
            other => Err(ProtocolError(format!("{what} must be a map, not {}", other.kind_name()))),
        }
    }

    fn field(&self, key: &str) -> Result<&'a Cbor, ProtocolError> {
        self.item.get(key).ok_or_else(|| ProtocolError(format!("{} has no `{key}`", self.what)))
    }

    fn wrong(&self, key: &str, expected: &str, found: &Cbor) -> ProtocolError {
        ProtocolError(format!(
            "`{key}` of {} must be {expected}, not {}",
            self.what,
            found.kind_name()
        ))
    }

    pub(crate) fn u64(&self, key: &str) -> Result<u64, ProtocolError> {
        match self.field(key)? {
            Cbor::Unsigned(value) => Ok(*value),
            other => Err(self.wrong(key, "an unsigned integer", other)),
        }
    }

    pub(crate) fn u32(&self, key: &str) -> Result<u32, ProtocolError> {
        let value = self.u64(key)?;
        u32::try_from(value)
            .map_err(|_| ProtocolError(format!("`{key}` of {} is too large: {value}", self.what)))
    }

    pub(crate) fn i32(&self, key: &str) -> Result<i32, ProtocolError> {
        let value = match self.field(key)? {
            Cbor::Unsigned(value) => i64::try_from(*value).unwrap_or(i64::MAX),
            Cbor::Negative(value) => *value,
            other => return Err(self.wrong(key, "an integer", other)),
        };
        i32::try_from(value).map_err(|_| {
            ProtocolError(format!("`{key}` of {} is out of range: {value}", self.what))
        })
    }

    pub(crate) fn bool(&self, key: &str) -> Result<bool, ProtocolError> {
        match self.field(key)? {
            Cbor::Bool(value) => Ok(*value),
            other => Err(self.wrong(key, "a boolean", other)),
        }
    }

    pub(crate) fn text(&self, key: &str) -> Result<&'a str, ProtocolError> {
        match self.field(key)? {
            Cbor::Text(value) => Ok(value),
            other => Err(self.wrong(key, "a text string", other)),
        }
    }

    pub(crate) fn bytes(&self, key: &str) -> Result<&'a [u8], ProtocolError> {
        match self.field(key)? {
            Cbor::Bytes(value) => Ok(value),
            other => Err(self.wrong(key, "a byte string", other)),
        }
    }

    fn node(&self, key: &str) -> Result<NodeId, ProtocolError> {
        self.u32(key).map(NodeId)
    }

    fn fields(&self, key: &str) -> Result<Vec<(String, FieldValue)>, ProtocolError> {
        let Cbor::Map(entries) = self.field(key)? else {
            return Err(self.wrong(key, "a map", self.field(key)?));
        };
        entries
            .iter()
            .map(|(name, value)| Ok((name.clone(), field_value_from_cbor(name, value)?)))
            .collect()
    }

    pub(crate) fn kind(&self) -> Result<&'a str, ProtocolError> {
        self.text("type")
    }
}

fn field_value_to_cbor(value: &FieldValue) -> Cbor {
    match value {
        FieldValue::U64(v) => Cbor::Unsigned(*v),
        FieldValue::I64(v) => Cbor::int(*v),
        FieldValue::Bool(v) => Cbor::Bool(*v),
        FieldValue::Str(v) => Cbor::text(v.as_str()),
        FieldValue::Node(v) => entries([("node", Cbor::Unsigned(u64::from(v.0)))]),
    }
}

/// A field value: an integer, a boolean, text, or `{"node": n}` for a node id.
fn field_value_from_cbor(name: &str, value: &Cbor) -> Result<FieldValue, ProtocolError> {
    Ok(match value {
        Cbor::Unsigned(v) => FieldValue::U64(*v),
        Cbor::Negative(v) => FieldValue::I64(*v),
        Cbor::Bool(v) => FieldValue::Bool(*v),
        Cbor::Text(v) => FieldValue::Str(v.clone()),
        Cbor::Map(_) => FieldValue::Node(MapAccess::new(value, "a node field")?.node("node")?),
        other => {
            return Err(ProtocolError(format!(
                "field `{name}` holds {}; expected an integer, a boolean, text or {{\"node\": n}}",
                other.kind_name()
            )))
        }
    })
}

fn fields_to_cbor(fields: &[(String, FieldValue)]) -> Cbor {
    Cbor::Map(
        fields.iter().map(|(name, value)| (name.clone(), field_value_to_cbor(value))).collect(),
    )
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

fn with_type(kind: &'static str, fields: impl IntoIterator<Item = (&'static str, Cbor)>) -> Cbor {
    entries(std::iter::once(("type", Cbor::text(kind))).chain(fields))
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

impl FromChild {
    /// The message as its CBOR map.
    pub fn to_cbor(&self) -> Cbor {
        let node = |node: &NodeId| Cbor::Unsigned(u64::from(node.0));
        match self {
            FromChild::Send { to, message } => {
                with_type("send", [("to", node(to)), ("message", Cbor::Bytes(message.clone()))])
            }
            FromChild::TrySend { to, message } => {
                with_type("try_send", [("to", node(to)), ("message", Cbor::Bytes(message.clone()))])
            }
            FromChild::SetTimer { after, tag } => with_type(
                "set_timer",
                [("after", Cbor::Unsigned(after.as_nanos())), ("tag", Cbor::Unsigned(*tag))],
            ),
            FromChild::CancelTimer { timer } => {
                with_type("cancel_timer", [("timer", Cbor::Unsigned(timer.0))])
            }
            FromChild::Record { kind, fields } => with_type(
                "record",
                [("kind", Cbor::text(kind.as_str())), ("fields", fields_to_cbor(fields))],
            ),
            FromChild::Observe { kind, fields } => with_type(
                "observe",
                [("kind", Cbor::text(kind.as_str())), ("fields", fields_to_cbor(fields))],
            ),
            FromChild::Sometimes { label, condition } => with_type(
                "sometimes",
                [("label", Cbor::text(label.as_str())), ("condition", Cbor::Bool(*condition))],
            ),
            FromChild::HoldRole { role, held } => with_type(
                "hold_role",
                [("role", Cbor::text(role.as_str())), ("held", Cbor::Bool(*held))],
            ),
            FromChild::Disk(op) => with_type("disk", [("op", op_to_cbor(op))]),
            FromChild::Submit(op) => with_type("submit", [("op", op_to_cbor(op))]),
            FromChild::Exit { code } => with_type("exit", [("code", Cbor::int(i64::from(*code)))]),
            FromChild::Abort { reason } => {
                with_type("abort", [("reason", Cbor::text(reason.as_str()))])
            }
            FromChild::Done => with_type("done", []),
        }
    }

    /// Decodes a message from the child.
    pub fn from_cbor(item: &Cbor) -> Result<FromChild, ProtocolError> {
        let map = MapAccess::new(item, "a message from the child")?;
        let kind = map.kind()?;
        let map = MapAccess::new(item, kind)?;
        Ok(match kind {
            "send" => {
                FromChild::Send { to: map.node("to")?, message: map.bytes("message")?.to_vec() }
            }
            "try_send" => {
                FromChild::TrySend { to: map.node("to")?, message: map.bytes("message")?.to_vec() }
            }
            "set_timer" => FromChild::SetTimer {
                after: Duration::from_nanos(map.u64("after")?),
                tag: map.u64("tag")?,
            },
            "cancel_timer" => FromChild::CancelTimer { timer: TimerId(map.u64("timer")?) },
            "record" => FromChild::Record {
                kind: map.text("kind")?.to_string(),
                fields: map.fields("fields")?,
            },
            "observe" => FromChild::Observe {
                kind: map.text("kind")?.to_string(),
                fields: map.fields("fields")?,
            },
            "sometimes" => FromChild::Sometimes {
                label: map.text("label")?.to_string(),
                condition: map.bool("condition")?,
            },
            "hold_role" => {
                FromChild::HoldRole { role: map.text("role")?.to_string(), held: map.bool("held")? }
            }
            "disk" => FromChild::Disk(op_from_cbor(map.field("op")?)?),
            "submit" => FromChild::Submit(op_from_cbor(map.field("op")?)?),
            "exit" => FromChild::Exit { code: map.i32("code")? },
            "abort" => FromChild::Abort { reason: map.text("reason")?.to_string() },
            "done" => FromChild::Done,
            other => return Err(ProtocolError(format!("unknown effect `{other}`"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::DiskOpKind;

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

    // Proves every effect survives encoding, bytes and decoding unchanged, field values
    // keep their kinds and order, and only calls wait for a reply.
    #[test]
    fn effects_round_trip() {
        let fields = vec![
            ("b".to_string(), FieldValue::U64(3)),
            ("a".to_string(), FieldValue::I64(-3)),
            ("n".to_string(), FieldValue::Node(NodeId(2))),
            ("t".to_string(), FieldValue::Str("3".into())),
            ("f".to_string(), FieldValue::Bool(false)),
        ];
        let effects = [
            FromChild::Send { to: NodeId(1), message: vec![0xff] },
            FromChild::TrySend { to: NodeId(1), message: vec![] },
            FromChild::SetTimer { after: Duration::from_nanos(10), tag: 2 },
            FromChild::CancelTimer { timer: TimerId(4) },
            FromChild::Record { kind: "elected".into(), fields: fields.clone() },
            FromChild::Observe { kind: "commit".into(), fields },
            FromChild::Sometimes { label: "here".into(), condition: true },
            FromChild::HoldRole { role: "leader".into(), held: true },
            FromChild::Disk(DiskOp::Append { path: "wal".into(), data: vec![1] }),
            FromChild::Submit(DiskOp::Sync { path: "wal".into() }),
            FromChild::Exit { code: -2 },
            FromChild::Abort { reason: "disk gone".into() },
            FromChild::Done,
        ];
        let calls: Vec<bool> = effects.iter().map(FromChild::is_call).collect();
        assert_eq!(calls.iter().filter(|call| **call).count(), 3);
        for effect in effects {
            let item = Cbor::decode(&effect.to_cbor().to_bytes()).expect("decodes");
            assert_eq!(FromChild::from_cbor(&item), Ok(effect));
        }
    }

    // Proves malformed effects are errors that say what is wrong.
    #[test]
    fn malformed_effects_are_named() {
        let error = |item: Cbor| FromChild::from_cbor(&item).map_err(|e| e.0);
        assert_eq!(
            error(Cbor::Unsigned(1)),
            Err("a message from the child must be a map, not an unsigned integer".into())
        );
        assert_eq!(error(with_type("teleport", [])), Err("unknown effect `teleport`".into()));
        assert_eq!(
            error(with_type("send", [("to", Cbor::Unsigned(1))])),
            Err("send has no `message`".into())
        );
        assert_eq!(
            error(with_type(
                "send",
                [("to", Cbor::Unsigned(1 << 40)), ("message", Cbor::Bytes(vec![]))]
            )),
            Err("`to` of send is too large: 1099511627776".into())
        );
        assert_eq!(
            error(with_type(
                "record",
                [("kind", Cbor::text("x")), ("fields", entries([("f", Cbor::Null)]))]
            )),
            Err("field `f` holds null; expected an integer, a boolean, text or {\"node\": n}"
                .into())
        );
        assert_eq!(
            error(with_type("exit", [("code", Cbor::Unsigned(1 << 40))])),
            Err("`code` of exit is out of range: 1099511627776".into())
        );
    }
}
