//! Async node code shared by the tests that run it on the simulated world (`tasks.rs`) and on
//! a second, hand-driven backing (`task_backing.rs`): written once against `task::Node`.

use std::cell::RefCell;
use std::rc::Rc;

use orrery_sim::disk::DiskOp;
use orrery_sim::task::Node;
use orrery_sim::{ms, NodeId, Storage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Ping(u64),
    Pong(u64),
    Note(u64),
}

/// Echoes every ping as a pong, for ever.
pub async fn pong_server(node: Node<Msg>) {
    loop {
        let (from, message) = node.recv().await;
        if let Msg::Ping(n) = message {
            node.send(from, Msg::Pong(n));
        }
    }
}

/// Sends `rounds` pings to `server` one after the other, counting the pongs in `pongs`.
pub async fn ping_client(node: Node<Msg>, pongs: Rc<RefCell<u64>>, server: NodeId, rounds: u64) {
    for n in 0..rounds {
        node.send(server, Msg::Ping(n));
        let pong = node.recv_map(|_, m| match m {
            Msg::Pong(k) => Some(*k),
            _ => None,
        });
        assert_eq!(pong.await, n);
        *pongs.borrow_mut() += 1;
    }
}

/// Every 10 ms of its clock, asks `server` for a pong with a 5 ms deadline and appends the
/// outcome to a log file (submitted to the disk, awaited); keeps the outcomes in `log`.
pub async fn patient_client(node: Node<Msg>, log: Rc<RefCell<Vec<String>>>, server: NodeId) {
    node.disk().create("log").expect("a fresh disk");
    for n in 0..4 {
        node.sleep(ms(10)).await;
        node.send(server, Msg::Ping(n));
        let pong = node.recv_map(move |_, m| (*m == Msg::Pong(n)).then_some(n));
        let outcome = match node.timeout(ms(5), pong).await {
            Ok(n) => format!("pong {n} at {}", node.now()),
            Err(_) => format!("timeout {n} at {}", node.now()),
        };
        let op = DiskOp::Append { path: "log".into(), data: outcome.clone().into_bytes() };
        node.disk_op(op).await.expect("appended");
        log.borrow_mut().push(outcome);
    }
}
