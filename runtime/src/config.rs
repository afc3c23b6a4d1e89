//! A production node's configuration: who it is, where every node listens, where its data
//! lives, and the network's bounds. Built in code (`NodeConfig::new`) or read from a small
//! YAML file (`NodeConfig::load`) whose keys are the field names:
//!
//! ```yaml
//! node: 1                       # this node's id
//! data_dir: /var/lib/kv/n1      # its disk (files, and the incarnation counter)
//! nodes:                        # every node, ids 0..n in order
//!   - {id: 0, address: 127.0.0.1:7000, role: server}
//!   - {id: 1, address: 127.0.0.1:7001, role: server}
//!   - {id: 2, address: 127.0.0.1:7002, role: server}
//!   - {id: 3, address: 127.0.0.1:7003, role: client}
//! # optional:
//! listen: 127.0.0.1:7001        # default: loopback, on the port of this node's address
//! seed: 17                      # default: drawn from the OS (and written to the trace)
//! trace_json: /var/log/kv/n1.jsonl
//! network: {queue_capacity: 1024, reconnect_backoff_max: 1s}
//! ```
//!
//! Every node listens and dials: a pair of nodes shares the connection whichever of them
//! sent first dialed (see `peer`). Errors name `file:line:col`.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use orrery_sim::{ms, secs, Duration, NodeId};
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

/// Everything one node needs to run.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id.
    pub node: NodeId,
    /// Every node of the system, in id order (`nodes[i].id == NodeId(i)`).
    pub nodes: Vec<NodeEntry>,
    /// Where to accept connections. Defaults to loopback on this node's port: serving other
    /// machines is a deliberate `listen: 0.0.0.0:PORT`.
    pub listen: SocketAddr,
    /// A listening socket inherited from the parent process (Unix), used instead of binding
    /// `listen`: socket activation, or a supervisor that keeps the port across restarts.
    pub listen_fd: Option<i32>,
    /// The node's directory: its storage in `disk/`, its incarnation counter beside it.
    pub data_dir: PathBuf,
    /// The seed of the node's random streams; `None` draws one from the OS.
    pub seed: Option<u64>,
    /// Where to append records and observations as JSON lines (the trace format), if at all.
    pub trace_json: Option<PathBuf>,
    /// Queue and connection bounds.
    pub network: NetworkConfig,
}

/// One node as every other node knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    pub id: NodeId,
    /// Where it accepts connections.
    pub address: SocketAddr,
    /// What it runs (`server`, `client`...), for factories to tell roles apart.
    pub role: String,
}

/// The network's bounds. Every queue is bounded; what does not fit is dropped and counted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Frames waiting to be written to one peer; a send to a full queue is dropped.
    pub queue_capacity: usize,
    /// Received messages waiting for the process; readers wait when it is full (the TCP
    /// window then pushes back on the sender).
    pub inbox_capacity: usize,
    /// The longest frame payload sent or accepted; a longer incoming length closes the
    /// connection.
    pub frame_bytes_max: u32,
    /// How long a dial may take.
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// How long an accepted connection may take to say who it is.
    #[serde(deserialize_with = "duration")]
    pub handshake_timeout: Duration,
    /// The first wait after a failed dial; it doubles up to `reconnect_backoff_max`, each
    /// wait jittered to between half and all of it.
    #[serde(deserialize_with = "duration")]
    pub reconnect_backoff_min: Duration,
    #[serde(deserialize_with = "duration")]
    pub reconnect_backoff_max: Duration,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            queue_capacity: 1024,
            inbox_capacity: 1024,
            frame_bytes_max: 16 << 20,
            connect_timeout: secs(1),
            handshake_timeout: secs(5),
            reconnect_backoff_min: ms(10),
            reconnect_backoff_max: secs(1),
        }
    }
}

