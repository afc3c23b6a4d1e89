//! The scenario's node names in traces: a trace whose header lists them (`# nodes s0 c0 c1`)
//! renders every node, in the node column and in node-valued fields, by its name, and reads
//! names back to the same node ids, so the records (and the fingerprint) are unchanged.

use std::fmt::{self, Write as _};

use crate::node::NodeId;
use crate::topology::Topology;

use super::{write_escaped, OwnedValue, Record};

/// No names: every node goes by its id.
pub(crate) static NO_NAMES: NodeNames = NodeNames(Vec::new());

/// Node names by node id. Empty when the nodes go by their ids (`n0`, `n1`...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeNames(Vec<String>);

impl NodeNames {
    /// The names of `topology`'s nodes; empty if every node is called by its id anyway, or
    /// if a name could not be one token of a trace line (empty, with a space, `=` or a
    /// control character, `-`, or repeated), so such a trace stays readable.
    pub fn of(topology: &Topology) -> NodeNames {
        let names: Vec<String> = (0..topology.len())
            .map(|i| topology.node(NodeId(i as u32)).map(|s| s.name.clone()).unwrap_or_default())
            .collect();
        NodeNames::new(names)
    }

    /// `names[i]` names node `i`; see [`NodeNames::of`] for when the result is empty.
    pub fn new(names: Vec<String>) -> NodeNames {
        let token = |name: &String| {
            !name.is_empty()
                && name != "-"
                && !name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '=')
        };
        let mut sorted: Vec<&String> = names.iter().collect();
        sorted.sort();
        let unique = sorted.windows(2).all(|pair| pair[0] != pair[1]);
        let by_id = names.iter().enumerate().all(|(i, name)| *name == format!("n{i}"));
        match names.iter().all(token) && unique && !by_id {
            true => NodeNames(names),
            false => NodeNames(Vec::new()),
        }
    }

    /// Whether the nodes go by their ids.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names, by node id.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// `node`'s name, if the nodes have names.
    pub fn name(&self, node: NodeId) -> Option<&str> {
        self.0.get(node.index()).map(String::as_str)
    }

    /// The node called `name`.
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.0.iter().position(|n| n == name).map(|i| NodeId(i as u32))
    }

    /// A value read from a trace line: a node's name is that node.
    pub(crate) fn value(&self, text: &str) -> OwnedValue {
        match self.find(text) {
            Some(node) => OwnedValue::Node(node),
            None => OwnedValue::parse(text),
        }
    }

    /// `value` as a line shows it.
    pub fn render_value(&self, value: &OwnedValue) -> String {
        match value {
            OwnedValue::Node(node) => {
                self.name(*node).map_or_else(|| node.to_string(), str::to_string)
            }
            other => other.to_string(),
        }
    }

    fn write_node(&self, f: &mut fmt::Formatter<'_>, node: NodeId) -> fmt::Result {
        match self.name(node) {
            Some(name) => f.write_str(name),
            None => write!(f, "{node}"),
        }
    }
}

/// A record rendered with node names: see [`Record::named`].
pub struct Named<'a> {
    pub(super) record: &'a Record,
    pub(super) names: &'a NodeNames,
}

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Named { record, names } = self;
        write!(f, "{} ", record.time)?;
        match record.node {
            Some(node) => names.write_node(f, node)?,
            None => f.write_char('-')?,
        }
        f.write_char(' ')?;
        f.write_str(&record.kind)?;
        for (name, value) in &record.fields {
            write!(f, " {name}=")?;
            match value {
                OwnedValue::Node(node) => names.write_node(f, *node)?,
                other => write!(f, "{other}")?,
            }
        }
        if let Some(detail) = &record.detail {
            f.write_char(' ')?;
            write_escaped(f, detail)?;
        }
        Ok(())
    }
}
