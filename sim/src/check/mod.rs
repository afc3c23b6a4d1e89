//! Checkers: histories, linearizability, invariants, liveness and sometimes-coverage.
//!
//! Linearizability, from the file to the verdict:
//! - reading: `source` (a streaming window over any `Read`, with line:column), `format` (the
//!   formats, their detection, the read error), `edn` (EDN values), `jepsen` (Jepsen's EDN
//!   histories), `jsonl` (Orrery's JSON lines), `porcupine` (porcupine's etcd logs, and writers
//!   for its formats), `interned` (the compact history every reader builds), `values` (the
//!   interning table);
//! - recording: `history` (what clients did, recorded cheaply during a run);
//! - checking: `model` (model names and conventions), `builtin` (the built-in models),
//!   `linearizability` (the `Model` trait and the schedule over partitions), `search` (the
//!   search over one partition), `report` (verdicts and witnesses), `entry` (the entry points
//!   the CLI and workloads call).

pub mod coverage;
pub mod edn;
pub mod entry;
pub mod format;
pub mod history;
pub mod interned;
pub mod linearizability;
pub mod model;
pub mod porcupine;
pub mod report;

mod builtin;
mod jepsen;
mod jsonl;
mod search;
mod source;
mod values;

#[cfg(test)]
mod model_tests;

pub use builtin::{BuiltinModel, ModelError, ModelErrorKind};
pub use coverage::{fault_coverage, Coverage, SweepCoverage};
pub use edn::{read_values, Position, Value};
pub use entry::{
    check_edn, check_history, check_interned, check_reader, spec_for_format, CheckHistoryError,
    Checked,
};
pub use format::{read_interned, Format, ReadError, ReadErrorKind, UnknownFormat};
pub use history::{Completed, Completion, Function, History, KeyStyle, Operation, OperationRef};
pub use interned::InternedHistory;
pub use jepsen::{read_history, write_history};
pub use jsonl::write_history_jsonl;
pub use linearizability::{
    check_operations, Invocation, Model, Outcome, Partition, STEPS_MAX_DEFAULT,
};
pub use model::{ConventionError, Conventions, ModelName, ModelSpec, UnknownModelName};
pub use report::{DescribedOperation, Explanation, Report, Verdict};
pub use search::FxHasher;
pub use values::{ValueId, ValueTable};
