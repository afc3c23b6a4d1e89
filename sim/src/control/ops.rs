//! The one registry of operation codes: every operation's code, name and one line on what it
//! does. A frame's 16-bit `code` word carries the operation in its low byte and the flags in
//! its high byte (`frame::Flags`), so no operation code may use a flag bit; the test below
//! holds the registry to that, and to unique codes and names.

/// Every operation of the control protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Hello,
    Ping,
    Version,
    Start,
    Stop,
    Health,
    WaitHealthy,
    Status,
    StatusStream,
    Pause,
    Resume,
    Restart,
    AddNode,
    RemoveNode,
    Step,
    RunUntil,
    Partition,
    Heal,
    SetLink,
    ClockJump,
    DiskFault,
    SnapshotSave,
    SnapshotLoad,
    SnapshotRemove,
    SnapshotList,
    Shutdown,
}

/// One row of the registry.
#[derive(Debug, Clone, Copy)]
pub struct OpInfo {
    pub op: Op,
    /// The code on the wire (low byte of the frame's code word).
    pub code: u16,
    /// The name `orrery ctl` and the clients use.
    pub name: &'static str,
    /// What it does, for `orrery ctl --help` and the protocol document.
    pub doc: &'static str,
}

const fn row(op: Op, code: u16, name: &'static str, doc: &'static str) -> OpInfo {
    OpInfo { op, code, name, doc }
}

/// The registry. Codes are permanent: a retired operation's code is never reused.
pub const REGISTRY: &[OpInfo] = &[
    row(Op::Hello, 0x01, "hello", "the first frame: the client's protocol version and token"),
    row(Op::Ping, 0x02, "ping", "server pid, world id, seed, virtual time"),
    row(Op::Version, 0x03, "version", "protocol versions, software version, operations known"),
    row(Op::Start, 0x04, "start", "starts the run: the scenario's fault schedule is armed"),
    row(Op::Stop, 0x05, "stop", "ends the run: final status and every check's verdict"),
    row(Op::Health, 0x06, "health", "whether every node is up and every liveness check holds"),
    row(Op::WaitHealthy, 0x07, "wait-healthy", "runs until healthy or the budget is spent"),
    row(Op::Status, 0x08, "status", "time, events, fingerprint, nodes, counters"),
    row(Op::StatusStream, 0x09, "status-stream", "runs, sending a status every N events or T"),
    row(Op::Pause, 0x0a, "pause", "freezes a node: timers and inbound held"),
    row(Op::Resume, 0x0b, "resume", "unfreezes a node"),
    row(Op::Restart, 0x0c, "restart", "crashes and boots a node (only its disk survives)"),
    row(Op::AddNode, 0x0d, "add-node", "adds a node (back) to the cluster"),
    row(Op::RemoveNode, 0x0e, "remove-node", "removes a node from the cluster"),
    row(Op::Step, 0x10, "step", "processes N events"),
    row(Op::RunUntil, 0x11, "run-until", "runs until a virtual time, or until a check holds"),
    row(Op::Partition, 0x12, "partition", "splits the network into groups"),
    row(Op::Heal, 0x13, "heal", "ends any partition"),
    row(Op::SetLink, 0x14, "set-link", "one directed link's latency and loss"),
    row(Op::ClockJump, 0x15, "clock-jump", "a node's clock offset and drift"),
    row(Op::DiskFault, 0x16, "disk-fault", "a node's disk error rates, or a crash point"),
    row(Op::SnapshotSave, 0x20, "snapshot-save", "saves the run's state under a name"),
    row(Op::SnapshotLoad, 0x21, "snapshot-load", "restores a saved state exactly"),
    row(Op::SnapshotRemove, 0x22, "snapshot-remove", "forgets a saved state"),
    row(Op::SnapshotList, 0x23, "snapshot-list", "every saved state"),
    row(Op::Shutdown, 0x30, "shutdown", "ends the server"),
];

impl Op {
    /// This operation's row.
    pub fn info(self) -> &'static OpInfo {
        REGISTRY
            .iter()
            .find(|info| info.op == self)
            .expect("every operation has a row in the registry (tested)")
    }

    /// The wire code.
    pub fn code(self) -> u16 {
        self.info().code
    }

    /// The name clients use.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The operation with this wire code, if this version knows it.
    pub fn from_code(code: u16) -> Option<Op> {
        REGISTRY.iter().find(|info| info.code == code).map(|info| info.op)
    }

    /// The operation with this name, if this version knows it.
    pub fn from_name(name: &str) -> Option<Op> {
        REGISTRY.iter().find(|info| info.name == name).map(|info| info.op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::frame::{Flags, OP_MASK};

    // Proves no operation code uses a flag bit, codes and names are unique and non-zero, and
    // every operation has exactly one row.
    #[test]
    fn registry_codes_are_unique_and_never_collide_with_flags() {
        let mut codes = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        let mut ops = std::collections::BTreeSet::new();
        for info in REGISTRY {
            assert_ne!(info.code, 0, "{}: code 0 is reserved", info.name);
            assert_eq!(
                info.code & !OP_MASK,
                0,
                "{}: code {:#06x} uses bits outside the op byte",
                info.name,
                info.code
            );
            assert_eq!(
                info.code & Flags::ALL.bits(),
                0,
                "{}: code collides with a flag",
                info.name
            );
            assert!(codes.insert(info.code), "{}: code {:#04x} repeated", info.name, info.code);
            assert!(names.insert(info.name), "{}: name repeated", info.name);
            assert!(ops.insert(info.op), "{:?}: two rows", info.op);
            assert_eq!(Op::from_code(info.code), Some(info.op));
            assert_eq!(Op::from_name(info.name), Some(info.op));
        }
        // `Shutdown` is the last variant: every variant before it must have been counted.
        assert_eq!(ops.len(), Op::Shutdown as usize + 1, "an operation lacks a row");
    }
}
