//! The liveness checks of raft-kv, over the live state after heal. The safety checks are
//! folds over what servers observe (see `node` and the declaration in `mod`), so they need
//! no code here.

use orrery_sim::workload::Run;
use orrery_sim::Wire;

use super::client::Client;
use super::message::Message;
use super::node::{Replica, Server};
use super::RaftKvParams;

/// A run of raft-kv on any wire (typed, or bytes through `RaftKvCodec`).
type RaftRun<'a, W> = Run<'a, Message, RaftKvParams, W>;

/// Some server leads, and none has seen a later term.
pub fn leader_elected<W: Wire<Message>>(run: &RaftRun<'_, W>) -> Result<(), String> {
    let term_max = replicas(run).map(|replica| replica.term).max().unwrap_or(0);
    match replicas(run).any(|replica| replica.is_leader() && replica.term == term_max) {
        true => Ok(()),
        false => Err(format!("no leader of term {term_max}")),
    }
}

/// Every client completed an operation since the heal.
pub fn clients_progress<W: Wire<Message>>(run: &RaftRun<'_, W>) -> Result<(), String> {
    let stuck: Vec<String> = (run.world.processes_of::<Client>())
        .filter(|(_, client)| client.last_ok_at.is_none_or(|at| at < run.heal_at))
        .map(|(node, _)| node.to_string())
        .collect();
    match stuck.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "no operation completed since the heal at {} for {}",
            run.heal_at,
            stuck.join(", ")
        )),
    }
}

fn replicas<'a, W: Wire<Message>>(
    run: &'a RaftRun<'_, W>,
) -> impl Iterator<Item = &'a Replica> + 'a {
    run.world.processes_of::<Server>().filter_map(|(_, server)| server.replica.as_ref())
}
