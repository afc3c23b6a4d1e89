//! A trace as a timeline: Chrome trace-event JSON, which Perfetto (ui.perfetto.dev) and
//! `chrome://tracing` open.
//!
//! Layout: the world is process 1 (its events on thread 1, partitions as spans on thread 2);
//! node `nK` is process `K + 2`, named by its scenario name (`s0 (n0)`) or `nK`, with its events on thread 1 and its lifecycle
//! (down from a crash to the next start, paused from pause to resume) as spans on thread 2.
//! Sends, deliveries and in-flight drops are zero-length slices joined by flow arrows: one flow
//! per delivery or in-flight drop, with its own id (its position among them), starting at its
//! packet's send, so a duplicated packet's two deliveries are two arrows that viewers never
//! merge. A delivery whose send is not in the trace (a filtered view) gets no arrow. Every
//! other event is an instant. Spans and slices never overlap on one thread,
//! so viewers nest them without complaint. Time is in microseconds, to the nanosecond.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value as Json};

use crate::node::NodeId;
use crate::time::Instant;

use super::format::TraceFile;
use super::json::value_to_json;
use super::{OwnedValue, Record};

const WORLD_PID: u64 = 1;
const EVENTS_TID: u64 = 1;
/// Partitions on the world, lifecycle spans on a node.
const SPANS_TID: u64 = 2;

/// The Chrome trace-event JSON of `file`, one object.
pub fn export(file: &TraceFile) -> String {
    let mut timeline = Timeline { flows: flows(file), ..Timeline::default() };
    for (pid, name) in tracks(file) {
        timeline.metadata(pid, name);
    }
    for (index, record) in file.records.iter().enumerate() {
        timeline.event(index, record);
    }
    let end = file.records.last().map_or(Instant::ZERO, |r| r.time);
    timeline.close_all(end);
    let mut other = Map::new();
    other.insert("generator".into(), "orrery".into());
    if let Some(header) = &file.header {
        other.insert("scenario".into(), header.scenario.clone().into());
        other.insert("seed".into(), header.seed.into());
        other.insert("trace_format".into(), header.version.into());
    }
    let document = json!({
        "displayTimeUnit": "ns",
        "otherData": other,
        "traceEvents": timeline.events,
    });
    document.to_string()
}

/// The flows of a trace: for each send (by event index), the flow ids of its packet's
/// deliveries and in-flight drops; and for each of those (by event index), its flow id. Flow ids
/// count the deliveries and drops that have a send, in trace order.
#[derive(Default)]
struct Flows {
    from_send: BTreeMap<usize, Vec<u64>>,
    to_end: BTreeMap<usize, u64>,
}

fn flows(file: &TraceFile) -> Flows {
    let mut sends: BTreeMap<u64, usize> = BTreeMap::new();
    let mut flows = Flows::default();
    for (index, record) in file.records.iter().enumerate() {
        let Some(packet) = packet(record) else { continue };
        match flow_phase(record) {
            Some("s") => {
                sends.insert(packet, index);
            }
            Some(_) => {
                if let Some(&send) = sends.get(&packet) {
                    let id = flows.to_end.len() as u64;
                    flows.from_send.entry(send).or_default().push(id);
                    flows.to_end.insert(index, id);
                }
            }
            None => {}
        }
    }
    flows
}

fn packet(record: &Record) -> Option<u64> {
    match record.fields.iter().find(|(name, _)| name == "pkt") {
        Some((_, OwnedValue::U64(packet))) => Some(*packet),
        _ => None,
    }
}

/// `s` for a send, `f` for a delivery or an in-flight drop (one with `from=`: it happened at
/// the receiver, to a packet that was sent), `None` for anything else.
fn flow_phase(record: &Record) -> Option<&'static str> {
    let has = |name: &str| record.fields.iter().any(|(n, _)| n == name);
    match record.kind.as_str() {
        "send" if has("pkt") => Some("s"),
        "deliver" if has("pkt") => Some("f"),
        "drop" if has("pkt") && has("from") => Some("f"),
        _ => None,
    }
}

/// The processes of the timeline: the world and every node any event mentions, with names.
fn tracks(file: &TraceFile) -> Vec<(u64, String)> {
    let mut nodes = BTreeSet::new();
    for record in &file.records {
        nodes.extend(record.node);
        nodes.extend(record.fields.iter().filter_map(|(_, value)| match value {
            OwnedValue::Node(node) => Some(*node),
            _ => None,
        }));
    }
    let world = match &file.header {
        Some(header) => format!("world ({} seed {})", header.scenario, header.seed),
        None => "world".to_string(),
    };
    std::iter::once((WORLD_PID, world))
        .chain(nodes.into_iter().map(|node| {
            let name = match file.names().name(node) {
                Some(name) => format!("{name} ({node})"),
                None => node.to_string(),
            };
            (pid(Some(node)), name)
        }))
        .collect()
}

