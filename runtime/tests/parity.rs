//! The production parity test: raft-kv's `Server` and `Client`, the types the simulator
//! sweeps, run as five OS processes on 127.0.0.1 (three servers, two clients) over the
//! production runtime; the leader is SIGKILLed mid-run and restarted from its data
//! directory; the clients' merged history must be linearizable by the checker simulation
//! uses, and the servers' observations must keep Raft's agreement rules. Then the same types
//! run a simulated sweep, their messages through the same codec, in this same binary.
//!
//! This binary is also the node: run with `node CONFIG` it is one raft-kv process (the
//! parent passes its listening socket as fd 3, held by the parent across the restart, so
//! ports are ephemeral and never raced for). Every child is killed and every directory
//! removed however the test ends; the whole test is bounded in time.

use std::borrow::Cow;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use orrery_runtime::{run, NodeConfig, NodeEntry, NodeProcess};
use orrery_sim::check::{check_history, ModelName, Verdict};
use orrery_sim::trace::{json, OwnedValue, Record};
use orrery_sim::workload::{history::history_of, Registry};
use orrery_sim::{NodeId, Observation, TestRun};
use orrery_workloads::raft_kv::{
    self, Client, ClientConfig, Config, RaftKvCodec, RaftKvParams, Server,
};

const CHILD: &str = "node";
const SERVERS: u32 = 3;
const CLIENTS: u32 = 2;
/// The whole production half must finish within this, or the test fails.
const DEADLINE: StdDuration = StdDuration::from_secs(60);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(CHILD) {
        let path = args.get(2).map(PathBuf::from).unwrap_or_default();
        std::process::exit(node_main(&path));
    }
    if args.iter().any(|arg| arg == "--list") {
        println!("production_parity: test\nsimulated_parity: test");
        return;
    }
    // libtest's options that take a value; any other bare argument is a name filter.
    let valued = ["--test-threads", "--skip", "--format", "--color", "--logfile", "-Z"];
    let filter = args
        .iter()
        .enumerate()
        .skip(1)
        .find(|(i, arg)| !arg.starts_with('-') && !valued.contains(&args[i - 1].as_str()))
        .map(|(_, arg)| arg);
    let mut passed = 0;
    for (name, test) in
        [("production_parity", production_parity as fn()), ("simulated_parity", simulated_parity)]
    {
        if filter.is_some_and(|filter| !name.contains(filter.as_str())) {
            continue;
        }
        let started = StdInstant::now();
        test();
        println!("test {name} ... ok ({:.1}s)", started.elapsed().as_secs_f64());
        passed += 1;
    }
    println!("\ntest result: ok. {passed} passed; 0 failed; 0 ignored; 0 measured");
}

/// One raft-kv node, as a production binary would run it.
fn node_main(config_path: &Path) -> i32 {
    let config = match NodeConfig::load(config_path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return 2;
        }
    };
    let params = RaftKvParams::default();
    let report = run(config, RaftKvCodec, |config| -> NodeProcess<RaftKvCodec> {
        let servers = config.nodes_with_role("server");
        match config.role() {
            "server" => Box::new(Server::new(Config::new(&params, servers))),
            _ => Box::new(Client::new(ClientConfig::new(&params, servers))),
        }
    });
    match report {
        Ok(report) => report.ended.exit_code(),
        Err(error) => {
            eprintln!("{error}");
            2
        }
    }
}

/// The children and the scratch directory, cleaned up however the test ends.
struct Cluster {
    directory: PathBuf,
    listeners: Vec<TcpListener>,
    children: Vec<Option<Child>>,
}

