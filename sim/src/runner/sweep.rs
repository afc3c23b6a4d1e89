//! Sweeps: many seeds on worker threads, each result handed to an observer as soon as it is
//! known, on the caller's thread.
//!
//! - **Streaming, flat memory.** Seeds are drawn lazily from an iterator; at most `WINDOW`
//!   seeds are handed out past the oldest unfinished one; a finished seed is given to the
//!   observer twice (at once, in completion order; then in seed order, once every earlier
//!   seed is known) and then forgotten. Nothing here grows with the number of seeds.
//! - **A hang never blocks the sweep.** A watchdog on the caller's thread reads every running
//!   seed's progress (events processed, steps between phases: see `trace::Watch`). A seed
//!   whose progress has not moved for `hang_timeout` is reported as hung; its thread, stuck in
//!   a handler, is left behind and a fresh one takes its place. However many seeds hang, every
//!   seed of the sweep runs or is reported. A seed that is slow but moving is never a hang.
//! - **Re-runs with recording** (capsules, `--trace`) are jobs like seeds: same threads, same
//!   watchdog, same panic silencing, and the trace streams to its file.
//! - **Stopping.** When the observer asks for a stop (Ctrl-C), no new job starts; running
//!   seeds get `FINISH_GRACE` to finish, are then asked to stop (they unwind at their next
//!   event), and any still running after `STOP_GRACE` more are abandoned. Every seed that
//!   finished has been given to the observer.
//!
//! The wall clock is read only here, for the watchdog and the grace periods; it never feeds
//! back into a run.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant as WallInstant};

use super::worker::{hang_report, lower_priority, worker, Done, JobKey, Queue, Shared, Slot, Work};

use super::RunOptions;
use super::SeedReport;
use crate::scenario::RunPlan;
use crate::trace::{StreamEnd, Watch};
use crate::workload::Registry;

/// Options of a sweep.
#[derive(Debug, Clone, Copy)]
pub struct SweepOptions {
    /// Worker threads (at least one is used).
    pub jobs: usize,
    /// Run every seed twice and compare.
    pub check_determinism: bool,
    /// Run the sampled seeds (`sampled_for_determinism`) twice and compare. On for sweeps;
    /// off where the "seeds" are one seed's candidates (shrinking) or a re-run.
    pub sample_determinism: bool,
    /// Wall-clock time without progress after which a running seed is reported as hung.
    pub hang_timeout: Duration,
    pub run: RunOptions,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            jobs: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            check_determinism: false,
            sample_determinism: true,
            hang_timeout: Duration::from_secs(60),
            run: RunOptions::default(),
        }
    }
}

/// The name prefix of a sweep's worker threads: a panic on one of them is a seed's failure,
/// already captured in its report (see `cli::main`'s panic hook).
pub const SEED_THREAD_PREFIX: &str = "orrery-seed-";

/// Makes the plan for a seed.
pub type Planner = dyn Fn(u64) -> RunPlan + Send + Sync;

/// At most this many seeds are handed out past the oldest one not yet finished: what bounds
/// the results waiting for an earlier seed (a hung one, until the watchdog reports it).
pub const WINDOW: u64 = 16_384;
/// How often the watchdog looks, and how often a stop request is noticed.
const TICK: Duration = Duration::from_millis(50);
/// After a stop request, how long running seeds may still finish.
pub const FINISH_GRACE: Duration = Duration::from_secs(1);
/// Then, how long seeds asked to stop may take to unwind before they are abandoned.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Why a sweep was asked to stop early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// What asked: `SIGINT`, `SIGTERM`.
    pub reason: String,
    /// The signal's number, when a signal asked.
    pub signal: i32,
}

/// A seed to run again with its trace recorded to `path` (a new file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rerun {
    pub seed: u64,
    pub path: PathBuf,
    /// The trace stops growing past this many bytes (see `trace::stream`).
    pub bytes_max: Option<u64>,
}

