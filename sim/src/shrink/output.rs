//! What a shrink leaves in a capsule directory, next to the original failure: `shrunk.yaml`
//! (a scenario with a comment header saying what was removed and changed), `shrunk-trace.txt`
//! (its run, recorded), `shrunk.html` (its picture), for a linearizability failure
//! `shrunk-history.edn` and `shrunk-witness.txt`, and `shrunk.txt` (the summary line, every
//! accepted step, the command that replays it). Nothing existing is overwritten: a second
//! shrink into the same capsule writes `shrunk-2.yaml` and so on.
//!
//! `shrunk.yaml` holds nothing that depends on the machine (no wall time), so shrinking the
//! same failure anywhere, on any number of threads, writes the same bytes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::runner::{
    record_seeds, shell_quote, write_new_file, write_views, Planner, Replayer, Rerun, RerunOutcome,
    SweepOptions, Views, CAPSULE_TRACE_BYTES_MAX,
};
use crate::scenario::RunPlan;
use crate::workload::Registry;

use super::candidates::{families, fault_count};
use super::lowering::{DISK_RATES, LINK_RATES};
use super::{Pass, ShrinkOptions, Shrunk, SHRUNK_SUFFIX};

/// The name every output of the first shrink into a directory starts with.
pub const SHRUNK_STEM: &str = "shrunk";

/// Where a shrink's outputs went.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The shrunk scenario.
    pub yaml: PathBuf,
    /// Its recorded trace.
    pub trace: PathBuf,
    /// The shrink's summary.
    pub summary: PathBuf,
    /// The command that runs the shrunk scenario.
    pub run_command: String,
    /// How recording the trace went, and the views drawn from it, for a capsule's summary.
    pub notes: Vec<String>,
}

