//! The echo workload's server as a child process: the same `Server` the world runs in its
//! own memory, run over the child protocol by `run_child`. A scenario runs it with
//! `command: [path/to/orrery-echo-server]` on a server node; `--corrupt-replies` plants the
//! workload's bug.

use std::process::ExitCode;

use orrery_sim::subprocess::run_child;
use orrery_workloads::echo::{EchoCodec, Server};

fn main() -> ExitCode {
    let corrupt_replies = std::env::args().skip(1).any(|argument| argument == "--corrupt-replies");
    run_child(EchoCodec, |_identity| Server::new(corrupt_replies))
}
