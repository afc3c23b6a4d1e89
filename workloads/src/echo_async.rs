//! `echo-async`: the `echo` workload re-expressed as async processes (`orrery_sim::task`),
//! with the same messages, parameters, observations, checks and planted bug, so both styles
//! answer to the same scenarios and sweeps.
//!
//! - A server is one loop: receive, echo (with the planted bug, corrupt every 50th reply).
//! - A client is two tasks: the main task sleeps `interval`, then sends a request to a random
//!   server; a spawned `replies` task receives the replies. Both observe what they sent and
//!   accepted as `echo`'s client does, and the client draws from its stream in the same order
//!   and at the same times, so both styles send the same requests.
//! - The checks are `echo`'s own: `replies_match` over the observations, `clients_progress`
//!   over each client's last reply, read through `AsyncNode::state`.

use std::cell::RefCell;
use std::rc::Rc;

use orrery_sim::task::{AsyncNode, Node};
use orrery_sim::workload::WorkloadDef;
use orrery_sim::{Duration, Instant, NodeId};

use crate::echo::{
    clients_heard_since, echo_fields, first_request_id, replies_match, EchoParams, Message,
    CLIENTS_PROGRESS, REPLIES_MATCH,
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

/// Sends a request to a random server every `interval`; a spawned task takes the replies
/// and notes when the last one came (`last_reply_at`, on the clock every node shares).
pub async fn client(
    node: Node<Message>,
    last_reply_at: Rc<RefCell<Option<Instant>>>,
    servers: Vec<NodeId>,
    interval: Duration,
) {
    let replies = node.clone();
    let _replies = node.spawn("replies", async move {
        loop {
            let (from, message) = replies.recv().await;
            if let Message::Reply { id, value } = message {
                replies.observe("echo", &echo_fields(id, from, value));
                *last_reply_at.borrow_mut() = Some(replies.true_now());
            }
        }
    });
    let mut next_id = first_request_id(node.incarnation());
    loop {
        node.sleep(interval).await;
        if let Some(server) = node.with_rng(|rng| rng.pick(&servers).copied()) {
            let (id, value) = (next_id, node.with_rng(|rng| rng.next_u64() >> 16));
            next_id += 1;
            node.observe("echo", &echo_fields(id, server, value));
            node.send(server, Message::Request { id, value });
        }
    }
}

/// A client node's process: the time of its last reply is the state checks read.
pub type ClientNode = AsyncNode<Message, Option<Instant>>;

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
        AsyncNode::with_state(None, move |node, last_reply_at| {
            client(node, last_reply_at, servers, interval)
        })
    })
    .agreement("replies_match", REPLIES_MATCH, replies_match())
    .liveness("clients_progress", CLIENTS_PROGRESS, |run| {
        let clients = run.world.processes_of::<ClientNode>();
        clients_heard_since(clients.map(|(node, c)| (node, *c.state())), run.heal_at)
    })
}
