//! Loopback request/reply round trips per second: two production nodes (a pinger and an
//! echo, each in its own thread on its own current-thread runtime) against the same
//! exchange written as plain tokio TCP with the same framing. One request in flight at a
//! time, so the figure is the round trip's latency: what the runtime adds to the sockets.
//!
//! `cargo bench -p orrery-runtime --bench loopback`; the figures are in benches/README.md.

use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use orrery_runtime::frame::{self, FrameDecoder};
use orrery_runtime::{serve_on, NodeConfig, NodeEntry, NodeProcess};
use orrery_sim::wire::Bytes;
use orrery_sim::{NodeApi, NodeId, Process};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Round trips before the clock starts (the connections are dialed during these).
const WARMUP: u64 = 100;

/// Echoes every request.
struct Echo;

impl<N: NodeApi<Vec<u8>>> Process<Vec<u8>, N> for Echo {
    fn on_message(&mut self, node: &mut N, from: NodeId, message: Vec<u8>) {
        node.send(from, message);
    }
}

/// Sends request after request to node 0, each once the previous reply is back; reports the
/// time `round_trips` of them took (after the warm-up), then exits.
struct Pinger {
    round_trips: u64,
    replies: u64,
    started: Option<StdInstant>,
    report: mpsc::Sender<StdDuration>,
}

impl<N: NodeApi<Vec<u8>>> Process<Vec<u8>, N> for Pinger {
    fn on_start(&mut self, node: &mut N) {
        node.send(NodeId(0), 0u64.to_le_bytes().to_vec());
    }

    fn on_message(&mut self, node: &mut N, _from: NodeId, message: Vec<u8>) {
        self.replies += 1;
        if self.replies == WARMUP {
            self.started = Some(StdInstant::now());
        }
        if self.replies == WARMUP + self.round_trips {
            let _ = self.report.send(self.started.map_or(StdDuration::ZERO, |s| s.elapsed()));
            node.exit(0);
            return;
        }
        node.send(NodeId(0), message);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

/// `round_trips` through two production nodes.
fn orrery_round_trips(round_trips: u64) -> StdDuration {
    let listeners: Vec<TcpListener> =
        (0..2).map(|_| TcpListener::bind("127.0.0.1:0").expect("a port")).collect();
    let nodes: Vec<NodeEntry> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| NodeEntry {
            id: NodeId(i as u32),
            address: l.local_addr().expect("bound"),
            role: "node".into(),
        })
        .collect();
    // The nodes boot with real fsyncs; on a disk shared with other work those stall the
    // measured threads now and then (see benches/README.md), so the data goes to memory.
    let scratch = Path::new("/dev/shm");
    let scratch = if scratch.is_dir() { scratch.to_path_buf() } else { std::env::temp_dir() };
    let data = scratch.join(format!("orrery-bench-loopback-{}", std::process::id()));
    let (report, reported) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut listeners = listeners.into_iter();
    let (echo_listener, pinger_listener) = (listeners.next(), listeners.next());
    let config = |id| {
        let mut config = NodeConfig::new(NodeId(id), nodes.clone(), data.join(format!("n{id}")));
        config.seed = Some(1);
        config
    };
    let (echo_config, pinger_config) = (config(0), config(1));
    let echo = std::thread::spawn(move || {
        let stopped = async {
            let _ = stopped.await;
        };
        let factory = |_: &NodeConfig| -> NodeProcess<Bytes> { Box::new(Echo) };
        let listener = echo_listener.expect("two listeners");
        runtime().block_on(serve_on(listener, echo_config, Bytes, factory, stopped))
    });
    let pinger = std::thread::spawn(move || {
        let factory = |_: &NodeConfig| -> NodeProcess<Bytes> {
            Box::new(Pinger { round_trips, replies: 0, started: None, report })
        };
        let listener = pinger_listener.expect("two listeners");
        let never = std::future::pending::<()>();
        runtime().block_on(serve_on(listener, pinger_config, Bytes, factory, never))
    });
    let elapsed = reported.recv().expect("the pinger reports");
    let _ = pinger.join();
    let _ = stop.send(());
    let _ = echo.join();
    let _ = std::fs::remove_dir_all(&data);
    elapsed
}

/// `round_trips` through plain tokio sockets, framed and checksummed the same way.
fn plain_round_trips(round_trips: u64) -> StdDuration {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("bound");
    let echo = std::thread::spawn(move || {
        runtime().block_on(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
            let (mut stream, _) = listener.accept().await.expect("accepted");
            stream.set_nodelay(true).expect("nodelay");
            let mut decoder = FrameDecoder::new(1 << 20);
            let mut out = Vec::new();
            loop {
                while let Some(payload) = decoder.next_frame().expect("valid frames") {
                    out.clear();
                    frame::encode(&mut out, |buffer| buffer.extend_from_slice(&payload));
                    stream.write_all(&out).await.expect("written");
                }
                if stream.read_buf(decoder.read_buffer(64 << 10)).await.expect("read") == 0 {
                    return;
                }
            }
        })
    });
    let elapsed = runtime().block_on(async move {
        let mut stream = tokio::net::TcpStream::connect(address).await.expect("connected");
        stream.set_nodelay(true).expect("nodelay");
        let mut decoder = FrameDecoder::new(1 << 20);
        let mut out = Vec::new();
        let mut started = StdInstant::now();
        let mut message = 0u64.to_le_bytes().to_vec();
        for replies in 0..WARMUP + round_trips {
            if replies == WARMUP {
                started = StdInstant::now();
            }
            out.clear();
            frame::encode(&mut out, |buffer| buffer.extend_from_slice(&message));
            stream.write_all(&out).await.expect("written");
            message = loop {
                if let Some(payload) = decoder.next_frame().expect("valid frames") {
                    break payload;
                }
                stream.read_buf(decoder.read_buffer(64 << 10)).await.expect("read");
            };
        }
        started.elapsed()
    });
    let _ = echo.join();
    elapsed
}

