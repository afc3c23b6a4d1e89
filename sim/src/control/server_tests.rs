//! End-to-end tests of the server over TCP on 127.0.0.1:0, with the simulated backend.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::{self, JoinHandle};

use super::codec::Writer;
use super::frame::{read_frame, Flags, Frame};
use super::ops::Op;
use super::reply::{ErrorCode, Reply, ReplyKind, StatusReply};
use super::request::Request;
use super::server::{Server, ServerConfig};
use super::simulated::SimulatedBackend;
use super::test_workload::{plan, registry};
use super::wire_tests::every_request;
use super::{Client, ClientError};
use crate::rng::Stream;

/// A server of the ping world for `seed`, on its own thread.
fn serve(seed: u64, config: ServerConfig) -> (SocketAddr, JoinHandle<()>) {
    let server = Server::bind("127.0.0.1:0".parse().expect("address"), config).expect("binds");
    let address = server.local_addr();
    let handle = thread::spawn(move || {
        let mut backend = SimulatedBackend::new(plan(seed, 0), registry()).expect("builds");
        server.serve(&mut backend).expect("serves");
    });
    (address, handle)
}

fn shut_down(address: SocketAddr, handle: JoinHandle<()>) {
    let client = Client::connect(address, None).expect("connects");
    assert_eq!(client.call(&Request::Shutdown).expect("shuts down"), Reply::Done);
    handle.join().expect("the server thread ends without a panic");
}

fn status(reply: Reply) -> StatusReply {
    match reply {
        Reply::Status(status) => status,
        other => panic!("expected a status, got {other:?}"),
    }
}

