//! The cost of a node whose process is a child OS process: one echo server and one client
//! sending a request every 100µs of virtual time, the server in the world's memory, as a
//! Rust child (`orrery-echo-server`) or as a Python child (`clients/python/examples`).
//! Throughput is in server events (deliveries to the server: one protocol step each), timed
//! after the child has started; `spawn` times a child's start and first step alone.

use std::sync::Arc;
use std::time::{Duration as WallDuration, Instant as WallInstant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use orrery_sim::subprocess::{SubprocessConfig, SubprocessNode};
use orrery_sim::{ms, us, NodeId, NodeSpec, World};
use orrery_workloads::echo::{Client, EchoCodec, Message, Server};

/// Virtual time each measured run covers: 10,000 requests.
const RUN_MS: u64 = 1000;

fn python() -> String {
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 on PATH (apt-get install -y python3)");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A world of one server (in process if `command` is `None`) and one client.
fn world(command: Option<Arc<[String]>>) -> World<Message> {
    let spec = NodeSpec::named("s0").role("server");
    let builder = World::<Message>::builder(1);
    let builder = match command {
        None => builder.process(spec, |_| Server::new(false)),
        Some(command) => builder.process(spec.clone(), move |_| {
            let codec = Box::new(EchoCodec);
            SubprocessNode::new(command.clone(), codec, SubprocessConfig::default(), &spec)
        }),
    };
    builder.process("c0", |_| Client::new(vec![NodeId(0)], us(100))).build()
}

/// Server events in one run (deliveries to node 0), counted from a recorded run.
fn server_events() -> u64 {
    let mut world = World::<Message>::builder(1)
        .process("s0", |_| Server::new(false))
        .process("c0", |_| Client::new(vec![NodeId(0)], us(100)))
        .record(true)
        .build();
    world.run_for(ms(RUN_MS));
    let delivered = world.trace().records().iter();
    delivered.filter(|r| r.kind == "deliver" && r.node == Some(NodeId(0))).count() as u64
}

fn timed_runs(command: Option<Arc<[String]>>, iterations: u64) -> WallDuration {
    let mut total = WallDuration::ZERO;
    for _ in 0..iterations {
        let mut world = world(command.clone());
        world.run_for(us(1)); // the child starts and answers `init`: not measured
        #[allow(clippy::disallowed_methods)] // a benchmark's clock
        let started = WallInstant::now();
        world.run_for(ms(RUN_MS));
        total += started.elapsed();
    }
    total
}

fn subprocess(c: &mut Criterion) {
    let rust: Arc<[String]> = Arc::from(vec![env!("CARGO_BIN_EXE_orrery-echo-server").to_string()]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../clients/python/examples/echo_server.py");
    let python: Arc<[String]> = Arc::from(vec![python(), script.to_string()]);
    let mut group = c.benchmark_group("subprocess");
    group.sample_size(10).measurement_time(WallDuration::from_secs(20));
    group.throughput(Throughput::Elements(server_events()));
    group.bench_function("in_process", |b| b.iter_custom(|n| timed_runs(None, n)));
    group.bench_function("rust_child", |b| b.iter_custom(|n| timed_runs(Some(rust.clone()), n)));
    group
        .bench_function("python_child", |b| b.iter_custom(|n| timed_runs(Some(python.clone()), n)));
    group.throughput(Throughput::Elements(1));
    for (name, command) in
        [("spawn_rust_child", rust.clone()), ("spawn_python_child", python.clone())]
    {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut world = world(Some(command.clone()));
                world.run_for(us(1));
                world
            })
        });
    }
    group.finish();
}

criterion_group!(benches, subprocess);
criterion_main!(benches);
