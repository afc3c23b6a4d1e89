//! The authoring API v2: workloads declared once (checks, typed parameters, roles),
//! observations consumed by checks across crashes, the reusable agreement and history
//! checkers, durable cells and logs under the crash contract, and processes that end
//! themselves.

use orrery_sim::check::ModelName;
use orrery_sim::durable::{DurableCell, DurableError, DurableLog};
use orrery_sim::prelude::*;
use orrery_sim::runner::{run_plan, FailureKind, RunOptions};
use orrery_sim::scenario;
use orrery_sim::{Context, DownReason, NodeStatus, Registry, World};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Msg {
    Claim(u64),
}

/// Which planted bug is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Choice)]
enum Bug {
    #[default]
    None,
    /// Two nodes claim the same term.
    DoubleClaim,
    /// A node forgets its claims when it restarts.
    #[choice(name = "amnesia")]
    ForgetOnRestart,
}

#[derive(Debug, Clone, Params)]
struct ClaimParams {
    /// Time between a node's claims.
    #[param(default = ms(5))]
    interval: Duration,
    /// How many claims a node makes.
    #[param(default = 4, min = 1, shrink)]
    claims: u64,
    /// The planted bug.
    bug: Bug,
}

/// Claims terms: node i claims terms i, i + n, i + 2n... so claims never collide unless a bug
/// says so. Observes every claim, and a `crash_me` record asks the scenario to crash it.
struct Claimer {
    params: ClaimParams,
    made: u64,
}

impl<N: NodeApi<Msg>> Process<Msg, N> for Claimer {
    fn on_start(&mut self, node: &mut N) {
        node.set_timer(self.params.interval, 0);
    }
    fn on_message(&mut self, _node: &mut N, _from: NodeId, _message: Msg) {}
    fn on_timer(&mut self, node: &mut N, _timer: TimerId, _tag: u64) {
        if self.made >= self.params.claims {
            return;
        }
        let n = node.n_nodes() as u64;
        let mut term = u64::from(node.id().0) + self.made * n;
        let restarted = node.incarnation() > 0;
        if self.params.bug == Bug::DoubleClaim && node.id().0 == 1 {
            term = self.made * n; // node 1 claims node 0's terms
        }
        if self.params.bug == Bug::ForgetOnRestart && restarted {
            term = (u64::from(node.id().0) + 1) % n + self.made * n; // a neighbour's terms
        }
        self.made += 1;
        node.observe("claim", &[("term", term.into())]);
        node.send(NodeId((node.id().0 + 1) % n as u32), Msg::Claim(term));
        node.set_timer(self.params.interval, 0);
    }
}

fn claims() -> WorkloadDef<Msg, ClaimParams> {
    WorkloadDef::<Msg, ClaimParams>::new("claims", "nodes claim terms; no term twice")
        .role("*", |init| Claimer { params: init.params.clone(), made: 0 })
        .agreement(
            "one_claim_per_term",
            "no two nodes claim one term, across crashes",
            Agreement::on("claim").key(&["term"]).value_is_node(),
        )
        .liveness("all_claimed", "every live node made its claims", |run| {
            let short =
                run.world.processes_of::<Claimer>().find(|(_, c)| c.made < run.params.claims);
            match short {
                Some((node, c)) => Err(format!("{node} made {} claims", c.made)),
                None => Ok(()),
            }
        })
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(claims());
    registry
}

fn scenario_with(extra: &str) -> String {
    format!(
        "name: claims\ntopology: {{count: 3}}\nworkload: {{name: claims{extra}}}\n\
         phases: {{chaos: 100ms, converge_deadline: 100ms}}\nchecks: [one_claim_per_term, all_claimed]\n"
    )
}

fn load_error(text: &str) -> String {
    match scenario::parse("test.yaml", text.as_bytes(), &registry()) {
        Ok(_) => panic!("expected a load error for:\n{text}"),
        Err(errors) => errors.to_string(),
    }
}

fn run_seed(text: &str, seed: u64) -> orrery_sim::runner::SeedReport {
    let registry = registry();
    let scenario = scenario::parse("test.yaml", text.as_bytes(), &registry).expect("valid");
    run_plan(&scenario.sample(seed), &registry, RunOptions::default()).0
}

