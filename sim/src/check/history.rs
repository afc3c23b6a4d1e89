//! Histories: the operations that clients invoked and how each completed, in virtual time.
//!
//! A history is what the linearizability checker judges. Workload clients record into it during
//! a simulation ([`History::invoke`], then [`History::complete`]); the EDN reader builds one from
//! a Jepsen file. Recording only pushes plain values into a `Vec` — no formatting, no lookups
//! beyond an index — so it costs next to nothing inside the simulation loop.
//!
//! The vocabulary is Jepsen's: an operation has a process, a function (`:f`), an optional key and
//! a value; it completes `:ok` with an output value, `:fail` (it certainly did not happen), or
//! `:info` (indeterminate: it may or may not have happened). An operation never completed is
//! indeterminate too.

use super::value::Value;

/// A recorded history, in the order its events were recorded.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct History {
    operations: Vec<Operation>,
    /// The sequence number the next event gets; it orders events recorded at equal times.
    events_total: u64,
    key_style: KeyStyle,
}

/// One operation: its invocation and, once known, its completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub process: u64,
    pub function: Function,
    /// The key of a multi-key history (Jepsen's `independent` `[key value]` or a `:key` field).
    pub key: Option<Value>,
    /// The invoke's value: `nil` for a read, the written value, `[expected new]` for a cas.
    pub input: Value,
    pub invoke_time: u64,
    /// The position of the invoke event among all events of the history.
    pub invoke_sequence: u64,
    /// `None` while the operation is open; an operation left open is indeterminate.
    pub completed: Option<Completed>,
}

/// How and when an operation completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    pub completion: Completion,
    pub time: u64,
    pub sequence: u64,
}

/// The three ways an operation completes, as in Jepsen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// It happened, and returned this value (for a read, the value read).
    Ok(Value),
    /// It definitely did not take effect (for a compare-and-set: the comparison failed).
    Fail,
    /// Indeterminate: it may or may not have taken effect.
    Info,
}

/// The operation's function, Jepsen's `:f`. The common ones are variants so that models match
/// on them without comparing strings; any other keyword is kept by name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Function {
    Read,
    Write,
    Cas,
    Get,
    Put,
    Append,
    Add,
    Enqueue,
    Dequeue,
    Generate,
    Other(Box<str>),
}

/// How a keyed history writes its keys in EDN, remembered so that export matches import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KeyStyle {
    /// Jepsen's `independent` form: `:value [key value]`.
    Independent,
    /// A separate `:key` field.
    #[default]
    Field,
}

/// A handle to an operation recorded with [`History::invoke`], used to complete it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperationRef(usize);

impl History {
    /// An empty history; keys, if any, are written as a `:key` field.
    pub fn new() -> History {
        History::default()
    }

    /// An empty history whose keys are exported in `key_style`.
    pub fn with_key_style(key_style: KeyStyle) -> History {
        History { key_style, ..History::default() }
    }

    /// Records that `process` invoked `function` with `input` at `time`.
    pub fn invoke(
        &mut self,
        time: u64,
        process: u64,
        function: Function,
        input: Value,
    ) -> OperationRef {
        self.invoke_with_key(time, process, function, None, input)
    }

    /// Records an invocation on `key` of a multi-key system.
    pub fn invoke_with_key(
        &mut self,
        time: u64,
        process: u64,
        function: Function,
        key: Option<Value>,
        input: Value,
    ) -> OperationRef {
        let reference = OperationRef(self.operations.len());
        self.operations.push(Operation {
            process,
            function,
            key,
            input,
            invoke_time: time,
            invoke_sequence: self.events_total,
            completed: None,
        });
        self.events_total += 1;
        reference
    }

    /// Records how the operation completed at `time`. Completing an operation twice, or before
    /// it was invoked, is a bug in the recording client, so it panics.
    pub fn complete(&mut self, time: u64, operation: OperationRef, completion: Completion) {
        let sequence = self.events_total;
        let recorded = &mut self.operations[operation.0];
        assert!(recorded.completed.is_none(), "operation {} completed twice", operation.0);
        assert!(
            time >= recorded.invoke_time,
            "operation {} completes at {time}, before its invoke at {}",
            operation.0,
            recorded.invoke_time
        );
        recorded.completed = Some(Completed { completion, time, sequence });
        self.events_total += 1;
    }

    /// The operations in invocation order.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation `reference` points at.
    pub fn operation(&self, reference: OperationRef) -> &Operation {
        &self.operations[reference.0]
    }

    pub fn key_style(&self) -> KeyStyle {
        self.key_style
    }
}

impl OperationRef {
    /// The operation's index in [`History::operations`].
    pub fn index(self) -> usize {
        self.0
    }
}

impl Operation {
    /// True when the operation may or may not have taken effect: completed `:info`, or never
    /// completed at all.
    pub fn is_indeterminate(&self) -> bool {
        matches!(&self.completed, None | Some(Completed { completion: Completion::Info, .. }))
    }
}

impl Function {
    /// The function for a Jepsen `:f` keyword name.
    pub fn from_name(name: &str) -> Function {
        match name {
            "read" => Function::Read,
            "write" => Function::Write,
            "cas" => Function::Cas,
            "get" => Function::Get,
            "put" => Function::Put,
            "append" => Function::Append,
            "add" => Function::Add,
            "enqueue" => Function::Enqueue,
            "dequeue" => Function::Dequeue,
            "generate" => Function::Generate,
            other => Function::Other(other.into()),
        }
    }

    /// [`Function::from_name`] for a name given as bytes (a keyword straight from the input).
    pub fn from_name_bytes(name: &[u8]) -> Function {
        match name {
            b"read" => Function::Read,
            b"write" => Function::Write,
            b"cas" => Function::Cas,
            b"get" => Function::Get,
            b"put" => Function::Put,
            b"append" => Function::Append,
            b"add" => Function::Add,
            b"enqueue" => Function::Enqueue,
            b"dequeue" => Function::Dequeue,
            b"generate" => Function::Generate,
            other => Function::Other(String::from_utf8_lossy(other).into()),
        }
    }

    /// The Jepsen `:f` keyword name, without the colon.
    pub fn name(&self) -> &str {
        match self {
            Function::Read => "read",
            Function::Write => "write",
            Function::Cas => "cas",
            Function::Get => "get",
            Function::Put => "put",
            Function::Append => "append",
            Function::Add => "add",
            Function::Enqueue => "enqueue",
            Function::Dequeue => "dequeue",
            Function::Generate => "generate",
            Function::Other(name) => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the recorder pairs completions with their invocations and orders events by when
    // they were recorded, with unfinished operations left indeterminate.
    #[test]
    fn recorder_pairs_and_sequences_events() {
        let mut history = History::new();
        let write = history.invoke(5, 0, Function::Write, Value::Int(1));
        let read = history.invoke(5, 1, Function::Read, Value::Nil);
        history.complete(9, read, Completion::Ok(Value::Int(1)));
        history.complete(9, write, Completion::Info);
        let pending = history.invoke(10, 0, Function::Read, Value::Nil);
        assert_eq!(history.operation(read).completed.as_ref().map(|c| c.sequence), Some(2));
        assert_eq!(history.operation(write).completed.as_ref().map(|c| c.sequence), Some(3));
        assert!(history.operation(write).is_indeterminate());
        assert!(!history.operation(read).is_indeterminate());
        assert!(history.operation(pending).is_indeterminate());
        assert_eq!(history.operations().len(), 3);
        assert_eq!(Function::from_name("txn").name(), "txn");
        assert_eq!(Function::from_name("cas"), Function::Cas);
    }
}
