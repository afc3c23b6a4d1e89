//! Write-back: a `RunPlan` as a scenario file with nothing left to chance. Every fault is an
//! explicit `at:` entry, every rate a number, `swarm` is absent and the realized values are
//! comments, so loading the text and sampling it with any seed gives the same plan back.
//! Failure capsules store this file; shrinking will edit it.

use std::fmt::Write as _;

use crate::disk::DiskConfig;
use crate::fault::{ControlAction, RoleFallback, Trigger, TriggerWhen};
use crate::net::{Latency, LinkConfig, PartitionShape, WhenFull};
use crate::node::NodeId;
use crate::time::Duration;
use crate::topology::Topology;
use crate::workload::ParamValue;

use super::plan::{Expect, RunPlan};
use super::schema::FaultKind;

/// The plan as scenario YAML that `scenario::parse` reads back into an equal plan.
pub fn plan_to_yaml(plan: &RunPlan) -> String {
    let names = Names(&plan.topology);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# The run of scenario {} with seed {}, with every random choice made.",
        comment(&plan.scenario),
        plan.seed
    );
    for (label, value) in &plan.realized {
        let _ = writeln!(out, "# realized {} = {}", comment(label), comment(value));
    }
    let _ = writeln!(out, "name: {}", quote(&plan.scenario));
    let _ = writeln!(
        out,
        "description: {}",
        quote(&format!("seed {} of {}", plan.seed, plan.scenario))
    );
    out.push_str("topology:\n  nodes:\n");
    for node in plan.topology.nodes() {
        let Some(spec) = plan.topology.node(node) else { continue };
        let mut fields = vec![("name", quote(&spec.name)), ("role", quote(&spec.role))];
        for (key, value) in [("machine", &spec.machine), ("rack", &spec.rack), ("zone", &spec.zone)]
        {
            if let Some(value) = value {
                fields.push((key, quote(value)));
            }
        }
        if let Some(command) = &spec.command {
            let words: Vec<String> = command.iter().map(|word| quote(word)).collect();
            fields.push(("command", format!("[{}]", words.join(", "))));
        }
        let _ = writeln!(out, "    - {}", flow(&fields));
    }
    let _ = writeln!(out, "network:");
    for (key, value) in link_fields(&plan.link_default) {
        let _ = writeln!(out, "  {key}: {value}");
    }
    let links: Vec<_> = plan.topology.links().collect();
    if !links.is_empty() {
        out.push_str("  links:\n");
        for (from, to, config) in links {
            let mut fields = vec![("from", names.quoted(from)), ("to", names.quoted(to))];
            fields.extend(link_fields(config));
            let _ = writeln!(out, "    - {}", flow(&fields));
        }
    }
    let _ = writeln!(out, "disk: {}", flow(&disk_fields(&plan.disk)));
    out.push_str("workload:\n");
    let _ = writeln!(out, "  name: {}", quote(&plan.workload));
    let params: Vec<(&str, String)> =
        plan.params.iter().map(|(key, value)| (key.as_str(), param(value))).collect();
    let _ = writeln!(out, "  params: {}", flow(&params));
    if plan.faults.is_empty() && plan.triggers.is_empty() {
        out.push_str("faults: []\n");
    } else {
        out.push_str("faults:\n");
    }
    for (at, action) in &plan.faults {
        let mut fields = vec![("at", quote(&at.since_start().to_string()))];
        fields.extend(action_fields(action, &names));
        let _ = writeln!(out, "  - {}", flow(&fields));
    }
    for trigger in &plan.triggers {
        let _ = writeln!(out, "  - {}", flow(&trigger_fields(trigger, &names)));
    }
    if let Some(max_dead) = plan.max_dead {
        let _ = writeln!(out, "max_dead: {max_dead}");
    }
    if let Some(supervisor) = &plan.supervisor {
        let range = duration_range(supervisor.restart_after_min, supervisor.restart_after_max);
        let _ = writeln!(out, "supervisor: {}", flow(&[("restart_after", range)]));
    }
    let phases = [
        ("chaos", quote(&plan.phases.chaos.to_string())),
        ("heal", quote(&plan.phases.heal.to_string())),
        ("converge_deadline", quote(&plan.phases.converge_deadline.to_string())),
    ];
    let _ = writeln!(out, "phases: {}", flow(&phases));
    let checks: Vec<String> = plan.checks.iter().map(|c| quote(c)).collect();
    let _ = writeln!(out, "checks: [{}]", checks.join(", "));
    let limits = [
        ("vtime_max", quote(&plan.limits.vtime_max.since_start().to_string())),
        ("events_max", plan.limits.events_max.to_string()),
    ];
    let _ = writeln!(out, "limits: {}", flow(&limits));
    let next = plan.seed.saturating_add(1).max(plan.seed);
    let seeds =
        if next > plan.seed { format!("{}..{next}", plan.seed) } else { "0..1".to_string() };
    let _ = writeln!(out, "seeds: {}", quote(&seeds));
    let buggify = [
        ("enabled", plan.buggify.enabled.to_string()),
        ("site_probability", number(plan.buggify.site_probability)),
        ("fire_probability", number(plan.buggify.fire_probability)),
    ];
    let _ = writeln!(out, "buggify: {}", flow(&buggify));
    match plan.expect {
        Expect::Pass => out.push_str("expect: pass\n"),
        Expect::Fail { within_seeds } => {
            let _ = writeln!(out, "expect: {{fail: {{within_seeds: {within_seeds}}}}}");
        }
    }
    out
}

