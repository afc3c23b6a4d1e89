//! The `orrery` binary: the engine's command line with the reference workloads registered.
//! A user's own binary does the same with their workloads.

use std::process::ExitCode;

fn main() -> ExitCode {
    orrery_sim::cli::main(orrery_workloads::registry())
}
