//! A trace file: the header (format version, scenario, seed, the realized run plan) and the
//! recorded events, in the text line format both ways.
//!
//! Text is the form for people and for snapshots; it reads back to the same lines (parse then
//! render gives the input). Two things only the JSON-lines form (`json`) keeps exactly: where
//! free text that starts like a field (`offset=5ns ...`) begins, and string values that
//! contain spaces. `docs/TRACE_FORMAT.md` specifies both forms.

use std::fmt::{self, Write as _};

use crate::node::NodeId;
use crate::scenario::RunPlan;
use crate::time::Instant;

use super::names::NO_NAMES;
use super::{NodeNames, OwnedValue, Record, Trace, FORMAT_VERSION};

/// What a trace file says about its run before the first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The format version the file was written in.
    pub version: u32,
    pub scenario: String,
    pub seed: u64,
    /// Every value drawn for this seed, as (label, value) in draw order; labels repeat.
    pub realized: Vec<(String, String)>,
    /// The scenario's node names, by which the lines call the nodes (empty: `nK`).
    pub nodes: NodeNames,
}

/// A whole trace: the header, if the file has one, and the events in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceFile {
    pub header: Option<Header>,
    pub records: Vec<Record>,
}

/// Why a trace file could not be read: the line (counting from 1) and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

const HEADER_PREFIX: &str = "# orrery trace format ";
const REALIZED_PREFIX: &str = "# realized ";
const NODES_PREFIX: &str = "# nodes ";

impl Header {
    /// The header of a run of `plan`, in the current format version.
    pub fn of_plan(plan: &RunPlan) -> Header {
        Header {
            version: FORMAT_VERSION,
            scenario: plan.scenario.clone(),
            seed: plan.seed,
            realized: plan.realized.clone(),
            nodes: NodeNames::of(&plan.topology),
        }
    }
}

impl fmt::Display for Header {
    /// `# orrery trace format 2 scenario=echo-smoke seed=0`, then one
    /// `# realized LABEL = VALUE` line per drawn value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{HEADER_PREFIX}{} scenario={} seed={}",
            self.version, self.scenario, self.seed
        )?;
        if !self.nodes.is_empty() {
            writeln!(f, "{NODES_PREFIX}{}", self.nodes.names().join(" "))?;
        }
        for (label, value) in &self.realized {
            writeln!(f, "{REALIZED_PREFIX}{label} = {value}")?;
        }
        Ok(())
    }
}

impl TraceFile {
    /// The trace of a run of `plan`: its header and whatever `trace` recorded.
    pub fn of_run(plan: &RunPlan, trace: Option<Trace>) -> TraceFile {
        TraceFile {
            header: Some(Header::of_plan(plan)),
            records: trace.map(|mut trace| trace.take_records()).unwrap_or_default(),
        }
    }

    /// The text form: the header, then one line per event.
    pub fn render_text(&self) -> String {
        self.render_text_with(&[])
    }

    /// The text form with comment lines (each starting with `#`) after the header: what a
    /// view of the trace selected or left out.
    pub fn render_text_with(&self, comments: &[String]) -> String {
        let mut text = String::new();
        if let Some(header) = &self.header {
            let _ = write!(text, "{header}");
        }
        for comment in comments {
            debug_assert!(comment.starts_with('#'), "a comment line starts with #");
            let _ = writeln!(text, "{comment}");
        }
        let names = self.names();
        for record in &self.records {
            let _ = writeln!(text, "{}", record.named(names));
        }
        text
    }

    /// The node names the header gives (none without a header).
    pub fn names(&self) -> &NodeNames {
        self.header.as_ref().map_or(&NO_NAMES, |header| &header.nodes)
    }

    /// Reads either form: JSON lines if the first non-empty line is a JSON object, text
    /// otherwise.
    pub fn parse(text: &str) -> Result<TraceFile, ParseError> {
        let first = text.lines().map(str::trim_start).find(|line| !line.is_empty());
        if first.is_some_and(|line| line.starts_with('{')) {
            super::json::parse(text)
        } else {
            parse_text(text)
        }
    }
}

