//! A run is a pure function of (binary, scenario, seed): the same seed gives the same
//! fingerprint every time and on any thread; different seeds give different fingerprints.

use orrery_sim::{
    ms, trace, Context, ControlAction, Instant, Latency, LinkConfig, NodeApi, NodeId, Process,
    TimerId, World,
};

/// Sends to random peers at random intervals, drawing everything from its own stream.
struct Chatter {
    sent: u64,
}

impl Process<u64> for Chatter {
    fn on_start(&mut self, ctx: &mut Context<u64>) {
        let delay = ms(ctx.rng().uniform_u64(1, 5));
        ctx.set_timer(delay, 0);
    }

    fn on_message(&mut self, ctx: &mut Context<u64>, from: NodeId, message: u64) {
        if message.is_multiple_of(3) {
            ctx.send(from, message + 1);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<u64>, _timer: TimerId, _tag: u64) {
        let n = ctx.n_nodes() as u64;
        let peer = NodeId(ctx.rng().below(n) as u32);
        self.sent += 1;
        ctx.send(peer, self.sent);
        if ctx.buggify("chatter.double_send") {
            ctx.send(peer, self.sent);
        }
        let delay = ms(ctx.rng().uniform_u64(1, 5));
        ctx.set_timer(delay, 0);
    }
}

fn run(seed: u64, record_history: bool) -> (u64, Vec<u64>) {
    let link = LinkConfig {
        latency: Latency::Uniform { min: ms(1), max: ms(10) },
        loss_probability: 0.05,
        duplicate_probability: 0.02,
        ..LinkConfig::default()
    };
    let config = orrery_sim::WorldConfig {
        buggify: orrery_sim::BuggifyConfig { enabled: true, ..Default::default() },
        ..Default::default()
    };
    let mut world = World::<u64>::builder(seed)
        .processes(5, |_| Chatter { sent: 0 })
        .link_default(link)
        .config(config)
        .build();
    if record_history {
        world.trace_mut().enable_fingerprint_history();
    }
    world.schedule(Instant::from_nanos(50_000_000), ControlAction::Crash(NodeId(2)));
    world.schedule(Instant::from_nanos(80_000_000), ControlAction::Restart(NodeId(2)));
    world.run_for(ms(200));
    (world.fingerprint(), world.trace().fingerprint_history().to_vec())
}

// Proves 1,000 seeds each give the same fingerprint twice in a row and on another thread,
// and that no two seeds share a fingerprint.
#[test]
fn a_thousand_seeds_replay_identically_across_runs_and_threads() {
    let seeds: Vec<u64> = (0..1_000).collect();
    let first: Vec<u64> = seeds.iter().map(|&s| run(s, false).0).collect();
    let second: Vec<u64> = seeds.iter().map(|&s| run(s, false).0).collect();
    assert_eq!(first, second, "same seed, same process, different fingerprint");
    let threaded: Vec<u64> = std::thread::scope(|scope| {
        let halves: Vec<_> = (0..2)
            .map(|t| {
                scope.spawn(move || {
                    (t..1_000).step_by(2).map(|s| (s, run(s, false).0)).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(u64, u64)> =
            halves.into_iter().flat_map(|h| h.join().expect("no panic")).collect();
        all.sort_unstable();
        all.into_iter().map(|(_, fingerprint)| fingerprint).collect()
    });
    assert_eq!(first, threaded, "thread placement changed a run");
    let mut distinct = first.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), first.len(), "two seeds produced the same run");
}

// Proves the per-event fingerprint history finds where two different runs diverge, and that
// identical runs have no divergence.
#[test]
fn divergence_is_located_at_the_first_differing_event() {
    let (_, a) = run(11, true);
    let (_, b) = run(11, true);
    assert_eq!(trace::first_divergence(&a, &b), None);
    let (_, c) = run(12, true);
    let divergence = trace::first_divergence(&a, &c).expect("different seeds diverge");
    assert!(divergence.event_index < a.len().min(c.len()));
    assert_eq!(a[..divergence.event_index], c[..divergence.event_index]);
}
