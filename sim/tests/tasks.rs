//! Async processes (`orrery_sim::task`): tasks in one world with callback processes, their
//! lifecycle through crashes, pauses and restarts, deterministic waiting, the `futures`
//! crate's channels and combinators inside tasks, and the misuses the executor detects.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use futures::channel::{mpsc, oneshot};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use orrery_sim::disk::{DiskConfig, DiskOp, DiskOutput};
use orrery_sim::task::{AsyncNode, Node, POLLS_PER_CALLBACK_MAX};
use orrery_sim::trace::Record;
// `task_backing.rs` runs the same node code on a second backing.
#[allow(dead_code)]
#[path = "common/async_pingpong.rs"]
mod pingpong;

use pingpong::{ping_client, pong_server, Msg};

use orrery_sim::{
    ms, Context, Instant, Latency, LinkConfig, NodeApi, NodeId, Process, Storage, World,
};

const N0: NodeId = NodeId(0);
const N1: NodeId = NodeId(1);

fn fixed(latency_ms: u64) -> LinkConfig {
    LinkConfig { latency: Latency::Fixed(ms(latency_ms)), ..LinkConfig::default() }
}

fn at(millis: u64) -> Instant {
    Instant::ZERO + ms(millis)
}

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

/// The user records of `kind` as (time, node, first field's value).
fn records(world: &World<Msg>, kind: &str) -> Vec<(Instant, Option<NodeId>, String)> {
    world
        .trace()
        .records()
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r: &Record| {
            let value = r.fields.first().map_or(String::new(), |(_, v)| v.to_string());
            (r.time, r.node, value)
        })
        .collect()
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
    let timers: Vec<Instant> =
        world.trace().records().iter().filter(|r| r.kind == "timer").map(|r| r.time).collect();
    assert_eq!(timers, [at(260)], "only the new incarnation's timer fired");
    assert_eq!(records(&world, "woke"), [(at(260), Some(N0), "1".to_string())]);
    assert_eq!(
        records(&world, "sleeping"),
        [(at(0), Some(N0), "0".to_string()), (at(60), Some(N0), "1".to_string())]
    );
    assert_eq!(dropped.get(), 2, "the finished main task dropped its guard too");
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
    let timers: Vec<Instant> =
        world.trace().records().iter().filter(|r| r.kind == "timer").map(|r| r.time).collect();
    assert_eq!(timers, [at(3)], "the aborted task's timer was cancelled");
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

/// Three tasks wait on oneshots; main fires them in `order`. Nothing else differs.
fn wake_order_world(order: [usize; 3]) -> World<Msg> {
    World::<Msg>::builder(1)
        .process("n0", move |_| {
            AsyncNode::new(move |node: Node<Msg>| async move {
                let mut senders = Vec::new();
                for _ in 0..3 {
                    let (sender, receiver) = oneshot::channel::<()>();
                    senders.push(Some(sender));
                    let _waiter = node.spawn("waiter", async move {
                        let _ = receiver.await;
                        futures::future::pending::<()>().await;
                    });
                }
                node.sleep(ms(1)).await;
                for i in order {
                    if let Some(sender) = senders[i].take() {
                        let _ = sender.send(());
                    }
                }
                futures::future::pending::<()>().await;
            })
        })
        .build()
}

// Proves the fingerprint covers the polling order: two runs whose effects and records are
// identical but whose tasks are polled in different orders have different fingerprints.
#[test]
fn the_polling_order_is_in_the_fingerprint() {
    let fingerprint = |order| {
        let mut world = wake_order_world(order);
        world.trace_mut().enable_recording();
        world.run_for(ms(5));
        (world.fingerprint(), world.trace().render())
    };
    let (forward, forward_trace) = fingerprint([0, 1, 2]);
    let (backward, backward_trace) = fingerprint([2, 1, 0]);
    assert_eq!(forward_trace, backward_trace, "the same trace lines");
    assert_ne!(forward, backward, "a different polling order");
    assert_eq!(forward, fingerprint([0, 1, 2]).0);
}

// Proves a task that never waits on the world is reported as a hang naming the node and the
// task (a trace record, then a panic), instead of spinning until the wall-clock watchdog.
#[test]
fn a_task_that_never_yields_is_a_hang_naming_the_node() {
    let mut world = World::<Msg>::builder(1)
        .record(true)
        .endpoints(1)
        .process("n1", |_| {
            AsyncNode::new(|node: Node<Msg>| async move {
                node.sleep(ms(2)).await;
                let spinner = node.clone();
                let _spinner = node.spawn("spinner", async move {
                    loop {
                        spinner.yield_now().await;
                    }
                });
            })
        })
        .build();
    let panic = catch_unwind(AssertUnwindSafe(|| world.run_for(ms(10)))).expect_err("a hang");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message
            .starts_with("hang: n1 polled its tasks 1000000 times in one callback at 0.002000000"),
        "{message}"
    );
    let hang = records(&world, "task_hang");
    assert_eq!(hang, [(at(2), Some(N1), "1".to_string())]);
    assert!(message.contains("was about to poll task 1 `spinner` again"), "{message}");
    assert_eq!(POLLS_PER_CALLBACK_MAX, 1_000_000);
}

