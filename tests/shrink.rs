//! Shrinking end to end, through the library: planted bugs shrink to a few faults, the shrunk
//! scenario replays its failure and passes with the bug switched off, the result is the same
//! on one thread and two, hanging candidates end under the watchdog, panics shrink, and
//! removing one fault never changes what happened before it.
//!
//! Every planted bug shrinks in the default suite (about 12 s on 2 cores); `ORRERY_NIGHTLY=1`
//! measures the stability of every single-fault removal of every bug scenario instead of a
//! sample.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration as WallDuration, Instant as WallInstant};

use orrery_sim::observation::Observation;
use orrery_sim::runner::{run_plan, RunOptions};
use orrery_sim::scenario::{self, RunPlan};
use orrery_sim::shrink::{self, fault_count, Ending, Quiet, ShrinkOptions, Shrunk};
use orrery_sim::trace::{OwnedValue, Record};
use orrery_sim::workload::{
    Check, CheckKind, CheckLogic, CheckResult, ParamValue, Registry, Run, WorkloadDef,
};
use orrery_sim::{ms, Context, ControlAction, Instant, NodeApi, NodeId, Params, Process, TimerId};

use common::{root, TempDir};

/// The planted bugs, each with the smallest seed that finds it and how many fault entries its
/// shrunk scenario may have: the target, 3, for all but Raft's figure 8
/// (`raft-kv-commit-previous-term`), which needs a precise sequence of elections that one
/// seed in a hundred of the chaos finds: any change before it loses it, and the default
/// budget of 2,000 candidates ends the search (see benches/README.md).
const BUGS: [(&str, u64, usize); 21] = [
    ("dedup-no-resend-after-restart", 3, FAULTS_TARGET),
    ("dedup-nonce-not-persisted", 0, FAULTS_TARGET),
    ("dedup-state-one-slot", 1, FAULTS_TARGET),
    ("echo-async-corrupt-replies", 0, FAULTS_TARGET),
    ("echo-corrupt-replies", 0, FAULTS_TARGET),
    ("raft-kv-ack-before-fsync", 0, FAULTS_TARGET),
    ("raft-kv-commit-previous-term", 76, 50),
    ("raft-kv-no-step-down", 0, FAULTS_TARGET),
    ("raft-kv-stale-reads", 0, FAULTS_TARGET),
    ("raft-kv-vote-not-persisted", 1, FAULTS_TARGET),
    ("raft-kv-vote-not-persisted-triggered", 0, FAULTS_TARGET),
    ("replog-nearest-rtt-bridge-two-leaders", 0, FAULTS_TARGET),
    ("replog-nearest-rtt-split-brain", 0, FAULTS_TARGET),
    ("standby-promotion-ack-before-standby", 0, FAULTS_TARGET),
    ("standby-promotion-deposed-primary-stays-out", 0, FAULTS_TARGET),
    ("standby-promotion-promote-without-fencing", 0, FAULTS_TARGET),
    ("stream-backpressure-ack-past-gap", 0, FAULTS_TARGET),
    ("stream-backpressure-duplicate-grant", 0, FAULTS_TARGET),
    ("stream-backpressure-no-credit-probe", 0, FAULTS_TARGET),
    ("stream-backpressure-restart-resets-sequence", 0, FAULTS_TARGET),
    ("wal-kv-ack-before-sync", 0, FAULTS_TARGET),
];

/// What every planted bug should shrink to: at most this many fault entries.
const FAULTS_TARGET: usize = 3;
/// Each shrink takes at most this much wall-clock time (the target, on 2 cores).
const SHRINK_SECONDS_MAX: f64 = 30.0;

fn registry() -> Arc<Registry> {
    Arc::new(orrery_workloads::registry())
}

fn plan_of(bug: &str, seed: u64, registry: &Registry) -> RunPlan {
    let path = root().join(format!("scenarios/bugs/{bug}.yaml"));
    match scenario::load(&path, registry) {
        Ok(scenario) => scenario.sample(seed),
        Err(errors) => panic!("{bug}: {errors}"),
    }
}

fn options(jobs: usize) -> ShrinkOptions {
    ShrinkOptions { jobs, ..ShrinkOptions::default() }
}

fn shrunk(plan: &RunPlan, registry: &Arc<Registry>, jobs: usize) -> Shrunk {
    match shrink::shrink(plan, registry, &options(jobs), &mut Quiet) {
        Ok(shrunk) => shrunk,
        Err(error) => panic!("{}: {error}", plan.scenario),
    }
}

