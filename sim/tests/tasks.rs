//! Async processes (`orrery_sim::task`): tasks in one world with callback processes, their
//! lifecycle through crashes, pauses, restarts and exits, deterministic waiting (select,
//! timeouts, receives, disk operations), and the `futures` crate's channels and combinators
//! inside tasks. `task_checks.rs` has what the executor guarantees about order and detects.

use std::cell::Cell;
use std::rc::Rc;

use futures::channel::{mpsc, oneshot};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use orrery_sim::disk::{DiskConfig, DiskOp, DiskOutput};
use orrery_sim::task::{AsyncNode, Elapsed, Node};
// `task_backing.rs` runs the same node code on a second backing.
#[allow(dead_code)]
#[path = "common/async_pingpong.rs"]
mod pingpong;
#[allow(dead_code)]
#[path = "common/task_world.rs"]
mod task_world;

use pingpong::{ping_client, pong_server, Msg};
use task_world::{at, fixed, records, timers_of, N0, N1};

use orrery_sim::{ms, Context, ControlAction, Instant, NodeApi, NodeId, Process, Storage, World};

/// A world of `nodes` (node i runs `nodes[i]`), 1 ms fixed latency, recording on.
/// Builds a node's process at boot and at every restart.
type Make = Box<dyn Fn() -> Box<dyn Process<Msg>>>;

fn world_of(seed: u64, nodes: Vec<Make>) -> World<Msg> {
    let mut builder = World::<Msg>::builder(seed).link_default(fixed(1)).record(true);
    for (i, make) in nodes.into_iter().enumerate() {
        builder = builder.process_boxed(format!("n{i}").as_str(), move |_| make());
    }
    builder.build()
}

fn boxed(make: impl Fn() -> Box<dyn Process<Msg>> + 'static) -> Make {
    Box::new(make)
}

/// A callback-style pong server.
struct CallbackServer;
impl Process<Msg> for CallbackServer {
    fn on_message(&mut self, ctx: &mut Context<Msg>, from: NodeId, message: Msg) {
        if let Msg::Ping(n) = message {
            ctx.send(from, Msg::Pong(n));
        }
    }
}

/// A callback-style ping client.
struct CallbackClient {
    rounds: u64,
    pongs: u64,
}
impl Process<Msg> for CallbackClient {
    fn on_start(&mut self, ctx: &mut Context<Msg>) {
        ctx.send(N0, Msg::Ping(0));
    }
    fn on_message(&mut self, ctx: &mut Context<Msg>, from: NodeId, message: Msg) {
        if let Msg::Pong(n) = message {
            assert_eq!(n, self.pongs);
            self.pongs += 1;
            if self.pongs < self.rounds {
                ctx.send(from, Msg::Ping(self.pongs));
            }
        }
    }
}

// Proves async and callback-style nodes share one world and one message type, in both
// directions, with the same timing: each round trip takes two 1 ms hops.
#[test]
fn async_and_callback_nodes_share_a_world() {
    let mut world = world_of(
        1,
        vec![
            boxed(|| Box::new(CallbackServer)),
            boxed(|| Box::new(AsyncNode::with_state(0u64, |n, p| ping_client(n, p, N0, 10)))),
        ],
    );
    world.run();
    let client = world.process::<AsyncNode<Msg, u64>>(N1).expect("an async client");
    assert_eq!(*client.state(), 10);
    assert_eq!(world.now(), at(20));

    let mut world = world_of(
        1,
        vec![
            boxed(|| Box::new(AsyncNode::new(pong_server))),
            boxed(|| Box::new(CallbackClient { rounds: 10, pongs: 0 })),
        ],
    );
    world.run();
    assert_eq!(world.process::<CallbackClient>(N1).map(|c| c.pongs), Some(10));
    assert_eq!(world.now(), at(20));
    let spawned = records(&world, "task_spawn");
    assert_eq!(spawned, [(Instant::ZERO, Some(N0), "0".to_string())], "main is task 0");
}

