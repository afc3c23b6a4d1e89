//! Checks declared once: a name, a kind, a doc line and the logic in one value, so the
//! list a scenario validates against and the predicates a run evaluates are the same list.
//!
//! Checks read live process state through `Run::world`, and the run's observations (see
//! `observation`) through `CheckLogic::observe`, which sees every observation in event
//! order, including those of nodes that have since crashed. `Agreement` is the reusable
//! checker for the most common safety shape: a value chosen per key never differs.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use crate::id::NodeId;
use crate::observation::Observation;
use crate::time::Instant;
use crate::trace::OwnedValue;
use crate::wire::{Typed, Wire};
use crate::world::World;

use super::def::RunInfo;
use super::{CheckKind, CheckResult, CheckSpec};

/// What a check sees when it is evaluated.
pub struct Run<'a, M, P, W: Wire<M> = Typed> {
    /// The world: processes (`processes_of`), disks, node status, time.
    pub world: &'a World<M, W>,
    /// The run's typed parameters.
    pub params: &'a P,
    /// When the chaos phase ended (faults stopped, the network healed).
    pub heal_at: Instant,
    /// When the converge phase began (after the heal phase's quiet time).
    pub converge_from: Instant,
}

/// A check's logic for one run. Closures cover most checks (`Check::invariant`...); a type
/// implementing this covers checks that fold observations into state.
pub trait CheckLogic<M, P, W: Wire<M> = Typed> {
    /// Whether this check consumes observations (if none does, the world does not keep
    /// them).
    fn observes(&self) -> bool {
        false
    }
    /// Every observation of the run, in event order, as it is made. An invariant may
    /// return the violation here; it fails at the event that made the observation.
    fn observe(&mut self, _observation: &Observation) -> Result<(), String> {
        Ok(())
    }
    /// Evaluates the check: after every event (invariants), during converge (liveness), or
    /// once at the end (final).
    fn evaluate(&mut self, run: &Run<'_, M, P, W>) -> CheckResult;
}

type MakeLogic<M, P, W> = dyn Fn(&RunInfo<P>) -> Box<dyn CheckLogic<M, P, W>> + Send + Sync;

/// A declared check with its logic.
pub struct Check<M, P, W: Wire<M> = Typed> {
    pub(crate) spec: CheckSpec,
    pub(crate) make: Arc<MakeLogic<M, P, W>>,
}

impl<M, P, W: Wire<M>> Clone for Check<M, P, W> {
    fn clone(&self) -> Self {
        Check { spec: self.spec.clone(), make: self.make.clone() }
    }
}

/// A closure check: `Ok(())` passes, `Err(why)` fails.
struct Predicate<F>(Arc<F>);

impl<M, P, W, F> CheckLogic<M, P, W> for Predicate<F>
where
    W: Wire<M>,
    F: Fn(&Run<'_, M, P, W>) -> Result<(), String>,
{
    fn evaluate(&mut self, run: &Run<'_, M, P, W>) -> CheckResult {
        match (self.0)(run) {
            Ok(()) => CheckResult::Pass,
            Err(message) => CheckResult::Fail(message),
        }
    }
}

/// A closure check with a full verdict (pass, fail or unknown).
struct Verdict<F>(Arc<F>);

impl<M, P, W, F> CheckLogic<M, P, W> for Verdict<F>
where
    W: Wire<M>,
    F: Fn(&Run<'_, M, P, W>) -> CheckResult,
{
    fn evaluate(&mut self, run: &Run<'_, M, P, W>) -> CheckResult {
        (self.0)(run)
    }
}

impl<M: Debug + 'static, P: 'static, W: Wire<M>> Check<M, P, W> {
    /// A check whose logic `make` builds fresh for each run (for checks with state).
    pub fn with_logic<L: CheckLogic<M, P, W> + 'static>(
        name: &'static str,
        kind: CheckKind,
        doc: &'static str,
        make: impl Fn(&RunInfo<P>) -> L + Send + Sync + 'static,
    ) -> Self {
        Check {
            spec: CheckSpec { name, kind, doc },
            make: Arc::new(move |info| Box::new(make(info)) as Box<dyn CheckLogic<M, P, W>>),
        }
    }

    /// A predicate over the world, checked after every event (and at phase ends).
    pub fn invariant(
        name: &'static str,
        doc: &'static str,
        predicate: impl Fn(&Run<'_, M, P, W>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        let predicate = Arc::new(predicate);
        Self::with_logic(name, CheckKind::Invariant, doc, move |_| Predicate(predicate.clone()))
    }

    /// A predicate that must become true during the converge phase, by its deadline.
    pub fn liveness(
        name: &'static str,
        doc: &'static str,
        predicate: impl Fn(&Run<'_, M, P, W>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        let predicate = Arc::new(predicate);
        Self::with_logic(name, CheckKind::Liveness, doc, move |_| Predicate(predicate.clone()))
    }

    /// A check evaluated once at the end of the run; it may say it could not decide.
    pub fn final_check(
        name: &'static str,
        doc: &'static str,
        verdict: impl Fn(&Run<'_, M, P, W>) -> CheckResult + Send + Sync + 'static,
    ) -> Self {
        let verdict = Arc::new(verdict);
        Self::with_logic(name, CheckKind::Final, doc, move |_| Verdict(verdict.clone()))
    }

    /// A final check that the history clients recorded as observations (see
    /// `workload::history`) is linearizable against `model`; a search that exhausts
    /// `steps_max` is undecided (`Unknown`), not a failure.
    pub fn linearizable(
        name: &'static str,
        doc: &'static str,
        model: crate::check::ModelName,
        steps_max: u64,
    ) -> Self {
        Self::with_logic(name, CheckKind::Final, doc, move |_| {
            super::history::HistoryCheck::new(model, steps_max)
        })
    }

    /// `linearizable` with a search budget that depends on the run's parameters.
    pub fn linearizable_by(
        name: &'static str,
        doc: &'static str,
        model: crate::check::ModelName,
        steps_max: impl Fn(&P) -> u64 + Send + Sync + 'static,
    ) -> Self {
        Self::with_logic(name, CheckKind::Final, doc, move |info| {
            super::history::HistoryCheck::new(model, steps_max(&info.params))
        })
    }

    /// An invariant over observations: `agreement` says which observations must agree.
    pub fn agreement(name: &'static str, doc: &'static str, agreement: Agreement) -> Self {
        let agreement = Arc::new(agreement);
        Self::with_logic(name, CheckKind::Invariant, doc, move |_| AgreementState {
            rule: agreement.clone(),
            chosen: BTreeMap::new(),
            violation: None,
        })
    }
}

/// "A value chosen per key must never differ across nodes or incarnations": observations of
/// one kind, keyed by some of their fields, must all carry the same value (some other
/// fields, or the observing node itself).
///
/// - One leader per term: `Agreement::on("leader").key(&["term"]).value_is_node()`.
/// - State machine safety: `Agreement::on("applied").key(&["index"]).value(&["entry"])`.
/// - Committed entries never change: `Agreement::on("commit").key(&["index"]).value(&["term"])`.
///
/// An observation of that kind without one of the named fields is itself a failure: a
/// check that silently skips what it cannot read would pass every seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    kind: &'static str,
    key: Vec<&'static str>,
    value: AgreeOn,
    per_node: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AgreeOn {
    Node,
    Fields(Vec<&'static str>),
}

impl Agreement {
    /// Observations of `kind` (keyed by nothing and valued by the observing node until
    /// `key` and `value` say otherwise).
    pub fn on(kind: &'static str) -> Agreement {
        Agreement { kind, key: Vec::new(), value: AgreeOn::Node, per_node: false }
    }

    /// The fields that name the slot (term, index, key...).
    pub fn key(mut self, fields: &[&'static str]) -> Agreement {
        self.key = fields.to_vec();
        self
    }

    /// The fields whose values must agree for one slot.
    pub fn value(mut self, fields: &[&'static str]) -> Agreement {
        self.value = AgreeOn::Fields(fields.to_vec());
        self
    }

    /// The observing node is part of the slot: each node's own observations must agree with
    /// each other (e.g. what a client sent and what it accepted, per request id).
    pub fn per_node(mut self) -> Agreement {
        self.per_node = true;
        self
    }

    /// The observing node must be the same for one slot (e.g. one leader per term).
    pub fn value_is_node(mut self) -> Agreement {
        self.value = AgreeOn::Node;
        self
    }

    fn fields_of(
        &self,
        observation: &Observation,
        names: &[&'static str],
    ) -> Result<Vec<OwnedValue>, String> {
        names
            .iter()
            .map(|name| {
                observation.get(name).cloned().ok_or_else(|| {
                    format!(
                        "observation `{}` lacks field `{name}` this check needs: {observation}",
                        self.kind
                    )
                })
            })
            .collect()
    }
}

/// What one slot holds: the value and the first observation that chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Chosen {
    Node(NodeId),
    Fields(Vec<OwnedValue>),
}

struct AgreementState {
    rule: Arc<Agreement>,
    chosen: BTreeMap<Vec<OwnedValue>, (Chosen, Observation)>,
    violation: Option<String>,
}

impl AgreementState {
    fn check(&mut self, observation: &Observation) -> Result<(), String> {
        let rule = &self.rule;
        let mut key = rule.fields_of(observation, &rule.key)?;
        if rule.per_node {
            key.insert(0, OwnedValue::Node(observation.node));
        }
        let value = match &rule.value {
            AgreeOn::Node => Chosen::Node(observation.node),
            AgreeOn::Fields(names) => Chosen::Fields(rule.fields_of(observation, names)?),
        };
        match self.chosen.get(&key) {
            None => {
                self.chosen.insert(key, (value, observation.clone()));
                Ok(())
            }
            Some((chosen, _)) if *chosen == value => Ok(()),
            Some((_, first)) => Err(format!(
                "`{}` disagrees for {}: first {first}, then {observation}",
                rule.kind,
                render_key(&rule.key, &key)
            )),
        }
    }
}

fn render_key(names: &[&'static str], values: &[OwnedValue]) -> String {
    let node = (values.len() > names.len()).then(|| format!("node={}", values[0]));
    let named = values.iter().skip(values.len() - names.len());
    let parts: Vec<String> =
        node.into_iter().chain(names.iter().zip(named).map(|(n, v)| format!("{n}={v}"))).collect();
    match parts.is_empty() {
        true => "the whole run".to_string(),
        false => parts.join(" "),
    }
}

impl<M, P, W: Wire<M>> CheckLogic<M, P, W> for AgreementState {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        if self.violation.is_some() || !observation.is(self.rule.kind) {
            return Ok(());
        }
        let result = self.check(observation);
        if let Err(message) = &result {
            self.violation = Some(message.clone());
        }
        result
    }

    fn evaluate(&mut self, _run: &Run<'_, M, P, W>) -> CheckResult {
        match &self.violation {
            Some(message) => CheckResult::Fail(message.clone()),
            None => CheckResult::Pass,
        }
    }
}
