//! The control server: a TCP listener, one reader thread per connection, and the caller's
//! thread owning the backend (a simulated world is single-threaded; it never leaves the
//! thread that built it).
//!
//! Readers cut frames out of their connection and pass them through one bounded channel; a
//! full channel stops the readers, and TCP pushes back on the clients. The backend's thread
//! handles requests in arrival order and answers each under its request id, so a client may
//! have any number in flight on one connection. While a long operation runs, its `Progress`
//! drains the channel between slices: a cancel for it stops it, other requests wait their
//! turn (a cancel for one of those answers it as cancelled without running it).

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread;

use super::backend::{handle, Backend, Progress};
use super::frame::{read_frame, Flags, Frame, FrameError, FRAME_BYTES_MAX, HEADER_BYTES};
use super::ops::{Op, REGISTRY};
use super::reply::{
    ErrorCode, ErrorReply, HelloReply, Reply, StatusReply, VersionReply, PROTOCOL_VERSION,
    PROTOCOL_VERSION_MIN,
};
use super::request::Request;

/// Limits and the token of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Required in the first frame (`hello`) of every connection when set.
    pub token: Option<String>,
    /// Connections open at once; more are refused with an error frame.
    pub connections_max: usize,
    /// Frames waiting for the backend's thread, over all connections.
    pub queue_frames_max: usize,
    /// How long a connection may take to send its `hello` when a token is required.
    pub hello_timeout: std::time::Duration,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            token: None,
            connections_max: 64,
            queue_frames_max: 1024,
            hello_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// A bound control server, not serving yet.
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
}

/// One connection's write half, shared by its reader (for connection-level errors) and the
/// backend's thread (for replies); a frame is written under the lock in one call.
type Writer = Arc<Mutex<TcpStream>>;

enum Inbound {
    Opened { connection: u64, writer: Writer },
    Frame { connection: u64, frame: Frame },
    Closed { connection: u64 },
}

impl Server {
    /// Binds `address`. A non-loopback address without a token is refused: anyone who can
    /// reach the port could drive the world (or, with real processes, the cluster).
    pub fn bind(address: SocketAddr, config: ServerConfig) -> Result<Server, String> {
        if !address.ip().is_loopback() && config.token.as_deref().is_none_or(str::is_empty) {
            return Err(format!(
                "{address} is not a loopback address: a token is required (--token-file FILE \
                 or ORRERY_CONTROL_TOKEN)"
            ));
        }
        let listener = TcpListener::bind(address)
            .map_err(|error| format!("cannot listen on {address}: {error}"))?;
        Ok(Server { listener, config })
    }

