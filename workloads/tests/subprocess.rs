//! Nodes as child processes, end to end: the echo workload with its servers as Python and as
//! Rust child processes passes its checks and the determinism double run; a Rust child leaves
//! the very trace its in-process twin leaves, and so does a Python child using the disk; a
//! planted bug in a child is caught; every way a child can stop talking ends its node with
//! its stable reason while the sweep goes on; bad `command`s are load errors.
//!
//! The Python children need `python3` on PATH (the machine image has it; a missing one
//! fails these tests, loudly). The Rust servers sweep 200 seeds always; the Python ones 10,
//! or 200 with `ORRERY_NIGHTLY=1`.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use orrery_sim::disk::{DiskError, DiskOp, DiskOutput, DiskTicket};
use orrery_sim::runner::{run_plan, RunOptions, SeedReport};
use orrery_sim::scenario;
use orrery_sim::subprocess::{
    Cbor, FieldValue, FromChild, Identity, Reply, StepClock, SubprocessConfig, ToChild,
};
use orrery_sim::trace::OwnedValue;
use orrery_sim::wire::Codec;
use orrery_sim::workload::{Registry, WorkloadDef};
use orrery_sim::{NodeApi, NodeId, Process, Storage, TestRun, Trace};
use orrery_workloads::echo::{echo, Client, EchoCodec, EchoParams, Message};

const RUST_SERVER: &str = env!("CARGO_BIN_EXE_orrery-echo-server");
const SMOKE: &str = "scenarios/smoke/echo.yaml";

/// A file of the repository.
fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

/// The Python interpreter these tests run children with: `python3` on PATH, resolved once
/// to the interpreter itself (a version manager's shim costs a shell per spawn). Its absence
/// fails the tests with a message, never a pass.
fn python() -> &'static str {
    static INTERPRETER: OnceLock<String> = OnceLock::new();
    INTERPRETER.get_or_init(|| {
        let found = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output();
        match found {
            Ok(output) if output.status.success() => {
                String::from_utf8_lossy(&output.stdout).trim().to_string()
            }
            _ => panic!(
                "these tests run Python child processes: install python3 (apt-get install -y \
                 python3) and put it on PATH"
            ),
        }
    })
}

fn python_server(arguments: &[&str]) -> Vec<String> {
    let script = text(&repo("clients/python/examples/echo_server.py"));
    [python(), &script].into_iter().chain(arguments.iter().copied()).map(String::from).collect()
}

fn test_child(script: &str, arguments: &[&str]) -> Vec<String> {
    let script = text(&repo(&format!("workloads/tests/children/{script}")));
    [python(), &script].into_iter().chain(arguments.iter().copied()).map(String::from).collect()
}

/// Seeds of the Python sweep: a few in the default suite, 200 with `ORRERY_NIGHTLY`.
fn sweep_seeds(default: u64) -> Range<u64> {
    match std::env::var_os("ORRERY_NIGHTLY") {
        Some(_) => 0..200,
        None => 0..default,
    }
}

/// The echo smoke scenario with server `sN` running `commands[N]` (in process if `None`),
/// with `replace` applied to the rest of the text.
fn echo_scenario(commands: [Option<Vec<String>>; 3], replace: &[(&str, &str)]) -> String {
    let mut yaml = std::fs::read_to_string(repo(SMOKE)).expect("the echo smoke scenario");
    for (index, command) in commands.iter().enumerate() {
        let Some(command) = command else { continue };
        let zone = ["a", "b", "c"][index];
        let node = format!("{{ name: s{index}, role: server, zone: {zone} }}");
        let words: Vec<String> = command.iter().map(|word| format!("{word:?}")).collect();
        let with = format!(
            "{{ name: s{index}, role: server, zone: {zone}, command: [{}] }}",
            words.join(", ")
        );
        assert!(yaml.contains(&node), "{SMOKE} no longer has `{node}`");
        yaml = yaml.replace(&node, &with);
    }
    for (from, to) in replace {
        assert!(yaml.contains(from), "{SMOKE} no longer has `{from}`");
        yaml = yaml.replace(from, to);
    }
    yaml
}