// Proves a crash drops the node's tasks mid-await with everything they hold, that their
// pending timer never fires into the next incarnation, and that a restart starts the main
// task again from the factory.
#[test]
fn crash_mid_await_drops_the_task_and_its_pending_timers() {
    /// Counts drops of what a task holds.
    struct Guard(Rc<Cell<u32>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let dropped = Rc::new(Cell::new(0));
    let held = dropped.clone();
    let mut world = World::<Msg>::builder(3)
        .link_default(fixed(1))
        .record(true)
        .process("n0", move |_| {
            let held = held.clone();
            AsyncNode::new(move |node: Node<Msg>| async move {
                let _guard = Guard(held);
                let sleep = if node.incarnation() == 0 { ms(100) } else { ms(200) };
                node.record("sleeping", &[("incarnation", node.incarnation().into())]);
                node.sleep(sleep).await;
                node.record("woke", &[("incarnation", node.incarnation().into())]);
            })
        })
        .build();
    world.run_for(ms(40));
    assert_eq!(dropped.get(), 0);
    world.control().crash(N0);
    assert_eq!(dropped.get(), 1, "the crash dropped the sleeping task and its guard");
    world.run_for(ms(20));
    world.control().restart(N0);
    world.run_for(ms(400));
    assert_eq!(timers_of(&world, N0), [at(260)], "only the new incarnation's timer fired");
    assert_eq!(records(&world, "woke"), [(at(260), Some(N0), "1".to_string())]);
    assert_eq!(
        records(&world, "sleeping"),
        [(at(0), Some(N0), "0".to_string()), (at(60), Some(N0), "1".to_string())]
    );
    assert_eq!(dropped.get(), 2, "the finished main task dropped its guard too");
}

// Proves a crash at a task's N-th disk operation cuts its callback there, as it cuts a
// callback process's handler: the task's later effects in that callback vanish (its send after
// the failed append never leaves), the node goes down with every task, and the restart runs
// the main task again from the factory.
#[test]
fn a_crash_at_a_disk_operation_cuts_the_tasks_callback_there() {
    let mut world = World::<Msg>::builder(2)
        .link_default(fixed(1))
        .record(true)
        .endpoints(1)
        .process("n1", |_| {
            AsyncNode::new(|node: Node<Msg>| async move {
                let base = 100 * u64::from(node.incarnation());
                let _ = node.disk().create("log");
                for k in 0..3 {
                    let appended = node.disk().append("log", &[k as u8]);
                    node.record("append", &[("ok", appended.is_ok().into())]);
                    node.send(N0, Msg::Note(base + k));
                    node.sleep(ms(1)).await;
                }
            })
        })
        .build();
    // Operations 1 (create) and 2 (the first append) pass; the crash is at the second append.
    let crash =
        ControlAction::CrashAtDiskOperation { node: N1, operation: 3, restart_after: Some(ms(5)) };
    world.control().apply(crash);
    world.run_for(ms(50));
    let notes: Vec<Msg> = world.endpoint(N0).drain().into_iter().map(|e| e.message).collect();
    assert_eq!(notes, [Msg::Note(0), Msg::Note(100), Msg::Note(101), Msg::Note(102)]);
    let appends: Vec<(Instant, String)> =
        records(&world, "append").into_iter().map(|(t, _, ok)| (t, ok)).collect();
    let append = |t: u64, ok: &str| (at(t), ok.to_string());
    // The failed append's record vanished with the rest of its callback; the power loss at
    // 1 ms restarts the node at 6 ms, whose main task appends again from the start.
    assert_eq!(
        appends,
        [append(0, "true"), append(6, "true"), append(7, "true"), append(8, "true")]
    );
}

// Proves a pause holds the node's events, so no task wakes while it lasts, and the resume
// releases them in their original order: tasks wake in the order their events happened.
#[test]
fn pause_and_resume_hold_then_continue_wakes_in_order() {
    let run = |pause: bool| {
        let mut world = World::<Msg>::builder(5)
            .link_default(fixed(15))
            .record(true)
            .process("n0", |_| {
                AsyncNode::new(|node: Node<Msg>| async move {
                    node.send(N1, Msg::Note(7));
                })
            })
            .process("n1", |_| {
                AsyncNode::new(|node: Node<Msg>| async move {
                    for (name, wait) in [("a", 10), ("b", 20)] {
                        let sleeper = node.clone();
                        let _detached = node.spawn(name, async move {
                            sleeper.sleep(ms(wait)).await;
                            sleeper.record("woke", &[("task", name.into())]);
                        });
                    }
                    node.recv().await;
                    node.record("woke", &[("task", "c".into())]);
                })
            })
            .build();
        if pause {
            world.schedule(at(5), orrery_sim::ControlAction::Pause(N1));
            world.schedule(at(30), orrery_sim::ControlAction::Resume(N1));
        }
        world.run_for(ms(100));
        records(&world, "woke")
    };
    let woke = |t: u64, task: &str| (at(t), Some(N1), task.to_string());
    assert_eq!(run(false), [woke(10, "a"), woke(15, "c"), woke(20, "b")]);
    assert_eq!(run(true), [woke(30, "a"), woke(30, "c"), woke(30, "b")]);
}

// Proves a spawned task lives on after the task that spawned it finished and its join
// handle was dropped, and still acts for its node.
#[test]
fn a_spawned_task_outlives_its_parent() {
    let mut world = World::<Msg>::builder(2)
        .link_default(fixed(1))
        .record(true)
        .endpoints(1)
        .process("n1", |_| {
            AsyncNode::new(|node: Node<Msg>| async move {
                let parent = node.clone();
                let handle = node.spawn("parent", async move {
                    let child = parent.clone();
                    drop(parent.spawn("child", async move {
                        child.sleep(ms(10)).await;
                        child.send(N0, Msg::Note(1));
                    }));
                });
                handle.await;
                node.record("parent_done", &[]);
            })
        })
        .build();
    world.run_for(ms(50));
    let finished = records(&world, "task_finish");
    let ids: Vec<&str> = finished.iter().map(|(_, _, id)| id.as_str()).collect();
    assert_eq!(ids, ["1", "0", "2"], "parent, then main, then the child, 10 ms later");
    assert_eq!(finished[2].0, at(10));
    assert_eq!(records(&world, "parent_done")[0].0, at(0));
    let inbox = world.endpoint(N0).drain();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message, Msg::Note(1));
    let node = world.process::<AsyncNode<Msg>>(N1).expect("async node");
    assert_eq!(node.tasks_alive(), 0);
}

