//! The difference between two traces, for a person: where the events first diverge, with a
//! few events of context on each side, then how the remainders differ, counted by event kind.
//!
//! Events compare by their rendered line, so a text file and a JSON-lines file of the same run
//! are the same trace. Headers are compared too: two runs can only be "the same" if they drew
//! the same realized plan.

use std::collections::BTreeMap;
use std::fmt;

use super::format::TraceFile;
use super::{first_difference, Record};

/// How two traces differ; `is_same()` if they do not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// `scenario=NAME seed=N` of each side, when it has a header.
    pub left_title: Option<String>,
    pub right_title: Option<String>,
    pub left_events: usize,
    pub right_events: usize,
    /// Realized plan values that differ: (position, left `label = value`, right).
    pub realized: Vec<(usize, Option<String>, Option<String>)>,
    /// The first diverging event, if the events differ.
    pub divergence: Option<EventDivergence>,
}

/// Where the events first differ, with context, and the remainders by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDivergence {
    /// Index (from 0) of the first event that differs, or where the shorter trace ends.
    pub index: usize,
    /// Up to `context` common events just before it, with their indices.
    pub before: Vec<(usize, String)>,
    /// Up to `context` events of each side from the divergence on.
    pub left_after: Vec<(usize, String)>,
    pub right_after: Vec<(usize, String)>,
    /// For every event kind in either remainder: (kind, left count, right count).
    pub remainder: Vec<(String, usize, usize)>,
}

/// At most this many differing realized values are listed; the rest are counted.
const REALIZED_SHOWN_MAX: usize = 10;

/// Compares two traces, showing `context` events around the first divergence.
pub fn diff(left: &TraceFile, right: &TraceFile, context: usize) -> Diff {
    let title = |file: &TraceFile| {
        file.header.as_ref().map(|h| format!("scenario={} seed={}", h.scenario, h.seed))
    };
    let realized = |file: &TraceFile| -> Vec<String> {
        file.header.iter().flat_map(|h| &h.realized).map(|(l, v)| format!("{l} = {v}")).collect()
    };
    let (left_realized, right_realized) = (realized(left), realized(right));
    let realized = (0..left_realized.len().max(right_realized.len()))
        .filter(|&i| left_realized.get(i) != right_realized.get(i))
        .map(|i| (i, left_realized.get(i).cloned(), right_realized.get(i).cloned()))
        .collect();
    // Events compare by node id (two builds may name nodes differently) and show by name.
    let lines =
        |records: &[Record]| -> Vec<String> { records.iter().map(ToString::to_string).collect() };
    let shown = |file: &TraceFile| -> Vec<String> {
        file.records.iter().map(|record| record.named(file.names()).to_string()).collect()
    };
    let divergence = first_difference(&lines(&left.records), &lines(&right.records)).map(|index| {
        let (left_lines, right_lines) = (shown(left), shown(right));
        let numbered = |lines: &[String], range: std::ops::Range<usize>| -> Vec<(usize, String)> {
            let range = range.start.min(lines.len())..range.end.min(lines.len());
            range.clone().zip(lines[range].iter().cloned()).collect()
        };
        let mut remainder: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for record in left.records.get(index..).unwrap_or(&[]) {
            remainder.entry(&record.kind).or_default().0 += 1;
        }
        for record in right.records.get(index..).unwrap_or(&[]) {
            remainder.entry(&record.kind).or_default().1 += 1;
        }
        EventDivergence {
            index,
            before: numbered(&left_lines, index.saturating_sub(context)..index),
            left_after: numbered(&left_lines, index..index + context),
            right_after: numbered(&right_lines, index..index + context),
            remainder: remainder.into_iter().map(|(k, (l, r))| (k.to_string(), l, r)).collect(),
        }
    });
    Diff {
        left_title: title(left),
        right_title: title(right),
        left_events: left.records.len(),
        right_events: right.records.len(),
        realized,
        divergence,
    }
}

impl Diff {
    pub fn is_same(&self) -> bool {
        self.realized.is_empty() && self.divergence.is_none()
    }
}