/// One seed of `yaml`, recorded.
fn run_recorded(yaml: &str, seed: u64, registry: &Registry) -> (SeedReport, Trace) {
    let scenario = scenario::parse("echo-subprocess.yaml", yaml.as_bytes(), registry)
        .unwrap_or_else(|errors| panic!("the scenario does not load:\n{errors}"));
    let plan = scenario.sample(seed);
    let (report, trace) =
        run_plan(&plan, registry, RunOptions { recording: true, ..RunOptions::default() });
    (report, trace.expect("a recorded trace"))
}

/// The trace's lines without the spawn records (the one thing a child node adds).
fn without_spawns(trace: &Trace) -> Vec<String> {
    trace.records().iter().filter(|r| r.kind != "spawn").map(|r| r.to_string()).collect()
}

fn registry_with(workload: WorkloadDef<Message, EchoParams>) -> Registry {
    let mut registry = Registry::new();
    registry.register(workload);
    registry
}

// Proves the echo workload passes its checks and the determinism double run with all three
// servers as Python child processes (each restart spawning a new one): 10 seeds in the
// default suite (about 11 s on 2 cores), 200 with ORRERY_NIGHTLY (about 190 s).
#[test]
fn python_servers_pass_the_echo_checks_deterministically() {
    let command = Some(python_server(&[]));
    let yaml = echo_scenario([command.clone(), command.clone(), command], &[]);
    let outcome = TestRun::yaml("echo-python.yaml", &yaml, orrery_workloads::registry())
        .seeds(sweep_seeds(10))
        .check_determinism()
        .assert_passes();
    assert!(outcome.summary.seeds_run >= 10);
}

// Proves the same over 200 seeds with the servers as Rust child processes running the
// workload's own `Server` through `run_child` (about 6 s on 2 cores, so always all 200).
#[test]
fn rust_child_servers_pass_the_echo_checks_deterministically() {
    let command = Some(vec![RUST_SERVER.to_string()]);
    let yaml = echo_scenario([command.clone(), command.clone(), command], &[]);
    let outcome = TestRun::yaml("echo-rust-child.yaml", &yaml, orrery_workloads::registry())
        .seeds(0..200)
        .check_determinism()
        .assert_passes();
    assert_eq!(outcome.summary.seeds_run, 200);
}

// Proves a Rust child process leaves exactly the trace of the same `Server` in the world's
// memory, seed for seed, apart from its spawn records: same sends, timers, drops, crash and
// restart, and so the same decisions of every client.
#[test]
fn rust_child_servers_leave_the_in_process_trace() {
    let registry = orrery_workloads::registry();
    let command = Some(vec![RUST_SERVER.to_string()]);
    let in_process = echo_scenario([None, None, None], &[]);
    let as_children = echo_scenario([command.clone(), command.clone(), command], &[]);
    for seed in 0..3 {
        let (report, native) = run_recorded(&in_process, seed, &registry);
        let (child_report, child) = run_recorded(&as_children, seed, &registry);
        assert_eq!((report.failure, child_report.failure), (None, None), "seed {seed}");
        let spawns = child.records().iter().filter(|r| r.kind == "spawn").count();
        // Three boots, and s2's restart after its crash.
        assert_eq!(spawns, 4, "seed {seed}");
        let (native, child) = (without_spawns(&native), without_spawns(&child));
        assert!(native.len() > 1000, "seed {seed}: a trace of {} lines", native.len());
        if let Some(at) =
            (0..native.len().max(child.len())).find(|&i| native.get(i) != child.get(i))
        {
            panic!(
                "seed {seed}: traces differ at line {at}:\n  in process: {:?}\n  as a child: {:?}",
                native.get(at),
                child.get(at)
            );
        }
    }
}

/// An echo server that logs every request to its disk, syncs every fifth through a
/// submitted operation, and records what it finds at boot: the Rust twin of
/// workloads/tests/children/disk_echo_server.py.
struct DiskEcho {
    appends: u64,
}

