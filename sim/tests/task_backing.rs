//! The same async node code on a second backing: a tiny hand-driven runtime implementing
//! `NodeApi` with its own clock, event queue and in-memory disk (as a production runtime
//! would, with real time and sockets instead). The async adapter is generic over the backing,
//! so the node code in `common/async_pingpong.rs` runs here unchanged, and its results match
//! the simulated world's for the same latencies.

// `tasks.rs` uses all of it; this test, the pieces a second backing needs.
#[allow(dead_code)]
#[path = "common/async_pingpong.rs"]
mod pingpong;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use orrery_sim::disk::{Disk, DiskConfig, DiskError, DiskOp, DiskTicket};
use orrery_sim::net::SendError;
use orrery_sim::task::AsyncNode;
use orrery_sim::{
    ms, Duration, Instant, NodeApi, NodeId, Process, Storage, Stream, TimerId, Value, World,
};
use pingpong::{patient_client, ping_client, pong_server, Msg};

/// What the runtime does next.
enum Event {
    Start,
    Deliver { from: NodeId, message: Msg },
    Timer { timer: TimerId, tag: u64 },
    DiskDone { ticket: DiskTicket },
}

/// One node's authority on the hand-driven runtime: effects are collected here and turned
/// into events by the runtime after each callback.
struct Manual {
    id: NodeId,
    n_nodes: usize,
    now: Instant,
    rng: Stream,
    outbox: Vec<(NodeId, Msg)>,
    timers: Vec<(Duration, TimerId, u64)>,
    cancelled: Vec<TimerId>,
    next_timer: u64,
    disk: Disk,
    submitted: Vec<DiskTicket>,
    records: Vec<String>,
    folds: u64,
}

/// The disk of a `Manual` node: the bare simulated disk as plain storage.
struct ManualDisk<'a> {
    disk: &'a mut Disk,
    submitted: &'a mut Vec<DiskTicket>,
}

impl Storage for ManualDisk<'_> {
    fn create(&mut self, path: &str) -> Result<(), DiskError> {
        Storage::create(self.disk, path)
    }
    fn exists(&mut self, path: &str) -> Result<bool, DiskError> {
        Storage::exists(self.disk, path)
    }
    fn write(&mut self, path: &str, offset_bytes: u64, data: &[u8]) -> Result<(), DiskError> {
        Storage::write(self.disk, path, offset_bytes, data)
    }
    fn append(&mut self, path: &str, data: &[u8]) -> Result<u64, DiskError> {
        Storage::append(self.disk, path, data)
    }
    fn read(&mut self, path: &str, offset_bytes: u64, length: u64) -> Result<Vec<u8>, DiskError> {
        Storage::read(self.disk, path, offset_bytes, length)
    }
    fn length_bytes(&mut self, path: &str) -> Result<u64, DiskError> {
        Storage::length_bytes(self.disk, path)
    }
    fn truncate(&mut self, path: &str, length_bytes: u64) -> Result<(), DiskError> {
        Storage::truncate(self.disk, path, length_bytes)
    }
    fn delete(&mut self, path: &str) -> Result<(), DiskError> {
        Storage::delete(self.disk, path)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        Storage::rename(self.disk, from, to)
    }
    fn list(&mut self, prefix: &str) -> Result<Vec<String>, DiskError> {
        Storage::list(self.disk, prefix)
    }
    fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        Storage::sync(self.disk, path)
    }
    fn sync_directory(&mut self) -> Result<(), DiskError> {
        Storage::sync_directory(self.disk)
    }
    fn submit(&mut self, op: DiskOp) -> Result<DiskTicket, DiskError> {
        let ticket = Storage::submit(self.disk, op)?;
        self.submitted.push(ticket);
        Ok(ticket)
    }
}

impl NodeApi<Msg> for Manual {
    type Storage<'a> = ManualDisk<'a>;

