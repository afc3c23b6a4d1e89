//! standby-promotion's checks. Two are folds over observations (`invoke` by clients;
//! `acked` and `promoted` by replicas), so a claim outlives the replica incarnation that made
//! it; two read the replicas and clients live after the heal.
//!
//! The `Ledger` is what every check of the state shares: each session's operations as
//! invoked, and the highest one acknowledged. A state is *exact* when, per session, it holds
//! operations 1..=`last` each once with their invoked amounts, `last` at least the highest
//! acknowledged and at most the highest invoked: the fold of a prefix of the session's
//! operations that contains every acknowledged one. An operation that was invoked but not
//! acknowledged may or may not be in it (its client was never told).
//!
//! An observation a check needs but cannot read fails the check: a check that skipped what
//! it cannot read would pass every seed.

use std::collections::{BTreeMap, BTreeSet};

use orrery_sim::workload::{CheckLogic, CheckResult, Run};
use orrery_sim::{NodeId, Observation};

use super::accounts::Accounts;
use super::client::Client;
use super::replica::{Replica, Role};
use super::{Message, StandbyParams};

type View<'a> = Run<'a, Message, StandbyParams>;

fn field(observation: &Observation, name: &str) -> Result<u64, String> {
    observation.u64(name).ok_or_else(|| format!("cannot read `{name}` of {observation}"))
}

/// One client session's operations.
#[derive(Debug, Default, Clone)]
struct Session {
    /// The amount of operation `i + 1`, as invoked.
    amounts: Vec<u64>,
    /// The highest operation acknowledged by a replica.
    acked: u64,
}

/// Each session's invoked operations and its highest acknowledged one, from `invoke` and
/// `acked` observations.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    sessions: BTreeMap<(NodeId, u32), Session>,
}

impl Ledger {
    /// Folds `invoke` and `acked` observations in; other kinds are not its business.
    pub fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        match observation.kind.as_ref() {
            "invoke" => {
                let key = (observation.node, observation.incarnation);
                let (seq, amount) = (field(observation, "seq")?, field(observation, "amount")?);
                let session = self.sessions.entry(key).or_default();
                match seq == session.amounts.len() as u64 + 1 {
                    true => session.amounts.push(amount),
                    false => {
                        return Err(format!(
                            "{observation}: a session invokes one operation at a time, 1, 2, 3..."
                        ))
                    }
                }
            }
            "acked" => {
                let client = observation
                    .node_field("client")
                    .ok_or_else(|| format!("cannot read `client` of {observation}"))?;
                let session = u32::try_from(field(observation, "session")?)
                    .map_err(|_| format!("cannot read `session` of {observation}"))?;
                let seq = field(observation, "seq")?;
                let Some(session) = self.sessions.get_mut(&(client, session)) else {
                    return Err(format!("{observation}: acknowledges what no client invoked"));
                };
                if seq == 0 || seq > session.amounts.len() as u64 {
                    return Err(format!("{observation}: acknowledges what no client invoked"));
                }
                session.acked = session.acked.max(seq);
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `state` is exact (see the module documentation); why not, if it is not.
    pub fn judge(&self, state: &Accounts) -> Result<(), String> {
        for ((client, session), account) in state.iter() {
            let Some(invoked) = self.sessions.get(&(client, session)) else {
                return Err(format!("session {client}/{session} has an account but never invoked"));
            };
            let applied = usize::try_from(account.last).unwrap_or(usize::MAX);
            let Some(amounts) = invoked.amounts.get(..applied) else {
                return Err(format!(
                    "session {client}/{session}: operation {} applied, but only {} invoked",
                    account.last,
                    invoked.amounts.len()
                ));
            };
            let balance: u64 = amounts.iter().sum();
            if account.ops != account.last || account.balance != balance {
                return Err(format!(
                    "session {client}/{session}: {} operations applied with balance {} for \
                     operations 1 to {}, not each once (balance {balance})",
                    account.ops, account.balance, account.last
                ));
            }
        }
        let accounts: BTreeMap<(NodeId, u32), u64> =
            state.iter().map(|(key, account)| (key, account.last)).collect();
        for ((client, session), invoked) in &self.sessions {
            let last = accounts.get(&(*client, *session)).copied().unwrap_or(0);
            if last < invoked.acked {
                return Err(format!(
                    "session {client}/{session}: operation {} was acknowledged, but the state \
                     holds operations up to {last} only",
                    invoked.acked
                ));
            }
        }
        Ok(())
    }
}

/// `promoted_state_exact` (invariant): every promotion takes an exact state, judged against
/// everything acknowledged before it.
#[derive(Debug, Default)]
pub struct PromotedState {
    ledger: Ledger,
}

impl CheckLogic<Message, StandbyParams> for PromotedState {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        self.ledger.observe(observation)?;
        if !observation.is("promoted") {
            return Ok(());
        }
        let text = observation
            .text("state")
            .ok_or_else(|| format!("cannot read `state` of {observation}"))?;
        let state = Accounts::parse(&text)?;
        self.ledger
            .judge(&state)
            .map_err(|why| format!("promoted state not exact: {why}: {observation}"))
    }

    fn evaluate(&mut self, _run: &View<'_>) -> CheckResult {
        CheckResult::Pass
    }
}

/// One primary's tenure: a node's incarnation accepting writes in a ballot.
type Tenure = (NodeId, u32, u64);

/// `single_primary` (invariant): at most one primary accepts writes at any time, fenced. A
/// primary accepts a write when it acknowledges it; in the order acknowledgements happen,
/// the tenures that make them never interleave (once a tenure acknowledged after another,
/// the other never acknowledges again), and each new tenure's ballot, its fencing token, is
/// above every earlier tenure's.
#[derive(Debug, Default)]
pub struct SinglePrimary {
    current: Option<(Tenure, Observation)>,
    ended: BTreeSet<Tenure>,
}

impl CheckLogic<Message, StandbyParams> for SinglePrimary {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        if !observation.is("acked") {
            return Ok(());
        }
        let tenure = (observation.node, observation.incarnation, field(observation, "ballot")?);
        let Some((current, first)) = &self.current else {
            self.current = Some((tenure, observation.clone()));
            return Ok(());
        };
        if *current == tenure {
            return Ok(());
        }
        if self.ended.contains(&tenure) {
            return Err(format!(
                "two primaries accepting writes at once: {observation}, after the next primary \
                 acknowledged {first}"
            ));
        }
        if tenure.2 <= current.2 {
            return Err(format!(
                "a new primary accepts writes in ballot {}, not above ballot {} of the one \
                 before (not fenced): {observation}, after {first}",
                tenure.2, current.2
            ));
        }
        self.ended.insert(*current);
        self.current = Some((tenure, observation.clone()));
        Ok(())
    }

