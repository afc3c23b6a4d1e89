//! The built-in models as one [`Model`] over interned values: register, compare-and-set
//! register, key-value store, set, FIFO queue, counter and unique-id generator.
//!
//! They share one implementation because a state is always one interned value (the register's
//! value, the key's string, the whole set, the queue's contents, the count), so a step is a
//! comparison or one memoised derivation, and the checker's cache compares four bytes. Every
//! history is split by key (Jepsen's `independent` form or a `:key` field) and each key is
//! checked on its own; a unique-id generator is also split by the id returned, since two
//! generates interfere only when they return the same id.
//!
//! Semantics, as in porcupine's etcd model and Jepsen: a `:fail` compare-and-set is a definite
//! answer (linearized, the register did not hold the expected value); any other `:fail` did not
//! happen and is dropped; an `:info` or never-completed operation may or may not have happened.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::history::Function;
use super::interned::{CompletionKind, InternedOperation, NO_KEY};
use super::linearizability::{Invocation, Model, Outcome, Partition};
use super::model::{canonical_set, ModelName, ModelSpec};
use super::value::Value;
use super::values::{Derivation, ValueId, ValueTable};

/// The state of a register or key whose convention distinguishes "never written" from the
/// initial value (a missing read is written differently from the initial value).
const ABSENT: ValueId = u32::MAX - 1;

/// A unique-id partition's states: the id was not returned yet, or it was.
const NOT_RETURNED: ValueId = 0;
const RETURNED: ValueId = 1;

