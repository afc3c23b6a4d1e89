//! The entry points: a history file (any format), EDN bytes, or a history recorded in memory,
//! checked against a built-in model. This is what `orrery check-history` and the workloads'
//! final checks call.

use std::io::Read;

use super::builtin::{BuiltinModel, ModelError};
use super::format::{read_interned, Format, ReadError};
use super::history::History;
use super::interned::InternedHistory;
use super::linearizability::check_operations;
use super::model::{ConventionError, Conventions, ModelName, ModelSpec};
use super::report::Report;
use super::value::Position;

/// Why a history could not be checked.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CheckHistoryError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Convention(#[from] ConventionError),
    /// An operation does not fit the model; `position` is where its invocation was read (line
    /// 0 for a history recorded in memory).
    #[error("{}{error}", describe_position(*position))]
    Model { position: Position, error: ModelError },
}

fn describe_position(position: Position) -> String {
    if position.line == 0 {
        String::new()
    } else {
        format!("{}:{}: ", position.line, position.column)
    }
}

/// A check of a history file: the report, the format read and the conventions applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    pub report: Report,
    pub format: Format,
    pub spec: ModelSpec,
}

/// Reads a history from `reader` (in `format`, or the format its first bytes show) and checks
/// it against `model` with `conventions`, the ones left out taking the format's defaults.
pub fn check_reader(
    reader: impl Read,
    format: Option<Format>,
    model: ModelName,
    conventions: &Conventions,
    steps_max: u64,
) -> Result<Checked, CheckHistoryError> {
    // Conventions that do not fit the model are refused before anything is read.
    ModelSpec::with_conventions(model, conventions)?;
    let (history, format) = read_interned(reader, format)?;
    let spec = spec_for_format(model, conventions, format)?;
    let report = check_interned(history, &spec, steps_max)?;
    Ok(Checked { report, format, spec })
}

/// The model with `conventions`, the ones left out taking `format`'s defaults.
pub fn spec_for_format(
    model: ModelName,
    conventions: &Conventions,
    format: Format,
) -> Result<ModelSpec, ConventionError> {
    let mut conventions = conventions.clone();
    if conventions.initial.is_none() && ModelSpec::holds_a_value(model) {
        conventions.initial = Some(format.initial_value());
    }
    ModelSpec::with_conventions(model, &conventions)
}

/// Checks a history already read. The history's operations are dropped once the model has
/// taken them over, so the search does not hold two copies.
pub fn check_interned(
    history: InternedHistory,
    spec: &ModelSpec,
    steps_max: u64,
) -> Result<Report, CheckHistoryError> {
    let InternedHistory { values, functions, operations, .. } = history;
    let model = BuiltinModel::new(spec.clone(), values);
    let invocations = model.invocations(&operations, &functions).map_err(|error| {
        let position = operations[error.index].position;
        CheckHistoryError::Model { position, error }
    })?;
    drop(operations);
    Ok(check_operations(&model, &invocations, steps_max))
}

/// Reads a Jepsen EDN history and checks it against `model` within `steps_max` search steps.
pub fn check_edn(
    text: &[u8],
    model: impl Into<ModelSpec>,
    steps_max: u64,
) -> Result<Report, CheckHistoryError> {
    let (history, _) = read_interned(text, Some(Format::Edn))?;
    check_interned(history, &model.into(), steps_max)
}

/// Checks a recorded history against `model` within `steps_max` search steps.
pub fn check_history(
    history: &History,
    model: impl Into<ModelSpec>,
    steps_max: u64,
) -> Result<Report, ModelError> {
    let interned = InternedHistory::from_history(history);
    match check_interned(interned, &model.into(), steps_max) {
        Ok(report) => Ok(report),
        Err(CheckHistoryError::Model { error, .. }) => Err(error),
        Err(other) => unreachable!("a recorded history is read without error: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::report::Verdict;
    use crate::check::value::Value;

    const PORCUPINE_KV: &str = "{:process 0, :type :invoke, :f :get, :key \"a\", :value nil}\n\
                                {:process 0, :type :ok, :f :get, :key \"a\", :value \"\"}\n";

    // Proves the conventions come from the format unless given: porcupine's kv text is EDN to
    // the eye, read as EDN it keeps Jepsen's nil and fails; named, or given `""`, it passes;
    // and a given convention wins over the format's.
    #[test]
    fn conventions_come_from_the_format_unless_given() {
        let check = |format, initial: Option<Value>| {
            let conventions = Conventions { initial, missing: None };
            let checked =
                check_reader(PORCUPINE_KV.as_bytes(), format, ModelName::Kv, &conventions, 1000)
                    .expect("reads and checks");
            (checked.format, matches!(checked.report.verdict, Verdict::Linearizable))
        };
        assert_eq!(check(None, None), (Format::Edn, false));
        assert_eq!(check(Some(Format::PorcupineKv), None), (Format::PorcupineKv, true));
        assert_eq!(check(None, Some(Value::Str("".into()))), (Format::Edn, true));
        assert_eq!(
            check(Some(Format::PorcupineKv), Some(Value::Nil)),
            (Format::PorcupineKv, false)
        );
        let refused = check_reader(
            PORCUPINE_KV.as_bytes(),
            None,
            ModelName::UniqueIds,
            &Conventions { initial: Some(Value::Int(0)), missing: None },
            1000,
        );
        assert!(matches!(refused, Err(CheckHistoryError::Convention(_))), "{refused:?}");
    }
}