    fn evaluate(&mut self, _run: &View<'_>) -> CheckResult {
        CheckResult::Pass
    }
}

/// `replicas_converge` (liveness): after the heal, one replica is primary and the other its
/// standby, holding every entry the primary committed, its log a prefix of the primary's;
/// and a promotion of the standby now would take an exact state.
#[derive(Debug, Default)]
pub struct Converge {
    ledger: Ledger,
}

impl CheckLogic<Message, StandbyParams> for Converge {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        self.ledger.observe(observation)
    }

    fn evaluate(&mut self, run: &View<'_>) -> CheckResult {
        match self.converged(run) {
            Ok(()) => CheckResult::Pass,
            Err(why) => CheckResult::Fail(why),
        }
    }
}

impl Converge {
    fn converged(&self, run: &View<'_>) -> Result<(), String> {
        let replicas: Vec<(NodeId, &Replica)> = run.world.processes_of::<Replica>().collect();
        let primaries: Vec<&(NodeId, &Replica)> =
            replicas.iter().filter(|(_, r)| matches!(r.role, Role::Primary(_))).collect();
        let [(primary_node, primary)] = primaries.as_slice() else {
            return Err(format!("{} primaries among the live replicas", primaries.len()));
        };
        let Role::Primary(tenure) = &primary.role else { unreachable!("filtered") };
        let Some((standby_node, standby)) = replicas.iter().find(|(n, _)| n != primary_node) else {
            return Err(format!("{primary_node} is primary, but no standby is up"));
        };
        if !matches!(standby.role, Role::Standby { primary: Some(p) } if p == *primary_node) {
            return Err(format!("{standby_node} does not follow primary {primary_node}"));
        }
        let (log, primary_log) = (standby.log(), primary.log());
        let commit = usize::try_from(tenure.commit()).unwrap_or(usize::MAX);
        if log.len() < commit || !primary_log.starts_with(log) {
            return Err(format!(
                "standby {standby_node} holds {} entries, not a prefix of primary \
                 {primary_node}'s {} up to its commit index {commit}",
                log.len(),
                primary_log.len()
            ));
        }
        self.ledger
            .judge(&Accounts::fold(log))
            .map_err(|why| format!("promoting standby {standby_node} now would lose: {why}"))
    }
}

