//! Ctrl-C (SIGINT) and SIGTERM during `run`: the first one asks the sweep to stop (it winds
//! down within a bounded time, writes what it has and exits 130 or 143); a second one ends the
//! process at once with the same code.
//!
//! A signal handler can only touch process-wide state, so the signal received is one static
//! atomic, written by the handler and read by the sweep's loop. It never reaches a run.

use std::sync::atomic::{AtomicI32, Ordering};

/// The first stop signal received, 0 if none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Installs the handlers (once per process; calling it again is harmless).
pub(super) fn install() {
    #[cfg(unix)]
    unix::install();
}

/// The stop signal received so far, if any.
pub(super) fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// A signal's name, for the summary: `SIGINT`.
pub(super) fn name(signal: i32) -> String {
    match signal {
        2 => "SIGINT".to_string(),
        15 => "SIGTERM".to_string(),
        other => format!("signal {other}"),
    }
}

/// The exit code of a run stopped by `signal`: 128 + its number, as shells report it.
pub(super) fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(255)
}

#[cfg(unix)]
mod unix {
    use std::sync::atomic::Ordering;

    use super::RECEIVED;

    extern "C" fn on_signal(signal: libc::c_int) {
        // Only async-signal-safe calls here: an atomic swap, and `_exit` on the second signal.
        if RECEIVED.swap(signal, Ordering::SeqCst) != 0 {
            // SAFETY: `_exit` is async-signal-safe and ends the process without unwinding.
            unsafe { libc::_exit(128 + signal) };
        }
    }

    pub(super) fn install() {
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed `sigaction` is a valid starting value; the handler only does
            // async-signal-safe work; `sigaction` is given valid pointers.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    }
}
