//! A history with its values interned: the compact form every reader produces and every
//! built-in model consumes, and the one place where events are paired into operations.
//!
//! An operation here is a few integers (process, times, value ids, where it was read), so a
//! history of a million operations is tens of megabytes whatever its values look like, and
//! the readers never hold a tree of values per event. [`Builder`] takes the events a reader
//! decodes, in file order, and pairs each completion with its process's open invocation, as
//! Jepsen does; it also notices Jepsen's `independent` form (`:value [key value]`) on the way,
//! and splits those pairs once at the end.

use std::collections::BTreeMap;

use super::format::{ReadError, ReadErrorKind};
use super::history::{Completion, Function, History, KeyStyle, OperationRef};
use super::value::{Position, Value};
use super::values::{ValueId, ValueTable, NIL};

/// The key of an operation of a history without keys.
pub const NO_KEY: ValueId = u32::MAX;

/// A history whose values are interned in its own table.
#[derive(Debug, Default)]
pub struct InternedHistory {
    pub(super) values: ValueTable,
    /// The functions used, each once; operations refer to them by index.
    pub(super) functions: Vec<Function>,
    pub(super) operations: Vec<InternedOperation>,
    pub(super) key_style: KeyStyle,
    /// The order events were read in, (operation, is completion), kept only when the history
    /// is to become a [`History`] again.
    order: Option<Vec<(u32, bool)>>,
}

/// One operation: its invocation and how it completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct InternedOperation {
    pub(super) process: u64,
    pub(super) invoke_time: u64,
    /// Meaningful when `completion` is not `Open`.
    pub(super) complete_time: u64,
    /// Where the invocation was read; line 0 for a history recorded in memory.
    pub(super) position: Position,
    /// [`NO_KEY`] when the history has no keys.
    pub(super) key: ValueId,
    pub(super) input: ValueId,
    /// The value an `Ok` completion returned.
    pub(super) output: ValueId,
    pub(super) function: u16,
    pub(super) completion: CompletionKind,
}

/// How an operation completed, without its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CompletionKind {
    /// Never completed: indeterminate.
    Open,
    Ok,
    Fail,
    Info,
}