/// A configuration that cannot be used, with where in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or the name given to `parse`).
    pub source_name: String,
    /// 1-based line and column; 0 when the problem has no place in the file.
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.source_name, self.message),
            line => write!(f, "{}:{line}:{}: {}", self.source_name, self.column, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl NodeConfig {
    /// Node `node` of `nodes` (ids 0..n in order), keeping its data in `data_dir`, with the
    /// defaults for everything else.
    pub fn new(node: NodeId, nodes: Vec<NodeEntry>, data_dir: impl Into<PathBuf>) -> NodeConfig {
        let port = nodes.get(node.index()).map_or(0, |entry| entry.address.port());
        NodeConfig {
            node,
            nodes,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            listen_fd: None,
            data_dir: data_dir.into(),
            seed: None,
            trace_json: None,
            network: NetworkConfig::default(),
        }
    }

    /// Reads the YAML file at `path`.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            source_name: name.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the node configuration: {error}"),
        })?;
        NodeConfig::parse(&name, &text)
    }

    /// Reads YAML `text`; `source_name` names it in errors.
    pub fn parse(source_name: &str, text: &str) -> Result<NodeConfig, ConfigError> {
        let error = |at: Location, message: String| ConfigError {
            source_name: source_name.to_string(),
            line: at.line(),
            column: at.column(),
            message,
        };
        let options = serde_saphyr::options! { with_snippet: false, strict_booleans: true };
        let file: ConfigFile =
            serde_saphyr::from_str_with_options(text, options).map_err(|problem| {
                let problem = problem.without_snippet();
                let at = problem.location().unwrap_or(Location::UNKNOWN);
                let message = problem.to_string();
                // The parser's own wording, less the location it repeats.
                let message = message.split(" at line ").next().unwrap_or(&message);
                error(at, message.chars().filter(|c| !c.is_control()).collect())
            })?;
        let mut nodes = Vec::with_capacity(file.nodes.len());
        for (index, entry) in file.nodes.iter().enumerate() {
            if entry.value.id as usize != index {
                return Err(error(
                    entry.referenced,
                    format!(
                        "node entry {index} has id {}: expected ids 0, 1, 2... in order",
                        entry.value.id
                    ),
                ));
            }
            nodes.push(NodeEntry {
                id: NodeId(entry.value.id),
                address: entry.value.address,
                role: entry.value.role.clone(),
            });
        }
        if nodes.is_empty() {
            return Err(error(Location::UNKNOWN, "expected at least one entry in `nodes`".into()));
        }
        let node = NodeId(file.node.value);
        let Some(own) = nodes.get(node.index()) else {
            return Err(error(
                file.node.referenced,
                format!("node {} is not among the {} entries of `nodes`", node.0, nodes.len()),
            ));
        };
        let listen = file
            .listen
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, own.address.port())));
        let network = file.network.unwrap_or_default();
        let min_above_max = network.reconnect_backoff_min > network.reconnect_backoff_max;
        if network.queue_capacity == 0 || network.inbox_capacity == 0 || min_above_max {
            return Err(error(
                Location::UNKNOWN,
                "network: expected capacities above zero and reconnect_backoff_min at most \
                 reconnect_backoff_max"
                    .into(),
            ));
        }
        Ok(NodeConfig {
            node,
            nodes,
            listen,
            listen_fd: file.listen_fd,
            data_dir: file.data_dir,
            seed: file.seed,
            trace_json: file.trace_json,
            network,
        })
    }

    /// How many nodes the system has.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// This node's role.
    pub fn role(&self) -> &str {
        self.nodes.get(self.node.index()).map_or("", |entry| entry.role.as_str())
    }

    /// The nodes with `role`, in id order.
    pub fn nodes_with_role(&self, role: &str) -> Vec<NodeId> {
        self.nodes.iter().filter(|entry| entry.role == role).map(|entry| entry.id).collect()
    }

    /// Renders the configuration as the YAML `parse` reads.
    pub fn to_yaml(&self) -> String {
        let mut text = format!(
            "node: {}\ndata_dir: {:?}\nlisten: {}\n",
            self.node.0, self.data_dir, self.listen
        );
        if let Some(fd) = self.listen_fd {
            text += &format!("listen_fd: {fd}\n");
        }
        if let Some(seed) = self.seed {
            text += &format!("seed: {seed}\n");
        }
        if let Some(path) = &self.trace_json {
            text += &format!("trace_json: {path:?}\n");
        }
        let n = &self.network;
        text += &format!(
            "network: {{queue_capacity: {}, inbox_capacity: {}, frame_bytes_max: {}, \
             connect_timeout: {}, handshake_timeout: {}, reconnect_backoff_min: {}, \
             reconnect_backoff_max: {}}}\nnodes:\n",
            n.queue_capacity,
            n.inbox_capacity,
            n.frame_bytes_max,
            n.connect_timeout,
            n.handshake_timeout,
            n.reconnect_backoff_min,
            n.reconnect_backoff_max
        );
        for entry in &self.nodes {
            text += &format!(
                "  - {{id: {}, address: {}, role: {:?}}}\n",
                entry.id.0, entry.address, entry.role
            );
        }
        text
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    node: Spanned<u32>,
    nodes: Vec<Spanned<EntryFile>>,
    data_dir: PathBuf,
    listen: Option<SocketAddr>,
    listen_fd: Option<i32>,
    seed: Option<u64>,
    trace_json: Option<PathBuf>,
    network: Option<NetworkConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    id: u32,
    address: SocketAddr,
    #[serde(default = "default_role")]
    role: String,
}

