//! The topology: nodes with roles and failure domains, and directed links with settings,
//! as a petgraph graph.
//!
//! Node `i` of the graph is `NodeId(i)`; nodes are never removed, so ids are stable. Links
//! that are not in the graph use the network's default settings; an edge carries an override
//! for one direction. Failure domains (machine, rack, zone) are tags that can be queried:
//! "all nodes in zone b" is what domain-wide crashes and `max_dead` budgets are built on.

use petgraph::graph::{DiGraph, NodeIndex};

use crate::net::LinkConfig;
use crate::node::NodeId;

/// The kinds of failure domain a node can be tagged with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DomainKind {
    Machine,
    Rack,
    Zone,
}

impl DomainKind {
    pub fn name(self) -> &'static str {
        match self {
            DomainKind::Machine => "machine",
            DomainKind::Rack => "rack",
            DomainKind::Zone => "zone",
        }
    }
}

/// One node's description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub role: String,
    pub machine: Option<String>,
    pub rack: Option<String>,
    pub zone: Option<String>,
    /// The node runs this command (program, then arguments) as a child process speaking the
    /// lockstep protocol (see `subprocess`), instead of its role's in-process factory.
    pub command: Option<Vec<String>>,
}

impl NodeSpec {
    pub fn named(name: impl Into<String>) -> NodeSpec {
        NodeSpec { name: name.into(), ..NodeSpec::default() }
    }

    pub fn role(mut self, role: impl Into<String>) -> NodeSpec {
        self.role = role.into();
        self
    }

    /// Runs the node as a child process with `command` (program, then arguments).
    pub fn command(mut self, command: impl IntoIterator<Item = impl Into<String>>) -> NodeSpec {
        self.command = Some(command.into_iter().map(Into::into).collect());
        self
    }

    pub fn domain(mut self, kind: DomainKind, value: impl Into<String>) -> NodeSpec {
        let slot = match kind {
            DomainKind::Machine => &mut self.machine,
            DomainKind::Rack => &mut self.rack,
            DomainKind::Zone => &mut self.zone,
        };
        *slot = Some(value.into());
        self
    }

    pub fn domain_value(&self, kind: DomainKind) -> Option<&str> {
        match kind {
            DomainKind::Machine => self.machine.as_deref(),
            DomainKind::Rack => self.rack.as_deref(),
            DomainKind::Zone => self.zone.as_deref(),
        }
    }
}

impl From<&str> for NodeSpec {
    fn from(name: &str) -> NodeSpec {
        NodeSpec::named(name)
    }
}

/// Nodes and link overrides.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    graph: DiGraph<NodeSpec, LinkConfig>,
}

impl Topology {
    pub fn new() -> Topology {
        Topology::default()
    }

    /// `n` nodes named `n0..n{n-1}` with no role or domains.
    pub fn with_nodes(n: usize) -> Topology {
        let mut topology = Topology::new();
        for i in 0..n {
            topology.add_node(NodeSpec::named(format!("n{i}")));
        }
        topology
    }

    pub fn add_node(&mut self, spec: NodeSpec) -> NodeId {
        NodeId(self.graph.add_node(spec).index() as u32)
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.graph.node_indices().map(|i| NodeId(i.index() as u32))
    }

    pub fn node(&self, node: NodeId) -> Option<&NodeSpec> {
        self.graph.node_weight(NodeIndex::new(node.index()))
    }

    /// The node with this name.
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.graph
            .node_indices()
            .find(|&i| self.graph[i].name == name)
            .map(|i| NodeId(i.index() as u32))
    }

    /// Overrides the settings of the directed link `from -> to`.
    pub fn set_link(&mut self, from: NodeId, to: NodeId, config: LinkConfig) {
        let (a, b) = (NodeIndex::new(from.index()), NodeIndex::new(to.index()));
        match self.graph.find_edge(a, b) {
            Some(edge) => self.graph[edge] = config,
            None => {
                self.graph.add_edge(a, b, config);
            }
        }
    }

    /// The override on `from -> to`, if any.
    pub fn link(&self, from: NodeId, to: NodeId) -> Option<&LinkConfig> {
        let edge =
            self.graph.find_edge(NodeIndex::new(from.index()), NodeIndex::new(to.index()))?;
        self.graph.edge_weight(edge)
    }

    /// Every link override as (from, to, settings), in insertion order.
    pub fn links(&self) -> impl Iterator<Item = (NodeId, NodeId, &LinkConfig)> + '_ {
        self.graph.edge_indices().filter_map(|edge| {
            let (a, b) = self.graph.edge_endpoints(edge)?;
            Some((NodeId(a.index() as u32), NodeId(b.index() as u32), &self.graph[edge]))
        })
    }

    /// All nodes tagged with `value` in the domain `kind`, in id order.
    pub fn nodes_in(&self, kind: DomainKind, value: &str) -> Vec<NodeId> {
        self.nodes()
            .filter(|&n| self.node(n).and_then(|spec| spec.domain_value(kind)) == Some(value))
            .collect()
    }

    /// All nodes with the given role, in id order.
    pub fn nodes_with_role(&self, role: &str) -> Vec<NodeId> {
        self.nodes().filter(|&n| self.node(n).is_some_and(|spec| spec.role == role)).collect()
    }

    /// The distinct values of a domain kind, sorted.
    pub fn domains(&self, kind: DomainKind) -> Vec<String> {
        let mut values: Vec<String> = self
            .nodes()
            .filter_map(|n| self.node(n).and_then(|s| s.domain_value(kind)).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Latency;
    use crate::time::ms;

    // Proves failure-domain and role queries return exactly the tagged nodes, in id order.
    #[test]
    fn queries_nodes_by_domain_and_role() {
        let mut topology = Topology::new();
        for (i, zone) in ["a", "b", "b", "c"].iter().enumerate() {
            let role = if i == 3 { "client" } else { "replica" };
            topology.add_node(
                NodeSpec::named(format!("n{i}"))
                    .role(role)
                    .domain(DomainKind::Zone, *zone)
                    .domain(DomainKind::Rack, format!("r{}", i / 2)),
            );
        }
        assert_eq!(topology.nodes_in(DomainKind::Zone, "b"), vec![NodeId(1), NodeId(2)]);
        assert_eq!(topology.nodes_in(DomainKind::Rack, "r1"), vec![NodeId(2), NodeId(3)]);
        assert!(topology.nodes_in(DomainKind::Machine, "m0").is_empty());
        assert_eq!(topology.nodes_with_role("client"), vec![NodeId(3)]);
        assert_eq!(topology.domains(DomainKind::Zone), ["a", "b", "c"]);
        assert_eq!(topology.find("n2"), Some(NodeId(2)));
    }

    // Proves link overrides are per direction and replace earlier ones.
    #[test]
    fn link_overrides_are_directed() {
        let mut topology = Topology::with_nodes(3);
        let slow = LinkConfig { latency: Latency::Fixed(ms(50)), ..LinkConfig::default() };
        topology.set_link(NodeId(0), NodeId(1), LinkConfig::default());
        topology.set_link(NodeId(0), NodeId(1), slow);
        assert_eq!(topology.link(NodeId(0), NodeId(1)), Some(&slow));
        assert_eq!(topology.link(NodeId(1), NodeId(0)), None);
        assert_eq!(topology.links().count(), 1);
    }
}
