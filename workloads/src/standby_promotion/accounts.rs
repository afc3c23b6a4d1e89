//! The replicated state machine: one account per client session, into which that
//! session's operations deposit, and its text form in `promoted` observations.
//!
//! An account is (`last` operation applied, `ops` applied, `balance`). Applying an entry
//! whose operation is not above the session's last one is a no-op: a client retries an
//! operation until it is acknowledged, so the log may hold it twice. A correct state is
//! therefore exactly, per session, operations 1..=`last` once each: `ops == last` and
//! `balance` their sum.

use std::collections::BTreeMap;
use std::fmt::Write;

use orrery_sim::NodeId;

use super::message::Entry;

/// One session's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Account {
    /// The session's last operation applied.
    pub last: u64,
    /// How many operations were applied.
    pub ops: u64,
    /// The sum of their amounts.
    pub balance: u64,
}

/// The state: accounts by (client, session).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    accounts: BTreeMap<(NodeId, u32), Account>,
}

impl Accounts {
    /// The fold of `entries`, in order.
    pub fn fold<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Accounts {
        let mut accounts = Accounts::default();
        for entry in entries {
            accounts.apply(entry);
        }
        accounts
    }

    /// Applies one entry; returns whether it took effect (not a retry of an applied one).
    pub fn apply(&mut self, entry: &Entry) -> bool {
        let account = self.accounts.entry((entry.client(), entry.session)).or_default();
        if entry.seq <= account.last {
            return false;
        }
        account.last = entry.seq;
        account.ops += 1;
        account.balance += entry.amount;
        true
    }

    /// The text form: `client/session:last:ops:balance` per account, comma-separated, in
    /// order (`-` for no account).
    pub fn render(&self) -> String {
        let mut text = String::new();
        for ((client, session), account) in &self.accounts {
            let comma = if text.is_empty() { "" } else { "," };
            let Account { last, ops, balance } = account;
            let _ = write!(text, "{comma}{client}/{session}:{last}:{ops}:{balance}");
        }
        if text.is_empty() {
            text.push('-');
        }
        text
    }

    /// Reads the text form back: (`client/session`, account) pairs, or why not.
    pub fn parse(text: &str) -> Result<Vec<(String, Account)>, String> {
        if text == "-" {
            return Ok(Vec::new());
        }
        text.split(',')
            .map(|part| {
                let mut fields = part.split(':');
                let key = fields.next().filter(|key| key.contains('/'));
                let mut number = || fields.next().and_then(|field| field.parse::<u64>().ok());
                match (key, number(), number(), number()) {
                    (Some(key), Some(last), Some(ops), Some(balance)) => {
                        Ok((key.to_string(), Account { last, ops, balance }))
                    }
                    _ => Err(format!("cannot read account `{part}`")),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(client: u32, seq: u64, amount: u64) -> Entry {
        Entry { ballot: 1, client, session: 0, seq, amount }
    }

    // Proves a retried operation applies once, the text form reads back, and an empty state
    // renders as `-`.
    #[test]
    fn retries_apply_once_and_the_text_form_reads_back() {
        let log = [entry(2, 1, 10), entry(3, 1, 5), entry(2, 1, 10), entry(2, 2, 7)];
        let accounts = Accounts::fold(&log);
        assert_eq!(accounts.render(), "n2/0:2:2:17,n3/0:1:1:5");
        let parsed = Accounts::parse(&accounts.render()).expect("reads back");
        assert_eq!(parsed[0], ("n2/0".to_string(), Account { last: 2, ops: 2, balance: 17 }));
        assert_eq!(Accounts::default().render(), "-");
        assert_eq!(Accounts::parse("-"), Ok(Vec::new()));
        assert!(Accounts::parse("n2/0:1:x:3").is_err());
    }
}
