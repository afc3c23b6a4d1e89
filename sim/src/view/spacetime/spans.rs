//! Spans of the space-time diagram: a node down from a crash to its next start, paused from
//! pause to resume, partitions (with each node's side) until their duration, a heal or the
//! next partition, clogs until their duration or an unclog.

use std::collections::BTreeMap;

use crate::node::NodeId;
use crate::time::Duration;

use super::{node, Builder, Span, WORLD_LANE};

impl Builder<'_, '_> {
    /// Down from a crash to the next start, paused from pause to resume, partitions until
    /// their duration, a heal or the next partition, clogs until their duration or an unclog.
    pub(super) fn spans(&mut self) {
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
