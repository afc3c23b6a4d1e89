//! Views of a trace: the events of some nodes, of some kinds, within a window of virtual time.
//!
//! Every criterion left empty selects everything; the criteria combine with "and". A filtered
//! view keeps the header and says what it selected in a comment line, so a file written from
//! it still reads back and still says what it is.

use std::fmt;

use crate::node::NodeId;
use crate::time::{Duration, Instant};

use super::format::{parse_node, TraceFile};
use super::{NodeNames, OwnedValue, Record};

/// Which events to keep.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// Events at these nodes; `None` in the list stands for events of the world (`-`).
    pub nodes: Vec<Option<NodeId>>,
    /// Events of these kinds (exact names: `deliver`, `crash`, a workload's own kinds).
    pub kinds: Vec<String>,
    /// Events at or after this time.
    pub from: Option<Instant>,
    /// Events strictly before this time.
    pub to: Option<Instant>,
}

impl Filter {
    /// Builds a filter from command-line text: `n1,n2` (`-` for the world), `deliver,crash`,
    /// and times as durations since the start (`2s`, `1500ms`).
    pub fn parse(
        nodes: Option<&str>,
        kinds: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Filter, String> {
        let list = |text: Option<&str>| -> Vec<String> {
            text.map(|t| t.split(',').map(str::trim).filter(|s| !s.is_empty()))
                .into_iter()
                .flatten()
                .map(str::to_string)
                .collect()
        };
        let time = |flag: &str, text: Option<&str>| -> Result<Option<Instant>, String> {
            text.map(|t| {
                t.parse::<Duration>()
                    .map(|d| Instant::ZERO + d)
                    .map_err(|e| format!("--{flag} {t:?}: {e}"))
            })
            .transpose()
        };
        let nodes =
            list(nodes).iter().map(|n| parse_node(n)).collect::<Result<Vec<_>, String>>()?;
        let filter =
            Filter { nodes, kinds: list(kinds), from: time("from", from)?, to: time("to", to)? };
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if from >= to {
                return Err(format!("empty time window: --from {from} is not before --to {to}"));
            }
        }
        Ok(filter)
    }

    /// Whether the filter selects everything.
    pub fn is_everything(&self) -> bool {
        *self == Filter::default()
    }

    pub fn matches(&self, record: &Record) -> bool {
        (self.nodes.is_empty() || self.nodes.contains(&record.node))
            && (self.kinds.is_empty() || self.kinds.contains(&record.kind))
            && self.from.is_none_or(|from| record.time >= from)
            && self.to.is_none_or(|to| record.time < to)
    }

    /// The selected events, the header kept.
    pub fn apply(&self, file: &TraceFile) -> TraceFile {
        TraceFile {
            header: file.header.clone(),
            records: file.records.iter().filter(|r| self.matches(r)).cloned().collect(),
        }
    }

    /// The kinds asked for that no event of `file` has: most likely a typo.
    pub fn absent_kinds(&self, file: &TraceFile) -> Vec<&str> {
        self.kinds
            .iter()
            .filter(|kind| !file.records.iter().any(|r| r.kind == **kind))
            .map(String::as_str)
            .collect()
    }
}

impl fmt::Display for Filter {
    /// The comment line of a filtered view: `# filter node=n1 kind=deliver,crash from=... to=...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.comment(&NodeNames::default()))
    }
}

impl Filter {
    /// The comment line of a filtered view of a trace whose nodes go by `names`.
    pub fn comment(&self, names: &NodeNames) -> String {
        let mut text = String::new();
        let _ = self.write_comment(&mut text, names);
        text
    }

    fn write_comment(&self, f: &mut impl fmt::Write, names: &NodeNames) -> fmt::Result {
        f.write_str("# filter")?;
        if self.is_everything() {
            return f.write_str(" none");
        }
        if !self.nodes.is_empty() {
            let nodes: Vec<String> = self
                .nodes
                .iter()
                .map(|n| n.map_or("-".to_string(), |n| names.render_value(&OwnedValue::Node(n))))
                .collect();
            write!(f, " node={}", nodes.join(","))?;
        }
        if !self.kinds.is_empty() {
            write!(f, " kind={}", self.kinds.join(","))?;
        }
        if let Some(from) = self.from {
            write!(f, " from={from}")?;
        }
        if let Some(to) = self.to {
            write!(f, " to={to}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::ms;

    fn file() -> TraceFile {
        let text = "\
0.000000000 n0 start incarnation=0
0.000000000 - partition n0|n1
0.001000000 n0 send to=n1 pkt=0 Ping
0.002000000 n1 deliver from=n0 pkt=0 Ping
0.003000000 n1 crash
0.004000000 - heal
";
        TraceFile::parse(text).expect("parses")
    }

    fn kinds(filter: &Filter) -> Vec<String> {
        filter.apply(&file()).records.into_iter().map(|r| r.kind).collect()
    }

    // Proves each criterion selects what it says, that they combine with "and", that the
    // window is [from, to), and that `-` selects the world's events.
    #[test]
    fn filters_by_node_kind_and_time() {
        let parse = |n, k, from, to| Filter::parse(n, k, from, to).expect("valid filter");
        assert_eq!(kinds(&parse(None, None, None, None)).len(), 6);
        assert_eq!(kinds(&parse(Some("n1"), None, None, None)), ["deliver", "crash"]);
        assert_eq!(kinds(&parse(Some("-"), None, None, None)), ["partition", "heal"]);
        assert_eq!(kinds(&parse(None, Some("deliver, crash"), None, None)), ["deliver", "crash"]);
        assert_eq!(kinds(&parse(None, None, Some("1ms"), Some("3ms"))), ["send", "deliver"]);
        assert_eq!(
            kinds(&parse(Some("n0,n1"), Some("start,crash"), None, None)),
            ["start", "crash"]
        );
        assert_eq!(kinds(&parse(Some("n0"), Some("deliver"), None, None)), Vec::<String>::new());
        let filter = parse(Some("n1,-"), Some("heal"), Some("2ms"), None);
        assert_eq!(filter.from, Some(Instant::ZERO + ms(2)));
        assert_eq!(filter.to_string(), "# filter node=n1,- kind=heal from=0.002000000");
        assert_eq!(filter.absent_kinds(&file()), Vec::<&str>::new());
        assert_eq!(parse(None, Some("delivr"), None, None).absent_kinds(&file()), ["delivr"]);
    }

    // Proves bad filter text is an error that names the flag.
    #[test]
    fn rejects_bad_filters() {
        assert!(Filter::parse(Some("node1"), None, None, None).is_err());
        assert!(
            Filter::parse(None, None, Some("2 apples"), None).is_err_and(|e| e.contains("--from"))
        );
        assert!(
            Filter::parse(None, None, Some("3s"), Some("2s")).is_err_and(|e| e.contains("empty"))
        );
    }
}
