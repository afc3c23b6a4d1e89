//! The ledger: a fold over the clients' observations (every operation invoked and every
//! answer received, like a Jepsen history), the freshness rule that the workload's checks
//! apply, and those checks. The observations outlive client crashes, so the ledger does too.
//!
//! Order is the run's observation order (`Observation::seq`): the world runs one handler at
//! a time, so it is the real-time order of invocations and answers, with no clock (node
//! clocks may be skewed) involved. Answers are stamped with the world's true time.
//!
//! # The freshness rule
//!
//! Put `P` *precedes* put `A` when `P` was acknowledged before `A` was invoked: every
//! linearization orders `P` before `A`. A read of key `k` invoked at `t` (the final state
//! counts as a read invoked after everything) must return:
//! - nothing, only if no put of `k` was acknowledged before `t`;
//! - a value some put `P` of `k` wrote, where `P` precedes no put `A` of `k` acknowledged
//!   before `t`.
//!
//! A lost acknowledged write breaks it: the read returns an older value (or nothing). A value
//! from a put that was never acknowledged is always allowed: it may have been logged. So is
//! one from a put the server refused: the network may duplicate requests, and a later copy
//! of a refused put can still be logged, so a refusal is not a definite answer here.

use std::collections::BTreeMap;

use orrery_sim::workload::{CheckLogic, CheckResult, Run};
use orrery_sim::{Instant, NodeId, Observation};

use super::{Message, OpId, Server, WalKvParams};

/// A client's operation, as the raw bits of its `OpId`. Put values are the put's own id, so
/// every value is unique.
pub type OperationId = u64;

/// An operation id as messages show it (`n1/0/7`), or `nothing` for an absent value.
fn render(id: Option<OperationId>) -> String {
    id.map_or("nothing".to_string(), |id| OpId(id).to_string())
}

/// What a put's answer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PutState {
    /// No answer yet (maybe never: the put is indeterminate).
    Invoked,
    /// Acknowledged at this point of the observation order.
    Acknowledged(u64),
}

#[derive(Debug, Clone)]
enum Operation {
    Put { key: u32, state: PutState },
    Get { key: u32, answered: bool },
}

#[derive(Debug, Clone)]
struct Invoked {
    operation: Operation,
    invoked_tick: u64,
}

/// One acknowledged put of a key, in acknowledgement order.
#[derive(Debug, Clone, Copy)]
struct Acknowledgement {
    acknowledged_tick: u64,
    /// The latest invocation among this and every earlier acknowledged put of the key.
    invoked_tick_max: u64,
}

/// Why an observation does not fit the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// The history is malformed (a field missing, an id invoked twice): every check fails,
    /// as a check that skipped what it cannot read would pass every seed.
    Malformed(String),
    /// An answer breaks the freshness rule or answers what was never asked.
    Violation(String),
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Ledger {
    operations: BTreeMap<OperationId, Invoked>,
    acknowledged: BTreeMap<u32, Vec<Acknowledgement>>,
    /// Per client, the (true) time of its latest successful answer.
    last_success_at: BTreeMap<NodeId, Instant>,
}

impl Ledger {
    /// Folds one observation in (kinds other than the clients' are ignored).
    pub fn observe(&mut self, observation: &Observation) -> Result<(), LedgerError> {
        let (tick, client, at) = (observation.seq, observation.node, observation.at);
        let field = |name: &str| {
            let value = observation.u64(name);
            value.ok_or_else(|| LedgerError::Malformed(format!("no `{name}` in {observation}")))
        };
        let key = || {
            let bad = || LedgerError::Malformed(format!("bad key in {observation}"));
            u32::try_from(field("key")?).map_err(|_| bad())
        };
        let operation = match observation.kind.as_ref() {
            "put" => Operation::Put { key: key()?, state: PutState::Invoked },
            "get" => Operation::Get { key: key()?, answered: false },
            "put_ok" => {
                let id = field("id")?;
                return self.put_acknowledged(tick, client, at, id).map_err(LedgerError::Violation);
            }
            "get_ok" => {
                let (id, value) = (field("id")?, observation.u64("value"));
                let answer = self.get_returned(client, at, id, value);
                return answer.map_err(LedgerError::Violation);
            }
            _ => return Ok(()),
        };
        let id = field("id")?;
        match self.operations.insert(id, Invoked { operation, invoked_tick: tick }) {
            None => Ok(()),
            Some(_) => Err(LedgerError::Malformed(format!("{} was invoked twice", OpId(id)))),
        }
    }