/// The same plan with every planted-bug switch of the reference workloads off.
fn without_bug(plan: &RunPlan) -> RunPlan {
    let mut plan = plan.clone();
    for (name, off) in [
        ("bug", ParamValue::Text("none".to_string())),
        ("corrupt_replies", ParamValue::Bool(false)),
        ("election", ParamValue::Text("epoch_quorum".to_string())),
    ] {
        if let Some(value) = plan.params.get_mut(name) {
            *value = off;
        }
    }
    plan
}

/// Writes `shrunk.yaml`, loads it as a user would, and checks that its seed fails the same
/// check the same way, and passes with the bug switched off (as the original seed does).
fn assert_replays_and_is_a_regression_test(shrunk: &Shrunk, registry: &Registry, dir: &Path) {
    let name = &shrunk.original.scenario;
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, shrunk.yaml()).expect("write shrunk.yaml");
    let scenario = match scenario::load(&path, registry) {
        Ok(scenario) => scenario,
        Err(errors) => panic!("{name}: shrunk.yaml is refused:\n{errors}\n{}", shrunk.yaml()),
    };
    assert_eq!(scenario.default_seeds().start, shrunk.plan.seed);
    let plan = scenario.sample(shrunk.plan.seed);
    let (report, _) = run_plan(&plan, registry, RunOptions::default());
    assert!(shrunk.target.matches(&report), "{name}: shrunk.yaml does not replay: {report:?}");
    assert_eq!(report.events, shrunk.report.events, "{name}: not the run the shrink saw");
    for (what, plan) in [("shrunk", &plan), ("original", &shrunk.original)] {
        let (fixed, _) = run_plan(&without_bug(plan), registry, RunOptions::default());
        assert!(
            fixed.failure.is_none(),
            "{name}: the {what} plan fails with the bug off: {fixed:?}"
        );
    }
}

/// faults before/after, events before/after, candidates, seconds.
fn row(bug: &str, shrunk: &Shrunk, seconds: f64) -> String {
    format!(
        "| {bug} | {} -> {} | {} -> {} | {} | {seconds:.2} s | {} |",
        fault_count(&shrunk.original),
        fault_count(&shrunk.plan),
        shrunk.original_report.events,
        shrunk.report.events,
        shrunk.candidates,
        match shrunk.ending {
            Ending::Minimal => "1-minimal",
            _ => "budget",
        }
    )
}

fn shrink_and_check(bugs: &[(&str, u64, usize)]) -> Vec<String> {
    let registry = registry();
    let dir = TempDir::new("shrink-bugs");
    let mut rows = Vec::new();
    for &(bug, seed, faults_left_max) in bugs {
        let plan = plan_of(bug, seed, &registry);
        let shrunk = shrunk(&plan, &registry, 2);
        let seconds = shrunk.wall.as_secs_f64();
        rows.push(row(bug, &shrunk, seconds));
        assert!(seconds <= SHRINK_SECONDS_MAX, "{bug}: {seconds:.1} s");
        assert!(fault_count(&shrunk.plan) <= faults_left_max, "{bug}:\n{}", shrunk.yaml());
        if faults_left_max <= FAULTS_TARGET {
            assert_eq!(shrunk.ending, Ending::Minimal, "{bug}");
        }
        assert_replays_and_is_a_regression_test(&shrunk, &registry, &dir.0);
    }
    rows
}

// Proves every scenario in scenarios/bugs/ shrinks (an invariant, a liveness check, a
// linearizability check and a trigger among them): to at most three faults and 1-minimal
// (all but Raft's figure 8, see BUGS), within the time target, and that each shrunk scenario
// replays its failure as written and passes with the bug switched off. Prints the table.
#[test]
fn every_planted_bug_shrinks() {
    let files: Vec<String> = std::fs::read_dir(root().join("scenarios/bugs"))
        .expect("scenarios/bugs")
        .filter_map(|entry| entry.ok()?.path().file_stem()?.to_str().map(str::to_string))
        .collect();
    for file in &files {
        assert!(BUGS.iter().any(|(bug, ..)| bug == file), "{file} is not in BUGS");
    }
    let rows = shrink_and_check(&BUGS);
    println!(
        "| scenario | faults | events | candidates | time | result |\n|---|---|---|---|---|---|"
    );
    for row in rows {
        println!("{row}");
    }
}