/// How a re-run ended.
#[derive(Debug)]
// One per rerun, moved once: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum RerunOutcome {
    /// It ran to its end; the trace is complete (or cut at its size limit, as `end` says).
    Recorded { report: SeedReport, end: StreamEnd },
    /// The file could not be created or written.
    Failed(String),
    /// It made no progress for the hang timeout after this many events; its file holds what
    /// was recorded until then.
    Hung { events: u64 },
    /// The sweep stopped before it ran or finished.
    NotRun,
}

/// What a sweep tells its caller, on the caller's thread.
pub trait SweepObserver {
    /// A seed finished (in completion order). Called exactly once per recorded seed.
    fn finished(&mut self, _report: &SeedReport) {}
    /// The next seed in seed order (only once every earlier seed is released; after a stop,
    /// the finished ones past a gap follow in order). Returns the re-runs it wants.
    fn released(&mut self, _report: SeedReport) -> Vec<Rerun> {
        Vec::new()
    }
    /// A re-run asked for by `released` ended.
    fn rerun_ended(&mut self, _rerun: &Rerun, _outcome: RerunOutcome) {}
    /// Polled every few milliseconds: `Some` stops the sweep.
    fn stop_requested(&mut self) -> Option<Stop> {
        None
    }
}

/// How a sweep ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepEnd {
    /// Seeds given to the observer.
    pub seeds_run: u64,
    /// Set if the sweep was stopped before every seed ran.
    pub stopped: Option<Stop>,
    /// Threads left behind, stuck in a hung seed.
    pub threads_abandoned: usize,
}

/// Why a sweep could not run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    #[error("could not start worker threads: {0}")]
    Threads(String),
}

/// Runs `seeds` (in that order) on `options.jobs` threads, telling `observer` as they finish.
pub fn run_sweep(
    planner: Arc<Planner>,
    seeds: Box<dyn Iterator<Item = u64> + Send>,
    registry: Arc<Registry>,
    options: SweepOptions,
    observer: &mut dyn SweepObserver,
) -> Result<SweepEnd, SweepError> {
    Sweep::start(planner, seeds, registry, options)?.run(observer, Vec::new())
}

/// Runs each of `reruns` with its trace recorded to its file, on sweep threads under the
/// same watchdog; the outcomes come back in the order given.
pub fn record_seeds(
    planner: Arc<Planner>,
    registry: Arc<Registry>,
    options: SweepOptions,
    reruns: Vec<Rerun>,
) -> Result<Vec<(Rerun, RerunOutcome)>, SweepError> {
    struct Collect(Vec<(Rerun, RerunOutcome)>);
    impl SweepObserver for Collect {
        fn rerun_ended(&mut self, rerun: &Rerun, outcome: RerunOutcome) {
            self.0.push((rerun.clone(), outcome));
        }
    }
    let order = reruns.clone();
    let mut collect = Collect(Vec::new());
    Sweep::start(planner, Box::new(std::iter::empty()), registry, options)?
        .run(&mut collect, reruns)?;
    let mut outcomes = collect.0;
    outcomes.sort_by_key(|(rerun, _)| order.iter().position(|r| r == rerun));
    Ok(outcomes)
}

/// Runs `seeds` in parallel and returns every report in seed order: `run_sweep` for callers
/// that want the reports themselves (and so hold all of them). `progress` gets each report as
/// it finishes, with the count so far and the total.
///
/// # Panics
/// If no worker thread can be started.
pub fn sweep(
    planner: Arc<Planner>,
    seeds: &[u64],
    registry: Arc<Registry>,
    options: SweepOptions,
    progress: impl FnMut(&SeedReport, usize, usize),
) -> Vec<SeedReport> {
    struct Collect<F> {
        reports: Vec<SeedReport>,
        done: usize,
        total: usize,
        progress: F,
    }
    impl<F: FnMut(&SeedReport, usize, usize)> SweepObserver for Collect<F> {
        fn finished(&mut self, report: &SeedReport) {
            self.done += 1;
            (self.progress)(report, self.done, self.total);
        }
        fn released(&mut self, report: SeedReport) -> Vec<Rerun> {
            self.reports.push(report);
            Vec::new()
        }
    }
    let mut collect = Collect { reports: Vec::new(), done: 0, total: seeds.len(), progress };
    let seeds: Vec<u64> = seeds.to_vec();
    let seeds = Box::new(seeds.into_iter());
    if let Err(error) = run_sweep(planner, seeds, registry, options, &mut collect) {
        panic!("orrery: {error}");
    }
    collect.reports
}

