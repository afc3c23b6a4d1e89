//! The space-time diagram of a trace, as data: one lane per node (scenario names), every event
//! with its trace line, messages from send to delivery (drops, duplicates, corruptions and
//! rejections marked), spans for down, paused, partitioned and clogged, and markers for phase
//! boundaries and the failing check.
//!
//! Reading is tolerant by design, since the trace format gains kinds: an unknown kind is an
//! event like any other (its own filter, drawn on its node's lane); a `phase` event (once the
//! engine writes them) is a phase boundary, otherwise the run plan's phases are used; every
//! `stop` line is a failure marker unless the caller names the failure, which then marks it.
//! Only what the current engine writes is interpreted further (docs/TRACE_FORMAT.md).
//!
//! Events are columns (one array per attribute) rather than objects: a 40,000-event trace is
//! tens of megabytes of message bodies already, and columns keep the rest small.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::node::NodeId;
use crate::runner::Failure;
use crate::scenario::RunPlan;
use crate::time::Instant;
use crate::topology::Topology;
use crate::trace::{NodeNames, OwnedValue, Record, TraceFile};

mod spans;

/// What to draw: a trace, and what else is known about its run.
#[derive(Debug, Clone)]
pub struct SpaceTime<'a> {
    file: &'a TraceFile,
    topology: Option<&'a Topology>,
    /// Phase boundaries of the run plan, used when the trace has no `phase` events.
    plan_phases: Vec<(Instant, String)>,
    failure: Option<FailureMark>,
}

/// The failing check, where the caller knows it (a liveness or final check leaves no `stop`
/// line in the trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureMark {
    pub check: String,
    /// `invariant`, `liveness`, `check`, `panic`, `limit`, ...
    pub kind: String,
    pub message: String,
    pub time: Instant,
}

impl From<&Failure> for FailureMark {
    fn from(failure: &Failure) -> FailureMark {
        FailureMark {
            check: failure.check.clone(),
            kind: failure.kind.name().to_string(),
            message: failure.message.clone(),
            time: failure.vtime,
        }
    }
}

/// The diagram's data, as the page embeds it.
#[derive(Debug, Clone, Serialize)]
pub struct SpaceTimeData {
    pub title: String,
    pub scenario: Option<String>,
    pub seed: Option<u64>,
    pub format_version: Option<u32>,
    /// The header's realized values, (label, value) in draw order.
    pub realized: Vec<(String, String)>,
    /// Lane 0 is the world (events with node `-`), then one lane per node in id order.
    pub lanes: Vec<Lane>,
    /// Every kind in the trace, in order of first appearance.
    pub kinds: Vec<KindInfo>,
    pub events: Events,
    pub messages: Messages,
    /// The names of [`Messages::state`] codes, by code.
    pub message_states: Vec<&'static str>,
    pub spans: Vec<Span>,
    pub markers: Vec<Marker>,
    /// The end of the time axis in nanoseconds: the last event or the failure, whichever is
    /// later.
    pub time_end: u64,
}

/// One lane of the diagram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lane {
    /// `nK`, or `-` for the world.
    pub id: String,
    /// The scenario's name for the node (`s0`), or the id when the scenario is not known.
    pub name: String,
    pub role: String,
}

/// One event kind, for the kind filters and colours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindInfo {
    pub name: String,
    /// `message`, `network`, `fault`, `disk`, `engine`, `phase`, `failure` or `workload`.
    pub class: &'static str,
    pub count: usize,
}

/// The events in trace order, one array per attribute.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Events {
    /// Virtual time in nanoseconds, never decreasing.
    pub t: Vec<u64>,
    pub lane: Vec<u32>,
    /// Index into [`SpaceTimeData::kinds`].
    pub kind: Vec<u32>,
    /// The event's trace line, exactly as the text form writes it.
    pub line: Vec<String>,
    /// Where each field ends in the line (byte offsets of its last character plus one, for
    /// ASCII lines also character offsets); free text starts one past the last.
    pub field_ends: Vec<Vec<u32>>,
}

/// Messages in the order they ended, one array per attribute. A message is one delivery (a
/// duplicated packet is two), one in-flight drop, or one packet lost or rejected at its send.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Messages {
    /// The event index of the send, if the trace has it (a packet lost or rejected at its
    /// send has no send line: its drop or reject is the send).
    pub send: Vec<Option<u32>>,
    /// The event index of the delivery, drop or reject.
    pub end: Vec<u32>,
    pub from_lane: Vec<u32>,
    pub to_lane: Vec<u32>,
    /// Index into [`SpaceTimeData::message_states`].
    pub state: Vec<u8>,
}

