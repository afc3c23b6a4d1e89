//! The search: passes over the plan (chaos length, whole families, delta debugging over the
//! fault entries, crash-and-start merges, nodes, parameters, rates, durations, times,
//! buggify), repeated until a whole round of passes changes nothing or the budget ends.
//!
//! Each pass asks `candidates` for an ordered round and keeps the first candidate that fails
//! the same way. Candidates run in parallel on sweep threads (so under its hang watchdog),
//! but the choice is by position in the round, never by completion order: threads only
//! decide how many candidates past the chosen one ran for nothing. The result, and the
//! count of candidates it reports, are the same on any number of threads.
//!
//! Every candidate is written as scenario YAML and read back before it runs, so what is
//! tested is exactly what `shrunk.yaml` will say; a candidate the loader refuses (a shape
//! left without nodes, a topology the workload cannot run) is dropped without running.
//!
//! The wall clock is read here for `--max-time` only; it never feeds a run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant as WallInstant;

use crate::runner::{
    run_plan, run_sweep, FailureKind, Planner, Rerun, RunOptions, SeedReport, Stop, SweepObserver,
    SweepOptions,
};
use crate::scenario::{parse, plan_to_yaml, RunPlan};
use crate::workload::Registry;

use super::candidates::{self, fault_count, Candidate};
use super::lowering;
use super::{Ending, Pass, ShrinkError, ShrinkObserver, ShrinkOptions, Step, Target};

/// Candidates run with at most this many times the original's events (or `EVENTS_FLOOR`):
/// a candidate that runs away is not the same failure, and it should not cost more than a
/// few originals. Only what `events_max` would stop is affected, so a candidate that stays
/// under it runs exactly as its YAML says.
const EVENTS_FACTOR: u64 = 8;
const EVENTS_FLOOR: u64 = 200_000;

/// Crash points are pinned from a recorded run only up to this many events (the records are
/// held in memory).
const PIN_EVENTS_MAX: u64 = 500_000;

/// Plans of at most this many entries that no single removal shrinks get every pair tried.
const PAIRS_UP_TO: usize = 8;

/// Random subsets are tried on plans of at least this many entries.
const SUBSETS_FROM: usize = 8;

/// Where the search is.
pub(super) struct Search<'a> {
    registry: &'a Arc<Registry>,
    options: &'a ShrinkOptions,
    observer: &'a mut dyn ShrinkObserver,
    target: Target,
    /// The smallest plan found so far (read back from its YAML) and its YAML.
    pub(super) plan: RunPlan,
    text: String,
    pub(super) report: SeedReport,
    /// Candidates counted in round order up to each round's chosen one.
    pub(super) candidates: u64,
    /// Candidates that ran, the wasted ones past a chosen one included.
    pub(super) candidates_run: u64,
    pub(super) steps: Vec<Step>,
    pub(super) ending: Option<Ending>,
    pub(super) threads_abandoned: usize,
    events_max: Option<u64>,
    deadline: WallInstant,
    /// Rounds of random subsets drawn so far (each draws from its own stream).
    subset_rounds: u64,
}

/// A candidate ready to run: its change, YAML and the plan read back from it.
struct Ready {
    change: String,
    text: String,
    plan: RunPlan,
}