    /// The server acknowledged put `id` to `client` at true time `at`.
    fn put_acknowledged(
        &mut self,
        tick: u64,
        client: NodeId,
        at: Instant,
        id: OperationId,
    ) -> Result<(), String> {
        let Some(Invoked { operation: Operation::Put { key, state }, invoked_tick }) =
            self.operations.get_mut(&id)
        else {
            return Err(format!("{client} got an acknowledgement for {}, not a put", OpId(id)));
        };
        if *state != PutState::Invoked {
            // A repeated answer (a duplicated packet) changes nothing.
            return Ok(());
        }
        *state = PutState::Acknowledged(tick);
        let (key, invoked_tick) = (*key, *invoked_tick);
        let acknowledged = self.acknowledged.entry(key).or_default();
        let invoked_tick_max =
            acknowledged.last().map_or(invoked_tick, |a| a.invoked_tick_max.max(invoked_tick));
        acknowledged.push(Acknowledgement { acknowledged_tick: tick, invoked_tick_max });
        self.last_success_at.insert(client, at);
        Ok(())
    }

    /// Get `id` returned `value`; checks it against the freshness rule.
    fn get_returned(
        &mut self,
        client: NodeId,
        at: Instant,
        id: OperationId,
        value: Option<u64>,
    ) -> Result<(), String> {
        let Some(Invoked { operation: Operation::Get { key, answered }, invoked_tick }) =
            self.operations.get_mut(&id)
        else {
            return Err(format!("{client} got a read answer for {}, not a get", OpId(id)));
        };
        if std::mem::replace(answered, true) {
            return Ok(());
        }
        let (key, invoked_tick) = (*key, *invoked_tick);
        self.last_success_at.insert(client, at);
        self.fresh(key, value, invoked_tick).map_err(|why| {
            let value = render(value);
            format!("{client}: get {} of key {key} returned {value}: {why}", OpId(id))
        })
    }

    /// Whether `value` is a fresh answer for a read of `key` invoked at `invoked_tick` (use
    /// `u64::MAX` for "after everything").
    pub fn fresh(&self, key: u32, value: Option<u64>, invoked_tick: u64) -> Result<(), String> {
        let before = self.acknowledged.get(&key).map_or(&[][..], |acknowledged| {
            let n = acknowledged.partition_point(|a| a.acknowledged_tick < invoked_tick);
            &acknowledged[..n]
        });
        let Some(value) = value else {
            return match before.len() {
                0 => Ok(()),
                n => Err(format!("{n} acknowledged put(s) of the key were lost")),
            };
        };
        let put = self.operations.get(&value).map(|invoked| &invoked.operation);
        let Some(&Operation::Put { key: written_key, state }) = put else {
            return Err("no put ever wrote that value".to_string());
        };
        if written_key != key {
            return Err(format!("that value was written to key {written_key}"));
        }
        match (state, before.last()) {
            (PutState::Acknowledged(acknowledged_tick), Some(latest))
                if acknowledged_tick < latest.invoked_tick_max =>
            {
                Err("a put acknowledged after that one was lost".to_string())
            }
            _ => Ok(()),
        }
    }

    /// Keys with at least one acknowledged put.
    pub fn acknowledged_keys(&self) -> impl Iterator<Item = u32> + '_ {
        self.acknowledged.keys().copied()
    }

    /// The true time of `client`'s latest successful answer.
    pub fn last_success_at(&self, client: NodeId) -> Option<Instant> {
        self.last_success_at.get(&client).copied()
    }
}

/// Which of the workload's checks a ledger answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerCheck {
    /// `reads_fresh`: fails at the first answer that breaks the rule.
    ReadsFresh,
    /// `acknowledged_writes_durable`: the recovered server's map, read after everything.
    WritesDurable,
    /// `clients_progress`: every client answered since the heal.
    ClientsProgress,
}

/// A ledger folded for one check of one run.
pub struct Checked {
    pub check: LedgerCheck,
    pub ledger: Ledger,
    pub heal_at: Instant,
}