/// `41,812`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Shrunk {
    /// `23 faults -> 2, chaos 6s -> 1.4s, 41,812 events -> 2,310 (37 candidates)`: what
    /// the shrink achieved, with nothing that depends on the machine.
    pub fn achieved(&self) -> String {
        let faults = |n: usize| if n == 1 { "1 fault".to_string() } else { format!("{n} faults") };
        let mut parts =
            vec![format!("{} -> {}", faults(fault_count(&self.original)), fault_count(&self.plan))];
        if self.plan.phases.chaos != self.original.phases.chaos {
            parts.push(format!(
                "chaos {} -> {}",
                self.original.phases.chaos, self.plan.phases.chaos
            ));
        }
        let (before, after) = (self.original.topology.len(), self.plan.topology.len());
        if before != after {
            parts.push(format!("{before} nodes -> {after}"));
        }
        parts.push(format!(
            "{} events -> {}",
            group_digits(self.original_report.events),
            group_digits(self.report.events)
        ));
        format!("{} ({} candidates)", parts.join(", "), group_digits(self.candidates))
    }

    /// The summary line: `shrunk: 23 faults -> 2, chaos 6s -> 1.4s, 41,812 events -> 2,310
    /// (37 candidates, 4.1 s)`.
    pub fn summary_line(&self) -> String {
        let achieved = self.achieved();
        let achieved = achieved.strip_suffix(')').unwrap_or(&achieved);
        format!("shrunk: {achieved}, {:.1} s)", self.wall.as_secs_f64())
    }

    /// `shrunk.yaml`: a header saying how it was made and what it lost, then the plan.
    pub fn yaml(&self) -> String {
        let name =
            self.original.scenario.strip_suffix(SHRUNK_SUFFIX).unwrap_or(&self.original.scenario);
        let mut out = String::new();
        let _ = writeln!(out, "# Shrunk by orrery from scenario {name}, seed {}:", self.plan.seed);
        let _ = writeln!(out, "# it fails {} as the original did.", self.target.describe());
        let _ = writeln!(out, "# {}", self.achieved());
        let _ = writeln!(out, "# {}", self.ending.describe());
        for line in self.removed() {
            let _ = writeln!(out, "# removed: {line}");
        }
        let mut changes = self.plan_changes();
        changes.extend(
            self.steps
                .iter()
                .filter(|step| matches!(step.pass, Pass::Merges | Pass::Pins | Pass::Entries))
                .map(|step| step.change.clone()),
        );
        for change in changes.iter().take(CHANGES_SHOWN_MAX) {
            let _ = writeln!(out, "# changed: {change}");
        }
        if changes.len() > CHANGES_SHOWN_MAX {
            let _ = writeln!(
                out,
                "# changed: ... and {} more (every step is in the shrink's .txt summary)",
                changes.len() - CHANGES_SHOWN_MAX
            );
        }
        let _ = writeln!(out, "# run it: orrery run THIS_FILE --seed {}", self.plan.seed);
        out.push_str(&self.text);
        out
    }

    /// What differs between the original plan and the shrunk one, outside the fault entries.
    fn plan_changes(&self) -> Vec<String> {
        let (was, now) = (&self.original, &self.plan);
        let mut changes = Vec::new();
        if was.phases.chaos != now.phases.chaos {
            changes.push(format!("chaos {} -> {}", was.phases.chaos, now.phases.chaos));
        }
        for (name, value) in &now.params {
            if let Some(before) = was.params.get(name).filter(|before| *before != value) {
                changes.push(format!("param {name} {before} -> {value}"));
            }
        }
        for (name, get, _) in LINK_RATES {
            let (before, after) = (get(&was.link_default), get(&now.link_default));
            if before != after {
                changes.push(format!("network {name} {before} -> {after}"));
            }
        }
        for (name, get, _) in DISK_RATES {
            let (before, after) = (get(&was.disk), get(&now.disk));
            if before != after {
                changes.push(format!("disk {name} {before} -> {after}"));
            }
        }
        let (b, a) = (was.buggify, now.buggify);
        if b != a {
            changes.push(format!(
                "buggify enabled {} site_probability {} fire_probability {} -> {} {} {}",
                b.enabled,
                b.site_probability,
                b.fire_probability,
                a.enabled,
                a.site_probability,
                a.fire_probability
            ));
        }
        changes
    }

    /// What the shrink removed, by family of fault and node.
    fn removed(&self) -> Vec<String> {
        let (before, after) = (families(&self.original), families(&self.plan));
        let mut gone = Vec::new();
        let mut total = 0;
        for (family, count) in &before {
            let left = after.get(family).copied().unwrap_or(0);
            if *count > left {
                gone.push(format!("{} {family}", count - left));
                total += count - left;
            }
        }
        let mut lines = Vec::new();
        if total > 0 {
            let of = fault_count(&self.original);
            lines.push(format!("{total} of {of} faults ({})", gone.join(", ")));
        }
        let names = |plan: &RunPlan| -> Vec<String> {
            plan.topology
                .nodes()
                .filter_map(|n| plan.topology.node(n))
                .map(|s| s.name.clone())
                .collect()
        };
        let kept = names(&self.plan);
        let nodes: Vec<String> =
            names(&self.original).into_iter().filter(|n| !kept.contains(n)).collect();
        if !nodes.is_empty() {
            lines.push(format!("nodes {}", nodes.join(", ")));
        }
        lines
    }

    /// `shrunk.txt`: the summary line, how the search ended, every step, the command.
    fn summary_text(&self, run_command: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.summary_line());
        let _ = writeln!(out, "{}", self.ending.describe());
        if let Some(failure) = &self.report.failure {
            let _ = writeln!(
                out,
                "fails: {} at {}: {}",
                self.target.describe(),
                failure.vtime,
                failure.message.lines().next().unwrap_or("")
            );
        }
        let _ = writeln!(
            out,
            "candidates: {} in search order, {} run on {} thread(s)",
            self.candidates,
            self.candidates_run,
            self.threads_used()
        );
        if self.threads_abandoned > 0 {
            let _ =
                writeln!(out, "hung candidates left {} thread(s) behind", self.threads_abandoned);
        }
        let _ = writeln!(out, "steps:");
        for step in &self.steps {
            let _ = writeln!(out, "  candidate {}: {}", step.candidate, step.change);
        }
        let _ = writeln!(out, "run it: {run_command}");
        out
    }

    fn threads_used(&self) -> usize {
        self.jobs
    }
}

/// Shown in the header of `shrunk.yaml`; the rest is in `shrunk.txt`.
const CHANGES_SHOWN_MAX: usize = 24;