    fn id(&self) -> NodeId {
        self.id
    }
    fn n_nodes(&self) -> usize {
        self.n_nodes
    }
    fn now(&self) -> Instant {
        self.now
    }
    fn incarnation(&self) -> u32 {
        0
    }
    fn send(&mut self, to: NodeId, message: Msg) {
        self.outbox.push((to, message));
    }
    fn try_send(&mut self, to: NodeId, message: Msg) -> Result<(), SendError> {
        self.outbox.push((to, message));
        Ok(())
    }
    fn set_timer(&mut self, after: Duration, tag: u64) -> TimerId {
        self.next_timer += 1;
        let timer = TimerId(self.next_timer);
        self.timers.push((after, timer, tag));
        timer
    }
    fn cancel_timer(&mut self, timer: TimerId) {
        self.cancelled.push(timer);
    }
    fn rng(&mut self) -> &mut Stream {
        &mut self.rng
    }
    fn record(&mut self, kind: &str, _fields: &[(&str, Value<'_>)]) {
        self.records.push(format!("{} {kind}", self.now));
    }
    fn observe(&mut self, kind: &'static str, fields: &[(&'static str, Value<'_>)]) {
        self.record(kind, fields);
    }
    fn fold_fingerprint(&mut self, _word: u64) {
        self.folds += 1;
    }
    fn disk(&mut self) -> ManualDisk<'_> {
        ManualDisk { disk: &mut self.disk, submitted: &mut self.submitted }
    }
    fn exit(&mut self, code: i32) {
        panic!("no node exits in these tests (code {code})");
    }
    fn abort(&mut self, reason: &str) {
        panic!("no node aborts in these tests ({reason})");
    }
}

type Node = (Manual, Box<dyn Process<Msg, Manual>>);

/// A runtime of its own: nodes, a clock, an event queue ordered by (time, sequence), 1 ms
/// links and a 2 ms disk. Runs until nothing is left or `until`.
fn run(mut nodes: Vec<Node>, until: Instant) -> Vec<Node> {
    let mut queue: BTreeMap<(Instant, u64), (usize, Event)> = BTreeMap::new();
    let mut sequence = 0;
    let mut push = |queue: &mut BTreeMap<_, _>, at: Instant, node: usize, event: Event| {
        sequence += 1;
        queue.insert((at, sequence), (node, event));
    };
    for index in 0..nodes.len() {
        push(&mut queue, Instant::ZERO, index, Event::Start);
    }
    while let Some(((at, _), (index, event))) = queue.pop_first() {
        if at > until {
            break;
        }
        let (authority, process) = &mut nodes[index];
        authority.now = at;
        match event {
            Event::Start => process.on_start(authority),
            Event::Deliver { from, message } => process.on_message(authority, from, message),
            Event::Timer { timer, tag } => {
                if authority.cancelled.contains(&timer) {
                    continue;
                }
                process.on_timer(authority, timer, tag)
            }
            Event::DiskDone { ticket } => {
                let result = authority.disk.complete(ticket).expect("a submitted operation");
                process.on_disk(authority, ticket, result)
            }
        }
        let from = authority.id;
        for (to, message) in std::mem::take(&mut authority.outbox) {
            push(&mut queue, at + ms(1), to.0 as usize, Event::Deliver { from, message });
        }
        for (after, timer, tag) in std::mem::take(&mut authority.timers) {
            push(&mut queue, at + after, index, Event::Timer { timer, tag });
        }
        for ticket in std::mem::take(&mut authority.submitted) {
            push(&mut queue, at + ms(2), index, Event::DiskDone { ticket });
        }
    }
    nodes
}

fn manual(id: u32, n_nodes: usize) -> Manual {
    let config = DiskConfig::default();
    Manual {
        id: NodeId(id),
        n_nodes,
        now: Instant::ZERO,
        rng: Stream::new(1, "manual"),
        outbox: Vec::new(),
        timers: Vec::new(),
        cancelled: Vec::new(),
        next_timer: 0,
        disk: Disk::new(1, u64::from(id), config).expect("a valid disk"),
        submitted: Vec::new(),
        records: Vec::new(),
        folds: 0,
    }
}

// Proves the async adapter runs unchanged on a second `NodeApi` backing: a ping-pong of
// async nodes completes every round trip, traces its tasks through the backing's `record`
// and folds its polling order through the backing's `fold_fingerprint`.
#[test]
fn async_pingpong_runs_on_a_second_backing() {
    let client = AsyncNode::with_state(0u64, |node, count| ping_client(node, count, NodeId(0), 25));
    let nodes: Vec<Node> = vec![
        (manual(0, 2), Box::new(AsyncNode::new(pong_server))),
        (manual(1, 2), Box::new(client)),
    ];
    let done = run(nodes, Instant::ZERO + ms(1_000));
    let (authority, process) = &done[1];
    let client = (process.as_ref() as &dyn std::any::Any).downcast_ref::<AsyncNode<Msg, u64>>();
    assert_eq!(client.map(|client| *client.state()), Some(25));
    assert_eq!(authority.records, ["0.000000000 task_spawn", "0.050000000 task_finish"]);
    assert_eq!(done[0].0.folds, 26, "one fold per callback that polled: start and 25 pings");
}

// Proves the same client code gives the same results on both backings when their latencies
// agree: sleeps, typed receives with a timeout and awaited disk operations alike.
#[test]
fn the_same_async_code_gives_the_same_results_on_both_backings() {
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let shared = log.clone();
    let nodes: Vec<Node> = vec![
        (manual(0, 2), Box::new(AsyncNode::new(pong_server))),
        (
            manual(1, 2),
            Box::new(AsyncNode::new(move |node| patient_client(node, shared, NodeId(0)))),
        ),
    ];
    let done = run(nodes, Instant::ZERO + ms(1_000));
    let on_manual = log.borrow().clone();
    assert_eq!(on_manual.len(), 4);
    assert_eq!(on_manual[0], "pong 0 at 0.012000000");
    let mut done = done;
    let written = Storage::read_all(&mut done[1].0.disk, "log").expect("the log file");
    assert_eq!(String::from_utf8(written).expect("text"), on_manual.concat());

    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let shared = log.clone();
    let disk = DiskConfig { latency_min: ms(2), latency_max: ms(2), ..DiskConfig::default() };
    let mut world = World::<Msg>::builder(1)
        .link_default(orrery_sim::LinkConfig {
            latency: orrery_sim::Latency::Fixed(ms(1)),
            ..Default::default()
        })
        .disk(disk)
        .process("n0", |_| AsyncNode::new(pong_server))
        .process("n1", move |_| {
            let shared = shared.clone();
            AsyncNode::new(move |node| patient_client(node, shared, NodeId(0)))
        })
        .build();
    world.run_for(ms(1_000));
    assert_eq!(*log.borrow(), on_manual);
}
