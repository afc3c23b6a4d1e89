//! The worker side of a sweep: the queue of jobs (seeds drawn lazily within the window, and
//! re-runs), the per-thread slot the watchdog reads, and running one job on a worker thread:
//! a seed under its watch, or a re-run with its trace streamed to a file.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::sweep::{Planner, Rerun, RerunOutcome, SweepOptions};
use super::{run_plan_controlled, run_watched, Failure, FailureKind, RunControl, RunEnd};
use super::{RunOptions, SeedReport};
use crate::scenario::RunPlan;
use crate::trace::{Header, TraceStream, Watch};
use crate::workload::Registry;

/// A job for a worker.
pub(super) enum Job {
    Seed { ordinal: u64, seed: u64 },
    Rerun { id: u64, rerun: Rerun },
}

/// What a running job is, as the watchdog sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JobKey {
    Seed { ordinal: u64, seed: u64 },
    Rerun { id: u64 },
}

/// What workers send back.
pub(super) enum Done {
    Seed { slot: usize, ordinal: u64, report: Option<SeedReport> },
    Rerun { slot: usize, id: u64, outcome: RerunOutcome },
}

/// The jobs not yet handed out.
pub(super) struct Queue {
    pub(super) seeds: Box<dyn Iterator<Item = u64> + Send>,
    pub(super) exhausted: bool,
    pub(super) next_ordinal: u64,
    /// Seeds with an ordinal below this may be handed out.
    pub(super) window_end: u64,
    pub(super) reruns: VecDeque<(u64, Rerun)>,
    /// Nothing more will be queued: idle workers exit.
    pub(super) closing: bool,
    /// Nothing more is handed out.
    pub(super) stopping: bool,
}

