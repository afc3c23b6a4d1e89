//! What a child sends the world during its step, as typed values: `FromChild` (effects,
//! calls that wait for a reply, and the `done` that ends the step) and `FieldValue` (a
//! record's or observation's field as the child gave it). Both the world and the Rust client
//! encode and decode through here; docs/SUBPROCESS_PROTOCOL.md specifies the layout.

use crate::disk::DiskOp;
use crate::id::{NodeId, TimerId};
use crate::time::Duration;
use crate::trace::Value;

use super::cbor::Cbor;
use super::disk_codec::{op_from_cbor, op_to_cbor};
use super::map_access::{entries, with_type, MapAccess, ProtocolError};

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

/// The record or observation fields at `key` of `map`.
fn fields(map: &MapAccess<'_>, key: &str) -> Result<Vec<(String, FieldValue)>, ProtocolError> {
    let Cbor::Map(entries) = map.field(key)? else {
        return Err(map.wrong(key, "a map", map.field(key)?));
    };
    entries
        .iter()
        .map(|(name, value)| Ok((name.clone(), field_value_from_cbor(name, value)?)))
        .collect()
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
                fields: fields(&map, "fields")?,
            },
            "observe" => FromChild::Observe {
                kind: map.text("kind")?.to_string(),
                fields: fields(&map, "fields")?,
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
