//! A production node's life as its process sees it: timers in order, messages to itself,
//! exit and abort, the trace file, payloads its codec refuses.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration as StdDuration;

use orrery_runtime::frame::{self, Hello};
use orrery_runtime::{Ended, Node};
use orrery_sim::trace::{json, OwnedValue};
use orrery_sim::wire::{Bytes, FixedLayout, FixedMessage};
use orrery_sim::{ms, Codec, NodeApi, NodeId, Process, Storage, TimerId};

use support::{config, listeners, receive, start, start_with, Recorder, TempDir};

const PATIENCE: StdDuration = StdDuration::from_secs(5);

/// Sets three timers (cancelling one) and messages itself; exits when the last fires, then
/// tries to act once more.
struct Lifecycle {
    seen: mpsc::Sender<String>,
    cancelled: Option<TimerId>,
}

impl Process<Vec<u8>, Node<Bytes>> for Lifecycle {
    fn on_start(&mut self, node: &mut Node<Bytes>) {
        node.set_timer(ms(30), 3);
        node.set_timer(ms(10), 1);
        self.cancelled = Some(node.set_timer(ms(20), 2));
        let me = node.id();
        node.send(me, b"to myself".to_vec());
    }

    fn on_message(&mut self, node: &mut Node<Bytes>, from: NodeId, message: Vec<u8>) {
        let _ = self.seen.send(format!("{from}: {}", String::from_utf8_lossy(&message)));
        if let Some(timer) = self.cancelled.take() {
            node.cancel_timer(timer);
        }
    }

    fn on_timer(&mut self, node: &mut Node<Bytes>, _timer: TimerId, tag: u64) {
        let on_time = node.now().since_start() >= ms(10 * tag);
        let _ = self.seen.send(format!("timer {tag}{}", if on_time { "" } else { " early" }));
        if tag == 3 {
            node.exit(3);
            let me = node.id();
            node.send(me, b"after exit".to_vec());
            node.record("after_exit", &[]);
        }
    }
}

// Proves timers fire in deadline order and a cancelled one never, a message to itself is
// delivered, and `exit` ends the node with its code: nothing after it takes effect.
#[test]
fn timers_self_sends_and_exit() {
    let data = TempDir::new("node-exit");
    let (mut sockets, nodes) = listeners(1);
    let mut node_config = config(0, &nodes, data.path());
    let trace_path = data.path().join("n0.jsonl");
    node_config.trace_json = Some(trace_path.clone());
    let (seen, events) = mpsc::channel();
    let node = start(sockets.remove(0), node_config, move || {
        Box::new(Lifecycle { seen, cancelled: None })
    });
    let events: Vec<String> = std::iter::from_fn(|| receive(&events, PATIENCE)).collect();
    assert_eq!(events, ["n0: to myself", "timer 1", "timer 3"]);
    let report = node.stop();
    assert_eq!(report.ended, Ended::Exited(3));
    assert_eq!(report.ended.exit_code(), 3);
    let trace = json::parse(&std::fs::read_to_string(trace_path).expect("a trace")).expect("valid");
    let kinds: Vec<&str> = trace.records.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["start", "exit"], "nothing recorded after the exit");
    let header = trace.header.expect("a header");
    assert_eq!((header.scenario.as_str(), header.seed), ("production", 7));
    assert!(header.realized.contains(&("runtime.seed".to_string(), "7".to_string())));
    let start = &trace.records[0];
    assert_eq!(start.fields[0], ("incarnation".to_string(), OwnedValue::U64(0)));
}

/// Aborts at once.
struct Aborter;

impl<N: NodeApi<Vec<u8>>> Process<Vec<u8>, N> for Aborter {
    fn on_start(&mut self, node: &mut N) {
        node.abort("cannot recover: disk on fire");
        let _ = node.disk().create("never");
    }

    fn on_message(&mut self, _node: &mut N, _from: NodeId, _message: Vec<u8>) {}
}

// Proves `abort` ends the node as an abort (exit code 134), that its disk is out of reach
// after it, and that every boot from one data directory has the next incarnation.
#[test]
fn abort_ends_the_node_and_boots_count() {
    let data = TempDir::new("node-abort");
    for expected_incarnation in 0..3 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let nodes = vec![orrery_runtime::NodeEntry {
            id: NodeId(0),
            address: listener.local_addr().expect("bound"),
            role: "node".into(),
        }];
        let report = start(listener, config(0, &nodes, data.path()), || Box::new(Aborter)).stop();
        assert_eq!(report.ended, Ended::Aborted("cannot recover: disk on fire".into()));
        assert_eq!(report.ended.exit_code(), 134);
        assert_eq!(report.incarnation, expected_incarnation);
    }
    let disk = data.path().join("n0").join("disk");
    assert_eq!(std::fs::read_dir(disk).expect("the disk directory").count(), 0);
}

// Proves a payload the codec refuses is dropped and counted, and the connection, whose
// frames are still in step, delivers the next message.
#[test]
fn a_payload_the_codec_refuses_is_dropped_and_the_stream_goes_on() {
    let data = TempDir::new("node-decode");
    let (mut sockets, nodes) = listeners(2);
    let (inbox, received) = mpsc::channel();
    let node = start_with(sockets.remove(0), config(0, &nodes, data.path()), FixedLayout, || {
        Box::new(Recorder::<FixedMessage>(inbox))
    });
    let mut peer = TcpStream::connect(node.address).expect("connects");
    let mut bytes = Vec::new();
    Hello { from: NodeId(1), to: NodeId(0), incarnation: 0 }.encode(&mut bytes);
    frame::encode(&mut bytes, |payload| payload.extend_from_slice(b"not a fixed message"));
    let message = FixedMessage { tag: 1, sequence: 2, value: 3 };
    frame::encode(&mut bytes, |payload| FixedLayout.encode(&message, payload));
    peer.write_all(&bytes).expect("written");
    assert_eq!(receive(&received, PATIENCE), Some((NodeId(1), message)));
    let stats = node.stop().stats;
    assert_eq!((stats.decode_errors, stats.bad_frames, stats.frames_received), (1, 0, 2));
}
