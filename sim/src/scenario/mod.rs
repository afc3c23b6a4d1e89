//! Scenarios: YAML in, validated with file:line:col, sampled per seed into run plans.
//!
//! One loader (`load` / `parse`) is the only way YAML enters the engine. The file is parsed
//! into `schema` types that mirror it, `validate` resolves and checks them into a
//! `Scenario` (or every problem, located), `Scenario::sample(seed)` draws a concrete
//! `RunPlan`, and `plan_to_yaml` writes a plan back as a scenario with nothing left to chance.

mod diagnostics;
mod error;
mod load;
mod model;
mod plan;
mod sample;
mod schema;
#[cfg(test)]
mod test_support;
mod validate;
mod write;

pub use error::{ErrorKind, ScenarioError, ScenarioErrors};
pub use load::{load, parse, INPUT_BYTES_MAX};
pub use model::Scenario;
pub use plan::{Expect, Limits, Phases, RunPlan};
pub use write::plan_to_yaml;