/// Node names of a plan's topology.
struct Names<'t>(&'t Topology);

impl Names<'_> {
    fn quoted(&self, node: NodeId) -> String {
        quote(&self.0.node(node).map_or_else(|| node.to_string(), |spec| spec.name.clone()))
    }

    fn list(&self, nodes: &[NodeId]) -> String {
        let names: Vec<String> = nodes.iter().map(|n| self.quoted(*n)).collect();
        format!("[{}]", names.join(", "))
    }
}

/// A trigger as a fault entry with `on:` instead of a time.
fn trigger_fields(trigger: &Trigger, names: &Names<'_>) -> Vec<(&'static str, String)> {
    let mut on = vec![("event", quote(&trigger.event))];
    if let Some(nodes) = &trigger.nodes {
        on.push(("nodes", names.list(nodes)));
    }
    on.push(("probability", number(trigger.probability)));
    if let Some(budget) = trigger.budget {
        on.push(("budget", budget.to_string()));
    }
    let when = match trigger.when {
        TriggerWhen::Before => "before",
        TriggerWhen::After => "after",
    };
    on.push(("when", when.to_string()));
    let mut fields = vec![("name", quote(&trigger.name)), ("on", flow(&on))];
    let mut action = action_fields(&trigger.action, names);
    if trigger.at_observer {
        action.retain(|(key, _)| *key != "node");
    }
    fields.extend(action);
    if let Some((low, high)) = trigger.restart_after {
        fields.push(("restart_after", duration_range(low, high)));
    }
    fields
}

/// `"5ms"`, or `["1ms", "5ms"]` for a range.
fn duration_range(low: Duration, high: Duration) -> String {
    match low == high {
        true => quote(&low.to_string()),
        false => format!("[{}, {}]", quote(&low.to_string()), quote(&high.to_string())),
    }
}

