//! The network fault model, end to end through `World` and `Control`: partitions of every
//! shape, clogs, full queues, loss, duplication, reordering, corruption, interfaces going
//! down, latency distributions, labelled-stream independence, statistics and determinism.
//!
//! Most tests drive pull-style endpoints with a small script (a send or a control action at a
//! virtual time) and compare the recorded trace lines exactly; the statistical ones send
//! 10,000 packets and check rates within a tolerance of several standard deviations.

use orrery_sim::net::{DropCause, LinkStats, SendError};
use orrery_sim::trace::OwnedValue;
use orrery_sim::wire::{FixedLayout, FixedMessage};
use orrery_sim::{
    ms, us, Bytes, Context, Control, ControlAction, Duration, Encoded, Instant, Latency,
    LinkConfig, NodeApi, NodeId, PartitionShape, Process, WhenFull, Wire, World, WorldBuilder,
};

fn n(index: u32) -> NodeId {
    NodeId(index)
}

fn nodes(indices: &[u32]) -> Vec<NodeId> {
    indices.iter().map(|&i| NodeId(i)).collect()
}

fn at_ms(millis: u64) -> Instant {
    Instant::from_nanos(ms(millis).as_nanos())
}

fn with_latency(latency: Latency) -> LinkConfig {
    LinkConfig { latency, ..LinkConfig::default() }
}

fn uniform(min: Duration, max: Duration) -> Latency {
    Latency::Uniform { min, max }
}

/// One step of a scripted run.
enum Op {
    /// The endpoint `from` sends to `to`; the message is the number of sends so far, so it
    /// equals the packet id in the trace.
    Send(u32, u32),
    Do(ControlAction),
}

/// Steps at virtual milliseconds, in order.
type Script = Vec<(u64, Op)>;

/// Runs `script` on `world`, then runs on to
/// `end_ms`; returns the recorded trace lines whose kind is one of `kinds`.
fn run_script(world: &mut World<u64>, script: Script, end_ms: u64, kinds: &[&str]) -> Vec<String> {
    let mut sends = 0u64;
    for (when, op) in script {
        run_to(world, at_ms(when));
        match op {
            Op::Send(from, to) => {
                world.endpoint(n(from)).send(n(to), sends).expect("no link here rejects");
                sends += 1;
            }
            Op::Do(action) => {
                world.control().apply(action);
            }
        }
    }
    run_to(world, at_ms(end_ms));
    lines(world, kinds)
}

fn run_to<M: std::fmt::Debug + 'static, W: Wire<M>>(world: &mut World<M, W>, when: Instant) {
    let now = world.now();
    assert!(when >= now, "script goes back in time: {when} < {now}");
    world.run_for(when - now);
}

/// The recorded trace lines of the given kinds, rendered.
fn lines<M: std::fmt::Debug + 'static, W: Wire<M>>(
    world: &World<M, W>,
    kinds: &[&str],
) -> Vec<String> {
    world
        .trace()
        .records()
        .iter()
        .filter(|record| kinds.contains(&record.kind.as_str()))
        .map(|record| record.to_string())
        .collect()
}

/// A delivery as the trace records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Arrival {
    at: Instant,
    from: NodeId,
    to: NodeId,
    packet: u64,
    duplicate: bool,
    corrupted: bool,
}

fn arrivals<M: std::fmt::Debug + 'static, W: Wire<M>>(world: &World<M, W>) -> Vec<Arrival> {
    world
        .trace()
        .records()
        .iter()
        .filter(|record| record.kind == "deliver")
        .map(|record| {
            let field = |name: &str| record.fields.iter().find(|(key, _)| key == name);
            let from = match field("from") {
                Some((_, OwnedValue::Node(node))) => *node,
                other => panic!("deliver without a sender: {other:?}"),
            };
            let packet = match field("pkt") {
                Some((_, OwnedValue::U64(packet))) => *packet,
                other => panic!("deliver without a packet id: {other:?}"),
            };
            let flag = |name: &str| matches!(field(name), Some((_, OwnedValue::Bool(true))));
            Arrival {
                at: record.time,
                from,
                to: record.node.expect("a delivery belongs to its receiver"),
                packet,
                duplicate: flag("duplicate"),
                corrupted: flag("corrupted"),
            }
        })
        .collect()
}

fn link_stats<M: std::fmt::Debug + 'static, W: Wire<M>>(
    world: &World<M, W>,
    from: u32,
    to: u32,
) -> LinkStats {
    world.net_stats().links.get(&(n(from), n(to))).cloned().unwrap_or_default()
}

/// Sends `count` messages `0..count` from `from` to `to`, one every `spacing`, then runs
/// `settle` more.
fn send_many<W: Wire<u64>>(
    world: &mut World<u64, W>,
    from: u32,
    to: u32,
    count: u64,
    spacing: Duration,
    settle: Duration,
) {
    for message in 0..count {
        world.endpoint(n(from)).send(n(to), message).expect("no link here rejects");
        if !spacing.is_zero() {
            world.run_for(spacing);
        }
    }
    world.run_for(settle);
}

fn assert_close(what: &str, observed: f64, expected: f64, tolerance: f64) {
    assert!(
        (observed - expected).abs() <= tolerance,
        "{what}: observed {observed}, expected {expected} ± {tolerance}"
    );
}

// ---------------------------------------------------------------------------------------
// Partitions

