//! Bad scenario input: every file in `tests/bad_scenarios/` must be refused with a located
//! error. Each file's first line says what: `# expect: <line>:<col> <part of the message>`.
//! Also: no input makes the loader panic (prefixes and line deletions of good and bad files).

use std::path::{Path, PathBuf};

use orrery_sim::scenario::{self, ScenarioErrors, INPUT_BYTES_MAX};
use orrery_sim::time::ms;
use orrery_sim::workload::{
    CheckKind, CheckSpec, ParamKind, ParamSpec, ParamValue, Registry, Setup, Simulation, Workload,
};

/// A workload that only declares things, for validation; it never runs.
struct DeclaredOnly;

impl Workload for DeclaredOnly {
    fn name(&self) -> &'static str {
        "kv"
    }
    fn description(&self) -> &'static str {
        "declares parameters and checks for scenario validation tests"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "replicas",
                kind: ParamKind::Int { min: 1, max: 9 },
                default: ParamValue::Int(3),
                doc: "replica count",
                shrink: false,
            },
            ParamSpec {
                name: "timeout",
                kind: ParamKind::Duration,
                default: ParamValue::Duration(ms(100)),
                doc: "request timeout",
                shrink: false,
            },
            ParamSpec {
                name: "buggy",
                kind: ParamKind::Bool,
                default: ParamValue::Bool(false),
                doc: "planted bug",
                shrink: false,
            },
        ]
    }
    fn checks(&self) -> Vec<CheckSpec> {
        vec![
            CheckSpec { name: "agreement", kind: CheckKind::Invariant, doc: "replicas agree" },
            CheckSpec { name: "converged", kind: CheckKind::Liveness, doc: "replicas converge" },
            CheckSpec { name: "linearizable", kind: CheckKind::Final, doc: "history" },
        ]
    }
    fn instantiate(
        &self,
        _plan: &scenario::RunPlan,
        _setup: &Setup<'_>,
    ) -> Result<Box<dyn Simulation>, String> {
        Err("test workload does not run".to_string())
    }
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(DeclaredOnly);
    registry
}

/// A valid scenario that uses most of the schema; the bad files are variations of it.
const GOOD: &str = r#"name: good
topology:
  nodes:
    - {name: n0, role: replica, zone: a}
    - {name: n1, role: replica, zone: a}
    - {name: n2, role: replica, zone: b}
    - {name: c0, role: client, zone: b}
network:
  latency: {kind: uniform, min: 1ms, max: 5ms}
  loss_probability: 0.01
  links:
    - {from: n0, to: n1, latency: {kind: fixed, value: 20ms}}
disk: {crash_unsynced: torn, write_error_probability: 0.001}
workload: {name: kv, params: {replicas: 3, timeout: 250ms, buggy: false}}
max_dead: 1
faults:
  - {at: 1s, kind: partition, groups: [[n0, n1], [n2]], duration: 500ms}
  - {every: 2s, after: 1s, kind: crash, node: {role: replica}}
  - {at: 3s, kind: crash, domain: {zone: b}}
  - {at: 4s, kind: set_clock, node: n2, offset: -5ms, drift_ppm: 100}
swarm:
  loss: {probability: 0.5, rate: [0, 0.05]}
  clog: {probability: 0.5, interval: [200ms, 2s], duration: [100ms, 1s]}
phases: {chaos: 10s, heal: 1s, converge_deadline: 5s}
checks: [agreement, converged, linearizable]
limits: {vtime_max: 60s, events_max: 1000000}
seeds: 0..100
buggify: {enabled: true, site_probability: 0.25, fire_probability: 0.1}
expect: pass
"#;

fn bad_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/bad_scenarios exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Parses without letting a panic escape, so one bad input names itself.
fn parse_guarded(name: &str, bytes: &[u8], registry: &Registry) -> Result<(), String> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scenario::parse(name, bytes, registry).map(|_| ())
    }));
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(errors)) => Err(errors.to_string()),
        Err(_) => Err(format!("PANIC while parsing {name}")),
    }
}

/// `(line, column, substring)` from `# expect: 3:12 probability`.
fn expectation(bytes: &[u8]) -> Option<(u64, u64, String)> {
    let first = bytes.split(|&b| b == b'\n').next()?;
    let first = std::str::from_utf8(first).ok()?.trim_end_matches('\r');
    let rest = first.strip_prefix("# expect: ")?;
    let (position, substring) = rest.split_once(' ')?;
    let (line, column) = position.split_once(':')?;
    Some((line.parse().ok()?, column.parse().ok()?, substring.to_string()))
}

fn matches(errors: &ScenarioErrors, line: u64, column: u64, substring: &str) -> bool {
    errors.iter().any(|e| {
        e.line == line
            && e.column == column
            && (e.message.contains(substring) || e.expected.contains(substring))
    })
}