fn refused(result: Result<Reply, ClientError>) -> super::ErrorReply {
    match result {
        Err(ClientError::Server(error)) => error,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

// Proves every operation round-trips over TCP with the fields it should carry.
#[test]
fn every_operation_round_trips() {
    let (address, handle) = serve(7, ServerConfig::default());
    let client = Client::connect(address, None).expect("connects");
    let Reply::Ping(ping) = client.call(&Request::Ping).expect("ping") else { panic!("ping") };
    assert_eq!(
        (ping.pid, ping.world_id.as_str(), ping.seed, ping.time_nanos),
        (std::process::id(), "ping-control@7", 7, 0)
    );
    let Reply::Version(version) = client.call(&Request::Version).expect("version") else {
        panic!()
    };
    assert_eq!((version.protocol, version.backend.as_str()), (1, "simulated"));
    assert!(version.ops.contains(&Op::SnapshotLoad.code()));
    let created = status(client.call(&Request::Status).expect("status"));
    assert_eq!((created.state.as_str(), created.events, created.nodes.len()), ("created", 0, 3));
    assert_eq!(created.nodes[0].name, "p0");
    assert_eq!(status(client.call(&Request::Start).expect("start")).state, "running");
    let stepped = status(client.call(&Request::Step { events: 500 }).expect("step"));
    assert_eq!((stepped.events, stepped.outcome.as_str()), (500, "stepped"));
    let until = stepped.time_nanos + 25_000_000;
    let ran =
        status(client.call(&Request::RunUntil { time_nanos: until, check: None }).expect("run"));
    assert_eq!((ran.time_nanos, ran.outcome.as_str()), (until, "time_reached"));
    let past = refused(client.call(&Request::RunUntil { time_nanos: 1, check: None }));
    assert_eq!(past.code, ErrorCode::BadRequest);
    assert!(ran.counters["messages_sent"] > 0, "{:?}", ran.counters);
    let until_check = Request::RunUntil {
        time_nanos: until + 60_000_000,
        check: Some("pongs_recent".to_string()),
    };
    assert_eq!(status(client.call(&until_check).expect("run to check")).outcome, "satisfied");
    let paused = status(client.call(&Request::Pause { node: 1 }).expect("pause"));
    assert_eq!(paused.nodes[1].status, "paused");
    let Reply::Health(health) = client.call(&Request::Health).expect("health") else { panic!() };
    assert!(!health.healthy);
    assert_eq!(health.nodes[1].status, "paused");
    assert_eq!(
        status(client.call(&Request::Resume { node: 1 }).expect("resume")).nodes[1].status,
        "up"
    );
    let Reply::Health(healthy) =
        client.call(&Request::WaitHealthy { budget_nanos: 100_000_000 }).expect("wait")
    else {
        panic!()
    };
    assert!(healthy.healthy, "{healthy:?}");
    assert_eq!(
        status(client.call(&Request::Restart { node: 2 }).expect("restart")).nodes[2].status,
        "up"
    );
    assert_eq!(
        status(client.call(&Request::RemoveNode { node: 2 }).expect("remove")).nodes[2].status,
        "removed"
    );
    assert_eq!(
        status(client.call(&Request::AddNode { node: 2 }).expect("add")).nodes[2].status,
        "up"
    );
    let partition = Request::Partition { groups: vec![vec![0], vec![1, 2]], duration_nanos: 0 };
    assert_eq!(status(client.call(&partition).expect("partition")).state, "running");
    client.call(&Request::Heal).expect("heal");
    let link = Request::SetLink { from: 0, to: 1, latency_nanos: 2_000_000, loss_probability: 0.1 };
    client.call(&link).expect("set link");
    client
        .call(&Request::ClockJump { node: 1, offset_nanos: 1_000_000, drift_ppm: -50 })
        .expect("clock");
    let disk = Request::DiskFault {
        node: 0,
        read_error_probability: 0.0,
        write_error_probability: 0.1,
        read_corruption_probability: 0.0,
        crash_at_operation: 3,
    };
    client.call(&disk).expect("disk");
    let Reply::Snapshot(saved) =
        client.call(&Request::SnapshotSave { name: "s".to_string() }).expect("save")
    else {
        panic!()
    };
    let here = status(client.call(&Request::Status).expect("status"));
    assert_eq!(
        (saved.name.as_str(), saved.events, saved.fingerprint),
        ("s", here.events, here.fingerprint)
    );
    let Reply::Snapshots(list) = client.call(&Request::SnapshotList).expect("list") else {
        panic!()
    };
    assert_eq!(list, std::slice::from_ref(&saved));
    client.call(&Request::Step { events: 100 }).expect("step");
    let loaded =
        status(client.call(&Request::SnapshotLoad { name: "s".to_string() }).expect("load"));
    assert_eq!((loaded.events, loaded.fingerprint), (saved.events, saved.fingerprint));
    let Reply::Snapshot(removed) =
        client.call(&Request::SnapshotRemove { name: "s".to_string() }).expect("remove")
    else {
        panic!()
    };
    assert_eq!(removed, saved);
    let stream = Request::StatusStream { every_events: 10, every_nanos: 0, items_max: 2 };
    let Reply::StreamEnd(end) = client.call(&stream).expect("stream") else { panic!() };
    assert_eq!((end.reason.as_str(), end.items), ("items_max", 2));
    let Reply::Stop(stop) = client.call(&Request::Stop).expect("stop") else { panic!() };
    assert_eq!(stop.status.state, "stopped");
    assert_eq!(stop.verdicts.len(), 2);
    // Every operation of the registry was exercised above (hello by connect, shutdown below).
    assert_eq!(every_request().len(), super::ops::REGISTRY.len());
    drop(client);
    shut_down(address, handle);
}

// Proves 100 calls in flight at once on one connection, from ten threads, each get their
// own reply: each saves a snapshot under its own name and must get that name back.
#[test]
fn a_hundred_concurrent_calls_on_one_connection_each_get_their_own_reply() {
    let (address, handle) = serve(8, ServerConfig::default());
    let client = Client::connect(address, None).expect("connects");
    client.call(&Request::Start).expect("start");
    thread::scope(|scope| {
        for thread_index in 0..10 {
            let client = &client;
            scope.spawn(move || {
                let calls: Vec<_> = (0..10)
                    .map(|i| {
                        let name = format!("t{thread_index}-{i}");
                        (name.clone(), client.send(&Request::SnapshotSave { name }).expect("sends"))
                    })
                    .collect();
                for (name, call) in calls {
                    match call.wait().expect("a reply") {
                        Reply::Snapshot(info) => assert_eq!(info.name, name),
                        other => panic!("{name}: {other:?}"),
                    }
                }
            });
        }
    });
    let Reply::Snapshots(list) = client.call(&Request::SnapshotList).expect("list") else {
        panic!()
    };
    assert_eq!(list.len(), 100);
    drop(client);
    shut_down(address, handle);
}

// Proves a stream's frames carry STREAM_ITEM under the request's id and end with exactly one
// STREAM_END frame, and errors carry the ERROR flag, the code and the message.
#[test]
fn streams_end_with_their_marker_and_errors_carry_the_flag() {
    let (address, handle) = serve(9, ServerConfig::default());
    let client = Client::connect(address, None).expect("connects");
    let early = refused(client.call(&Request::Step { events: 1 }));
    assert_eq!(early.code, ErrorCode::InvalidState);
    assert!(early.message.contains("send start first"), "{}", early.message);
    let mut raw = client.send_raw(Op::Step.code(), 1u64.to_le_bytes().to_vec()).expect("sends");
    let frame = raw.next_frame().expect("reads").expect("a frame");
    assert!(frame.flags.contains(Flags::RESPONSE.with(Flags::ERROR)), "{:?}", frame.flags);
    assert_eq!(frame.request_id, raw.id());
    drop(raw);
    client.call(&Request::Start).expect("start");
    let request = Request::StatusStream { every_events: 0, every_nanos: 1_000_000, items_max: 3 };
    let mut call = client.send_raw(Op::StatusStream.code(), request.encode()).expect("sends");
    let mut flags = Vec::new();
    let mut times = Vec::new();
    while let Some(frame) = call.next_frame().expect("reads") {
        assert_eq!(frame.request_id, call.id());
        flags.push(frame.flags);
        if frame.flags.contains(Flags::STREAM_ITEM) {
            times.push(
                status(Reply::decode(ReplyKind::Status, &frame.body).expect("decodes")).time_nanos,
            );
        }
    }
    let item = Flags::RESPONSE.with(Flags::STREAM_ITEM);
    assert_eq!(flags, [item, item, item, Flags::RESPONSE.with(Flags::STREAM_END)]);
    assert_eq!(times, [1_000_000, 2_000_000, 3_000_000]);
    let both = refused(client.call(&Request::StatusStream {
        every_events: 0,
        every_nanos: 0,
        items_max: 0,
    }));
    assert_eq!(both.code, ErrorCode::BadRequest);
    drop(call);
    drop(client);
    shut_down(address, handle);
}

// Proves a snapshot loaded over the wire continues with the fingerprint of an uninterrupted
// run of the same seed on another server.
#[test]
fn a_snapshot_over_the_wire_continues_the_uninterrupted_run() {
    let run = |save: bool| {
        let (address, handle) = serve(11, ServerConfig::default());
        let client = Client::connect(address, None).expect("connects");
        client.call(&Request::Start).expect("start");
        client.call(&Request::Step { events: 1_234 }).expect("step");
        if save {
            client.call(&Request::SnapshotSave { name: "n".to_string() }).expect("save");
            client.call(&Request::Pause { node: 0 }).expect("pause");
            client.call(&Request::Step { events: 3_000 }).expect("step");
            client.call(&Request::SnapshotLoad { name: "n".to_string() }).expect("load");
        }
        let end = status(client.call(&Request::Step { events: 4_000 }).expect("step"));
        drop(client);
        shut_down(address, handle);
        end
    };
    let uninterrupted = run(false);
    let restored = run(true);
    assert_eq!(
        (restored.events, restored.fingerprint),
        (uninterrupted.events, uninterrupted.fingerprint)
    );
}

// Proves a cancel stops an in-flight step with a `cancelled` error and keeps what ran, and
// a cancel of a queued request answers it without running it.
#[test]
fn a_cancel_stops_the_request_in_flight() {
    let (address, handle) = serve(12, ServerConfig::default());
    let client = Client::connect(address, None).expect("connects");
    client.call(&Request::Start).expect("start");
    let long = client.send(&Request::Step { events: u64::MAX }).expect("sends");
    let queued = client.send(&Request::Step { events: 5 }).expect("sends");
    queued.cancel().expect("cancels the queued one");
    long.cancel().expect("cancels");
    let error = match long.wait() {
        Err(ClientError::Server(error)) => error,
        other => panic!("expected a cancel, got {other:?}"),
    };
    assert_eq!(error.code, ErrorCode::Cancelled);
    assert_eq!(refused(queued.wait()).code, ErrorCode::Cancelled);
    let after = status(client.call(&Request::Status).expect("status"));
    assert_eq!(after.outcome, "cancelled");
    // The cancel may arrive before the first slice: whole slices ran, however many.
    assert_eq!(after.events % super::STEP_SLICE_EVENTS, 0, "{}", after.events);
    drop(client);
    shut_down(address, handle);
}

// Proves skew both ways: an older client (bodies without appended fields) and a newer one
// (extra trailing bytes, an operation code this server does not know) are both served, and
// the connection stays usable after an unknown operation.
#[test]
fn version_skew_old_and_new_clients_against_this_server() {
    let (address, handle) = serve(13, ServerConfig::default());
    let client = Client::connect(address, None).expect("connects");
    client.call(&Request::Start).expect("start");
    // An old client's run-until has no `check`; its status-stream no `items_max`... but a
    // stream without a limit runs until cancelled, so cancel it after the first item.
    let old_run =
        client.send_raw(Op::RunUntil.code(), 5_000_000u64.to_le_bytes().to_vec()).expect("sends");
    assert_eq!(status(old_run.wait().expect("served")).time_nanos, 5_000_000);
    let mut old_stream = Writer::new();
    old_stream.u64(0).u64(1_000_000);
    let mut stream = client.send_raw(Op::StatusStream.code(), old_stream.finish()).expect("sends");
    let first = stream.next_frame().expect("reads").expect("an item");
    assert!(first.flags.contains(Flags::STREAM_ITEM));
    stream.cancel().expect("cancels");
    let last = loop {
        let frame = stream.next_frame().expect("reads").expect("a frame");
        if !frame.flags.contains(Flags::STREAM_ITEM) {
            break frame;
        }
    };
    assert!(last.flags.contains(Flags::STREAM_END));
    let Reply::StreamEnd(end) = Reply::decode_stream_end(&last.body).expect("decodes") else {
        panic!()
    };
    assert_eq!(end.reason, "cancelled");
    drop(stream);
    // A newer client appends a field to step, and calls an operation from the future.
    let mut newer = 7u64.to_le_bytes().to_vec();
    newer.extend(b"a field this server predates");
    let before = status(client.call(&Request::Status).expect("status")).events;
    let stepped =
        status(client.send_raw(Op::Step.code(), newer).expect("sends").wait().expect("served"));
    assert_eq!(stepped.events, before + 7);
    let future = client.send_raw(0x7f, Vec::new()).expect("sends");
    let error = refused(future.wait());
    assert_eq!(error.code, ErrorCode::UnknownOp);
    assert!(error.message.contains("0x7f"), "{}", error.message);
    assert!(matches!(client.call(&Request::Ping), Ok(Reply::Ping(_))), "still connected");
    drop(client);
    shut_down(address, handle);
}

// Proves skew the other way: this client against an older server that lacks an appended
// reply field and an operation: the field defaults, the operation is a clear error.
#[test]
fn version_skew_this_client_against_an_older_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let address = listener.local_addr().expect("address");
    let old_server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accepts");
        while let Ok(Some(frame)) = read_frame(&mut stream) {
            let reply = match Op::from_code(frame.op_code) {
                Some(Op::Hello) => {
                    Frame::reply_to(&frame, Flags::NONE, 1u32.to_le_bytes().to_vec())
                }
                // Its status has no counters (they were appended later).
                Some(Op::Status) => {
                    let mut w = Writer::new();
                    w.str("running").u64(5).u64(6).u64(7).str("stepped").u32(0);
                    Frame::reply_to(&frame, Flags::NONE, w.finish())
                }
                _ => {
                    let error = super::ErrorReply::new(ErrorCode::UnknownOp, "unknown operation");
                    Frame::reply_to(&frame, Flags::ERROR, error.encode())
                }
            };
            reply.write_to(&mut stream).expect("writes");
        }
    });
    let client = Client::connect(address, None).expect("connects");
    let old = status(client.call(&Request::Status).expect("status"));
    assert_eq!((old.time_nanos, old.events, old.fingerprint), (5, 6, 7));
    assert!(old.counters.is_empty());
    let missing = refused(client.call(&Request::SnapshotList));
    assert_eq!(missing.code, ErrorCode::UnknownOp);
    drop(client);
    old_server.join().expect("the old server ends");
}