// Proves the same failure shrinks to byte-identical shrunk.yaml, with the same count of
// candidates, on one thread and on two.
#[test]
fn shrinking_is_the_same_on_one_thread_and_two() {
    let registry = registry();
    let plan = plan_of("raft-kv-vote-not-persisted", 1, &registry);
    let one = shrunk(&plan, &registry, 1);
    let two = shrunk(&plan, &registry, 2);
    assert_eq!(one.yaml(), two.yaml());
    assert_eq!((one.candidates, &one.steps), (two.candidates, &two.steps));
    assert!(fault_count(&plan) > 100 && fault_count(&one.plan) <= FAULTS_TARGET);
}

// Proves a budget of candidates stops the search where it says, with a smaller plan that
// still fails, and says it is not proven minimal.
#[test]
fn a_budget_stops_the_search_and_says_so() {
    let registry = registry();
    let plan = plan_of("raft-kv-vote-not-persisted", 1, &registry);
    let options = ShrinkOptions { max_candidates: 12, ..options(2) };
    let shrunk = shrink::shrink(&plan, &registry, &options, &mut Quiet).expect("shrinks");
    assert_eq!(shrunk.ending, Ending::Candidates(12));
    assert!(shrunk.candidates <= 12);
    assert!(fault_count(&shrunk.plan) < fault_count(&plan));
    assert!(shrunk.target.matches(&shrunk.report));
    assert!(shrunk.yaml().contains("stopped by the budget of 12 candidates"));
}

/// When each node first hears of a change that began at `start` on the nodes `touched`, in
/// either of two runs (with and without the change): at once for those, else at the first
/// delivery or drop (from `start` on, in either run) of a packet sent by a node that had
/// heard. A
/// touched node's packets still in flight at `start` count as news too (a crash, for one,
/// decides their fate). Taking both runs together covers news by absence: a reply that comes
/// in one run and not in the other.
fn reach(runs: [&[Record]; 2], touched: &[NodeId], start: Instant) -> BTreeMap<NodeId, Instant> {
    let mut heard: BTreeMap<NodeId, Instant> = touched.iter().map(|n| (*n, start)).collect();
    let mut news: BTreeSet<(usize, u64)> = BTreeSet::new();
    let pkt = |r: &Record| match r.fields.iter().find(|(name, _)| name == "pkt") {
        Some((_, OwnedValue::U64(p))) => Some(*p),
        _ => None,
    };
    let mut events: Vec<(Instant, usize, &Record)> = runs
        .iter()
        .enumerate()
        .flat_map(|(run, records)| records.iter().map(move |r| (r.time, run, r)))
        .collect();
    // Stable: each run's records keep their order at equal times.
    events.sort_by_key(|(time, _, _)| *time);
    for (time, run, record) in events {
        let (Some(node), Some(packet)) = (record.node, pkt(record)) else { continue };
        match record.kind.as_str() {
            "send" if touched.contains(&node) || heard.get(&node).is_some_and(|at| *at <= time) => {
                news.insert((run, packet));
            }
            // A delivery, or a drop at the receiver: anything that happens to news there.
            _ if time >= start && news.contains(&(run, packet)) => {
                heard.entry(node).or_insert(time);
            }
            _ => {}
        }
    }
    heard
}

/// A record without the run-wide counters in it (packet and timer ids), which any change
/// anywhere renumbers.
fn without_ids(record: &Record) -> Record {
    let mut record = record.clone();
    record.fields.retain(|(name, _)| name != "pkt" && name != "id");
    record
}

