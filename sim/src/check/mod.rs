//! Checkers: histories, linearizability, invariants, liveness and sometimes-coverage.
//!
//! Linearizability lives in four files: `history` (what clients did, recorded cheaply during a
//! run), `edn` (Jepsen's EDN history format, read and written by our own reader), `linearizability`
//! (the search, generic over a `Model`), and `model` (the built-in register, cas-register and
//! key-value models, and `check_edn` / `check_history`, the entry points the CLI calls).

pub mod coverage;
pub mod edn;
pub mod history;
pub mod linearizability;
pub mod model;

pub use coverage::{fault_coverage, Coverage, SweepCoverage};
pub use edn::{read_history, write_history, EdnError, EdnErrorKind, Position, Value};
pub use history::{Completed, Completion, Function, History, KeyStyle, Operation, OperationRef};
pub use linearizability::{
    check_operations, DescribedOperation, Explanation, Invocation, Model, Outcome, Partition,
    Report, Verdict, STEPS_MAX_DEFAULT,
};
pub use model::{check_edn, check_history, CheckHistoryError, ModelError, ModelName};