/// Node 0 sends notes after gaps its random stream draws (some exactly 5 ms); node 1 waits
/// for each with a 5 ms timeout in a `select_biased!` and records which branch won.
fn select_world(seed: u64) -> World<Msg> {
    World::<Msg>::builder(seed)
        .link_default(fixed(1))
        .record(true)
        .process("n0", |_| {
            AsyncNode::new(|node: Node<Msg>| async move {
                for n in 0..40 {
                    let gap = node.with_rng(|rng| rng.uniform_u64(3, 7));
                    node.sleep(ms(gap)).await;
                    node.send(N1, Msg::Note(n));
                }
            })
        })
        .process("n1", |_| {
            AsyncNode::new(|node: Node<Msg>| async move {
                loop {
                    let mut message = node.recv().fuse();
                    let mut deadline = node.sleep(ms(5)).fuse();
                    futures::select_biased! {
                        _ = message => node.record("won", &[("branch", "message".into())]),
                        _ = deadline => node.record("won", &[("branch", "timeout".into())]),
                    }
                }
            })
        })
        .build()
}

// Proves a select between a timeout and a message is deterministic: the same seed gives the
// same branch sequence and trace every time, another seed another; and when both are ready
// in one poll, the branch written first wins, as documented.
#[test]
fn select_between_a_timeout_and_a_message_is_deterministic() {
    let run = |seed| {
        let mut world = select_world(seed);
        world.run_for(ms(300));
        (records(&world, "won"), world.trace().render(), world.fingerprint())
    };
    let (first, second, other) = (run(11), run(11), run(12));
    assert_eq!(first, second);
    assert_ne!(first.2, other.2);
    let branches: Vec<&str> = first.0.iter().map(|(_, _, b)| b.as_str()).collect();
    assert!(branches.contains(&"message") && branches.contains(&"timeout"), "{branches:?}");

    // Both ready in one poll: a message already waiting, and a deadline already passed.
    let mut world = World::<Msg>::builder(1)
        .link_default(fixed(1))
        .record(true)
        .process("n0", |_| {
            AsyncNode::new(|node: Node<Msg>| async move { node.send(N1, Msg::Note(0)) })
        })
        .process("n1", |_| {
            AsyncNode::new(|node: Node<Msg>| async move {
                node.sleep(ms(10)).await;
                for _ in 0..2 {
                    let mut message = node.recv().fuse();
                    let mut deadline = node.sleep(ms(0)).fuse();
                    futures::select_biased! {
                        _ = message => node.record("won", &[("branch", "message".into())]),
                        _ = deadline => node.record("won", &[("branch", "timeout".into())]),
                    }
                }
            })
        })
        .build();
    world.run_for(ms(20));
    let branches: Vec<String> = records(&world, "won").into_iter().map(|(_, _, b)| b).collect();
    assert_eq!(branches, ["message", "timeout"]);
}

