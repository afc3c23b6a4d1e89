//! Orrery's production runtime: the same process types that run in the simulated world, run
//! one node per OS process over real TCP sockets, tokio timers and a real directory.
//!
//! Protocol code is written once against `orrery_sim::NodeApi` (`impl<N: NodeApi<M>>
//! Process<M, N> for MyServer`). In simulation `N` is the world's `Context`; here it is
//! [`Node`], whose sends are frames to real peers, whose timers are on the tokio clock and
//! whose disk is a real directory with real `fdatasync` and directory `fsync`. The wire is
//! the workload's `orrery_sim::Codec`, the same bytes an `Encoded` simulated wire carries,
//! framed as `frame` describes.
//!
//! ```no_run
//! use orrery_runtime::{run, NodeConfig, NodeProcess};
//! use orrery_sim::wire::Bytes;
//! use orrery_sim::{NodeApi, NodeId, Process};
//!
//! /// Echoes every byte message back: written once, for any backing.
//! struct Echo;
//! impl<N: NodeApi<Vec<u8>>> Process<Vec<u8>, N> for Echo {
//!     fn on_message(&mut self, node: &mut N, from: NodeId, message: Vec<u8>) {
//!         node.send(from, message);
//!     }
//! }
//!
//! let config = NodeConfig::load("node0.yaml".as_ref()).unwrap_or_else(|error| {
//!     eprintln!("{error}");
//!     std::process::exit(2);
//! });
//! let report = run(config, Bytes, |_| -> NodeProcess<Bytes> { Box::new(Echo) })
//!     .unwrap_or_else(|error| {
//!         eprintln!("{error}");
//!         std::process::exit(2);
//!     });
//! std::process::exit(report.ended.exit_code());
//! ```
//!
//! Unix only (real `fdatasync`, inherited listening sockets, the host's `CLOCK_MONOTONIC`).
//!
//! What this crate never has: a fault power (no partition, crash, clog or disk fault is
//! reachable from it: it never names the simulator's `Control`), a `buggify` that fires, or an
//! unbounded queue.

mod clock;
pub mod config;
pub mod frame;
mod inbound;
mod node;
mod peer;
mod run;
mod stats;
pub mod storage;
mod timers;
mod trace;

pub use clock::host_monotonic;
pub use config::{ConfigError, NetworkConfig, NodeConfig, NodeEntry};
pub use node::{Ended, Node, NodeDisk};
pub use run::{run, serve, serve_on, Report, RuntimeError};
pub use stats::StatsSnapshot;
pub use storage::DirectoryStorage;

/// `docs/production.md`, whose examples are tested with the crate's.
#[cfg(doctest)]
#[doc = include_str!("../../docs/production.md")]
pub struct ProductionGuide;

/// What a factory builds for the production backing with codec `C`: any `Send` process
/// written for every `NodeApi` fits (`Box::new(MyServer::new(..))`). Boxed once per boot, so a binary can
/// run different process types by role; the callbacks' virtual call is nothing beside a
/// socket's system calls.
pub type NodeProcess<C> =
    Box<dyn orrery_sim::Process<<C as orrery_sim::Codec>::Message, Node<C>> + Send>;

#[cfg(test)]
mod tests {
    // Proves no source of this crate names a fault power or lets buggify fire: the production
    // surface stays free of them by construction, not by convention.
    #[test]
    fn no_fault_power_in_the_production_sources() {
        let forbidden = ["Control", "::fault", "fn buggify"];
        let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut problems = Vec::new();
        let mut files = 0;
        for entry in std::fs::read_dir(&directory).expect("src/") {
            let path = entry.expect("an entry").path();
            let text = std::fs::read_to_string(&path).expect("a source");
            files += 1;
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                let code = code.split('"').step_by(2).collect::<String>();
                for pattern in forbidden.iter().filter(|pattern| code.contains(**pattern)) {
                    problems.push(format!("{}:{}: {pattern}", path.display(), number + 1));
                }
            }
        }
        assert!(files >= 10, "found only {files} sources");
        assert!(problems.is_empty(), "fault powers in the runtime:\n{}", problems.join("\n"));
    }
}