// Measures, over single-fault removals from bug scenarios' failing plans, that removing a
// fault changes no draw it has no business changing: nothing before the fault's time, and
// (for faults on nodes) nothing on a node before news of the change can reach it by message.
// Labelled streams are what make this hold: each node, link and fault family draws from its
// own stream, so a removal shifts only draws of the nodes it reaches. Nightly: every fault of
// every bug scenario.
#[test]
fn removing_a_fault_changes_nothing_it_cannot_reach() {
    let registry = registry();
    let recording = RunOptions { recording: true, ..RunOptions::default() };
    let nightly = std::env::var("ORRERY_NIGHTLY").as_deref() == Ok("1");
    let (bugs, step): (&[(&str, u64, usize)], usize) = match nightly {
        true => (&BUGS, 1),
        // Every fifth fault of four plans, to keep the default suite fast.
        false => (
            &[
                ("raft-kv-vote-not-persisted", 1, 0),
                ("raft-kv-stale-reads", 0, 0),
                ("dedup-state-one-slot", 1, 0),
                ("raft-kv-commit-previous-term", 76, 0),
            ],
            5,
        ),
    };
    let (mut removals, mut node_removals, mut renumbered) = (0, 0, 0);
    for &(bug, seed, _) in bugs {
        let plan = plan_of(bug, seed, &registry);
        let (_, trace) = run_plan(&plan, &registry, recording);
        let records = trace.expect("recorded").take_records();
        for i in (0..plan.faults.len()).step_by(step) {
            let (at, action) = plan.faults[i].clone();
            let mut without = plan.clone();
            without.faults.remove(i);
            let (_, trace) = run_plan(&without, &registry, recording);
            let other = trace.expect("recorded").take_records();
            removals += 1;
            let before = |rs: &[Record]| -> Vec<Record> {
                rs.iter().filter(|r| r.time < at).cloned().collect()
            };
            assert_eq!(
                before(&records),
                before(&other),
                "{bug}: removing fault {i} changed the run before {at}"
            );
            let Some(node) = action.node() else { continue };
            node_removals += 1;
            let heard = reach([&records, &other], &[node], at);
            // A run that failed stopped there: the other went on.
            let last = |rs: &[Record]| rs.last().map_or(Instant::ZERO, |r| r.time);
            let end = last(&records).min(last(&other));
            for peer in plan.topology.nodes() {
                let until = heard.get(&peer).copied().unwrap_or(Instant::MAX).min(end);
                let of_peer = |rs: &[Record]| -> Vec<Record> {
                    rs.iter().filter(|r| r.node == Some(peer) && r.time < until).cloned().collect()
                };
                let (a, b) = (of_peer(&records), of_peer(&other));
                if a != b {
                    renumbered += 1;
                    let a: Vec<Record> = a.iter().map(without_ids).collect();
                    let b: Vec<Record> = b.iter().map(without_ids).collect();
                    if let Some(k) = (0..a.len().min(b.len())).find(|&k| a[k] != b[k]) {
                        panic!("{bug}: removing {action:?} at {at} changed {peer} before it could know:\n{}\n{}", a[k], b[k]);
                    }
                    let show =
                        |rs: &[Record]| rs.iter().map(|r| format!("{r}\n")).collect::<String>();
                    assert_eq!(a.len(), b.len(), "{bug}: removing {action:?} at {at} changed {peer}'s events before {until}:\n{}\n{}", show(&a), show(&b));
                }
            }
        }
    }
    eprintln!(
        "{removals} removals: none changed the run before the fault; {node_removals} node faults: none \
         changed another node's draws before news could reach it ({renumbered} node(s) saw only \
         packet or timer ids renumbered)"
    );
    assert!(removals > 30 && node_removals > 10, "only {removals} removals measured");
}

/// Counts boots of node 0: the `reboots` check fails if it booted more than once.
struct Boots(u64);

impl<P, W: orrery_sim::Wire<()>> CheckLogic<(), P, W> for Boots {
    fn observes(&self) -> bool {
        true
    }
    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        if observation.kind == "boot" && observation.node == NodeId(0) {
            self.0 += 1;
        }
        Ok(())
    }
    fn evaluate(&mut self, _run: &Run<'_, (), P, W>) -> CheckResult {
        match self.0 {
            0 | 1 => CheckResult::Pass,
            n => CheckResult::Fail(format!("n0 booted {n} times")),
        }
    }
}

/// The booter (node 0) says when it boots (and, with `panic_on_reboot`, panics on its second
/// boot); the spinner (node 1) spins for `SPIN` of wall-clock time at its first
/// incarnation's timer unless it was crashed before it fired: removing the crash of the
/// spinner makes a candidate hang. The workload needs both roles, so neither node can go.
struct Spinner {
    booter: bool,
    panic_on_reboot: bool,
}

/// How long the spin lasts: long past the watchdog's patience, short enough that the thread
/// left behind ends soon after.
const SPIN: WallDuration = WallDuration::from_millis(1500);