/// The message states, by code.
pub const MESSAGE_STATES: [&str; 6] =
    ["delivered", "duplicate", "corrupted", "dropped", "lost", "rejected"];
const DELIVERED: u8 = 0;
const DUPLICATE: u8 = 1;
const CORRUPTED: u8 = 2;
const DROPPED: u8 = 3;
const LOST: u8 = 4;
const REJECTED: u8 = 5;

/// A time span on one lane: a node down or paused, a partition, a clog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    pub lane: u32,
    /// `down`, `paused`, `partition` or `clog`.
    pub class: &'static str,
    pub start: u64,
    pub end: u64,
    /// Still open when the trace ends: drawn up to the end.
    pub open: bool,
    pub label: String,
    /// The event that began it.
    pub event: u32,
}

/// A moment across all lanes: a phase boundary, or where a check failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Marker {
    pub t: u64,
    /// `phase`, `failure` or `stop`.
    pub class: &'static str,
    /// One line: the phase, or the failing check and its kind (`replies_match (invariant)`).
    pub label: String,
    /// What the failure said, possibly many lines; empty for a phase.
    pub message: String,
    /// The event that marks it, if the trace has one.
    pub event: Option<u32>,
}

impl<'a> SpaceTime<'a> {
    /// The diagram of `file` alone: lanes named by node id, failures from its `stop` lines.
    pub fn new(file: &'a TraceFile) -> SpaceTime<'a> {
        SpaceTime { file, topology: None, plan_phases: Vec::new(), failure: None }
    }

    /// Names lanes by the scenario's node names and roles.
    pub fn with_topology(mut self, topology: &'a Topology) -> SpaceTime<'a> {
        self.topology = Some(topology);
        self
    }

    /// Names lanes from the plan's topology and marks its phase boundaries (chaos ends, heal
    /// ends, the converge deadline).
    pub fn with_plan(mut self, plan: &'a RunPlan) -> SpaceTime<'a> {
        let chaos_end = Instant::ZERO + plan.phases.chaos;
        let heal_end = chaos_end + plan.phases.heal;
        let mut phases = vec![(chaos_end, "chaos ends: heal (faults stop, nodes recover)")];
        if !plan.phases.heal.is_zero() {
            phases.push((heal_end, "heal ends: converge (liveness checks start)"));
        }
        if !plan.phases.converge_deadline.is_zero() {
            phases.push((heal_end + plan.phases.converge_deadline, "converge deadline"));
        }
        self.plan_phases = phases.into_iter().map(|(at, label)| (at, label.to_string())).collect();
        self.with_topology(&plan.topology)
    }

    /// Marks the failing check (the run's failure, when the caller has it).
    pub fn with_failure(mut self, failure: Option<FailureMark>) -> SpaceTime<'a> {
        self.failure = failure;
        self
    }

    /// The diagram's data.
    pub fn data(&self) -> SpaceTimeData {
        Builder::new(self).build()
    }
}

/// The class of an event kind, for colours and for what the viewer keeps visible at every
/// zoom (everything but `message`, `engine`, `disk` and `network`).
pub fn kind_class(kind: &str) -> &'static str {
    match kind {
        "send" | "deliver" => "message",
        "stop" => "failure",
        "phase" => "phase",
        other => crate::trace::perfetto::category(other),
    }
}

struct Builder<'v, 'a> {
    view: &'v SpaceTime<'a>,
    records: Vec<&'a Record>,
    lanes: Vec<Lane>,
    lane_of_node: BTreeMap<NodeId, u32>,
    data: SpaceTimeData,
}

const WORLD_LANE: u32 = 0;

impl<'v, 'a> Builder<'v, 'a> {
    fn new(view: &'v SpaceTime<'a>) -> Builder<'v, 'a> {
        let mut records: Vec<&Record> = view.file.records.iter().collect();
        // The engine writes events in time order; a hand-made file may not, and the viewer
        // searches by time.
        records.sort_by_key(|record| record.time);
        let header = view.file.header.as_ref();
        let title = match header {
            Some(header) => format!("{} seed {}", header.scenario, header.seed),
            None => "trace".to_string(),
        };
        let data = SpaceTimeData {
            title,
            scenario: header.map(|h| h.scenario.clone()),
            seed: header.map(|h| h.seed),
            format_version: header.map(|h| h.version),
            realized: header.map(|h| h.realized.clone()).unwrap_or_default(),
            lanes: Vec::new(),
            kinds: Vec::new(),
            events: Events::default(),
            messages: Messages::default(),
            message_states: MESSAGE_STATES.to_vec(),
            spans: Vec::new(),
            markers: Vec::new(),
            time_end: 0,
        };
        Builder { view, records, lanes: Vec::new(), lane_of_node: BTreeMap::new(), data }
    }