fn pid(node: Option<NodeId>) -> u64 {
    node.map_or(WORLD_PID, |node| u64::from(node.0) + 2)
}

/// Microseconds, as the format wants, exact to the nanosecond.
fn micros(time: Instant) -> Json {
    json!(time.as_nanos() as f64 / 1000.0)
}

/// A span that is open: what it is and since when.
#[derive(Debug, Clone, PartialEq)]
struct Open {
    name: &'static str,
    since: Instant,
    args: Json,
}

#[derive(Default)]
struct Timeline {
    events: Vec<Json>,
    flows: Flows,
    /// Open spans by process: a node's down or paused state, the world's partition.
    spans: BTreeMap<u64, Open>,
}

impl Timeline {
    fn metadata(&mut self, pid: u64, name: String) {
        let thread_names: [&str; 2] =
            if pid == WORLD_PID { ["events", "partitions"] } else { ["events", "lifecycle"] };
        self.events.push(json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
            "args": {"name": name}}));
        self.events.push(json!({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0,
            "args": {"sort_index": pid}}));
        for (tid, thread) in [EVENTS_TID, SPANS_TID].into_iter().zip(thread_names) {
            self.events.push(json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                "args": {"name": thread}}));
        }
    }

    fn event(&mut self, index: usize, record: &Record) {
        let pid = pid(record.node);
        let ts = micros(record.time);
        let mut args = Map::new();
        for (name, value) in &record.fields {
            args.insert(name.clone(), value_to_json(value));
        }
        if let Some(detail) = &record.detail {
            args.insert("detail".into(), detail.clone().into());
        }
        let field = |name: &str| record.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        match flow_phase(record) {
            Some(phase) => {
                let (direction, peer) =
                    if phase == "s" { ("to", field("to")) } else { ("from", field("from")) };
                let name = match peer {
                    Some(peer) => format!("{} {direction} {peer}", record.kind),
                    None => record.kind.clone(),
                };
                self.events.push(json!({"ph": "X", "name": name, "cat": "message", "ts": ts,
                    "dur": 0, "pid": pid, "tid": EVENTS_TID, "args": args}));
                let ids: Vec<u64> = match phase {
                    "s" => self.flows.from_send.get(&index).cloned().unwrap_or_default(),
                    _ => self.flows.to_end.get(&index).copied().into_iter().collect(),
                };
                for id in ids {
                    self.events.push(json!({"ph": phase, "name": "packet", "cat": "packet",
                        "id": id, "ts": ts, "pid": pid, "tid": EVENTS_TID, "bp": "e",
                        "args": {"pkt": packet(record)}}));
                }
            }
            None => {
                self.events.push(json!({"ph": "i", "s": "t", "name": record.kind,
                    "cat": category(&record.kind), "ts": ts, "pid": pid, "tid": EVENTS_TID,
                    "args": args}));
            }
        }
        self.spans_after(record, pid);
    }

    /// Opens and closes the lifecycle and partition spans an event implies.
    fn spans_after(&mut self, record: &Record, pid: u64) {
        let detail = || record.detail.as_ref().map_or(json!({}), |d| json!({"detail": d}));
        let crashed = matches!(record.kind.as_str(), "crash" | "restart")
            || (record.kind == "disk"
                && record.detail.as_deref().is_some_and(|d| d.starts_with("Crash")));
        let current = self.spans.get(&pid).map(|open| open.name);
        let next: Option<Option<Open>> = match (record.node, record.kind.as_str()) {
            (Some(_), _) if crashed && current != Some("down") => {
                Some(Some(Open { name: "down", since: record.time, args: detail() }))
            }
            (Some(_), "start" | "recover") if current.is_some() => Some(None),
            (Some(_), "pause") if current.is_none() => {
                Some(Some(Open { name: "paused", since: record.time, args: detail() }))
            }
            (Some(_), "resume") if current == Some("paused") => Some(None),
            (None, "partition") => {
                Some(Some(Open { name: "partition", since: record.time, args: detail() }))
            }
            (None, "heal") if current.is_some() => Some(None),
            _ => None,
        };
        if let Some(next) = next {
            self.close(pid, record.time);
            if let Some(open) = next {
                self.spans.insert(pid, open);
            }
        }
    }

    fn close(&mut self, pid: u64, at: Instant) {
        if let Some(open) = self.spans.remove(&pid) {
            let duration = at.saturating_since(open.since).as_nanos() as f64 / 1000.0;
            self.events.push(json!({"ph": "X", "name": open.name, "cat": "span",
                "ts": micros(open.since), "dur": duration, "pid": pid, "tid": SPANS_TID,
                "args": open.args}));
        }
    }

    /// Spans still open when the trace ends are drawn up to its last event.
    fn close_all(&mut self, end: Instant) {
        let pids: Vec<u64> = self.spans.keys().copied().collect();
        for pid in pids {
            self.close(pid, end);
        }
    }
}