/// Answers `Ping(n)` with `Pong(n)` after `n` ms, each from a task of its own.
async fn slow_pong_server(node: Node<Msg>) {
    loop {
        let (from, message) = node.recv().await;
        if let Msg::Ping(n) = message {
            let replier = node.clone();
            let _reply = node.spawn("reply", async move {
                replier.sleep(ms(n)).await;
                replier.send(from, Msg::Pong(n));
            });
        }
    }
}

// Proves `timeout` bounds a future on the node's clock: a late answer is `Elapsed` exactly at
// the deadline and stays in the mailbox for the next receive (the bounded receive was dropped
// with its registration), an answer in time is `Ok` and cancels the deadline's timer, and with
// the answer and the deadline both ready in one poll the answer wins (biased to the future).
// `sleep_until` a passed instant is ready at once, without a timer.
#[test]
fn timeouts_end_at_the_deadline_and_favour_the_future() {
    let mut world = World::<Msg>::builder(1)
        .link_default(fixed(1))
        .record(true)
        .process("n0", |_| AsyncNode::new(slow_pong_server))
        .process("n1", |_| {
            AsyncNode::new(|node: Node<Msg>| async move {
                let pong =
                    |want| node.recv_map(move |_, m| (*m == Msg::Pong(want)).then_some(want));
                let outcome = |result: Result<u64, Elapsed>| format!("{result:?}");
                // Late: the pong takes 8 + 2 ms, the deadline is 5 ms.
                node.send(N0, Msg::Ping(8));
                let late = node.timeout(ms(5), pong(8)).await;
                node.record("late", &[("outcome", outcome(late).as_str().into())]);
                let (_, kept) = node.recv().await;
                node.record("kept", &[("message", format!("{kept:?}").as_str().into())]);
                // In time: 1 + 2 ms against 5 ms.
                node.send(N0, Msg::Ping(1));
                let in_time = node.timeout(ms(5), pong(1)).await;
                node.record("in_time", &[("outcome", outcome(in_time).as_str().into())]);
                // Both ready in one poll: the pong already waits, the deadline is now.
                node.send(N0, Msg::Ping(0));
                node.sleep(ms(10)).await;
                let tie = node.timeout(ms(0), pong(0)).await;
                node.record("tie", &[("outcome", outcome(tie).as_str().into())]);
                let never = node.timeout(ms(0), futures::future::pending::<u64>()).await;
                node.record("never", &[("outcome", outcome(never).as_str().into())]);
                node.sleep_until(Instant::ZERO + ms(1)).await;
                node.record("passed", &[]);
                node.sleep_until(node.now() + ms(4)).await;
                node.record("until", &[]);
            })
        })
        .build();
    world.run_for(ms(100));
    let line = |kind: &str| records(&world, kind).into_iter().map(|(t, _, v)| (t, v)).collect();
    let expect = |t: u64, value: &str| vec![(at(t), value.to_string())];
    let lines: Vec<Vec<(Instant, String)>> =
        ["late", "kept", "in_time", "tie", "never", "passed", "until"].map(line).into();
    assert_eq!(
        lines,
        [
            expect(5, "Err(Elapsed)"),
            expect(10, "Pong(8)"),
            expect(13, "Ok(1)"),
            expect(23, "Ok(0)"),
            expect(23, "Err(Elapsed)"),
            expect(23, ""),
            expect(27, ""),
        ]
    );
    // n1's timers: the late deadline (5), the 10 ms sleep (23) and sleep_until (27); the
    // in-time deadline (15) was cancelled, and zero timeouts and passed instants set none.
    assert_eq!(timers_of(&world, N1), [at(5), at(23), at(27)]);
}

