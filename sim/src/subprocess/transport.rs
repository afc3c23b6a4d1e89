//! `Transport`: one child process and the three pipes to it, with every wait bounded. The
//! world writes frames to the child's stdin, reads frames from its stdout and lines from its
//! stderr in the same `poll`, and gives up on the child at a wall-clock deadline.
//!
//! The child runs in a process group of its own, so that killing it (SIGKILL, on a crash or
//! when the node's process is dropped) also kills whatever it started. How a child that
//! stopped talking ended is read without reaping it first (`waitid` with `WNOWAIT`), so the
//! group can still be killed safely: its id cannot be reused while the leader is a zombie.
//!
//! A write to a child that has gone fails with `EPIPE` only if SIGPIPE is ignored, as it is
//! in every Rust program (the standard library ignores it before `main`); a host that
//! restores the default action would be killed by a dying child instead.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant as WallInstant;

use super::cbor::Cbor;
use super::config::SubprocessConfig;
use super::effect::FromChild;
use super::ending::ChildEnd;
use super::event::ToChild;
use super::frame::{write_frame, FrameReader};
use super::stderr_log::StderrLog;

/// Bytes read from a pipe at a time.
const CHUNK_BYTES: usize = 64 * 1024;

/// Reads of stderr after a step at most (4 MiB): more than a pipe holds.
const DRAIN_CHUNKS_MAX: usize = 64;

/// The wall clock, only to bound waits on a child (never an input of the run).
fn wall_now() -> WallInstant {
    #[allow(clippy::disallowed_methods)] // tidy: allow (bounds a wait on a child only)
    WallInstant::now() // tidy: allow
}

/// A running child and its pipes.
pub struct Transport {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    stderr: Option<ChildStderr>,
    stdout_closed: bool,
    /// Whether the child was reaped (its pid, and so its group id, may be reused).
    reaped: bool,
    frames: FrameReader,
    stderr_log: StderrLog,
    config: SubprocessConfig,
    out: Vec<u8>,
    chunk: Vec<u8>,
}