/// The category of an event kind, for a viewer's filters and colours: faults (what the
/// control authority and fault points did), the network's doings, disk operations, the
/// engine's own events, or the workload's. The HTML view (`crate::view`) classes kinds by it too.
pub(crate) fn category(kind: &str) -> &'static str {
    match kind {
        "crash"
        | "restart"
        | "recover"
        | "pause"
        | "resume"
        | "set_clock"
        | "set_node_up"
        | "partition"
        | "heal"
        | "clog_link"
        | "clog_node"
        | "unclog"
        | "set_loss"
        | "set_duplicate"
        | "set_corrupt"
        | "set_default_link"
        | "set_link"
        | "set_capacity"
        | "set_disk"
        | "crash_at_disk_operation"
        | "buggify"
        | "invalid_action" => "fault",
        "disk" | "disk_done" => "disk",
        "drop" | "duplicate" | "reject" | "hold" | "release" => "network",
        "start" | "timer" | "stop" => "engine",
        _ => "workload",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "\
# orrery trace format 2 scenario=demo seed=3
0.000000000 n0 start incarnation=0
0.000000000 n1 start incarnation=0
0.000000000 - partition n0|n1 for=2ms
0.001000000 n0 send to=n1 pkt=0 Ping
0.001000000 n0 duplicate to=n1 pkt=0
0.002000000 - heal
0.002500000 n1 deliver from=n0 pkt=0 Ping
0.002600000 n1 deliver from=n0 pkt=0 duplicate=true Ping
0.003000000 n1 crash
0.003000000 n2 drop from=n0 pkt=1 cause=node_down Ping
0.004000000 n1 start incarnation=1
0.005000000 n0 pause
";

    fn events() -> Vec<Json> {
        let file = TraceFile::parse(TRACE).expect("parses");
        let document: Json = serde_json::from_str(&export(&file)).expect("valid JSON");
        document["traceEvents"].as_array().cloned().expect("an event array")
    }

    fn named<'a>(events: &'a [Json], ph: &str, name: &str) -> Vec<&'a Json> {
        events.iter().filter(|e| e["ph"] == ph && e["name"] == name).collect()
    }

    // Proves the export is valid JSON with one named process per node plus the world, each
    // with its named threads.
    #[test]
    fn one_track_per_node() {
        let events = events();
        let processes: Vec<(u64, &str)> = named(&events, "M", "process_name")
            .iter()
            .map(|e| (e["pid"].as_u64().unwrap_or(0), e["args"]["name"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(processes, [(1, "world (demo seed 3)"), (2, "n0"), (3, "n1"), (4, "n2")]);
        assert_eq!(named(&events, "M", "thread_name").len(), 8);
    }

    // Proves every delivery and in-flight drop is its own flow from its packet's send, with a
    // unique id (a duplicated packet's two deliveries are two flows), on the right tracks, and a
    // drop whose send is not in the trace gets no dangling arrow.
    #[test]
    fn messages_are_flows() {
        let events = events();
        let flows: Vec<(&str, u64, u64)> = events
            .iter()
            .filter(|e| e["cat"] == "packet")
            .map(|e| {
                let ph = e["ph"].as_str().unwrap_or("");
                (ph, e["id"].as_u64().unwrap_or(99), e["pid"].as_u64().unwrap_or(0))
            })
            .collect();
        assert_eq!(flows, [("s", 0, 2), ("s", 1, 2), ("f", 0, 3), ("f", 1, 3)]);
        let packets: Vec<&Json> =
            events.iter().filter(|e| e["cat"] == "packet").map(|e| &e["args"]["pkt"]).collect();
        assert!(packets.iter().all(|pkt| **pkt == json!(0)), "{packets:?}");
        let send = named(&events, "X", "send to n1");
        assert_eq!(send.len(), 1);
        assert_eq!(send[0]["ts"], json!(1000.0));
        assert_eq!(send[0]["args"]["detail"], "Ping");
    }

    // Proves crashes, pauses and partitions are spans on their own threads (closed by a
    // start, by heal, or by the end of the trace) and faults are instants.
    #[test]
    fn lifecycle_and_partitions_are_spans() {
        let events = events();
        let span = |name: &str| -> Vec<(u64, f64, f64)> {
            named(&events, "X", name)
                .iter()
                .map(|e| {
                    assert_eq!(e["tid"], SPANS_TID);
                    let number = |key: &str| e[key].as_f64().unwrap_or(-1.0);
                    (e["pid"].as_u64().unwrap_or(0), number("ts"), number("dur"))
                })
                .collect()
        };
        assert_eq!(span("partition"), [(1, 0.0, 2000.0)]);
        assert_eq!(span("down"), [(3, 3000.0, 1000.0)]);
        assert_eq!(span("paused"), [(2, 5000.0, 0.0)]);
        let crash = named(&events, "i", "crash");
        assert_eq!(crash.len(), 1);
        assert_eq!(crash[0]["cat"], "fault");
    }
}