/// The watchdog's memory of a slot.
struct Watched {
    slot: Arc<Slot>,
    handle: Option<std::thread::JoinHandle<()>>,
    /// The job last seen running, its progress, and when that progress last moved.
    seen: Option<(JobKey, (u64, u64), WallInstant)>,
}

struct Sweep {
    shared: Arc<Shared>,
    work: Arc<Work>,
    sender: Sender<Done>,
    receiver: std::sync::mpsc::Receiver<Done>,
    slots: Vec<Watched>,
}

impl Sweep {
    fn start(
        planner: Arc<Planner>,
        seeds: Box<dyn Iterator<Item = u64> + Send>,
        registry: Arc<Registry>,
        options: SweepOptions,
    ) -> Result<Sweep, SweepError> {
        let queue = Queue {
            seeds,
            exhausted: false,
            next_ordinal: 0,
            window_end: WINDOW,
            reruns: VecDeque::new(),
            closing: false,
            stopping: false,
        };
        let (sender, receiver) = channel();
        let mut sweep = Sweep {
            shared: Arc::new(Shared { queue: Mutex::new(queue), wake: Condvar::new() }),
            work: Arc::new(Work { planner, registry, options }),
            sender,
            receiver,
            slots: Vec::new(),
        };
        for _ in 0..options.jobs.max(1) {
            if let Err(error) = sweep.spawn_worker() {
                sweep.shared.lock().stopping = true;
                sweep.shared.wake.notify_all();
                for watched in &mut sweep.slots {
                    if let Some(handle) = watched.handle.take() {
                        let _ = handle.join();
                    }
                }
                return Err(SweepError::Threads(format!(
                    "thread {} of {}: {error}",
                    sweep.slots.len() + 1,
                    options.jobs.max(1)
                )));
            }
        }
        Ok(sweep)
    }

    fn spawn_worker(&mut self) -> std::io::Result<()> {
        let id = self.slots.len();
        let slot = Arc::new(Slot {
            id,
            abandoned: AtomicBool::new(false),
            running: Mutex::new(None),
            thread: AtomicI64::new(0),
        });
        let (shared, work, sender, worker_slot) =
            (self.shared.clone(), self.work.clone(), self.sender.clone(), slot.clone());
        let handle = std::thread::Builder::new()
            .name(format!("{SEED_THREAD_PREFIX}{id}"))
            .spawn(move || worker(&worker_slot, &shared, &work, &sender))?;
        self.slots.push(Watched { slot, handle: Some(handle), seen: None });
        Ok(())
    }

    fn live_workers(&self) -> usize {
        self.slots.iter().filter(|w| !w.slot.abandoned.load(Ordering::Relaxed)).count()
    }

