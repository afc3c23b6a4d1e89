//! A simulated run as the journal of what drove it. Every operation that changes the world
//! (start, stop, a control action, steps, runs to a time or a check, node removals) goes
//! through `DrivenRun::drive`, which performs it and appends it to the journal. A world is a
//! pure function of (scenario, seed) and the operations applied to it, in order, between the
//! same events; so replaying a journal prefix on a freshly built world reproduces the state
//! it described exactly, fingerprint included. That is what a simulated snapshot is.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::fault::ControlAction;
use crate::id::NodeId;
use crate::node::NodeStatus;
use crate::scenario::RunPlan;
use crate::time::Instant;
use crate::workload::{Registry, Setup, Simulation};
use crate::world::{Limit, Outcome};

/// One operation that drove the world.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Driven {
    /// Arms the plan's fault schedule.
    Start,
    /// Ends the run (`Simulation::finish`).
    Stop,
    Apply(ControlAction),
    Steps(u64),
    RunUntil(Instant),
    RunUntilCheck(String, Instant),
    /// Crashes the node and keeps it out of the cluster (if the crash happened).
    Remove(u32),
    /// Boots a removed node and takes it back.
    Add(u32),
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    Created,
    Running,
    /// The run stopped itself: a violation, a limit or a panic.
    Halted,
    /// Stopped by `stop`.
    Stopped,
}

impl RunState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RunState::Created => "created",
            RunState::Running => "running",
            RunState::Halted => "halted",
            RunState::Stopped => "stopped",
        }
    }
}

/// A simulation with the journal of what drove it.
pub(crate) struct DrivenRun {
    pub(crate) sim: Box<dyn Simulation>,
    pub(crate) journal: Vec<Driven>,
    pub(crate) state: RunState,
    /// How the last run operation ended, in the protocol's words.
    pub(crate) outcome: String,
    pub(crate) removed: BTreeSet<u32>,
}

impl DrivenRun {
    /// A fresh world of `plan`, at time 0, nothing run.
    pub(crate) fn build(plan: &RunPlan, registry: &Registry) -> Result<DrivenRun, String> {
        let workload = registry
            .get(&plan.workload)
            .ok_or_else(|| format!("unknown workload `{}`", plan.workload))?;
        let setup = Setup {
            seed: plan.seed,
            n_nodes: plan.topology.len(),
            params: &plan.params,
            recording: false,
            fingerprint_history: false,
        };
        let sim = catch_unwind(AssertUnwindSafe(|| workload.instantiate(plan, &setup)))
            .map_err(|_| "the workload panicked while building the world".to_string())??;
        Ok(DrivenRun {
            sim,
            journal: Vec::new(),
            state: RunState::Created,
            outcome: "none".to_string(),
            removed: BTreeSet::new(),
        })
    }

    /// Replays `journal` on a fresh world of `plan`.
    pub(crate) fn replay(
        plan: &RunPlan,
        registry: &Registry,
        journal: &[Driven],
    ) -> Result<DrivenRun, String> {
        let mut run = DrivenRun::build(plan, registry)?;
        for driven in journal {
            run.drive(plan, driven.clone());
        }
        Ok(run)
    }

    /// Performs `driven` and journals it; returns how it ended (`Satisfied` for a check that
    /// held, `TimeReached` for one that did not by the deadline). A panic halts the run.
    pub(crate) fn drive(&mut self, plan: &RunPlan, driven: Driven) -> Outcome {
        self.record(&driven);
        let sim = &mut self.sim;
        let removed = &mut self.removed;
        let result = catch_unwind(AssertUnwindSafe(|| match &driven {
            Driven::Start => {
                let chaos_end = Instant::ZERO + plan.phases.chaos;
                for (at, action) in plan.faults.iter().filter(|(at, _)| *at < chaos_end) {
                    sim.schedule(*at, action.clone());
                }
                Outcome::Stepped
            }
            Driven::Stop => {
                sim.finish("stopped", Some("by the control client".to_string()));
                Outcome::Quiescent
            }
            Driven::Apply(action) => {
                sim.apply(action.clone());
                Outcome::Stepped
            }
            Driven::Steps(events) => sim.step_events(*events).unwrap_or(Outcome::Quiescent),
            Driven::RunUntil(until) => sim.run_until_time(*until),
            Driven::RunUntilCheck(check, deadline) => match sim.run_until_check(check, *deadline) {
                Ok(true) => Outcome::Satisfied,
                Ok(false) => Outcome::TimeReached,
                Err(outcome) => outcome,
            },
            Driven::Remove(node) => {
                sim.apply(ControlAction::Crash(NodeId(*node)));
                if sim.node_status(NodeId(*node)) == Some(NodeStatus::Down) {
                    removed.insert(*node);
                }
                Outcome::Stepped
            }
            Driven::Add(node) => {
                removed.remove(node);
                sim.apply(ControlAction::Start(NodeId(*node)));
                Outcome::Stepped
            }
        }));
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(payload) => {
                let text = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a panic with a non-text payload".to_string());
                self.state = RunState::Halted;
                self.outcome = format!("panic: {text}");
                return Outcome::Quiescent;
            }
        };
        match &driven {
            Driven::Start => self.state = RunState::Running,
            Driven::Stop => self.state = RunState::Stopped,
            Driven::Steps(_) | Driven::RunUntil(_) | Driven::RunUntilCheck(..) => {
                self.outcome = outcome_text(&outcome, matches!(driven, Driven::RunUntilCheck(..)));
                if matches!(outcome, Outcome::Limit(_) | Outcome::Violation { .. }) {
                    self.state = RunState::Halted;
                }
            }
            _ => {}
        }
        outcome
    }

    /// Appends to the journal; consecutive steps, and consecutive runs to a time, merge
    /// (running to t1 then to t2 processes the same events, checked the same way, as running
    /// to t2), so a long sliced run is one entry.
    fn record(&mut self, driven: &Driven) {
        match (self.journal.last_mut(), driven) {
            (Some(Driven::Steps(total)), Driven::Steps(more)) => *total += more,
            (Some(Driven::RunUntil(until)), Driven::RunUntil(later)) if later >= until => {
                *until = *later
            }
            _ => self.journal.push(driven.clone()),
        }
    }

    /// Whether the run accepts operations that advance it.
    pub(crate) fn is_running(&self) -> bool {
        self.state == RunState::Running
    }
}

/// An outcome in the protocol's words.
fn outcome_text(outcome: &Outcome, for_check: bool) -> String {
    match outcome {
        Outcome::Stepped => "stepped".to_string(),
        Outcome::Quiescent => "quiescent".to_string(),
        Outcome::TimeReached if for_check => "not_satisfied".to_string(),
        Outcome::TimeReached => "time_reached".to_string(),
        Outcome::Satisfied => "satisfied".to_string(),
        Outcome::Limit(Limit::EventsMax) => "limit: events_max".to_string(),
        Outcome::Limit(Limit::VtimeMax) => "limit: vtime_max".to_string(),
        Outcome::Violation { invariant, message, .. } => {
            format!("violation: {invariant}: {message}")
        }
    }
}