    fn build(mut self) -> SpaceTimeData {
        self.make_lanes();
        self.events();
        self.messages();
        self.spans();
        self.markers();
        self.data.lanes = std::mem::take(&mut self.lanes);
        self.data
    }

    /// The world, then every node of the topology and every node the trace mentions.
    fn make_lanes(&mut self) {
        let mut nodes: Vec<NodeId> = Vec::new();
        if let Some(topology) = self.view.topology {
            nodes.extend(topology.nodes());
        }
        for record in &self.records {
            nodes.extend(record.node);
            nodes.extend(record.fields.iter().filter_map(|(_, value)| match value {
                OwnedValue::Node(node) => Some(*node),
                _ => None,
            }));
        }
        nodes.sort();
        nodes.dedup();
        self.lanes.push(Lane {
            id: "-".to_string(),
            name: "world".to_string(),
            role: String::new(),
        });
        for node in nodes {
            let spec = self.view.topology.and_then(|topology| topology.node(node));
            self.lane_of_node.insert(node, self.lanes.len() as u32);
            self.lanes.push(Lane {
                id: node.to_string(),
                name: spec.map_or_else(|| node.to_string(), |spec| spec.name.clone()),
                role: spec.map(|spec| spec.role.clone()).unwrap_or_default(),
            });
        }
    }

    fn lane(&self, node: Option<NodeId>) -> u32 {
        node.and_then(|node| self.lane_of_node.get(&node).copied()).unwrap_or(WORLD_LANE)
    }

    fn events(&mut self) {
        let mut kind_index: BTreeMap<&str, u32> = BTreeMap::new();
        let mut kinds: Vec<KindInfo> = Vec::new();
        let mut events = Events::default();
        for record in &self.records {
            let kind = *kind_index.entry(record.kind.as_str()).or_insert_with(|| {
                kinds.push(KindInfo {
                    name: record.kind.clone(),
                    class: kind_class(&record.kind),
                    count: 0,
                });
                kinds.len() as u32 - 1
            });
            kinds[kind as usize].count += 1;
            let (line, field_ends) = line_with_field_ends(record, self.view.file.names());
            events.t.push(record.time.as_nanos());
            events.lane.push(self.lane(record.node));
            events.kind.push(kind);
            events.line.push(line);
            events.field_ends.push(field_ends);
        }
        self.data.time_end = self.records.last().map_or(0, |r| r.time.as_nanos());
        self.data.kinds = kinds;
        self.data.events = events;
    }

    /// Pairs every delivery and in-flight drop with its packet's send, and makes packets lost or rejected at their send messages too.
    fn messages(&mut self) {
        // Packet ids are numbered once per send, so a packet id names one send.
        let mut sends: BTreeMap<u64, u32> = BTreeMap::new();
        let mut messages = Messages::default();
        for (index, record) in self.records.iter().enumerate() {
            let index = index as u32;
            let Some(packet) = unsigned(record, "pkt") else { continue };
            let peer = |name: &str| node_field(record, name);
            let mut push = |send: Option<u32>, from: Option<NodeId>, to: Option<NodeId>, state| {
                messages.send.push(send);
                messages.end.push(index);
                messages.from_lane.push(self.lane(from));
                messages.to_lane.push(self.lane(to));
                messages.state.push(state);
            };
            match record.kind.as_str() {
                "send" => {
                    sends.insert(packet, index);
                }
                "deliver" => {
                    let from = peer("from");
                    let state = match (flag(record, "duplicate"), flag(record, "corrupted")) {
                        (_, true) => CORRUPTED,
                        (true, false) => DUPLICATE,
                        (false, false) => DELIVERED,
                    };
                    push(sends.get(&packet).copied(), from, record.node, state);
                }
                "drop" if peer("from").is_some() => {
                    let from = peer("from");
                    push(sends.get(&packet).copied(), from, record.node, DROPPED);
                }
                "drop" => push(Some(index), record.node, peer("to"), LOST),
                "reject" => push(Some(index), record.node, peer("to"), REJECTED),
                _ => {}
            }
        }
        self.data.messages = messages;
    }