    fn run(
        mut self,
        observer: &mut dyn SweepObserver,
        initial: Vec<Rerun>,
    ) -> Result<SweepEnd, SweepError> {
        // Finished seeds waiting for an earlier one, by ordinal - released.
        let mut waiting: VecDeque<Option<SeedReport>> = VecDeque::new();
        let mut released: u64 = 0;
        let mut reruns: BTreeMap<u64, Rerun> = BTreeMap::new();
        let mut next_rerun = 0u64;
        for rerun in initial {
            reruns.insert(next_rerun, rerun.clone());
            self.shared.lock().reruns.push_back((next_rerun, rerun));
            next_rerun += 1;
        }
        self.shared.wake.notify_all();
        let mut seeds_run = 0u64;
        let mut stop: Option<(Stop, WallInstant)> = None;
        let mut asked_to_stop = false;
        let hang_timeout = self.work.options.hang_timeout;
        loop {
            #[allow(clippy::disallowed_methods)] // tidy: allow (watchdog only; never feeds a run)
            let now = WallInstant::now();
            if stop.is_none() {
                if let Some(request) = observer.stop_requested() {
                    self.shared.lock().stopping = true;
                    self.shared.wake.notify_all();
                    stop = Some((request, now));
                }
            }
            match self.receiver.recv_timeout(TICK) {
                Ok(Done::Seed { slot, ordinal, report }) => {
                    if !self.slots[slot].slot.abandoned.load(Ordering::Relaxed) {
                        if let Some(report) = report {
                            observer.finished(&report);
                            seeds_run += 1;
                            place(&mut waiting, ordinal - released, report);
                        }
                    }
                }
                Ok(Done::Rerun { slot, id, outcome }) => {
                    if !self.slots[slot].slot.abandoned.load(Ordering::Relaxed) {
                        if let Some(rerun) = reruns.remove(&id) {
                            observer.rerun_ended(&rerun, outcome);
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The sweep holds a sender itself, so this cannot happen; end rather than spin.
                Err(RecvTimeoutError::Disconnected) => break,
            }

            // The watchdog: a running job whose progress has not moved is hung.
            #[allow(clippy::disallowed_methods)] // tidy: allow (watchdog only; never feeds a run)
            let now = WallInstant::now();
            let mut hung = Vec::new();
            for watched in &mut self.slots {
                if watched.slot.abandoned.load(Ordering::Relaxed) {
                    continue;
                }
                let Some((job, watch)) = watched.slot.running() else {
                    watched.seen = None;
                    continue;
                };
                let progress = (watch.events(), watch.beats());
                match &mut watched.seen {
                    Some((seen_job, seen, since)) if *seen_job == job => {
                        if *seen != progress {
                            *seen = progress;
                            *since = now;
                        } else if now.duration_since(*since) > hang_timeout {
                            hung.push((watched.slot.id, job, watch.clone()));
                        }
                    }
                    _ => watched.seen = Some((job, progress, now)),
                }
            }
            for (slot, job, watch) in hung {
                self.slots[slot].slot.abandoned.store(true, Ordering::Relaxed);
                lower_priority(&self.slots[slot].slot);
                // Should the handler ever return, the seed stops at its next event.
                watch.request_stop();
                match job {
                    JobKey::Seed { ordinal, seed } => {
                        let report = hang_report(seed, watch.events(), hang_timeout);
                        observer.finished(&report);
                        seeds_run += 1;
                        place(&mut waiting, ordinal - released, report);
                    }
                    JobKey::Rerun { id } => {
                        if let Some(rerun) = reruns.remove(&id) {
                            observer
                                .rerun_ended(&rerun, RerunOutcome::Hung { events: watch.events() });
                        }
                    }
                }
                if stop.is_none() {
                    if let Err(error) = self.spawn_worker() {
                        if self.live_workers() == 0 {
                            return Err(SweepError::Threads(format!(
                                "every worker hung and no new thread could start: {error}"
                            )));
                        }
                    }
                }
            }

            // Release in seed order what is complete, and queue the re-runs asked for.
            let released_before = released;
            while matches!(waiting.front(), Some(Some(_))) {
                let Some(Some(report)) = waiting.pop_front() else { break };
                released += 1;
                for rerun in observer.released(report) {
                    if stop.is_some() {
                        observer.rerun_ended(&rerun, RerunOutcome::NotRun);
                    } else {
                        let id = next_rerun;
                        next_rerun += 1;
                        reruns.insert(id, rerun.clone());
                        self.shared.lock().reruns.push_back((id, rerun));
                    }
                }
            }
            let all_seeds_released = {
                let mut queue = self.shared.lock();
                queue.window_end = released.saturating_add(WINDOW);
                queue.exhausted && released == queue.next_ordinal
            };
            if released != released_before || !reruns.is_empty() {
                self.shared.wake.notify_all();
            }

            match &stop {
                None if all_seeds_released && reruns.is_empty() => break,
                None => {}
                Some((_, since)) => {
                    let waited = now.duration_since(*since);
                    let busy: Vec<Watch> = self
                        .slots
                        .iter()
                        .filter(|w| !w.slot.abandoned.load(Ordering::Relaxed))
                        .filter_map(|w| w.slot.running().map(|(_, watch)| watch))
                        .collect();
                    if busy.is_empty() || waited > FINISH_GRACE + STOP_GRACE {
                        break;
                    }
                    if waited > FINISH_GRACE && !asked_to_stop {
                        asked_to_stop = true;
                        for watch in busy {
                            watch.request_stop();
                        }
                    }
                }
            }
        }

        // After a stop: what finished (its result may still be on its way) is given to the
        // observer, and released in seed order past the gaps; nothing else runs.
        if stop.is_some() {
            while let Ok(done) = self.receiver.try_recv() {
                match done {
                    Done::Seed { slot, ordinal, report: Some(report) }
                        if !self.slots[slot].slot.abandoned.load(Ordering::Relaxed) =>
                    {
                        observer.finished(&report);
                        seeds_run += 1;
                        place(&mut waiting, ordinal - released, report);
                    }
                    Done::Rerun { slot, id, outcome }
                        if !self.slots[slot].slot.abandoned.load(Ordering::Relaxed) =>
                    {
                        if let Some(rerun) = reruns.remove(&id) {
                            observer.rerun_ended(&rerun, outcome);
                        }
                    }
                    _ => {}
                }
            }
            for report in std::mem::take(&mut waiting).into_iter().flatten() {
                for rerun in observer.released(report) {
                    observer.rerun_ended(&rerun, RerunOutcome::NotRun);
                }
            }
            for (_, rerun) in std::mem::take(&mut reruns) {
                observer.rerun_ended(&rerun, RerunOutcome::NotRun);
            }
        }
        {
            let mut queue = self.shared.lock();
            queue.closing = true;
            queue.stopping |= stop.is_some();
        }
        self.shared.wake.notify_all();
        let mut threads_abandoned = 0;
        for watched in &mut self.slots {
            let running = watched.slot.running().is_some();
            if watched.slot.abandoned.load(Ordering::Relaxed) || running {
                // Stuck in a handler: it is left behind rather than waited for.
                watched.slot.abandoned.store(true, Ordering::Relaxed);
                lower_priority(&watched.slot);
                if let Some((_, watch)) = watched.slot.running() {
                    watch.request_stop();
                }
                threads_abandoned += 1;
            } else if let Some(handle) = watched.handle.take() {
                let _ = handle.join();
            }
        }
        Ok(SweepEnd { seeds_run, stopped: stop.map(|(stop, _)| stop), threads_abandoned })
    }
}

/// Puts `report` at `index` of the waiting line, growing it as needed.
fn place(waiting: &mut VecDeque<Option<SeedReport>>, index: u64, report: SeedReport) {
    let index = index as usize;
    if waiting.len() <= index {
        waiting.resize(index + 1, None);
    }
    waiting[index] = Some(report);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a report that finishes before an earlier seed waits in its place, behind a gap.
    #[test]
    fn place_fills_the_waiting_line_in_order() {
        let mut waiting = VecDeque::new();
        let report = |seed| SeedReport::empty(seed, hang_report(seed, 0, TICK).failure.expect("f"));
        place(&mut waiting, 2, report(12));
        place(&mut waiting, 0, report(10));
        assert_eq!(waiting.len(), 3);
        assert!(waiting[1].is_none());
        assert_eq!(waiting.iter().flatten().map(|r| r.seed).collect::<Vec<_>>(), [10, 12]);
    }
}
