//! `MapAccess`: typed reading of the protocol's CBOR maps, with errors that name the field
//! and the message (`send has no \`message\``), and the two ways to build a map. Every
//! message of the protocol is one map with a `type` key.

use crate::id::NodeId;

use super::cbor::Cbor;

/// A message that breaks the protocol, with what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

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

    pub(crate) fn field(&self, key: &str) -> Result<&'a Cbor, ProtocolError> {
        self.item.get(key).ok_or_else(|| ProtocolError(format!("{} has no `{key}`", self.what)))
    }

    pub(crate) fn wrong(&self, key: &str, expected: &str, found: &Cbor) -> ProtocolError {
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

    pub(crate) fn node(&self, key: &str) -> Result<NodeId, ProtocolError> {
        self.u32(key).map(NodeId)
    }

    pub(crate) fn kind(&self) -> Result<&'a str, ProtocolError> {
        self.text("type")
    }
}

/// A message map: `type` first, then `fields`.
pub(crate) fn with_type(
    kind: &'static str,
    fields: impl IntoIterator<Item = (&'static str, Cbor)>,
) -> Cbor {
    entries(std::iter::once(("type", Cbor::text(kind))).chain(fields))
}
