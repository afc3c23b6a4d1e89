//! Raw engine throughput in events per second: a timer-heavy world (many nodes, periodic
//! timers, no messages) and a message-heavy one (every node sends to every other on a timer).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use orrery_sim::{ms, us, Context, NodeApi, NodeId, Process, TimerId, World};

/// Re-arms a timer forever; with `fanout`, also sends to every other node on each tick.
struct Ticker {
    fanout: bool,
}

impl Process<u64> for Ticker {
    fn on_start(&mut self, ctx: &mut Context<u64>) {
        ctx.set_timer(us(100), 0);
    }

    fn on_message(&mut self, _ctx: &mut Context<u64>, _from: NodeId, _message: u64) {}

    fn on_timer(&mut self, ctx: &mut Context<u64>, _timer: TimerId, tag: u64) {
        if self.fanout {
            let me = ctx.id();
            for peer in 0..ctx.n_nodes() as u32 {
                if peer != me.0 {
                    ctx.send(NodeId(peer), tag);
                }
            }
        }
        ctx.set_timer(us(100), tag + 1);
    }
}

fn run(nodes: usize, fanout: bool) -> u64 {
    let mut world = World::<u64>::builder(1).processes(nodes, move |_| Ticker { fanout }).build();
    world.run_for(ms(100));
    world.events_processed()
}

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    for (name, nodes, fanout) in
        [("timer_heavy_64_nodes", 64, false), ("message_heavy_16_nodes", 16, true)]
    {
        let events = run(nodes, fanout);
        group.throughput(Throughput::Elements(events));
        group.bench_function(name, |b| b.iter(|| run(nodes, fanout)));
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
