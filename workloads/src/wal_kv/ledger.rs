//! The ledger: every operation the clients invoked and every answer they received, kept
//! outside all processes (like a Jepsen history) so it survives client crashes, and the
//! freshness rule that both checks of the workload apply.
//!
//! Order is the order of ledger calls, counted in ticks: the world runs one handler at a
//! time, so a tick order is the real-time order of invocations and answers, with no clock
//! (node clocks may be skewed) involved.
//!
//! # The freshness rule
//!
//! Put `P` *precedes* put `A` when `P` was acknowledged before `A` was invoked: every
//! linearization orders `P` before `A`. A read of key `k` invoked at tick `t` (the final
//! state counts as a read invoked after everything) must return:
//! - nothing, only if no put of `k` was acknowledged before `t`;
//! - a value some put `P` of `k` wrote, where `P` precedes no put `A` of `k` acknowledged
//!   before `t`.
//!
//! A lost acknowledged write breaks it: the read returns an older value (or nothing). A value
//! from a put that was never acknowledged is always allowed: it may have been logged. So is
//! one from a put the server refused: the network may duplicate requests, and a later copy
//! of a refused put can still be logged, so a refusal is not a definite answer here.

use std::collections::BTreeMap;

use orrery_sim::{Instant, NodeId};

/// A client's operation, by id. Put values are the put's own id, so every value is unique.
pub type OperationId = u64;

/// What a put's answer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PutState {
    /// No answer yet (maybe never: the put is indeterminate).
    Invoked,
    /// Acknowledged at this tick.
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
    /// The latest invocation tick among this and every earlier acknowledged put of the key.
    invoked_tick_max: u64,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Ledger {
    tick: u64,
    operations: Vec<Invoked>,
    acknowledged: BTreeMap<u32, Vec<Acknowledgement>>,
    violation: Option<String>,
    /// Per client, the (true) time of its latest successful answer.
    last_success_at: BTreeMap<NodeId, Instant>,
    puts_acknowledged: u64,
}

impl Ledger {
    /// Records a put's invocation; the returned id is also the value it writes.
    pub fn invoke_put(&mut self, key: u32) -> OperationId {
        self.invoke(Operation::Put { key, state: PutState::Invoked })
    }

    pub fn invoke_get(&mut self, key: u32) -> OperationId {
        self.invoke(Operation::Get { key, answered: false })
    }

    /// The server acknowledged put `id` to `client` at true time `now`.
    pub fn put_acknowledged(&mut self, client: NodeId, now: Instant, id: OperationId) {
        let tick = self.next_tick();
        let Some(Invoked { operation: Operation::Put { key, state }, invoked_tick }) =
            self.operations.get_mut(id as usize)
        else {
            return self.violate(format!("{client} got an acknowledgement for {id}, not a put"));
        };
        if *state != PutState::Invoked {
            // A repeated answer (a duplicated packet) changes nothing.
            return;
        }
        *state = PutState::Acknowledged(tick);
        let key = *key;
        let invoked_tick = *invoked_tick;
        let acknowledged = self.acknowledged.entry(key).or_default();
        let invoked_tick_max =
            acknowledged.last().map_or(invoked_tick, |a| a.invoked_tick_max.max(invoked_tick));
        acknowledged.push(Acknowledgement { acknowledged_tick: tick, invoked_tick_max });
        self.puts_acknowledged += 1;
        self.last_success_at.insert(client, now);
    }

    /// Get `id` returned `value`; checks it against the freshness rule.
    pub fn get_returned(
        &mut self,
        client: NodeId,
        now: Instant,
        id: OperationId,
        value: Option<u64>,
    ) {
        self.next_tick();
        let Some(Invoked { operation: Operation::Get { key, answered }, invoked_tick }) =
            self.operations.get_mut(id as usize)
        else {
            return self.violate(format!("{client} got a read answer for {id}, not a get"));
        };
        if std::mem::replace(answered, true) {
            return;
        }
        let (key, invoked_tick) = (*key, *invoked_tick);
        self.last_success_at.insert(client, now);
        if let Err(why) = self.fresh(key, value, invoked_tick) {
            self.violate(format!("{client}: get {id} of key {key} returned {value:?}: {why}"));
        }
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
        let put = self.operations.get(value as usize).map(|invoked| &invoked.operation);
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

    /// The first freshness violation (or impossible answer) seen, if any.
    pub fn violation(&self) -> Option<&str> {
        self.violation.as_deref()
    }

    /// Keys with at least one acknowledged put.
    pub fn acknowledged_keys(&self) -> impl Iterator<Item = u32> + '_ {
        self.acknowledged.keys().copied()
    }

    pub fn puts_acknowledged(&self) -> u64 {
        self.puts_acknowledged
    }

    /// The true time of `client`'s latest successful answer.
    pub fn last_success_at(&self, client: NodeId) -> Option<Instant> {
        self.last_success_at.get(&client).copied()
    }

    fn invoke(&mut self, operation: Operation) -> OperationId {
        let invoked_tick = self.next_tick();
        self.operations.push(Invoked { operation, invoked_tick });
        self.operations.len() as u64 - 1
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn violate(&mut self, message: String) {
        self.violation.get_or_insert(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: NodeId = NodeId(1);
    const T: Instant = Instant::ZERO;

    // Proves the rule's cases: nothing before any acknowledgement, the latest or a concurrent
    // value after it, and a lost acknowledged put (older value or nothing) is a violation.
    #[test]
    fn freshness_rule_cases() {
        let mut ledger = Ledger::default();
        let early = ledger.invoke_get(0);
        let first = ledger.invoke_put(0);
        ledger.put_acknowledged(C, T, first);
        let second = ledger.invoke_put(0);
        let concurrent = ledger.invoke_put(0);
        ledger.put_acknowledged(C, T, second);
        ledger.get_returned(C, T, early, None);
        assert_eq!(ledger.violation(), None, "a read invoked before any ack may see nothing");
        assert_eq!(ledger.fresh(0, Some(second), u64::MAX), Ok(()));
        assert_eq!(ledger.fresh(0, Some(concurrent), u64::MAX), Ok(()), "never acknowledged");
        assert!(ledger.fresh(0, Some(first), u64::MAX).is_err(), "second was lost");
        assert!(ledger.fresh(0, None, u64::MAX).is_err(), "both were lost");
        assert!(ledger.fresh(1, Some(second), u64::MAX).is_err(), "another key's value");
        let stale = ledger.invoke_get(0);
        ledger.get_returned(C, T, stale, Some(first));
        assert!(ledger.violation().is_some_and(|v| v.contains("was lost")));
    }
}
