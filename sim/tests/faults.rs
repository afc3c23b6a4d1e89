//! Faults that follow the protocol: triggers before and after a callback's effects, restarts
//! after a delay, skew that survives crashes, named rule targets, role-holder targets, the
//! max_dead budget, truthful disk traces, and scenario composition. Each test asserts the
//! exact trace events.

use orrery_sim::prelude::*;
use orrery_sim::runner::{run_plan, RunOptions};
use orrery_sim::scenario::{self, Override};
use orrery_sim::{ControlAction, Registry, World};

/// Answers a ping after observing that it voted; a leader announces its role.
struct Voter {
    sync_first: bool,
}

impl<N: NodeApi<u64>> Process<u64, N> for Voter {
    fn on_start(&mut self, node: &mut N) {
        if node.id().0 == 0 {
            node.hold_role("leader", true);
        }
        let _ = node.disk().create("vote");
    }
    fn on_message(&mut self, node: &mut N, from: NodeId, term: u64) {
        node.observe("vote", &[("term", term.into())]);
        if self.sync_first {
            let _ = node.disk().append("vote", &term.to_le_bytes());
            let _ = node.disk().sync("vote");
            node.send(from, term);
        } else {
            node.send(from, term);
            let _ = node.disk().append("vote", &term.to_le_bytes());
            let _ = node.disk().sync("vote");
        }
    }
}

/// Pings `target` with its clock reading at 1ms, then every 10ms.
struct Pinger {
    target: NodeId,
}

impl<N: NodeApi<u64>> Process<u64, N> for Pinger {
    fn on_start(&mut self, node: &mut N) {
        node.set_timer(ms(1), 0);
    }
    fn on_message(&mut self, _node: &mut N, _from: NodeId, _term: u64) {}
    fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
        node.send(self.target, node.now().as_nanos());
        node.set_timer(ms(10), 0);
    }
}

fn voters() -> WorkloadDef<u64> {
    WorkloadDef::<u64>::new("voters", "a voter per server, a pinger per client")
        .role("server", |_| Voter { sync_first: true })
        .role("client", |_| Pinger { target: NodeId(0) })
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(voters());
    registry
}

const TOPOLOGY: &str = "name: t
topology: {nodes: [{name: s0, role: server}, {name: s1, role: server}, {name: c0, role: client}]}
workload: {name: voters}
phases: {chaos: 30ms}
";

/// The trace lines (without the header) of seed `seed` of `faults` added to TOPOLOGY.
fn trace_of(faults: &str, seed: u64) -> Vec<String> {
    let text = format!("{TOPOLOGY}{faults}");
    let registry = registry();
    let scenario = scenario::parse("t.yaml", text.as_bytes(), &registry)
        .unwrap_or_else(|errors| panic!("{errors}"));
    let plan = scenario.sample(seed);
    let (_, trace) =
        run_plan(&plan, &registry, RunOptions { recording: true, ..RunOptions::default() });
    trace.expect("recorded").render().lines().map(str::to_string).collect()
}

fn lines_at(trace: &[String], node: &str, kinds: &[&str]) -> Vec<String> {
    trace
        .iter()
        .filter(|line| {
            let mut columns = line.split(' ').skip(1);
            columns.next() == Some(node) && columns.next().is_some_and(|kind| kinds.contains(&kind))
        })
        .map(|line| line.split_once(' ').map_or(line.clone(), |(_, rest)| rest.to_string()))
        .collect()
}