    /// The address bound (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves `backend` until a client sends `shutdown`.
    pub fn serve(self, backend: &mut dyn Backend) -> io::Result<()> {
        let address = self.local_addr();
        let (sender, receiver) = mpsc::sync_channel(self.config.queue_frames_max);
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let stopping = stopping.clone();
            let config = self.config.clone();
            let listener = self.listener;
            thread::Builder::new()
                .name("control-accept".to_string())
                .spawn(move || accept_loop(listener, config, sender, stopping))?
        };
        let mut dispatcher =
            Dispatcher { receiver, writers: BTreeMap::new(), pending: VecDeque::new() };
        dispatcher.run(backend);
        // Wake the acceptor (blocked in accept) so it sees the flag, and end every reader.
        stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(address);
        for writer in dispatcher.writers.values() {
            if let Ok(stream) = writer.lock() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        // Connections whose opening the dispatcher had not seen yet are shut down too; readers
        // blocked on a full channel are released by dropping the receiver.
        while let Ok(inbound) = dispatcher.receiver.try_recv() {
            if let Inbound::Opened { writer, .. } = inbound {
                if let Ok(stream) = writer.lock() {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
        }
        drop(dispatcher);
        let _ = acceptor.join();
        Ok(())
    }
}

fn accept_loop(
    listener: TcpListener,
    config: ServerConfig,
    sender: SyncSender<Inbound>,
    stopping: Arc<AtomicBool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    for (connection, stream) in (1u64..).zip(listener.incoming()) {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        if open.load(Ordering::SeqCst) >= config.connections_max {
            let error = ErrorReply::new(ErrorCode::Failed, "too many connections");
            let _ = Frame { op_code: 0, flags: error_flags(), request_id: 0, body: error.encode() }
                .write_to(&mut &stream);
            continue;
        }
        let Ok(write_half) = stream.try_clone() else { continue };
        let writer: Writer = Arc::new(Mutex::new(write_half));
        open.fetch_add(1, Ordering::SeqCst);
        let (sender, config, count) = (sender.clone(), config.clone(), open.clone());
        let spawned =
            thread::Builder::new().name(format!("control-conn-{connection}")).spawn(move || {
                read_connection(connection, stream, writer, &config, &sender);
                let _ = sender.send(Inbound::Closed { connection });
                count.fetch_sub(1, Ordering::SeqCst);
            });
        // Readers are not joined: each ends when its connection does (the server shuts every
        // connection it knows down when it stops), or with the process.
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn error_flags() -> Flags {
    Flags::RESPONSE.with(Flags::ERROR)
}

/// Writes `frame`; a reply too large for a frame becomes an error reply instead.
fn send(writer: &Writer, frame: Frame) {
    let frame = if frame.body.len() as u64 + u64::from(HEADER_BYTES) > u64::from(FRAME_BYTES_MAX) {
        let error = ErrorReply::new(ErrorCode::Failed, "the reply is larger than a frame");
        Frame { flags: error_flags(), body: error.encode(), ..frame }
    } else {
        frame
    };
    if let Ok(mut stream) = writer.lock() {
        let _ = stream.write_all(&frame.encode()).and_then(|()| stream.flush());
    }
}

fn send_error(writer: &Writer, request: &Frame, error: &ErrorReply) {
    send(writer, Frame::reply_to(request, Flags::ERROR, error.encode()));
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn same_token(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    let mut difference = u8::from(given.len() != expected.len());
    for (index, byte) in expected.iter().enumerate() {
        difference |= byte ^ given.get(index).copied().unwrap_or(0);
    }
    difference == 0
}

/// One connection's reader: answers `hello` itself (checking the token), forwards every other
/// frame, and closes the connection on a frame it cannot cut out of the stream.
fn read_connection(
    connection: u64,
    mut stream: TcpStream,
    writer: Writer,
    config: &ServerConfig,
    sender: &SyncSender<Inbound>,
) {
    if sender.send(Inbound::Opened { connection, writer: writer.clone() }).is_err() {
        return;
    }
    let mut authenticated = config.token.is_none();
    if !authenticated {
        let _ = stream.set_read_timeout(Some(config.hello_timeout));
    }
    loop {
        let frame = match read_frame(&mut stream) {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(
                error @ (FrameError::TooLarge(_)
                | FrameError::TooShort(_)
                | FrameError::ReservedFlags(_)),
            ) => {
                let reply = ErrorReply::new(ErrorCode::BadFrame, format!("{error}: closing"));
                let frame =
                    Frame { op_code: 0, flags: error_flags(), request_id: 0, body: reply.encode() };
                send(&writer, frame);
                break;
            }
            Err(_) => break,
        };
        if frame.op_code == Op::Hello.code() && !frame.flags.contains(Flags::CANCEL) {
            let token = match Request::decode(Op::Hello, &frame.body) {
                Ok(Request::Hello { token, .. }) => token,
                _ => {
                    let error = ErrorReply::new(
                        ErrorCode::BadRequest,
                        "a hello is a u32 protocol and a str token",
                    );
                    send_error(&writer, &frame, &error);
                    if authenticated {
                        continue;
                    }
                    break;
                }
            };
            if let Some(expected) = &config.token {
                if !same_token(&token, expected) {
                    send_error(
                        &writer,
                        &frame,
                        &ErrorReply::new(ErrorCode::Unauthorized, "wrong token: closing"),
                    );
                    break;
                }
            }
            if !authenticated {
                authenticated = true;
                let _ = stream.set_read_timeout(None);
            }
            let reply = Reply::Hello(HelloReply { protocol: PROTOCOL_VERSION });
            send(&writer, Frame::reply_to(&frame, Flags::NONE, reply.encode()));
            continue;
        }
        if !authenticated {
            let error = ErrorReply::new(
                ErrorCode::Unauthorized,
                "the first frame must be a hello with the token: closing",
            );
            send_error(&writer, &frame, &error);
            break;
        }
        if sender.send(Inbound::Frame { connection, frame }).is_err() {
            break;
        }
    }
    if let Ok(stream) = writer.lock() {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// The backend's thread: connections' writers, and frames that arrived while a long
/// operation ran.
struct Dispatcher {
    receiver: Receiver<Inbound>,
    writers: BTreeMap<u64, Writer>,
    pending: VecDeque<(u64, Frame)>,
}

impl Dispatcher {
    /// Handles frames until `shutdown`.
    fn run(&mut self, backend: &mut dyn Backend) {
        loop {
            let (connection, frame) = match self.pending.pop_front() {
                Some(queued) => queued,
                None => match self.receiver.recv() {
                    Ok(Inbound::Frame { connection, frame }) => (connection, frame),
                    Ok(other) => {
                        self.bookkeep(other);
                        continue;
                    }
                    Err(_) => return,
                },
            };
            let Some(writer) = self.writers.get(&connection).cloned() else { continue };
            if self.handle_frame(backend, connection, &writer, frame) {
                return;
            }
        }
    }

    fn bookkeep(&mut self, inbound: Inbound) {
        match inbound {
            Inbound::Opened { connection, writer } => {
                self.writers.insert(connection, writer);
            }
            Inbound::Closed { connection } => {
                self.writers.remove(&connection);
                self.pending.retain(|(c, _)| *c != connection);
            }
            Inbound::Frame { connection, frame } => self.pending.push_back((connection, frame)),
        }
    }

    /// Answers a cancel for a request still waiting in the queue; whether there was one.
    fn cancel_queued(&mut self, connection: u64, request_id: u64) -> bool {
        let Some(index) = self.pending.iter().position(|(c, f)| {
            *c == connection && f.request_id == request_id && !f.flags.contains(Flags::CANCEL)
        }) else {
            return false;
        };
        let (_, frame) = self.pending.remove(index).expect("the index was just found");
        if let Some(writer) = self.writers.get(&connection) {
            let error = ErrorReply::new(ErrorCode::Cancelled, "cancelled before it ran");
            send_error(writer, &frame, &error);
        }
        true
    }

    /// Handles one frame; `true` if it was `shutdown`.
    fn handle_frame(
        &mut self,
        backend: &mut dyn Backend,
        connection: u64,
        writer: &Writer,
        frame: Frame,
    ) -> bool {
        if frame.flags.contains(Flags::CANCEL) {
            // A cancel for a request that already finished, or never came, does nothing.
            self.cancel_queued(connection, frame.request_id);
            return false;
        }
        if frame.flags != Flags::NONE {
            let error = ErrorReply::new(
                ErrorCode::BadRequest,
                "a client sends requests (no flags) and cancels (CANCEL) only",
            );
            send_error(writer, &frame, &error);
            return false;
        }
        let Some(op) = Op::from_code(frame.op_code) else {
            let message = format!(
                "unknown operation code {:#04x} (this server speaks protocol {PROTOCOL_VERSION}; \
                 `version` lists its operations)",
                frame.op_code
            );
            send_error(writer, &frame, &ErrorReply::new(ErrorCode::UnknownOp, message));
            return false;
        };
        let request = match Request::decode(op, &frame.body) {
            Ok(request) => request,
            Err(error) => {
                let message = format!("{} request: {error}", op.name());
                send_error(writer, &frame, &ErrorReply::new(ErrorCode::BadRequest, message));
                return false;
            }
        };
        let result = match request {
            Request::Version => Ok(Reply::Version(VersionReply {
                protocol: PROTOCOL_VERSION,
                protocol_min: PROTOCOL_VERSION_MIN,
                software: env!("CARGO_PKG_VERSION").to_string(),
                backend: backend.kind().to_string(),
                ops: REGISTRY.iter().map(|info| info.code).collect(),
            })),
            Request::Shutdown => {
                send(writer, Frame::reply_to(&frame, Flags::NONE, Reply::Done.encode()));
                return true;
            }
            request => {
                let mut progress = ServerProgress {
                    dispatcher: self,
                    connection,
                    request: &frame,
                    writer,
                    cancelled: false,
                };
                handle(backend, request, &mut progress)
            }
        };
        let reply = match result {
            Ok(reply @ Reply::StreamEnd(_)) => {
                Frame::reply_to(&frame, Flags::STREAM_END, reply.encode())
            }
            Ok(reply) => Frame::reply_to(&frame, Flags::NONE, reply.encode()),
            Err(error) => Frame::reply_to(&frame, Flags::ERROR, error.encode()),
        };
        send(writer, reply);
        false
    }
}

/// What a long operation sees of the server: cancels, and a place to send stream items.
struct ServerProgress<'a> {
    dispatcher: &'a mut Dispatcher,
    connection: u64,
    request: &'a Frame,
    writer: &'a Writer,
    cancelled: bool,
}

impl Progress for ServerProgress<'_> {
    fn cancelled(&mut self) -> bool {
        loop {
            match self.dispatcher.receiver.try_recv() {
                Ok(Inbound::Frame { connection, frame }) if frame.flags.contains(Flags::CANCEL) => {
                    if connection == self.connection && frame.request_id == self.request.request_id
                    {
                        self.cancelled = true;
                    } else {
                        self.dispatcher.cancel_queued(connection, frame.request_id);
                    }
                }
                // The client that asked is gone: nobody waits for the rest.
                Ok(Inbound::Closed { connection }) if connection == self.connection => {
                    self.dispatcher.bookkeep(Inbound::Closed { connection });
                    self.cancelled = true;
                }
                Ok(other) => self.dispatcher.bookkeep(other),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return self.cancelled,
            }
        }
    }

    fn item(&mut self, status: StatusReply) -> bool {
        if !self.dispatcher.writers.contains_key(&self.connection) {
            return false;
        }
        let body = Reply::Status(status).encode();
        send(self.writer, Frame::reply_to(self.request, Flags::STREAM_ITEM, body));
        true
    }
}
