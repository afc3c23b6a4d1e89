//! The built-in models — register, compare-and-set register, key-value store — and the entry
//! points that check a recorded or EDN history against one of them.
//!
//! All three share one model, [`BuiltinModel`], because they differ only in which functions
//! they accept: a register reads and writes, a cas-register also compares-and-sets, a key-value
//! store gets, puts and appends. Every history is split by key (Jepsen's `independent` form or a
//! `:key` field) and each key is checked on its own.
//!
//! Values are interned to `u32` ids before the search, so a state is four bytes and a step is
//! an integer comparison. The only values made during the search are the results of appends;
//! they are interned on first use, which keeps ids canonical (equal text, equal id).
//!
//! Semantics, as in porcupine's etcd model and Jepsen: a `:fail` compare-and-set is a definite
//! answer (linearized, the register did not hold the expected value); any other `:fail` did not
//! happen and is dropped; an `:info` or never-completed operation may or may not have happened.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

use super::edn::{self, EdnError, Position, Value};
use super::history::{Completion, Function, History};
use super::linearizability::{
    check_operations, FxHasher, Invocation, Model, Outcome, Partition, Report,
};
use std::hash::{Hash, Hasher};

/// Which built-in model to check against; parsed from the CLI's `--model`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelName {
    /// `register`: read and write.
    Register,
    /// `cas-register`: read, write and compare-and-set (`:value [expected new]`).
    CasRegister,
    /// `kv`: get/read, put/write and append (string concatenation), per key.
    Kv,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown model {0:?}; expected register, cas-register or kv")]
pub struct UnknownModelName(pub String);

impl FromStr for ModelName {
    type Err = UnknownModelName;

    fn from_str(text: &str) -> Result<ModelName, UnknownModelName> {
        match text {
            "register" => Ok(ModelName::Register),
            "cas-register" => Ok(ModelName::CasRegister),
            "kv" => Ok(ModelName::Kv),
            other => Err(UnknownModelName(other.to_string())),
        }
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelName::Register => "register",
            ModelName::CasRegister => "cas-register",
            ModelName::Kv => "kv",
        })
    }
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
}

/// Why `check_edn` could not produce a verdict.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CheckHistoryError {
    #[error(transparent)]
    Edn(#[from] EdnError),
    #[error("{}:{}: {error}", position.line, position.column)]
    Model { position: Position, error: ModelError },
}

/// Reads a Jepsen EDN history and checks it against `model` within `steps_max` search steps.
/// This is what `orrery check-history` calls, with the file's bytes.
pub fn check_edn(
    text: &[u8],
    model: ModelName,
    steps_max: u64,
) -> Result<Report, CheckHistoryError> {
    let (history, positions) = edn::read_history_with_positions(text)?;
    check_history(&history, model, steps_max).map_err(|error| CheckHistoryError::Model {
        position: positions.get(error.index).copied().unwrap_or_default(),
        error,
    })
}

/// Checks a recorded history against `model` within `steps_max` search steps.
pub fn check_history(
    history: &History,
    model: ModelName,
    steps_max: u64,
) -> Result<Report, ModelError> {
    let builtin = BuiltinModel::new(model);
    let invocations = builtin.invocations(history)?;
    Ok(check_operations(&builtin, &invocations, steps_max))
}

/// The built-in models, over interned values.
pub struct BuiltinModel {
    name: ModelName,
    /// Behind a lock because partitions are searched in parallel and appends intern the
    /// values they make.
    values: Mutex<ValueTable>,
    /// The keys, interned like values; a key's id is its index.
    keys: Mutex<ValueTable>,
}

/// An interned value; [`NIL`] is `nil`.
pub type ValueId = u32;

/// The id of `nil`, the value of a key never written.
pub const NIL: ValueId = 0;

/// A key's id; [`NO_KEY`] for operations of a single-register history.
pub type KeyId = u32;

