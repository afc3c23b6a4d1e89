//! The disk's vocabulary as CBOR: `DiskOp`, `DiskOutput` and `DiskError` both ways, so a
//! child's disk calls and their results cross the pipe unchanged (the Rust client rebuilds
//! the very values the simulated disk returned).
//!
//! An operation is a map named by `op` with the `DiskOp` field names (`{"op": "write",
//! "path": "wal", "offset_bytes": 0, "data": h'..'}`); an output is a one-entry map saying
//! what it is (`{"appended_at": 12}`); an error is a map named by `kind` (`{"kind": "io",
//! "operation": "write", "path": "wal"}`).

use crate::disk::{DiskError, DiskOp, DiskOpKind, DiskOutput};

use super::cbor::Cbor;
use super::map_access::{entries, MapAccess, ProtocolError};

const KINDS: [DiskOpKind; 12] = [
    DiskOpKind::Create,
    DiskOpKind::Exists,
    DiskOpKind::Read,
    DiskOpKind::Write,
    DiskOpKind::Append,
    DiskOpKind::Length,
    DiskOpKind::Truncate,
    DiskOpKind::Delete,
    DiskOpKind::Rename,
    DiskOpKind::List,
    DiskOpKind::Sync,
    DiskOpKind::SyncDirectory,
];

fn kind_named(name: &str) -> Result<DiskOpKind, ProtocolError> {
    KINDS
        .into_iter()
        .find(|kind| kind.name() == name)
        .ok_or_else(|| ProtocolError(format!("unknown disk operation `{name}`")))
}

/// A disk operation as a map.
pub fn op_to_cbor(op: &DiskOp) -> Cbor {
    let name = Cbor::text(op.kind().name());
    let path = |path: &str| ("path", Cbor::text(path));
    let mut fields = vec![("op", name)];
    match op {
        DiskOp::Create { path: p }
        | DiskOp::Exists { path: p }
        | DiskOp::Length { path: p }
        | DiskOp::Delete { path: p }
        | DiskOp::Sync { path: p } => fields.push(path(p)),
        DiskOp::Read { path: p, offset_bytes, length_bytes } => fields.extend([
            path(p),
            ("offset_bytes", Cbor::Unsigned(*offset_bytes)),
            ("length_bytes", Cbor::Unsigned(*length_bytes)),
        ]),
        DiskOp::Write { path: p, offset_bytes, data } => fields.extend([
            path(p),
            ("offset_bytes", Cbor::Unsigned(*offset_bytes)),
            ("data", Cbor::Bytes(data.clone())),
        ]),
        DiskOp::Append { path: p, data } => {
            fields.extend([path(p), ("data", Cbor::Bytes(data.clone()))])
        }
        DiskOp::Truncate { path: p, length_bytes } => {
            fields.extend([path(p), ("length_bytes", Cbor::Unsigned(*length_bytes))])
        }
        DiskOp::Rename { from, to } => {
            fields.extend([("from", Cbor::text(from.as_str())), ("to", Cbor::text(to.as_str()))])
        }
        DiskOp::List { prefix } => fields.push(("prefix", Cbor::text(prefix.as_str()))),
        DiskOp::SyncDirectory => {}
    }
    entries(fields)
}

/// A disk operation from its map.
pub fn op_from_cbor(item: &Cbor) -> Result<DiskOp, ProtocolError> {
    let map = MapAccess::new(item, "a disk operation")?;
    let path = || map.text("path").map(str::to_string);
    Ok(match kind_named(map.text("op")?)? {
        DiskOpKind::Create => DiskOp::Create { path: path()? },
        DiskOpKind::Exists => DiskOp::Exists { path: path()? },
        DiskOpKind::Read => DiskOp::Read {
            path: path()?,
            offset_bytes: map.u64("offset_bytes")?,
            length_bytes: map.u64("length_bytes")?,
        },
        DiskOpKind::Write => DiskOp::Write {
            path: path()?,
            offset_bytes: map.u64("offset_bytes")?,
            data: map.bytes("data")?.to_vec(),
        },
        DiskOpKind::Append => DiskOp::Append { path: path()?, data: map.bytes("data")?.to_vec() },
        DiskOpKind::Length => DiskOp::Length { path: path()? },
        DiskOpKind::Truncate => {
            DiskOp::Truncate { path: path()?, length_bytes: map.u64("length_bytes")? }
        }
        DiskOpKind::Delete => DiskOp::Delete { path: path()? },
        DiskOpKind::Rename => {
            DiskOp::Rename { from: map.text("from")?.to_string(), to: map.text("to")?.to_string() }
        }
        DiskOpKind::List => DiskOp::List { prefix: map.text("prefix")?.to_string() },
        DiskOpKind::Sync => DiskOp::Sync { path: path()? },
        DiskOpKind::SyncDirectory => DiskOp::SyncDirectory,
    })
}

