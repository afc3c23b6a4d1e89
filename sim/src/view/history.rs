//! The history view's data, porcupine-style: per key (partition), one row per client process,
//! each operation a bar from invoke to completion; when the report says the history is not
//! linearizable, the longest linearizable prefix is numbered in linearization order and the
//! operations that could not be placed are marked: the one whose return ended the search
//! (`deadline`) and the others that could have gone next (`stuck`).
//!
//! Built from the public [`History`] and linearizability [`Report`] only: operations are keyed
//! and ordered as the built-in models partition them (`key K`, in key order), so the report's
//! partition label and operation indices name rows here.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::check::{Completion, DescribedOperation, History, Report, Value, Verdict};

/// Everything the history view shows.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryData {
    /// `linearizable`, `not linearizable` or `unknown`.
    pub verdict: &'static str,
    /// The report as `orrery check-history` prints it.
    pub report: String,
    pub operations: Vec<OperationData>,
    /// Keys in the order the checker searches them.
    pub partitions: Vec<PartitionData>,
    pub explanation: Option<ExplanationData>,
    /// The latest time of any invoke or completion.
    pub time_end: u64,
}

/// One operation of the history, indexed as in [`History::operations`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationData {
    pub process: u64,
    pub function: String,
    pub key: Option<String>,
    pub input: String,
    /// The value an `:ok` completion returned.
    pub output: Option<String>,
    /// `ok`, `fail`, `info` or `open` (never completed).
    pub completion: &'static str,
    pub call: u64,
    /// `None` when the outcome is unknown (`info` or `open`): the bar runs to the end.
    pub ret: Option<u64>,
    /// `prefix`, `stuck`, `deadline`, or empty.
    pub status: &'static str,
    /// The position in the longest linearizable prefix, from 1.
    pub order: Option<u32>,
    /// The model's own words for it, where the report names it (`read -> 1`).
    pub model_description: Option<String>,
}

/// One key of the history and how the check left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionData {
    /// `key 3`, as the report names partitions; empty for a history without keys.
    pub label: String,
    /// `linearizable`, `not linearizable`, `not checked` (the check stopped at an earlier
    /// failure) or `undecided` (the step budget ran out).
    pub status: &'static str,
    pub operations: Vec<u32>,
    /// The processes with operations on this key, ascending: the rows.
    pub processes: Vec<u64>,
}

/// Where the search got deepest in the failing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExplanationData {
    pub partition: String,
    /// The longest linearizable prefix, in linearization order.
    pub prefix: Vec<u32>,
    pub state_after_prefix: String,
    pub stuck: Vec<u32>,
    pub deadline: u32,
}

impl HistoryData {
    /// The view of `history` as `report` judged it.
    pub fn new(history: &History, report: &Report) -> HistoryData {
        let mut operations: Vec<OperationData> =
            history.operations().iter().map(operation_data).collect();
        let time_end = operations
            .iter()
            .map(|operation| operation.ret.unwrap_or(operation.call))
            .max()
            .unwrap_or(0);
        let (verdict, explanation) = match &report.verdict {
            Verdict::Linearizable => ("linearizable", None),
            Verdict::Unknown { .. } => ("unknown", None),
            Verdict::NotLinearizable(explanation) => ("not linearizable", Some(explanation)),
        };
        let explanation = explanation.map(|explanation| {
            let mut mark = |described: &DescribedOperation, status: &'static str| {
                let index = described.history_index;
                if let Some(operation) = operations.get_mut(index) {
                    operation.status = status;
                    operation.model_description = Some(described.description.clone());
                }
                index as u32
            };
            let prefix: Vec<u32> =
                explanation.longest_prefix.iter().map(|op| mark(op, "prefix")).collect();
            let stuck: Vec<u32> = explanation.stuck.iter().map(|op| mark(op, "stuck")).collect();
            let deadline = mark(&explanation.deadline, "deadline");
            for (position, &index) in prefix.iter().enumerate() {
                if let Some(operation) = operations.get_mut(index as usize) {
                    operation.order = Some(position as u32 + 1);
                }
            }
            ExplanationData {
                partition: explanation.partition.clone(),
                prefix,
                state_after_prefix: explanation.state_after_prefix.clone(),
                stuck,
                deadline,
            }
        });
        let partitions = partitions(history, &operations, verdict, explanation.as_ref());
        HistoryData {
            verdict,
            report: report.to_string(),
            operations,
            partitions,
            explanation,
            time_end,
        }
    }
}

fn operation_data(operation: &crate::check::Operation) -> OperationData {
    let (completion, output, ret) = match &operation.completed {
        None => ("open", None, None),
        Some(completed) => match &completed.completion {
            Completion::Ok(value) => ("ok", Some(value.to_string()), Some(completed.time)),
            Completion::Fail => ("fail", None, Some(completed.time)),
            Completion::Info => ("info", None, None),
        },
    };
    OperationData {
        process: operation.process,
        function: operation.function.name().to_string(),
        key: operation.key.as_ref().map(Value::to_string),
        input: operation.input.to_string(),
        output,
        completion,
        call: operation.invoke_time,
        ret,
        status: "",
        order: None,
        model_description: None,
    }
}