// Proves a misspelt check is a load error listing the workload's checks, so it can never
// silently pass, and a check is evaluated exactly as declared.
#[test]
fn a_misspelt_check_cannot_pass() {
    let text = scenario_with("").replace("one_claim_per_term,", "one_claim_per_trem,");
    let error = load_error(&text);
    assert!(error.contains("has no check `one_claim_per_trem`"), "{error}");
    assert!(error.contains("expected one of one_claim_per_term, all_claimed"), "{error}");
    let failing = scenario_with(", params: {bug: double_claim}");
    let report = run_seed(&failing, 0);
    let failure = report.failure.expect("the planted double claim is caught");
    assert_eq!(
        (failure.kind, failure.check.as_str()),
        (FailureKind::Invariant, "one_claim_per_term")
    );
    assert!(failure.message.contains("`claim` disagrees for term=0"), "{}", failure.message);
}

// Proves typed parameters are validated at load with the position and the choices or bound
// in our words, and declared docs and defaults reach the workload's description.
#[test]
fn parameters_are_typed_and_validated_at_load() {
    let error = load_error(&scenario_with(", params: {bug: double_clam}"));
    assert!(error.contains("test.yaml:3:"), "{error}");
    assert!(error.contains("has no choice `double_clam`"), "{error}");
    assert!(error.contains("expected one of none, double_claim, amnesia"), "{error}");
    let error = load_error(&scenario_with(", params: {claims: 0}"));
    assert!(error.contains("out of range: 0") && error.contains("integer >= 1"), "{error}");
    let error = load_error(&scenario_with(", params: {interval: 5}"));
    assert!(error.contains("duration"), "{error}");
    let registry = registry();
    let specs = registry.get("claims").expect("registered").parameters();
    let names: Vec<(&str, &str, bool)> = specs.iter().map(|s| (s.name, s.doc, s.shrink)).collect();
    assert_eq!(
        names,
        [
            ("interval", "Time between a node's claims.", false),
            ("claims", "How many claims a node makes.", true),
            ("bug", "The planted bug.", false)
        ]
    );
    assert_eq!(ClaimParams::default().claims, 4);
}

// Proves a role no factory runs, and a rule of the workload over its parameters, are load
// errors rather than per-seed setup failures.
#[test]
fn setup_problems_are_load_errors() {
    let only_servers = WorkloadDef::<Msg, ClaimParams>::new("servers", "only servers")
        .requires_role("server")
        .role("server", |init| Claimer { params: init.params.clone(), made: 0 })
        .validate(|params, _| match params.claims > 3 {
            true => Err(format!("claims = {} is more than 3", params.claims)),
            false => Ok(()),
        });
    let mut registry = Registry::new();
    registry.register(only_servers);
    let text = "name: s\ntopology: {nodes: [{name: c0, role: client}]}\nworkload: {name: servers}\nphases: {chaos: 1s}\n";
    let error =
        scenario::parse("s.yaml", text.as_bytes(), &registry).expect_err("invalid").to_string();
    assert!(error.contains("needs at least one node with role `server`"), "{error}");
    assert!(error.contains("runs no process for role `client`"), "{error}");
    assert!(error.contains("claims = 4 is more than 3"), "{error}");
}

// Proves observations from a node that has since crashed still reach the check, with the
// node's incarnation, and that the correct workload passes its checks.
#[test]
fn observations_outlive_crashes() {
    let correct = run_seed(&scenario_with(""), 3);
    assert_eq!(correct.failure, None, "the correct workload passes");
    let mut world = World::<Msg>::builder(1)
        .processes(2, |_| Claimer {
            params: ClaimParams { bug: Bug::ForgetOnRestart, ..ClaimParams::default() },
            made: 0,
        })
        .record(true)
        .build();
    world.keep_observations(true);
    world.run_for(ms(6));
    world.control().crash(NodeId(0));
    world.control().restart(NodeId(0));
    world.run_for(ms(30));
    let observations: Vec<_> = world.drain_observations().collect();
    let incarnations: Vec<(u32, u32)> =
        observations.iter().map(|o| (o.node.0, o.incarnation)).collect();
    assert!(incarnations.contains(&(0, 0)) && incarnations.contains(&(0, 1)), "{incarnations:?}");
    assert!(observations.windows(2).all(|w| w[0].seq < w[1].seq), "in event order");
    assert!(world.trace().render().contains("n0 claim term=0"), "observations are traced");
}

