//! The space-time data's tests: a small trace with every shape the engine writes, read as
//! the viewer gets it.

use super::*;
use crate::topology::NodeSpec;

const TRACE: &str = "\
# orrery trace format 2 scenario=demo seed=3
0.000000000 n0 start incarnation=0
0.000000000 n1 start incarnation=0
0.000000000 - partition n0|n1,n2 for=2ms
0.001000000 n0 send to=n1 pkt=0 Ping
0.001000000 n0 duplicate to=n1 pkt=0
0.001500000 n0 drop to=n2 pkt=1 cause=loss Ping
0.001600000 n0 reject to=n1 pkt=2 cause=queue_full Ping
0.001700000 n1 send to=n0 pkt=3 Pong
0.002500000 n1 deliver from=n0 pkt=0 Ping
0.002600000 n1 deliver from=n0 pkt=0 duplicate=true Ping
0.002700000 n0 deliver from=n1 pkt=3 corrupted=true Pong
0.003000000 n1 crash
0.003000000 n1 send to=n0 pkt=4 Late
0.003100000 n0 drop from=n1 pkt=4 cause=node_down Late
0.003200000 - clog_link n0->n2 for=1ms
0.003300000 n2 clog_node for=10ms
0.003400000 n2 elected term=1
0.003500000 n2 quorum_reached votes=3 something new
0.003600000 - unclog
0.004000000 n1 start incarnation=1
0.004500000 n2 disk Crash(DiskCrashReport { mode: Lost })
0.005000000 n0 pause
0.006000000 - stop reason=invariant:agree n0 and n2 disagree
";

fn topology() -> Topology {
    let mut topology = Topology::new();
    for (name, role) in [("s0", "server"), ("s1", "server"), ("c0", "client"), ("c1", "client")] {
        topology.add_node(NodeSpec::named(name).role(role));
    }
    topology
}

fn data(failure: Option<FailureMark>) -> SpaceTimeData {
    let file = TraceFile::parse(TRACE).expect("parses");
    let topology = topology();
    SpaceTime::new(&file).with_topology(&topology).with_failure(failure).data()
}

// Proves there is one lane per node of the scenario, named as the scenario names it,
// after the world's lane, including nodes that no event mentions.
#[test]
fn one_lane_per_scenario_node() {
    let data = data(None);
    let lanes: Vec<(&str, &str, &str)> =
        data.lanes.iter().map(|l| (l.id.as_str(), l.name.as_str(), l.role.as_str())).collect();
    assert_eq!(
        lanes,
        [
            ("-", "world", ""),
            ("n0", "s0", "server"),
            ("n1", "s1", "server"),
            ("n2", "c0", "client"),
            ("n3", "c1", "client"),
        ]
    );
    assert_eq!(data.title, "demo seed 3");
}

// Proves every delivery is an arrow from its packet's send (a duplicate is a second
// arrow), and drops, rejections and corruptions are marked as such.
#[test]
fn messages_pair_sends_with_deliveries_and_mark_faults() {
    let data = data(None);
    let line = |index: Option<u32>| index.map(|i| data.events.line[i as usize].as_str());
    let messages: Vec<(Option<&str>, &str, &str, u32, u32)> = (0..data.messages.end.len())
        .map(|k| {
            let m = &data.messages;
            let end = data.events.line[m.end[k] as usize].as_str();
            let state = MESSAGE_STATES[m.state[k] as usize];
            (line(m.send[k]), end, state, m.from_lane[k], m.to_lane[k])
        })
        .collect();
    let send0 = Some("0.001000000 n0 send to=n1 pkt=0 Ping");
    assert_eq!(
        messages,
        [
            (
                Some("0.001500000 n0 drop to=n2 pkt=1 cause=loss Ping"),
                "0.001500000 n0 drop to=n2 pkt=1 cause=loss Ping",
                "lost",
                1,
                3
            ),
            (
                Some("0.001600000 n0 reject to=n1 pkt=2 cause=queue_full Ping"),
                "0.001600000 n0 reject to=n1 pkt=2 cause=queue_full Ping",
                "rejected",
                1,
                2
            ),
            (send0, "0.002500000 n1 deliver from=n0 pkt=0 Ping", "delivered", 1, 2),
            (send0, "0.002600000 n1 deliver from=n0 pkt=0 duplicate=true Ping", "duplicate", 1, 2),
            (
                Some("0.001700000 n1 send to=n0 pkt=3 Pong"),
                "0.002700000 n0 deliver from=n1 pkt=3 corrupted=true Pong",
                "corrupted",
                2,
                1
            ),
            (
                Some("0.003000000 n1 send to=n0 pkt=4 Late"),
                "0.003100000 n0 drop from=n1 pkt=4 cause=node_down Late",
                "dropped",
                2,
                1
            ),
        ]
    );
}

