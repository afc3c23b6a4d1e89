//! Checkers: histories, linearizability, invariants, liveness and sometimes-coverage.
//!
//! Linearizability, from the file to the verdict:
//! - reading: `source` (a streaming window over any `Read`, with line:column), `format` (the
//!   formats, their recognition, the read error), `edn` (the EDN value reader), `jepsen`
//!   (Jepsen's EDN histories), `jsonl` (Orrery's JSON lines), `porcupine` (porcupine's etcd
//!   logs, and writers for its formats), `interned` (the compact history every reader builds),
//!   `value` (EDN values), `values` (their interning table);
//! - recording: `history` (what clients did, recorded cheaply during a run);
//! - checking: `model` (model names and conventions), `builtin` (the built-in models),
//!   `linearizability` (the `Model` trait and the rounds over partitions), `search` (the search
//!   over one partition), `cache` (what the search remembers), `report` (verdicts and
//!   witnesses), `entry` (the entry points the CLI and workloads call).

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
pub mod value;

mod builtin;
mod cache;
mod jepsen;
mod jsonl;
mod search;
mod source;
mod values;

#[cfg(test)]
mod collection_model_tests;
#[cfg(test)]
mod model_tests;

pub use builtin::{BuiltinModel, ModelError, ModelErrorKind};
pub use cache::FxHasher;
pub use coverage::{fault_coverage, fault_effects, Coverage, FaultEffects, SweepCoverage};
pub use edn::read_values;
pub use entry::{
    check_edn, check_history, check_interned, check_reader, spec_for_format, CheckHistoryError,
    Checked,
};
pub use format::{
    read_interned, read_interned_in_order, Format, ReadError, ReadErrorKind, UnknownFormat,
};
pub use history::{Completed, Completion, Function, History, KeyStyle, Operation, OperationRef};
pub use interned::InternedHistory;
pub use jepsen::{read_history, write_history};
pub use jsonl::write_history_jsonl;
pub use linearizability::{
    check_operations, Invocation, Model, Outcome, Partition, STEPS_MAX_DEFAULT,
};
pub use model::{ConventionError, Conventions, ModelName, ModelSpec, UnknownModelName};
pub use report::{DescribedOperation, Explanation, Report, Verdict};
pub use value::{Position, Value};
pub use values::{ValueId, ValueTable};