impl<N: NodeApi<Message>> Process<Message, N> for DiskEcho {
    fn on_start(&mut self, node: &mut N) {
        let exists = node.disk().exists("log");
        let found = match exists {
            Ok(true) => node.disk().length_bytes("log").ok(),
            _ => None,
        };
        let length = found.unwrap_or_else(|| {
            let created = node.disk().create("log");
            if created.is_ok() {
                let _ = node.disk().sync_directory();
            }
            0
        });
        let me = node.id();
        node.record("boot", &[("length", length.into()), ("me", me.into())]);
    }

    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        let Message::Request { id, value } = message else { return };
        let mut bytes = Vec::new();
        EchoCodec.encode(&message, &mut bytes);
        let appended = node.disk().append("log", &bytes);
        if let Err(error) = appended {
            node.record("append_failed", &[("kind", error.kind().name().into())]);
        }
        self.appends += 1;
        if self.appends.is_multiple_of(5) {
            let submitted = node.disk().submit(DiskOp::Sync { path: "log".into() });
            if let Err(error) = submitted {
                node.record("submit_failed", &[("kind", error.kind().name().into())]);
            }
        }
        node.send(from, Message::Reply { id, value });
    }

    fn on_disk(&mut self, node: &mut N, ticket: DiskTicket, result: Result<DiskOutput, DiskError>) {
        node.record("synced", &[("ticket", ticket.id().into()), ("ok", result.is_ok().into())]);
    }
}

// Proves a Python child using the disk (immediate operations, a submitted sync completing
// later, the crash contract across s2's crash and restart) leaves the trace of its Rust twin
// running in the world's memory.
#[test]
fn a_python_child_using_the_disk_leaves_its_rust_twins_trace() {
    let disk_echo = WorkloadDef::<Message, EchoParams>::new("disk-echo", "echo with a disk log")
        .requires_role("server")
        .codec(EchoCodec)
        .role("server", |_| DiskEcho { appends: 0 })
        .role("*", |init| Client::new(init.nodes_with_role("server"), init.params.interval));
    let registry = registry_with(disk_echo);
    let replace = [
        ("name: echo\n", "name: disk-echo\n"),
        ("checks: [replies_match, clients_progress]", "checks: []"),
    ];
    let command = Some(test_child("disk_echo_server.py", &[]));
    let in_process = echo_scenario([None, None, None], &replace);
    let as_children = echo_scenario([command.clone(), command.clone(), command], &replace);
    for seed in 0..2 {
        let (_, native) = run_recorded(&in_process, seed, &registry);
        let (_, child) = run_recorded(&as_children, seed, &registry);
        let synced = child.records().iter().filter(|r| r.kind == "synced").count();
        let boots: Vec<String> =
            child.records().iter().filter(|r| r.kind == "boot").map(|r| r.to_string()).collect();
        assert!(synced > 10, "seed {seed}: {synced} syncs completed");
        assert_eq!(boots.len(), 4, "seed {seed}: {boots:?}");
        assert_eq!(without_spawns(&native), without_spawns(&child), "seed {seed}");
    }
}

// Proves a planted bug inside a child process is caught by the check that owns it: the
// checks look at what the child really did.
#[test]
fn a_planted_bug_in_python_servers_is_caught() {
    let command = Some(python_server(&["--corrupt-replies"]));
    let yaml = echo_scenario([command.clone(), command.clone(), command], &[]);
    let outcome = TestRun::yaml("echo-python-bug.yaml", &yaml, orrery_workloads::registry())
        .seeds(0..3)
        .run();
    assert_eq!(outcome.summary.failed(), 3, "{}", outcome.explain());
    for report in outcome.failures() {
        let failure = report.failure.as_ref().expect("a failure");
        assert_eq!(failure.check, "replies_match", "{}", outcome.explain());
    }
}