pub const NO_KEY: KeyId = u32::MAX;

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    Write(ValueId),
    Cas { expected: ValueId, new: ValueId },
    Append(ValueId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltinInput {
    pub key: KeyId,
    pub action: Action,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinOutput {
    /// A read returned this value.
    Read(ValueId),
    /// A write, append or successful compare-and-set returned ok.
    Done,
    /// A compare-and-set answered that the register did not hold the expected value.
    CasFailed,
}

/// Interned values (hash-consed: equal values, equal id), and the memo of appends made during
/// the search. A hash table, not a `BTreeMap<Value, _>`: appended strings share long prefixes,
/// and ordered lookups compared those prefixes over and over.
struct ValueTable {
    values: Vec<Value>,
    hashes: Vec<u64>,
    /// Open addressing with linear probing; each slot holds `id + 1`, 0 when empty.
    slots: Vec<u32>,
    appended: BTreeMap<(ValueId, ValueId), Option<ValueId>>,
}

impl ValueTable {
    fn new() -> ValueTable {
        let mut table = ValueTable {
            values: Vec::new(),
            hashes: Vec::new(),
            slots: vec![0; 64],
            appended: BTreeMap::new(),
        };
        table.intern(&Value::Nil);
        table
    }

    /// The value's id; the value is cloned only the first time it is seen.
    fn intern(&mut self, value: &Value) -> ValueId {
        let mut hasher = FxHasher::default();
        value.hash(&mut hasher);
        // Spread the hash so that the slot, taken from the high bits, depends on all of it.
        let hash = hasher.finish().wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mask = self.slots.len() - 1;
        let shift = 64 - self.slots.len().trailing_zeros();
        let mut slot = (hash >> shift) as usize;
        while self.slots[slot] != 0 {
            let id = self.slots[slot] - 1;
            if self.hashes[id as usize] == hash && self.values[id as usize] == *value {
                return id;
            }
            slot = (slot + 1) & mask;
        }
        let id = self.values.len() as ValueId;
        self.values.push(value.clone());
        self.hashes.push(hash);
        self.slots[slot] = id + 1;
        if self.values.len() * 2 > self.slots.len() {
            self.grow();
        }
        id
    }

    fn grow(&mut self) {
        let capacity = self.slots.len() * 2;
        let mask = capacity - 1;
        let shift = 64 - capacity.trailing_zeros();
        let mut slots = vec![0; capacity];
        for (id, &hash) in self.hashes.iter().enumerate() {
            let mut slot = (hash >> shift) as usize;
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = id as u32 + 1;
        }
        self.slots = slots;
    }

    /// `base` with `suffix` appended, when both are text (`nil` is the empty text).
    fn append(&mut self, base: ValueId, suffix: ValueId) -> Option<ValueId> {
        if let Some(&result) = self.appended.get(&(base, suffix)) {
            return result;
        }
        let text = |value: &Value| match value {
            Value::Nil => Some(String::new()),
            Value::Str(text) => Some(text.to_string()),
            _ => None,
        };
        let base_text = text(&self.values[base as usize]);
        let suffix_text = text(&self.values[suffix as usize]);
        let result = match (base_text, suffix_text) {
            (Some(base_text), Some(suffix_text)) => {
                Some(self.intern(&Value::Str((base_text + &suffix_text).into())))
            }
            _ => None,
        };
        self.appended.insert((base, suffix), result);
        result
    }
}

/// The table, even if a panicking thread poisoned its lock: interning leaves it consistent
/// at every step.
fn lock(table: &Mutex<ValueTable>) -> MutexGuard<'_, ValueTable> {
    table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl BuiltinModel {
    pub fn new(name: ModelName) -> BuiltinModel {
        BuiltinModel {
            name,
            values: Mutex::new(ValueTable::new()),
            keys: Mutex::new(ValueTable::new()),
        }
    }

    /// The history's operations in the model's terms. `:fail` operations other than
    /// compare-and-set are left out: they did not happen.
    pub fn invocations(
        &self,
        history: &History,
    ) -> Result<Vec<Invocation<BuiltinInput, BuiltinOutput>>, ModelError> {
        let mut values = lock(&self.values);
        let mut keys = lock(&self.keys);
        let mut invocations = Vec::with_capacity(history.operations().len());
        for (index, operation) in history.operations().iter().enumerate() {
            let error = |kind| ModelError { index, process: operation.process, kind };
            let unsupported = || {
                error(ModelErrorKind::UnsupportedFunction {
                    model: self.name,
                    function: operation.function.name().to_string(),
                })
            };
            let action = match (&operation.function, self.name) {
                (Function::Read, _) | (Function::Get, ModelName::Kv) => Action::Read,
                (Function::Write, _) | (Function::Put, ModelName::Kv) => {
                    Action::Write(values.intern(&operation.input))
                }
                (Function::Cas, ModelName::CasRegister) => match &operation.input {
                    Value::Vector(pair) | Value::List(pair) if pair.len() == 2 => Action::Cas {
                        expected: values.intern(&pair[0]),
                        new: values.intern(&pair[1]),
                    },
                    other => {
                        let found = other.to_string();
                        return Err(error(ModelErrorKind::CasValueNotAPair { found }));
                    }
                },
                (Function::Append, ModelName::Kv) => {
                    Action::Append(values.intern(&operation.input))
                }
                _ => return Err(unsupported()),
            };
            let outcome = match &operation.completed {
                None => Outcome::Indeterminate,
                Some(completed) => match (&completed.completion, action) {
                    (Completion::Info, _) => Outcome::Indeterminate,
                    (Completion::Fail, Action::Cas { .. }) => {
                        Outcome::Returned { time: completed.time, output: BuiltinOutput::CasFailed }
                    }
                    (Completion::Fail, _) => continue,
                    (Completion::Ok(value), Action::Read) => Outcome::Returned {
                        time: completed.time,
                        output: BuiltinOutput::Read(values.intern(value)),
                    },
                    (Completion::Ok(_), _) => {
                        Outcome::Returned { time: completed.time, output: BuiltinOutput::Done }
                    }
                },
            };
            let key = match &operation.key {
                None => NO_KEY,
                Some(key) => keys.intern(key),
            };
            invocations.push(Invocation {
                process: operation.process,
                call_time: operation.invoke_time,
                outcome,
                input: BuiltinInput { key, action },
                history_index: index,
            });
        }
        Ok(invocations)
    }

    fn describe_value(&self, id: ValueId) -> String {
        lock(&self.values)
            .values
            .get(id as usize)
            .map_or_else(|| format!("#{id}"), Value::to_string)
    }
}

impl Model for BuiltinModel {
    type State = ValueId;
    type Input = BuiltinInput;
    type Output = BuiltinOutput;

    fn init(&self) -> ValueId {
        NIL
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
            (Action::Read, Some(BuiltinOutput::Read(value))) => (*value == state).then_some(state),
            (Action::Write(value), None | Some(BuiltinOutput::Done)) => Some(value),
            (Action::Cas { expected, new }, None) => {
                Some(if state == expected { new } else { state })
            }
            (Action::Cas { expected, new }, Some(BuiltinOutput::Done)) => {
                (state == expected).then_some(new)
            }
            (Action::Cas { expected, .. }, Some(BuiltinOutput::CasFailed)) => {
                (state != expected).then_some(state)
            }
            (Action::Append(suffix), None | Some(BuiltinOutput::Done)) => {
                lock(&self.values).append(state, suffix)
            }
            _ => None,
        }
    }

    /// One partition per key, in key order; a history without keys is one partition.
    fn partition(&self, operations: &[Invocation<BuiltinInput, BuiltinOutput>]) -> Vec<Partition> {
        let mut by_key: BTreeMap<KeyId, Vec<usize>> = BTreeMap::new();
        for (index, operation) in operations.iter().enumerate() {
            by_key.entry(operation.input.key).or_default().push(index);
        }
        let keys = lock(&self.keys);
        let mut partitions: Vec<(Option<&Value>, Vec<usize>)> = by_key
            .into_iter()
            .map(|(key, operations)| (keys.values.get(key as usize), operations))
            .collect();
        // Key order, not first-appearance order, so that the first failing key reported is the
        // smallest one whatever the interleaving.
        partitions.sort_by(|a, b| a.0.cmp(&b.0));
        partitions
            .into_iter()
            .map(|(key, operations)| Partition {
                label: key.map_or_else(String::new, |key| format!("key {key}")),
                operations,
            })
            .collect()
    }

    fn describe_operation(&self, input: &BuiltinInput, output: Option<&BuiltinOutput>) -> String {
        let result = match output {
            None => " -> unknown",
            Some(BuiltinOutput::CasFailed) => " -> failed",
            Some(_) => "",
        };
        match (input.action, output) {
            (Action::Read, Some(BuiltinOutput::Read(value))) => {
                format!("read -> {}", self.describe_value(*value))
            }
            (Action::Read, _) => format!("read{result}"),
            (Action::Write(value), _) => format!("write {}{result}", self.describe_value(value)),
            (Action::Cas { expected, new }, _) => format!(
                "cas {} -> {}{result}",
                self.describe_value(expected),
                self.describe_value(new)
            ),
            (Action::Append(value), _) => format!("append {}{result}", self.describe_value(value)),
        }
    }

    fn describe_state(&self, state: &ValueId) -> String {
        self.describe_value(*state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::linearizability::{Verdict, STEPS_MAX_DEFAULT};

    /// The verdict's name for a history written as EDN lines of
    /// `type process f value time`, e.g. `invoke 0 write 1 10`.
    fn verdict(model: ModelName, events: &str) -> &'static str {
        match check(model, events).verdict {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable(_) => "not linearizable",
            Verdict::Unknown { .. } => "unknown",
        }
    }

    fn check(model: ModelName, events: &str) -> Report {
        let text = to_edn(events);
        match check_edn(text.as_bytes(), model, STEPS_MAX_DEFAULT) {
            Ok(report) => report,
            Err(error) => panic!("history does not load: {error}\n{text}"),
        }
    }

    /// Expands the compact event lines used by these tests into Jepsen EDN.
    fn to_edn(events: &str) -> String {
        events
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| {
                let fields: Vec<&str> = line.splitn(4, ' ').collect();
                let [kind, process, f, rest] = fields[..] else { panic!("bad test line {line:?}") };
                let Some((value, time)) = rest.rsplit_once(' ') else {
                    panic!("bad test line {line:?}")
                };
                format!("{{:type :{kind}, :process {process}, :f :{f}, :value {value}, :time {time}}}\n")
            })
            .collect()
    }

    // Proves the register verdicts on the classic cases: a sequential history, a stale read
    // after a completed write, and reads overlapping a write that may see either value.
    #[test]
    fn register_histories() {
        let cases = [
            (
                "sequential write then read",
                "linearizable",
                "
                invoke 0 write 1 0
                ok 0 write 1 10
                invoke 1 read nil 20
                ok 1 read 1 30",
            ),
            (
                "stale read after the write completed",
                "not linearizable",
                "
                invoke 0 write 1 0
                ok 0 write 1 10
                invoke 1 read nil 20
                ok 1 read nil 30",
            ),
            (
                "overlapping reads see old then new",
                "linearizable",
                "
                invoke 0 write 1 0
                invoke 1 read nil 1
                ok 1 read nil 2
                invoke 2 read nil 3
                ok 2 read 1 4
                ok 0 write 1 10",
            ),
            (
                "overlapping reads see new then old",
                "not linearizable",
                "
                invoke 0 write 1 0
                invoke 1 read nil 1
                ok 1 read 1 2
                invoke 2 read nil 3
                ok 2 read nil 4
                ok 0 write 1 10",
            ),
            (
                "read of a value never written",
                "not linearizable",
                "
                invoke 0 read nil 0
                ok 0 read 7 1",
            ),
            (
                "failed write did not happen",
                "not linearizable",
                "
                invoke 0 write 1 0
                fail 0 write 1 1
                invoke 0 read nil 2
                ok 0 read 1 3",
            ),
        ];
        for (name, expected, events) in cases {
            assert_eq!(verdict(ModelName::Register, events), expected, "{name}");
        }
    }

    // Proves compare-and-set semantics: ok means the register held the expected value, and a
    // :fail cas is linearized as "the register did not hold it" — so a :fail cas while the
    // register certainly held the expected value is a violation.
    #[test]
    fn cas_register_histories() {
        let cases = [
            (
                "cas succeeds on the expected value",
                "linearizable",
                "
                invoke 0 write 1 0
                ok 0 write 1 1
                invoke 0 cas [1 2] 2
                ok 0 cas [1 2] 3
                invoke 1 read nil 4
                ok 1 read 2 5",
            ),
            (
                "cas ok although the value differs",
                "not linearizable",
                "
                invoke 0 write 1 0
                ok 0 write 1 1
                invoke 0 cas [5 2] 2
                ok 0 cas [5 2] 3",
            ),
            (
                "cas fails on a different value",
                "linearizable",
                "
                invoke 0 write 1 0
                ok 0 write 1 1
                invoke 0 cas [5 2] 2
                fail 0 cas [5 2] 3
                invoke 1 read nil 4
                ok 1 read 1 5",
            ),
            (
                "cas fails although the value matched",
                "not linearizable",
                "
                invoke 0 write 1 0
                ok 0 write 1 1
                invoke 0 cas [1 2] 2
                fail 0 cas [1 2] 3",
            ),
            (
                "failed cas concurrent with the write that makes it fail",
                "linearizable",
                "
                invoke 0 write 1 0
                ok 0 write 1 1
                invoke 0 cas [1 2] 2
                invoke 1 write 3 2
                fail 0 cas [1 2] 3
                ok 1 write 3 4",
            ),
        ];
        for (name, expected, events) in cases {
            assert_eq!(verdict(ModelName::CasRegister, events), expected, "{name}");
        }
    }

    // Proves indeterminate operations are assumed to have taken effect when a later read needs
    // it, assumed not to when a later read needs that, and cannot undo a completed write.
    #[test]
    fn indeterminate_operations() {
        let cases = [
            (
                "info write must have happened for the read to see 2",
                "linearizable",
                "
                invoke 0 write 2 0
                info 0 write 2 5
                invoke 1 read nil 10
                ok 1 read 2 11",
            ),
            (
                "info write must not have happened for the read to see nil",
                "linearizable",
                "
                invoke 0 write 2 0
                info 0 write 2 5
                invoke 1 read nil 10
                ok 1 read nil 11",
            ),
            (
                "a write never completed may take effect late",
                "linearizable",
                "
                invoke 0 write 2 0
                invoke 1 read nil 10
                ok 1 read nil 11
                invoke 1 read nil 12
                ok 1 read 2 13",
            ),
            (
                "an info write cannot be undone",
                "not linearizable",
                "
                invoke 0 write 2 0
                info 0 write 2 5
                invoke 1 read nil 10
                ok 1 read 2 11
                invoke 1 read nil 12
                ok 1 read nil 13",
            ),
            (
                "info cas may have taken effect",
                "linearizable",
                "
                invoke 0 write 1 0
                ok 0 write 1 1
                invoke 0 cas [1 4] 2
                info 0 cas [1 4] 3
                invoke 1 read nil 10
                ok 1 read 4 11",
            ),
        ];
        for (name, expected, events) in cases {
            assert_eq!(verdict(ModelName::CasRegister, events), expected, "{name}");
        }
    }

    // Proves a multi-key history is split by key: good keys pass, the bad key fails, and the
    // explanation names that key, the prefix and the stuck operation; the `:key` field form
    // behaves like the independent form.
    #[test]
    fn multi_key_split_names_the_bad_key() {
        let independent = "
            invoke 0 write [1 5] 0
            ok 0 write [1 5] 1
            invoke 1 write [2 6] 2
            ok 1 write [2 6] 3
            invoke 2 read [2 nil] 4
            ok 2 read [2 5] 5
            invoke 3 read [1 nil] 6
            ok 3 read [1 5] 7";
        let report = check(ModelName::Register, independent);
        assert_eq!(report.partitions_total, 2);
        let Verdict::NotLinearizable(explanation) = &report.verdict else {
            panic!("expected a violation, got {report}")
        };
        assert_eq!(explanation.partition, "key 2");
        assert_eq!(explanation.longest_prefix.len(), 1);
        assert_eq!(explanation.longest_prefix[0].description, "write 6");
        assert_eq!(explanation.state_after_prefix, "6");
        assert_eq!(explanation.deadline.description, "read -> 5");
        assert_eq!(explanation.deadline.history_index, 2);
        let text = report.to_string();
        assert!(text.contains("key 2 (2 operations) has no linearization"), "{text}");
        assert!(text.contains("op #2 process 2 [4, 5] read -> 5"), "{text}");

        let field_form = "{:type :invoke, :f :put, :key \"a\", :value \"x\", :process 0, :time 0}\n\
                          {:type :ok, :f :put, :key \"a\", :value \"x\", :process 0, :time 1}\n\
                          {:type :invoke, :f :append, :key \"a\", :value \"y\", :process 0, :time 2}\n\
                          {:type :ok, :f :append, :key \"a\", :value \"y\", :process 0, :time 3}\n\
                          {:type :invoke, :f :get, :key \"b\", :value nil, :process 1, :time 4}\n\
                          {:type :ok, :f :get, :key \"b\", :value nil, :process 1, :time 5}\n\
                          {:type :invoke, :f :get, :key \"a\", :value nil, :process 1, :time 6}\n\
                          {:type :ok, :f :get, :key \"a\", :value \"xy\", :process 1, :time 7}\n";
        let report = check_edn(field_form.as_bytes(), ModelName::Kv, STEPS_MAX_DEFAULT);
        assert_eq!(report.map(|report| report.verdict), Ok(Verdict::Linearizable));
        let bad = field_form.replace("\"xy\"", "\"yx\"");
        let report = check_edn(bad.as_bytes(), ModelName::Kv, STEPS_MAX_DEFAULT).expect("loads");
        let Verdict::NotLinearizable(explanation) = &report.verdict else {
            panic!("expected a violation, got {report}")
        };
        assert_eq!(explanation.partition, "key \"a\"");
    }

    // Proves a budget too small for the search yields Unknown rather than a verdict.
    #[test]
    fn budget_exhaustion_through_check_edn() {
        let text = to_edn(
            "
            invoke 0 write 1 0
            ok 0 write 1 10
            invoke 1 read nil 20
            ok 1 read 1 30",
        );
        let report = check_edn(text.as_bytes(), ModelName::Register, 1).expect("loads");
        assert_eq!(report.verdict, Verdict::Unknown { steps: 1 });
    }

    // Proves model names parse, and histories that do not fit the model are typed errors that
    // point at the operation's line and column.
    #[test]
    fn model_names_and_model_errors() {
        assert_eq!("cas-register".parse(), Ok(ModelName::CasRegister));
        assert_eq!("kv".parse::<ModelName>().map(|m| m.to_string()), Ok("kv".to_string()));
        assert_eq!("queue".parse::<ModelName>(), Err(UnknownModelName("queue".into())));
        let text = to_edn(
            "
            invoke 0 write 1 0
            invoke 1 cas [1 2] 1",
        );
        let error = check_edn(text.as_bytes(), ModelName::Register, STEPS_MAX_DEFAULT);
        let Err(CheckHistoryError::Model { position, error }) = error else {
            panic!("expected a model error, got {error:?}")
        };
        assert_eq!(position, Position { line: 2, column: 1 });
        assert_eq!(
            error.to_string(),
            "operation #1 (process 1): the register model has no :cas operation"
        );
        let text = to_edn("invoke 1 cas 3 1");
        let error = check_edn(text.as_bytes(), ModelName::CasRegister, STEPS_MAX_DEFAULT);
        assert!(matches!(
            error,
            Err(CheckHistoryError::Model {
                error: ModelError { kind: ModelErrorKind::CasValueNotAPair { .. }, .. },
                ..
            })
        ));
    }
}
