//! The ledger: what each producer durably produced and how often each event took effect at
//! the consumer, kept outside all processes so crashes cannot erase the evidence.
//!
//! An event is identified by what it says — (producer, number) — never by the (nonce, seq)
//! it travels under: that pair is the protocol's business, and the planted bug is exactly a
//! producer that sends the same event under a second pair.

use std::collections::BTreeMap;

use orrery_sim::NodeId;

/// What an event says: which producer made it and its number in that producer's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Payload {
    pub producer: NodeId,
    pub number: u64,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Per producer: every event numbered below this is produced.
    produced_below: BTreeMap<NodeId, u64>,
    /// How many times each event took effect.
    effects: BTreeMap<Payload, u32>,
    violation: Option<String>,
}

impl Ledger {
    /// `producer`'s disk durably says every event below `next_seq` is produced. Called after
    /// each reservation's sync and after each recovery (a crash may keep an unsynced
    /// reservation, which then becomes durable).
    pub fn produced_below(&mut self, producer: NodeId, next_seq: u64) {
        let below = self.produced_below.entry(producer).or_default();
        *below = (*below).max(next_seq);
    }

    /// The consumer applied `payload`: it must be produced and not applied before.
    pub fn took_effect(&mut self, payload: Payload) {
        let Payload { producer, number } = payload;
        let produced = self.produced_below.get(&producer).copied().unwrap_or(0);
        if number >= produced {
            self.violate(format!(
                "event {number} of {producer} took effect but only {produced} were produced"
            ));
        }
        let count = self.effects.entry(payload).or_default();
        *count += 1;
        if *count > 1 {
            let count = *count;
            self.violate(format!("event {number} of {producer} took effect {count} times"));
        }
    }

    /// The first event that took effect twice (or before it was produced), if any.
    pub fn violation(&self) -> Option<&str> {
        self.violation.as_deref()
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

    fn violate(&mut self, message: String) {
        self.violation.get_or_insert(message);
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
        ledger.took_effect(Payload { producer: p, number: 0 });
        assert_eq!(ledger.violation(), None);
        assert!(ledger.incomplete(&[p], 2).is_some_and(|why| why.contains("1 of n0's 2")));
        ledger.took_effect(Payload { producer: p, number: 1 });
        assert_eq!(ledger.incomplete(&[p], 2), None);
        ledger.produced_below(p, 1);
        assert_eq!(ledger.incomplete(&[p], 2), None, "production never goes backwards");
        ledger.took_effect(Payload { producer: p, number: 1 });
        assert!(ledger.violation().is_some_and(|v| v.contains("2 times")));
        let mut early = Ledger::default();
        early.took_effect(Payload { producer: p, number: 0 });
        assert!(early.violation().is_some_and(|v| v.contains("only 0 were produced")));
    }
}