/// How a child stops talking, and the reason its node must abort with.
enum Ending {
    Abort(&'static str),
    /// The reason starts with this (the rest names details).
    AbortStartingWith(&'static str),
    Exit(u64),
}

/// The record saying how node 0 ended, if it did.
fn ending_of_node_zero(trace: &Trace) -> Option<(String, OwnedValue)> {
    trace.records().iter().find_map(|record| {
        let field = match record.kind.as_str() {
            "abort" => "reason",
            "exit" => "code",
            _ => return None,
        };
        let value = record.fields.iter().find(|(name, _)| name == field)?.1.clone();
        (record.node == Some(NodeId(0))).then(|| (record.kind.clone(), value))
    })
}

// Proves each way a child can stop talking (exiting 0 or 3, a signal, closing stdout while
// running, never answering, a stray byte, an oversize frame, bad CBOR, an unknown effect,
// EOF inside a frame, a flood of effects, an exception, a command that cannot start, and
// the protocol's own exit and abort) ends its node with its
// stable reason, traced; peers then see the node down; and the sweep goes on, every seed
// reporting, while the other servers keep the checks green.
#[test]
fn every_way_a_child_stops_gives_its_reason_and_the_sweep_goes_on() {
    let config = SubprocessConfig {
        step_timeout: std::time::Duration::from_millis(1500),
        exit_grace: std::time::Duration::from_millis(300),
        effects_per_step_max: 10_000,
        ..SubprocessConfig::default()
    };
    let registry = || registry_with(echo().subprocess_config(config));
    let cases: Vec<(Vec<String>, Ending)> = vec![
        (
            test_child("misbehaving_echo_server.py", &["--mode", "exit0"]),
            Ending::Abort("exited(0)"),
        ),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "exit3"]),
            Ending::Abort("exited(3)"),
        ),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "signal"]),
            Ending::Abort("signal(9)"),
        ),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "close_stdout"]),
            Ending::Abort("transport_closed"),
        ),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "hang"]),
            Ending::Abort("step_timeout"),
        ),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "stray_byte"]),
            Ending::Abort(
                "protocol_error: a frame of 2013265920 bytes exceeds the maximum of 16777216",
            ),
        ),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "oversize"]),
            Ending::Abort(
                "protocol_error: a frame of 2147483648 bytes exceeds the maximum of 16777216",
            ),
        ),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "bad_cbor"]),
            Ending::AbortStartingWith("protocol_error: bad CBOR: unsupported CBOR item"),
        ),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "unknown_effect"]),
            Ending::Abort("protocol_error: unknown effect `teleport`"),
        ),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "eof_mid_frame"]),
            Ending::Abort("protocol_error: the stream ended inside a frame (7 of 14 bytes)"),
        ),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "flood"]),
            Ending::Abort("protocol_error: more than 10000 effects in one step"),
        ),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "raise"]),
            Ending::Abort("exited(1)"),
        ),
        (test_child("misbehaving_echo_server.py", &["--mode", "exit_effect"]), Ending::Exit(3)),
        (
            test_child("misbehaving_echo_server.py", &["--mode", "abort_effect"]),
            Ending::Abort("disk is gone"),
        ),
        (
            vec!["/nonexistent/orrery-child".to_string()],
            Ending::AbortStartingWith("spawn_failed: /nonexistent/orrery-child: "),
        ),
    ];
    for (command, ending) in cases {
        let yaml = echo_scenario([Some(command.clone()), None, None], &[]);
        let (report, trace) = run_recorded(&yaml, 0, &registry());
        let what = format!("{command:?}");
        assert_eq!(report.failure, None, "{what}");
        let found = ending_of_node_zero(&trace);
        match (&ending, &found) {
            (Ending::Abort(reason), Some((kind, OwnedValue::Str(found)))) => {
                assert_eq!((kind.as_str(), found.as_str()), ("abort", *reason), "{what}")
            }
            (Ending::AbortStartingWith(prefix), Some((kind, OwnedValue::Str(found)))) => {
                assert!(kind == "abort" && found.starts_with(prefix), "{what}: {found}")
            }
            (Ending::Exit(code), Some((kind, OwnedValue::U64(found)))) => {
                assert_eq!((kind.as_str(), *found), ("exit", *code), "{what}")
            }
            _ => panic!("{what}: node 0 ended with {found:?}"),
        }
        // After the ending, packets to node 0 are dropped at its door.
        let ended_at = trace
            .records()
            .iter()
            .position(|r| r.node == Some(NodeId(0)) && (r.kind == "abort" || r.kind == "exit"))
            .expect("the ending is traced");
        let dropped = trace.records()[ended_at..].iter().any(|r| {
            r.node == Some(NodeId(0))
                && r.kind == "drop"
                && r.fields
                    .iter()
                    .any(|(n, v)| n == "cause" && *v == OwnedValue::Str("node_down".into()))
        });
        assert!(dropped, "{what}: no packet to the ended node was dropped");
    }
    // A sweep with a server that never answers and one killed by a signal runs every seed
    // to its report, each passing on the third server.
    let hang = test_child("misbehaving_echo_server.py", &["--mode", "hang"]);
    let killed = test_child("misbehaving_echo_server.py", &["--mode", "signal"]);
    let yaml = echo_scenario([Some(hang), Some(killed), None], &[]);
    let outcome = TestRun::yaml("echo-misbehaving.yaml", &yaml, registry()).seeds(0..4).run();
    assert_eq!(outcome.reports.len(), 4);
    assert_eq!(outcome.summary.failed(), 0, "{}", outcome.explain());
}

