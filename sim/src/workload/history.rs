//! Jepsen-style histories recorded as observations, and the check that judges them for
//! linearizability. A client stamps each operation's invocation and completion through its
//! node authority; the check folds those observations into a `check::History` in event order
//! (so clients that crash mid-operation leave it indeterminate, as Jepsen does) and runs the
//! linearizability checker at the end of the run.
//!
//! The observation kinds and fields (Jepsen's vocabulary):
//! - `invoke` with `process` (u64: a client's process number; at most one operation open per
//!   process), `f` (`read`, `write`, `cas`, `get`, `put`, `append`...), optionally `key`,
//!   `value` (the written value), `expected` (a cas's expected value);
//! - `ok` with `process` and optionally `value` (what a read returned; absent is nil);
//! - `fail` (certainly did not happen) or `info` (may have happened) with `process`.
//!
//! ```
//! use orrery_sim::workload::history;
//! use orrery_sim::{NodeApi, Value};
//!
//! fn put<M, N: NodeApi<M>>(node: &mut N, process: u64, key: &str, value: u64) {
//!     history::invoke(node, process, "put", Some(Value::Str(key)), Some(value.into()));
//! }
//! ```

use std::collections::BTreeMap;

use crate::check::{check_history, Completion, Function, History, ModelName, OperationRef};
use crate::node::NodeApi;
use crate::observation::Observation;
use crate::trace::{OwnedValue, Value};
use crate::wire::Wire;

use super::check::{CheckLogic, Run};
use super::CheckResult;

/// Records the invocation of an operation by `process`.
pub fn invoke<M, N: NodeApi<M>>(
    node: &mut N,
    process: u64,
    function: &'static str,
    key: Option<Value<'_>>,
    value: Option<Value<'_>>,
) {
    let mut fields = vec![("process", Value::U64(process)), ("f", Value::Str(function))];
    fields.extend(key.map(|key| ("key", key)));
    fields.extend(value.map(|value| ("value", value)));
    node.observe("invoke", &fields);
}

/// Records a compare-and-set invocation: `expected` is compared, `value` written.
pub fn invoke_cas<M, N: NodeApi<M>>(
    node: &mut N,
    process: u64,
    key: Option<Value<'_>>,
    expected: Value<'_>,
    value: Value<'_>,
) {
    let mut fields = vec![("process", Value::U64(process)), ("f", Value::Str("cas"))];
    fields.extend(key.map(|key| ("key", key)));
    fields.extend([("expected", expected), ("value", value)]);
    node.observe("invoke", &fields);
}

/// Records that `process`'s open operation happened, returning `value` (a read's result).
pub fn ok<M, N: NodeApi<M>>(node: &mut N, process: u64, value: Option<Value<'_>>) {
    let mut fields = vec![("process", Value::U64(process))];
    fields.extend(value.map(|value| ("value", value)));
    node.observe("ok", &fields);
}

/// Records that `process`'s open operation certainly did not happen.
pub fn fail<M, N: NodeApi<M>>(node: &mut N, process: u64) {
    node.observe("fail", &[("process", Value::U64(process))]);
}

/// Records that `process`'s open operation may or may not have happened.
pub fn info<M, N: NodeApi<M>>(node: &mut N, process: u64) {
    node.observe("info", &[("process", Value::U64(process))]);
}

/// The history that `observations` (in order) record, folded exactly as the `linearizable`
/// check folds a run's: for histories recorded outside a simulated run, such as production
/// clients' JSON-lines traces. Observations of other kinds are ignored; an `Err` says what is
/// malformed. Operations still open at the end stay open (indeterminate).
pub fn history_of<'a>(
    observations: impl IntoIterator<Item = &'a Observation>,
) -> Result<History, String> {
    let mut check = HistoryCheck::new(ModelName::Kv, 0);
    for observation in observations {
        check.record(observation)?;
    }
    Ok(check.history)
}

/// The check's state: the history so far and each process's open operation.
pub(crate) struct HistoryCheck {
    model: ModelName,
    steps_max: u64,
    history: History,
    open: BTreeMap<u64, OperationRef>,
    malformed: Option<String>,
}

impl HistoryCheck {
    pub(crate) fn new(model: ModelName, steps_max: u64) -> HistoryCheck {
        HistoryCheck {
            model,
            steps_max,
            history: History::new(),
            open: BTreeMap::new(),
            malformed: None,
        }
    }

    fn record(&mut self, observation: &Observation) -> Result<(), String> {
        let time = observation.at.as_nanos();
        let process = || {
            observation
                .u64("process")
                .ok_or_else(|| format!("history observation without a `process`: {observation}"))
        };
        match observation.kind.as_ref() {
            "invoke" => {
                let process = process()?;
                let function = observation
                    .text("f")
                    .ok_or_else(|| format!("`invoke` without `f`: {observation}"))?;
                let key = observation.get("key").map(history_value);
                let value =
                    observation.get("value").map_or(crate::check::Value::Nil, history_value);
                let input = match observation.get("expected") {
                    Some(expected) => {
                        crate::check::Value::Vector(vec![history_value(expected), value])
                    }
                    None => value,
                };
                if self.open.contains_key(&process) {
                    return Err(format!(
                        "process {process} invoked an operation while one was open: {observation}"
                    ));
                }
                let operation = self.history.invoke_with_key(
                    time,
                    process,
                    Function::from_name(&function),
                    key,
                    input,
                );
                self.open.insert(process, operation);
            }
            kind @ ("ok" | "fail" | "info") => {
                let process = process()?;
                let Some(operation) = self.open.remove(&process) else {
                    return Err(format!(
                        "`{kind}` of process {process} with no open operation: {observation}"
                    ));
                };
                let completion = match kind {
                    "ok" => Completion::Ok(
                        observation.get("value").map_or(crate::check::Value::Nil, history_value),
                    ),
                    "fail" => Completion::Fail,
                    _ => Completion::Info,
                };
                self.history.complete(time, operation, completion);
            }
            _ => {}
        }
        Ok(())
    }
}

/// An observed value as a history value: integers, text and booleans as themselves, a node
/// as its index.
fn history_value(value: &OwnedValue) -> crate::check::Value {
    use crate::check::Value as V;
    match value {
        OwnedValue::U64(v) => V::Int(i64::try_from(*v).unwrap_or(i64::MAX)),
        OwnedValue::I64(v) => V::Int(*v),
        OwnedValue::Bool(v) => V::Bool(*v),
        OwnedValue::Str(v) => V::Str(v.as_str().into()),
        OwnedValue::Node(node) => V::Int(i64::from(node.0)),
    }
}

impl<M, P, W: Wire<M>> CheckLogic<M, P, W> for HistoryCheck {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        if self.malformed.is_none() {
            if let Err(message) = self.record(observation) {
                self.malformed = Some(message);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, _run: &Run<'_, M, P, W>) -> CheckResult {
        if let Some(message) = &self.malformed {
            return CheckResult::Fail(format!("the recorded history is malformed: {message}"));
        }
        match check_history(&self.history, self.model, self.steps_max) {
            Err(error) => CheckResult::Fail(format!(
                "the history does not fit the {} model: {error}",
                self.model
            )),
            Ok(report) => report.check_result(),
        }
    }
}