impl<'a> Search<'a> {
    /// Starts from `plan`, whose run `report` failed as `target` says.
    pub(super) fn new(
        registry: &'a Arc<Registry>,
        options: &'a ShrinkOptions,
        observer: &'a mut dyn ShrinkObserver,
        target: Target,
        (plan, text, report): (RunPlan, String, SeedReport),
        started: WallInstant,
    ) -> Search<'a> {
        let events_max = (target.kind != FailureKind::Limit)
            .then(|| report.events.saturating_mul(EVENTS_FACTOR).max(EVENTS_FLOOR));
        Search {
            registry,
            options,
            observer,
            target,
            plan,
            text,
            report,
            candidates: 0,
            candidates_run: 0,
            steps: Vec::new(),
            ending: None,
            threads_abandoned: 0,
            events_max,
            deadline: started + options.max_time,
            subset_rounds: 0,
        }
    }

    /// Runs passes until one whole round of them changes nothing (1-minimal) or the budget
    /// ends.
    pub(super) fn run(&mut self) -> Result<(), ShrinkError> {
        loop {
            let before = self.steps.len();
            self.passes()?;
            if self.ending.is_some() {
                return Ok(());
            }
            if self.steps.len() == before {
                self.ending = Some(Ending::Minimal);
                return Ok(());
            }
        }
    }

    fn passes(&mut self) -> Result<(), ShrinkError> {
        self.repeat(Pass::Chaos, candidates::chaos)?;
        // Merged first, a crash and its restart are removed together.
        self.repeat(Pass::Merges, |plan, _| candidates::merges(plan))?;
        self.pin_crash_points()?;
        self.repeat(Pass::Families, |plan, _| candidates::family_removals(plan))?;
        self.random_subsets()?;
        self.delta_debugging()?;
        self.repeat(Pass::Nodes, |plan, _| candidates::node_removals(plan))?;
        let workload = self.registry.get(&self.plan.workload);
        let specs = workload.map(|w| w.parameters()).unwrap_or_default();
        for spec in &specs {
            self.repeat(Pass::Params, |plan, _| lowering::param(plan, spec))?;
        }
        let rounds = lowering::plan_rates(&self.plan).len();
        for k in 0..rounds {
            self.once(Pass::Rates, |plan| {
                lowering::plan_rates(plan).into_iter().nth(k).unwrap_or_default()
            })?;
        }
        let mut i = 0;
        while i < fault_count(&self.plan) {
            self.once(Pass::Entries, |plan| lowering::shorter(plan, i))?;
            self.once(Pass::Entries, |plan| lowering::milder(plan, i))?;
            self.once(Pass::Entries, |plan| lowering::earlier(plan, i))?;
            i += 1;
        }
        for k in 0..3 {
            self.once(Pass::Buggify, |plan| {
                lowering::buggify(plan).into_iter().nth(k).unwrap_or_default()
            })?;
        }
        Ok(())
    }

    /// Random disk crash points pinned where they struck (see `candidates`), from a recorded
    /// run of the current plan; skipped for runs too long to hold in memory.
    fn pin_crash_points(&mut self) -> Result<(), ShrinkError> {
        if self.ending.is_some() || self.report.events > PIN_EVENTS_MAX {
            return Ok(());
        }
        let random = |c: &crate::disk::DiskConfig| c.crash_probability_per_operation > 0.0;
        let rated = random(&self.plan.disk)
            || self.plan.faults.iter().any(|(_, a)| {
                matches!(a, crate::fault::ControlAction::SetDisk { config, .. } if random(config))
            });
        if !rated {
            return Ok(());
        }
        let recording = RunOptions { recording: true, ..RunOptions::default() };
        let (_, trace) = run_plan(&self.capped(&self.plan), self.registry, recording);
        let records = trace.map(|mut trace| trace.take_records()).unwrap_or_default();
        if let Some(candidate) = candidates::pinned_crash_points(&self.plan, &records) {
            self.round(Pass::Pins, vec![candidate])?;
        }
        Ok(())
    }

    /// Random subsets removed, round after round while one is accepted (only for plans big
    /// enough that delta debugging's single removals would be slow to get anywhere).
    fn random_subsets(&mut self) -> Result<(), ShrinkError> {
        while self.ending.is_none() && fault_count(&self.plan) >= SUBSETS_FROM {
            let round = candidates::random_subsets(&self.plan, self.subset_rounds);
            self.subset_rounds += 1;
            if self.round(Pass::Chunks, round)?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Delta debugging (Zeller's ddmin) over the fault entries: chunks alone, then chunks
    /// removed, at finer granularity until single entries; it ends with every single entry
    /// tried, so nothing left can be removed alone (and, in a plan of a few entries, no pair
    /// either).
    fn delta_debugging(&mut self) -> Result<(), ShrinkError> {
        let mut n = 2;
        loop {
            let len = fault_count(&self.plan);
            if len == 0 || self.ending.is_some() {
                return Ok(());
            }
            n = n.min(len);
            let (round, alone) = candidates::chunks(&self.plan, n);
            match self.round(Pass::Chunks, round)? {
                Some(index) if index < alone => n = 2,
                Some(_) => n = (n - 1).max(2),
                // No single entry can go; in a small plan, maybe two together can.
                None if n >= len && (2..=PAIRS_UP_TO).contains(&len) => {
                    if self.round(Pass::Chunks, candidates::pairs(&self.plan))?.is_none() {
                        return Ok(());
                    }
                    n = 2;
                }
                None if n >= len => return Ok(()),
                None => n = (2 * n).min(len),
            }
        }
    }

    /// One round of `make`'s candidates, made again and run while one is accepted.
    fn repeat(
        &mut self,
        pass: Pass,
        make: impl Fn(&RunPlan, Option<crate::time::Instant>) -> Vec<Candidate>,
    ) -> Result<(), ShrinkError> {
        while self.ending.is_none() {
            let failure_at = self.failure_at();
            if self.round(pass, make(&self.plan, failure_at))?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// One round of `make`'s candidates.
    fn once(
        &mut self,
        pass: Pass,
        make: impl Fn(&RunPlan) -> Vec<Candidate>,
    ) -> Result<(), ShrinkError> {
        if self.ending.is_none() {
            self.round(pass, make(&self.plan))?;
        }
        Ok(())
    }

    /// When the current failure happened, if during the chaos phase.
    fn failure_at(&self) -> Option<crate::time::Instant> {
        let at = self.report.failure.as_ref()?.vtime;
        (at < crate::time::Instant::ZERO + self.plan.phases.chaos).then_some(at)
    }

    /// Runs `round` in order and takes the first candidate that fails the same way; returns
    /// its position in the round.
    fn round(&mut self, pass: Pass, round: Vec<Candidate>) -> Result<Option<usize>, ShrinkError> {
        if self.ending.is_some() || round.is_empty() {
            return Ok(None);
        }
        let mut ready: Vec<Ready> = round.into_iter().filter_map(|c| self.ready(c)).collect();
        if ready.is_empty() {
            return Ok(None);
        }
        let left = self.options.max_candidates.saturating_sub(self.candidates);
        let cut_by_budget = (ready.len() as u64) > left;
        ready.truncate(usize::try_from(left).unwrap_or(usize::MAX));
        if ready.is_empty() {
            self.ending = Some(Ending::Candidates(self.options.max_candidates));
            return Ok(None);
        }
        let plans: Vec<RunPlan> = ready.iter().map(|r| self.capped(&r.plan)).collect();
        let mut outcome = self.evaluate(plans)?;
        self.threads_abandoned += outcome.threads_abandoned;
        self.candidates_run += outcome.ran;
        let chosen = outcome.reports.iter().position(|r| self.target.matches(r));
        match chosen {
            Some(index) => {
                self.candidates += index as u64 + 1;
                let Ready { change, text, plan } = ready.swap_remove(index);
                let report = outcome.reports.swap_remove(index);
                self.steps.push(Step { candidate: self.candidates, pass, change: change.clone() });
                self.observer.accepted(&change, fault_count(&plan), &report);
                self.plan = plan;
                self.text = text;
                self.report = report;
            }
            None => self.candidates += outcome.reports.len() as u64,
        }
        let released = outcome.reports.len() + usize::from(chosen.is_some());
        if let Some(stop) = outcome.stopped {
            self.ending = Some(Ending::Interrupted(stop.reason));
        } else if chosen.is_none() && released < ready.len() {
            self.ending = Some(Ending::Time(self.options.max_time));
        } else if chosen.is_none() && cut_by_budget {
            self.ending = Some(Ending::Candidates(self.options.max_candidates));
        }
        Ok(chosen)
    }

    /// The candidate as it will be written and read back, unless it is no change or the
    /// loader refuses it.
    fn ready(&self, candidate: Candidate) -> Option<Ready> {
        let text = plan_to_yaml(&candidate.plan);
        if text == self.text {
            return None;
        }
        let scenario = parse("candidate.yaml", text.as_bytes(), self.registry).ok()?;
        let plan = scenario.sample(self.plan.seed);
        Some(Ready { change: candidate.change, text, plan })
    }

    /// The plan a candidate runs: its own, with `events_max` capped.
    fn capped(&self, plan: &RunPlan) -> RunPlan {
        let mut plan = plan.clone();
        if let Some(cap) = self.events_max {
            plan.limits.events_max = plan.limits.events_max.min(cap);
        }
        plan
    }

    /// Runs `plans` in order on sweep threads until one fails the same way: the reports of
    /// every plan up to it, in order (fewer if the time budget or a stop ended it first).
    fn evaluate(&mut self, plans: Vec<RunPlan>) -> Result<Evaluated, ShrinkError> {
        evaluate(plans, self.registry, self.options, &self.target, self.deadline, self.observer)
    }
}

/// What running a round gave.
pub(super) struct Evaluated {
    /// Reports in round order, up to the first that matched (or as far as the round got).
    pub(super) reports: Vec<SeedReport>,
    /// How many candidates ran, counting any that were still running when the choice fell.
    pub(super) ran: u64,
    pub(super) stopped: Option<Stop>,
    pub(super) threads_abandoned: usize,
}

/// Runs `plans` (all of one seed) on `options.jobs` sweep threads, handing them out in order
/// and no more once one matches `target` or `deadline` passes.
pub(super) fn evaluate(
    plans: Vec<RunPlan>,
    registry: &Arc<Registry>,
    options: &ShrinkOptions,
    target: &Target,
    deadline: WallInstant,
    observer: &mut dyn ShrinkObserver,
) -> Result<Evaluated, ShrinkError> {
    let total = plans.len() as u64;
    let plans = Arc::new(plans);
    let planner_plans = plans.clone();
    // Ordinals index the round; the plan knows its own seed.
    let planner: Arc<Planner> =
        Arc::new(move |index| planner_plans[usize::try_from(index).unwrap_or(0)].clone());
    let done = Arc::new(AtomicBool::new(false));
    let handed_out = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (iter_done, iter_handed) = (done.clone(), handed_out.clone());
    let indices = (0..total).take_while(move |_| {
        #[allow(clippy::disallowed_methods)] // tidy: allow (the --max-time budget only)
        let late = WallInstant::now() >= deadline;
        let go = !iter_done.load(Ordering::Relaxed) && !late;
        if go {
            iter_handed.fetch_add(1, Ordering::Relaxed);
        }
        go
    });
    let sweep = SweepOptions {
        jobs: options.jobs.max(1),
        check_determinism: false,
        sample_determinism: false,
        hang_timeout: options.hang_timeout,
        run: crate::runner::RunOptions::default(),
    };
    struct Collect<'t> {
        target: &'t Target,
        done: Arc<AtomicBool>,
        reports: Vec<SeedReport>,
        observer: &'t mut dyn ShrinkObserver,
    }
    impl SweepObserver for Collect<'_> {
        fn released(&mut self, report: SeedReport) -> Vec<Rerun> {
            // Released in round order: everything before the first match is known.
            if !self.done.load(Ordering::Relaxed) {
                if self.target.matches(&report) {
                    self.done.store(true, Ordering::Relaxed);
                }
                self.reports.push(report);
            }
            Vec::new()
        }
        fn stop_requested(&mut self) -> Option<Stop> {
            self.observer.stop_requested()
        }
    }
    let mut collect = Collect { target, done, reports: Vec::new(), observer };
    let end = run_sweep(planner, Box::new(indices), registry.clone(), sweep, &mut collect)
        .map_err(|error| ShrinkError::Threads(error.to_string()))?;
    let mut reports = collect.reports;
    // After a stop, what finished past an unfinished candidate is released too, out of its
    // place: nothing of a stopped round is kept.
    if end.stopped.is_some() {
        reports.clear();
    }
    Ok(Evaluated {
        reports,
        ran: handed_out.load(Ordering::Relaxed),
        stopped: end.stopped,
        threads_abandoned: end.threads_abandoned,
    })
}
