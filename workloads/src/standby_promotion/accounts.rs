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

    /// Every account, by (client, session), in order.
    pub fn iter(&self) -> impl Iterator<Item = ((NodeId, u32), Account)> + '_ {
        self.accounts.iter().map(|(&key, &account)| (key, account))
    }

    /// Reads the text form back, or says which part it cannot read.
    pub fn parse(text: &str) -> Result<Accounts, String> {
        let mut accounts = Accounts::default();
        if text == "-" {
            return Ok(accounts);
        }
        for part in text.split(',') {
            let mut fields = part.split(':');
            let key = fields.next().and_then(|key| {
                let (client, session) = key.strip_prefix('n')?.split_once('/')?;
                Some((NodeId(client.parse().ok()?), session.parse::<u32>().ok()?))
            });
            let mut number = || fields.next().and_then(|field| field.parse::<u64>().ok());
            match (key, number(), number(), number(), fields.next()) {
                (Some(key), Some(last), Some(ops), Some(balance), None) => {
                    accounts.accounts.insert(key, Account { last, ops, balance });
                }
                _ => return Err(format!("cannot read account `{part}` of state `{text}`")),
            }
        }
        Ok(accounts)
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
        assert_eq!(Accounts::parse(&accounts.render()), Ok(accounts.clone()));
        let first = accounts.iter().next();
        assert_eq!(first, Some(((NodeId(2), 0), Account { last: 2, ops: 2, balance: 17 })));
        assert_eq!(Accounts::default().render(), "-");
        assert_eq!(Accounts::parse("-"), Ok(Accounts::default()));
        for bad in ["n2/0:1:x:3", "n2:1:1:3", "n2/0:1:1:3:4", "2/0:1:1:3"] {
            assert!(Accounts::parse(bad).is_err(), "{bad}");
        }
    }
}
