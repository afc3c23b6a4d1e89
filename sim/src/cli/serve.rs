//! `orrery serve SCENARIO --seed N`: one world of a scenario behind the control server,
//! paused at time 0 until a client drives it (see docs/CONTROL_PROTOCOL.md). The first line
//! of stdout is the address bound, so a script can start it with `--listen 127.0.0.1:0` and
//! read the port. The token of a non-loopback server comes from a file or
//! `ORRERY_CONTROL_TOKEN`, read here, before the world exists.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use crate::control::{Server, ServerConfig, SimulatedBackend};
use crate::workload::Registry;

use super::Status;

/// The environment variable a token may come from.
pub(super) const TOKEN_VARIABLE: &str = "ORRERY_CONTROL_TOKEN";

#[derive(clap::Args, Debug)]
pub(super) struct ServeArgs {
    /// The scenario file.
    scenario: PathBuf,
    /// The seed of the world (default: the scenario's first).
    #[arg(long, env = "ORRERY_SEED")]
    seed: Option<u64>,
    /// Where to listen; port 0 lets the kernel choose. A non-loopback address needs a token.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// A file holding the token clients must send in their first frame (else the
    /// ORRERY_CONTROL_TOKEN variable, if set).
    #[arg(long)]
    token_file: Option<PathBuf>,
    #[command(flatten)]
    overrides: super::args::OverrideArgs,
}

/// The token from `--token-file` or the environment, if any; an empty one is an error.
pub(super) fn read_token(file: Option<&PathBuf>) -> Result<Option<String>, Status> {
    let token = match file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|error| {
            Status::BadInput(format!("cannot read the token file {}: {error}", path.display()))
        })?),
        None => std::env::var(TOKEN_VARIABLE).ok(),
    };
    match token.map(|text| text.trim().to_string()) {
        Some(token) if token.is_empty() => {
            Err(Status::BadInput("the token is empty: give at least one character".to_string()))
        }
        token => Ok(token),
    }
}

pub(super) fn serve(args: &ServeArgs, registry: &Arc<Registry>) -> Status {
    let scenario = match super::load(&args.scenario, registry, &args.overrides) {
        Ok(scenario) => scenario,
        Err(status) => return status,
    };
    let token = match read_token(args.token_file.as_ref()) {
        Ok(token) => token,
        Err(status) => return status,
    };
    let address: SocketAddr = match args.listen.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(address)) => address,
        _ => return Status::BadInput(format!("--listen {}: expected HOST:PORT", args.listen)),
    };
    let seed = args.seed.unwrap_or(scenario.default_seeds().start);
    let plan = scenario.sample(seed);
    let world_id = format!("{}@{seed}", plan.scenario);
    let mut backend = match SimulatedBackend::new(plan, registry.clone()) {
        Ok(backend) => backend,
        Err(why) => return Status::BadInput(format!("cannot build the world: {why}")),
    };
    let server = match Server::bind(address, ServerConfig { token, ..ServerConfig::default() }) {
        Ok(server) => server,
        Err(why) => return Status::BadInput(why),
    };
    let bound = server.local_addr();
    println!("{bound}");
    let _ = std::io::stdout().flush();
    eprintln!(
        "serving {world_id}, paused at time 0; `orrery ctl {bound} shutdown` ends the server"
    );
    match server.serve(&mut backend) {
        Ok(()) => Status::Passed,
        Err(error) => Status::BadInput(format!("the server failed: {error}")),
    }
}
