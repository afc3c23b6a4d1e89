//! `ChildEnd`: why a child node stopped talking, as the stable reason its node aborts with.
//! The text is part of the trace format (`abort reason=exited(3)`), so it never changes.

use std::fmt;

/// How a child's conversation with the world ended, other than by the protocol's own
/// `exit` or `abort`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildEnd {
    /// The command could not be started (`spawn_failed: <why>`).
    SpawnFailed(String),
    /// The child exited with this code (`exited(3)`).
    Exited(i32),
    /// The child was killed by this signal (`signal(9)`).
    Signal(i32),
    /// The child's stdout (or stdin) closed while it kept running (`transport_closed`).
    TransportClosed,
    /// The child wrote something that is not the protocol (`protocol_error: <what>`).
    ProtocolError(String),
    /// The child did not finish a step within `step_timeout` (`step_timeout`).
    StepTimeout,
}

impl fmt::Display for ChildEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildEnd::SpawnFailed(why) => write!(f, "spawn_failed: {why}"),
            ChildEnd::Exited(code) => write!(f, "exited({code})"),
            ChildEnd::Signal(signal) => write!(f, "signal({signal})"),
            ChildEnd::TransportClosed => f.write_str("transport_closed"),
            ChildEnd::ProtocolError(what) => write!(f, "protocol_error: {what}"),
            ChildEnd::StepTimeout => f.write_str("step_timeout"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the reasons read exactly as documented: they are part of the trace format.
    #[test]
    fn reasons_are_stable_text() {
        let texts: Vec<String> = [
            ChildEnd::SpawnFailed("no such file".into()),
            ChildEnd::Exited(3),
            ChildEnd::Signal(9),
            ChildEnd::TransportClosed,
            ChildEnd::ProtocolError("unknown effect `x`".into()),
            ChildEnd::StepTimeout,
        ]
        .iter()
        .map(ChildEnd::to_string)
        .collect();
        assert_eq!(
            texts,
            [
                "spawn_failed: no such file",
                "exited(3)",
                "signal(9)",
                "transport_closed",
                "protocol_error: unknown effect `x`",
                "step_timeout"
            ]
        );
    }
}