/// A successful operation's output as a one-entry map.
pub fn output_to_cbor(output: &DiskOutput) -> Cbor {
    let (key, value) = match output {
        DiskOutput::Done => ("done", Cbor::Null),
        DiskOutput::Exists(exists) => ("exists", Cbor::Bool(*exists)),
        DiskOutput::Bytes(bytes) => ("bytes", Cbor::Bytes(bytes.clone())),
        DiskOutput::AppendedAt { offset_bytes } => ("appended_at", Cbor::Unsigned(*offset_bytes)),
        DiskOutput::Length { length_bytes } => ("length_bytes", Cbor::Unsigned(*length_bytes)),
        DiskOutput::Names(names) => {
            ("names", Cbor::Array(names.iter().map(|name| Cbor::text(name.as_str())).collect()))
        }
    };
    entries([(key, value)])
}

/// An output from its one-entry map.
pub fn output_from_cbor(item: &Cbor) -> Result<DiskOutput, ProtocolError> {
    let Cbor::Map(fields) = item else {
        return Err(ProtocolError(format!(
            "a disk output must be a map, not {}",
            item.kind_name()
        )));
    };
    let [(key, value)] = fields.as_slice() else {
        return Err(ProtocolError("a disk output must have exactly one entry".to_string()));
    };
    let wrong = || ProtocolError(format!("disk output `{key}` holds {}", value.kind_name()));
    Ok(match (key.as_str(), value) {
        ("done", Cbor::Null) => DiskOutput::Done,
        ("exists", Cbor::Bool(exists)) => DiskOutput::Exists(*exists),
        ("bytes", Cbor::Bytes(bytes)) => DiskOutput::Bytes(bytes.clone()),
        ("appended_at", Cbor::Unsigned(offset_bytes)) => {
            DiskOutput::AppendedAt { offset_bytes: *offset_bytes }
        }
        ("length_bytes", Cbor::Unsigned(length_bytes)) => {
            DiskOutput::Length { length_bytes: *length_bytes }
        }
        ("names", Cbor::Array(items)) => DiskOutput::Names(
            items
                .iter()
                .map(|item| match item {
                    Cbor::Text(name) => Ok(name.clone()),
                    _ => Err(wrong()),
                })
                .collect::<Result<_, _>>()?,
        ),
        ("done" | "exists" | "bytes" | "appended_at" | "length_bytes" | "names", _) => {
            return Err(wrong())
        }
        _ => return Err(ProtocolError(format!("unknown disk output `{key}`"))),
    })
}

/// A disk error as a map named by `kind`.
pub fn error_to_cbor(error: &DiskError) -> Cbor {
    let kind = ("kind", Cbor::text(error.kind().name()));
    let path = |path: &str| ("path", Cbor::text(path));
    let operation = |operation: &DiskOpKind| ("operation", Cbor::text(operation.name()));
    entries(match error {
        DiskError::NotFound { path: p } | DiskError::AlreadyExists { path: p } => {
            vec![kind, path(p)]
        }
        DiskError::Io { operation: o, path: p } | DiskError::NoSpace { operation: o, path: p } => {
            vec![kind, operation(o), path(p)]
        }
        DiskError::QueueFull | DiskError::Crashed => vec![kind],
    })
}

/// A disk error from its map.
pub fn error_from_cbor(item: &Cbor) -> Result<DiskError, ProtocolError> {
    let map = MapAccess::new(item, "a disk error")?;
    let path = || map.text("path").map(str::to_string);
    let operation = || kind_named(map.text("operation")?);
    Ok(match map.text("kind")? {
        "not_found" => DiskError::NotFound { path: path()? },
        "already_exists" => DiskError::AlreadyExists { path: path()? },
        "io" => DiskError::Io { operation: operation()?, path: path()? },
        "no_space" => DiskError::NoSpace { operation: operation()?, path: path()? },
        "queue_full" => DiskError::QueueFull,
        "crashed" => DiskError::Crashed,
        other => return Err(ProtocolError(format!("unknown disk error `{other}`"))),
    })
}