/// The fields of one fault entry after `at`.
fn action_fields(action: &ControlAction, names: &Names<'_>) -> Vec<(&'static str, String)> {
    let kind = |kind: FaultKind| ("kind", kind.name().to_string());
    let duration = |d: &Duration| quote(&d.to_string());
    match action {
        ControlAction::Crash(node)
        | ControlAction::Restart(node)
        | ControlAction::Start(node)
        | ControlAction::DisarmCrashPoint(node)
        | ControlAction::Pause(node)
        | ControlAction::Resume(node) => {
            let k = match action {
                ControlAction::Crash(_) => FaultKind::Crash,
                ControlAction::Restart(_) => FaultKind::Restart,
                ControlAction::Start(_) => FaultKind::Start,
                ControlAction::DisarmCrashPoint(_) => FaultKind::DisarmCrashPoint,
                ControlAction::Pause(_) => FaultKind::Pause,
                _ => FaultKind::Resume,
            };
            vec![kind(k), ("node", names.quoted(*node))]
        }
        ControlAction::CrashAndRestart { node, after } => vec![
            kind(FaultKind::Crash),
            ("node", names.quoted(*node)),
            ("restart_after", duration(after)),
        ],
        ControlAction::ToRoleHolder { role, otherwise, action } => {
            let otherwise = match otherwise {
                RoleFallback::Skip => "skip".to_string(),
                RoleFallback::Random(candidates) => names.list(candidates),
            };
            let holder = flow(&[("holding", quote(role)), ("otherwise", otherwise)]);
            let mut fields = action_fields(action, names);
            for (key, value) in &mut fields {
                if *key == "node" || *key == "isolate" {
                    *value = holder.clone();
                }
            }
            fields
        }
        ControlAction::SetClock { node, offset_nanos, drift_ppm } => {
            let magnitude = Duration::from_nanos(offset_nanos.unsigned_abs());
            let sign = if *offset_nanos < 0 { "-" } else { "" };
            vec![
                kind(FaultKind::SetClock),
                ("node", names.quoted(*node)),
                ("offset", quote(&format!("{sign}{magnitude}"))),
                ("drift_ppm", drift_ppm.to_string()),
            ]
        }
        ControlAction::SetNodeUp { node, up } => {
            vec![kind(FaultKind::SetNodeUp), ("node", names.quoted(*node)), ("up", up.to_string())]
        }
        ControlAction::Partition { shape, duration: lasting } => {
            let mut fields = vec![kind(FaultKind::Partition), shape_field(shape, names)];
            if let Some(lasting) = lasting {
                fields.push(("duration", duration(lasting)));
            }
            fields
        }
        ControlAction::Heal => vec![kind(FaultKind::Heal)],
        // Only the runner stops triggers (at heal); a plan never holds it.
        ControlAction::StopTriggers => vec![kind(FaultKind::Heal)],
        ControlAction::Unclog => vec![kind(FaultKind::Unclog)],
        ControlAction::ClogLink { from, to, duration: lasting } => vec![
            kind(FaultKind::Clog),
            ("from", names.quoted(*from)),
            ("to", names.quoted(*to)),
            ("duration", duration(lasting)),
        ],
        ControlAction::ClogNode { node, duration: lasting } => {
            vec![
                kind(FaultKind::Clog),
                ("node", names.quoted(*node)),
                ("duration", duration(lasting)),
            ]
        }
        ControlAction::SetLoss(p) => vec![kind(FaultKind::SetLoss), ("probability", number(*p))],
        ControlAction::SetDuplicate(p) => {
            vec![kind(FaultKind::SetDuplicate), ("probability", number(*p))]
        }
        ControlAction::SetCorrupt(p) => {
            vec![kind(FaultKind::SetCorrupt), ("probability", number(*p))]
        }
        ControlAction::SetDefaultLink(config) => {
            vec![kind(FaultKind::SetDefaultLink), ("link", flow(&link_fields(config)))]
        }
        ControlAction::SetLink { from, to, config } => vec![
            kind(FaultKind::SetLink),
            ("from", names.quoted(*from)),
            ("to", names.quoted(*to)),
            ("link", flow(&link_fields(config))),
        ],
        ControlAction::SetCapacity(capacity) => {
            vec![kind(FaultKind::SetCapacity), ("capacity_packets", capacity.to_string())]
        }
        ControlAction::SetDisk { node, config } => {
            let mut fields = vec![kind(FaultKind::SetDisk)];
            if let Some(node) = node {
                fields.push(("node", names.quoted(*node)));
            }
            fields.push(("disk", flow(&disk_fields(config))));
            fields
        }
        ControlAction::CrashAtDiskOperation { node, operation, restart_after } => {
            let mut fields = vec![
                kind(FaultKind::CrashAtDiskOperation),
                ("node", names.quoted(*node)),
                ("operation", operation.to_string()),
            ];
            if let Some(after) = restart_after {
                fields.push(("restart_after", duration(after)));
            }
            fields
        }
    }
}