impl Cluster {
    fn new() -> Cluster {
        let directory = std::env::temp_dir().join(format!("orrery-parity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).expect("a scratch directory");
        let n = (SERVERS + CLIENTS) as usize;
        let listeners: Vec<TcpListener> =
            (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("an ephemeral port")).collect();
        let nodes: Vec<NodeEntry> = (0..n)
            .map(|i| NodeEntry {
                id: NodeId(i as u32),
                address: listeners[i].local_addr().expect("bound"),
                role: if (i as u32) < SERVERS { "server" } else { "client" }.to_string(),
            })
            .collect();
        for i in 0..n {
            let mut config =
                NodeConfig::new(NodeId(i as u32), nodes.clone(), directory.join(format!("n{i}")));
            config.listen_fd = Some(3);
            config.trace_json = Some(directory.join(format!("n{i}.jsonl")));
            std::fs::write(directory.join(format!("n{i}.yaml")), config.to_yaml())
                .expect("a configuration file");
        }
        Cluster { directory, listeners, children: (0..n).map(|_| None).collect() }
    }

    /// Starts node `i`'s process, its listener as fd 3.
    fn start(&mut self, i: usize) {
        let fd = self.listeners[i].as_raw_fd();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.directory.join(format!("n{i}.log")))
            .expect("a log file");
        let mut command = Command::new(std::env::current_exe().expect("this binary"));
        command
            .arg(CHILD)
            .arg(self.directory.join(format!("n{i}.yaml")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // SAFETY: between fork and exec only async-signal-safe calls: dup2 and fcntl.
        unsafe {
            command.pre_exec(move || {
                if fd == 3 {
                    if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        self.children[i] = Some(command.spawn().expect("a node process"));
    }

    /// Sends `signal` to node `i` and waits (bounded) for it to end; returns its status.
    fn signal(&mut self, i: usize, signal: i32) -> Option<std::process::ExitStatus> {
        let mut child = self.children[i].take()?;
        // SAFETY: a plain system call on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let deadline = StdInstant::now() + StdDuration::from_secs(5);
        while StdInstant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(StdDuration::from_millis(10));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Node `i`'s trace so far (whole lines only: a killed node may leave half of one).
    fn trace(&self, i: usize) -> Vec<Record> {
        let text =
            std::fs::read_to_string(self.directory.join(format!("n{i}.jsonl"))).unwrap_or_default();
        let whole = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        json::parse(whole).unwrap_or_else(|error| panic!("n{i}'s trace: {error}")).records
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.directory.join(format!("n{i}.log"))).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for i in 0..self.children.len() {
                eprintln!("--- n{i} stderr ---\n{}", self.log(i));
            }
            eprintln!("(traces kept in {})", self.directory.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.directory);
        }
    }
}

/// The server that most recently claimed leadership (the highest term), if any.
fn leader(cluster: &Cluster) -> Option<(usize, u64)> {
    (0..SERVERS as usize)
        .flat_map(|i| {
            let leads = cluster.trace(i).into_iter().filter(|r| r.kind == "leader");
            leads.filter_map(move |r| term_of(&r).map(|term| (term, i)))
        })
        .max()
        .map(|(term, i)| (i, term))
}

fn term_of(record: &Record) -> Option<u64> {
    field(record, "term")
}

fn field(record: &Record, name: &str) -> Option<u64> {
    record.fields.iter().find(|(field, _)| field == name).and_then(|(_, value)| match value {
        OwnedValue::U64(value) => Some(*value),
        _ => None,
    })
}

fn wait_for(cluster: &Cluster, what: &str, mut condition: impl FnMut(&Cluster) -> bool) {
    let deadline = StdInstant::now() + StdDuration::from_secs(15);
    while !condition(cluster) {
        assert!(StdInstant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(StdDuration::from_millis(20));
    }
}

/// A trace record as the observation the checks would have folded.
fn observation(seq: u64, record: &Record) -> Observation {
    Observation {
        seq,
        at: record.time,
        node: record.node.unwrap_or_default(),
        incarnation: 0,
        kind: Cow::Owned(record.kind.clone()),
        fields: record.fields.iter().map(|(n, v)| (Cow::Owned(n.clone()), v.clone())).collect(),
    }
}

// Proves the production runtime runs the simulated raft-kv types unchanged across five OS
// processes: through a SIGKILL of the leader and its restart from its data directory, the
// clients' history is linearizable, no term has two leaders, no index two different applied
// entries, and the restarted server recovered its log from disk.
fn production_parity() {
    let started = StdInstant::now();
    let mut cluster = Cluster::new();
    for i in 0..(SERVERS + CLIENTS) as usize {
        cluster.start(i);
    }
    wait_for(&cluster, "a leader", |cluster| leader(cluster).is_some());
    wait_for(&cluster, "completed operations", |cluster| {
        let ok = |i| cluster.trace(i).iter().filter(|r| r.kind == "ok").count();
        (SERVERS..SERVERS + CLIENTS).all(|i| ok(i as usize) >= 60)
    });
    let (victim, term) = leader(&cluster).expect("a leader");
    let killed = cluster.signal(victim, libc::SIGKILL).expect("the leader was running");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&killed), Some(libc::SIGKILL));
    let killed_at = orrery_runtime::host_monotonic();
    std::thread::sleep(StdDuration::from_millis(500));
    cluster.start(victim);
    wait_for(&cluster, "a new leader", |cluster| leader(cluster).is_some_and(|(_, t)| t > term));
    wait_for(&cluster, "the restarted server to catch up", |cluster| {
        let trace = cluster.trace(victim);
        let after =
            trace.iter().skip_while(|r| r.kind != "start" || field(r, "incarnation") != Some(1));
        after.filter(|r| r.kind == "applied").count() >= 5
    });
    wait_for(&cluster, "operations after the restart", |cluster| {
        let late = |i| {
            let trace = cluster.trace(i);
            trace.iter().filter(|r| r.kind == "ok" && r.time > killed_at).count()
        };
        (SERVERS..SERVERS + CLIENTS).all(|i| late(i as usize) >= 60)
    });
    for i in (0..(SERVERS + CLIENTS) as usize).rev() {
        let status = cluster.signal(i, libc::SIGTERM).expect("running");
        assert!(status.success(), "n{i} ended {status} on SIGTERM:\n{}", cluster.log(i));
    }
    assert!(started.elapsed() < DEADLINE, "the production run took {:?}", started.elapsed());

    // The clients' history, merged on the host's monotonic clock.
    let mut records: Vec<Record> =
        (SERVERS..SERVERS + CLIENTS).flat_map(|i| cluster.trace(i as usize)).collect();
    records.sort_by_key(|record| record.time);
    let observations: Vec<Observation> =
        records.iter().enumerate().map(|(seq, r)| observation(seq as u64, r)).collect();
    let history = history_of(&observations).expect("a well-formed history");
    let report = check_history(&history, ModelName::Kv, raft_kv::LINEARIZABILITY_STEPS_MAX)
        .expect("the history fits the kv model");
    assert!(matches!(report.verdict, Verdict::Linearizable), "{report}");
    let count = |kind: &str| records.iter().filter(|r| r.kind == kind).count();
    let (invoked, oks) = (count("invoke"), count("ok"));
    assert!(oks >= 240, "only {oks} operations completed");
    println!(
        "  production: n{victim} (leader of term {term}) SIGKILLed and restarted; {invoked} \
         operations, {oks} ok ({} fail, {} info), linearizable",
        count("fail"),
        count("info")
    );

    // Raft's agreement rules over every server's observations, both lives of the victim's.
    let mut leaders = std::collections::BTreeMap::new();
    let mut applied = std::collections::BTreeMap::new();
    for i in 0..SERVERS as usize {
        for record in cluster.trace(i) {
            if record.kind == "leader" {
                let term = term_of(&record).expect("a term");
                let other = leaders.insert(term, i).filter(|&other| other != i);
                assert_eq!(other, None, "two leaders of term {term}: n{i} and another");
            }
            if record.kind == "applied" {
                let index = field(&record, "index").expect("an index");
                let entry = (term_of(&record), field(&record, "session"), field(&record, "seq"));
                let before = applied.insert(index, entry).filter(|&before| before != entry);
                assert_eq!(before, None, "n{i} applied a different entry at {index}");
            }
        }
    }

    // The victim came back from its disk: its second life starts at incarnation 1 and never
    // re-appends the start of the log it had synced before the kill.
    let trace = cluster.trace(victim);
    let starts: Vec<Option<u64>> =
        trace.iter().filter(|r| r.kind == "start").map(|r| field(r, "incarnation")).collect();
    assert_eq!(starts, [Some(0), Some(1)]);
    let second_life =
        trace.iter().skip_while(|r| r.kind != "start" || field(r, "incarnation") != Some(1));
    let first_logged = second_life.filter(|r| r.kind == "log").find_map(|r| field(r, "index"));
    assert!(first_logged.is_none_or(|index| index > 1), "the log was rebuilt from index 1");
}

const SCENARIO_NAME: &str = "raft-kv-bytes-parity";

/// The scenario the simulated half sweeps: the production half's system.
const SCENARIO: &str = "\
name: raft-kv-bytes-parity
description: The parity test's system simulated, messages through RaftKvCodec
topology:
  nodes:
    - {name: s0, role: server}
    - {name: s1, role: server}
    - {name: s2, role: server}
    - {name: c0, role: client}
    - {name: c1, role: client}
network:
  latency: {kind: uniform, min: 100us, max: 2ms}
disk: {crash_unsynced: random}
workload:
  name: raft-kv-bytes
max_dead: 1
faults:
  - {at: 1500ms, kind: crash, node: {role: server}}
  - {at: 2s, kind: restart, node: {role: server}}
swarm:
  loss: {probability: 0.5, rate: [0.0, 0.05]}
phases: {chaos: 4s, heal: 200ms, converge_deadline: 3s}
checks: [one_leader_per_term, log_matching, state_machine_safety, leader_elected, clients_progress, linearizable]
seeds: 0..24
expect: pass
";

// Proves the same process types, with their messages through the same codec, pass a
// simulated sweep of the same system with a server crashed and restarted from its disk.
fn simulated_parity() {
    let mut registry = Registry::new();
    registry.register(raft_kv::raft_kv_bytes());
    let outcome = TestRun::yaml("raft-kv-bytes-parity.yaml", SCENARIO, registry).run();
    let summary = &outcome.summary;
    assert_eq!(summary.seeds_run, 24);
    assert!(outcome.failures().next().is_none(), "{}", outcome.explain());
    assert_eq!(summary.passed, 24, "{}", outcome.explain());
    assert!(summary.unknown.is_empty(), "undecided checks: {:?}", summary.unknown);
    println!(
        "  simulated: {} seeds of {SCENARIO_NAME} passed every check ({} events, {:.0} virtual s)",
        summary.seeds_run,
        summary.events_total,
        summary.vtime_total_nanos as f64 / 1e9
    );
}