// Proves the futures crate's channels and combinators work between tasks of one node:
// mpsc, oneshot, join!, FuturesUnordered (completing in deadline order), future::select.
#[test]
fn futures_channels_and_combinators_work_inside_tasks() {
    let mut world = World::<Msg>::builder(9)
        .link_default(fixed(1))
        .process("n0", |_| {
            AsyncNode::with_state(Vec::<String>::new(), |node: Node<Msg>, log| async move {
                let say = |line: String| log.borrow_mut().push(line);
                let (sender, mut receiver) = mpsc::channel::<u64>(2);
                let producer = node.clone();
                let _producer = node.spawn("producer", async move {
                    let mut sender = sender;
                    for n in 0..5 {
                        producer.sleep(ms(1)).await;
                        futures::SinkExt::send(&mut sender, n).await.expect("receiver alive");
                    }
                });
                let mut sum = 0;
                while let Some(n) = receiver.next().await {
                    sum += n;
                }
                say(format!("mpsc sum={sum} at={}", node.now()));

                let (reply, answer) = oneshot::channel::<&'static str>();
                let replier = node.clone();
                let _replier = node.spawn("replier", async move {
                    replier.sleep(ms(3)).await;
                    let _ = reply.send("done");
                });
                say(format!("oneshot {:?} at={}", answer.await, node.now()));

                let (a, b) = futures::join!(
                    async {
                        node.sleep(ms(2)).await;
                        1
                    },
                    async {
                        node.sleep(ms(4)).await;
                        2
                    }
                );
                say(format!("join {a}+{b} at={}", node.now()));

                let mut racers: FuturesUnordered<_> = [30u64, 10, 20]
                    .into_iter()
                    .map(|wait| {
                        let racer = node.clone();
                        async move {
                            racer.sleep(ms(wait)).await;
                            wait
                        }
                    })
                    .collect();
                let mut order = Vec::new();
                while let Some(wait) = racers.next().await {
                    order.push(wait);
                }
                say(format!("unordered {order:?}"));

                let fast = Box::pin(node.sleep(ms(1)));
                let slow = Box::pin(node.sleep(ms(2)));
                let first = match futures::future::select(slow, fast).await {
                    futures::future::Either::Left(_) => "slow",
                    futures::future::Either::Right(_) => "fast",
                };
                say(format!("select {first}"));
            })
        })
        .build();
    world.run_for(ms(100));
    let node = world.process::<AsyncNode<Msg, Vec<String>>>(N0).expect("async node");
    assert_eq!(
        *node.state(),
        [
            "mpsc sum=10 at=0.005000000",
            "oneshot Ok(\"done\") at=0.008000000",
            "join 1+2 at=0.012000000",
            "unordered [10, 20, 30]",
            "select fast",
        ]
    );
}

// Proves a join handle resolves to its task's output, and an abort drops the task at once
// with what it holds: its timer is cancelled and its later effects never happen.
#[test]
fn join_handles_return_outputs_and_abort_drops_tasks() {
    let mut world = World::<Msg>::builder(4)
        .link_default(fixed(1))
        .record(true)
        .endpoints(1)
        .process("n1", |_| {
            AsyncNode::with_state(0u64, |node: Node<Msg>, out| async move {
                let worker = node.clone();
                let sum = node.spawn("sum", async move {
                    worker.sleep(ms(3)).await;
                    (1..=10).sum::<u64>()
                });
                let late = node.clone();
                let doomed = node.spawn("doomed", async move {
                    late.sleep(ms(5)).await;
                    late.send(N0, Msg::Note(666));
                });
                *out.borrow_mut() = sum.await;
                assert!(!doomed.is_finished());
                doomed.abort();
            })
        })
        .build();
    world.run_for(ms(50));
    let node = world.process::<AsyncNode<Msg, u64>>(N1).expect("async node");
    assert_eq!(*node.state(), 55);
    assert_eq!(node.tasks_alive(), 0);
    assert_eq!(records(&world, "task_abort"), [(at(3), Some(N1), "2".to_string())]);
    assert!(world.endpoint(N0).drain().is_empty(), "the aborted task never sent");
    assert_eq!(timers_of(&world, N1), [at(3)], "the aborted task's timer was cancelled");
}

