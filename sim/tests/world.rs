//! The world's contract: event order, limits, node lifecycle (crash, restart, pause, resume),
//! skewed clocks, pull-style endpoints and the trace fingerprint.

use orrery_sim::{
    ms, secs, Context, ControlAction, Envelope, Instant, Limit, LinkConfig, NodeApi, NodeId,
    NodeStatus, Outcome, Process, Storage, TimerId, World, WorldConfig,
};

/// Counts what happened to it; re-arms a periodic timer; echoes `Ping(n)` as `Pong(n)`.
#[derive(Default)]
struct Probe {
    started: u32,
    timers: u32,
    received: Vec<(NodeId, Msg)>,
    local_times: Vec<Instant>,
    period: Option<orrery_sim::Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Msg {
    Ping(u64),
    Pong(u64),
}

impl Process<Msg> for Probe {
    fn on_start(&mut self, ctx: &mut Context<Msg>) {
        self.started += 1;
        if let Some(period) = self.period {
            ctx.set_timer(period, 0);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<Msg>, from: NodeId, message: Msg) {
        self.local_times.push(ctx.now());
        if let Msg::Ping(n) = message {
            ctx.send(from, Msg::Pong(n));
        }
        self.received.push((from, message));
    }

    fn on_timer(&mut self, ctx: &mut Context<Msg>, _timer: TimerId, _tag: u64) {
        self.timers += 1;
        self.local_times.push(ctx.now());
        if let Some(period) = self.period {
            ctx.set_timer(period, 0);
        }
    }
}

fn ticking(period_ms: u64) -> impl FnMut(NodeId) -> Probe + Clone {
    move |_| Probe { period: Some(ms(period_ms)), ..Probe::default() }
}

fn probe(world: &World<Msg>, node: u32) -> &Probe {
    world.process::<Probe>(NodeId(node)).expect("node runs a Probe")
}

// Proves a crash drops the process's state and its pending timers, and a restart rebuilds
// it from the factory and runs on_start again.
#[test]
fn crash_drops_state_and_timers_restart_rebuilds() {
    let mut world = World::<Msg>::builder(1).processes(1, ticking(10)).build();
    world.run_for(ms(35));
    assert_eq!(probe(&world, 0).timers, 3);
    world.control().crash(NodeId(0));
    assert_eq!(world.status(NodeId(0)), NodeStatus::Down);
    assert!(world.process::<Probe>(NodeId(0)).is_none(), "volatile state is gone");
    world.run_for(ms(100));
    world.control().restart(NodeId(0));
    world.run_for(ms(25));
    let restarted = probe(&world, 0);
    assert_eq!((restarted.started, restarted.timers), (1, 2), "fresh state, old timers never fire");
}

// Proves a paused node receives nothing and fires no timers, and on resume gets everything
// held, in the original order.
#[test]
fn pause_holds_deliveries_and_timers_until_resume() {
    let mut world = World::<Msg>::builder(2).processes(1, ticking(10)).endpoints(1).build();
    world.run_for(ms(5));
    world.control().pause(NodeId(0));
    for n in 0..3 {
        world.endpoint(NodeId(1)).send(NodeId(0), Msg::Ping(n)).expect("queue has room");
    }
    world.run_for(ms(50));
    assert_eq!(probe(&world, 0).received.len(), 0);
    assert_eq!(probe(&world, 0).timers, 0);
    world.control().resume(NodeId(0));
    world.run_for(ms(0));
    let resumed = probe(&world, 0);
    let pings: Vec<Msg> = resumed.received.iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(pings, [Msg::Ping(0), Msg::Ping(1), Msg::Ping(2)]);
    assert_eq!(resumed.timers, 1, "the held timer fires once at resume");
    world.run_for(ms(5));
    let replies = world.endpoint(NodeId(1)).drain();
    assert_eq!(replies.len(), 3);
}

// Proves a skewed and drifting clock is what the process reads, and its timers run on local
// time while the scheduler stays on true time.
#[test]
fn skewed_clocks_are_what_processes_read() {
    let mut world = World::<Msg>::builder(3).processes(1, ticking(100)).build();
    world.control().set_clock(NodeId(0), 5_000_000_000, 0);
    world.run_for(ms(150));
    assert_eq!(probe(&world, 0).local_times, [Instant::from_nanos(5_100_000_000)]);
    // 10% fast from t=150ms: the 100ms local timer armed at t=100 fires sooner in true time.
    world.control().set_clock(NodeId(0), 0, 100_000);
    world.run_for(ms(400));
    let times = &probe(&world, 0).local_times;
    assert!(times.len() >= 4, "a fast clock fires its local-time timers more often: {times:?}");
    assert!(world.now() == Instant::from_nanos(550_000_000));
}

// Proves both limits end a run with an outcome instead of a hang, and the world then refuses
// to go further.
#[test]
fn limits_are_outcomes_not_hangs() {
    let config = WorldConfig { events_max: 1_000, ..WorldConfig::default() };
    let mut world = World::<Msg>::builder(4).processes(1, ticking(1)).config(config).build();
    assert_eq!(world.run(), Outcome::Limit(Limit::EventsMax));
    assert_eq!(world.events_processed(), 1_000);
    assert_eq!(world.step(), Outcome::Limit(Limit::EventsMax));

    let config = WorldConfig {
        vtime_max: Instant::from_nanos(secs(2).as_nanos()),
        ..WorldConfig::default()
    };
    let mut world = World::<Msg>::builder(4).processes(1, ticking(1)).config(config).build();
    assert_eq!(world.run(), Outcome::Limit(Limit::VtimeMax));
    assert!(world.now() <= Instant::from_nanos(secs(2).as_nanos()));
    assert_eq!(world.run_for(secs(10)), Outcome::Limit(Limit::VtimeMax));
}

// Proves idle time costs nothing: a timer a day away is one event.
#[test]
fn idle_time_is_skipped() {
    let mut world = World::<Msg>::builder(5).processes(1, ticking(3_600_000)).build();
    assert_eq!(world.run_for(secs(5 * 3600)), Outcome::TimeReached);
    assert_eq!(world.events_processed(), 1 + 5);
}

// Proves run_until stops exactly when the predicate first holds.
#[test]
fn run_until_stops_when_the_predicate_holds() {
    let mut world = World::<Msg>::builder(6).processes(2, ticking(10)).build();
    let outcome = world.run_until(|w| w.process::<Probe>(NodeId(1)).is_some_and(|p| p.timers == 4));
    assert_eq!(outcome, Outcome::Satisfied);
    assert_eq!(probe(&world, 1).timers, 4);
    assert_eq!(world.now(), Instant::from_nanos(40_000_000));
}

// Proves an invariant violated after an event stops the run with its name and message.
#[test]
fn invariants_are_checked_after_every_event() {
    let mut world = World::<Msg>::builder(7).processes(1, ticking(10)).build();
    world.add_invariant("fewer than 3 timers", |w| {
        let timers = w.process::<Probe>(NodeId(0)).map_or(0, |p| p.timers);
        if timers < 3 {
            Ok(())
        } else {
            Err(format!("{timers} timers fired"))
        }
    });
    match world.run_for(secs(1)) {
        Outcome::Violation { invariant, message, at } => {
            assert_eq!(invariant, "fewer than 3 timers");
            assert_eq!(message, "3 timers fired");
            assert_eq!(at, Instant::from_nanos(30_000_000));
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

// Proves recording the full trace does not change the fingerprint, and the trace shows the
// events in the documented line format.
#[test]
fn recording_does_not_change_the_fingerprint() {
    let run = |record: bool| {
        let mut world =
            World::<Msg>::builder(8).processes(1, ticking(10)).endpoints(1).record(record).build();
        world.endpoint(NodeId(1)).send(NodeId(0), Msg::Ping(7)).expect("room");
        world.control().set_loss(0.5);
        world.run_for(ms(30));
        (world.fingerprint(), world.trace().render())
    };
    let (plain, _) = run(false);
    let (recorded, text) = run(true);
    assert_eq!(plain, recorded);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0.000000000 n1 send to=n0 pkt=0 Ping(7)");
    assert_eq!(lines[1], "0.000000000 - set_loss probability=0.5");
    assert!(lines.contains(&"0.001000000 n0 deliver from=n1 pkt=0 Ping(7)"), "{text}");
}

// Proves actions scheduled ahead apply at their time and are traced like immediate ones.
#[test]
fn scheduled_actions_apply_at_their_time() {
    let mut world = World::<Msg>::builder(9).processes(1, ticking(10)).build();
    world.schedule(Instant::from_nanos(25_000_000), ControlAction::Crash(NodeId(0)));
    world.schedule(Instant::from_nanos(60_000_000), ControlAction::Restart(NodeId(0)));
    world.run_for(ms(50));
    assert_eq!(world.status(NodeId(0)), NodeStatus::Down);
    world.run_for(ms(20));
    assert_eq!(world.status(NodeId(0)), NodeStatus::Up);
    assert_eq!(probe(&world, 0).timers, 1);
}

// Proves pull-style endpoints see messages in delivery order with their senders.
#[test]
fn endpoints_receive_in_delivery_order() {
    let mut world = World::<Msg>::builder(10)
        .endpoints(3)
        .link(
            NodeId(2),
            NodeId(0),
            LinkConfig { latency: orrery_sim::Latency::Fixed(ms(5)), ..LinkConfig::default() },
        )
        .build();
    world.endpoint(NodeId(2)).send(NodeId(0), Msg::Ping(2)).expect("room");
    world.endpoint(NodeId(1)).send(NodeId(0), Msg::Ping(1)).expect("room");
    assert_eq!(world.endpoint(NodeId(0)).receive(), None);
    world.run_for(ms(10));
    let inbox = world.endpoint(NodeId(0)).drain();
    assert_eq!(
        inbox,
        [
            Envelope { from: NodeId(1), message: Msg::Ping(1) },
            Envelope { from: NodeId(2), message: Msg::Ping(2) }
        ]
    );
}

/// On every message: writes a record, syncs, then acknowledges; on start, reports what the
/// disk holds.
struct Persister {
    recovered: Vec<u8>,
}

impl Process<Msg> for Persister {
    fn on_start(&mut self, ctx: &mut Context<Msg>) {
        let mut disk = ctx.disk();
        if !disk.exists("log").unwrap_or(false) {
            let _ = disk.create("log");
            let _ = disk.sync_directory();
        }
        self.recovered = disk.read_all("log").unwrap_or_default();
    }

    fn on_message(&mut self, ctx: &mut Context<Msg>, from: NodeId, message: Msg) {
        if let Msg::Ping(n) = message {
            let mut disk = ctx.disk();
            let _ = disk.append("log", &[n as u8]);
            let _ = disk.sync("log");
            ctx.send(from, Msg::Pong(n));
            ctx.set_timer(ms(1), 0);
        }
    }
}

// Proves a crash point inside a handler cuts power there: the operation and every later
// effect of that handler (its ack and its timer) vanish, earlier synced writes survive, and
// the node is down afterwards.
#[test]
fn a_crash_inside_a_handler_discards_the_rest_of_it() {
    let mut world = World::<Msg>::builder(11)
        .process("n0", |_| Persister { recovered: Vec::new() })
        .endpoints(1)
        .record(true)
        .build();
    world.run_for(ms(1));
    world.endpoint(NodeId(1)).send(NodeId(0), Msg::Ping(1)).expect("room");
    world.run_for(ms(5));
    assert_eq!(world.endpoint(NodeId(1)).drain().len(), 1, "first ping acknowledged");
    // The next handler's second disk operation (the sync) loses power.
    world.control().crash_at_disk_operation(NodeId(0), 2);
    world.endpoint(NodeId(1)).send(NodeId(0), Msg::Ping(2)).expect("room");
    world.run_for(ms(5));
    assert_eq!(world.status(NodeId(0)), NodeStatus::Down);
    assert!(world.endpoint(NodeId(1)).drain().is_empty(), "no ack after power loss");
    world.control().restart(NodeId(0));
    world.run_for(ms(1));
    let recovered = &world.process::<Persister>(NodeId(0)).expect("restarted").recovered;
    assert_eq!(recovered[0], 1, "the synced first record survives");
    assert!(world.trace().render().contains("CrashPoint"), "the crash point is traced");
}

// Proves packets held by a clog on a FIFO link come out before a later packet arriving at
// the very instant the clog ends, and an overflowing endpoint inbox is a drop, not a
// delivery.
#[test]
fn clog_release_keeps_fifo_order_and_inbox_overflow_is_a_drop() {
    let fifo = LinkConfig { fifo: true, ..LinkConfig::default() };
    let mut world = World::<Msg>::builder(12).endpoints(2).link(NodeId(0), NodeId(1), fifo).build();
    world.control().clog(NodeId(0), NodeId(1), ms(30));
    for (at, n) in [(0, 0), (10, 1), (29, 2)] {
        let wait = ms(at) - (world.now() - Instant::ZERO);
        world.run_for(wait);
        world.endpoint(NodeId(0)).send(NodeId(1), Msg::Ping(n)).expect("room");
    }
    world.run_for(ms(5));
    let order: Vec<Msg> =
        world.endpoint(NodeId(1)).drain().into_iter().map(|e| e.message).collect();
    assert_eq!(order, [Msg::Ping(0), Msg::Ping(1), Msg::Ping(2)]);

    let config = WorldConfig { inbox_capacity: 2, ..WorldConfig::default() };
    let mut world = World::<Msg>::builder(13).endpoints(2).config(config).build();
    for n in 0..3 {
        world.endpoint(NodeId(0)).send(NodeId(1), Msg::Ping(n)).expect("room");
    }
    world.run_for(ms(5));
    let stats = world.net_stats().total;
    assert_eq!((stats.delivered, stats.dropped_by(orrery_sim::net::DropCause::QueueFull)), (2, 1));
    assert_eq!(world.endpoint(NodeId(1)).drain().len(), 2);
}
