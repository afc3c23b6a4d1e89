//! What protocol and workload code usually needs, in one import: `use orrery_sim::prelude::*;`.

pub use crate::durable::{DurableCell, DurableError, DurableLog};
pub use crate::node::{NodeApi, NodeId, Process, Storage, TimerId};
pub use crate::time::{ms, ns, secs, us, Duration, Instant};
pub use crate::trace::Value;
pub use crate::workload::{
    history, Agreement, Check, CheckKind, CheckResult, NodeInit, WorkloadDef,
};
pub use crate::workload::{Choice, Params};
pub use orrery_macros::{Choice, Params};