fn shape_field(shape: &PartitionShape, names: &Names<'_>) -> (&'static str, String) {
    match shape {
        PartitionShape::Groups(groups) => {
            let groups: Vec<String> = groups.iter().map(|g| names.list(g)).collect();
            ("groups", format!("[{}]", groups.join(", ")))
        }
        PartitionShape::Isolate(node) => ("isolate", names.quoted(*node)),
        PartitionShape::OneWay { from, to } => {
            ("one_way", flow(&[("from", names.list(from)), ("to", names.list(to))]))
        }
        PartitionShape::Ring { order, reach } => {
            ("ring", flow(&[("order", names.list(order)), ("reach", reach.to_string())]))
        }
        PartitionShape::Bridge { left, bridge, right } => (
            "bridge",
            flow(&[
                ("left", names.list(left)),
                ("bridge", names.quoted(*bridge)),
                ("right", names.list(right)),
            ]),
        ),
    }
}

/// Every setting of a link, so that reading them back does not depend on any default.
fn link_fields(config: &LinkConfig) -> Vec<(&'static str, String)> {
    let d = |d: Duration| quote(&d.to_string());
    let latency = match config.latency {
        Latency::Fixed(value) => flow(&[("kind", "fixed".into()), ("value", d(value))]),
        Latency::Uniform { min, max } => {
            flow(&[("kind", "uniform".into()), ("min", d(min)), ("max", d(max))])
        }
        Latency::Exponential { min, mean } => {
            flow(&[("kind", "exponential".into()), ("min", d(min)), ("mean", d(mean))])
        }
        Latency::LongTail { min, max, slow_probability, slow_min, slow_max } => flow(&[
            ("kind", "long_tail".into()),
            ("min", d(min)),
            ("max", d(max)),
            ("slow_probability", number(slow_probability)),
            ("slow_min", d(slow_min)),
            ("slow_max", d(slow_max)),
        ]),
        Latency::Pareto { min, shape, max } => flow(&[
            ("kind", "pareto".into()),
            ("min", d(min)),
            ("shape", number(shape)),
            ("max", d(max)),
        ]),
        Latency::Lognormal { median, sigma, max } => flow(&[
            ("kind", "lognormal".into()),
            ("median", d(median)),
            ("sigma", number(sigma)),
            ("max", d(max)),
        ]),
    };
    let when_full = match config.when_full {
        WhenFull::DropTail => "drop_tail",
        WhenFull::Reject => "reject",
    };
    vec![
        ("latency", latency),
        ("loss_probability", number(config.loss_probability)),
        ("duplicate_probability", number(config.duplicate_probability)),
        ("corrupt_probability", number(config.corrupt_probability)),
        ("capacity_packets", config.capacity_packets.to_string()),
        ("when_full", when_full.to_string()),
        ("fifo", config.fifo.to_string()),
    ]
}

/// Every setting of a disk.
fn disk_fields(config: &DiskConfig) -> Vec<(&'static str, String)> {
    let d = |d: Duration| quote(&d.to_string());
    vec![
        ("sector_size_bytes", config.sector_size_bytes.to_string()),
        ("capacity_bytes", config.capacity_bytes.to_string()),
        ("crash_unsynced", config.crash_unsynced.name().to_string()),
        ("read_error_probability", number(config.read_error_probability)),
        ("write_error_probability", number(config.write_error_probability)),
        ("read_corruption_probability", number(config.read_corruption_probability)),
        ("latent_corruption_probability", number(config.latent_corruption_probability)),
        ("misdirected_write_probability", number(config.misdirected_write_probability)),
        ("latency_min", d(config.latency_min)),
        ("latency_max", d(config.latency_max)),
        ("slow_probability", number(config.slow_probability)),
        ("slow_latency", d(config.slow_latency)),
        ("crash_probability_per_operation", number(config.crash_probability_per_operation)),
        ("in_flight_max", config.in_flight_max.to_string()),
    ]
}

fn param(value: &ParamValue) -> String {
    match value {
        ParamValue::Int(v) => v.to_string(),
        ParamValue::Float(v) => number(*v),
        ParamValue::Bool(v) => v.to_string(),
        ParamValue::Duration(v) => quote(&v.to_string()),
        ParamValue::Text(v) => quote(v),
    }
}

