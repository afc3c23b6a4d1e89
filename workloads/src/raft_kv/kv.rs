//! The replicated state machine: a key-value store of strings, with a session table so that a
//! command applied twice (a client's retry that two leaders both logged) takes effect once.

use std::collections::BTreeMap;

use super::message::{Command, Op};

#[derive(Debug, Default, Clone)]
pub struct Kv {
    values: BTreeMap<u64, String>,
    /// Per client session: the last request number applied and what it answered.
    sessions: BTreeMap<u64, (u64, Option<String>)>,
}

impl Kv {
    /// Applies `command` and returns its answer: the value a get read, `None` otherwise. A
    /// request already applied answers as it did the first time, without effect.
    pub fn apply(&mut self, command: &Command) -> Option<String> {
        if let Some((seq, answer)) = self.sessions.get(&command.session) {
            if command.seq <= *seq {
                return if command.seq == *seq { answer.clone() } else { None };
            }
        }
        let answer = match &command.op {
            Op::Get { key } => self.values.get(key).cloned(),
            Op::Put { key, value } => {
                self.values.insert(*key, value.clone());
                None
            }
            Op::Append { key, value } => {
                self.values.entry(*key).or_default().push_str(value);
                None
            }
        };
        self.sessions.insert(command.session, (command.seq, answer.clone()));
        answer
    }

    /// The current value of `key` in this replica's copy, however stale.
    pub fn read(&self, key: u64) -> Option<String> {
        self.values.get(&key).cloned()
    }
}
