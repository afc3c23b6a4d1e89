//! Memory at scale: a world with many nodes and a million messages in flight at once, and
//! what each in-flight message costs in resident memory. The default run is small (1,000
//! nodes, 100,000 messages) so the suite stays fast; `ORRERY_SCALE=1 cargo test --release
//! --test scale -- --nocapture` runs the full size (10,000 nodes, 1,000,000 messages).

use orrery_sim::{ms, us, Context, NodeApi, NodeId, Process, World};

/// Sends `burst` messages to the next node at time zero; counts what it receives.
struct Burst {
    burst: u64,
    received: u64,
}

impl Process<u64> for Burst {
    fn on_start(&mut self, ctx: &mut Context<u64>) {
        let next = NodeId((ctx.id().0 + 1) % ctx.n_nodes() as u32);
        for value in 0..self.burst {
            ctx.send(next, value);
        }
    }

    fn on_message(&mut self, _ctx: &mut Context<u64>, _from: NodeId, _message: u64) {
        self.received += 1;
    }
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`), if readable.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

// Proves a world holds `n_nodes * burst` messages in flight at once, delivers every one, and
// reports the resident memory each in-flight message costs.
#[test]
fn a_million_messages_in_flight_are_all_delivered() {
    let full = std::env::var_os("ORRERY_SCALE").is_some();
    let (n_nodes, burst) = if full { (10_000usize, 100u64) } else { (1_000usize, 100u64) };
    let messages = n_nodes as u64 * burst;

    let before = resident_bytes();
    let mut world =
        World::<u64>::builder(1).processes(n_nodes, move |_| Burst { burst, received: 0 }).build();
    let built = resident_bytes();
    // Every node starts and sends at time zero; with 1 ms latency nothing arrives before 1 µs.
    world.run_for(us(1));
    assert_eq!(world.events_pending() as u64, messages, "every message is in flight");
    let in_flight = resident_bytes();
    world.run_for(ms(2));
    assert_eq!(world.events_pending(), 0);
    let delivered: u64 = world.processes_of::<Burst>().map(|(_, p)| p.received).sum();
    assert_eq!(delivered, messages, "every message is delivered");
    for (node, process) in world.processes_of::<Burst>() {
        assert_eq!(process.received, burst, "{node} received {}", process.received);
    }
    assert_eq!(world.net_stats().total.delivered, messages);

    match (before, built, in_flight) {
        (Some(before), Some(built), Some(in_flight)) => println!(
            "scale: {n_nodes} nodes, {messages} messages in flight on {n_nodes} links; \
             world built +{:.1} MiB ({:.0} B/node); in flight +{:.1} MiB = {:.1} B per in-flight \
             message (includes queue growth slack and per-link state)",
            (built.saturating_sub(before)) as f64 / 1048576.0,
            (built.saturating_sub(before)) as f64 / n_nodes as f64,
            (in_flight.saturating_sub(built)) as f64 / 1048576.0,
            (in_flight.saturating_sub(built)) as f64 / messages as f64,
        ),
        _ => println!("scale: /proc/self/statm unreadable; delivery checked, memory not measured"),
    }
}