/// Reads the text form. Lines starting with `#` other than the header's are comments (a
/// filtered or windowed view says what it left out in them); empty lines are skipped.
pub fn parse_text(text: &str) -> Result<TraceFile, ParseError> {
    let mut file = TraceFile::default();
    for (index, line) in text.lines().enumerate() {
        let at = |message: String| ParseError { line: index + 1, message };
        if let Some(rest) = line.strip_prefix(HEADER_PREFIX) {
            if file.header.is_some() || !file.records.is_empty() {
                return Err(at("a second header, or a header after events".to_string()));
            }
            file.header = Some(parse_header_line(rest).map_err(at)?);
        } else if let Some(rest) = line.strip_prefix(REALIZED_PREFIX) {
            let header = file
                .header
                .as_mut()
                .ok_or_else(|| at("a realized value before the header".to_string()))?;
            let (label, value) = rest
                .split_once(" = ")
                .ok_or_else(|| at("expected `# realized LABEL = VALUE`".to_string()))?;
            header.realized.push((label.to_string(), value.to_string()));
        } else if let Some(rest) = line.strip_prefix(NODES_PREFIX) {
            let header = (file.header.as_mut())
                .ok_or_else(|| at("node names before the header".to_string()))?;
            let names: Vec<String> = rest.split(' ').map(str::to_string).collect();
            header.nodes = NodeNames::new(names.clone());
            if header.nodes.names() != names.as_slice() {
                return Err(at("expected `# nodes NAME...`: distinct names, one word each".into()));
            }
        } else if line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else {
            let names = file.header.as_ref().map_or(&NO_NAMES, |header| &header.nodes);
            file.records.push(parse_line_named(line, names).map_err(at)?);
        }
    }
    Ok(file)
}

/// Reads `VERSION scenario=NAME seed=N`, the rest of the header's first line.
fn parse_header_line(rest: &str) -> Result<Header, String> {
    let bad = || format!("expected `{HEADER_PREFIX}VERSION scenario=NAME seed=N`");
    let (version, rest) = rest.split_once(" scenario=").ok_or_else(bad)?;
    let (scenario, seed) = rest.rsplit_once(" seed=").ok_or_else(bad)?;
    let version = check_version(version.parse().map_err(|_| bad())?)?;
    Ok(Header {
        version,
        scenario: scenario.to_string(),
        seed: seed.parse().map_err(|_| bad())?,
        realized: Vec::new(),
        nodes: NodeNames::default(),
    })
}

/// Accepts every version this build can read: all of them up to its own.
pub(crate) fn check_version(version: u32) -> Result<u32, String> {
    if version == 0 || version > FORMAT_VERSION {
        return Err(format!(
            "trace format {version} is not one this build reads (1 to {FORMAT_VERSION})"
        ));
    }
    Ok(version)
}

/// Reads one event line: time, node, kind, then `name=value` tokens while they look like
/// fields, then the rest as free text.
pub fn parse_line(line: &str) -> Result<Record, String> {
    parse_line_named(line, &NO_NAMES)
}

/// Reads one event line of a trace whose nodes go by `names`.
pub fn parse_line_named(line: &str, names: &NodeNames) -> Result<Record, String> {
    let (time, rest) = line.split_once(' ').ok_or("expected `TIME NODE KIND ...`")?;
    let time = parse_time(time)?;
    let (node, rest) = rest.split_once(' ').ok_or("expected `TIME NODE KIND ...`")?;
    let node = match names.find(node) {
        Some(node) => Some(node),
        None => parse_node(node)?,
    };
    let (kind, mut rest) = match rest.split_once(' ') {
        Some((kind, rest)) => (kind, Some(rest)),
        None => (rest, None),
    };
    if kind.is_empty() {
        return Err("empty event kind".to_string());
    }
    let mut fields = Vec::new();
    let mut detail = None;
    while let Some(text) = rest {
        let (token, after) = match text.split_once(' ') {
            Some((token, after)) => (token, Some(after)),
            None => (text, None),
        };
        match field_token(token) {
            Some((name, value)) => {
                fields.push((name.to_string(), names.value(value)));
                rest = after;
            }
            None => {
                detail = Some(text.to_string());
                break;
            }
        }
    }
    Ok(Record { time, node, kind: kind.to_string(), fields, detail })
}

/// `name=value` where the name is a word (`[A-Za-z_][A-Za-z0-9_.]*`).
fn field_token(token: &str) -> Option<(&str, &str)> {
    let (name, value) = token.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    let word = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    word.then_some((name, value))
}

/// Reads `SECONDS.NANOS` with exactly nine decimals, as `Instant` renders.
pub fn parse_time(text: &str) -> Result<Instant, String> {
    let bad = || format!("bad time {text:?}: expected seconds with nine decimals (0.001000000)");
    let (seconds, nanos) = text.split_once('.').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(seconds) || !digits(nanos) || nanos.len() != 9 {
        return Err(bad());
    }
    let seconds: u64 = seconds.parse().map_err(|_| bad())?;
    let nanos: u64 = nanos.parse().map_err(|_| bad())?;
    let total = seconds.checked_mul(1_000_000_000).and_then(|s| s.checked_add(nanos));
    total.map(Instant::from_nanos).ok_or_else(bad)
}