pub(super) struct Shared {
    pub(super) queue: Mutex<Queue>,
    pub(super) wake: Condvar,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Queue> {
        // A worker never panics while holding the lock (runs are outside it), so a poisoned
        // lock still holds a consistent queue.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next job for `slot`, waiting for one; `None` when the worker should exit.
    pub(super) fn take(&self, slot: &Slot) -> Option<Job> {
        let mut queue = self.lock();
        loop {
            if queue.stopping || slot.abandoned.load(Ordering::Relaxed) {
                return None;
            }
            if let Some((id, rerun)) = queue.reruns.pop_front() {
                return Some(Job::Rerun { id, rerun });
            }
            if !queue.exhausted && queue.next_ordinal < queue.window_end {
                match queue.seeds.next() {
                    Some(seed) => {
                        let ordinal = queue.next_ordinal;
                        queue.next_ordinal += 1;
                        return Some(Job::Seed { ordinal, seed });
                    }
                    None => queue.exhausted = true,
                }
                continue;
            }
            if queue.closing {
                return None;
            }
            queue = self.wake.wait(queue).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// One worker thread's state shared with the watchdog.
pub(super) struct Slot {
    pub(super) id: usize,
    pub(super) abandoned: AtomicBool,
    pub(super) running: Mutex<Option<(JobKey, Watch)>>,
    /// The worker's thread id, to lower its priority if it is left behind (0: unknown).
    pub(super) thread: AtomicI64,
}

impl Slot {
    pub(super) fn running(&self) -> Option<(JobKey, Watch)> {
        self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub(super) fn set_running(&self, job: Option<(JobKey, Watch)>) {
        *self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = job;
    }
}

/// What every worker needs.
pub(super) struct Work {
    pub(super) planner: Arc<Planner>,
    pub(super) registry: Arc<Registry>,
    pub(super) options: SweepOptions,
}

/// The calling thread's kernel id, where there is one.
pub(super) fn thread_id() -> i64 {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions.
    return i64::from(unsafe { libc::gettid() });
    #[cfg(not(target_os = "linux"))]
    0
}

/// A thread left behind in a hung handler keeps spinning, and nothing can stop it; it is
/// moved to the idle scheduling class, so it only runs when nothing else wants the CPU and
/// any number of them cost the rest of the sweep (nearly) nothing.
pub(super) fn lower_priority(slot: &Slot) {
    #[cfg(target_os = "linux")]
    {
        let thread = slot.thread.load(Ordering::Relaxed);
        if let Ok(thread) = libc::pid_t::try_from(thread) {
            if thread > 0 {
                let param = libc::sched_param { sched_priority: 0 };
                // SAFETY: a thread of this process, a valid parameter; failure is harmless.
                unsafe { libc::sched_setscheduler(thread, libc::SCHED_IDLE, &param) };
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = slot;
}

pub(super) fn hang_report(seed: u64, events: u64, timeout: Duration) -> SeedReport {
    let failure = Failure {
        kind: FailureKind::Hang,
        check: "hang".to_string(),
        message: format!(
            "no progress for {timeout:?} of wall-clock time after {events} event(s) (a process \
             stuck in a handler?)"
        ),
        vtime: crate::time::Instant::ZERO,
    };
    SeedReport { events, ..SeedReport::empty(seed, failure) }
}

/// A worker thread: takes jobs until told to exit.
pub(super) fn worker(slot: &Slot, shared: &Shared, work: &Work, sender: &Sender<Done>) {
    slot.thread.store(thread_id(), Ordering::Relaxed);
    while let Some(job) = shared.take(slot) {
        let watch = Watch::new();
        let done = match job {
            Job::Seed { ordinal, seed } => {
                slot.set_running(Some((JobKey::Seed { ordinal, seed }, watch.clone())));
                let report = run_seed(work, seed, &watch);
                Done::Seed { slot: slot.id, ordinal, report }
            }
            Job::Rerun { id, rerun } => {
                slot.set_running(Some((JobKey::Rerun { id }, watch.clone())));
                let outcome = record(work, &rerun, &watch);
                Done::Rerun { slot: slot.id, id, outcome }
            }
        };
        slot.set_running(None);
        if slot.abandoned.load(Ordering::Relaxed) || sender.send(done).is_err() {
            return;
        }
    }
}

/// The plan of `seed`; sampling a validated scenario does not panic, but if it did the seed
/// fails with the message rather than taking the worker down.
pub(super) fn plan(work: &Work, seed: u64) -> Result<RunPlan, Failure> {
    catch_unwind(AssertUnwindSafe(|| (work.planner)(seed))).map_err(|panic| Failure {
        kind: FailureKind::Setup,
        check: "setup".to_string(),
        message: format!(
            "sampling the scenario panicked: {}",
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        ),
        vtime: crate::time::Instant::ZERO,
    })
}

pub(super) fn run_seed(work: &Work, seed: u64, watch: &Watch) -> Option<SeedReport> {
    match plan(work, seed) {
        Ok(plan) => {
            let options = work.options;
            let check = options.check_determinism
                || (options.sample_determinism && super::sampled_for_determinism(plan.seed));
            run_watched(&plan, &work.registry, options.run, check, watch)
        }
        Err(failure) => Some(SeedReport::empty(seed, failure)),
    }
}

/// A re-run with the trace streamed to a new file.
pub(super) fn record(work: &Work, rerun: &Rerun, watch: &Watch) -> RerunOutcome {
    let plan = match plan(work, rerun.seed) {
        Ok(plan) => plan,
        Err(failure) => return RerunOutcome::Failed(failure.message),
    };
    let file = match std::fs::File::create_new(&rerun.path) {
        Ok(file) => file,
        Err(error) => return RerunOutcome::Failed(format!("{}: {error}", rerun.path.display())),
    };
    let out = Box::new(std::io::BufWriter::new(file));
    let stream = match TraceStream::new(out, &Header::of_plan(&plan), rerun.bytes_max) {
        Ok(stream) => stream,
        Err(error) => return RerunOutcome::Failed(format!("{}: {error}", rerun.path.display())),
    };
    let control = RunControl { watch: Some(watch.clone()), stream: Some(stream) };
    let options = RunOptions { recording: true, ..work.options.run };
    match run_plan_controlled(&plan, &work.registry, options, control) {
        RunEnd::Finished { report, stream: Some(Ok(end)), .. } => {
            RerunOutcome::Recorded { report, end }
        }
        RunEnd::Finished { stream: Some(Err(error)), .. } => {
            RerunOutcome::Failed(format!("{}: {error}", rerun.path.display()))
        }
        RunEnd::Finished { stream: None, .. } => {
            RerunOutcome::Failed("the run kept no trace".to_string())
        }
        RunEnd::Stopped { .. } => RerunOutcome::NotRun,
    }
}
