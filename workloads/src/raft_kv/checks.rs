//! The checks of raft-kv: Raft's safety properties as invariants after every event, liveness
//! after heal, and linearizability of the clients' history at the end.
//!
//! The invariants must be cheap, since they run after every event: each keeps a ledger of
//! what it has seen so far (leaders per term; log entries by index and term; applied entries
//! by index) and per server a cursor, so each event costs only the entries that changed. Logs
//! are compared by their chained digests (see `log`): equal digests at an index mean equal
//! prefixes, so a changed prefix shows up as a changed digest at the cursor.

use std::cell::RefCell;
use std::collections::BTreeMap;

use orrery_sim::check::{check_history, History, ModelName};
use orrery_sim::workload::CheckResult;
use orrery_sim::{Instant, NodeId, World};

use super::client::Client;
use super::message::Message;
use super::node::Server;

/// Election safety: at most one leader per term, over the whole run.
#[derive(Default)]
pub struct LeaderLedger {
    leaders: RefCell<BTreeMap<u64, NodeId>>,
}

impl LeaderLedger {
    pub fn check(&self, world: &World<Message>) -> Result<(), String> {
        let mut leaders = self.leaders.borrow_mut();
        for (node, replica) in replicas(world) {
            if !replica.is_leader() {
                continue;
            }
            let first = *leaders.entry(replica.term).or_insert(node);
            if first != node {
                return Err(format!("two leaders in term {}: {first} and {node}", replica.term));
            }
        }
        Ok(())
    }
}

/// Log matching: two logs with an entry of the same index and term are identical up to it.
#[derive(Default)]
pub struct LogLedger {
    state: RefCell<LogLedgerState>,
}

#[derive(Default)]
struct LogLedgerState {
    /// (index, term) → the digest of the prefix ending there, and who held it first.
    entries: BTreeMap<(u64, u64), (u64, NodeId)>,
    /// Per server: the index checked up to and the digest there.
    cursors: BTreeMap<NodeId, (u64, u64)>,
}

impl LogLedger {
    pub fn check(&self, world: &World<Message>) -> Result<(), String> {
        let state = &mut *self.state.borrow_mut();
        for (node, replica) in replicas(world) {
            let log = &replica.log;
            let (mut checked, digest) = state.cursors.get(&node).copied().unwrap_or((0, 0));
            if checked > log.last_index() || log.digest_at(checked) != digest {
                checked = 0;
            }
            for index in checked + 1..=log.last_index() {
                let term = log.term_at(index).unwrap_or(0);
                let digest = log.digest_at(index);
                let (first_digest, first) =
                    *state.entries.entry((index, term)).or_insert((digest, node));
                if first_digest != digest {
                    return Err(format!(
                        "{first} and {node} both hold an entry of term {term} at index {index}, \
                         but their logs differ at or before it"
                    ));
                }
            }
            state.cursors.insert(node, (log.last_index(), log.digest_at(log.last_index())));
        }
        Ok(())
    }
}

/// State-machine safety: no two servers apply different entries at the same index.
#[derive(Default)]
pub struct AppliedLedger {
    state: RefCell<AppliedLedgerState>,
}

#[derive(Default)]
struct AppliedLedgerState {
    /// Per index (from 1): the digest of the applied prefix and who applied it first.
    applied: Vec<(u64, NodeId)>,
    /// Per server: how many of its applied entries were checked.
    cursors: BTreeMap<NodeId, usize>,
}

impl AppliedLedger {
    pub fn check(&self, world: &World<Message>) -> Result<(), String> {
        let state = &mut *self.state.borrow_mut();
        for (node, replica) in replicas(world) {
            let mut checked = state.cursors.get(&node).copied().unwrap_or(0);
            // A restarted server applies again from the start.
            if checked > replica.applied.len() {
                checked = 0;
            }
            for (position, &digest) in replica.applied.iter().enumerate().skip(checked) {
                match state.applied.get(position) {
                    None => state.applied.push((digest, node)),
                    Some(&(first_digest, first)) if first_digest != digest => {
                        return Err(format!(
                            "{first} and {node} applied different entries at index {}",
                            position + 1
                        ));
                    }
                    Some(_) => {}
                }
            }
            state.cursors.insert(node, replica.applied.len());
        }
        Ok(())
    }
}

/// Liveness: some server leads, and none has seen a later term.
pub fn leader_elected(world: &World<Message>) -> Result<(), String> {
    let term_max = replicas(world).map(|(_, replica)| replica.term).max().unwrap_or(0);
    match replicas(world).find(|(_, replica)| replica.is_leader() && replica.term == term_max) {
        Some(_) => Ok(()),
        None => Err(format!("no leader of term {term_max}")),
    }
}

/// Liveness: every client completed an operation since `heal_at`.
pub fn clients_progress(world: &World<Message>, heal_at: Instant) -> Result<(), String> {
    let stuck: Vec<String> = world
        .processes_of::<Client>()
        .filter(|(_, client)| client.last_ok_at.is_none_or(|at| at < heal_at))
        .map(|(node, _)| node.to_string())
        .collect();
    if stuck.is_empty() {
        Ok(())
    } else {
        Err(format!("no operation completed since the heal at {heal_at} for {}", stuck.join(", ")))
    }
}

/// Linearizability of the clients' history against the key-value model: a violation fails
/// with the witness `check-history` prints; a search that runs out of its step budget is
/// `Unknown`, not a failure.
pub fn linearizable(history: &History, steps_max: u64) -> CheckResult {
    match check_history(history, ModelName::Kv, steps_max) {
        Err(error) => CheckResult::Fail(format!("the history does not fit the kv model: {error}")),
        Ok(report) => report.check_result(),
    }
}

fn replicas(world: &World<Message>) -> impl Iterator<Item = (NodeId, &super::node::Replica)> + '_ {
    world
        .processes_of::<Server>()
        .filter_map(|(node, server)| server.replica.as_ref().map(|replica| (node, replica)))
}