// Proves a mailbox is bounded: a message that finds it full is dropped and traced.
#[test]
fn the_mailbox_is_bounded() {
    let mut world = World::<Msg>::builder(1)
        .link_default(fixed(1))
        .record(true)
        .endpoints(1)
        .process("n1", |_| {
            AsyncNode::new(|node: Node<Msg>| async move {
                node.sleep(ms(10)).await;
                while let Some((_, message)) = node.try_recv() {
                    node.record("got", &[("message", format!("{message:?}").as_str().into())]);
                }
            })
            .mailbox_capacity(2)
        })
        .build();
    for n in 0..3 {
        world.endpoint(N0).send(N1, Msg::Note(n)).expect("sent");
    }
    world.run_for(ms(20));
    let got: Vec<String> = records(&world, "got").into_iter().map(|(_, _, m)| m).collect();
    assert_eq!(got, ["Note(0)", "Note(1)"]);
    assert_eq!(records(&world, "mailbox_full"), [(at(1), Some(N1), "n0".to_string())]);
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

// Proves using a node's handle outside its callbacks fails loudly and says why.
#[test]
fn a_handle_used_outside_a_callback_says_so() {
    let stolen: Rc<RefCell<Option<Node<Msg>>>> = Rc::default();
    let thief = stolen.clone();
    let mut world = World::<Msg>::builder(1)
        .process("n0", move |_| {
            let thief = thief.clone();
            AsyncNode::new(move |node: Node<Msg>| async move {
                *thief.borrow_mut() = Some(node);
            })
        })
        .build();
    world.run_for(ms(1));
    let node = stolen.borrow().clone().expect("the handle escaped");
    let panic = catch_unwind(AssertUnwindSafe(|| node.now())).expect_err("no authority");
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("outside its node's callbacks"), "{message}");
}

/// A future that hands its waker to `slot` and never finishes.
struct StealWaker(Rc<RefCell<Option<std::task::Waker>>>);
impl std::future::Future for StealWaker {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        *self.0.borrow_mut() = Some(cx.waker().clone());
        std::task::Poll::Pending
    }
}

fn waker_world(slot: Rc<RefCell<Option<std::task::Waker>>>) -> World<Msg> {
    World::<Msg>::builder(1)
        .endpoints(2)
        .process("n2", move |_| {
            let slot = slot.clone();
            AsyncNode::new(move |_node: Node<Msg>| StealWaker(slot))
        })
        .build()
}

// Proves a waker fired from another thread is a clear panic naming the node (debug builds).
#[cfg(debug_assertions)]
#[test]
fn a_waker_fired_from_another_thread_panics() {
    let slot = Rc::default();
    let mut world = waker_world(Rc::clone(&slot));
    world.run_for(ms(1));
    let waker = slot.borrow_mut().take().expect("the task waits");
    let panic = std::thread::spawn(move || waker.wake()).join().expect_err("a panic");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.starts_with("a waker of a task of n2 fired from another thread"), "{message}");
}

// Proves a waker fired between callbacks (from outside the world on its own thread) is a
// clear panic naming the node (debug builds).
#[cfg(debug_assertions)]
#[test]
fn a_waker_fired_outside_the_callbacks_panics() {
    let slot = Rc::default();
    let mut world = waker_world(Rc::clone(&slot));
    world.run_for(ms(1));
    let waker = slot.borrow_mut().take().expect("the task waits");
    let panic = catch_unwind(AssertUnwindSafe(|| waker.wake_by_ref())).expect_err("a panic");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.starts_with("a waker of a task of n2 fired outside the node's callbacks"));
    drop(world);
    // Once the node is gone, its wakers do nothing.
    waker.wake();
}

// Proves a task's random draws come from its node's own stream: two nodes draw differently,
// a seed replays its draws, and an async node draws what a callback node draws.
#[test]
fn tasks_draw_from_their_nodes_streams() {
    let draws = |seed| {
        let mut world = World::<Msg>::builder(seed)
            .processes(2, |_| {
                AsyncNode::with_state(0u64, |node: Node<Msg>, out| async move {
                    *out.borrow_mut() = node.with_rng(|rng| rng.next_u64());
                })
            })
            .build();
        world.run_for(ms(1));
        let draw = |n| *world.process::<AsyncNode<Msg, u64>>(n).expect("async").state();
        (draw(N0), draw(N1))
    };
    let (a, b) = draws(1);
    assert_ne!(a, b);
    assert_eq!(draws(1), (a, b));
    assert_ne!(draws(2), (a, b));
    // The same draw a callback process gets from the same stream.
    struct Draw(u64);
    impl Process<Msg> for Draw {
        fn on_start(&mut self, ctx: &mut Context<Msg>) {
            self.0 = ctx.rng().next_u64();
        }
        fn on_message(&mut self, _: &mut Context<Msg>, _: NodeId, _: Msg) {}
    }
    let mut world = World::<Msg>::builder(1).processes(1, |_| Draw(0)).build();
    world.run_for(ms(1));
    assert_eq!(world.process::<Draw>(N0).map(|d| d.0), Some(a));
}

// Proves why `futures::select!` is forbidden in simulated code (clippy.toml): with both
// branches ready it picks from a thread-local generator, so two runs of the same seed on one
// thread pick differently, while `select_biased!` always picks the branch written first.
#[test]
#[allow(clippy::disallowed_macros)]
fn futures_select_is_not_deterministic_and_select_biased_is() {
    let picks = |biased: bool| {
        let mut world = World::<Msg>::builder(1)
            .process("n0", move |_| {
                AsyncNode::with_state(Vec::<u8>::new(), move |_node: Node<Msg>, picks| async move {
                    for _ in 0..64 {
                        let mut a = futures::future::ready(0u8);
                        let mut b = futures::future::ready(1u8);
                        let pick = match biased {
                            true => futures::select_biased! { x = a => x, y = b => y },
                            false => futures::select! { x = a => x, y = b => y },
                        };
                        picks.borrow_mut().push(pick);
                    }
                })
            })
            .build();
        world.run_for(ms(1));
        let node = world.process::<AsyncNode<Msg, Vec<u8>>>(N0).expect("async node");
        let picks = node.state().clone();
        picks
    };
    assert_ne!(picks(false), picks(false), "the same seed, two different runs");
    assert_eq!(picks(true), vec![0; 64]);
}