impl Transport {
    /// Starts `command` (program, then arguments) with piped stdin, stdout and stderr.
    pub fn spawn(command: &[String], config: SubprocessConfig) -> Result<Transport, ChildEnd> {
        let Some((program, arguments)) = command.split_first() else {
            return Err(ChildEnd::SpawnFailed("the command is empty".to_string()));
        };
        let mut child = Command::new(program)
            .args(arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .die_with_parent()
            .spawn()
            .map_err(|error| ChildEnd::SpawnFailed(format!("{program}: {error}")))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ChildEnd::SpawnFailed(format!("{program}: no pipes")));
        };
        for fd in [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()] {
            set_nonblocking(fd);
        }
        Ok(Transport {
            child,
            stdin: Some(stdin),
            stdout,
            stderr: Some(stderr),
            stdout_closed: false,
            reaped: false,
            frames: FrameReader::new(config.frame_max_bytes),
            stderr_log: StderrLog::new(
                config.stderr_line_bytes_max,
                config.stderr_lines_per_step_max,
            ),
            config,
            out: Vec::new(),
            chunk: vec![0; CHUNK_BYTES],
        })
    }

    /// When a step starting now must be over.
    pub fn step_deadline(&self) -> WallInstant {
        wall_now() + self.config.step_timeout
    }

    /// Writes one message to the child, reading its output meanwhile so neither side can
    /// block the other.
    pub fn send(&mut self, message: &ToChild, deadline: WallInstant) -> Result<(), ChildEnd> {
        self.out.clear();
        write_frame(&mut self.out, &message.to_cbor().to_bytes())
            .map_err(|error| ChildEnd::ProtocolError(format!("an event too large: {error}")))?;
        let mut written = 0;
        while written < self.out.len() {
            let Some(stdin) = self.stdin.as_mut() else { return Err(self.closed()) };
            match stdin.write(&self.out[written..]) {
                Ok(0) => return Err(self.closed()),
                Ok(count) => written += count,
                Err(error) if error.kind() == ErrorKind::WouldBlock => self.pump(true, deadline)?,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(self.closed()),
            }
        }
        Ok(())
    }

    /// The child's next message.
    pub fn receive(&mut self, deadline: WallInstant) -> Result<FromChild, ChildEnd> {
        loop {
            match self.frames.next_frame() {
                Ok(Some(payload)) => {
                    let item = Cbor::decode(&payload)
                        .map_err(|error| ChildEnd::ProtocolError(format!("bad CBOR: {error}")))?;
                    return FromChild::from_cbor(&item)
                        .map_err(|error| ChildEnd::ProtocolError(error.0));
                }
                Ok(None) => {}
                Err(error) => return Err(ChildEnd::ProtocolError(error.to_string())),
            }
            if self.stdout_closed {
                return Err(self.closed());
            }
            self.pump(false, deadline)?;
        }
    }

    /// Reads what stderr holds now, without waiting: after a `done`, everything the child
    /// wrote to stderr during its step is in the pipe. At most `DRAIN_CHUNKS_MAX` reads, so a
    /// child that never stops writing cannot hold the world here.
    pub fn drain_stderr(&mut self) {
        for _ in 0..DRAIN_CHUNKS_MAX {
            if self.stderr.is_none() || !self.read_stderr() {
                return;
            }
        }
    }

    /// The stderr lines to trace and how many were dropped over the limit.
    pub fn stderr_lines(&mut self) -> (Vec<String>, u64) {
        self.stderr_log.take()
    }

    /// Waits until a pipe is ready (stdin writable if `want_write`, output readable) and
    /// reads what is readable.
    fn pump(&mut self, want_write: bool, deadline: WallInstant) -> Result<(), ChildEnd> {
        let now = wall_now();
        if now >= deadline {
            return Err(ChildEnd::StepTimeout);
        }
        let timeout_ms = (deadline - now).as_millis().clamp(1, i32::MAX as u128) as i32;
        let none = -1;
        // While the world waits to write, a child that writes without reading is read only
        // up to one frame ahead: what it wrote waits in its pipe, not in our memory.
        let read_ahead_max = self.config.frame_max_bytes as usize + CHUNK_BYTES;
        let reading_ahead = want_write && self.frames.buffered_bytes() > read_ahead_max;
        let read_stdout = !self.stdout_closed && !reading_ahead;
        let mut fds = [
            poll_fd(
                match (want_write, &self.stdin) {
                    (true, Some(stdin)) => stdin.as_raw_fd(),
                    _ => none,
                },
                libc::POLLOUT,
            ),
            poll_fd(if read_stdout { self.stdout.as_raw_fd() } else { none }, libc::POLLIN),
            poll_fd(self.stderr.as_ref().map_or(none, |e| e.as_raw_fd()), libc::POLLIN),
        ];
        // SAFETY: `fds` is a valid array of `pollfd` for the duration of the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if ready < 0 {
            return match std::io::Error::last_os_error().kind() {
                ErrorKind::Interrupted => Ok(()),
                _ => Err(ChildEnd::TransportClosed),
            };
        }
        if ready == 0 {
            return Err(ChildEnd::StepTimeout);
        }
        let readable =
            |fd: &libc::pollfd| fd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
        if readable(&fds[1]) {
            self.read_stdout();
        }
        if readable(&fds[2]) {
            self.read_stderr();
        }
        Ok(())
    }

    fn read_stdout(&mut self) {
        match self.stdout.read(&mut self.chunk) {
            Ok(0) => self.stdout_closed = true,
            Ok(count) => self.frames.feed(&self.chunk[..count]),
            Err(error)
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => self.stdout_closed = true,
        }
    }

    /// Reads once from stderr; false if nothing more is there now.
    fn read_stderr(&mut self) -> bool {
        let Some(stderr) = self.stderr.as_mut() else { return false };
        match stderr.read(&mut self.chunk) {
            Ok(0) => {
                self.stderr = None;
                self.stderr_log.finish();
                false
            }
            Ok(count) => {
                self.stderr_log.feed(&self.chunk[..count]);
                true
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => true,
            Err(error) if error.kind() == ErrorKind::WouldBlock => false,
            Err(_) => {
                self.stderr = None;
                false
            }
        }
    }

    /// The child stopped talking (stdout closed or stdin refused): how it ended, waiting up
    /// to `exit_grace` for it to exit, then reading the rest of its stderr.
    fn closed(&mut self) -> ChildEnd {
        let grace = wall_now() + self.config.exit_grace;
        let mut pause = std::time::Duration::from_micros(100);
        let end = loop {
            if let Some(end) = self.exit_status() {
                break end;
            }
            let now = wall_now();
            if now >= grace {
                break match self.frames.finish() {
                    Ok(()) => ChildEnd::TransportClosed,
                    Err(error) => ChildEnd::ProtocolError(error.to_string()),
                };
            }
            std::thread::sleep(pause.min(grace - now));
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
        };
        self.kill_group();
        while self.stderr.is_some() && wall_now() < grace {
            if !self.read_stderr() && self.stderr.is_some() {
                let _ = self.pump(false, grace);
            }
        }
        self.stderr_log.finish();
        end
    }

    /// How the child ended, if it has, leaving it unreaped.
    fn exit_status(&mut self) -> Option<ChildEnd> {
        if self.reaped {
            return None;
        }
        // SAFETY: `info` is a plain C struct filled by the call; zeroed is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let pid = self.child.id() as libc::id_t;
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: `info` is valid for writes; the pid is our own unreaped child.
        let result = unsafe { libc::waitid(libc::P_PID, pid, &mut info, flags) };
        // SAFETY: after a successful `waitid`, the pid and status fields are initialised.
        let (child_pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if result != 0 || child_pid == 0 {
            return None;
        }
        Some(match info.si_code {
            libc::CLD_EXITED => ChildEnd::Exited(status),
            _ => ChildEnd::Signal(status),
        })
    }

    /// Kills the child and everything in its process group, if it was not reaped yet.
    fn kill_group(&mut self) {
        if !self.reaped {
            // SAFETY: a plain syscall; the group id is the unreaped child's pid, which no
            // other process can hold.
            unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        }
    }
}

impl Drop for Transport {
    /// Tells the child the world is done with it, then kills and reaps it.
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            self.out.clear();
            if write_frame(&mut self.out, &ToChild::Shutdown.to_cbor().to_bytes()).is_ok() {
                let _ = stdin.write(&self.out);
            }
        }
        self.kill_group();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }
}

/// Kills the child if the world's process dies first, so no child outlives a sweep that was
/// interrupted (it sits in a process group of its own, out of reach of the terminal's
/// signals). Linux only; elsewhere a child sees its stdin close instead.
trait DieWithParent {
    fn die_with_parent(&mut self) -> &mut Self;
}

impl DieWithParent for Command {
    #[cfg(target_os = "linux")]
    fn die_with_parent(&mut self) -> &mut Self {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the closure runs in the forked child before exec and calls only the
        // async-signal-safe `prctl`, `getppid` and `kill`.
        unsafe {
            self.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // The world may have died before the request took effect.
                if libc::getppid() != parent {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                Ok(())
            })
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn die_with_parent(&mut self) -> &mut Self {
        self
    }
}

fn poll_fd(fd: i32, events: libc::c_short) -> libc::pollfd {
    libc::pollfd { fd, events, revents: 0 }
}

fn set_nonblocking(fd: i32) {
    // SAFETY: plain fcntl calls on a pipe this process owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}