/// Persists a counter in a cell and every value in a log before acknowledging.
struct Keeper {
    cell: Option<DurableCell<u64>>,
    log: Option<DurableLog<u64>>,
    recovered: Vec<u64>,
    error: Option<DurableError>,
}

impl<N: NodeApi<u64>> Process<u64, N> for Keeper {
    fn on_start(&mut self, node: &mut N) {
        if let Err(error) = self.open(node) {
            self.error = Some(error);
        }
    }
    fn on_message(&mut self, node: &mut N, from: NodeId, value: u64) {
        match self.store(node, value) {
            Ok(()) => node.send(from, value),
            Err(error) => node.abort(&error.to_string()),
        }
    }
}

impl Keeper {
    fn open<N: NodeApi<u64>>(&mut self, node: &mut N) -> Result<(), DurableError> {
        self.cell = Some(DurableCell::open(&mut node.disk(), "counter", 0)?);
        let (log, recovered) = DurableLog::open(&mut node.disk(), "values")?;
        (self.log, self.recovered) = (Some(log), recovered);
        Ok(())
    }

    fn store<N: NodeApi<u64>>(&mut self, node: &mut N, value: u64) -> Result<(), DurableError> {
        let (Some(cell), Some(log)) = (self.cell.as_mut(), self.log.as_mut()) else {
            return Ok(());
        };
        log.append(&mut node.disk(), &value)?;
        log.sync(&mut node.disk())?;
        cell.set(&mut node.disk(), *cell.get() + 1)
    }
}

fn keeper() -> Keeper {
    Keeper { cell: None, log: None, recovered: Vec::new(), error: None }
}

// Proves what a durable cell and log acknowledged survives crashes under every unsynced-data
// mode, and an unsynced append torn by a crash is truncated away on recovery.
#[test]
fn durable_state_survives_crashes() {
    use orrery_sim::disk::{DiskConfig, UnsyncedOnCrash};
    for (seed, mode) in [UnsyncedOnCrash::Lost, UnsyncedOnCrash::Torn, UnsyncedOnCrash::Random]
        .into_iter()
        .enumerate()
    {
        let disk =
            DiskConfig { crash_unsynced: mode, sector_size_bytes: 4, ..DiskConfig::default() };
        let mut world = World::<u64>::builder(seed as u64)
            .process("n0", |_| keeper())
            .endpoints(1)
            .disk(disk)
            .build();
        for value in 1..=5 {
            world.endpoint(NodeId(1)).send(NodeId(0), value).expect("room");
            world.run_for(ms(5));
        }
        assert_eq!(world.endpoint(NodeId(1)).drain().len(), 5, "five acknowledged");
        // A torn tail: an append that was never synced, then a crash.
        world.run_for(ms(1));
        world.control().crash(NodeId(0));
        world.control().restart(NodeId(0));
        world.run_for(ms(1));
        let keeper = world.process::<Keeper>(NodeId(0)).expect("restarted");
        assert_eq!(keeper.error, None);
        assert_eq!(keeper.recovered, [1, 2, 3, 4, 5], "{mode:?}");
        assert_eq!(keeper.cell.as_ref().map(|c| *c.get()), Some(5), "{mode:?}");
    }
}

/// Exits or aborts at its first message.
struct Quitter {
    abort: bool,
}

impl Process<u64> for Quitter {
    fn on_message(&mut self, ctx: &mut Context<u64>, from: NodeId, value: u64) {
        let _ = ctx.disk().create("written");
        if self.abort {
            ctx.abort("disk I/O error");
        } else {
            ctx.exit(3);
        }
        ctx.send(from, value); // after the end: never sent
    }
}