/// One event as a reader decoded it, before pairing.
#[derive(Debug)]
pub(super) struct Event {
    pub(super) position: Position,
    pub(super) kind: EventKind,
    pub(super) process: u64,
    pub(super) function: Function,
    /// A separate key field, if the event has one, interned in the builder's table.
    pub(super) key: Option<ValueId>,
    /// The value, interned in the builder's table.
    pub(super) value: ValueId,
    /// `None` when the event has no time; then every event's time is its place in the file.
    pub(super) time: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EventKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl InternedHistory {
    /// How many operations the history holds.
    pub fn len(&self) -> usize {
        self.operations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    pub(super) fn function(&self, operation: &InternedOperation) -> &Function {
        &self.functions[operation.function as usize]
    }

    /// The history interned from one recorded in memory.
    pub fn from_history(history: &History) -> InternedHistory {
        let mut interned = InternedHistory { key_style: history.key_style(), ..Default::default() };
        interned.operations.reserve(history.operations().len());
        for operation in history.operations() {
            let function = interned.function_id(&operation.function);
            let key = operation.key.as_ref().map_or(NO_KEY, |key| interned.values.intern(key));
            let input = interned.values.intern(&operation.input);
            let (completion, output, complete_time) = match &operation.completed {
                None => (CompletionKind::Open, NIL, 0),
                Some(completed) => match &completed.completion {
                    Completion::Ok(value) => {
                        (CompletionKind::Ok, interned.values.intern(value), completed.time)
                    }
                    Completion::Fail => (CompletionKind::Fail, NIL, completed.time),
                    Completion::Info => (CompletionKind::Info, NIL, completed.time),
                },
            };
            interned.operations.push(InternedOperation {
                process: operation.process,
                invoke_time: operation.invoke_time,
                complete_time,
                position: Position::default(),
                key,
                input,
                output,
                function,
                completion,
            });
        }
        interned
    }

    /// The history as a [`History`], events in the order they were read. Only a history read
    /// in order (`read_interned_in_order`) knows that order; any other gives an empty one.
    pub fn to_history(&self) -> History {
        let mut history = History::with_key_style(self.key_style);
        let value = |id: ValueId| self.values.get(id).clone();
        let mut references: Vec<Option<OperationRef>> = vec![None; self.operations.len()];
        let order = self.order.as_deref().unwrap_or_default();
        for &(index, is_completion) in order {
            let operation = &self.operations[index as usize];
            if !is_completion {
                let key = (operation.key != NO_KEY).then(|| value(operation.key));
                let function = self.function(operation).clone();
                references[index as usize] = Some(history.invoke_with_key(
                    operation.invoke_time,
                    operation.process,
                    function,
                    key,
                    value(operation.input),
                ));
                continue;
            }
            let Some(reference) = references[index as usize] else {
                unreachable!("a completion is read after its invocation")
            };
            let completion = match operation.completion {
                CompletionKind::Ok => Completion::Ok(value(operation.output)),
                CompletionKind::Fail => Completion::Fail,
                CompletionKind::Info | CompletionKind::Open => Completion::Info,
            };
            history.complete(operation.complete_time, reference, completion);
        }
        history
    }

    fn function_id(&mut self, function: &Function) -> u16 {
        match self.functions.iter().position(|known| known == function) {
            Some(index) => index as u16,
            None => {
                assert!(self.functions.len() < u16::MAX as usize, "too many distinct functions");
                self.functions.push(function.clone());
                (self.functions.len() - 1) as u16
            }
        }
    }
}

/// Pairs decoded events into an [`InternedHistory`].
pub(super) struct Builder {
    history: InternedHistory,
    /// Per process, its open operation and when it was invoked.
    open: OpenOperations,
    events_total: u64,
    times_from_order: Option<bool>,
    any_key_field: bool,
    /// Every invocation so far is a `[key value]` pair (with a nested pair for a cas).
    all_invokes_pairs: bool,
    /// What the format calls the time field, for the error when it is missing.
    time_field: &'static str,
}

impl Builder {
    pub(super) fn new() -> Builder {
        Builder {
            history: InternedHistory::default(),
            open: OpenOperations::default(),
            events_total: 0,
            times_from_order: None,
            any_key_field: false,
            all_invokes_pairs: true,
            time_field: "time",
        }
    }

    /// Names the time field as the format spells it (`:time` in EDN).
    pub(super) fn name_time_field(&mut self, name: &'static str) {
        self.time_field = name;
    }

    /// A builder that also remembers the order of events, for [`InternedHistory::to_history`].
    pub(super) fn keeping_order() -> Builder {
        let mut builder = Builder::new();
        builder.history.order = Some(Vec::new());
        builder
    }

    /// The table the events' values are interned in.
    pub(super) fn values(&mut self) -> &mut ValueTable {
        &mut self.history.values
    }

    /// Adds the next event of the file.
    pub(super) fn push(&mut self, event: Event) -> Result<(), ReadError> {
        let error = |kind| ReadError { position: event.position, kind };
        // Jepsen histories carry `:time`; hand-written ones may not, and then event order is time.
        let times_from_order = *self.times_from_order.get_or_insert(event.time.is_none());
        let time = match (event.time, times_from_order) {
            (Some(time), _) => time,
            (None, true) => self.events_total,
            (None, false) => {
                return Err(error(ReadErrorKind::MissingField { field: self.time_field }))
            }
        };
        self.events_total += 1;
        if event.kind == EventKind::Invoke {
            if self.open.get(event.process).is_some() {
                return Err(error(ReadErrorKind::InvokeWhileOpen { process: event.process }));
            }
            self.any_key_field |= event.key.is_some();
            self.all_invokes_pairs &=
                is_independent_pair(&event.function, self.history.values.get(event.value));
            let index = self.history.operations.len();
            assert!(index < u32::MAX as usize, "more than 2^32 operations");
            let function = self.history.function_id(&event.function);
            let key = event.key.unwrap_or(NO_KEY);
            let input = event.value;
            self.history.operations.push(InternedOperation {
                process: event.process,
                invoke_time: time,
                complete_time: 0,
                position: event.position,
                key,
                input,
                output: NIL,
                function,
                completion: CompletionKind::Open,
            });
            self.open.insert(event.process, (index as u32, time));
            if let Some(order) = &mut self.history.order {
                order.push((index as u32, false));
            }
            return Ok(());
        }
        let Some((index, invoke_time)) = self.open.remove(event.process) else {
            return Err(error(ReadErrorKind::CompletionWithoutInvoke { process: event.process }));
        };
        if time < invoke_time {
            let kind = ReadErrorKind::CompletionBeforeInvoke { invoke_time, complete_time: time };
            return Err(error(kind));
        }
        let completion = match event.kind {
            EventKind::Ok => CompletionKind::Ok,
            EventKind::Fail => CompletionKind::Fail,
            EventKind::Info | EventKind::Invoke => CompletionKind::Info,
        };
        let output = match completion {
            CompletionKind::Ok => event.value,
            _ => NIL,
        };
        let operation = &mut self.history.operations[index as usize];
        operation.completion = completion;
        operation.complete_time = time;
        operation.output = output;
        if let Some(order) = &mut self.history.order {
            order.push((index, true));
        }
        Ok(())
    }

    /// The history, its independent-form pairs split into keys and values. An input with no
    /// operation at all is an error: there is nothing to judge, and a green verdict on it
    /// would be false.
    pub(super) fn finish(mut self) -> Result<InternedHistory, ReadError> {
        if self.history.operations.is_empty() {
            let position = Position { line: 1, column: 1 };
            return Err(ReadError { position, kind: ReadErrorKind::Empty });
        }
        if !self.any_key_field && self.all_invokes_pairs {
            self.split_independent_pairs();
        }
        Ok(self.history)
    }

    /// Jepsen's `independent` histories wrap every value as `[key value]`: split each pair
    /// (once per distinct pair) into the operation's key and value.
    fn split_independent_pairs(&mut self) {
        let history = &mut self.history;
        history.key_style = KeyStyle::Independent;
        let mut split: Vec<Option<(ValueId, ValueId)>> = vec![None; history.values.len()];
        let mut pair_of = |values: &mut ValueTable, id: ValueId| {
            if let Some(&Some(pair)) = split.get(id as usize) {
                return Some(pair);
            }
            let Value::Vector(items) = values.get(id) else { return None };
            let [key, value] = &items[..] else { return None };
            let (key, value) = (key.clone(), value.clone());
            let pair = (values.intern_owned(key), values.intern_owned(value));
            if let Some(slot) = split.get_mut(id as usize) {
                *slot = Some(pair);
            }
            Some(pair)
        };
        for operation in &mut history.operations {
            if let Some((key, value)) = pair_of(&mut history.values, operation.input) {
                operation.key = key;
                operation.input = value;
            }
            if operation.completion == CompletionKind::Ok {
                if let Some((_, value)) = pair_of(&mut history.values, operation.output) {
                    operation.output = value;
                }
            }
        }
    }
}

/// The open operation of each process: a vector for the small process numbers histories
/// use, a map for any others.
#[derive(Default)]
struct OpenOperations {
    /// Indexed by process: (operation index + 1, invoke time); 0 when none is open.
    dense: Vec<(u32, u64)>,
    sparse: BTreeMap<u64, (u32, u64)>,
}

/// Processes below this number are kept in the vector.
const DENSE_PROCESSES: u64 = 1 << 16;

impl OpenOperations {
    fn get(&self, process: u64) -> Option<(u32, u64)> {
        if process < DENSE_PROCESSES {
            match self.dense.get(process as usize) {
                Some(&(index, time)) if index > 0 => Some((index - 1, time)),
                _ => None,
            }
        } else {
            self.sparse.get(&process).copied()
        }
    }

    fn insert(&mut self, process: u64, operation: (u32, u64)) {
        if process < DENSE_PROCESSES {
            let slot = process as usize;
            if self.dense.len() <= slot {
                self.dense.resize(slot + 1, (0, 0));
            }
            self.dense[slot] = (operation.0 + 1, operation.1);
        } else {
            self.sparse.insert(process, operation);
        }
    }

    fn remove(&mut self, process: u64) -> Option<(u32, u64)> {
        let open = self.get(process)?;
        if process < DENSE_PROCESSES {
            self.dense[process as usize] = (0, 0);
        } else {
            self.sparse.remove(&process);
        }
        Some(open)
    }
}

/// We take a history to be in Jepsen's `independent` form when no event has a key field, every
/// invoke's value is a pair, and every compare-and-set's pair holds a nested `[expected new]`
/// pair: a single-register history always fails one of these, because its reads are invoked
/// with `nil`.
fn is_independent_pair(function: &Function, value: &Value) -> bool {
    match value {
        Value::Vector(items) if items.len() == 2 => {
            *function != Function::Cas
                || matches!(&items[1], Value::Vector(pair) if pair.len() == 2)
        }
        _ => false,
    }
}