/// Writes the outputs of `shrunk` into `dir` (a capsule directory), records the shrunk
/// scenario's trace under the hang watchdog, and draws its views.
pub fn write_outputs(
    dir: &Path,
    shrunk: &Shrunk,
    registry: &Arc<Registry>,
    options: &ShrinkOptions,
    replayer: &Replayer,
) -> Result<Outputs, String> {
    let stem = free_stem(dir);
    let path = |suffix: &str| dir.join(format!("{stem}{suffix}"));
    let (yaml, trace, summary) = (path(".yaml"), path("-trace.txt"), path(".txt"));
    write_new_file(&yaml, &shrunk.yaml())?;
    let run_command = match replayer {
        Replayer::Program { program, .. } => format!(
            "{} run {} --seed {}",
            shell_quote(program),
            shell_quote(&yaml.display().to_string()),
            shrunk.plan.seed
        ),
        Replayer::Test(_) => {
            format!(
                "orrery run {} --seed {}",
                shell_quote(&yaml.display().to_string()),
                shrunk.plan.seed
            )
        }
    };
    write_new_file(&summary, &shrunk.summary_text(&run_command))?;
    let plan = shrunk.plan.clone();
    let planner: Arc<Planner> = Arc::new(move |_| plan.clone());
    let sweep = SweepOptions {
        jobs: 1,
        check_determinism: false,
        sample_determinism: false,
        hang_timeout: options.hang_timeout,
        run: crate::runner::RunOptions::default(),
    };
    let rerun = Rerun {
        seed: shrunk.plan.seed,
        path: trace.clone(),
        bytes_max: Some(CAPSULE_TRACE_BYTES_MAX),
    };
    let outcome = record_seeds(planner, registry.clone(), sweep, vec![rerun])
        .map_err(|error| error.to_string())?
        .into_iter()
        .next()
        .map(|(_, outcome)| outcome);
    let trace_name = format!("{stem}-trace.txt");
    let mut notes = vec![format!("{stem}.yaml: {}", shrunk.summary_line())];
    match outcome {
        Some(RerunOutcome::Recorded { report, end }) => {
            let same = if shrunk.target.matches(&report) {
                format!("it fails {} as the original did", shrunk.target.describe())
            } else {
                "its re-run did not fail the same way (nondeterminism?)".to_string()
            };
            notes.push(format!("{trace_name}: {} records; {same}", end.records));
            let (picture, history, witness) = (
                format!("{stem}.html"),
                format!("{stem}-history.edn"),
                format!("{stem}-witness.txt"),
            );
            let names = Views { picture: &picture, history: &history, witness: &witness };
            notes.extend(write_views(dir, &trace, &shrunk.plan, report.failure.as_ref(), &names)?);
        }
        Some(RerunOutcome::Hung { events }) => notes.push(format!(
            "{trace_name}: cut short: no progress for the hang timeout after {events} event(s)"
        )),
        Some(RerunOutcome::Failed(message)) => {
            notes.push(format!("{trace_name}: not written: {message}"))
        }
        Some(RerunOutcome::NotRun) | None => notes.push(format!("{trace_name}: not recorded")),
    }
    Ok(Outputs { yaml, trace, summary, run_command, notes })
}

/// `shrunk`, or `shrunk-2`, ...: the first stem none of whose files exists in `dir`.
fn free_stem(dir: &Path) -> String {
    let suffixes = [".yaml", "-trace.txt", ".txt", ".html", "-history.edn", "-witness.txt"];
    (1u64..)
        .map(|n| if n == 1 { SHRUNK_STEM.to_string() } else { format!("{SHRUNK_STEM}-{n}") })
        .find(|stem| suffixes.iter().all(|s| !dir.join(format!("{stem}{s}")).exists()))
        .unwrap_or_else(|| SHRUNK_STEM.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves counts print with thousands separators.
    #[test]
    fn digits_are_grouped() {
        let shown: Vec<String> =
            [0, 999, 1000, 41_812, 1_234_567].iter().map(|n| group_digits(*n)).collect();
        assert_eq!(shown, ["0", "999", "1,000", "41,812", "1,234,567"]);
    }
}
