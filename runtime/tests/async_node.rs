//! Async processes (`orrery_sim::task::AsyncNode`) on the production runtime: the same async
//! node code runs in the simulated world and here, over real sockets, tokio timers and a real
//! directory (`serve_local_on`, the twin of `serve_on` for processes that are not `Send`),
//! with the same results.

mod support;

use std::sync::mpsc;
use std::time::Duration as StdDuration;

use orrery_runtime::Ended;
use orrery_sim::disk::DiskOp;
use orrery_sim::task::{AsyncNode, Node};
use orrery_sim::wire::Bytes;
use orrery_sim::{ms, Latency, LinkConfig, NodeId, Storage, World};

use support::{config, listeners, receive, start_local, TempDir};

const ROUNDS: u64 = 5;

/// Answers every `ping N` with `pong N`, for ever.
async fn pong_server(node: Node<Vec<u8>>) {
    loop {
        let (from, message) = node.recv().await;
        if let Some(n) = message.strip_prefix(b"ping ") {
            node.send(from, [b"pong ", n].concat());
        }
    }
}

/// Asks `server` for pongs 0..ROUNDS, one at a time, asking again after 200 ms without an
/// answer; appends each pong to the file `log` through an awaited disk operation, tells
/// `lines`, sleeps 5 ms; then syncs the log and exits with code 0.
async fn patient_client(node: Node<Vec<u8>>, lines: mpsc::Sender<String>, server: NodeId) {
    node.disk().create("log").expect("a fresh disk");
    for n in 0..ROUNDS {
        let pong = format!("pong {n}").into_bytes();
        loop {
            node.send(server, format!("ping {n}").into_bytes());
            let answer = node.recv_map(|_, message| (*message == pong).then_some(()));
            if node.timeout(ms(200), answer).await.is_ok() {
                break;
            }
        }
        let line = format!("pong {n}\n");
        let op = DiskOp::Append { path: "log".into(), data: line.clone().into_bytes() };
        node.disk_op(op).await.expect("appended");
        let _ = lines.send(line);
        node.sleep(ms(5)).await;
    }
    node.disk_op(DiskOp::Sync { path: "log".into() }).await.expect("synced");
    node.exit(0);
}

// Proves the async node code above runs unchanged on the production runtime: the client gets
// every pong over real TCP, its awaited disk operations write the real file, its sleeps and
// timeouts run on tokio's timers, `exit` ends the node with its code; and the simulated
// world gives the same lines from the same functions.
#[test]
fn async_nodes_run_on_the_production_runtime_as_in_simulation() {
    let data = TempDir::new("async-node");
    let (mut sockets, nodes) = listeners(2);
    let server_socket = sockets.remove(0);
    let server = start_local(server_socket, config(0, &nodes, data.path()), Bytes, || {
        Box::new(AsyncNode::new(pong_server))
    });
    let (lines, told) = mpsc::channel();
    let client = start_local(sockets.remove(0), config(1, &nodes, data.path()), Bytes, || {
        Box::new(AsyncNode::new(move |node| patient_client(node, lines, NodeId(0))))
    });
    let patience = StdDuration::from_secs(10);
    let in_production: Vec<String> = std::iter::from_fn(|| receive(&told, patience)).collect();
    assert_eq!(client.stop().ended, Ended::Exited(0));
    assert_eq!(server.stop().ended, Ended::Stopped);
    let expected: Vec<String> = (0..ROUNDS).map(|n| format!("pong {n}\n")).collect();
    assert_eq!(in_production, expected);
    let file = std::fs::read(data.path().join("n1").join("disk").join("log")).expect("the log");
    assert_eq!(String::from_utf8(file).expect("text"), expected.concat());

    let (lines, told) = mpsc::channel();
    let mut world = World::<Vec<u8>>::builder(1)
        .link_default(LinkConfig { latency: Latency::Fixed(ms(1)), ..LinkConfig::default() })
        .process("n0", |_| AsyncNode::new(pong_server))
        .process("n1", move |_| {
            let lines = lines.clone();
            AsyncNode::new(move |node| patient_client(node, lines, NodeId(0)))
        })
        .build();
    world.run_for(ms(1_000));
    let in_simulation: Vec<String> = told.try_iter().collect();
    assert_eq!(in_simulation, expected);
    assert_eq!(world.down_reason(NodeId(1)), Some(&orrery_sim::DownReason::Exited(0)));
    let written = world.disk(NodeId(1)).peek_contents("log").expect("the log");
    assert_eq!(String::from_utf8_lossy(written), expected.concat());
}

// Proves the misuse the guide warns about is caught on the production runtime too: a task
// that awaits a tokio timer instead of the node's is woken by tokio outside the node's
// callbacks, which debug builds stop with a panic naming the node.
#[cfg(debug_assertions)]
#[test]
fn a_tokio_timer_inside_a_task_is_a_panic_naming_the_node() {
    let data = TempDir::new("async-node-tokio-timer");
    let (mut sockets, nodes) = listeners(1);
    let (listener, node_config) = (sockets.remove(0), config(0, &nodes, data.path()));
    let thread = std::thread::spawn(move || {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let factory = |_: &orrery_runtime::NodeConfig| -> orrery_runtime::LocalNodeProcess<Bytes> {
            Box::new(AsyncNode::new(|_node: Node<Vec<u8>>| async {
                tokio::time::sleep(StdDuration::from_millis(5)).await;
            }))
        };
        let never = std::future::pending::<()>();
        runtime.block_on(orrery_runtime::serve_local_on(
            listener,
            node_config,
            Bytes,
            factory,
            never,
        ))
    });
    let panic = thread.join().expect_err("the node's thread panics");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.starts_with("a waker of a task of n0 fired outside the node's callbacks"),
        "{message}"
    );
}
