//! The three peer workloads (W1 pingpong, W2 fanout, W3 seed sweep) written against Orrery's
//! public API only: push-style processes, the simulated network with its per-link latency, and
//! the always-on trace fingerprint; and W1 again with both nodes async processes
//! (`orrery_sim::task`), to measure what the async style costs. Shared by
//! `examples/peers/main.rs` (the `RESULT` / `DET` lines `../shared/peers/run.sh` reads) and
//! `benches/peers.rs` (criterion), so both measure the same code. Constants, checks, the FNV
//! fingerprint and the sweep follow `../shared/peers/common/src/lib.rs` exactly.

use std::cell::Cell;
use std::rc::Rc;

use orrery_sim::task::{AsyncNode, Node};
use orrery_sim::{
    ms, Context, Latency, LinkConfig, NodeApi, NodeId, PartitionShape, Process, TimerId, WhenFull,
    World,
};

/// W1: round trips client -> server -> client.
pub const W1_ROUNDS: u64 = 100_000;
/// W2: number of nodes (each talks to the 15 others).
pub const W2_NODES: usize = 16;
/// W2: number of 1 ms ticks each node sends on.
pub const W2_TICKS: u64 = 1_000;
/// W3: messages node 0 sends (alternately to node 1 and node 2).
pub const W3_MSGS: u64 = 1_000;
/// W3: latency range, inclusive, in ms.
pub const W3_LATENCY_MIN_MS: u64 = 1;
pub const W3_LATENCY_MAX_MS: u64 = 10;
/// W3: seeds 0..W3_SEEDS.
pub const W3_SEEDS: u64 = 1_000;
/// W3: the seed the run-twice determinism check uses.
pub const DET_SEED: u64 = 7;

/// The seed of W1 and W2, which draw no randomness (fixed latency).
const FIXED_SEED: u64 = 0;

pub struct W1Out {
    pub rounds: u64,
    pub sim_ns: u64,
}

pub struct W2Out {
    /// Messages received, per node.
    pub received: Vec<u64>,
    pub sim_ns: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct W3Out {
    /// Sum of the values received by node 1 and node 2.
    pub sums: [u64; 2],
    pub delivered: u64,
    /// FNV-1a over the delivery sequence (sim time ns, receiver, value).
    pub fp: u64,
    pub sim_ns: u64,
    /// Orrery's own trace fingerprint of the run (not part of the peers' format).
    pub trace_fingerprint: u64,
}

impl W1Out {
    pub fn check(&self, rounds: u64) {
        assert_eq!(self.rounds, rounds, "W1: wrong number of round trips");
    }
}

impl W2Out {
    pub fn check(&self, ticks: u64) {
        assert_eq!(self.received.len(), W2_NODES);
        let per_node = (W2_NODES as u64 - 1) * ticks;
        for (i, &received) in self.received.iter().enumerate() {
            assert_eq!(received, per_node, "W2: node {i} received {received}");
        }
    }