/// A built-in model over the values of one history.
pub struct BuiltinModel {
    spec: ModelSpec,
    /// Behind a lock because partitions are searched in parallel and derivations (appends, set
    /// additions, dequeues) intern the values they make.
    values: Mutex<ValueTable>,
    init: ValueId,
    /// The interned `missing` value, if the model has one.
    missing: ValueId,
    /// The interned initial value (what `ABSENT` holds).
    initial: ValueId,
    /// The empty queue.
    empty_queue: ValueId,
}

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    Write(ValueId),
    Cas {
        expected: ValueId,
        new: ValueId,
    },
    Append(ValueId),
    /// Add an element (set) or an amount (counter).
    Add(ValueId),
    Enqueue(ValueId),
    Dequeue,
    Generate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltinInput {
    pub key: ValueId,
    pub action: Action,
    /// For a unique-id generator, the id returned (its partition); otherwise unused.
    pub id: ValueId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinOutput {
    /// A read, dequeue or generate returned this value.
    Value(ValueId),
    /// A write, append, add, enqueue or successful compare-and-set returned ok.
    Done,
    /// A compare-and-set answered that the register did not hold the expected value.
    CasFailed,
}

/// Why a history does not fit the chosen model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("operation #{index} (process {process}): {kind}")]
pub struct ModelError {
    /// The operation's index in the history.
    pub index: usize,
    pub process: u64,
    pub kind: ModelErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelErrorKind {
    #[error("the {model} model has no :{function} operation")]
    UnsupportedFunction { model: ModelName, function: String },
    #[error("a :cas value must be [expected new], found {found}")]
    CasValueNotAPair { found: String },
    #[error("a {model} :{function} {what} must be {expected}, found {found}")]
    InvalidValue {
        model: ModelName,
        function: &'static str,
        what: &'static str,
        expected: &'static str,
        found: String,
    },
}

/// The table, even if a panicking thread poisoned its lock: interning leaves it consistent
/// at every step.
fn lock(table: &Mutex<ValueTable>) -> MutexGuard<'_, ValueTable> {
    table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl BuiltinModel {
    /// The model `spec` over the values of `values` (which it takes over).
    pub fn new(spec: ModelSpec, mut values: ValueTable) -> BuiltinModel {
        let initial = values.intern(&spec.initial);
        let missing = values.intern(spec.missing.as_ref().unwrap_or(&Value::Nil));
        let empty_queue = values.intern_owned(Value::Vector(Vec::new()));
        let init = match spec.name {
            ModelName::UniqueIds => NOT_RETURNED,
            // A missing read written as the initial value needs no state of its own.
            name if ModelSpec::holds_a_value(name)
                && spec.missing.as_ref().is_some_and(|missing| *missing != spec.initial) =>
            {
                ABSENT
            }
            _ => initial,
        };
        BuiltinModel { spec, values: Mutex::new(values), init, missing, initial, empty_queue }
    }

    /// The history's operations in the model's terms. `:fail` operations other than
    /// compare-and-set are left out: they did not happen; so are unique-id generates whose id
    /// is unknown, since they constrain nothing.
    pub(super) fn invocations(
        &self,
        operations: &[InternedOperation],
        functions: &[Function],
    ) -> Result<Vec<Invocation<BuiltinInput, BuiltinOutput>>, ModelError> {
        let mut values = lock(&self.values);
        let name = self.spec.name;
        let mut invocations = Vec::with_capacity(operations.len());
        for (index, operation) in operations.iter().enumerate() {
            let error = |kind| ModelError { index, process: operation.process, kind };
            let function = &functions[operation.function as usize];
            let action = match action(name, function, operation.input, &mut values) {
                Ok(Some(action)) => action,
                Ok(None) => {
                    let function = function.name().to_string();
                    return Err(error(ModelErrorKind::UnsupportedFunction {
                        model: name,
                        function,
                    }));
                }
                Err(kind) => return Err(error(kind)),
            };
            let output = match operation.completion {
                CompletionKind::Open | CompletionKind::Info if action == Action::Generate => {
                    continue
                }
                CompletionKind::Open | CompletionKind::Info => None,
                CompletionKind::Fail if matches!(action, Action::Cas { .. }) => {
                    Some(BuiltinOutput::CasFailed)
                }
                CompletionKind::Fail => continue,
                CompletionKind::Ok => Some(match action {
                    Action::Read | Action::Dequeue | Action::Generate => BuiltinOutput::Value(
                        self.output_value(&mut values, action, operation.output).map_err(error)?,
                    ),
                    _ => BuiltinOutput::Done,
                }),
            };
            let outcome = match output {
                None => Outcome::Indeterminate,
                Some(output) => Outcome::Returned { time: operation.complete_time, output },
            };
            let id = match output {
                Some(BuiltinOutput::Value(id)) if action == Action::Generate => id,
                _ => 0,
            };
            invocations.push(Invocation {
                process: operation.process,
                call_time: operation.invoke_time,
                outcome,
                input: BuiltinInput { key: operation.key, action, id },
                history_index: index,
            });
        }
        Ok(invocations)
    }

    /// A read's value in the model's form: a set read as its canonical set, a counter read as
    /// an integer.
    fn output_value(
        &self,
        values: &mut ValueTable,
        action: Action,
        output: ValueId,
    ) -> Result<ValueId, ModelErrorKind> {
        let invalid = |expected, found: &Value| ModelErrorKind::InvalidValue {
            model: self.spec.name,
            function: "read",
            what: "result",
            expected,
            found: found.to_string(),
        };
        match (self.spec.name, action) {
            (ModelName::Set, Action::Read) => match values.get(output) {
                Value::Set(items) | Value::Vector(items) | Value::List(items) => {
                    let set = canonical_set(items.clone());
                    Ok(values.intern_owned(set))
                }
                other => Err(invalid("a collection", other)),
            },
            (ModelName::Counter, Action::Read) => match values.get(output) {
                Value::Int(_) => Ok(output),
                other => Err(invalid("an integer", other)),
            },
            _ => Ok(output),
        }
    }

    fn describe_value(&self, id: ValueId) -> String {
        if id == ABSENT {
            return format!("never written (reads as {})", self.describe_value(self.missing));
        }
        lock(&self.values).get(id).to_string()
    }

    /// The register's value for a compare or an append: the initial value if never written.
    #[inline]
    fn value_of(&self, state: ValueId) -> ValueId {
        if state == ABSENT {
            self.initial
        } else {
            state
        }
    }
}

/// What `function` does in model `name`, with its input interned; `None` when the model has no
/// such operation.
fn action(
    name: ModelName,
    function: &Function,
    input: ValueId,
    values: &mut ValueTable,
) -> Result<Option<Action>, ModelErrorKind> {
    use ModelName::*;
    Ok(Some(match (function, name) {
        (Function::Read, Register | CasRegister | Kv | Set | Counter) | (Function::Get, Kv) => {
            Action::Read
        }
        (Function::Write, Register | CasRegister | Kv) | (Function::Put, Kv) => {
            Action::Write(input)
        }
        (Function::Cas, CasRegister) => match values.get(input) {
            Value::Vector(pair) | Value::List(pair) if pair.len() == 2 => {
                let (expected, new) = (pair[0].clone(), pair[1].clone());
                Action::Cas {
                    expected: values.intern_owned(expected),
                    new: values.intern_owned(new),
                }
            }
            other => return Err(ModelErrorKind::CasValueNotAPair { found: other.to_string() }),
        },
        (Function::Append, Kv) => Action::Append(input),
        (Function::Add, Set) => Action::Add(input),
        (Function::Add, Counter) => match values.get(input) {
            Value::Int(_) => Action::Add(input),
            other => {
                return Err(ModelErrorKind::InvalidValue {
                    model: name,
                    function: "add",
                    what: "value",
                    expected: "an integer",
                    found: other.to_string(),
                })
            }
        },
        (Function::Enqueue, Queue) => Action::Enqueue(input),
        (Function::Dequeue, Queue) => Action::Dequeue,
        (Function::Generate, UniqueIds) => Action::Generate,
        _ => return Ok(None),
    }))
}

impl Model for BuiltinModel {
    type State = ValueId;
    type Input = BuiltinInput;
    type Output = BuiltinOutput;

    fn init(&self) -> ValueId {
        self.init
    }

    #[inline]
    fn step(
        &self,
        state: &ValueId,
        input: &BuiltinInput,
        output: Option<&BuiltinOutput>,
    ) -> Option<ValueId> {
        let state = *state;
        match (input.action, output) {
            (Action::Read, None) => Some(state),
            (Action::Read, Some(BuiltinOutput::Value(value))) => {
                let reads_as = if state == ABSENT { self.missing } else { state };
                (*value == reads_as).then_some(state)
            }
            (Action::Write(value), None | Some(BuiltinOutput::Done)) => Some(value),
            (Action::Cas { expected, new }, None) => {
                Some(if self.value_of(state) == expected { new } else { state })
            }
            (Action::Cas { expected, new }, Some(BuiltinOutput::Done)) => {
                (self.value_of(state) == expected).then_some(new)
            }
            (Action::Cas { expected, .. }, Some(BuiltinOutput::CasFailed)) => {
                (self.value_of(state) != expected).then_some(state)
            }
            (Action::Append(suffix), None | Some(BuiltinOutput::Done)) => {
                let base = self.value_of(state);
                lock(&self.values)
                    .derive(Derivation::Append, base, suffix, |values| {
                        appended(values, base, suffix).map(|id| (id, 0))
                    })
                    .map(|(id, _)| id)
            }
            (Action::Add(amount), None | Some(BuiltinOutput::Done)) => {
                let derivation = match self.spec.name {
                    ModelName::Counter => Derivation::CounterAdd,
                    _ => Derivation::SetAdd,
                };
                lock(&self.values)
                    .derive(derivation, state, amount, |values| {
                        added(values, derivation, state, amount).map(|id| (id, 0))
                    })
                    .map(|(id, _)| id)
            }
            (Action::Enqueue(element), None | Some(BuiltinOutput::Done)) => lock(&self.values)
                .derive(Derivation::Enqueue, state, element, |values| {
                    let Value::Vector(items) = values.get(state) else { return None };
                    let mut items = items.clone();
                    items.push(values.get(element).clone());
                    Some((values.intern_owned(Value::Vector(items)), 0))
                })
                .map(|(id, _)| id),
            (Action::Dequeue, output) => {
                if state == self.empty_queue {
                    return match output {
                        None => Some(state),
                        Some(BuiltinOutput::Value(value)) => {
                            (*value == self.missing).then_some(state)
                        }
                        Some(_) => None,
                    };
                }
                let (front, rest) =
                    lock(&self.values).derive(Derivation::Dequeue, state, 0, |values| {
                        let Value::Vector(items) = values.get(state) else { return None };
                        let (front, rest) = (items[0].clone(), items[1..].to_vec());
                        Some((values.intern_owned(front), values.intern_owned(Value::Vector(rest))))
                    })?;
                match output {
                    None => Some(rest),
                    Some(BuiltinOutput::Value(value)) => (*value == front).then_some(rest),
                    Some(_) => None,
                }
            }
            (Action::Generate, _) => (state == NOT_RETURNED).then_some(RETURNED),
            _ => None,
        }
    }

    /// One partition per key, in key order (per key and id returned, for unique ids); a
    /// history without keys is one partition.
    fn partition(&self, operations: &[Invocation<BuiltinInput, BuiltinOutput>]) -> Vec<Partition> {
        let unique_ids = self.spec.name == ModelName::UniqueIds;
        let mut groups: BTreeMap<(ValueId, ValueId), Vec<usize>> = BTreeMap::new();
        for (index, operation) in operations.iter().enumerate() {
            let id = if unique_ids { operation.input.id } else { 0 };
            groups.entry((operation.input.key, id)).or_default().push(index);
        }
        let values = lock(&self.values);
        let value = |id: ValueId| (id != NO_KEY).then(|| values.get(id));
        let mut partitions: Vec<(PartitionKey<'_>, Vec<usize>)> = groups
            .into_iter()
            // An id returned once is linearizable on its own: only repeats need a search.
            .filter(|(_, operations)| !unique_ids || operations.len() > 1)
            .map(|((key, id), operations)| {
                ((value(key), unique_ids.then(|| values.get(id))), operations)
            })
            .collect();
        // Key order, not first-appearance order, so that the report does not depend on the
        // interleaving.
        partitions.sort_by(|a, b| a.0.cmp(&b.0));
        partitions
            .into_iter()
            .map(|((key, id), operations)| {
                let label = match (key, id) {
                    (None, None) => String::new(),
                    (Some(key), None) => format!("key {key}"),
                    (None, Some(id)) => format!("id {id}"),
                    (Some(key), Some(id)) => format!("key {key}, id {id}"),
                };
                Partition { label, operations }
            })
            .collect()
    }

    fn describe_operation(&self, input: &BuiltinInput, output: Option<&BuiltinOutput>) -> String {
        let result = match output {
            None => " -> unknown",
            Some(BuiltinOutput::CasFailed) => " -> failed",
            Some(_) => "",
        };
        let returned = |name: &str, value: ValueId| {
            if value == self.missing && self.spec.name == ModelName::Queue {
                format!("{name} -> empty ({})", self.describe_value(value))
            } else {
                format!("{name} -> {}", self.describe_value(value))
            }
        };
        match (input.action, output) {
            (Action::Read, Some(BuiltinOutput::Value(value))) => returned("read", *value),
            (Action::Dequeue, Some(BuiltinOutput::Value(value))) => returned("dequeue", *value),
            (Action::Generate, Some(BuiltinOutput::Value(value))) => returned("generate", *value),
            (Action::Read, _) => format!("read{result}"),
            (Action::Dequeue, _) => format!("dequeue{result}"),
            (Action::Generate, _) => format!("generate{result}"),
            (Action::Write(value), _) => format!("write {}{result}", self.describe_value(value)),
            (Action::Cas { expected, new }, _) => format!(
                "cas {} -> {}{result}",
                self.describe_value(expected),
                self.describe_value(new)
            ),
            (Action::Append(value), _) => format!("append {}{result}", self.describe_value(value)),
            (Action::Add(value), _) => format!("add {}{result}", self.describe_value(value)),
            (Action::Enqueue(value), _) => {
                format!("enqueue {}{result}", self.describe_value(value))
            }
        }
    }

    fn describe_state(&self, state: &ValueId) -> String {
        match self.spec.name {
            ModelName::UniqueIds if *state == NOT_RETURNED => "not returned yet".to_string(),
            ModelName::UniqueIds => "already returned".to_string(),
            _ => self.describe_value(*state),
        }
    }
}

/// What orders partitions: the key (if any), then the id returned (for unique ids).
type PartitionKey<'a> = (Option<&'a Value>, Option<&'a Value>);

/// `base` with `suffix` appended: text to text (`nil` is the empty text), or an element to a
/// vector (`nil` is the empty vector).
fn appended(values: &mut ValueTable, base: ValueId, suffix: ValueId) -> Option<ValueId> {
    let result = match (values.get(base), values.get(suffix)) {
        (Value::Nil, Value::Str(_)) => return Some(suffix),
        (Value::Str(_), Value::Str(_)) => return values.concatenate(base, suffix),
        (Value::Nil, element) => Value::Vector(vec![element.clone()]),
        (Value::Vector(items), element) => {
            let mut items = items.clone();
            items.push(element.clone());
            Value::Vector(items)
        }
        _ => return None,
    };
    Some(values.intern_owned(result))
}

/// A counter plus an amount, or a set with one more element.
fn added(
    values: &mut ValueTable,
    derivation: Derivation,
    state: ValueId,
    amount: ValueId,
) -> Option<ValueId> {
    let result = match (derivation, values.get(state), values.get(amount)) {
        (Derivation::CounterAdd, Value::Int(total), Value::Int(amount)) => {
            Value::Int(total.checked_add(*amount)?)
        }
        (Derivation::SetAdd, Value::Set(items), element) => match items.binary_search(element) {
            Ok(_) => return Some(state),
            Err(at) => {
                let mut items = items.clone();
                items.insert(at, element.clone());
                Value::Set(items)
            }
        },
        _ => return None,
    };
    Some(values.intern_owned(result))
}