// Proves crashes (also inside a disk operation), pauses, partitions and clogs become spans
// that end where the trace says (a start, a duration, an unclog) or stay open to the end.
#[test]
fn lifecycle_partitions_and_clogs_are_spans() {
    let data = data(None);
    let spans: Vec<(u32, &str, u64, u64, bool, &str)> = data
        .spans
        .iter()
        .map(|s| (s.lane, s.class, s.start, s.end, s.open, s.label.as_str()))
        .collect();
    assert_eq!(
        spans,
        [
            (0, "partition", 0, 2_000_000, false, "partition s0|s1,c0"),
            (1, "partition", 0, 2_000_000, false, "partition side A: s0"),
            (2, "partition", 0, 2_000_000, false, "partition side B: s1,c0"),
            (3, "partition", 0, 2_000_000, false, "partition side B: s1,c0"),
            (2, "down", 3_000_000, 4_000_000, false, "down (crash)"),
            (1, "clog", 3_200_000, 3_600_000, false, "clog to c0"),
            (3, "clog", 3_200_000, 3_600_000, false, "clog from s0"),
            (3, "clog", 3_300_000, 3_600_000, false, "clogged"),
            (3, "down", 4_500_000, 6_000_000, true, "down (disk)"),
            (1, "paused", 5_000_000, 6_000_000, true, "paused"),
        ]
    );
}

// Proves kinds the viewer does not know are kept as events with their own filter, and
// each event keeps its exact trace line with where its fields end.
#[test]
fn unknown_kinds_are_events_and_lines_are_exact() {
    let data = data(None);
    let kind = data.kinds.iter().find(|k| k.name == "quorum_reached").expect("kept");
    assert_eq!((kind.class, kind.count), ("workload", 1));
    let file = TraceFile::parse(TRACE).expect("parses");
    for (index, record) in file.records.iter().enumerate() {
        assert_eq!(data.events.line[index], record.to_string());
    }
    let index = data.events.line.iter().position(|l| l.contains("quorum_reached")).unwrap();
    let line = &data.events.line[index];
    let ends = &data.events.field_ends[index];
    assert_eq!(ends.len(), 1);
    assert_eq!(&line[..ends[0] as usize], "0.003500000 n2 quorum_reached votes=3");
    assert_eq!(&line[ends[0] as usize + 1..], "something new");
}

// Proves the failing check is marked at its time: from the trace's stop line alone, or
// from the caller's failure (which names checks that leave no stop line), and that plan
// phases after the end of the run are not drawn.
#[test]
fn the_failure_is_marked_at_its_time() {
    let from_trace = data(None);
    let failures: Vec<&Marker> =
        from_trace.markers.iter().filter(|m| m.class == "failure").collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].t, 6_000_000);
    assert_eq!(failures[0].label, "invariant:agree");
    assert_eq!(failures[0].message, "n0 and n2 disagree");
    assert_eq!(failures[0].event, Some(from_trace.events.t.len() as u32 - 1));

    let liveness = FailureMark {
        check: "progress".to_string(),
        kind: "liveness".to_string(),
        message: "n3 never heard back".to_string(),
        time: Instant::from_nanos(9_000_000),
    };
    let data = data(Some(liveness));
    let marked: Vec<(&str, u64, Option<u32>)> =
        data.markers.iter().map(|m| (m.class, m.t, m.event)).collect();
    assert_eq!(marked, [("stop", 6_000_000, Some(22)), ("failure", 9_000_000, None)]);
    assert_eq!(data.markers[1].label, "progress (liveness)");
    assert_eq!(data.markers[1].message, "n3 never heard back");
    assert_eq!(data.time_end, 9_000_000);
}

// Proves phase boundaries come from the trace's `phase` events when it has them, and
// otherwise from the plan, up to the end of the run.
#[test]
fn phases_from_the_trace_or_the_plan() {
    let text = format!("{TRACE}0.007000000 - phase name=converge\n");
    let file = TraceFile::parse(&text).expect("parses");
    let mut view = SpaceTime::new(&file);
    view.plan_phases = vec![(Instant::from_nanos(5_000_000), "heal".to_string())];
    let phases: Vec<(u64, String)> = view
        .data()
        .markers
        .into_iter()
        .filter(|m| m.class == "phase")
        .map(|m| (m.t, m.label))
        .collect();
    assert_eq!(phases, [(7_000_000, "name=converge".to_string())]);
    let file = TraceFile::parse(TRACE).expect("parses");
    let mut view = SpaceTime::new(&file);
    view.plan_phases = vec![
        (Instant::from_nanos(5_000_000), "heal".to_string()),
        (Instant::from_nanos(50_000_000), "deadline".to_string()),
    ];
    let phases: Vec<u64> =
        view.data().markers.iter().filter(|m| m.class == "phase").map(|m| m.t).collect();
    assert_eq!(phases, [5_000_000]);
}
