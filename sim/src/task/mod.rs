//! Async processes: protocol code written with `async`/`await`, run by a deterministic
//! executor inside each node. The callback-style `Process` stays the fastest path; this is
//! the second style, for code shaped like most Rust distributed systems.
//!
//! An `AsyncNode` is a `Process` like any other: the world (or a production runtime) calls
//! its callbacks, and each callback wakes the tasks waiting on its event and polls them until
//! every task waits again. Tasks act through a `Node` handle: the node-scoped authority as
//! async operations.
//!
//! ```
//! use orrery_sim::task::{AsyncNode, Node};
//! use orrery_sim::{ms, NodeId, World};
//!
//! #[derive(Debug, Clone)]
//! enum Msg { Ping(u64), Pong(u64) }
//!
//! async fn server(node: Node<Msg>) {
//!     loop {
//!         let (from, message) = node.recv().await;
//!         if let Msg::Ping(n) = message {
//!             node.send(from, Msg::Pong(n));
//!         }
//!     }
//! }
//!
//! async fn client(node: Node<Msg>, pongs: std::rc::Rc<std::cell::RefCell<u64>>) {
//!     for n in 0..3 {
//!         node.send(NodeId(0), Msg::Ping(n));
//!         // A typed receive with a deadline: the pong for this ping, or give up after 50ms.
//!         let pong = node.recv_map(|_, m| matches!(m, Msg::Pong(k) if *k == n).then_some(n));
//!         if node.timeout(ms(50), pong).await.is_ok() {
//!             *pongs.borrow_mut() += 1;
//!         }
//!         node.sleep(ms(10)).await;
//!     }
//! }
//!
//! let mut world = World::<Msg>::builder(7)
//!     .processes_boxed(2, |id| -> Box<dyn orrery_sim::Process<Msg>> {
//!         match id.0 {
//!             0 => Box::new(AsyncNode::new(server)),
//!             _ => Box::new(AsyncNode::with_state(0u64, client)),
//!         }
//!     })
//!     .build();
//! world.run_for(ms(200));
//! let client = world.process::<AsyncNode<Msg, u64>>(NodeId(1)).unwrap();
//! assert_eq!(*client.state(), 3);
//! ```
//!
//! # What a task can do
//!
//! `recv` (the next message), `recv_from` (per sender), `recv_where` (per kind), `recv_map`
//! (typed), `try_recv`; `send`, `try_send`; `sleep`, `sleep_until`, `timeout`, `yield_now`;
//! `spawn` (node-local tasks, with `JoinHandle`s to await or abort them); `disk` (immediate
//! `Storage` operations, also for `DurableCell`/`DurableLog`) and `disk_op` (an operation
//! that completes after the disk's latency); `now`, `with_rng`, `record`, `observe`,
//! `sometimes`, `buggify`, `hold_role`, `exit`, `abort`. The `futures` crate's channels
//! (`futures::channel::mpsc`, `oneshot`), `join!`, `futures::future::select`,
//! `FuturesUnordered` and the other combinators work between tasks of one node.
//!
//! # Determinism
//!
//! - Ready tasks run in the order they became ready (FIFO by readiness sequence; a task that
//!   yields goes to the back), never by address or hash. Within a callback, time stands still.
//! - Waiting is biased, in a documented order: `timeout` polls its future before its deadline;
//!   `futures::select_biased!` polls its branches in the order written; a message wakes the
//!   waiting receives in the order they started waiting, and the first that accepts it takes it.
//! - The polling order of every callback is folded into the run's fingerprint, and spawns,
//!   finishes and aborts are trace records (`task_spawn`, `task_finish`, `task_abort`), so
//!   a determinism check catches a change of polling order even when no effect shows it.
//! - Nothing is global or thread-local: a waker holds only its own node's state, and two
//!   worlds on two threads never interfere.
//! - A crash drops the node's adapter, so every task, sleep and pending receive of the node
//!   goes with it (their timers never fire into the next incarnation); a pause freezes them
//!   where they wait; a restart starts the main task again from the factory.
//!
//! # What a task must not do
//!
//! Everything outside the node's handle escapes the simulation: the run would stop being a
//! function of its seed, or would hang.
//!
//! - No tokio (or async-std) timers, sockets, `spawn` or `block_on`: `tokio::time::sleep`,
//!   `tokio::net`, `tokio::spawn`. Use `node.sleep`, `node.send`/`recv`, `node.spawn`. On the
//!   production runtime the same code gets real time and sockets through the same handle.
//! - No `futures::select!`: it picks among ready branches with a thread-local generator
//!   seeded by a process-wide counter, so the same seed picks differently depending on what
//!   ran before on its thread. Use `futures::select_biased!` (this repository's clippy.toml
//!   forbids the other; copy that line into yours). `tokio::select!` needs `biased;`.
//! - No ambient randomness or time: `rand::thread_rng`, `rand::random`, `std::time::Instant`,
//!   `SystemTime`, `std::thread::sleep`. Use `node.with_rng` and `node.now`.
//! - No iteration over `HashMap`/`HashSet` that affects behaviour (random per process):
//!   `BTreeMap`, `Vec`, or a fixed-hasher map iterated in sorted order.
//! - No threads, and nothing shared between nodes (an `Rc`, a channel, a static): nodes
//!   talk through the network only. Debug builds panic when a task's waker fires from
//!   another thread or outside the node's callbacks, naming the node.
//! - No long loops without an `.await` that waits: a task runs until it waits, and the world
//!   with it. A callback that polls its tasks `POLLS_PER_CALLBACK_MAX` times without them all
//!   waiting (a task spinning on `yield_now` or `try_recv`) is reported as a hang
//!   (`task_hang`, then a panic naming the node and the task); a loop with no `.await` at all
//!   blocks its seed until the runner's wall-clock watchdog reports it hung, as a callback
//!   that loops would.
//! - No `RefCell` borrow held across an `.await` (clippy warns): a check, or another task,
//!   runs while the task waits.

mod adapter;
mod authority;
mod disk;
mod executor;
mod handle;
mod join;
mod mailbox;
mod sleep;
mod waker;

pub use adapter::AsyncNode;
pub use disk::{DiskCompletion, NodeDisk};
pub use executor::POLLS_PER_CALLBACK_MAX;
pub use handle::Node;
pub use join::{JoinHandle, YieldNow};
pub use mailbox::{FromPeer, Map, Next, Receive, Recv, Where, MAILBOX_CAPACITY};
pub use sleep::{Elapsed, Sleep, Timeout};