fn default_role() -> String {
    "node".to_string()
}

/// A duration written with its unit ("150ms", "2s"), as in scenarios.
fn duration<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(|error| serde::de::Error::custom(format!("{error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
node: 1
data_dir: /tmp/n1
nodes:
  - {id: 0, address: 127.0.0.1:7000, role: server}
  - {id: 1, address: 127.0.0.1:7001, role: server}
  - {id: 2, address: 127.0.0.1:7002}
network: {queue_capacity: 8, reconnect_backoff_max: 2s}
";

    // Proves a file reads as written, binds loopback on the node's port by default, and
    // renders back to YAML that reads the same.
    #[test]
    fn a_file_reads_with_loopback_by_default_and_round_trips() {
        let config = NodeConfig::parse("n1.yaml", FILE).expect("valid");
        assert_eq!(config.node, NodeId(1));
        assert_eq!(config.listen, "127.0.0.1:7001".parse().expect("address"));
        assert_eq!(config.nodes_with_role("server"), [NodeId(0), NodeId(1)]);
        assert_eq!(config.nodes[2].role, "node");
        assert_eq!(config.network.queue_capacity, 8);
        assert_eq!(config.network.reconnect_backoff_max, secs(2));
        assert_eq!(config.network.inbox_capacity, NetworkConfig::default().inbox_capacity);
        let again = NodeConfig::parse("again", &config.to_yaml()).expect("renders valid YAML");
        assert_eq!(again.to_yaml(), config.to_yaml());
    }

    // Proves bad files are errors naming file:line:col and what was expected, in our words.
    #[test]
    fn bad_files_name_the_place() {
        for (text, expected) in [
            (FILE.replace("id: 2,", "id: 5,"), "n1.yaml:6:5: node entry 2 has id 5: expected ids"),
            (FILE.replace("node: 1", "node: 3"), "n1.yaml:1:7: node 3 is not among the 3"),
            (FILE.replace("7002", "70x2"), "n1.yaml:6:"),
            (FILE.replace("queue_capacity", "queue_capacty"), "n1.yaml:7:"),
            (FILE.replace("2s", "2 parsecs"), "n1.yaml:7:"),
            (FILE.replace("8,", "0,"), "n1.yaml: network: expected capacities above zero"),
        ] {
            let error = NodeConfig::parse("n1.yaml", &text).expect_err(&text).to_string();
            assert!(error.starts_with(expected), "{error}\n  expected to start with {expected}");
        }
    }
}
