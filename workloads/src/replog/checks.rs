//! replog's checks, as predicates over the world. The invariants run after every event, so
//! each keeps a little state between calls (in a `RefCell`: checks are `Fn`) to stay cheap:
//! what was already compared, the highest commit point seen, when each node last changed.

use std::cell::{Cell, RefCell};

use orrery_sim::{Duration, Instant, NodeId, NodeStatus, World};

use super::message::Message;
use super::replica::{Replica, Role};

type Check = Box<dyn Fn(&World<Message>) -> Result<(), String>>;

/// What `logs_agree` remembers between events.
#[derive(Default)]
struct Agreement {
    /// The first committed copy of each sequence (index = sequence - 1) and who held it.
    reference: Vec<(NodeId, Vec<u8>)>,
    /// Per node, the sequence up to which its log was compared.
    compared: Vec<u64>,
}

/// `logs_agree`: no two nodes treat different bytes as final at the same sequence. Each
/// node's newly committed entries are compared with the first committed copy seen of that
/// sequence; committed entries never change (the log asserts it), so nothing is compared twice.
pub fn logs_agree() -> Check {
    let state: RefCell<Agreement> = RefCell::default();
    Box::new(move |world| {
        let Agreement { reference, compared } = &mut *state.borrow_mut();
        compared.resize(world.n_nodes(), 0);
        for (node, replica) in world.processes_of::<Replica>() {
            let log = replica.log();
            let done = &mut compared[node.index()];
            *done = (*done).min(log.commit());
            for seq in *done + 1..=log.commit() {
                let Some(entry) = log.entry(seq) else { break };
                match reference.get(seq as usize - 1) {
                    None => reference.push((node, entry.bytes.clone())),
                    Some((first, bytes)) if *bytes != entry.bytes => {
                        return Err(format!(
                            "sequence {seq} differs: {first} holds {:?}, {node} holds {:?}",
                            String::from_utf8_lossy(bytes),
                            String::from_utf8_lossy(&entry.bytes),
                        ));
                    }
                    Some(_) => {}
                }
            }
            *done = log.commit();
        }
        Ok(())
    })
}

/// `tail_monotonic`: a node's committed tail never moves backwards.
pub fn tail_monotonic() -> Check {
    let highest: RefCell<Vec<u64>> = RefCell::default();
    Box::new(move |world| {
        let mut highest = highest.borrow_mut();
        highest.resize(world.n_nodes(), 0);
        for (node, replica) in world.processes_of::<Replica>() {
            let commit = replica.log().commit();
            let high = &mut highest[node.index()];
            if commit < *high {
                return Err(format!("{node}'s committed tail moved back from {high} to {commit}"));
            }
            *high = commit;
        }
        Ok(())
    })
}

/// What a node looks like to the settling clock: its component (as a bit set; 0 when down
/// or paused), role, epoch and leader. Any change restarts the clock.
type Signature = (u64, Option<(Role, u64, Option<NodeId>)>);

/// `one_leader_per_component`: once a connected component (from the network's two-way
/// reachability; see `Network::components`) and every member's role, epoch and leader have
/// stayed unchanged for `settle`, the component has at most one leader. Transient overlaps
/// while a deposed leader has not yet heard of its successor are elections settling.
pub fn one_leader_per_component(settle: Duration) -> Check {
    let state: RefCell<Vec<(Signature, Instant)>> = RefCell::default();
    Box::new(move |world| {
        let now = world.now();
        let mut state = state.borrow_mut();
        state.resize(world.n_nodes(), ((u64::MAX, None), now));
        let components = world.network().components(|node| world.status(node) == NodeStatus::Up);
        let mut signatures = vec![(0, None); world.n_nodes()];
        for members in &components {
            let mask = members.iter().fold(0u64, |mask, node| mask | 1 << (node.0 % 64));
            for &node in members {
                let view =
                    world.process::<Replica>(node).map(|r| (r.role(), r.epoch(), r.leader()));
                signatures[node.index()] = (mask, view);
            }
        }
        for (node, signature) in signatures.into_iter().enumerate() {
            if state[node].0 != signature {
                state[node] = (signature, now);
            }
        }
        for members in &components {
            let changed = members.iter().map(|n| state[n.index()].1).max().unwrap_or(now);
            let leaders: Vec<String> = members
                .iter()
                .filter_map(|&node| world.process::<Replica>(node).map(|r| (node, r)))
                .filter(|(_, replica)| replica.role() == Role::Leader)
                .map(|(node, replica)| format!("{node} (epoch {})", replica.epoch()))
                .collect();
            if leaders.len() > 1 && now.saturating_since(changed) >= settle {
                let list: Vec<String> = members.iter().map(|n| n.to_string()).collect();
                return Err(format!(
                    "component {{{}}} has leaders {} after {} without change",
                    list.join(","),
                    leaders.join(" and "),
                    now.saturating_since(changed),
                ));
            }
        }
        Ok(())
    })
}

/// `converges` (liveness): every node runs, follows one leader in that leader's epoch, and
/// has committed everything any node had committed when the check first ran (the heal).
pub fn converges() -> Check {
    let at_heal: Cell<Option<u64>> = Cell::new(None);
    Box::new(move |world| {
        let replicas: Vec<(NodeId, &Replica)> = world.processes_of::<Replica>().collect();
        let highest = replicas.iter().map(|(_, r)| r.log().commit()).max().unwrap_or(0);
        let target = at_heal.get().unwrap_or(highest);
        at_heal.set(Some(target));
        let leaders: Vec<&(NodeId, &Replica)> =
            replicas.iter().filter(|(_, r)| r.role() == Role::Leader).collect();
        let [(leader, leading)] = leaders.as_slice() else {
            let list: Vec<String> = leaders.iter().map(|(n, _)| n.to_string()).collect();
            return Err(format!("{} leaders: [{}]", leaders.len(), list.join(", ")));
        };
        if replicas.len() < world.n_nodes() {
            return Err(format!("only {} of {} nodes run", replicas.len(), world.n_nodes()));
        }
        for (node, replica) in &replicas {
            if replica.leader() != Some(*leader) || replica.epoch() != leading.epoch() {
                return Err(format!(
                    "{node} follows {:?} in epoch {}, not {leader} in epoch {}",
                    replica.leader(),
                    replica.epoch(),
                    leading.epoch()
                ));
            }
            if replica.log().commit() < target {
                return Err(format!(
                    "{node} has committed {} of the {target} entries committed at heal",
                    replica.log().commit()
                ));
            }
        }
        Ok(())
    })
}
