//! Placeholder: this workload is being written; `register` adds nothing yet.

use orrery_sim::workload::Registry;

/// Adds this module's workloads to `registry`.
pub fn register(_registry: &mut Registry) {}
