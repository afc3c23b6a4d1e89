//! What a linearizability check reports: the verdict, the work it took, and for a violation the
//! witness — the longest linearizable prefix the search found and the operation that cannot be
//! placed after it — rendered the same way wherever it is shown (`check-history`, a failing
//! `run`, a test's assertion message).
//!
//! The first line of a report stands on its own (verdict, partition, the operation that cannot
//! be placed, the prefix's length and state), because one-line views show only it; the lines
//! after it give the whole witness.

use std::fmt;

use crate::workload::CheckResult;

/// The outcome of a check, with the work it took. Every field is a pure function of the
/// checked history and the step budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    pub operations_total: usize,
    pub partitions_total: usize,
    /// Partitions whose search finished (linearizable or not) before the verdict was known.
    pub partitions_checked: usize,
    pub steps_total: u64,
}

/// Whether a history is linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// Some partition has no linearization; this one is the witness.
    NotLinearizable(Box<Explanation>),
    /// The step budget ran out before the search finished, and no partition was proven to
    /// violate linearizability.
    Unknown {
        steps: u64,
        /// The partitions left undecided, with their operation counts, cheapest first.
        undecided: Vec<(String, usize)>,
    },
}

/// Why a history is not linearizable: where the search got deepest, and what it could not do
/// there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The partition (key) that failed; empty when the history was not split.
    pub partition: String,
    pub partition_operations_total: usize,
    /// The longest linearizable prefix the search found, in linearization order.
    pub longest_prefix: Vec<DescribedOperation>,
    /// The model state after that prefix.
    pub state_after_prefix: String,
    /// The operations that could be linearized next at that point and were not: each was
    /// illegal in that state, or led only to explored dead ends.
    pub stuck: Vec<DescribedOperation>,
    /// The operation whose return ended the attempt: it had to be linearized before it
    /// returned, and could not be.
    pub deadline: DescribedOperation,
}

/// An operation named for humans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedOperation {
    pub history_index: usize,
    pub process: u64,
    pub call_time: u64,
    /// `None` for an operation with unknown outcome.
    pub return_time: Option<u64>,
    pub description: String,
}

impl Report {
    /// The report as the result of a workload's final check: a violation fails with the whole
    /// witness as its message, an exhausted budget is unknown.
    pub fn check_result(&self) -> CheckResult {
        match self.verdict {
            Verdict::Linearizable => CheckResult::Pass,
            Verdict::NotLinearizable(_) => CheckResult::Fail(self.to_string()),
            Verdict::Unknown { .. } => CheckResult::Unknown(self.to_string()),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let work = format!(
            "{} operations, {} of {} partitions checked, {} steps",
            self.operations_total, self.partitions_checked, self.partitions_total, self.steps_total
        );
        match &self.verdict {
            Verdict::Linearizable => write!(f, "linearizable ({work})"),
            Verdict::Unknown { steps, undecided } => {
                let shown: Vec<String> = undecided
                    .iter()
                    .take(PARTITIONS_SHOWN_MAX)
                    .map(|(label, operations)| {
                        format!("{} ({operations} operations)", partition_name(label))
                    })
                    .collect();
                let more = undecided.len().saturating_sub(PARTITIONS_SHOWN_MAX);
                write!(
                    f,
                    "unknown: the step budget ran out after {steps} steps with no violation \
                     found; undecided: {}{} ({work})",
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                )
            }
            Verdict::NotLinearizable(explanation) => {
                writeln!(f, "not linearizable: {}", explanation.summary())?;
                write!(f, "  ({work})\n{explanation}")
            }
        }
    }
}

/// How many undecided partitions an `Unknown` report names.
const PARTITIONS_SHOWN_MAX: usize = 5;

/// How many prefix operations a Display shows; the failure is at the end of the prefix.
const PREFIX_SHOWN_MAX: usize = 10;

/// How many stuck operations a Display shows.
const STUCK_SHOWN_MAX: usize = 20;

fn partition_name(label: &str) -> &str {
    if label.is_empty() {
        "the history"
    } else {
        label
    }
}

impl Explanation {
    /// One line: the partition, the operation that cannot be placed, and the prefix it cannot
    /// be placed after.
    pub fn summary(&self) -> String {
        let last = match self.longest_prefix.last() {
            Some(operation) => {
                format!(", the last {} {}", short_name(operation), operation.description)
            }
            None => String::new(),
        };
        format!(
            "{}: {} cannot be linearized after the longest linearizable prefix ({} of {} \
             operations{last}; state {})",
            partition_name(&self.partition),
            self.deadline,
            self.longest_prefix.len(),
            self.partition_operations_total,
            self.state_after_prefix,
        )
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({} operations) has no linearization.",
            partition_name(&self.partition),
            self.partition_operations_total
        )?;
        let shown = self.longest_prefix.len().min(PREFIX_SHOWN_MAX);
        writeln!(
            f,
            "longest linearizable prefix: {} operations{}",
            self.longest_prefix.len(),
            if shown < self.longest_prefix.len() {
                format!(", the last {shown}:")
            } else if shown > 0 {
                ":".to_string()
            } else {
                String::new()
            }
        )?;
        for operation in &self.longest_prefix[self.longest_prefix.len() - shown..] {
            writeln!(f, "  {operation}")?;
        }
        writeln!(f, "state after it: {}", self.state_after_prefix)?;
        writeln!(f, "no operation could be linearized next:")?;
        for operation in self.stuck.iter().take(STUCK_SHOWN_MAX) {
            writeln!(f, "  {operation}")?;
        }
        if self.stuck.len() > STUCK_SHOWN_MAX {
            writeln!(f, "  ... and {} more", self.stuck.len() - STUCK_SHOWN_MAX)?;
        }
        write!(
            f,
            "yet {} returned at {}.",
            short_name(&self.deadline),
            describe_time(self.deadline.return_time)
        )
    }
}

impl fmt::Display for DescribedOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} process {} [{}, {}] {}",
            short_name(self),
            self.process,
            self.call_time,
            describe_time(self.return_time),
            self.description
        )
    }
}

fn short_name(operation: &DescribedOperation) -> String {
    format!("op #{}", operation.history_index)
}

fn describe_time(time: Option<u64>) -> String {
    time.map_or_else(|| "unknown".to_string(), |time| time.to_string())
}