impl CheckLogic<Message, WalKvParams> for Checked {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        match (self.ledger.observe(observation), self.check) {
            (Ok(()), _) => Ok(()),
            (Err(LedgerError::Malformed(why)), _) => Err(why),
            (Err(LedgerError::Violation(why)), LedgerCheck::ReadsFresh) => Err(why),
            // The other checks judge the final map and progress, not each read.
            (Err(LedgerError::Violation(_)), _) => Ok(()),
        }
    }

    fn evaluate(&mut self, run: &Run<'_, Message, WalKvParams>) -> CheckResult {
        let topology = run.world.topology();
        let verdict = match self.check {
            LedgerCheck::ReadsFresh => Ok(()),
            LedgerCheck::WritesDurable => {
                let server = topology.nodes_with_role("server").first().copied();
                match server.and_then(|s| run.world.process::<Server>(s)).filter(|s| s.ready) {
                    None => Err("the server has not recovered".to_string()),
                    Some(server) => self.ledger.acknowledged_keys().try_for_each(|key| {
                        let value = server.map.get(&key).copied();
                        self.ledger.fresh(key, value, u64::MAX).map_err(|why| {
                            let value = render(value);
                            format!("the recovered server holds {value} for key {key}: {why}")
                        })
                    }),
                }
            }
            LedgerCheck::ClientsProgress => {
                let stuck: Vec<String> = topology
                    .nodes()
                    .filter(|&node| topology.node(node).is_some_and(|spec| spec.role != "server"))
                    .filter(|&node| {
                        self.ledger.last_success_at(node).is_none_or(|at| at < self.heal_at)
                    })
                    .map(|node| node.to_string())
                    .collect();
                match stuck.is_empty() {
                    true => Ok(()),
                    false => Err(format!("no answer since the heal for {}", stuck.join(", "))),
                }
            }
        };
        verdict.map_or_else(CheckResult::Fail, |()| CheckResult::Pass)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use orrery_sim::trace::OwnedValue;

    use super::*;

    /// Feeds `ledger` one observation of `kind` by client n1.
    fn feed(
        ledger: &mut Ledger,
        seq: u64,
        kind: &'static str,
        fields: &[(&'static str, u64)],
    ) -> Result<(), LedgerError> {
        let fields =
            fields.iter().map(|&(name, value)| (Cow::Borrowed(name), OwnedValue::U64(value)));
        ledger.observe(&Observation {
            seq,
            at: Instant::ZERO,
            node: NodeId(1),
            incarnation: 0,
            kind: Cow::Borrowed(kind),
            fields: fields.collect(),
        })
    }

    // Proves the rule's cases: nothing before any acknowledgement, the latest or a concurrent
    // value after it, and a lost acknowledged put (older value or nothing) is a violation.
    #[test]
    fn freshness_rule_cases() {
        let mut ledger = Ledger::default();
        let (early, first, second, concurrent, stale) = (10, 11, 12, 13, 14);
        let steps = [
            ("get", vec![("id", early), ("key", 0)]),
            ("put", vec![("id", first), ("key", 0)]),
            ("put_ok", vec![("id", first)]),
            ("put", vec![("id", second), ("key", 0)]),
            ("put", vec![("id", concurrent), ("key", 0)]),
            ("put_ok", vec![("id", second)]),
            ("get_ok", vec![("id", early)]),
        ];
        for (seq, (kind, fields)) in steps.iter().enumerate() {
            let result = feed(&mut ledger, seq as u64, kind, fields);
            assert_eq!(result, Ok(()), "a read invoked before any ack may see nothing");
        }
        assert_eq!(ledger.fresh(0, Some(second), u64::MAX), Ok(()));
        assert_eq!(ledger.fresh(0, Some(concurrent), u64::MAX), Ok(()), "never acknowledged");
        assert!(ledger.fresh(0, Some(first), u64::MAX).is_err(), "second was lost");
        assert!(ledger.fresh(0, None, u64::MAX).is_err(), "both were lost");
        assert!(ledger.fresh(1, Some(second), u64::MAX).is_err(), "another key's value");
        assert_eq!(feed(&mut ledger, 20, "get", &[("id", stale), ("key", 0)]), Ok(()));
        let violation = feed(&mut ledger, 21, "get_ok", &[("id", stale), ("value", first)]);
        assert!(matches!(violation, Err(LedgerError::Violation(v)) if v.contains("was lost")));
        let unreadable = feed(&mut ledger, 22, "put", &[("key", 0)]);
        assert!(matches!(unreadable, Err(LedgerError::Malformed(v)) if v.contains("no `id`")));
    }
}
