//! The ledger: a fold over the producers' and the consumer's observations — what each
//! producer durably produced and how often each event took effect — and the two checks it
//! answers. Observations outlive the crashes of the nodes that made them, so crashes cannot
//! erase the evidence.
//!
//! An event is identified by what it says — (producer, number) — never by the (nonce, seq)
//! it travels under: that pair is the protocol's business, and the planted bugs are exactly
//! a producer that sends the same event under a second pair.
//!
//! Observations: `produced below` (the producer's disk durably says every event numbered
//! below `below` is produced) and `applied producer number` (the consumer applied it).

use std::collections::BTreeMap;

use orrery_sim::workload::{CheckLogic, CheckResult, Run};
use orrery_sim::{NodeId, Observation};

use super::{DedupParams, Message};

/// What an event says: which producer made it and its number in that producer's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Payload {
    /// The producer that made it.
    pub producer: NodeId,
    /// Its number in that producer's stream (0, 1, 2...).
    pub number: u64,
}

/// Why an observation does not fit the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// The ledger cannot read it: every check fails, as a check that skipped what it cannot
    /// read would pass every seed.
    Malformed(String),
    /// An event took effect twice, or before it was produced.
    Violation(String),
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Per producer: every event numbered below this is produced.
    produced_below: BTreeMap<NodeId, u64>,
    /// How many times each event took effect.
    effects: BTreeMap<Payload, u32>,
}

impl Ledger {
    /// Folds one observation in (kinds other than the two above are ignored).
    pub fn observe(&mut self, observation: &Observation) -> Result<(), LedgerError> {
        let malformed = || LedgerError::Malformed(format!("the ledger cannot read {observation}"));
        match observation.kind.as_ref() {
            "produced" => {
                let below = observation.u64("below").ok_or_else(malformed)?;
                self.produced_below(observation.node, below);
                Ok(())
            }
            "applied" => {
                let producer = observation.node_field("producer").ok_or_else(malformed)?;
                let number = observation.u64("number").ok_or_else(malformed)?;
                self.took_effect(Payload { producer, number }).map_err(LedgerError::Violation)
            }
            _ => Ok(()),
        }
    }

    /// `producer`'s disk durably says every event below `next_seq` is produced. Observed
    /// after each reservation's sync and after each recovery (a crash may keep an unsynced
    /// reservation, which then becomes durable).
    fn produced_below(&mut self, producer: NodeId, next_seq: u64) {
        let below = self.produced_below.entry(producer).or_default();
        *below = (*below).max(next_seq);
    }

    /// The consumer applied `payload`: it must be produced and not applied before.
    fn took_effect(&mut self, payload: Payload) -> Result<(), String> {
        let Payload { producer, number } = payload;
        let produced = self.produced_below.get(&producer).copied().unwrap_or(0);
        let count = self.effects.entry(payload).or_default();
        *count += 1;
        if number >= produced {
            return Err(format!(
                "event {number} of {producer} took effect but only {produced} were produced"
            ));
        }
        match *count {
            1 => Ok(()),
            count => Err(format!("event {number} of {producer} took effect {count} times")),
        }
    }

    /// Why not every one of `producers`' `events` events has been produced and taken effect.
    pub fn incomplete(&self, producers: &[NodeId], events: u64) -> Option<String> {
        for &producer in producers {
            let produced = self.produced_below.get(&producer).copied().unwrap_or(0);
            if produced < events {
                return Some(format!("{producer} has produced {produced} of {events} events"));
            }
            let range = Payload { producer, number: 0 }..Payload { producer, number: events };
            let applied = self.effects.range(range).count() as u64;
            if applied < events {
                return Some(format!("{applied} of {producer}'s {events} events took effect"));
            }
        }
        None
    }
}

/// The ledger as one of the workload's checks: `effects_at_most_once` fails at the first
/// double or premature effect; `effects_exactly_once` (liveness) passes once `producers`
/// have all produced `events` events and each took effect.
pub struct Effects {
    pub ledger: Ledger,
    pub exactly_once: Option<(Vec<NodeId>, u64)>,
}

impl CheckLogic<Message, DedupParams> for Effects {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        match (self.ledger.observe(observation), &self.exactly_once) {
            (Ok(()), _) => Ok(()),
            (Err(LedgerError::Malformed(why)), _) => Err(why),
            (Err(LedgerError::Violation(why)), None) => Err(why),
            // The liveness check judges completeness; the invariant judges each effect.
            (Err(LedgerError::Violation(_)), Some(_)) => Ok(()),
        }
    }

    fn evaluate(&mut self, _run: &Run<'_, Message, DedupParams>) -> CheckResult {
        let Some((producers, events)) = &self.exactly_once else {
            return CheckResult::Pass;
        };
        match self.ledger.incomplete(producers, *events) {
            Some(why) => CheckResult::Fail(why),
            None => CheckResult::Pass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the three ways to break exactly-once are told apart: twice, before production,
    // and never (incomplete).
    #[test]
    fn exactly_once_cases() {
        let p = NodeId(0);
        let mut ledger = Ledger::default();
        ledger.produced_below(p, 2);
        assert_eq!(ledger.took_effect(Payload { producer: p, number: 0 }), Ok(()));
        assert!(ledger.incomplete(&[p], 2).is_some_and(|why| why.contains("1 of n0's 2")));
        assert_eq!(ledger.took_effect(Payload { producer: p, number: 1 }), Ok(()));
        assert_eq!(ledger.incomplete(&[p], 2), None);
        ledger.produced_below(p, 1);
        assert_eq!(ledger.incomplete(&[p], 2), None, "production never goes backwards");
        let twice = ledger.took_effect(Payload { producer: p, number: 1 });
        assert!(twice.is_err_and(|v| v.contains("2 times")));
        let mut early = Ledger::default();
        let premature = early.took_effect(Payload { producer: p, number: 0 });
        assert!(premature.is_err_and(|v| v.contains("only 0 were produced")));
    }
}