// Proves frames that reach the world a byte at a time (split at every byte, across many
// reads) are reassembled: the child serves on, and its replies arrive.
#[test]
fn frames_dribbled_a_byte_at_a_time_are_reassembled() {
    let command = test_child("misbehaving_echo_server.py", &["--mode", "dribble", "--after", "40"]);
    let yaml = echo_scenario([Some(command), None, None], &[]);
    let (report, trace) = run_recorded(&yaml, 2, &orrery_workloads::registry());
    assert_eq!(report.failure, None);
    assert_eq!(ending_of_node_zero(&trace), None, "node 0 serves to the end");
    let replies = trace.records().iter().filter(|r| r.node == Some(NodeId(0)) && r.kind == "send");
    assert!(replies.count() > 100, "node 0 kept replying");
}

// Proves a child's stderr reaches the trace as lines of its node, a Python traceback
// included, and the node comes back under a supervisor with a fresh child.
#[test]
fn stderr_is_traced_and_a_supervisor_restarts_the_child() {
    let command = test_child("misbehaving_echo_server.py", &["--mode", "raise", "--after", "3"]);
    let yaml = echo_scenario(
        [Some(command), None, None],
        &[("checks: [replies_match", "supervisor: {restart_after: 50ms}\nchecks: [replies_match")],
    );
    let (report, trace) = run_recorded(&yaml, 1, &orrery_workloads::registry());
    assert_eq!(report.failure, None);
    let lines: Vec<String> = trace
        .records()
        .iter()
        .filter(|r| r.node == Some(NodeId(0)) && r.kind == "stderr")
        .filter_map(|r| match &r.fields[..] {
            [(name, OwnedValue::Str(line))] if name == "line" => Some(line.clone()),
            _ => None,
        })
        .collect();
    assert!(lines.iter().any(|l| l == "about to fail"), "{lines:?}");
    assert!(lines.iter().any(|l| l == "Traceback (most recent call last):"), "{lines:?}");
    assert!(lines.iter().any(|l| l == "RuntimeError: the server gave up"), "{lines:?}");
    let spawns = trace.records().iter().filter(|r| r.node == Some(NodeId(0)) && r.kind == "spawn");
    assert!(spawns.count() >= 3, "the supervisor restarted the child");
}

// Proves a `command` that names no program, or one on a workload without a codec, is a load
// error naming the place, not a run that fails later.
#[test]
fn bad_commands_are_load_errors() {
    let registry = orrery_workloads::registry();
    let empty = echo_scenario([Some(vec![]), None, None], &[]);
    let errors = scenario::parse("empty.yaml", empty.as_bytes(), &registry)
        .err()
        .map(|errors| errors.to_string())
        .unwrap_or_default();
    assert!(errors.contains("empty.yaml:5:51"), "{errors}");
    assert!(errors.contains("`command` names no program"), "{errors}");
    let raft = std::fs::read_to_string(repo("scenarios/smoke/raft-kv.yaml")).expect("raft-kv");
    let first_node = raft.find("role: server").expect("a server node");
    let raft =
        format!("{}role: server, command: [x]{}", &raft[..first_node], &raft[first_node + 12..]);
    let errors = scenario::parse("raft.yaml", raft.as_bytes(), &registry)
        .err()
        .map(|errors| errors.to_string())
        .unwrap_or_default();
    assert!(errors.contains("declares no codec for child processes"), "{errors}");
}

