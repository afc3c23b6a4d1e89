//! The production network against real loopback sockets: frames however TCP splits or joins
//! them, garbage, oversize lengths, silent peers, full queues and a peer that restarts.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration as StdDuration;

use orrery_runtime::frame::{self, Hello};
use orrery_sim::NodeId;

use support::{config, eventually, listeners, receive, start, Driver, Recorder, TempDir};

const PATIENCE: StdDuration = StdDuration::from_secs(5);

/// A raw connection to node 0 that says hello as `from`.
fn raw_peer(address: std::net::SocketAddr, from: u32) -> TcpStream {
    let mut stream = TcpStream::connect(address).expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    let mut hello = Vec::new();
    Hello { from: NodeId(from), to: NodeId(0), incarnation: 0 }.encode(&mut hello);
    stream.write_all(&hello).expect("hello written");
    stream
}

fn framed(payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for payload in payloads {
        frame::encode(&mut out, |buffer| buffer.extend_from_slice(payload));
    }
    out
}

/// Whether the node closed `stream` within `patience` (end of stream or a reset).
fn closed_by_node(stream: &mut TcpStream, patience: StdDuration) -> bool {
    stream.set_read_timeout(Some(patience)).expect("timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => {
            !matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        }
    }
}

// Proves frames arrive whole and in order however the stream is cut: many coalesced into one
// write, and one written a byte at a time.
#[test]
fn frames_survive_split_and_coalesced_reads() {
    let data = TempDir::new("net-split");
    let (mut sockets, nodes) = listeners(2);
    let (inbox, received) = mpsc::channel();
    let node =
        start(sockets.remove(0), config(0, &nodes, data.path()), move || Box::new(Recorder(inbox)));
    let mut peer = raw_peer(node.address, 1);
    let many: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_le_bytes().repeat(i as usize % 7)).collect();
    let many_refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    peer.write_all(&framed(&many_refs)).expect("written at once");
    for expected in &many {
        assert_eq!(receive(&received, PATIENCE), Some((NodeId(1), expected.clone())));
    }
    for byte in framed(&[b"one byte at a time"]) {
        peer.write_all(&[byte]).expect("written");
        std::thread::sleep(StdDuration::from_micros(200));
    }
    assert_eq!(receive(&received, PATIENCE), Some((NodeId(1), b"one byte at a time".to_vec())));
    let report = node.stop();
    assert_eq!(report.stats.frames_received, 201);
    assert_eq!((report.stats.bad_frames, report.stats.bad_hellos), (0, 0));
}

// Proves a garbage frame closes only its own connection (logged and counted, no panic, no
// misdelivery), a garbage hello is refused, and another peer's stream is untouched.
#[test]
fn a_garbage_frame_closes_only_its_connection() {
    let data = TempDir::new("net-garbage");
    let (mut sockets, nodes) = listeners(3);
    let (inbox, received) = mpsc::channel();
    let node =
        start(sockets.remove(0), config(0, &nodes, data.path()), move || Box::new(Recorder(inbox)));
    let mut good = raw_peer(node.address, 2);
    let mut bad = raw_peer(node.address, 1);
    let mut damaged = framed(&[b"before", b"damaged", b"after"]);
    let second = frame::HEADER_BYTES + b"before".len();
    damaged[second + frame::HEADER_BYTES] ^= 0x40;
    bad.write_all(&damaged).expect("written");
    assert_eq!(receive(&received, PATIENCE), Some((NodeId(1), b"before".to_vec())));
    assert!(closed_by_node(&mut bad, PATIENCE), "the damaged stream is closed");
    let mut http = TcpStream::connect(node.address).expect("connects");
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").expect("written");
    assert!(closed_by_node(&mut http, PATIENCE), "a non-orrery peer is refused");
    good.write_all(&framed(&[b"still in step"])).expect("written");
    assert_eq!(receive(&received, PATIENCE), Some((NodeId(2), b"still in step".to_vec())));
    assert_eq!(received.try_recv().ok(), None, "nothing after the damage was delivered");
    let report = node.stop();
    assert_eq!((report.stats.bad_frames, report.stats.bad_hellos), (1, 1));
}

