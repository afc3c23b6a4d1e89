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
use crate::time::{Duration, Instant};
use crate::topology::Topology;
use crate::trace::{OwnedValue, Record, TraceFile};

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
            let (line, field_ends) = line_with_field_ends(record);
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

    /// Down from a crash to the next start, paused from pause to resume, partitions until
    /// their duration, a heal or the next partition, clogs until their duration or an unclog.
    fn spans(&mut self) {
        let end = self.data.time_end;
        let mut node_state: BTreeMap<u32, Span> = BTreeMap::new();
        let mut partitions: Vec<Opened> = Vec::new();
        let mut clogs: Vec<Opened> = Vec::new();
        let mut done: Vec<Span> = Vec::new();
        for (index, record) in self.records.iter().enumerate() {
            let now = record.time.as_nanos();
            close_expired(&mut partitions, &mut done, now);
            close_expired(&mut clogs, &mut done, now);
            let lane = self.lane(record.node);
            let detail = record.detail.as_deref().unwrap_or("");
            let span = |lane, class, label: String| Span {
                lane,
                class,
                start: now,
                end,
                open: true,
                label,
                event: index as u32,
            };
            let crashed = matches!(record.kind.as_str(), "crash" | "restart")
                || (record.kind == "disk" && detail.starts_with("Crash("));
            let current = node_state.get(&lane).map(|span| span.class);
            match (record.node, record.kind.as_str()) {
                (Some(_), _) if crashed && current != Some("down") => {
                    done.extend(node_state.remove(&lane).map(|open| open.closed_at(now)));
                    let label = format!("down ({})", record.kind);
                    node_state.insert(lane, span(lane, "down", label));
                }
                (Some(_), "start") if current.is_some() => {
                    done.extend(node_state.remove(&lane).map(|open| open.closed_at(now)));
                }
                (Some(_), "pause") if current.is_none() => {
                    node_state.insert(lane, span(lane, "paused", "paused".to_string()));
                }
                (Some(_), "resume") if current == Some("paused") => {
                    done.extend(node_state.remove(&lane).map(|open| open.closed_at(now)));
                }
                (None, "partition") => {
                    close_all(&mut partitions, &mut done, now);
                    let (shape, until) = split_duration(detail, now);
                    let label = format!("partition {}", self.named(shape));
                    partitions.push(Opened { span: span(WORLD_LANE, "partition", label), until });
                    for (node, label) in self.partition_sides(shape) {
                        let span = span(self.lane(Some(node)), "partition", label);
                        partitions.push(Opened { span, until });
                    }
                }
                (None, "heal") => close_all(&mut partitions, &mut done, now),
                (None, "clog_link") => {
                    let (link, until) = split_duration(detail, now);
                    let ends = link.split_once("->").map(|(from, to)| (node(from), node(to)));
                    if let Some((Some(from), Some(to))) = ends {
                        let (from_lane, to_lane) = (self.lane(Some(from)), self.lane(Some(to)));
                        let to_label = format!("clog to {}", self.name(to));
                        let from_label = format!("clog from {}", self.name(from));
                        clogs.push(Opened { span: span(from_lane, "clog", to_label), until });
                        clogs.push(Opened { span: span(to_lane, "clog", from_label), until });
                    }
                }
                (Some(_), "clog_node") => {
                    let (_, until) = split_duration(detail, now);
                    clogs.push(Opened { span: span(lane, "clog", "clogged".to_string()), until });
                }
                (None, "unclog") => close_all(&mut clogs, &mut done, now),
                _ => {}
            }
        }
        close_expired(&mut partitions, &mut done, end);
        close_expired(&mut clogs, &mut done, end);
        // What is left is still open when the trace ends: drawn to its end, marked open.
        done.extend(node_state.into_values());
        done.extend(partitions.into_iter().chain(clogs).map(|opened| opened.span));
        done.sort_by_key(|span| (span.start, span.lane, span.event));
        self.data.spans = done;
    }

    /// Which side each node of a partition shape is on: `n0,n3|n1,n2` is two groups (sides A
    /// and B); any other shape (isolate, one-way, ring) labels the nodes it names with it.
    fn partition_sides(&self, shape: &str) -> Vec<(NodeId, String)> {
        let parse = node;
        let groups: Option<Vec<Vec<NodeId>>> = shape
            .split('|')
            .map(|group| group.split(',').map(parse).collect::<Option<Vec<NodeId>>>())
            .collect();
        match groups {
            Some(groups) if groups.len() > 1 => {
                let mut sides = Vec::new();
                for (index, group) in groups.iter().enumerate() {
                    let letter = char::from(b'A' + (index % 26) as u8);
                    let names: Vec<String> = group.iter().map(|node| self.name(*node)).collect();
                    for node in group {
                        sides
                            .push((*node, format!("partition side {letter}: {}", names.join(","))));
                    }
                }
                sides
            }
            _ => {
                let mut nodes: Vec<NodeId> =
                    shape.split(|c: char| !c.is_ascii_alphanumeric()).filter_map(parse).collect();
                nodes.sort();
                nodes.dedup();
                let label = format!("partition {}", self.named(shape));
                nodes.into_iter().map(|node| (node, label.clone())).collect()
            }
        }
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

/// A span that ends by itself at `until` (a partition or clog with a duration) unless an
/// event ends it first.
struct Opened {
    span: Span,
    until: Option<u64>,
}

impl Span {
    fn closed_at(self, at: u64) -> Span {
        Span { end: at.max(self.start), open: false, ..self }
    }
}

/// Closes the spans whose duration ran out by `now`, at the time it ran out.
fn close_expired(open: &mut Vec<Opened>, done: &mut Vec<Span>, now: u64) {
    let (expired, still): (Vec<Opened>, Vec<Opened>) =
        open.drain(..).partition(|opened| opened.until.is_some_and(|until| until <= now));
    done.extend(expired.into_iter().map(|opened| {
        let until = opened.until.unwrap_or(now);
        opened.span.closed_at(until)
    }));
    *open = still;
}

/// Closes every span at `now`, or earlier where its duration ran out before.
fn close_all(open: &mut Vec<Opened>, done: &mut Vec<Span>, now: u64) {
    done.extend(open.drain(..).map(|opened| {
        let at = opened.until.map_or(now, |until| until.min(now));
        opened.span.closed_at(at)
    }));
}

fn node(text: &str) -> Option<NodeId> {
    crate::trace::format::parse_node(text).ok().flatten()
}

/// The record's trace line and where each of its fields ends in it.
fn line_with_field_ends(record: &Record) -> (String, Vec<u32>) {
    let head = Record { fields: Vec::new(), detail: None, ..record.clone() }.to_string();
    let mut length = head.len();
    let mut ends = Vec::with_capacity(record.fields.len());
    for (name, value) in &record.fields {
        length += 1 + name.len() + 1 + value.to_string().len();
        ends.push(length as u32);
    }
    let line = record.to_string();
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

/// Splits `SHAPE for=DURATION` into the shape and when it ends by itself (none without a
/// duration, or with one that does not parse).
fn split_duration(detail: &str, now: u64) -> (&str, Option<u64>) {
    if let Some(rest) = detail.strip_prefix("for=") {
        return ("", rest.parse::<Duration>().ok().map(|d| now.saturating_add(d.as_nanos())));
    }
    match detail.rsplit_once(" for=") {
        Some((shape, duration)) => {
            (shape, duration.parse::<Duration>().ok().map(|d| now.saturating_add(d.as_nanos())))
        }
        None => (detail, None),
    }
}

#[cfg(test)]
mod tests {
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
        for (name, role) in [("s0", "server"), ("s1", "server"), ("c0", "client"), ("c1", "client")]
        {
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
                (
                    send0,
                    "0.002600000 n1 deliver from=n0 pkt=0 duplicate=true Ping",
                    "duplicate",
                    1,
                    2
                ),
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
}