impl fmt::Display for Diff {
    /// Unified-diff conventions: `-` lines are the left trace's, `+` lines the right's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let title = |t: &Option<String>| t.clone().unwrap_or_else(|| "(no header)".to_string());
        writeln!(f, "--- {} ({} events)", title(&self.left_title), self.left_events)?;
        writeln!(f, "+++ {} ({} events)", title(&self.right_title), self.right_events)?;
        if self.is_same() {
            return writeln!(f, "same: every event and every realized value are equal");
        }
        if !self.realized.is_empty() {
            writeln!(f, "realized plan: {} value(s) differ", self.realized.len())?;
            let none = || "(none)".to_string();
            for (index, left, right) in self.realized.iter().take(REALIZED_SHOWN_MAX) {
                writeln!(f, "  - [{index}] {}", left.clone().unwrap_or_else(none))?;
                writeln!(f, "  + [{index}] {}", right.clone().unwrap_or_else(none))?;
            }
            if self.realized.len() > REALIZED_SHOWN_MAX {
                writeln!(f, "  ... {} more", self.realized.len() - REALIZED_SHOWN_MAX)?;
            }
        }
        let Some(divergence) = &self.divergence else {
            return writeln!(f, "events: all {} equal", self.left_events);
        };
        let ended = |events: usize| if divergence.index == events { " (trace ended)" } else { "" };
        writeln!(
            f,
            "first divergence at event {} (counting from 0){}{}:",
            divergence.index,
            ended(self.left_events),
            ended(self.right_events)
        )?;
        for (index, line) in &divergence.before {
            writeln!(f, "  {index:>7}  {line}")?;
        }
        for (index, line) in &divergence.left_after {
            writeln!(f, "- {index:>7}  {line}")?;
        }
        for (index, line) in &divergence.right_after {
            writeln!(f, "+ {index:>7}  {line}")?;
        }
        writeln!(
            f,
            "remainder from event {}: {} events left, {} right",
            divergence.index,
            self.left_events.saturating_sub(divergence.index),
            self.right_events.saturating_sub(divergence.index)
        )?;
        let width = divergence.remainder.iter().map(|(k, ..)| k.len()).max().unwrap_or(4).max(4);
        writeln!(f, "  {:<width$} {:>9} {:>9} {:>9}", "kind", "left", "right", "change")?;
        for (kind, left, right) in &divergence.remainder {
            let change = *right as i64 - *left as i64;
            let change = if change == 0 { "=".to_string() } else { format!("{change:+}") };
            writeln!(f, "  {kind:<width$} {left:>9} {right:>9} {change:>9}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Header;

    /// A trace of `n` events, `send` and `deliver` alternating, one millisecond apart.
    fn events(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let kind = if i % 2 == 0 { "send to=n1" } else { "deliver from=n0" };
                format!("0.{:09} n{} {kind} pkt={i}", i * 1_000_000, i % 2)
            })
            .collect()
    }

    fn file(lines: &[String]) -> TraceFile {
        TraceFile::parse(&(lines.join("\n") + "\n")).expect("parses")
    }

    // Proves identical traces are the same, whichever form they were read from.
    #[test]
    fn equal_traces_are_the_same() {
        let text = file(&events(10));
        let json = TraceFile::parse(&crate::trace::json::render(&text)).expect("parses");
        let d = diff(&text, &json, 3);
        assert!(d.is_same(), "{d}");
        assert!(d.to_string().contains("same"));
    }

    // Proves the first divergence is found at the right index, with the requested context on
    // each side and the remainders counted by kind.
    #[test]
    fn finds_the_first_divergence_with_context() {
        let left = events(20);
        let mut right = left.clone();
        right[12] = "0.012000000 n0 crash".to_string();
        right.push("0.020000000 n1 timer id=0 tag=0".to_string());
        let d = diff(&file(&left), &file(&right), 3);
        let divergence = d.divergence.clone().expect("diverges");
        assert_eq!(divergence.index, 12);
        assert_eq!(divergence.before.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [9, 10, 11]);
        assert_eq!(divergence.left_after[0], (12, left[12].clone()));
        assert_eq!(divergence.right_after[0], (12, right[12].clone()));
        assert_eq!(divergence.left_after.len(), 3);
        assert_eq!(
            divergence.remainder,
            [
                ("crash".to_string(), 0, 1),
                ("deliver".to_string(), 4, 4),
                ("send".to_string(), 4, 3),
                ("timer".to_string(), 0, 1)
            ]
        );
        let text = d.to_string();
        assert!(text.contains("first divergence at event 12"), "{text}");
        assert!(text.contains(&format!("-      12  {}", left[12])), "{text}");
        assert!(text.contains(&format!("+      12  {}", right[12])), "{text}");
    }

    // Proves a trace that is a prefix of the other diverges where it ends, and a divergence
    // at the first event has no context before it.
    #[test]
    fn divergence_at_the_ends() {
        let d = diff(&file(&events(5)), &file(&events(8)), 3);
        let divergence = d.divergence.clone().expect("diverges");
        assert_eq!(divergence.index, 5);
        assert!(divergence.left_after.is_empty());
        assert_eq!(divergence.right_after.len(), 3);
        assert!(d.to_string().contains("(trace ended)"));
        let mut other = events(5);
        other[0] = "0.000000000 n0 start incarnation=0".to_string();
        let d = diff(&file(&events(5)), &file(&other), 3);
        assert_eq!(d.divergence.as_ref().map(|d| (d.index, d.before.len())), Some((0, 0)));
    }

    // Proves equal events under different realized plans are a difference, listed by value.
    #[test]
    fn realized_plans_are_compared() {
        let header = |value: &str| Header {
            version: 2,
            scenario: "s".to_string(),
            seed: 1,
            realized: vec![("swarm.loss".into(), "on".into()), ("swarm.rate".into(), value.into())],
            nodes: Default::default(),
        };
        let mut left = file(&events(3));
        let mut right = left.clone();
        left.header = Some(header("0.1"));
        right.header = Some(header("0.2"));
        let d = diff(&left, &right, 3);
        assert!(!d.is_same());
        assert_eq!(
            d.realized,
            [(1, Some("swarm.rate = 0.1".into()), Some("swarm.rate = 0.2".into()))]
        );
        assert!(d.divergence.is_none());
    }
}