impl Process<()> for Spinner {
    fn on_start(&mut self, ctx: &mut Context<()>) {
        if self.booter {
            ctx.observe("boot", &[]);
            if self.panic_on_reboot && ctx.now().as_nanos() > 0 {
                panic!("n0 booted again");
            }
        }
        ctx.set_timer(ms(300), 0);
    }
    fn on_message(&mut self, _ctx: &mut Context<()>, _from: NodeId, _message: ()) {}
    fn on_timer(&mut self, ctx: &mut Context<()>, _timer: TimerId, _tag: u64) {
        if !self.booter && ctx.now().as_nanos() < 400_000_000 {
            #[allow(clippy::disallowed_methods)] // tidy: allow (a test's planted hang)
            let started = WallInstant::now();
            while started.elapsed() < SPIN {
                std::hint::spin_loop();
            }
        }
    }
}

#[derive(Debug, Clone, Params)]
struct SpinnerParams {
    /// Node 0 panics when it boots a second time.
    panic_on_reboot: bool,
}

fn spinner_registry() -> Arc<Registry> {
    let workload = WorkloadDef::<(), SpinnerParams>::new("spinner", "reboots, panics and hangs")
        .requires_role("booter")
        .requires_role("spinner")
        .role("booter", |init| Spinner {
            booter: true,
            panic_on_reboot: init.params.panic_on_reboot,
        })
        .role("spinner", |_| Spinner { booter: false, panic_on_reboot: false })
        .check(Check::with_logic("reboots", CheckKind::Final, "n0 boots once", |_| Boots(0)));
    let mut registry = Registry::new();
    registry.register(workload);
    Arc::new(registry)
}

const SPINNER: &str = "name: spinner
topology:
  nodes:
    - {name: a, role: booter}
    - {name: b, role: spinner}
workload: {name: spinner, params: {panic_on_reboot: PANIC}}
faults:
  - {at: 100ms, kind: crash, node: a}
  - {at: 200ms, kind: crash, node: b}
  - {at: 250ms, kind: pause, node: a}
phases: {chaos: 500ms, heal: 1s}
checks: [reboots]
";

fn spinner_plan(panic: bool, registry: &Registry) -> RunPlan {
    let text = SPINNER.replace("PANIC", &panic.to_string());
    match scenario::parse("spinner.yaml", text.as_bytes(), registry) {
        Ok(scenario) => scenario.sample(0),
        Err(errors) => panic!("{errors}"),
    }
}

// Proves candidates that hang end under the watchdog and count as not failing the same way:
// the crash whose removal hangs node 1 is kept with the crash that causes the failure, the
// pause that matters to neither goes, and the shrink is still 1-minimal.
#[test]
fn hanging_candidates_end_under_the_watchdog() {
    let registry = spinner_registry();
    let plan = spinner_plan(false, &registry);
    let options = ShrinkOptions { hang_timeout: WallDuration::from_millis(300), ..options(2) };
    let shrunk = shrink::shrink(&plan, &registry, &options, &mut Quiet).expect("shrinks");
    let kept: Vec<&ControlAction> = shrunk.plan.faults.iter().map(|(_, action)| action).collect();
    assert_eq!(kept, [&ControlAction::Crash(NodeId(0)), &ControlAction::Crash(NodeId(1))]);
    assert_eq!(shrunk.ending, Ending::Minimal);
    assert!(shrunk.threads_abandoned > 0, "no candidate hung");
    assert!(shrunk.wall < WallDuration::from_secs(30));
}

/// Panics on seed threads are failures in their reports; printing them (with a backtrace)
/// would only stall the seed long enough to look hung. As the CLI does, the hook stays quiet
/// on those threads and speaks everywhere else.
fn quiet_seed_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current().name().unwrap_or("").to_string();
            if !name.starts_with(orrery_sim::runner::SEED_THREAD_PREFIX) {
                default_hook(info);
            }
        }));
    });
}

// Proves a panic shrinks like any failure: the crash that makes node 0 boot again (and
// panic) is kept, the pause that does nothing goes.
#[test]
fn panics_shrink() {
    quiet_seed_panics();
    let registry = spinner_registry();
    let plan = spinner_plan(true, &registry);
    let options = ShrinkOptions { hang_timeout: WallDuration::from_millis(300), ..options(2) };
    let shrunk = shrink::shrink(&plan, &registry, &options, &mut Quiet).expect("shrinks");
    assert_eq!(shrunk.target.check, "panic");
    let kept: Vec<&ControlAction> = shrunk.plan.faults.iter().map(|(_, action)| action).collect();
    assert!(kept.contains(&&ControlAction::Crash(NodeId(0))), "{kept:?}");
    assert!(!kept.contains(&&ControlAction::Pause(NodeId(0))), "{kept:?}");
}
