//! Tests of the wire as a whole: every message round-trips, every decoder survives random and
//! mutated input without panicking or allocating what a frame claims.

use std::collections::BTreeMap;

use super::*;
use crate::rng::Stream;

/// One request of every operation, with non-default values in every field.
pub(crate) fn every_request() -> Vec<Request> {
    vec![
        Request::Hello { protocol: PROTOCOL_VERSION, token: "secret".to_string() },
        Request::Ping,
        Request::Version,
        Request::Start,
        Request::Stop,
        Request::Health,
        Request::WaitHealthy { budget_nanos: 7 },
        Request::Status,
        Request::StatusStream { every_events: 3, every_nanos: 4, items_max: 5 },
        Request::Pause { node: 1 },
        Request::Resume { node: 2 },
        Request::Restart { node: 3 },
        Request::AddNode { node: 4 },
        Request::RemoveNode { node: 5 },
        Request::Step { events: 6 },
        Request::RunUntil { time_nanos: 8, check: Some("progress".to_string()) },
        Request::Partition { groups: vec![vec![0, 1], vec![2]], duration_nanos: 9 },
        Request::Heal,
        Request::SetLink { from: 0, to: 1, latency_nanos: 10, loss_probability: 0.5 },
        Request::ClockJump { node: 1, offset_nanos: -11, drift_ppm: 12 },
        Request::DiskFault {
            node: ALL_NODES,
            read_error_probability: 0.1,
            write_error_probability: 0.2,
            read_corruption_probability: 0.3,
            crash_at_operation: 13,
        },
        Request::SnapshotSave { name: "a".to_string() },
        Request::SnapshotLoad { name: "b".to_string() },
        Request::SnapshotRemove { name: "c".to_string() },
        Request::SnapshotList,
        Request::Shutdown,
    ]
}

fn status() -> StatusReply {
    let mut counters = BTreeMap::new();
    counters.insert("delivered".to_string(), 3);
    counters.insert("sent".to_string(), 4);
    StatusReply {
        state: "running".to_string(),
        time_nanos: 1,
        events: 2,
        fingerprint: 0xabc,
        outcome: "stepped".to_string(),
        nodes: vec![NodeState { id: 0, name: "n0".to_string(), status: "up".to_string() }],
        counters,
    }
}

fn every_reply() -> Vec<(ReplyKind, Reply)> {
    let verdict = Verdict {
        check: "c".to_string(),
        kind: "liveness".to_string(),
        verdict: "fail".to_string(),
        message: "m".to_string(),
    };
    let snapshot = SnapshotInfo {
        name: "s".to_string(),
        events: 1,
        time_nanos: 2,
        fingerprint: 3,
        operations: 4,
    };
    vec![
        (ReplyKind::Hello, Reply::Hello(HelloReply { protocol: 1 })),
        (
            ReplyKind::Ping,
            Reply::Ping(PingReply { pid: 9, world_id: "w@1".to_string(), seed: 1, time_nanos: 5 }),
        ),
        (
            ReplyKind::Version,
            Reply::Version(VersionReply {
                protocol: 1,
                protocol_min: 1,
                software: "0.1.0".to_string(),
                backend: "simulated".to_string(),
                ops: vec![1, 2],
            }),
        ),
        (ReplyKind::Status, Reply::Status(status())),
        (
            ReplyKind::Stop,
            Reply::Stop(StopReply { status: status(), verdicts: vec![verdict.clone()] }),
        ),
        (
            ReplyKind::Health,
            Reply::Health(HealthReply {
                healthy: false,
                time_nanos: 6,
                nodes: status().nodes,
                failing: vec![verdict],
            }),
        ),
        (ReplyKind::Snapshot, Reply::Snapshot(snapshot.clone())),
        (ReplyKind::Snapshots, Reply::Snapshots(vec![snapshot.clone(), snapshot])),
        (ReplyKind::Done, Reply::Done),
    ]
}

// Proves every request and reply decodes to exactly what was encoded, inside a frame.
#[test]
fn every_message_round_trips_through_a_frame() {
    for request in every_request() {
        let frame = Frame::request(request.op().code(), 42, request.encode());
        let read = read_frame(&mut &frame.encode()[..]).expect("frame").expect("some");
        let op = Op::from_code(read.op_code).expect("known op");
        assert_eq!(Request::decode(op, &read.body), Ok(request));
    }
    for (kind, reply) in every_reply() {
        assert_eq!(Reply::decode(kind, &reply.encode()), Ok(reply));
    }
    let end = Reply::StreamEnd(StreamEnd { reason: "items_max".to_string(), items: 3 });
    assert_eq!(Reply::decode_stream_end(&end.encode()), Ok(end));
    let error = ErrorReply::new(ErrorCode::NotFound, "no snapshot `x`");
    assert_eq!(ErrorReply::decode(&error.encode()), Ok(error));
    assert_eq!(ErrorCode::from_code(999), ErrorCode::Other(999));
}

