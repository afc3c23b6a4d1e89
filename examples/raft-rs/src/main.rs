//! The user's own binary: Orrery's command line with the `raft-rs` workload registered.

fn main() -> std::process::ExitCode {
    orrery_sim::cli::main(orrery_example_raft_rs::registry())
}