    pub fn total(&self) -> u64 {
        self.received.iter().sum()
    }
}

impl W3Out {
    pub fn check(&self) {
        let even: u64 = (0..W3_MSGS).filter(|i| i % 2 == 0).sum();
        let odd: u64 = (0..W3_MSGS).filter(|i| i % 2 == 1).sum();
        assert_eq!(self.delivered, W3_MSGS, "W3: not all messages delivered");
        assert_eq!(self.sums, [even, odd], "W3: wrong sums");
    }
}

/// 64-bit FNV-1a; used for delivery-order fingerprints.
#[derive(Clone, Copy)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn u64(&mut self, v: u64) {
        for b in v.to_le_bytes() {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Folds one delivery event into the fingerprint.
    pub fn delivery(&mut self, sim_ns: u64, node: u64, value: u64) {
        self.u64(sim_ns);
        self.u64(node);
        self.u64(value);
    }
}

// ---- W1 pingpong ---------------------------------------------------------------------------

/// Node 0: sends request `k`, checks the echo, sends `k + 1` until `rounds` are done.
struct PingClient {
    rounds: u64,
    rounds_done: u64,
}

/// Node 1: echoes every request back to its sender.
struct PingServer;

impl Process<u64> for PingClient {
    fn on_start(&mut self, ctx: &mut Context<u64>) {
        if self.rounds > 0 {
            ctx.send(NodeId(1), 0);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<u64>, from: NodeId, message: u64) {
        assert_eq!(message, self.rounds_done, "W1: echo out of order");
        self.rounds_done += 1;
        if self.rounds_done < self.rounds {
            ctx.send(from, self.rounds_done);
        }
    }
}

impl Process<u64> for PingServer {
    fn on_message(&mut self, ctx: &mut Context<u64>, from: NodeId, message: u64) {
        ctx.send(from, message);
    }
}

/// W1 with `rounds` round trips over the default link (fixed 1 ms, no loss).
pub fn w1(rounds: u64) -> W1Out {
    let mut world = World::<u64>::builder(FIXED_SEED)
        .link_default(LinkConfig { latency: Latency::Fixed(ms(1)), ..LinkConfig::default() })
        .processes_boxed(2, move |id| -> Box<dyn Process<u64>> {
            if id.0 == 0 {
                Box::new(PingClient { rounds, rounds_done: 0 })
            } else {
                Box::new(PingServer)
            }
        })
        .build();
    world.run();
    let rounds_done = world.process::<PingClient>(NodeId(0)).map_or(0, |c| c.rounds_done);
    W1Out { rounds: rounds_done, sim_ns: world.now().as_nanos() }
}

// ---- W1 pingpong, async --------------------------------------------------------------------

/// Node 0 as an async task: send request `k`, await its echo, `rounds` times; counts them.
async fn ping_client(node: Node<u64>, rounds_done: Rc<std::cell::RefCell<u64>>, rounds: u64) {
    for k in 0..rounds {
        node.send(NodeId(1), k);
        let (_, echo) = node.recv().await;
        assert_eq!(echo, k, "W1: echo out of order");
        *rounds_done.borrow_mut() += 1;
    }
}

/// Node 1 as an async task: echoes every request back to its sender.
async fn ping_server(node: Node<u64>) {
    loop {
        let (from, message) = node.recv().await;
        node.send(from, message);
    }
}

/// W1 with both nodes async processes: the same messages at the same times as `w1`.
pub fn w1_async(rounds: u64) -> W1Out {
    let mut world = World::<u64>::builder(FIXED_SEED)
        .link_default(LinkConfig { latency: Latency::Fixed(ms(1)), ..LinkConfig::default() })
        .processes_boxed(2, move |id| -> Box<dyn Process<u64>> {
            if id.0 == 0 {
                Box::new(AsyncNode::with_state(0, move |node, done| {
                    ping_client(node, done, rounds)
                }))
            } else {
                Box::new(AsyncNode::new(ping_server))
            }
        })
        .build();
    world.run();
    let client = world.process::<AsyncNode<u64, u64>>(NodeId(0));
    let rounds_done = client.map_or(0, |client| *client.state());
    W1Out { rounds: rounds_done, sim_ns: world.now().as_nanos() }
}

// ---- W2 fanout -----------------------------------------------------------------------------

/// Every node: on each 1 ms tick sends the tick number to every other node.
struct Fanout {
    ticks: u64,
    ticks_done: u64,
    received: u64,
}

impl Fanout {
    fn tick(&mut self, ctx: &mut Context<u64>) {
        let me = ctx.id().0;
        let k = self.ticks_done;
        for peer in (0..ctx.n_nodes() as u32).filter(|&peer| peer != me) {
            ctx.send(NodeId(peer), k);
        }
        self.ticks_done += 1;
        if self.ticks_done < self.ticks {
            ctx.set_timer(ms(1), 0);
        }
    }
}

impl Process<u64> for Fanout {
    fn on_start(&mut self, ctx: &mut Context<u64>) {
        // The first tick is at time zero, as in the bare loop.
        if self.ticks > 0 {
            self.tick(ctx);
        }
    }

    fn on_message(&mut self, _ctx: &mut Context<u64>, _from: NodeId, _message: u64) {
        self.received += 1;
    }