// Proves a trigger `when: after` lets the callback's send go out, then crashes the node
// that observed, and restarts it `restart_after` later.
#[test]
fn a_trigger_after_the_callback_crashes_once_its_sends_are_out() {
    let trace = trace_of(
        "faults:\n  - {name: crash-after-vote, on: {event: vote, budget: 1}, kind: crash, restart_after: 2ms}\n",
        0,
    );
    let events = lines_at(&trace, "n0", &["vote", "trigger", "send", "crash", "start"]);
    assert_eq!(
        events[..5],
        [
            "n0 start incarnation=0",
            "n0 vote term=1000000",
            "n0 trigger rule=crash-after-vote event=vote",
            "n0 send to=n2 pkt=1 1000000",
            "n0 crash restart_after=2ms",
        ],
        "{trace:#?}"
    );
    let restart = trace.iter().find(|l| l.ends_with("n0 start incarnation=1")).expect("restarted");
    let crash = trace.iter().find(|l| l.contains("n0 crash")).expect("crashed");
    let time = |line: &str| line.split(' ').next().unwrap_or("").to_string();
    assert_eq!((time(crash), time(restart)), ("0.002000000".into(), "0.004000000".into()));
    assert_eq!(events.iter().filter(|e| e.contains("trigger")).count(), 1, "budget 1");
}

// Proves a trigger `when: before` cuts power at the observation: the reply and the disk
// writes after it vanish, and the power loss is a `crash` event.
#[test]
fn a_trigger_before_the_callback_loses_the_rest_of_it() {
    let trace =
        trace_of("faults:\n  - {on: {event: vote, nodes: [s0], when: before}, kind: crash}\n", 0);
    let events = lines_at(&trace, "n0", &["vote", "trigger", "send", "crash"]);
    let from_vote: Vec<&String> = events.iter().skip_while(|e| !e.contains("vote")).collect();
    assert!(!trace.iter().any(|line| line.contains("kind: Append")), "the append vanished");
    assert_eq!(
        from_vote,
        [
            "n0 vote term=1000000",
            "n0 trigger rule=fault[0] event=vote",
            "n0 crash cause=power_loss"
        ],
        "no reply and no disk write after the power loss: {trace:#?}"
    );
}

// Proves a named rule's pick is the target of a rule that names it: a pause and its resume
// hit the same randomly drawn node on every seed.
#[test]
fn a_rule_can_aim_at_the_node_another_rule_picked() {
    let faults = "faults:
  - {name: stall, at: 5ms, kind: pause, node: {role: server}}
  - {at: 9ms, kind: resume, node: {rule: stall}}
";
    let mut picked = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let trace = trace_of(faults, seed);
        let paused: Vec<&String> = trace.iter().filter(|l| l.contains(" pause")).collect();
        let resumed: Vec<&String> = trace.iter().filter(|l| l.contains(" resume")).collect();
        let node = |line: &&String| line.split(' ').nth(1).unwrap_or("").to_string();
        assert_eq!(
            paused.iter().map(node).collect::<Vec<_>>(),
            resumed.iter().map(node).collect::<Vec<_>>()
        );
        picked.extend(paused.iter().map(node));
    }
    assert_eq!(picked.len(), 2, "both servers get picked over 20 seeds: {picked:?}");
}

// Proves a fault aimed at a role holder hits whoever holds the role when it applies, and
// with nobody holding it is skipped (traced) or falls back as `otherwise` says.
#[test]
fn faults_aim_at_the_current_role_holder() {
    let trace = trace_of("faults:\n  - {at: 5ms, kind: crash, node: {holding: leader}}\n  - {at: 6ms, kind: pause, node: {holding: leader}}\n", 0);
    assert!(trace.contains(&"0.005000000 n0 crash".to_string()), "{trace:#?}");
    assert!(
        trace.contains(&"0.006000000 - skipped holder_of=leader action=pause".to_string()),
        "{trace:#?}"
    );
    let trace = trace_of("faults:\n  - {at: 5ms, kind: crash, node: s0}\n  - {at: 6ms, kind: pause, node: {holding: leader, otherwise: [s1]}}\n", 0);
    assert!(trace.contains(&"0.006000000 n1 pause".to_string()), "{trace:#?}");
}

// Proves clock skew is the node's and survives its crash and restart.
#[test]
fn clock_skew_survives_a_crash() {
    let mut world = World::<u64>::builder(1)
        .process("n0", |_| Pinger { target: NodeId(1) })
        .endpoints(1)
        .build();
    world.control().set_clock(NodeId(0), 500_000_000, 0);
    world.run_for(ms(2));
    world.control().crash(NodeId(0)).apply(ControlAction::Start(NodeId(0)));
    world.run_for(ms(2));
    let delivered = world.endpoint(NodeId(1)).drain();
    let stamps: Vec<u64> = delivered.iter().map(|e| e.message).collect();
    assert_eq!(stamps, [501_000_000, 503_000_000], "both incarnations read the skewed clock");
}

