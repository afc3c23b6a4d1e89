//! `SubprocessConfig`: the bounds of a child node's conversation with the world. Every wait
//! on a child is bounded by wall-clock time (the only wall-clock reads a run with child
//! nodes makes, and only to give up on a child), and every buffer by size.

/// Limits of one child node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubprocessConfig {
    /// Wall-clock time a child has to finish one step (from the event written to its
    /// `done`); past it the node ends with `step_timeout`.
    pub step_timeout: std::time::Duration,
    /// Wall-clock time given to a child whose stdout closed to exit, so its status can be
    /// reported (`exited(code)`, `signal(n)`); a child still running then ends with
    /// `transport_closed`.
    pub exit_grace: std::time::Duration,
    /// The longest frame the world accepts from a child; a longer one ends the node with a
    /// `protocol_error`.
    pub frame_max_bytes: u32,
    /// A line of the child's stderr is cut to this many bytes in the trace.
    pub stderr_line_bytes_max: usize,
    /// At most this many stderr lines per step reach the trace; the rest are counted.
    pub stderr_lines_per_step_max: usize,
    /// A step with more effects than this ends the node with a `protocol_error` (a child
    /// in a loop must not flood the world's queue before its step times out).
    pub effects_per_step_max: u64,
}

impl Default for SubprocessConfig {
    fn default() -> Self {
        SubprocessConfig {
            step_timeout: std::time::Duration::from_secs(10),
            exit_grace: std::time::Duration::from_millis(500),
            frame_max_bytes: 16 << 20,
            stderr_line_bytes_max: 1024,
            stderr_lines_per_step_max: 64,
            effects_per_step_max: 1_000_000,
        }
    }
}