// Proves a token server refuses a connection that does not say hello with the token, and
// serves one that does; and a non-loopback address without a token does not even bind.
#[test]
fn a_token_is_checked_on_the_first_frame() {
    let config = ServerConfig { token: Some("s3cret".to_string()), ..ServerConfig::default() };
    let (address, handle) = serve(14, config);
    for token in [None, Some("wrong")] {
        match Client::connect(address, token) {
            Err(ClientError::Server(error)) => assert_eq!(error.code, ErrorCode::Unauthorized),
            other => panic!("{token:?}: expected unauthorized, got {:?}", other.map(|_| ())),
        }
    }
    let mut raw = TcpStream::connect(address).expect("connects");
    raw.write_all(&Frame::request(Op::Ping.code(), 1, Vec::new()).encode()).expect("writes");
    let reply = read_frame(&mut raw).expect("reads").expect("a frame");
    assert!(reply.flags.contains(Flags::ERROR));
    assert!(read_frame(&mut raw).expect("clean end").is_none(), "the connection closed");
    let client = Client::connect(address, Some("s3cret")).expect("connects with the token");
    assert!(matches!(client.call(&Request::Ping), Ok(Reply::Ping(_))));
    assert!(matches!(client.call(&Request::Shutdown), Ok(Reply::Done)));
    handle.join().expect("ends");
    let open = Server::bind("0.0.0.0:0".parse().expect("address"), ServerConfig::default());
    assert!(open.err().is_some_and(|why| why.contains("a token is required")));
}