    /// `text` with every node id in it (`n3`) replaced by the scenario's name for the node.
    fn named(&self, text: &str) -> String {
        let mut named = String::with_capacity(text.len());
        let mut word = String::new();
        let flush = |word: &mut String, named: &mut String| {
            match node(word) {
                Some(node) => named.push_str(&self.name(node)),
                None => named.push_str(word),
            }
            word.clear();
        };
        for c in text.chars() {
            if c.is_ascii_alphanumeric() {
                word.push(c);
            } else {
                flush(&mut word, &mut named);
                named.push(c);
            }
        }
        flush(&mut word, &mut named);
        named
    }

    fn name(&self, node: NodeId) -> String {
        self.lanes
            .get(self.lane(Some(node)) as usize)
            .map_or_else(|| node.to_string(), |lane| lane.name.clone())
    }

    /// Phase boundaries (the trace's `phase` events, else the plan's) and the failure: the
    /// caller's, at the `stop` line of its time if there is one, else every `stop` line.
    fn markers(&mut self) {
        let mut markers = Vec::new();
        let phase_events: Vec<usize> =
            (0..self.records.len()).filter(|&i| self.records[i].kind == "phase").collect();
        for &index in &phase_events {
            let record = self.records[index];
            let line = &self.data.events.line[index];
            let text = line.splitn(4, ' ').nth(3).unwrap_or("phase").to_string();
            markers.push(Marker {
                t: record.time.as_nanos(),
                class: "phase",
                label: text,
                message: String::new(),
                event: Some(index as u32),
            });
        }
        let stops: Vec<usize> =
            (0..self.records.len()).filter(|&i| self.records[i].kind == "stop").collect();
        let mut time_end = self.data.time_end;
        match &self.view.failure {
            Some(failure) => {
                let at = failure.time.as_nanos();
                let stop = stops.iter().rev().find(|&&i| self.records[i].time.as_nanos() == at);
                markers.push(Marker {
                    t: at,
                    class: "failure",
                    label: format!("{} ({})", failure.check, failure.kind),
                    message: failure.message.clone(),
                    event: stop.map(|&i| i as u32),
                });
                for &index in stops.iter().filter(|&&i| Some(&i) != stop) {
                    markers.push(self.stop_marker(index, "stop"));
                }
                time_end = time_end.max(at);
            }
            None => markers.extend(stops.iter().map(|&index| self.stop_marker(index, "failure"))),
        }
        if phase_events.is_empty() {
            for (at, label) in &self.view.plan_phases {
                if at.as_nanos() <= time_end {
                    markers.push(Marker {
                        t: at.as_nanos(),
                        class: "phase",
                        label: label.clone(),
                        message: String::new(),
                        event: None,
                    });
                }
            }
        }
        markers.sort_by_key(|marker| marker.t);
        self.data.markers = markers;
        self.data.time_end = time_end.max(1);
    }

    fn stop_marker(&self, index: usize, class: &'static str) -> Marker {
        let record = self.records[index];
        let reason = record.fields.iter().find(|(name, _)| name == "reason");
        Marker {
            t: record.time.as_nanos(),
            class,
            label: reason.map_or_else(|| "stop".to_string(), |(_, value)| value.to_string()),
            message: record.detail.clone().unwrap_or_default(),
            event: Some(index as u32),
        }
    }
}

fn node(text: &str) -> Option<NodeId> {
    crate::trace::format::parse_node(text).ok().flatten()
}

/// The record's trace line (nodes called by `names`) and where each of its fields ends in it.
fn line_with_field_ends(record: &Record, names: &NodeNames) -> (String, Vec<u32>) {
    let head = Record { fields: Vec::new(), detail: None, ..record.clone() };
    let mut length = head.named(names).to_string().len();
    let mut ends = Vec::with_capacity(record.fields.len());
    for (name, value) in &record.fields {
        length += 1 + name.len() + 1 + names.render_value(value).len();
        ends.push(length as u32);
    }
    let line = record.named(names).to_string();
    debug_assert!(line.len() >= length);
    (line, ends)
}

fn unsigned(record: &Record, name: &str) -> Option<u64> {
    match record.fields.iter().find(|(n, _)| n == name) {
        Some((_, OwnedValue::U64(value))) => Some(*value),
        _ => None,
    }
}

fn node_field(record: &Record, name: &str) -> Option<NodeId> {
    match record.fields.iter().find(|(n, _)| n == name) {
        Some((_, OwnedValue::Node(node))) => Some(*node),
        _ => None,
    }
}

fn flag(record: &Record, name: &str) -> bool {
    matches!(record.fields.iter().find(|(n, _)| n == name), Some((_, OwnedValue::Bool(true))))
}

#[cfg(test)]
mod tests;
