//! The library helper for a user's own `#[test]` (`TestRun`), and the runner's promise that a
//! panicking or hanging process is a reported failure of its seed while the sweep goes on.

use std::panic::{catch_unwind, AssertUnwindSafe};

use orrery_sim::workload::{Registry, WorkloadDef};
use orrery_sim::{ms, Context, NodeApi, NodeId, Params, Process, TestRun, TimerId};

/// Ticks every millisecond; at a tick drawn from its own stream it panics (one node in three)
/// or, with `hang`, spins forever inside the handler. With `slow_us`, every tick takes that
/// many microseconds of wall-clock time: slow, but making progress.
struct Fragile {
    ticks: u64,
    fatal_tick: Option<u64>,
    hang: bool,
    slow_us: u64,
}

impl Process<()> for Fragile {
    fn on_start(&mut self, ctx: &mut Context<()>) {
        let draw = ctx.rng().next_u64();
        self.fatal_tick = draw.is_multiple_of(3).then_some(draw % 50);
        ctx.set_timer(ms(1), 0);
    }

    fn on_message(&mut self, _ctx: &mut Context<()>, _from: NodeId, _message: ()) {}

    fn on_timer(&mut self, ctx: &mut Context<()>, _timer: TimerId, _tag: u64) {
        self.ticks += 1;
        if self.slow_us > 0 {
            std::thread::sleep(std::time::Duration::from_micros(self.slow_us));
        }
        ctx.sometimes(self.ticks == 30, "a node ticked 30 times");
        ctx.sometimes(self.ticks > 1_000, "a node ticked past 1,000");
        if self.fatal_tick == Some(self.ticks) {
            if self.hang {
                #[allow(clippy::empty_loop)]
                loop {
                    std::hint::spin_loop();
                }
            }
            let thread = std::thread::current().name().unwrap_or("").to_string();
            panic!("planted panic in {} at tick {} on thread {thread}", ctx.id(), self.ticks);
        }
        ctx.set_timer(ms(1), 0);
    }
}

#[derive(Debug, Clone, Params)]
struct FragileParams {
    /// Spin forever instead of panicking.
    hang: bool,
    /// Wall-clock microseconds every tick takes.
    slow_us: u64,
}

fn fragile_workload() -> WorkloadDef<(), FragileParams> {
    WorkloadDef::<(), FragileParams>::new(
        "fragile",
        "processes that panic or hang at a seeded tick",
    )
    .role("*", |init| Fragile {
        ticks: 0,
        fatal_tick: None,
        hang: init.params.hang,
        slow_us: init.params.slow_us,
    })
    .sometimes("both nodes ticked", |run| {
        run.world.processes_of::<Fragile>().all(|(_, fragile)| fragile.ticks > 0)
    })
}

fn registry() -> Registry {
    let mut registry = orrery_workloads::registry();
    registry.register(fragile_workload());
    registry
}

const FRAGILE: &str = "
name: fragile
topology: {count: 2}
workload: {name: fragile}
phases: {chaos: 100ms}
seeds: 0..40
";