// Proves random and mutated frames (huge lengths and counts, truncations, flipped bits,
// unknown operations) never panic the server nor stop it serving: after each connection's
// garbage, a fresh client is answered, and a frame claiming 4 GiB is refused with bad_frame.
#[test]
fn random_and_mutated_frames_never_break_the_server() {
    let (address, handle) = serve(15, ServerConfig::default());
    let mut huge = TcpStream::connect(address).expect("connects");
    huge.write_all(&u32::MAX.to_le_bytes()).expect("writes");
    let reply = read_frame(&mut huge).expect("reads").expect("an error frame");
    assert!(reply.flags.contains(Flags::ERROR));
    assert_eq!(super::ErrorReply::decode(&reply.body).expect("decodes").code, ErrorCode::BadFrame);
    let mut rng = Stream::new(15, "control.server_fuzz");
    let valid: Vec<Vec<u8>> = every_request()
        .into_iter()
        .filter(|r| {
            !matches!(
                r,
                Request::Shutdown
                    | Request::Step { .. }
                    | Request::StatusStream { .. }
                    | Request::WaitHealthy { .. }
                    | Request::RunUntil { .. }
            )
        })
        .map(|r| Frame::request(r.op().code(), rng.next_u64(), r.encode()).encode())
        .collect();
    for _ in 0..60 {
        let mut stream = TcpStream::connect(address).expect("connects");
        let mut bytes = Vec::new();
        for _ in 0..rng.uniform_u64(1, 6) {
            let mut frame = valid[rng.below(valid.len() as u64) as usize].clone();
            match rng.below(5) {
                0 => {
                    let at = rng.below(frame.len() as u64) as usize;
                    frame[at] ^= 1 << rng.below(8);
                }
                1 => frame.truncate(rng.below(frame.len() as u64) as usize),
                2 if frame.len() >= 18 => frame[14..18].copy_from_slice(&[0xff; 4]),
                3 => frame = (0..rng.below(40)).map(|_| rng.next_u64() as u8).collect(),
                _ => frame[4] = 0x7e,
            }
            bytes.extend(frame);
        }
        let _ = stream.write_all(&bytes);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        // Read whatever the server says until it closes: it must close or answer, not hang.
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    let client = Client::connect(address, None).expect("still serving");
    assert!(matches!(client.call(&Request::Ping), Ok(Reply::Ping(_))));
    drop(client);
    shut_down(address, handle);
}