// Proves a process that exits or aborts is down with its reason, traced, sends nothing
// after the call, and keeps its unsynced writes (a process crash is not a power loss).
#[test]
fn processes_exit_and_abort_themselves() {
    for (abort, line, reason) in [
        (false, "n0 exit code=3", DownReason::Exited(3)),
        (true, "n0 abort reason=disk I/O error", DownReason::Aborted("disk I/O error".into())),
    ] {
        let mut world = World::<u64>::builder(1)
            .process("n0", move |_| Quitter { abort })
            .endpoints(1)
            .record(true)
            .build();
        world.endpoint(NodeId(1)).send(NodeId(0), 9).expect("room");
        world.run_for(ms(5));
        assert_eq!(world.status(NodeId(0)), NodeStatus::Down);
        assert_eq!(world.down_reason(NodeId(0)), Some(&reason));
        assert!(world.endpoint(NodeId(1)).drain().is_empty(), "nothing after the end");
        assert!(world.disk(NodeId(0)).peek_contents("written").is_some(), "page cache kept");
        let trace = world.trace().render();
        assert!(trace.contains(line), "{trace}");
        world.control().restart(NodeId(0));
        world.run_for(ms(1));
        assert_eq!(world.status(NodeId(0)), NodeStatus::Up, "a supervisor may restart it");
    }
}

/// A register served by one node; with `stale`, reads return the value before the latest
/// write (a planted bug the history check must catch).
struct Register {
    value: u64,
    previous: u64,
    stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Write(u64),
    Read,
    WriteOk,
    ReadOk(u64),
}

impl Process<Op> for Register {
    fn on_message(&mut self, ctx: &mut Context<Op>, from: NodeId, op: Op) {
        match op {
            Op::Write(v) => {
                self.previous = self.value;
                self.value = v;
                ctx.send(from, Op::WriteOk);
            }
            Op::Read => {
                ctx.send(from, Op::ReadOk(if self.stale { self.previous } else { self.value }))
            }
            _ => {}
        }
    }
}

/// Alternates writes of increasing values and reads, recording the history.
struct Writer {
    next: u64,
}

impl Process<Op> for Writer {
    fn on_start(&mut self, ctx: &mut Context<Op>) {
        history::invoke(ctx, 0, "write", None, Some(Value::U64(1)));
        ctx.send(NodeId(0), Op::Write(1));
    }
    fn on_message(&mut self, ctx: &mut Context<Op>, _from: NodeId, op: Op) {
        match op {
            Op::WriteOk => {
                history::ok(ctx, 0, None);
                history::invoke(ctx, 0, "read", None, None);
                ctx.send(NodeId(0), Op::Read);
            }
            Op::ReadOk(v) => {
                history::ok(ctx, 0, Some(Value::U64(v)));
                self.next += 1;
                if self.next < 5 {
                    history::invoke(ctx, 0, "write", None, Some(Value::U64(self.next)));
                    ctx.send(NodeId(0), Op::Write(self.next));
                }
            }
            _ => {}
        }
    }
}

fn register(stale: bool) -> WorkloadDef<Op> {
    let name = if stale { "stale-register" } else { "register" };
    WorkloadDef::<Op>::new(name, "one register, one client")
        .role("server", move |_| Register { value: 0, previous: 0, stale })
        .role("client", |_| Writer { next: 1 })
        .linearizable("linearizable", "reads see the latest write", ModelName::Register, 100_000)
}

// Proves the history check built from observations accepts a linearizable run and catches a
// stale read.
#[test]
fn histories_from_observations_are_checked() {
    let mut registry = Registry::new();
    registry.register(register(false)).register(register(true));
    for (name, fails) in [("register", false), ("stale-register", true)] {
        let text = format!(
            "name: r\ntopology: {{nodes: [{{name: s, role: server}}, {{name: c, role: client}}]}}\n\
             workload: {{name: {name}}}\nphases: {{chaos: 100ms}}\nchecks: [linearizable]\n"
        );
        let scenario = scenario::parse("r.yaml", text.as_bytes(), &registry).expect("valid");
        let (report, _) = run_plan(&scenario.sample(0), &registry, RunOptions::default());
        assert_eq!(report.failure.is_some(), fails, "{name}: {:?}", report.failure);
        if let Some(failure) = report.failure {
            assert_eq!(failure.kind, FailureKind::Check);
            assert!(failure.message.contains("not linearizable"), "{}", failure.message);
        }
    }
}