    fn on_timer(&mut self, ctx: &mut Context<u64>, _timer: TimerId, _tag: u64) {
        self.tick(ctx);
    }
}

/// How W2's network is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum W2Faults {
    /// The peers' W2: the fault model is compiled in but nothing is configured.
    Unused,
    /// Every network fault family configured at rate zero (issue 3's overhead bench): loss,
    /// duplication and corruption at probability 0, link capacity as large as it goes, a
    /// partition in force whose one group holds every node (so every packet goes through the
    /// partition check at send and at delivery, and none is blocked), every node's interface
    /// explicitly up, no clogs. Delivers exactly what `Unused` delivers.
    ArmedAtZero,
}

/// W2 with `ticks` ticks per node on 16 nodes, fixed 1 ms latency.
pub fn w2(ticks: u64) -> W2Out {
    w2_with(ticks, W2Faults::Unused)
}

/// W2 with the network set up as `faults` says.
pub fn w2_with(ticks: u64, faults: W2Faults) -> W2Out {
    let latency = Latency::Fixed(ms(1));
    let link = match faults {
        W2Faults::Unused => LinkConfig { latency, ..LinkConfig::default() },
        W2Faults::ArmedAtZero => LinkConfig {
            latency,
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            corrupt_probability: 0.0,
            capacity_packets: u32::MAX,
            when_full: WhenFull::DropTail,
            fifo: false,
        },
    };
    let mut world = World::<u64>::builder(FIXED_SEED)
        .link_default(link)
        .processes(W2_NODES, move |_| Fanout { ticks, ticks_done: 0, received: 0 })
        .build();
    if faults == W2Faults::ArmedAtZero {
        let everyone: Vec<NodeId> = (0..W2_NODES as u32).map(NodeId).collect();
        let mut control = world.control();
        control.set_loss(0.0).set_duplicate(0.0).set_corrupt(0.0);
        for &node in &everyone {
            control.set_node_up(node, true);
        }
        control.partition_shape(PartitionShape::Groups(vec![everyone]), None);
    }
    world.run();
    let received = world.processes_of::<Fanout>().map(|(_, f)| f.received).collect();
    W2Out { received, sim_ns: world.now().as_nanos() }
}

// ---- W3 seed sweep -------------------------------------------------------------------------

/// Node 0: sends `0..W3_MSGS` alternately to nodes 1 and 2, all at time zero.
struct Burst;

/// Nodes 1 and 2: sum what they receive and fold each delivery into the run's shared
/// delivery-order fingerprint (one world, one thread: an `Rc<Cell>` is enough).
struct Receiver {
    sum: u64,
    delivered: u64,
    delivery_order: Rc<Cell<Fnv>>,
}

impl Process<u64> for Burst {
    fn on_start(&mut self, ctx: &mut Context<u64>) {
        for i in 0..W3_MSGS {
            ctx.send(NodeId(1 + (i % 2) as u32), i);
        }
    }

    fn on_message(&mut self, _ctx: &mut Context<u64>, _from: NodeId, _message: u64) {}
}

impl Process<u64> for Receiver {
    fn on_message(&mut self, ctx: &mut Context<u64>, _from: NodeId, message: u64) {
        self.sum += message;
        self.delivered += 1;
        let mut fnv = self.delivery_order.get();
        fnv.delivery(ctx.now().as_nanos(), u64::from(ctx.id().0), message);
        self.delivery_order.set(fnv);
    }
}

/// W3 for one seed: the network draws each packet's latency, uniform in [1 ms, 10 ms], from
/// its `net.latency[a,b]` stream of `seed`.
pub fn w3(seed: u64) -> W3Out {
    let delivery_order = Rc::new(Cell::new(Fnv::default()));
    let shared = Rc::clone(&delivery_order);
    let latency = Latency::Uniform { min: ms(W3_LATENCY_MIN_MS), max: ms(W3_LATENCY_MAX_MS) };
    let mut world = World::<u64>::builder(seed)
        .link_default(LinkConfig { latency, ..LinkConfig::default() })
        .processes_boxed(3, move |id| -> Box<dyn Process<u64>> {
            if id.0 == 0 {
                Box::new(Burst)
            } else {
                Box::new(Receiver { sum: 0, delivered: 0, delivery_order: Rc::clone(&shared) })
            }
        })
        .build();
    world.run();
    let mut out = W3Out {
        sums: [0; 2],
        delivered: 0,
        fp: delivery_order.get().0,
        sim_ns: world.now().as_nanos(),
        trace_fingerprint: world.fingerprint(),
    };
    for (i, receiver) in [NodeId(1), NodeId(2)].into_iter().enumerate() {
        if let Some(r) = world.process::<Receiver>(receiver) {
            out.sums[i] = r.sum;
            out.delivered += r.delivered;
        }
    }
    out
}

/// Runs seeds 0..n on `threads` OS threads (seed i goes to thread i % threads), each thread
/// building its own worlds, and checks every seed. Returns a fingerprint of the per-seed
/// fingerprints in seed order (so it must not depend on the thread count) and the mean
/// simulated duration of one seed, in ns.
pub fn sweep(n: u64, threads: usize) -> (u64, u64) {
    let run = |s: u64| {
        let o = w3(s);
        o.check();
        (s, o.fp, o.sim_ns)
    };
    let mut all: Vec<(u64, u64, u64)> = if threads <= 1 {
        (0..n).map(run).collect()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads as u64)
                .map(|t| scope.spawn(move || (t..n).step_by(threads).map(run).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("a sweep thread panicked")).collect()
        })
    };
    all.sort();
    let mut h = Fnv::default();
    let mut sim_ns = 0;
    for (s, fp, ns) in all {
        h.u64(s);
        h.u64(fp);
        sim_ns += ns;
    }
    (h.0, sim_ns / n.max(1))
}