// Proves an oversize length closes the connection from the header alone: the node does not
// wait for (or make room for) the gigabyte it announces.
#[test]
fn an_oversize_length_closes_the_connection() {
    let data = TempDir::new("net-oversize");
    let (mut sockets, nodes) = listeners(2);
    let mut node_config = config(0, &nodes, data.path());
    node_config.network.frame_bytes_max = 1024;
    let (inbox, received) = mpsc::channel();
    let node = start(sockets.remove(0), node_config, move || Box::new(Recorder(inbox)));
    let mut peer = raw_peer(node.address, 1);
    let mut header = (1u32 << 30).to_le_bytes().to_vec();
    header.extend_from_slice(&[0; 8]);
    peer.write_all(&header).expect("written");
    assert!(closed_by_node(&mut peer, PATIENCE), "closed without the payload");
    assert_eq!(received.try_recv().ok(), None);
    assert_eq!(node.stop().stats.bad_frames, 1);
}

// Proves a peer that connects and never speaks holds up no other peer, and is cut off once
// the handshake timeout passes.
#[test]
fn a_silent_peer_holds_up_no_one_and_is_cut_off() {
    let data = TempDir::new("net-silent");
    let (mut sockets, nodes) = listeners(2);
    let (inbox, received) = mpsc::channel();
    let node =
        start(sockets.remove(0), config(0, &nodes, data.path()), move || Box::new(Recorder(inbox)));
    let mut silent = TcpStream::connect(node.address).expect("connects");
    let started = std::time::Instant::now();
    let mut talker = raw_peer(node.address, 1);
    talker.write_all(&framed(&[b"hello past the silent one"])).expect("written");
    let got = receive(&received, PATIENCE);
    assert_eq!(got, Some((NodeId(1), b"hello past the silent one".to_vec())));
    assert!(closed_by_node(&mut silent, PATIENCE), "the silent connection is closed");
    let waited = started.elapsed();
    assert!(waited >= StdDuration::from_millis(250), "cut off after the timeout, not {waited:?}");
    assert_eq!(node.stop().stats.bad_hellos, 1);
}

// Proves a node redials a peer that restarted on its address and delivers to it again, and
// that sends while the peer is down are dropped (and counted) when they do not fit the queue.
#[test]
fn a_restarted_peer_is_redialed() {
    let data = TempDir::new("net-restart");
    let (mut sockets, nodes) = listeners(2);
    let receiver_socket = sockets.remove(1);
    let (commands, commanded) = mpsc::channel();
    let (outcomes, outcome) = mpsc::channel();
    let (sender_received, _) = mpsc::channel();
    let mut sender_config = config(0, &nodes, data.path());
    sender_config.network.queue_capacity = 8;
    let sender = start(sockets.remove(0), sender_config, move || {
        Box::new(Driver { commands: commanded, outcomes, received: sender_received })
    });
    let (inbox, received) = mpsc::channel();
    let address = receiver_socket.local_addr().expect("bound");
    let receiver =
        start(receiver_socket, config(1, &nodes, data.path()), move || Box::new(Recorder(inbox)));
    commands.send((NodeId(1), b"first life".to_vec())).expect("command");
    assert_eq!(receive(&received, PATIENCE), Some((NodeId(0), b"first life".to_vec())));
    receiver.stop();
    // Down: sends queue up to the capacity, then are refused.
    for i in 0..100u8 {
        commands.send((NodeId(1), vec![i])).expect("command");
    }
    let accepted: Vec<bool> =
        (0..100).map(|_| receive(&outcome, PATIENCE).expect("outcome")).collect();
    assert!(accepted.iter().any(|&ok| !ok), "a full queue refuses sends");
    let mut refused = accepted.iter().filter(|&&ok| !ok).count() as u64;
    let listener = std::net::TcpListener::bind(address).expect("the port again");
    let (inbox, received) = mpsc::channel();
    let receiver =
        start(listener, config(1, &nodes, data.path()), move || Box::new(Recorder(inbox)));
    let redelivered = eventually(PATIENCE, || {
        let _ = commands.send((NodeId(1), b"second life".to_vec()));
        refused += u64::from(receive(&outcome, PATIENCE) == Some(false));
        std::iter::from_fn(|| received.try_recv().ok())
            .any(|(from, message)| from == NodeId(0) && message == b"second life")
    });
    assert!(redelivered, "the restarted peer hears from the sender again");
    let report = sender.stop();
    assert_eq!(report.stats.dropped_queue_full, refused);
    assert!(report.stats.connections_dialed >= 2, "{:?}", report.stats);
    assert_eq!(receiver.stop().incarnation, 1, "the restart is the data directory's second boot");
}
