//! Observations: what the protocol claims happened, recorded by processes through
//! `NodeApi::observe` and consumed by checks in event order.
//!
//! A check over live process state cannot see a node that has crashed, nor the claim a node
//! made two incarnations ago; an observation stays. "At most one leader per term over the
//! whole run" is a fold over `leader` observations, not a ledger the servers write. Each
//! observation carries the node, its incarnation, the true virtual time and a sequence
//! number in the run's total order.

use std::borrow::Cow;
use std::fmt;

use crate::id::NodeId;
use crate::time::Instant;
use crate::trace::OwnedValue;

/// One observation, as kept for checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Position in the run's observation order (0, 1, 2...).
    pub seq: u64,
    /// True virtual time of the event that made it.
    pub at: Instant,
    /// The node that observed.
    pub node: NodeId,
    /// The node's incarnation at the time (0 at first boot, one more after each crash).
    pub incarnation: u32,
    /// What was observed, e.g. `leader`, `commit`, `applied`.
    pub kind: Cow<'static, str>,
    /// Its fields, in the order the process gave them.
    pub fields: Vec<(Cow<'static, str>, OwnedValue)>,
}

impl Observation {
    /// The value of field `name`, if present.
    pub fn get(&self, name: &str) -> Option<&OwnedValue> {
        self.fields.iter().find(|(field, _)| field == name).map(|(_, value)| value)
    }

    /// Field `name` as an unsigned integer, if it is one.
    pub fn u64(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            OwnedValue::U64(value) => Some(*value),
            _ => None,
        }
    }

    /// Field `name` as a signed integer, if it is an integer that fits.
    pub fn i64(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            OwnedValue::U64(value) => i64::try_from(*value).ok(),
            OwnedValue::I64(value) => Some(*value),
            _ => None,
        }
    }

    /// Field `name` as text (any value renders as text).
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(ToString::to_string)
    }

    /// Field `name` as a node id, if it is one.
    pub fn node_field(&self, name: &str) -> Option<NodeId> {
        match self.get(name)? {
            OwnedValue::Node(node) => Some(*node),
            _ => None,
        }
    }

    /// Whether this observation is of `kind`.
    pub fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }
}

/// `leader term=5 (n2 incarnation 1 at 1.250000000)`: how failure messages cite it.
impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        for (name, value) in &self.fields {
            write!(f, " {name}={value}")?;
        }
        write!(f, " ({} incarnation {} at {})", self.node, self.incarnation, self.at)
    }
}