/// A float that reads back exactly: Rust prints the shortest text that round-trips.
fn number(value: f64) -> String {
    if value.is_finite() {
        format!("{value:?}")
    } else if value.is_nan() {
        ".nan".to_string()
    } else if value > 0.0 {
        ".inf".to_string()
    } else {
        "-.inf".to_string()
    }
}

/// `{a: 1, b: 2}`.
fn flow(fields: &[(&str, String)]) -> String {
    let fields: Vec<String> = fields.iter().map(|(key, value)| format!("{key}: {value}")).collect();
    format!("{{{}}}", fields.join(", "))
}

/// A YAML double-quoted string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text safe inside a one-line comment.
fn comment(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::super::test_support::{plan_differences, registry, SWARM_HEAVY};
    use super::plan_to_yaml;

    // Proves a plan written back as YAML reads back, with any seed, into a plan equal in
    // every effect: same faults at the same times, settings, parameters, checks and limits.
    #[test]
    fn written_plans_replay_exactly() {
        let registry = registry();
        let scenario = match parse("swarm.yaml", SWARM_HEAVY.as_bytes(), &registry) {
            Ok(scenario) => scenario,
            Err(errors) => panic!("{errors}"),
        };
        for seed in 0..25 {
            let plan = scenario.sample(seed);
            let text = plan_to_yaml(&plan);
            let replayed = match parse("plan.yaml", text.as_bytes(), &registry) {
                Ok(replayed) => replayed,
                Err(errors) => panic!("seed {seed}: written plan refused:\n{errors}\n{text}"),
            };
            assert!(!replayed.is_random(), "seed {seed}: randomness left in\n{text}");
            for replay_seed in [0, seed, u64::MAX - 1] {
                let again = replayed.sample(replay_seed);
                let differences = plan_differences(&plan, &again);
                assert!(differences.is_empty(), "seed {seed}:\n{}\n{text}", differences.join("\n"));
                assert!(again.realized.is_empty());
            }
            for (label, _) in &plan.realized {
                assert!(
                    text.contains(&format!("# realized {label} = ")),
                    "{label} not in comments"
                );
            }
        }
    }

    // Proves a plan whose only faults are triggers writes them as the `faults:` list (not
    // after an empty one), and reads back with them.
    #[test]
    fn a_plan_of_triggers_only_reads_back() {
        let registry = registry();
        let text = "name: triggered
topology: {count: 3}
workload: {name: kv}
faults:
  - {name: crash-after-vote, on: {event: vote_granted, probability: 1.0}, kind: crash, restart_after: [1ms, 3ms]}
phases: {chaos: 1s}
";
        let Ok(scenario) = parse("triggered.yaml", text.as_bytes(), &registry) else {
            panic!("the triggered scenario loads")
        };
        let plan = scenario.sample(0);
        let written = plan_to_yaml(&plan);
        let again = match parse("plan.yaml", written.as_bytes(), &registry) {
            Ok(again) => again.sample(0),
            Err(errors) => panic!("written plan refused:\n{errors}\n{written}"),
        };
        assert_eq!(again.triggers, plan.triggers);
        assert!(!written.contains("faults: []"), "{written}");
    }

    // Proves the written file has no swarm and only explicit `at:` times.
    #[test]
    fn written_plans_have_nothing_left_to_chance() {
        let registry = registry();
        let Ok(scenario) = parse("swarm.yaml", SWARM_HEAVY.as_bytes(), &registry) else {
            panic!("the swarm scenario loads")
        };
        let text = plan_to_yaml(&scenario.sample(3));
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        // Names are written quoted, so a bare `random` could only be a random choice.
        for chance in ["swarm:", "every:", "random:", "node: random", "isolate: random", "{role:"] {
            assert!(!body.iter().any(|l| l.contains(chance)), "`{chance}` left in\n{text}");
        }
        let entries = text.lines().filter(|l| l.starts_with("  - {")).count();
        let timed = text.lines().filter(|l| l.starts_with("  - {at: \"")).count();
        assert_eq!(entries, timed);
    }
}