// Proves the baseline that the bad files vary is itself accepted, so each bad file fails
// for its own reason.
#[test]
fn the_good_scenario_loads() {
    let loaded = scenario::parse("good.yaml", GOOD.as_bytes(), &registry());
    if let Err(errors) = &loaded {
        panic!("the good scenario was refused:\n{errors}");
    }
}

// Proves every bad scenario file is refused with the error its first line names, at the
// line and column it names.
#[test]
fn every_bad_scenario_is_refused_where_it_is_wrong() {
    let registry = registry();
    let files = bad_files();
    assert!(files.len() >= 35, "only {} bad scenario files", files.len());
    let mut problems = Vec::new();
    for path in &files {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).expect("readable test file");
        let Some((line, column, substring)) = expectation(&bytes) else {
            problems.push(format!("{name}: first line is not `# expect: L:C message`"));
            continue;
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scenario::parse(&name, &bytes, &registry)
        }));
        match outcome {
            Err(_) => problems.push(format!("{name}: the loader panicked")),
            Ok(Ok(_)) => problems.push(format!("{name}: accepted")),
            Ok(Err(errors)) => {
                let rendered = errors.to_string();
                if !matches(&errors, line, column, &substring) {
                    problems.push(format!(
                        "{name}: expected {line}:{column} {substring:?}, got:\n{rendered}"
                    ));
                } else if !rendered.contains(&format!("--> {name}:{line}:{column}")) {
                    problems.push(format!("{name}: rendering lacks the position:\n{rendered}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

// Proves the loader reports several independent problems at once, in source order.
#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = GOOD
        .replace("loss_probability: 0.01", "loss_probability: 1.5")
        .replace("checks: [agreement,", "checks: [agreemnt,")
        .replace("node: n2, offset", "node: n9, offset");
    let Err(errors) = scenario::parse("many.yaml", text.as_bytes(), &registry()) else {
        panic!("accepted a scenario with three problems");
    };
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [10, 20, 25], "{errors}");
    assert!(errors.to_string().contains("the scenario has 3 problems"), "{errors}");
}

// Proves the rendering is the compiler-style block: headline, arrow with position, the
// source line, and a caret under the value with what was expected.
#[test]
fn errors_render_like_a_compiler() {
    let text = GOOD.replace("loss_probability: 0.01", "loss_probability: 1.5");
    let Err(errors) = scenario::parse("net.yaml", text.as_bytes(), &registry()) else {
        panic!("accepted a probability of 1.5");
    };
    let expected = "error: `loss_probability` 1.5 is not a probability
  --> net.yaml:10:21
   |
10 |   loss_probability: 1.5
   |                     ^^^ expected a number in [0, 1]
";
    assert_eq!(errors.to_string(), expected);
}

// Proves inputs over the size cap are refused up front with a clear message.
#[test]
fn huge_input_is_refused() {
    let mut text = String::from("name: huge\n");
    while text.len() <= INPUT_BYTES_MAX {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let Err(errors) = scenario::parse("huge.yaml", text.as_bytes(), &registry()) else {
        panic!("accepted a {} byte scenario", text.len());
    };
    assert!(errors.to_string().contains("too large"), "{errors}");
}

// Proves a truly empty input (zero bytes) is an error, not a default scenario.
#[test]
fn zero_bytes_are_refused() {
    let Err(errors) = scenario::parse("empty.yaml", b"", &registry()) else {
        panic!("accepted an empty scenario");
    };
    assert!(errors.to_string().contains("empty"), "{errors}");
}

// Proves no prefix or single-line deletion of a good or bad scenario makes the loader
// panic: malformed input is always an error value.
#[test]
fn no_malformed_input_panics() {
    let registry = registry();
    let mut sources: Vec<Vec<u8>> = vec![GOOD.as_bytes().to_vec()];
    sources.extend(bad_files().iter().filter_map(|p| std::fs::read(p).ok()));
    let mut panics = Vec::new();
    for source in &sources {
        // Deep-nesting files are long; a stride keeps their prefixes cheap.
        let stride = (source.len() / 400).max(1);
        for cut in (0..source.len()).step_by(stride) {
            if let Err(e) = parse_guarded("prefix.yaml", &source[..cut], &registry) {
                if e.starts_with("PANIC") {
                    panics.push(String::from_utf8_lossy(&source[..cut]).into_owned());
                }
            }
        }
        let lines: Vec<&[u8]> = source.split(|&b| b == b'\n').collect();
        for skip in 0..lines.len().min(200) {
            let text: Vec<u8> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .flat_map(|(_, l)| l.iter().copied().chain([b'\n']))
                .collect();
            if let Err(e) = parse_guarded("deleted.yaml", &text, &registry) {
                if e.starts_with("PANIC") {
                    panics.push(String::from_utf8_lossy(&text).into_owned());
                }
            }
        }
    }
    assert!(panics.is_empty(), "{} inputs panicked, first:\n{}", panics.len(), panics[0]);
}