/// A partition case: how to apply it, and the reachability it must produce (row = sender,
/// column = receiver; `1` delivered, `.` dropped, `-` self).
struct PartitionCase {
    name: &'static str,
    apply: fn(&mut Control<'_, u64>),
    reach: [&'static str; 5],
}

const PARTITION_CASES: &[PartitionCase] = &[
    PartitionCase {
        name: "two groups (Marionette's partition)",
        apply: |control| {
            control.partition(&nodes(&[0, 1]), &nodes(&[2, 3, 4]));
        },
        reach: ["-1...", "1-...", "..-11", "..1-1", "..11-"],
    },
    PartitionCase {
        name: "explicit groups, node 4 in none",
        apply: |control| {
            let shape = PartitionShape::Groups(vec![nodes(&[0, 2]), nodes(&[1, 3])]);
            control.partition_shape(shape, None);
        },
        reach: ["-.1..", ".-.1.", "1.-..", ".1.-.", "....-"],
    },
    PartitionCase {
        name: "isolate",
        apply: |control| {
            control.partition_shape(PartitionShape::Isolate(n(2)), None);
        },
        reach: ["-1.11", "1-.11", "..-..", "11.-1", "11.1-"],
    },
    PartitionCase {
        name: "one way",
        apply: |control| {
            let shape = PartitionShape::OneWay { from: nodes(&[0, 1]), to: nodes(&[3]) };
            control.partition_shape(shape, None);
        },
        reach: ["-11.1", "1-1.1", "11-11", "111-1", "1111-"],
    },
    PartitionCase {
        name: "majorities ring",
        apply: |control| {
            let shape = PartitionShape::Ring { order: nodes(&[0, 1, 2, 3, 4]), reach: 1 };
            control.partition_shape(shape, None);
        },
        reach: ["-1..1", "1-1..", ".1-1.", "..1-1", "1..1-"],
    },
    PartitionCase {
        name: "ring in a shuffled order",
        apply: |control| {
            let shape = PartitionShape::Ring { order: nodes(&[0, 2, 4, 1, 3]), reach: 1 };
            control.partition_shape(shape, None);
        },
        reach: ["-.11.", ".-.11", "1.-.1", "11.-.", ".11.-"],
    },
    PartitionCase {
        name: "bridge",
        apply: |control| {
            let shape = PartitionShape::Bridge {
                left: nodes(&[0, 1]),
                bridge: n(2),
                right: nodes(&[3, 4]),
            };
            control.partition_shape(shape, None);
        },
        reach: ["-11..", "1-1..", "11-11", "..1-1", "..11-"],
    },
];

fn send_all_pairs(world: &mut World<u64>) {
    for from in 0..5 {
        for to in (0..5).filter(|&to| to != from) {
            world.endpoint(n(from)).send(n(to), u64::from(from * 10 + to)).expect("room");
        }
    }
}

/// Drains every inbox into a reachability matrix (`1` where exactly one packet arrived).
fn observed_reach(world: &mut World<u64>) -> Vec<String> {
    let mut matrix = vec![vec!['.'; 5]; 5];
    for to in 0..5u32 {
        matrix[to as usize][to as usize] = '-';
        for envelope in world.endpoint(n(to)).drain() {
            let cell = &mut matrix[envelope.from.index()][to as usize];
            assert_eq!(*cell, '.', "{} -> n{to} arrived twice", envelope.from);
            assert_eq!(envelope.message, u64::from(envelope.from.0 * 10 + to));
            *cell = '1';
        }
    }
    matrix.into_iter().map(|row| row.into_iter().collect()).collect()
}

// Proves every partition shape, applied through Control, drops exactly the cross-partition
// packets (those in flight when it starts and those sent during it), and heal restores all.
#[test]
fn partitions_block_exactly_the_cross_partition_packets() {
    for case in PARTITION_CASES {
        let mut world = World::<u64>::builder(11).endpoints(5).build();
        send_all_pairs(&mut world);
        (case.apply)(&mut world.control());
        world.run_for(ms(10));
        assert_eq!(observed_reach(&mut world), case.reach, "{}: packets in flight", case.name);
        send_all_pairs(&mut world);
        world.run_for(ms(10));
        assert_eq!(observed_reach(&mut world), case.reach, "{}: packets sent during", case.name);
        world.control().heal();
        send_all_pairs(&mut world);
        world.run_for(ms(10));
        let whole = ["-1111", "1-111", "11-11", "111-1", "1111-"];
        assert_eq!(observed_reach(&mut world), whole, "{}: healed", case.name);
        for (from, row) in case.reach.iter().enumerate() {
            for (to, cell) in row.chars().enumerate().filter(|(_, cell)| *cell != '-') {
                let stats = link_stats(&world, from as u32, to as u32);
                let blocked = u64::from(cell == '.');
                let what = format!("{}: n{from} -> n{to}", case.name);
                assert_eq!(stats.dropped_by(DropCause::Partition), 2 * blocked, "{what}");
                assert_eq!(stats.delivered, 3 - 2 * blocked, "{what}");
                assert_eq!((stats.sent, stats.dropped_total()), (3, 2 * blocked), "{what}");
            }
        }
    }
}

fn partition(shape: PartitionShape, duration: Option<Duration>) -> Op {
    Op::Do(ControlAction::Partition { shape, duration })
}

// Proves a timed partition heals itself exactly when it ends, and an older timed partition
// never heals a newer one (timed or not).
#[test]
fn timed_partitions_heal_themselves_only_while_current() {
    let mut world = World::<u64>::builder(12).endpoints(3).record(true).build();
    let halves = PartitionShape::Groups(vec![nodes(&[0, 1]), nodes(&[2])]);
    let script = vec![
        (0, partition(PartitionShape::Isolate(n(0)), Some(ms(50)))),
        (48, Op::Send(1, 0)),
        (50, Op::Send(1, 0)),
        (60, partition(PartitionShape::Isolate(n(0)), Some(ms(50)))),
        (70, partition(halves, Some(ms(100)))),
        (110, Op::Send(1, 0)),
        (110, Op::Send(2, 0)),
        (170, Op::Send(2, 0)),
        (180, partition(PartitionShape::Isolate(n(2)), Some(ms(30)))),
        (190, Op::Do(ControlAction::Heal)),
        (200, partition(PartitionShape::Isolate(n(1)), None)),
        (250, Op::Send(1, 0)),
    ];
    let trace = run_script(&mut world, script, 300, &["partition", "heal", "deliver", "drop"]);
    assert_eq!(
        trace,
        [
            "0.000000000 - partition isolate:n0 for=50ms",
            "0.048000000 n1 drop to=n0 pkt=0 cause=partition 0",
            "0.050000000 - heal",
            "0.051000000 n0 deliver from=n1 pkt=1 1",
            "0.060000000 - partition isolate:n0 for=50ms",
            "0.070000000 - partition n0,n1|n2 for=100ms",
            "0.110000000 n2 drop to=n0 pkt=3 cause=partition 3",
            "0.111000000 n0 deliver from=n1 pkt=2 2",
            "0.170000000 - heal",
            "0.171000000 n0 deliver from=n2 pkt=4 4",
            "0.180000000 - partition isolate:n2 for=30ms",
            "0.190000000 - heal",
            "0.200000000 - partition isolate:n1",
            "0.250000000 n1 drop to=n0 pkt=5 cause=partition 5",
        ]
    );
    assert_eq!(world.network().partition(), Some(&PartitionShape::Isolate(n(1))));
}

// Proves a one-way partition drops only the blocked direction, in flight and new, while the
// reverse direction is delivered on time.
#[test]
fn asymmetric_partition_blocks_one_direction_only() {
    let mut world = World::<u64>::builder(13).endpoints(2).record(true).build();
    let one_way = PartitionShape::OneWay { from: nodes(&[0]), to: nodes(&[1]) };
    let script = vec![
        (0, Op::Send(0, 1)),
        (0, Op::Send(1, 0)),
        (0, partition(one_way, None)),
        (5, Op::Send(0, 1)),
        (5, Op::Send(1, 0)),
        (10, Op::Do(ControlAction::Heal)),
        (10, Op::Send(0, 1)),
    ];
    let kinds = ["send", "deliver", "drop", "partition", "heal"];
    assert_eq!(
        run_script(&mut world, script, 20, &kinds),
        [
            "0.000000000 n0 send to=n1 pkt=0 0",
            "0.000000000 n1 send to=n0 pkt=1 1",
            "0.000000000 - partition n0->x->n1",
            "0.001000000 n1 drop from=n0 pkt=0 cause=partition 0",
            "0.001000000 n0 deliver from=n1 pkt=1 1",
            "0.005000000 n0 drop to=n1 pkt=2 cause=partition 2",
            "0.005000000 n1 send to=n0 pkt=3 3",
            "0.006000000 n0 deliver from=n1 pkt=3 3",
            "0.010000000 - heal",
            "0.010000000 n0 send to=n1 pkt=4 4",
            "0.011000000 n1 deliver from=n0 pkt=4 4",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Clogs

fn clog(from: u32, to: u32, millis: u64) -> Op {
    Op::Do(ControlAction::ClogLink { from: n(from), to: n(to), duration: ms(millis) })
}

// Proves clogs (link and node) hold exactly the traffic they cover, deliver nothing of it
// before they end, then deliver all of it at once in the order it arrived; unclog ends them
// early and overlapping clogs last until the latest end.
#[test]
fn clogs_hold_traffic_then_release_it_in_order() {
    let cases: Vec<(&str, Script, u64, Vec<&str>)> = vec![
        (
            "a link clog holds one direction only",
            vec![
                (0, clog(0, 1, 30)),
                (0, Op::Send(0, 1)),
                (0, Op::Send(1, 0)),
                (10, Op::Send(0, 1)),
                (20, Op::Send(0, 1)),
                (20, Op::Send(0, 2)),
            ],
            40,
            vec![
                "0.000000000 - clog_link n0->n1 for=30ms",
                "0.001000000 n1 hold from=n0 pkt=0",
                "0.001000000 n0 deliver from=n1 pkt=1 1",
                "0.011000000 n1 hold from=n0 pkt=2",
                "0.021000000 n1 hold from=n0 pkt=3",
                "0.021000000 n2 deliver from=n0 pkt=4 4",
                "0.030000000 n1 release from=n0 pkt=0",
                "0.030000000 n1 deliver from=n0 pkt=0 0",
                "0.030000000 n1 release from=n0 pkt=2",
                "0.030000000 n1 deliver from=n0 pkt=2 2",
                "0.030000000 n1 release from=n0 pkt=3",
                "0.030000000 n1 deliver from=n0 pkt=3 3",
            ],
        ),
        (
            "a node clog holds traffic into and out of the node",
            vec![
                (0, Op::Do(ControlAction::ClogNode { node: n(1), duration: ms(30) })),
                (0, Op::Send(0, 1)),
                (0, Op::Send(1, 2)),
                (0, Op::Send(2, 0)),
                (5, Op::Send(2, 1)),
            ],
            40,
            vec![
                "0.000000000 n1 clog_node for=30ms",
                "0.001000000 n1 hold from=n0 pkt=0",
                "0.001000000 n2 hold from=n1 pkt=1",
                "0.001000000 n0 deliver from=n2 pkt=2 2",
                "0.006000000 n1 hold from=n2 pkt=3",
                "0.030000000 n1 release from=n0 pkt=0",
                "0.030000000 n1 deliver from=n0 pkt=0 0",
                "0.030000000 n2 release from=n1 pkt=1",
                "0.030000000 n2 deliver from=n1 pkt=1 1",
                "0.030000000 n1 release from=n2 pkt=3",
                "0.030000000 n1 deliver from=n2 pkt=3 3",
            ],
        ),
        (
            "unclog releases early and the old end does nothing",
            vec![
                (0, clog(0, 1, 100)),
                (0, Op::Send(0, 1)),
                (10, Op::Send(0, 1)),
                (20, Op::Do(ControlAction::Unclog)),
                (25, Op::Send(0, 1)),
            ],
            120,
            vec![
                "0.000000000 - clog_link n0->n1 for=100ms",
                "0.001000000 n1 hold from=n0 pkt=0",
                "0.011000000 n1 hold from=n0 pkt=1",
                "0.020000000 - unclog",
                "0.020000000 n1 release from=n0 pkt=0",
                "0.020000000 n1 deliver from=n0 pkt=0 0",
                "0.020000000 n1 release from=n0 pkt=1",
                "0.020000000 n1 deliver from=n0 pkt=1 1",
                "0.026000000 n1 deliver from=n0 pkt=2 2",
            ],
        ),
        (
            "overlapping clogs last until the latest end",
            vec![
                (0, clog(0, 1, 30)),
                (0, Op::Send(0, 1)),
                (10, clog(0, 1, 50)),
                (20, clog(0, 1, 5)),
            ],
            70,
            vec![
                "0.000000000 - clog_link n0->n1 for=30ms",
                "0.001000000 n1 hold from=n0 pkt=0",
                "0.010000000 - clog_link n0->n1 for=50ms",
                "0.020000000 - clog_link n0->n1 for=5ms",
                "0.060000000 n1 release from=n0 pkt=0",
                "0.060000000 n1 deliver from=n0 pkt=0 0",
            ],
        ),
    ];
    let kinds = ["deliver", "hold", "release", "clog_link", "clog_node", "unclog"];
    for (name, script, end_ms, expected) in cases {
        let mut world = World::<u64>::builder(14).endpoints(3).record(true).build();
        assert_eq!(run_script(&mut world, script, end_ms, &kinds), expected, "{name}");
        let held: u64 = world.net_stats().total.held;
        let holds = expected.iter().filter(|line| line.contains(" hold ")).count() as u64;
        assert_eq!(held, holds, "{name}: held count");
    }
}

// ---------------------------------------------------------------------------------------
// Full queues

// Proves a full drop-tail link drops exactly the packets beyond its capacity (traced and
// counted as queue_full), and room comes back as packets are delivered.
#[test]
fn full_drop_tail_queue_drops_exactly_the_overflow() {
    let config = LinkConfig { capacity_packets: 3, ..with_latency(Latency::Fixed(ms(10))) };
    let mut world =
        World::<u64>::builder(21).endpoints(2).link(n(0), n(1), config).record(true).build();
    let mut script: Script = (0..5).map(|_| (0, Op::Send(0, 1))).collect();
    script.extend((0..2).map(|_| (10, Op::Send(0, 1))));
    assert_eq!(
        run_script(&mut world, script, 30, &["deliver", "drop"]),
        [
            "0.000000000 n0 drop to=n1 pkt=3 cause=queue_full 3",
            "0.000000000 n0 drop to=n1 pkt=4 cause=queue_full 4",
            "0.010000000 n1 deliver from=n0 pkt=0 0",
            "0.010000000 n1 deliver from=n0 pkt=1 1",
            "0.010000000 n1 deliver from=n0 pkt=2 2",
            "0.020000000 n1 deliver from=n0 pkt=5 5",
            "0.020000000 n1 deliver from=n0 pkt=6 6",
        ]
    );
    let stats = link_stats(&world, 0, 1);
    assert_eq!((stats.sent, stats.delivered, stats.rejected), (7, 5, 0));
    assert_eq!((stats.dropped_by(DropCause::QueueFull), stats.dropped_total()), (2, 2));
    assert_eq!(stats.queue_depth_max, 3);
}

// Proves a duplicate never overfills a queue: the copy is made only if it fits next to its
// original, so packets in flight never exceed the capacity.
#[test]
fn duplicates_never_overfill_a_queue() {
    let config =
        LinkConfig { capacity_packets: 3, duplicate_probability: 1.0, ..LinkConfig::default() };
    let mut world =
        World::<u64>::builder(23).endpoints(2).link_default(config).record(true).build();
    let script = (0..3).map(|_| (0, Op::Send(0, 1))).collect();
    assert_eq!(
        run_script(&mut world, script, 10, &["duplicate", "deliver", "drop"]),
        [
            "0.000000000 n0 duplicate to=n1 pkt=0",
            "0.000000000 n0 drop to=n1 pkt=2 cause=queue_full 2",
            "0.001000000 n1 deliver from=n0 pkt=0 duplicate=true 0",
            "0.001000000 n1 deliver from=n0 pkt=0 0",
            "0.001000000 n1 deliver from=n0 pkt=1 1",
        ]
    );
    let stats = link_stats(&world, 0, 1);
    assert_eq!((stats.sent, stats.delivered, stats.duplicated), (3, 3, 1));
    assert_eq!((stats.dropped_by(DropCause::QueueFull), stats.queue_depth_max), (1, 3));
}

/// Tries to send three messages to node 1 at start and keeps what `try_send` said.
#[derive(Default)]
struct Burst {
    results: Vec<Result<(), SendError>>,
}

impl Process<u64> for Burst {
    fn on_start(&mut self, ctx: &mut Context<u64>) {
        for message in 0..3 {
            let result = ctx.try_send(n(1), message);
            self.results.push(result);
        }
    }

    fn on_message(&mut self, _ctx: &mut Context<u64>, _from: NodeId, _message: u64) {}
}

// Proves a full Reject link refuses the send with SendError::QueueFull through both
// Endpoint::send and Context::try_send, queues nothing, and counts it as rejected.
#[test]
fn full_reject_queue_refuses_the_send() {
    let config =
        LinkConfig { capacity_packets: 2, when_full: WhenFull::Reject, ..LinkConfig::default() };
    let expected_results = [Ok(()), Ok(()), Err(SendError::QueueFull(n(1)))];

    let mut world =
        World::<u64>::builder(22).endpoints(2).link(n(0), n(1), config).record(true).build();
    let results: Vec<_> = (0..3).map(|m| world.endpoint(n(0)).send(n(1), m)).collect();
    assert_eq!(results, expected_results);
    world.run_for(ms(10));
    let received: Vec<u64> = world.endpoint(n(1)).drain().into_iter().map(|e| e.message).collect();
    assert_eq!(received, [0, 1]);
    assert_eq!(
        lines(&world, &["reject"]),
        ["0.000000000 n0 reject to=n1 pkt=2 cause=queue_full 2"]
    );
    let stats = link_stats(&world, 0, 1);
    assert_eq!((stats.sent, stats.delivered, stats.rejected, stats.dropped_total()), (3, 2, 1, 0));
    assert_eq!(stats.queue_depth_max, 2);

    let mut world = World::<u64>::builder(22)
        .processes(1, |_| Burst::default())
        .endpoints(1)
        .link(n(0), n(1), config)
        .build();
    world.run_for(ms(10));
    assert_eq!(
        world.process::<Burst>(n(0)).map(|b| b.results.clone()),
        Some(expected_results.to_vec())
    );
    let received: Vec<u64> = world.endpoint(n(1)).drain().into_iter().map(|e| e.message).collect();
    assert_eq!(received, [0, 1]);
    assert_eq!(link_stats(&world, 0, 1).rejected, 1);
}

// ---------------------------------------------------------------------------------------
// Loss, duplication, reordering

const PACKETS: u64 = 10_000;

/// Five standard deviations of a rate estimated from `trials` Bernoulli trials.
fn rate_tolerance(probability: f64, trials: u64) -> f64 {
    5.0 * (probability * (1.0 - probability) / trials as f64).sqrt()
}

// Proves loss and duplication happen at their configured rates over 10,000 packets, and the
// counters, the trace and the inbox agree on every packet's fate.
#[test]
fn loss_and_duplication_appear_at_their_rates() {
    for (loss, duplicate) in [(0.2, 0.0), (0.0, 0.1), (0.2, 0.1), (0.5, 0.5)] {
        let config = LinkConfig {
            loss_probability: loss,
            duplicate_probability: duplicate,
            ..with_latency(uniform(ms(1), ms(5)))
        };
        let mut world =
            World::<u64>::builder(31).endpoints(2).link_default(config).record(true).build();
        send_many(&mut world, 0, 1, PACKETS, Duration::ZERO, ms(10));
        let name = format!("loss={loss} duplicate={duplicate}");
        let stats = link_stats(&world, 0, 1);
        let lost = stats.dropped_by(DropCause::Loss);
        let admitted = PACKETS - lost;
        assert_eq!((stats.sent, stats.dropped_total()), (PACKETS, lost), "{name}");
        assert_eq!(stats.delivered, admitted + stats.duplicated, "{name}");
        assert_close(&name, lost as f64 / PACKETS as f64, loss, rate_tolerance(loss, PACKETS));
        let duplicate_rate = stats.duplicated as f64 / admitted as f64;
        assert_close(&name, duplicate_rate, duplicate, rate_tolerance(duplicate, admitted));

        let mut copies = vec![0u32; PACKETS as usize];
        for envelope in world.endpoint(n(1)).drain() {
            copies[envelope.message as usize] += 1;
        }
        let count = |k: u32| copies.iter().filter(|&&c| c == k).count() as u64;
        assert_eq!(
            (count(0), count(1), count(2)),
            (lost, admitted - stats.duplicated, stats.duplicated),
            "{name}"
        );
        let traced_duplicates = arrivals(&world).iter().filter(|a| a.duplicate).count() as u64;
        assert_eq!(traced_duplicates, stats.duplicated, "{name}");
        assert_eq!(lines(&world, &["drop"]).len() as u64, lost, "{name}");
    }
}

// Proves a datagram link with uniform latency reorders packets, and a FIFO link with the
// same latency delivers all 10,000 in exactly the order they were sent.
#[test]
fn datagram_links_reorder_and_fifo_links_never_do() {
    for fifo in [false, true] {
        let config = LinkConfig { fifo, ..with_latency(uniform(ms(1), ms(10))) };
        let mut world = World::<u64>::builder(32).endpoints(2).link_default(config).build();
        send_many(&mut world, 0, 1, PACKETS, us(10), ms(20));
        let received: Vec<u64> =
            world.endpoint(n(1)).drain().into_iter().map(|e| e.message).collect();
        let mut sorted = received.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..PACKETS).collect::<Vec<_>>(),
            "fifo={fifo}: every packet arrives once"
        );
        let overtaken = received.windows(2).filter(|pair| pair[0] > pair[1]).count();
        if fifo {
            assert_eq!(overtaken, 0, "a FIFO link never reorders");
        } else {
            assert!(
                overtaken > PACKETS as usize / 4,
                "uniform 1-10ms latency every 10us reorders: {overtaken}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Corruption

// Proves corruption on a checksummed byte wire turns failing frames into traced
// `drop cause=corrupt` events (never a panic, never a bad message), with counts matching
// the statistics.
#[test]
fn corruption_on_a_checksummed_wire_is_a_traced_drop() {
    let config = LinkConfig { corrupt_probability: 0.3, ..LinkConfig::default() };
    let mut world = WorldBuilder::with_wire(41, Encoded(FixedLayout))
        .endpoints(2)
        .link_default(config)
        .record(true)
        .build();
    for sequence in 0..PACKETS {
        let message = FixedMessage { tag: 7, sequence, value: sequence * 3 };
        world.endpoint(n(0)).send(n(1), message).expect("room");
    }
    world.run_for(ms(10));
    let stats = link_stats(&world, 0, 1);
    let corrupt_drops = stats.dropped_by(DropCause::Corrupt);
    assert_close(
        "corrupted",
        stats.corrupted as f64 / PACKETS as f64,
        0.3,
        rate_tolerance(0.3, PACKETS),
    );
    assert_eq!(stats.delivered + corrupt_drops, PACKETS);
    assert_eq!(stats.dropped_total(), corrupt_drops);
    let traced: Vec<String> = lines(&world, &["drop"]);
    assert_eq!(traced.len() as u64, corrupt_drops);
    assert!(
        traced.iter().all(|line| line.starts_with("0.001000000 n1 drop from=n0 pkt=")
            && line.ends_with(" cause=corrupt checksum mismatch")),
        "{:?}",
        &traced[..3]
    );
    // A frame flagged as corrupted but delivered had its flips cancel out (the same bit twice).
    let flagged_delivered = arrivals(&world).iter().filter(|a| a.corrupted).count() as u64;
    assert_eq!(corrupt_drops + flagged_delivered, stats.corrupted);
    for envelope in world.endpoint(n(1)).drain() {
        let FixedMessage { tag, sequence, value } = envelope.message;
        assert_eq!((tag, value), (7, sequence * 3), "a delivered message is never damaged");
    }
}

// Proves corruption on the raw Bytes codec delivers every frame, flags exactly the corrupted
// ones in the trace, and only flagged frames differ from what was sent.
#[test]
fn corruption_on_raw_bytes_is_delivered_and_flagged() {
    let config = LinkConfig { corrupt_probability: 0.3, ..LinkConfig::default() };
    let mut world = WorldBuilder::with_wire(42, Encoded(Bytes))
        .endpoints(2)
        .link_default(config)
        .record(true)
        .build();
    for sequence in 0..PACKETS {
        world.endpoint(n(0)).send(n(1), sequence.to_le_bytes().to_vec()).expect("room");
    }
    world.run_for(ms(10));
    let stats = link_stats(&world, 0, 1);
    assert_eq!((stats.sent, stats.delivered, stats.dropped_total()), (PACKETS, PACKETS, 0));
    assert_close(
        "corrupted",
        stats.corrupted as f64 / PACKETS as f64,
        0.3,
        rate_tolerance(0.3, PACKETS),
    );
    let arrivals = arrivals(&world);
    assert_eq!(arrivals.iter().filter(|a| a.corrupted).count() as u64, stats.corrupted);
    let received = world.endpoint(n(1)).drain();
    assert_eq!(received.len(), arrivals.len());
    let mut damaged = 0;
    for (arrival, envelope) in arrivals.iter().zip(&received) {
        let sent = arrival.packet.to_le_bytes().to_vec();
        if envelope.message != sent {
            assert!(arrival.corrupted, "packet {} changed without the flag", arrival.packet);
            assert_eq!(envelope.message.len(), sent.len(), "corruption flips bits, never resizes");
            damaged += 1;
        }
    }
    // A flagged frame comes out intact only when two of its flips hit the same bit (about
    // one in 200 with 1-3 flips over 64 bits).
    let intact = stats.corrupted - damaged;
    assert!(
        intact * 50 <= stats.corrupted,
        "{intact} of {} flagged frames intact",
        stats.corrupted
    );
}

// ---------------------------------------------------------------------------------------
// Nodes going down

fn node_up(node: u32, up: bool) -> Op {
    Op::Do(ControlAction::SetNodeUp { node: n(node), up })
}

// Proves a node whose interface is down neither sends nor receives (cause node_down), what
// it sent before going down still arrives, and a crashed node drops deliveries until it is
// restarted.
#[test]
fn down_and_crashed_nodes_drop_their_traffic() {
    let mut world = World::<u64>::builder(51).endpoints(3).record(true).build();
    let script = vec![
        (0, node_up(1, false)),
        (0, Op::Send(0, 1)),
        (0, Op::Send(1, 0)),
        (0, Op::Send(0, 2)),
        (5, node_up(1, true)),
        (5, Op::Send(1, 0)),
        (5, Op::Send(0, 1)),
        (10, Op::Send(0, 1)),
        (10, Op::Send(1, 2)),
        (10, node_up(1, false)),
        (20, node_up(1, true)),
        (20, Op::Do(ControlAction::Crash(n(1)))),
        (20, Op::Send(0, 1)),
        (30, Op::Do(ControlAction::Restart(n(1)))),
        (30, Op::Send(0, 1)),
    ];
    let kinds = ["deliver", "drop", "set_node_up", "crash", "restart"];
    assert_eq!(
        run_script(&mut world, script, 40, &kinds),
        [
            "0.000000000 n1 set_node_up up=false",
            "0.000000000 n1 drop to=n0 pkt=1 cause=node_down 1",
            "0.001000000 n1 drop from=n0 pkt=0 cause=node_down 0",
            "0.001000000 n2 deliver from=n0 pkt=2 2",
            "0.005000000 n1 set_node_up up=true",
            "0.006000000 n0 deliver from=n1 pkt=3 3",
            "0.006000000 n1 deliver from=n0 pkt=4 4",
            "0.010000000 n1 set_node_up up=false",
            "0.011000000 n1 drop from=n0 pkt=5 cause=node_down 5",
            "0.011000000 n2 deliver from=n1 pkt=6 6",
            "0.020000000 n1 set_node_up up=true",
            "0.020000000 n1 crash",
            "0.021000000 n1 drop from=n0 pkt=7 cause=node_down 7",
            "0.030000000 n1 restart",
            "0.031000000 n1 deliver from=n0 pkt=8 8",
        ]
    );
    assert_eq!(link_stats(&world, 0, 1).dropped_by(DropCause::NodeDown), 3);
    assert_eq!(link_stats(&world, 1, 0).dropped_by(DropCause::NodeDown), 1);
}

// ---------------------------------------------------------------------------------------
// Latency

/// Latencies of `PACKETS` packets sent at time zero on a link with `latency`.
fn sample_latencies(latency: Latency, seed: u64) -> Vec<Duration> {
    let mut world = World::<u64>::builder(seed)
        .endpoints(2)
        .link_default(with_latency(latency))
        .record(true)
        .build();
    send_many(&mut world, 0, 1, PACKETS, Duration::ZERO, latency_ceiling());
    let latencies: Vec<Duration> = arrivals(&world).iter().map(|a| a.at.since_start()).collect();
    assert_eq!(latencies.len() as u64, PACKETS);
    latencies
}

fn latency_ceiling() -> Duration {
    ms(1_000)
}

fn mean_ms(latencies: &[Duration]) -> f64 {
    latencies.iter().map(|d| d.as_secs_f64() * 1e3).sum::<f64>() / latencies.len() as f64
}

// Proves each latency distribution stays in its bounds and has the configured shape: Fixed
// exact, Uniform within [min, max] with the midpoint as mean, Exponential at least min with
// the configured mean, LongTail with the configured slow fraction.
#[test]
fn latency_distributions_have_their_configured_shape() {
    let fixed = sample_latencies(Latency::Fixed(us(7_250)), 61);
    assert!(fixed.iter().all(|&d| d == us(7_250)));

    let uniform_latencies = sample_latencies(uniform(ms(2), ms(4)), 62);
    assert!(uniform_latencies.iter().all(|&d| (ms(2)..=ms(4)).contains(&d)));
    // Standard deviation of the mean: (2ms / sqrt(12)) / 100 = 0.0058ms.
    assert_close("uniform mean (ms)", mean_ms(&uniform_latencies), 3.0, 0.03);
    assert!(
        uniform_latencies.iter().min() < Some(&us(2_010))
            && uniform_latencies.iter().max() > Some(&us(3_990))
    );

    let exponential = sample_latencies(Latency::Exponential { min: ms(1), mean: ms(5) }, 63);
    assert!(exponential.iter().all(|&d| d >= ms(1)));
    // Standard deviation of the mean: 5ms / 100.
    assert_close("exponential mean above min (ms)", mean_ms(&exponential) - 1.0, 5.0, 0.25);
    let above_mean = exponential.iter().filter(|&&d| d > ms(6)).count() as f64 / PACKETS as f64;
    let e_inverse = (-1.0f64).exp();
    assert_close(
        "exponential beyond its mean",
        above_mean,
        e_inverse,
        rate_tolerance(e_inverse, PACKETS),
    );

    let long_tail = Latency::LongTail {
        min: ms(1),
        max: ms(2),
        slow_probability: 0.05,
        slow_min: ms(50),
        slow_max: ms(100),
    };
    let tail = sample_latencies(long_tail, 64);
    assert!(tail.iter().all(|&d| (ms(1)..=ms(2)).contains(&d) || (ms(50)..=ms(100)).contains(&d)));
    let slow = tail.iter().filter(|&&d| d >= ms(50)).count() as f64 / PACKETS as f64;
    assert_close("long-tail slow fraction", slow, 0.05, rate_tolerance(0.05, PACKETS));
}

// Proves a per-link latency override (a "slow pair"), set at build time or through Control,
// slows exactly that one direction.
#[test]
fn slow_pair_override_affects_only_its_direction() {
    let mut world = World::<u64>::builder(65)
        .endpoints(3)
        .link(n(0), n(1), with_latency(Latency::Fixed(ms(50))))
        .record(true)
        .build();
    let script = vec![
        (0, Op::Send(0, 1)),
        (0, Op::Send(1, 0)),
        (0, Op::Send(0, 2)),
        (0, Op::Send(2, 1)),
        (
            60,
            Op::Do(ControlAction::SetLink {
                from: n(1),
                to: n(2),
                config: with_latency(Latency::Fixed(ms(20))),
            }),
        ),
        (60, Op::Send(1, 2)),
        (60, Op::Send(2, 1)),
        (60, Op::Send(0, 1)),
    ];
    assert_eq!(
        run_script(&mut world, script, 200, &["deliver"]),
        [
            "0.001000000 n0 deliver from=n1 pkt=1 1",
            "0.001000000 n2 deliver from=n0 pkt=2 2",
            "0.001000000 n1 deliver from=n2 pkt=3 3",
            "0.050000000 n1 deliver from=n0 pkt=0 0",
            "0.061000000 n1 deliver from=n2 pkt=5 5",
            "0.080000000 n2 deliver from=n1 pkt=4 4",
            "0.110000000 n1 deliver from=n0 pkt=6 6",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Labelled streams

/// Delivery (time, packet, duplicate) on `from -> to` of a run sending 1,000 packets on each
/// of 0 -> 1 and 2 -> 3, interleaved, with `overrides` applied to link 0 -> 1.
fn two_link_run(link_0_1: LinkConfig) -> Vec<Arrival> {
    let base = with_latency(uniform(ms(1), ms(10)));
    let mut world = World::<u64>::builder(71)
        .endpoints(4)
        .link_default(base)
        .link(n(0), n(1), link_0_1)
        .record(true)
        .build();
    for message in 0..1_000 {
        world.endpoint(n(0)).send(n(1), message).expect("room");
        world.endpoint(n(2)).send(n(3), message).expect("room");
        world.run_for(us(100));
    }
    world.run_for(ms(20));
    arrivals(&world)
}

fn on_link(arrivals: &[Arrival], from: u32, to: u32) -> Vec<Arrival> {
    arrivals.iter().filter(|a| (a.from, a.to) == (n(from), n(to))).copied().collect()
}

// Proves every fault family of a link draws from its own stream: turning duplication or loss
// on for link 0->1 leaves every delivery on link 2->3 unchanged, and duplication leaves the
// originals on 0->1 itself unchanged (the copies' latencies come from the duplicate stream).
#[test]
fn fault_streams_are_independent_per_link_and_family() {
    let base = with_latency(uniform(ms(1), ms(10)));
    let baseline = two_link_run(base);
    assert_eq!(baseline.len(), 2_000);
    let duplicating = two_link_run(LinkConfig { duplicate_probability: 0.5, ..base });
    let losing = two_link_run(LinkConfig { loss_probability: 0.5, ..base });
    for (name, run) in [("duplicate", &duplicating), ("loss", &losing)] {
        assert_eq!(on_link(run, 2, 3), on_link(&baseline, 2, 3), "{name} on 0->1 moved 2->3");
    }
    let copies = on_link(&duplicating, 0, 1).into_iter().filter(|a| a.duplicate).count();
    assert!((400..=600).contains(&copies), "{copies} duplicates of 1,000 at p=0.5");
    let originals: Vec<Arrival> =
        on_link(&duplicating, 0, 1).into_iter().filter(|a| !a.duplicate).collect();
    assert_eq!(originals, on_link(&baseline, 0, 1), "duplication moved the originals");
    assert!(on_link(&losing, 0, 1).len() < 600, "loss is really on");
}

// Proves a fault family at probability zero draws nothing: switched on mid-run it makes the
// same decisions as switched on at the start (its stream was untouched), and corruption on a
// typed wire (no bits to flip) leaves the run's fingerprint unchanged.
#[test]
fn a_family_at_probability_zero_draws_nothing() {
    // (lost, duplicated with the copy's latency) per packet index of the phase with faults on.
    let faulty_phase = |quiet_first: bool| {
        let config = LinkConfig {
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            ..with_latency(uniform(ms(1), ms(10)))
        };
        let mut world =
            World::<u64>::builder(72).endpoints(2).link_default(config).record(true).build();
        let first = if quiet_first {
            send_many(&mut world, 0, 1, 1_000, Duration::ZERO, ms(20));
            1_000
        } else {
            0
        };
        let start = world.now();
        world.control().set_loss(0.3).set_duplicate(0.3);
        send_many(&mut world, 0, 1, 1_000, Duration::ZERO, ms(20));
        let lost: Vec<u64> = world
            .trace()
            .records()
            .iter()
            .filter(|r| r.kind == "drop")
            .map(|r| match r.fields.iter().find(|(k, _)| k == "pkt") {
                Some((_, OwnedValue::U64(packet))) => packet - first,
                other => panic!("drop without packet id: {other:?}"),
            })
            .collect();
        let copies: Vec<(u64, Duration)> = arrivals(&world)
            .into_iter()
            .filter(|a| a.duplicate)
            .map(|a| (a.packet - first, a.at - start))
            .collect();
        (lost, copies)
    };
    let (lost, copies) = faulty_phase(false);
    assert!(
        lost.len() > 200 && copies.len() > 150,
        "faults really on: {} {}",
        lost.len(),
        copies.len()
    );
    assert_eq!(faulty_phase(true), (lost, copies));

    let typed_run = |corrupt_probability: f64| {
        let config = LinkConfig { corrupt_probability, ..with_latency(uniform(ms(1), ms(10))) };
        let mut world = World::<u64>::builder(73).endpoints(2).link_default(config).build();
        send_many(&mut world, 0, 1, 1_000, us(10), ms(20));
        (world.fingerprint(), world.net_stats().total.corrupted)
    };
    let (fingerprint, corrupted) = typed_run(0.0);
    assert_eq!(typed_run(0.5), (fingerprint, corrupted));
    assert_eq!(corrupted, 0);
}

// ---------------------------------------------------------------------------------------
// Statistics and determinism

// Proves the network statistics count every fate exactly: sent, delivered, drops by cause,
// duplicates, holds, the deepest queue and the latency percentiles, per link and in total.
#[test]
fn network_statistics_are_exact() {
    let fixed_2ms = with_latency(Latency::Fixed(ms(2)));
    let mut world = World::<u64>::builder(81)
        .endpoints(4)
        .link_default(fixed_2ms)
        .link(n(0), n(1), LinkConfig { capacity_packets: 2, ..fixed_2ms })
        .link(n(0), n(2), LinkConfig { duplicate_probability: 1.0, ..fixed_2ms })
        .link(n(2), n(0), LinkConfig { loss_probability: 1.0, ..fixed_2ms })
        .build();
    world
        .control()
        .set_node_up(n(3), false)
        .partition_shape(PartitionShape::OneWay { from: nodes(&[1]), to: nodes(&[2]) }, None)
        .clog(n(2), n(1), ms(10));
    let sends = [(0, 1), (0, 1), (0, 1), (0, 2), (0, 2), (2, 0), (2, 0), (3, 0), (1, 2), (2, 1)];
    for (message, (from, to)) in (0..).zip(sends) {
        world.endpoint(n(from)).send(n(to), message).expect("no link here rejects");
    }
    world.run_for(ms(20));

    let stats = world.net_stats();
    let fates = |from: u32, to: u32| {
        let link = &stats.links[&(n(from), n(to))];
        let drops = DropCause::ALL.map(|cause| link.dropped_by(cause));
        (link.sent, link.delivered, drops, link.duplicated, link.held, link.queue_depth_max)
    };
    // Drops in DropCause order: loss, partition, node_down, queue_full, corrupt.
    assert_eq!(fates(0, 1), (3, 2, [0, 0, 0, 1, 0], 0, 0, 2));
    assert_eq!(fates(0, 2), (2, 4, [0, 0, 0, 0, 0], 2, 0, 4));
    assert_eq!(fates(2, 0), (2, 0, [2, 0, 0, 0, 0], 0, 0, 0));
    assert_eq!(fates(3, 0), (1, 0, [0, 0, 1, 0, 0], 0, 0, 0));
    assert_eq!(fates(1, 2), (1, 0, [0, 1, 0, 0, 0], 0, 0, 0));
    assert_eq!(fates(2, 1), (1, 1, [0, 0, 0, 0, 0], 0, 1, 1));
    assert_eq!(stats.links.len(), 6);
    let total = &stats.total;
    assert_eq!(total.latency.count(), 7);
    // Percentiles are bucket lower bounds (8 buckets per power of two): 2ms lands in the
    // bucket starting at 15 << 17 ns, 10ms in the one starting at 9 << 20 ns; max is exact.
    assert_eq!(total.latency.quantile(0.5), Duration::from_nanos(15 << 17));
    assert_eq!(total.latency.quantile(0.99), Duration::from_nanos(9 << 20));
    assert_eq!(total.latency.quantile(1.0), ms(10));
    assert_eq!(
        stats.summary(),
        "sent=10 delivered=7 dropped=5 (loss=2 partition=1 node_down=1 queue_full=1) \
         duplicated=2 corrupted=0 held=1 queue_max=4 latency p50=1.96608ms p99=9.437184ms \
         max=10ms"
    );
}

/// A busy run with every fault family: 5 endpoints sending to each other every 2ms for
/// 100ms under loss, duplication, random latency, a timed partition, a node clog and an
/// interface going down.
fn busy_run(seed: u64, record: bool) -> (u64, String) {
    let config = LinkConfig {
        loss_probability: 0.1,
        duplicate_probability: 0.1,
        ..with_latency(uniform(ms(1), ms(5)))
    };
    let mut world = World::<u64>::builder(seed)
        .endpoints(5)
        .link_default(config)
        .link(n(0), n(1), LinkConfig { fifo: true, ..config })
        .record(record)
        .build();
    let halves = PartitionShape::Groups(vec![nodes(&[0, 1]), nodes(&[2, 3, 4])]);
    world.schedule(at_ms(20), ControlAction::Partition { shape: halves, duration: Some(ms(30)) });
    world.schedule(at_ms(40), ControlAction::ClogNode { node: n(2), duration: ms(20) });
    world.schedule(at_ms(60), ControlAction::SetNodeUp { node: n(4), up: false });
    for tick in 0..50u64 {
        for from in 0..5 {
            for to in (0..5).filter(|&to| to != from) {
                world.endpoint(n(from)).send(n(to), tick).expect("room");
            }
        }
        world.run_for(ms(2));
    }
    world.run_for(ms(50));
    (world.fingerprint(), world.trace().render())
}

// Proves the same seed gives the same fingerprint and the same trace text, recording does
// not change the fingerprint, and another seed gives another run.
#[test]
fn same_seed_same_trace() {
    let (fingerprint, text) = busy_run(91, true);
    assert_eq!(busy_run(91, true), (fingerprint, text.clone()));
    assert_eq!(busy_run(91, false).0, fingerprint);
    assert_ne!(busy_run(92, false).0, fingerprint);
    for kind in [
        " deliver ",
        " cause=loss ",
        " duplicate ",
        " cause=partition ",
        " hold ",
        " cause=node_down ",
    ] {
        assert!(text.contains(kind), "the busy run exercises{kind}");
    }
}
