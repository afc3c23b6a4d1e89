//! `echo-async`: the `echo` workload re-expressed as async processes (`orrery_sim::task`),
//! with the same messages, parameters, checks and planted bug, so both styles answer to the
//! same scenarios and sweeps.
//!
//! - A server is one loop: receive, echo (with the planted bug, corrupt every 50th reply).
//! - A client is two tasks: the main task sleeps `interval`, then sends a request to a random
//!   server; a spawned `replies` task receives replies and checks them against the ledger
//!   they share. The client draws from its stream in the same order and at the same times as
//!   `echo`'s callback client, so both send the same requests.
//! - Checks read each client's ledger through `AsyncNode::state`, with `echo`'s own code.

use std::cell::RefCell;
use std::rc::Rc;

use orrery_sim::task::{AsyncNode, Node};
use orrery_sim::workload::{Check, WorkloadDef};
use orrery_sim::{Duration, NodeId};

use crate::echo::{
    clients_heard_since, first_mismatch, EchoParams, Ledger, Message, CLIENTS_PROGRESS,
    REPLIES_MATCH,
};

/// Echoes requests; with the planted bug, corrupts every 50th reply.
pub async fn server(node: Node<Message>, corrupt_replies: bool) {
    let mut replies: u64 = 0;
    loop {
        let (from, message) = node.recv().await;
        if let Message::Request { id, value } = message {
            replies += 1;
            let corrupt = corrupt_replies && replies.is_multiple_of(50);
            node.send(from, Message::Reply { id, value: value + u64::from(corrupt) });
        }
    }
}

/// Sends a request to a random server every `interval`; a spawned task checks the replies.
pub async fn client(
    node: Node<Message>,
    ledger: Rc<RefCell<Ledger>>,
    servers: Vec<NodeId>,
    interval: Duration,
) {
    let (replies, book) = (node.clone(), ledger.clone());
    let _replies = node.spawn("replies", async move {
        loop {
            let (from, message) = replies.recv().await;
            if let Message::Reply { id, value } = message {
                let (me, now) = (replies.id(), replies.true_now());
                book.borrow_mut().accept(me, from, id, value, now);
            }
        }
    });
    loop {
        node.sleep(interval).await;
        if let Some(server) = node.with_rng(|rng| rng.pick(&servers).copied()) {
            let value = node.with_rng(|rng| rng.next_u64() >> 16);
            let id = ledger.borrow_mut().issue(server, value);
            node.send(server, Message::Request { id, value });
        }
    }
}

/// A client node's process: its ledger is the state checks read.
pub type ClientNode = AsyncNode<Message, Ledger>;

/// The `echo-async` workload.
pub fn echo_async() -> WorkloadDef<Message, EchoParams> {
    WorkloadDef::<Message, EchoParams>::new(
        "echo-async",
        "echo as async processes: clients send requests; servers echo them",
    )
    .requires_role("server")
    .role("server", |init| {
        let corrupt_replies = init.params.corrupt_replies;
        AsyncNode::new(move |node| server(node, corrupt_replies))
    })
    .role("*", |init| {
        let (servers, interval) = (init.nodes_with_role("server"), init.params.interval);
        AsyncNode::with_state(Ledger::default(), move |node, ledger| {
            client(node, ledger, servers, interval)
        })
    })
    .check(Check::invariant("replies_match", REPLIES_MATCH, |run| {
        first_mismatch(run.world.processes_of::<ClientNode>().map(|(_, c)| c.state()))
    }))
    .check(Check::liveness("clients_progress", CLIENTS_PROGRESS, |run| {
        let ledgers = run.world.processes_of::<ClientNode>().map(|(node, c)| (node, c.state()));
        clients_heard_since(ledgers, run.heal_at)
    }))
}