// Proves an older decoder skips fields a newer encoder appended (at the top level and inside
// list records), and a newer decoder defaults the appended fields an older encoder lacks.
#[test]
fn appended_fields_are_skipped_by_old_decoders_and_defaulted_by_new_ones() {
    // A newer server appends a field to the status and to each node record.
    let mut w = Writer::new();
    w.str("running").u64(1).u64(2).u64(3).str("stepped");
    w.list(&[0u32], |w, id| {
        w.record(|w| {
            w.u32(*id).str("n0").str("up").u64(0xfeed);
        });
    });
    w.map_u64(&BTreeMap::new()).str("a field from the future");
    let Reply::Status(decoded) = Reply::decode(ReplyKind::Status, &w.finish()).expect("decodes")
    else {
        panic!("a status reply")
    };
    assert_eq!(decoded.nodes[0].status, "up");
    assert_eq!(decoded.outcome, "stepped");
    // An older server sends no counters; an older client sends no `check` or `items_max`.
    let mut w = Writer::new();
    w.str("running").u64(1).u64(2).u64(3).str("stepped").list(&[0u32; 0], |_, _| {});
    let Reply::Status(old) = Reply::decode(ReplyKind::Status, &w.finish()).expect("decodes") else {
        panic!("a status reply")
    };
    assert!(old.counters.is_empty());
    let run = Request::decode(Op::RunUntil, &5u64.to_le_bytes()).expect("decodes");
    assert_eq!(run, Request::RunUntil { time_nanos: 5, check: None });
    let mut w = Writer::new();
    w.u64(1).u64(0);
    let stream = Request::decode(Op::StatusStream, &w.finish()).expect("decodes");
    assert_eq!(stream, Request::StatusStream { every_events: 1, every_nanos: 0, items_max: 0 });
}

/// Decodes `bytes` as a frame and its body as every kind of message; must never panic.
fn decode_everything(bytes: &[u8]) {
    if let Ok(Some(frame)) = read_frame(&mut &bytes[..]) {
        assert!(frame.body.len() <= bytes.len(), "a body larger than its input");
        if let Some(op) = Op::from_code(frame.op_code) {
            let _ = Request::decode(op, &frame.body);
            let _ = Reply::decode(ReplyKind::of(op), &frame.body);
        }
    }
    for info in REGISTRY {
        let _ = Request::decode(info.op, bytes);
        let _ = Reply::decode(ReplyKind::of(info.op), bytes);
    }
    let _ = Reply::decode_stream_end(bytes);
    let _ = ErrorReply::decode(bytes);
}

// Proves random bytes and mutations of valid frames (bit flips, truncations, huge lengths and
// counts spliced in) never panic a decoder nor make it allocate past its input.
#[test]
fn random_and_mutated_input_never_panics_a_decoder() {
    let mut rng = Stream::new(20, "control.fuzz");
    let valid: Vec<Vec<u8>> = every_request()
        .into_iter()
        .map(|r| Frame::request(r.op().code(), 1, r.encode()).encode())
        .chain(every_reply().into_iter().map(|(_, reply)| {
            Frame { op_code: 8, flags: Flags::RESPONSE, request_id: 1, body: reply.encode() }
                .encode()
        }))
        .collect();
    for round in 0..20_000 {
        let mut bytes = if round % 4 == 0 {
            (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect()
        } else {
            valid[rng.below(valid.len() as u64) as usize].clone()
        };
        for _ in 0..rng.uniform_u64(1, 4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len() as u64) as usize;
            match rng.below(4) {
                0 => bytes[at] ^= 1 << rng.below(8),
                1 => bytes.truncate(at),
                // A huge length or count wherever four bytes fit.
                2 if at + 4 <= bytes.len() => bytes[at..at + 4].copy_from_slice(&[0xff; 4]),
                _ => bytes.insert(at, rng.next_u64() as u8),
            }
        }
        decode_everything(&bytes);
    }
}
