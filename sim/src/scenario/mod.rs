//! Scenarios: YAML in, validated with file:line:col, sampled per seed into run plans.

mod plan;

pub use plan::{Expect, Limits, Phases, RunPlan};