/// `clients_progress` (liveness): every client completed an operation since the heal.
pub fn clients_progress(run: &View<'_>) -> Result<(), String> {
    let stuck: Vec<String> = (run.world.processes_of::<Client>())
        .filter(|(_, client)| client.last_ok_at.is_none_or(|at| at < run.heal_at))
        .map(|(node, _)| node.to_string())
        .collect();
    match stuck.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "no operation acknowledged since the heal at {} to {}",
            run.heal_at,
            stuck.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use orrery_sim::trace::OwnedValue;
    use orrery_sim::Instant;

    use super::*;

    fn observation(
        (node, incarnation): (u32, u32),
        kind: &'static str,
        fields: &[(&'static str, OwnedValue)],
    ) -> Observation {
        Observation {
            seq: 0,
            at: Instant::ZERO,
            node: NodeId(node),
            incarnation,
            kind: Cow::Borrowed(kind),
            fields: fields.iter().map(|(n, v)| (Cow::Borrowed(*n), v.clone())).collect(),
        }
    }

    fn invoke(client: u32, seq: u64, amount: u64) -> Observation {
        let fields = [("seq", OwnedValue::U64(seq)), ("amount", OwnedValue::U64(amount))];
        observation((client, 0), "invoke", &fields)
    }

    fn acked(primary: (u32, u32), client: u32, seq: u64, ballot: u64) -> Observation {
        let fields = [
            ("client", OwnedValue::Node(NodeId(client))),
            ("session", OwnedValue::U64(0)),
            ("seq", OwnedValue::U64(seq)),
            ("ballot", OwnedValue::U64(ballot)),
        ];
        observation(primary, "acked", &fields)
    }

    fn promoted(state: &str) -> Observation {
        let fields = [("ballot", OwnedValue::U64(3)), ("state", OwnedValue::Str(state.into()))];
        observation((1, 0), "promoted", &fields)
    }

    // Proves a promoted state passes when it is a prefix holding every acknowledged write
    // (an unacknowledged one may be in or out), and fails on a lost acknowledged write, an
    // operation applied twice or with another amount, and one never invoked.
    #[test]
    fn promoted_state_must_be_an_exact_prefix() {
        let history = [invoke(5, 1, 10), acked((0, 0), 5, 1, 2), invoke(5, 2, 7)];
        let judge = |state: &str| {
            let mut check = PromotedState::default();
            history.iter().chain([&promoted(state)]).try_for_each(|o| check.observe(o))
        };
        assert_eq!(judge("n5/0:1:1:10"), Ok(()));
        assert_eq!(judge("n5/0:2:2:17"), Ok(()), "the unacknowledged operation took effect");
        for (state, why) in [
            ("-", "operation 1 was acknowledged, but the state holds operations up to 0"),
            ("n5/0:2:3:27", "3 operations applied with balance 27"),
            ("n5/0:1:1:11", "1 operations applied with balance 11"),
            ("n5/0:3:3:20", "operation 3 applied, but only 2 invoked"),
            ("n5/0:1:1:10,n6/0:1:1:1", "n6/0 has an account but never invoked"),
        ] {
            let result = judge(state);
            assert!(result.as_ref().is_err_and(|e| e.contains(why)), "{state}: {result:?}");
        }
    }

    // Proves acknowledging what was never invoked and an invocation out of sequence are
    // failures, not skipped.
    #[test]
    fn the_ledger_refuses_impossible_histories() {
        let mut ledger = Ledger::default();
        assert!(ledger.observe(&acked((0, 0), 5, 1, 2)).is_err());
        assert!(ledger.observe(&invoke(5, 2, 1)).is_err());
        assert_eq!(ledger.observe(&invoke(5, 1, 1)), Ok(()));
        assert!(ledger.observe(&acked((0, 0), 5, 2, 2)).is_err());
    }

    // Proves single_primary allows tenures that follow each other in rising ballots, and fails
    // when an ended tenure acknowledges again, or a new tenure's ballot is not above the last.
    #[test]
    fn single_primary_fails_on_interleaving_and_on_unfenced_ballots() {
        let run = |acks: &[Observation]| {
            let mut check = SinglePrimary::default();
            acks.iter().try_for_each(|ack| check.observe(ack))
        };
        let (a, b, a_again) = ((0, 0), (1, 0), (0, 1));
        let good =
            [acked(a, 5, 1, 2), acked(a, 6, 1, 2), acked(b, 5, 2, 3), acked(a_again, 5, 3, 4)];
        assert_eq!(run(&good), Ok(()));
        let interleaved = run(&[acked(a, 5, 1, 2), acked(b, 6, 1, 3), acked(a, 5, 2, 2)]);
        assert!(interleaved.is_err_and(|e| e.contains("two primaries accepting writes at once")));
        let same_ballot = run(&[acked(a, 5, 1, 2), acked(b, 6, 1, 2)]);
        assert!(same_ballot.is_err_and(|e| e.contains("not above ballot 2")));
        let restarted = run(&[acked(a, 5, 1, 2), acked(a_again, 5, 2, 2)]);
        assert!(restarted.is_err_and(|e| e.contains("not fenced")), "a reused token");
    }
}