/// Every kind of message of the protocol, encoded.
fn protocol_messages() -> Vec<Vec<u8>> {
    let clock = StepClock {
        now: orrery_sim::Instant::from_nanos(1_500_000),
        true_now: orrery_sim::Instant::from_nanos(u64::MAX),
        timer_next: 300,
    };
    let identity = Identity {
        node: NodeId(3),
        n_nodes: 7,
        name: "s3".into(),
        role: "säver".into(),
        seed: 1 << 40,
        incarnation: 2,
    };
    let op = DiskOp::Write { path: "wal".into(), offset_bytes: 70_000, data: vec![0, 255, 7] };
    let to_child = [
        ToChild::Init { identity, clock },
        ToChild::Deliver { clock, from: NodeId(1), message: vec![1; 17] },
        ToChild::Timer { clock, timer: orrery_sim::TimerId(9), tag: u64::MAX },
        ToChild::DiskDone {
            clock,
            ticket: DiskTicket::from_id(4),
            result: Ok(DiskOutput::Names(vec!["a".into(), "b".into()])),
        },
        ToChild::Reply(Reply::Disk(Err(DiskError::NotFound { path: "x".into() }))),
        ToChild::Reply(Reply::Sent(Ok(()))),
        ToChild::Shutdown,
    ];
    let fields = vec![
        ("count".to_string(), FieldValue::U64(3)),
        ("delta".to_string(), FieldValue::I64(i64::MIN)),
        ("peer".to_string(), FieldValue::Node(NodeId(2))),
        ("ok".to_string(), FieldValue::Bool(true)),
        ("text".to_string(), FieldValue::Str("über".into())),
    ];
    let from_child = [
        FromChild::Send { to: NodeId(0), message: vec![9; 300] },
        FromChild::SetTimer { after: orrery_sim::Duration::from_nanos(20_000_000), tag: 1 },
        FromChild::Record { kind: "elected".into(), fields: fields.clone() },
        FromChild::Observe { kind: "commit".into(), fields },
        FromChild::Disk(op.clone()),
        FromChild::Submit(op),
        FromChild::Exit { code: -3 },
        FromChild::Done,
    ];
    let to_child = to_child.iter().map(|m| m.to_cbor().to_bytes());
    to_child.chain(from_child.iter().map(|m| m.to_cbor().to_bytes())).collect()
}

// Proves the Python client reads CBOR exactly as the world does: on every kind of protocol
// message, each of their bit flips and prefixes, and random bytes, both accept or both
// refuse, and what both accept re-encodes to the same canonical bytes.
#[test]
fn the_python_client_reads_cbor_exactly_as_the_world_does() {
    let messages = protocol_messages();
    let mut corpus: Vec<Vec<u8>> = messages.clone();
    for message in &messages {
        for bit in 0..message.len() * 8 {
            let mut flipped = message.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            corpus.push(flipped);
        }
        corpus.extend((0..message.len()).map(|end| message[..end].to_vec()));
    }
    let mut stream = orrery_sim::Stream::new(19, "test.cbor.differential");
    for _ in 0..5_000 {
        let length = stream.below(12) as usize;
        corpus.push((0..length).map(|_| stream.below(256) as u8).collect());
    }
    let mut input = Vec::new();
    for item in &corpus {
        input.extend_from_slice(&(item.len() as u32).to_be_bytes());
        input.extend_from_slice(item);
    }
    let script = r#"
import struct, sys
sys.path.insert(0, sys.argv[1])
import orrery_child
data, at, out = sys.stdin.buffer.read(), 0, bytearray()
while at < len(data):
    (length,) = struct.unpack(">I", data[at:at + 4])
    payload, at = data[at + 4:at + 4 + length], at + 4 + length
    try:
        answer = b"\x01" + orrery_child.encode_cbor(orrery_child.decode_cbor(payload))
    except orrery_child.ProtocolError:
        answer = b"\x00"
    out += struct.pack(">I", len(answer)) + answer
sys.stdout.buffer.write(out)
"#;
    let mut child = std::process::Command::new(python())
        .args(["-c", script, &text(&repo("clients/python"))])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let output = child.wait_with_output().expect("python3 answers");
    writer.join().expect("writer").expect("the input is written");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (mut answers, mut at) = (Vec::new(), 0);
    while at < output.stdout.len() {
        let length = u32::from_be_bytes(output.stdout[at..at + 4].try_into().expect("4 bytes"));
        answers.push(output.stdout[at + 4..at + 4 + length as usize].to_vec());
        at += 4 + length as usize;
    }
    assert_eq!(answers.len(), corpus.len());
    let mut accepted = 0;
    for (item, answer) in corpus.iter().zip(&answers) {
        let world = match Cbor::decode(item) {
            Ok(value) => [vec![1], value.to_bytes()].concat(),
            Err(_) => vec![0],
        };
        assert_eq!(&world, answer, "the two decoders disagree on {item:02x?}");
        accepted += usize::from(world[0] == 1);
    }
    assert!(accepted > messages.len() && accepted < corpus.len(), "{accepted} accepted");
}