/// The message an assertion helper panicked with.
fn assertion_message(run: impl FnOnce()) -> String {
    let panic = catch_unwind(AssertUnwindSafe(run)).expect_err("the assertion must fail");
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// Proves a scenario file sweeps from a test in one expression and a passing sweep returns
// every seed's report in seed order.
#[test]
fn a_smoke_scenario_passes_from_a_test() {
    let outcome =
        TestRun::file("scenarios/smoke/echo.yaml", registry()).seeds(0..30).assert_expected();
    let seeds: Vec<u64> = outcome.reports.iter().map(|r| r.seed).collect();
    assert_eq!(seeds, (0..30).collect::<Vec<_>>());
    assert_eq!(outcome.summary.passed, 30);
}

// Proves a panicking process fails only its own seed, with the panic message and its seed,
// the other seeds run on and pass, and the assertion names seed, check and replay command.
#[test]
fn a_panicking_process_is_a_reported_failure_and_the_sweep_goes_on() {
    let outcome = TestRun::yaml("fragile.yaml", FRAGILE, registry()).jobs(2).run();
    assert_eq!(outcome.reports.len(), 40, "every seed reports");
    let panicked: Vec<u64> = outcome.failures().map(|r| r.seed).collect();
    assert!(!panicked.is_empty() && panicked.len() < 40, "some seeds panic, not all: {panicked:?}");
    for report in outcome.failures() {
        let failure = report.failure.as_ref().expect("failing seed");
        assert_eq!(failure.kind.name(), "panic");
        assert!(failure.message.starts_with("planted panic in n"), "{}", failure.message);
        // The CLI's panic hook keeps quiet on these threads: the report has the message.
        let thread = format!("on thread {}", orrery_sim::runner::SEED_THREAD_PREFIX);
        assert!(failure.message.contains(&thread), "{}", failure.message);
        assert!(failure.vtime > orrery_sim::Instant::ZERO, "the panic time is reported");
    }
    // The same seeds panic on a second sweep with one thread: the failure is deterministic.
    let again = TestRun::yaml("fragile.yaml", FRAGILE, registry()).jobs(1).run();
    assert_eq!(again.failures().map(|r| r.seed).collect::<Vec<_>>(), panicked);

    let out = out_dir("panics");
    let message = assertion_message(|| {
        TestRun::yaml("fragile.yaml", FRAGILE, registry()).out(&out).assert_passes();
    });
    let first = panicked[0];
    assert!(
        message
            .contains(&format!("ORRERY FAIL scenario=fragile seed={first} check=panic kind=panic")),
        "{message}"
    );
    // The hint reruns this very test with the seed, the way cargo runs it.
    assert!(
        message.contains(&format!(
            "replay: ORRERY_SEED={first} cargo test -p orrery {} -- --exact",
            "a_panicking_process_is_a_reported_failure_and_the_sweep_goes_on"
        )),
        "{message}"
    );
    // The inline scenario is written into the capsule of each failure, with its trace.
    let capsule = message
        .lines()
        .find_map(|line| line.strip_prefix("capsule: "))
        .expect("a capsule is listed");
    let capsule = std::path::Path::new(capsule);
    let copied = std::fs::read_to_string(capsule.join("scenario.yaml")).expect("scenario copy");
    assert_eq!(copied, FRAGILE);
    assert!(capsule.join("trace.txt").is_file() && capsule.join("plan.yaml").is_file());
    let _ = std::fs::remove_dir_all(&out);
    assert!(message.contains(&format!("{} of 40 seed(s) failed", panicked.len())), "{message}");
}

// Proves a process stuck in a handler is reported as a hang of its seed after the watchdog's
// timeout, and the seeds after it still run.
#[test]
fn a_hanging_process_is_reported_and_the_sweep_finishes() {
    let yaml = FRAGILE
        .replace("workload: {name: fragile}", "workload: {name: fragile, params: {hang: true}}")
        .replace("seeds: 0..40", "seeds: 0..6");
    let outcome = TestRun::yaml("hang.yaml", &yaml, registry())
        .jobs(1)
        .hang_timeout(std::time::Duration::from_millis(500))
        .run();
    assert_eq!(outcome.reports.len(), 6);
    let hung: Vec<u64> = outcome.failures().map(|r| r.seed).collect();
    assert!(!hung.is_empty() && hung.len() < 6, "{hung:?}");
    assert!(outcome
        .failures()
        .all(|r| r.failure.as_ref().is_some_and(|f| f.kind.name() == "hang")));
}

/// The fragile scenario with `params` and `seeds`.
fn fragile(params: &str, seeds: &str) -> String {
    FRAGILE
        .replace(
            "workload: {name: fragile}",
            &format!("workload: {{name: fragile, params: {{{params}}}}}"),
        )
        .replace("seeds: 0..40", &format!("seeds: {seeds}"))
}

/// A directory of its own for one test's capsules.
fn out_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("orrery-test-run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

// Proves that with many more hung seeds than threads (once, past jobs + 4 every thread was
// stuck and the sweep never ended), every seed is still run or reported, and that the capsule
// of a hung seed, whose re-run hangs again, is written under the same watchdog instead of
// hanging the process.
#[test]
fn any_number_of_hangs_still_reports_every_seed_and_capsules_end() {
    let yaml = fragile("hang: true", "0..30");
    let timeout = std::time::Duration::from_millis(300);
    #[allow(clippy::disallowed_methods)] // the test's own timeout, outside any run
    let started = std::time::Instant::now();
    let outcome = TestRun::yaml("hang.yaml", &yaml, registry()).jobs(1).hang_timeout(timeout).run();
    assert_eq!(outcome.reports.len(), 30, "every seed reports");
    let hung = outcome
        .failures()
        .filter(|r| r.failure.as_ref().is_some_and(|f| f.kind.name() == "hang"))
        .count();
    assert!(hung > 1 + 4, "more hangs ({hung}) than one thread and four spares");
    assert!(outcome
        .failures()
        .all(|r| r.failure.as_ref().is_some_and(|f| f.kind.name() == "hang")));

    let out = out_dir("hang");
    let message = assertion_message(|| {
        TestRun::yaml("hang.yaml", &yaml, registry())
            .jobs(1)
            .hang_timeout(timeout)
            .out(&out)
            .assert_passes();
    });
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the sweep and its capsules end"
    );
    let capsule = message.lines().find_map(|l| l.strip_prefix("capsule: ")).expect("a capsule");
    let summary = std::fs::read_to_string(std::path::Path::new(capsule).join("summary.txt"))
        .expect("summary");
    assert!(summary.contains("trace.txt: cut short: the re-run made no progress"), "{summary}");
    let _ = std::fs::remove_dir_all(&out);
}

// Proves a seed that is slow but keeps processing events is not a hang, however long it takes
// past the hang timeout: the watchdog watches progress, not wall time.
#[test]
fn a_slow_seed_that_progresses_is_not_a_hang() {
    let yaml = fragile("slow_us: 2000", "0..2")
        .replace("phases: {chaos: 100ms}", "phases: {chaos: 400ms}");
    let timeout = std::time::Duration::from_millis(400);
    let outcome = TestRun::yaml("slow.yaml", &yaml, registry()).jobs(2).hang_timeout(timeout).run();
    assert_eq!(outcome.reports.len(), 2);
    assert!(outcome.summary.wall_seconds > 2.0 * timeout.as_secs_f64(), "slower than the timeout");
    for report in &outcome.reports {
        let kind = report.failure.as_ref().map(|f| f.kind.name());
        assert_ne!(kind, Some("hang"), "seed {} progressed yet was called hung", report.seed);
    }
}

/// Set in the child process of `cli_capsule_reruns_of_panicking_seeds_print_nothing`: the
/// directory it runs the command line in.
const CHILD: &str = "ORRERY_TEST_CLI_CHILD";

// Proves the command line, re-running panicking seeds for their capsules, prints neither the
// panic nor a backtrace (the report has the message): run as a child process of this test
// binary, the CLI in it, with backtraces on.
#[test]
fn cli_capsule_reruns_of_panicking_seeds_print_nothing() {
    if let Some(dir) = std::env::var_os(CHILD) {
        let dir = std::path::PathBuf::from(dir);
        let scenario = dir.join("fragile.yaml");
        std::fs::write(&scenario, FRAGILE).expect("scenario");
        let out = dir.join("out");
        let args = [
            "orrery",
            "run",
            scenario.to_str().unwrap_or(""),
            "--jobs",
            "1",
            "--out",
            out.to_str().unwrap_or(""),
        ];
        let code = orrery_sim::cli::main_with_args(args, registry());
        let number = (0..=255u8).find(|&n| std::process::ExitCode::from(n) == code).unwrap_or(255);
        std::process::exit(i32::from(number));
    }
    let dir = out_dir("cli-child");
    std::fs::create_dir_all(&dir).expect("dir");
    let child = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "cli_capsule_reruns_of_panicking_seeds_print_nothing",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &dir)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert_eq!(child.status.code(), Some(1), "some seeds fail:\n{stdout}\n{stderr}");
    assert!(stdout.contains("kind=panic"), "{stdout}");
    assert!(!stderr.contains("panicked at") && !stderr.contains("stack backtrace"), "{stderr}");
    let capsules: Vec<_> = std::fs::read_dir(dir.join("out"))
        .expect("capsules")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    assert!(!capsules.is_empty());
    for capsule in capsules {
        let summary = std::fs::read_to_string(capsule.join("summary.txt")).expect("summary");
        assert!(summary.contains("the re-run failed the same way (panic panic)"), "{summary}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// Proves an expect-fail scenario passes `assert_expected` when the bug is found, and that an
// expected failure that does not appear fails the test with a clear message.
#[test]
fn expected_failures_are_asserted() {
    let outcome =
        TestRun::file("scenarios/bugs/echo-corrupt-replies.yaml", registry()).assert_expected();
    assert!(outcome.failures().count() > 0);
    let message = assertion_message(|| {
        let fixed = std::fs::read_to_string("scenarios/bugs/echo-corrupt-replies.yaml")
            .expect("scenario")
            .replace("corrupt_replies: true", "corrupt_replies: false");
        TestRun::yaml("fixed.yaml", &fixed, registry()).seeds(0..5).assert_expected();
    });
    assert!(message.contains("expected a failure within"), "{message}");
    assert!(message.contains("but all 5 passed"), "{message}");
}

// Proves a malformed scenario fails the test with the located error, not a confusing panic.
#[test]
fn a_bad_scenario_fails_the_test_with_its_location() {
    let message = assertion_message(|| {
        TestRun::yaml(
            "bad.yaml",
            "name: x\ntopology: {count: 2}\nworkload: {name: nope}\nphases: {chaos: 1s}\n",
            registry(),
        )
        .run();
    });
    assert!(message.contains("the scenario does not load"), "{message}");
    assert!(message.contains("bad.yaml:3:"), "{message}");
}

// Proves sometimes-points from processes, checkers and the engine's fault families are
// counted per seed, reached ones are told apart from declared-but-never-reached ones, and the
// summary names the latter: a corruption rate on a typed bus (which cannot corrupt) is caught
// as a fault that never fired, while loss fires.
#[test]
fn sometimes_points_report_what_never_happened() {
    let yaml = FRAGILE.replace(
        "topology: {count: 2}",
        "topology: {count: 2}\nnetwork: {loss_probability: 0.3, corrupt_probability: 0.3}",
    );
    let outcome = TestRun::yaml("cover.yaml", &yaml, registry()).run();
    let points = &outcome.summary.coverage.points;
    let survivors = 40 - outcome.summary.failed();
    assert_eq!(points.get("a node ticked past 1,000"), Some(&(40, 0)));
    let (declared, reached) = points["a node ticked 30 times"];
    assert_eq!(declared, 40);
    assert!(reached >= survivors, "every seed that ran 100ms reached tick 30");
    let (declared, reached) = points["both nodes ticked"];
    assert_eq!(declared, 40);
    assert!(reached >= survivors && reached < 40, "a seed that panics at its first tick misses it");
    // Fragile sends nothing, so neither network family can fire; both are declared.
    assert_eq!(points.get("fault: a packet lost"), Some(&(40, 0)));
    assert_eq!(points.get("fault: a packet corrupted"), Some(&(40, 0)));
    let never: Vec<&str> =
        outcome.summary.coverage.never_reached().map(|(label, _)| label).collect();
    assert_eq!(
        never,
        ["a node ticked past 1,000", "fault: a packet corrupted", "fault: a packet lost"]
    );
    assert!(outcome
        .explain()
        .contains("never reached: fault: a packet lost (declared in 40 seed(s))"));

    let echo = std::fs::read_to_string("scenarios/smoke/echo.yaml").expect("scenario");
    let lossy = echo.replace(
        "  latency: { kind: uniform, min: 1ms, max: 10ms }",
        "  latency: { kind: uniform, min: 1ms, max: 10ms }\n  loss_probability: 0.2\n  corrupt_probability: 0.2",
    );
    let outcome = TestRun::yaml("lossy-echo.yaml", &lossy, registry()).seeds(0..10).run();
    let points = &outcome.summary.coverage.points;
    assert_eq!(points.get("fault: a packet lost"), Some(&(10, 10)));
    // Echo speaks a typed bus: corruption has nothing to flip, and the summary says so.
    assert_eq!(points.get("fault: a packet corrupted"), Some(&(10, 0)));
}