// Proves the max_dead budget skips a crash that would take one node too many down, as the
// fault applies (so it also bounds role-holder targets), and traces the skip.
#[test]
fn max_dead_skips_crashes_beyond_the_budget_as_they_apply() {
    let trace = trace_of("max_dead: 1\nfaults:\n  - {at: 5ms, kind: crash, node: s1}\n  - {at: 6ms, kind: crash, node: {holding: leader}}\n  - {at: 7ms, kind: start, node: s1}\n  - {at: 8ms, kind: crash, node: s0}\n", 0);
    let lines: Vec<&str> = trace
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains("crash") || l.contains("skipped") || l.contains(" start"))
        .collect();
    assert!(lines.contains(&"0.006000000 n0 skipped action=crash cause=max_dead"), "{lines:#?}");
    assert!(lines.contains(&"0.008000000 n0 crash"), "after n1 started again: {lines:#?}");
}

// Proves "sync, then reply" and "reply, then sync" give different traces and fingerprints:
// disk operations are traced where they happen among the sends.
#[test]
fn the_order_of_sync_and_reply_shows_in_the_trace() {
    let run = |sync_first: bool| {
        let mut world = World::<u64>::builder(3)
            .process("n0", move |_| Voter { sync_first })
            .process("n1", |_| Pinger { target: NodeId(0) })
            .record(true)
            .build();
        world.run_for(ms(5));
        (world.fingerprint(), world.trace().render())
    };
    let ((sync_fp, sync_trace), (reply_fp, reply_trace)) = (run(true), run(false));
    assert_ne!(sync_fp, reply_fp);
    let order = |trace: &str| -> Vec<&str> {
        trace
            .lines()
            .filter(|l| l.contains("n0 send") || l.contains("kind: Sync"))
            .map(|l| if l.contains("send") { "send" } else { "sync" })
            .collect()
    };
    assert_eq!(order(&sync_trace), ["sync", "send"]);
    assert_eq!(order(&reply_trace), ["send", "sync"]);
}

// Proves a scenario extends a base with overrides, `--param`/`--set` lay over both, and an
// error in the base file names the base file.
#[test]
fn scenarios_compose_and_errors_name_their_file() {
    let dir = std::env::temp_dir().join(format!("orrery-compose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("base.yaml"), TOPOLOGY).expect("write");
    std::fs::write(
        dir.join("child.yaml"),
        "extends: base.yaml\nname: child\nphases: {heal: 5ms}\n",
    )
    .expect("write");
    let registry = registry();
    let overrides = [
        Override::set("phases.chaos=40ms").expect("valid"),
        Override::set("seeds=\"3..5\"").expect("valid"),
    ];
    let scenario =
        scenario::load_with(&dir.join("child.yaml"), &registry, &overrides).expect("loads");
    assert_eq!(scenario.name(), "child");
    assert_eq!((scenario.phases().chaos, scenario.phases().heal), (ms(40), ms(5)));
    assert_eq!(scenario.default_seeds(), 3..5);
    std::fs::write(dir.join("base.yaml"), TOPOLOGY.replace("chaos: 30ms", "chaos: 30 parsecs"))
        .expect("write");
    let error =
        scenario::load(&dir.join("child.yaml"), &registry).expect_err("bad base").to_string();
    assert!(error.contains("base.yaml:4:"), "{error}");
    let error = scenario::load_with(
        &dir.join("child.yaml"),
        &registry,
        &[Override::param("nope=1").expect("valid")],
    )
    .expect_err("unknown parameter")
    .to_string();
    assert!(error.contains("--param nope=1"), "{error}");
    std::fs::write(dir.join("child.yaml"), "extends: child.yaml\n").expect("write");
    let error = scenario::load(&dir.join("child.yaml"), &registry).expect_err("cycle").to_string();
    assert!(error.contains("makes a cycle"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}