/// The keys in key order (the order the checker searches them), each with its status: keys
/// before the failing one passed, keys after it were not searched.
fn partitions(
    history: &History,
    operations: &[OperationData],
    verdict: &'static str,
    explanation: Option<&ExplanationData>,
) -> Vec<PartitionData> {
    let mut by_key: BTreeMap<Option<&Value>, Vec<u32>> = BTreeMap::new();
    for (index, operation) in history.operations().iter().enumerate() {
        by_key.entry(operation.key.as_ref()).or_default().push(index as u32);
    }
    let mut seen_failure = false;
    by_key
        .into_iter()
        .map(|(key, members)| {
            let label = key.map_or_else(String::new, |key| format!("key {key}"));
            let status = match (verdict, explanation) {
                ("linearizable", _) => "linearizable",
                (_, Some(explanation)) if explanation.partition == label => {
                    seen_failure = true;
                    "not linearizable"
                }
                (_, Some(_)) if seen_failure => "not checked",
                (_, Some(_)) => "linearizable",
                _ => "undecided",
            };
            let mut processes: Vec<u64> =
                members.iter().map(|&i| operations[i as usize].process).collect();
            processes.sort_unstable();
            processes.dedup();
            PartitionData { label, status, operations: members, processes }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{check_history, read_history, ModelName};

    // A key-value history where process 1 reads 2 from key 1 after process 0's write of 2
    // was followed by its write of 3 completing: no order explains the read. Key 0 is fine,
    // key 2 comes after the failing key.
    const NOT_LINEARIZABLE: &str = "\
{:type :invoke, :f :write, :key 0, :value 7, :process 2, :time 0}
{:type :ok, :f :write, :key 0, :value 7, :process 2, :time 5}
{:type :invoke, :f :write, :key 1, :value 2, :process 0, :time 10}
{:type :ok, :f :write, :key 1, :value 2, :process 0, :time 20}
{:type :invoke, :f :write, :key 1, :value 3, :process 0, :time 30}
{:type :ok, :f :write, :key 1, :value 3, :process 0, :time 40}
{:type :invoke, :f :read, :key 1, :value nil, :process 1, :time 50}
{:type :ok, :f :read, :key 1, :value 2, :process 1, :time 60}
{:type :invoke, :f :write, :key 2, :value 1, :process 1, :time 70}
{:type :info, :f :write, :key 2, :value 1, :process 1, :time 80}
";

    fn data(text: &str) -> HistoryData {
        let history = read_history(text.as_bytes()).expect("the history reads");
        let report = check_history(&history, ModelName::Kv, 1_000_000).expect("fits the model");
        HistoryData::new(&history, &report)
    }

    // Proves a failing key's prefix is numbered in linearization order, the operation that
    // cannot be placed is marked, and keys before and after it get their statuses.
    #[test]
    fn marks_the_prefix_and_the_operation_that_cannot_be_placed() {
        let data = data(NOT_LINEARIZABLE);
        assert_eq!(data.verdict, "not linearizable");
        let statuses: Vec<(&str, &str)> =
            data.partitions.iter().map(|p| (p.label.as_str(), p.status)).collect();
        assert_eq!(
            statuses,
            [("key 0", "linearizable"), ("key 1", "not linearizable"), ("key 2", "not checked")]
        );
        let explanation = data.explanation.as_ref().expect("an explanation");
        assert_eq!(explanation.partition, "key 1");
        let read = &data.operations[3];
        assert_eq!((read.function.as_str(), read.output.as_deref()), ("read", Some("2")));
        assert_eq!(read.status, "deadline");
        assert_eq!(explanation.deadline, 3);
        for (position, &index) in explanation.prefix.iter().enumerate() {
            let operation = &data.operations[index as usize];
            assert_eq!(operation.status, "prefix");
            assert_eq!(operation.order, Some(position as u32 + 1));
            assert!(operation.model_description.is_some());
        }
        assert_eq!(data.partitions[1].processes, [0, 1]);
        let info = &data.operations[4];
        assert_eq!((info.completion, info.ret), ("info", None));
        assert_eq!(data.time_end, 70);
    }

    // Proves a linearizable history marks every key linearizable and nothing as stuck.
    #[test]
    fn linearizable_history_has_no_marks() {
        let text =
            NOT_LINEARIZABLE.replace(":f :read, :key 1, :value 2", ":f :read, :key 1, :value 3");
        let data = data(&text);
        assert_eq!(data.verdict, "linearizable");
        assert!(data.explanation.is_none());
        assert!(data.partitions.iter().all(|p| p.status == "linearizable"));
        assert!(data.operations.iter().all(|op| op.status.is_empty() && op.order.is_none()));
    }
}