// Proves per-sender, per-kind and typed receives take only what they accept, in delivery
// order, leaving every other message for later receives.
#[test]
fn receives_take_only_what_they_accept() {
    let mut world = World::<Msg>::builder(6)
        .link_default(fixed(1))
        .endpoints(2)
        .process("n2", |_| {
            AsyncNode::with_state(Vec::<String>::new(), |node: Node<Msg>, log| async move {
                node.sleep(ms(5)).await;
                let from_n1 = node.recv_from(N1).await;
                let pong = node.recv_where(|_, m| matches!(m, Msg::Pong(_))).await;
                let ping = node.recv_map(|from, m| match m {
                    Msg::Ping(n) if from == N0 => Some(*n),
                    _ => None,
                });
                let ping = ping.await;
                let rest: Vec<(NodeId, Msg)> = std::iter::from_fn(|| node.try_recv()).collect();
                log.borrow_mut().push(format!("{from_n1:?} {pong:?} {ping} {rest:?}"));
            })
        })
        .build();
    world.endpoint(N0).send(NodeId(2), Msg::Note(1)).expect("sent");
    world.endpoint(N0).send(NodeId(2), Msg::Ping(2)).expect("sent");
    world.endpoint(N1).send(NodeId(2), Msg::Ping(3)).expect("sent");
    world.endpoint(N0).send(NodeId(2), Msg::Pong(4)).expect("sent");
    world.endpoint(N1).send(NodeId(2), Msg::Note(5)).expect("sent");
    world.run_for(ms(20));
    let node = world.process::<AsyncNode<Msg, Vec<String>>>(NodeId(2)).expect("async node");
    assert_eq!(*node.state(), ["Ping(3) (n0, Pong(4)) 2 [(n0, Note(1)), (n1, Note(5))]"]);
}

// Proves a disk operation awaited in a task completes after the disk's latency, with its
// output, and that immediate operations work through the same handle.
#[test]
fn disk_operations_complete_after_the_disk_latency() {
    let disk = DiskConfig { latency_min: ms(4), latency_max: ms(4), ..DiskConfig::default() };
    let mut world = World::<Msg>::builder(8)
        .disk(disk)
        .process("n0", |_| {
            AsyncNode::with_state(Vec::<String>::new(), |node: Node<Msg>, log| async move {
                node.disk().create("log").expect("created");
                let op = DiskOp::Append { path: "log".into(), data: b"hello".to_vec() };
                let appended = node.disk_op(op).await;
                let synced = node.disk_op(DiskOp::Sync { path: "log".into() }).await;
                let length = node.disk().length_bytes("log");
                log.borrow_mut().push(format!("{appended:?} {synced:?} {length:?} {}", node.now()));
            })
        })
        .build();
    world.run_for(ms(20));
    let node = world.process::<AsyncNode<Msg, Vec<String>>>(N0).expect("async node");
    let expected = format!(
        "{:?} {:?} Ok(5) 0.008000000",
        Ok::<_, ()>(DiskOutput::AppendedAt { offset_bytes: 0 }),
        Ok::<_, ()>(DiskOutput::Done)
    );
    assert_eq!(*node.state(), [expected]);
}

// Proves `exit` in a task ends the node's process: no task runs again, nothing more of the
// callback takes effect, and the node is down with its exit code.
#[test]
fn exit_in_a_task_ends_the_process() {
    let mut world = World::<Msg>::builder(1)
        .link_default(fixed(1))
        .record(true)
        .endpoints(1)
        .process("n1", |_| {
            AsyncNode::new(|node: Node<Msg>| async move {
                let other = node.clone();
                let _other = node.spawn("other", async move {
                    other.send(N0, Msg::Note(2));
                });
                node.exit(3);
                node.send(N0, Msg::Note(1));
            })
        })
        .build();
    world.run_for(ms(10));
    assert_eq!(world.down_reason(N1), Some(&orrery_sim::DownReason::Exited(3)));
    assert!(world.endpoint(N0).drain().is_empty());
}
