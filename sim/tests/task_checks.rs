//! What the async executor (`orrery_sim::task`) guarantees about order and what it detects:
//! the polling order is in the fingerprint, tasks draw from their node's own stream,
//! `futures::select!` is shown nondeterministic (why it is forbidden), and misuse fails loudly
//! naming the node: a task that never waits (a hang), a full mailbox, a handle used outside
//! the node's callbacks, a waker fired from another thread or between callbacks.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use futures::channel::oneshot;
use orrery_sim::task::{AsyncNode, Node, POLLS_PER_CALLBACK_MAX};
#[allow(dead_code)]
#[path = "common/async_pingpong.rs"]
mod pingpong;
#[allow(dead_code)]
#[path = "common/task_world.rs"]
mod task_world;

use pingpong::Msg;
use task_world::{at, fixed, records, N0, N1};

use orrery_sim::{ms, Context, NodeApi, NodeId, Process, World};

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
