//! The peer workloads (see `benches/README.md` and `../shared/peers`) under criterion, with
//! throughput in the peers' units: W1 round trips, W2 messages, W3 seeds (100 seeds on one
//! thread instead of 1,000, to keep bench time sane; the rate is per seed either way), plus
//! W2 with every network fault family configured at rate zero (issue 3's overhead bound) and
//! W1 with async processes (issue 17's bound: within 2x of the callback W1).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[allow(dead_code)] // The example uses the constants and checks the bench does not need.
#[path = "../examples/peers/workloads.rs"]
mod workloads;

use workloads::{sweep, w1, w1_async, w2, w2_with, W2Faults, W1_ROUNDS, W2_NODES, W2_TICKS};

const W3_BENCH_SEEDS: u64 = 100;

fn peers(c: &mut Criterion) {
    let mut group = c.benchmark_group("peers");
    group.sample_size(10);

    group.throughput(Throughput::Elements(W1_ROUNDS));
    group.bench_function("w1_pingpong_round_trips", |b| {
        b.iter(|| {
            let out = w1(W1_ROUNDS);
            out.check(W1_ROUNDS);
            out
        })
    });

    // Issue 17: W1 with both nodes async processes, within 2x of the callback W1 above.
    group.bench_function("w1_async_pingpong_round_trips", |b| {
        b.iter(|| {
            let out = w1_async(W1_ROUNDS);
            out.check(W1_ROUNDS);
            out
        })
    });

    group.throughput(Throughput::Elements((W2_NODES as u64 - 1) * W2_NODES as u64 * W2_TICKS));
    group.bench_function("w2_fanout_messages", |b| {
        b.iter(|| {
            let out = w2(W2_TICKS);
            out.check(W2_TICKS);
            out
        })
    });

    // Issue 3: the same W2 with every network fault family configured at rate zero must
    // cost at most 10% more than the plain one above (figures in benches/README.md).
    group.bench_function("w2_fanout_messages_faults_at_zero", |b| {
        b.iter(|| {
            let out = w2_with(W2_TICKS, W2Faults::ArmedAtZero);
            out.check(W2_TICKS);
            out
        })
    });

    group.throughput(Throughput::Elements(W3_BENCH_SEEDS));
    group.bench_function("w3_seedsweep_seeds_1_thread", |b| b.iter(|| sweep(W3_BENCH_SEEDS, 1)));
    group.finish();
}

criterion_group!(benches, peers);
criterion_main!(benches);