/// Reads `nK` or `-` (an event of the world rather than of a node).
pub fn parse_node(text: &str) -> Result<Option<NodeId>, String> {
    if text == "-" {
        return Ok(None);
    }
    match OwnedValue::parse(text) {
        OwnedValue::Node(node) => Ok(Some(node)),
        _ => Err(format!("bad node {text:?}: expected nK or -")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        nanos: u64,
        node: Option<u32>,
        kind: &str,
        fields: &[(&str, OwnedValue)],
        detail: Option<&str>,
    ) -> Record {
        Record {
            time: Instant::from_nanos(nanos),
            node: node.map(NodeId),
            kind: kind.to_string(),
            fields: fields.iter().map(|(n, v)| (n.to_string(), v.clone())).collect(),
            detail: detail.map(str::to_string),
        }
    }

    // Proves the text form reads back to the same records, header included, for the shapes
    // the engine writes.
    #[test]
    fn text_round_trips_records_and_header() {
        let file = TraceFile {
            header: Some(Header {
                version: FORMAT_VERSION,
                scenario: "echo-smoke".to_string(),
                seed: 7,
                realized: vec![
                    ("swarm.loss".to_string(), "on".to_string()),
                    ("swarm.clog.event".to_string(), "n0->n1 at 5ms for 2ms".to_string()),
                    ("swarm.clog.event".to_string(), "n1->n0 at 9ms for 2ms".to_string()),
                ],
                nodes: NodeNames::default(),
            }),
            records: vec![
                record(0, Some(0), "start", &[("incarnation", OwnedValue::U64(0))], None),
                record(
                    1_000_000,
                    Some(1),
                    "deliver",
                    &[
                        ("from", OwnedValue::Node(NodeId(0))),
                        ("pkt", OwnedValue::U64(17)),
                        ("duplicate", OwnedValue::Bool(true)),
                    ],
                    Some("Ping { n: 3, note: \"a b=c\" }"),
                ),
                record(2_000_000_001, None, "heal", &[], None),
                record(3, None, "clog_link", &[], Some("n0->n1 for=100ms")),
                record(4, Some(2), "moved", &[("delta", OwnedValue::I64(-4))], Some("")),
            ],
        };
        let text = file.render_text();
        let parsed = TraceFile::parse(&text).expect("parses");
        assert_eq!(parsed, file);
        assert_eq!(parsed.render_text(), text);

        // With the scenario's names, every node is called by its name, in the node column
        // and in node-valued fields, and the lines read back to the same node ids.
        let mut named = file.clone();
        let names = ["s0", "c0", "c1"].map(String::from).to_vec();
        named.header.as_mut().unwrap().nodes = NodeNames::new(names);
        let text = named.render_text();
        assert!(text.contains("\n# nodes s0 c0 c1\n"), "{text}");
        assert!(text.contains("0.001000000 c0 deliver from=s0 pkt=17"), "{text}");
        assert!(text.contains("0.000000004 c1 moved"), "{text}");
        let parsed = TraceFile::parse(&text).expect("parses");
        assert_eq!(parsed, named);
        assert_eq!(parsed.render_text(), text);
    }

    // Proves names that could not be one token of a line, or that repeat, or that are the
    // ids anyway, leave the nodes called by their ids.
    #[test]
    fn unusable_names_fall_back_to_ids() {
        for names in
            [vec!["a b", "c"], vec!["x", "x"], vec!["n0", "n1"], vec!["-", "y"], vec!["k=v", "y"]]
        {
            assert!(
                NodeNames::new(names.iter().map(|s| s.to_string()).collect()).is_empty(),
                "{names:?}"
            );
        }
        let bad = "# orrery trace format 3 scenario=s seed=1\n# nodes a a\n";
        assert!(TraceFile::parse(bad).is_err());
    }

    // Proves every line reads back to itself even where text is ambiguous (a detail that
    // looks like fields, a string value with a space, an escaped newline).
    #[test]
    fn ambiguous_lines_still_render_back_identically() {
        for line in [
            "0.000000000 n1 set_clock offset=5ns drift=3ppm",
            "0.000000001 - stop reason=invariant:x first line\\nsecond line",
            "1.500000000 n0 note text=hello world",
            "1.500000000 n0 note key= n03 -0 007",
        ] {
            let record = parse_line(line).expect(line);
            assert_eq!(record.to_string(), line);
        }
    }

    // Proves malformed lines and headers name the line and what is wrong.
    #[test]
    fn rejects_malformed_input_with_a_line_number() {
        for (text, line, needle) in [
            ("0.1 n0 start\n", 1, "nine decimals"),
            ("0.000000000 x0 start\n", 1, "bad node"),
            ("0.000000000 n0\n", 1, "expected"),
            ("# orrery trace format 99 scenario=a seed=1\n", 1, "not one this build reads"),
            ("# orrery trace format 2 scenario=a\n", 1, "expected"),
            ("# realized a = b\n", 1, "before the header"),
            ("0.000000000 n0 start\n# orrery trace format 2 scenario=a seed=1\n", 2, "header"),
        ] {
            let error = TraceFile::parse(text).expect_err(text);
            assert_eq!(error.line, line, "{text}");
            assert!(error.message.contains(needle), "{text}: {error}");
        }
    }
}
