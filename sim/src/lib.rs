//! Orrery's engine: a deterministic world that runs distributed-system code against a
//! simulated network and disks, with faults, checkers and a seed-sweeping runner.
//! See ARCHITECTURE.md at the repository root for the map.
//!
//! # Pull style: step-by-step tests
//!
//! Four nodes; nodes 0 to 2 are the service, node 3 is a client. The client sends a write to
//! replica 0, the test drives the world, and replica 0 drains its inbox:
//!
//! ```
//! use orrery_sim::{ms, Envelope, NodeId, World};
//!
//! #[derive(Debug, Clone, PartialEq)]
//! enum Request {
//!     Write { value: u64 },
//! }
//!
//! let mut world = World::<Request>::builder(7).endpoints(4).build();
//! let (replica, client) = (NodeId(0), NodeId(3));
//!
//! world.endpoint(client).send(replica, Request::Write { value: 42 })?;
//! world.run_for(ms(10));
//!
//! let inbox: Vec<Envelope<Request>> = world.endpoint(replica).drain();
//! assert_eq!(inbox, [Envelope { from: client, message: Request::Write { value: 42 } }]);
//! # Ok::<(), orrery_sim::net::SendError>(())
//! ```
//!
//! # The control authority
//!
//! Faults live on `Control`, which only the test or scenario driver holds. The Marionette
//! seed's calls and their equivalents:
//!
//! ```
//! use orrery_sim::{ms, NodeId, World};
//!
//! let mut world = World::<u64>::builder(1).endpoints(4).build();
//! let (n0, n1, n2, n3) = (NodeId(0), NodeId(1), NodeId(2), NodeId(3));
//! world.control().set_loss(0.20);                 // setLossiness(20%)
//! world.control().set_node_up(n1, false);         // setNode(1, false)
//! world.control().clog(n0, n1, ms(100));          // clog(0, 1, 100ms)
//! world.control().partition(&[n0, n1], &[n2, n3]); // partition(left, right)
//! world.control().heal();                         // heal()
//!
//! // Every control call is a traced event with its parameters.
//! let mut world = World::<u64>::builder(1).endpoints(2).record(true).build();
//! world.control().clog(n0, n1, ms(100));
//! assert_eq!(world.trace().render(), "0.000000000 - clog_link n0->n1 for=100ms\n");
//! ```
//!
//! # Push style: processes
//!
//! ```
//! use orrery_sim::{ms, Context, NodeApi, NodeId, Process, TimerId, World};
//!
//! #[derive(Debug, Clone)]
//! enum Msg { Ping(u64), Pong(u64) }
//!
//! struct Pinger { pongs: u64 }
//! impl Process<Msg> for Pinger {
//!     fn on_start(&mut self, ctx: &mut Context<Msg>) {
//!         ctx.set_timer(ms(10), 0);
//!     }
//!     fn on_message(&mut self, ctx: &mut Context<Msg>, from: NodeId, message: Msg) {
//!         match message {
//!             Msg::Ping(n) => ctx.send(from, Msg::Pong(n)),
//!             Msg::Pong(_) => self.pongs += 1,
//!         }
//!     }
//!     fn on_timer(&mut self, ctx: &mut Context<Msg>, _timer: TimerId, _tag: u64) {
//!         let peer = NodeId(1 - ctx.id().0);
//!         ctx.send(peer, Msg::Ping(ctx.now().as_nanos()));
//!         ctx.set_timer(ms(10), 0);
//!     }
//! }
//!
//! let mut world = World::<Msg>::builder(42)
//!     .processes(2, |_| Pinger { pongs: 0 })
//!     .build();
//! world.run_for(ms(105));
//! assert_eq!(world.process::<Pinger>(NodeId(0)).map(|p| p.pongs), Some(10));
//! ```

pub mod check;
pub mod checksum;
pub mod cli;
pub mod clock;
pub mod control;
pub mod disk;
pub mod durable;
pub mod fault;
#[doc = include_str!("../../docs/guide.md")]
pub mod guide {}
pub mod harness;
mod id;
pub mod net;
pub mod node;
pub mod observation;
pub mod prelude;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod scheduler;
pub mod shrink;
pub mod subprocess;
pub mod task;
pub mod tidy;
pub mod time;
pub mod topology;
pub mod trace;
pub mod view;
pub mod wire;
pub mod workload;
pub mod world;

pub use fault::{BuggifyConfig, ControlAction};
pub use net::{Latency, LinkConfig, PartitionShape, WhenFull};
pub use node::{DownReason, Envelope, NodeApi, NodeId, NodeStatus, Process, Storage, TimerId};
pub use observation::Observation;
pub use rng::Stream;
pub use runner::{TestOutcome, TestRun};
pub use task::AsyncNode;
pub use time::{ms, ns, secs, us, Duration, Instant};
pub use topology::{DomainKind, NodeSpec, Topology};
pub use trace::{Trace, Value};
pub use wire::{Bytes, Codec, DecodeError, Encoded, Typed, Wire};
pub use workload::{Choice, Params, Registry};
pub use world::{
    AfterEvent, AppDisk, Context, Control, Endpoint, Limit, Outcome, World, WorldBuilder,
    WorldConfig,
};

pub use orrery_macros::{Choice, Params};

// The derives name `::orrery_sim`; this lets them work inside this crate too.
extern crate self as orrery_sim;