/// `round_trips` through plain tokio sockets as the runtime uses them: each direction on the
/// connection its sender dialed.
fn plain_two_connection_round_trips(round_trips: u64) -> StdDuration {
    let requests = TcpListener::bind("127.0.0.1:0").expect("a port");
    let replies = TcpListener::bind("127.0.0.1:0").expect("a port");
    let (requests_at, replies_at) =
        (requests.local_addr().expect("bound"), replies.local_addr().expect("bound"));
    let echo = std::thread::spawn(move || {
        runtime().block_on(async move {
            requests.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(requests).expect("a listener");
            let (mut inbound, _) = listener.accept().await.expect("accepted");
            let mut outbound = tokio::net::TcpStream::connect(replies_at).await.expect("dialed");
            outbound.set_nodelay(true).expect("nodelay");
            let mut decoder = FrameDecoder::new(1 << 20);
            let mut out = Vec::new();
            loop {
                while let Some(payload) = decoder.next_frame().expect("valid frames") {
                    out.clear();
                    frame::encode(&mut out, |buffer| buffer.extend_from_slice(&payload));
                    outbound.write_all(&out).await.expect("written");
                }
                if inbound.read_buf(decoder.read_buffer(64 << 10)).await.expect("read") == 0 {
                    return;
                }
            }
        })
    });
    let elapsed = runtime().block_on(async move {
        replies.set_nonblocking(true).expect("nonblocking");
        let listener = tokio::net::TcpListener::from_std(replies).expect("a listener");
        let mut outbound = tokio::net::TcpStream::connect(requests_at).await.expect("dialed");
        outbound.set_nodelay(true).expect("nodelay");
        let (mut inbound, _) = listener.accept().await.expect("accepted");
        let mut decoder = FrameDecoder::new(1 << 20);
        let mut out = Vec::new();
        let mut started = StdInstant::now();
        let mut message = 0u64.to_le_bytes().to_vec();
        for replies in 0..WARMUP + round_trips {
            if replies == WARMUP {
                started = StdInstant::now();
            }
            out.clear();
            frame::encode(&mut out, |buffer| buffer.extend_from_slice(&message));
            outbound.write_all(&out).await.expect("written");
            message = loop {
                if let Some(payload) = decoder.next_frame().expect("valid frames") {
                    break payload;
                }
                inbound.read_buf(decoder.read_buffer(64 << 10)).await.expect("read");
            };
        }
        started.elapsed()
    });
    let _ = echo.join();
    elapsed
}

fn loopback(c: &mut Criterion) {
    let mut group = c.benchmark_group("loopback_round_trips");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20).measurement_time(StdDuration::from_secs(5));
    group.bench_function("orrery_runtime", |b| b.iter_custom(orrery_round_trips));
    group.bench_function("plain_tokio", |b| b.iter_custom(plain_round_trips));
    group.bench_function("plain_tokio_two_connections", |b| {
        b.iter_custom(plain_two_connection_round_trips)
    });
    group.finish();
}

criterion_group!(benches, loopback);
criterion_main!(benches);