/// A result as `{"ok": output}` or `{"error": error}`.
pub fn result_to_cbor(result: &Result<DiskOutput, DiskError>) -> Cbor {
    entries([result_entry(result)])
}

/// The one entry of a result's map: `("ok", output)` or `("error", error)`.
pub fn result_entry(result: &Result<DiskOutput, DiskError>) -> (&'static str, Cbor) {
    match result {
        Ok(output) => ("ok", output_to_cbor(output)),
        Err(error) => ("error", error_to_cbor(error)),
    }
}

/// A result from `{"ok": output}` or `{"error": error}`.
pub fn result_from_cbor(item: &Cbor) -> Result<Result<DiskOutput, DiskError>, ProtocolError> {
    match (item.get("ok"), item.get("error")) {
        (Some(output), None) => Ok(Ok(output_from_cbor(output)?)),
        (None, Some(error)) => Ok(Err(error_from_cbor(error)?)),
        _ => Err(ProtocolError("a result must have exactly one of `ok` and `error`".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves every operation, output and error crosses CBOR and comes back equal.
    #[test]
    fn disk_vocabulary_round_trips() {
        let path = || "wal".to_string();
        let ops = [
            DiskOp::Create { path: path() },
            DiskOp::Exists { path: path() },
            DiskOp::Read { path: path(), offset_bytes: 3, length_bytes: 9 },
            DiskOp::Write { path: path(), offset_bytes: 4, data: vec![1, 2, 3] },
            DiskOp::Append { path: path(), data: vec![] },
            DiskOp::Length { path: path() },
            DiskOp::Truncate { path: path(), length_bytes: 7 },
            DiskOp::Delete { path: path() },
            DiskOp::Rename { from: path(), to: "wal.old".into() },
            DiskOp::List { prefix: "w".into() },
            DiskOp::Sync { path: path() },
            DiskOp::SyncDirectory,
        ];
        assert_eq!(ops.len(), KINDS.len());
        for op in ops {
            let item = Cbor::decode(&op_to_cbor(&op).to_bytes()).expect("decodes");
            assert_eq!(op_from_cbor(&item), Ok(op));
        }
        for output in [
            DiskOutput::Done,
            DiskOutput::Exists(true),
            DiskOutput::Bytes(vec![9, 8]),
            DiskOutput::AppendedAt { offset_bytes: 12 },
            DiskOutput::Length { length_bytes: 5 },
            DiskOutput::Names(vec!["a".into(), "b".into()]),
        ] {
            assert_eq!(result_from_cbor(&result_to_cbor(&Ok(output.clone()))), Ok(Ok(output)));
        }
        for error in [
            DiskError::NotFound { path: path() },
            DiskError::AlreadyExists { path: path() },
            DiskError::Io { operation: DiskOpKind::Sync, path: path() },
            DiskError::NoSpace { operation: DiskOpKind::Append, path: path() },
            DiskError::QueueFull,
            DiskError::Crashed,
        ] {
            assert_eq!(result_from_cbor(&result_to_cbor(&Err(error.clone()))), Ok(Err(error)));
        }
    }

    // Proves a malformed operation names what is wrong instead of guessing.
    #[test]
    fn malformed_operations_are_named() {
        let bad = |fields: Vec<(&str, Cbor)>| op_from_cbor(&entries(fields)).map_err(|e| e.0);
        assert_eq!(
            bad(vec![("op", Cbor::text("format"))]),
            Err("unknown disk operation `format`".into())
        );
        assert_eq!(
            bad(vec![("op", Cbor::text("write")), ("path", Cbor::text("f"))]),
            Err("a disk operation has no `offset_bytes`".into())
        );
        assert_eq!(
            bad(vec![("op", Cbor::text("sync")), ("path", Cbor::Unsigned(1))]),
            Err("`path` of a disk operation must be a text string, not an unsigned integer".into())
        );
        assert!(output_from_cbor(&entries([("exists", Cbor::Null)])).is_err());
    }
}
