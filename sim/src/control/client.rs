//! The Rust client: one connection, any number of requests in flight from any number of
//! threads. A reader thread routes every reply to the call waiting on its request id.
//!
//! ```no_run
//! use orrery_sim::control::{Client, Reply, Request};
//!
//! let client = Client::connect("127.0.0.1:7000", None)?;
//! client.call(&Request::Start)?;
//! if let Reply::Status(status) = client.call(&Request::Step { events: 1000 })? {
//!     println!("{} events, fingerprint {:016x}", status.events, status.fingerprint);
//! }
//! # Ok::<(), orrery_sim::control::ClientError>(())
//! ```

use std::collections::BTreeMap;
use std::io;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use super::codec::WireError;
use super::frame::{read_frame, Flags, Frame};
use super::ops::Op;
use super::reply::{ErrorReply, Reply, ReplyKind, PROTOCOL_VERSION};
use super::request::Request;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the server: {0}")]
    Io(#[from] io::Error),
    /// The server answered with an error frame.
    #[error("the server refused: {0}")]
    Server(ErrorReply),
    /// The connection closed before the reply came.
    #[error("the connection closed before the reply came")]
    Closed,
    /// The reply did not decode.
    #[error("the server's reply does not decode: {0}")]
    Decode(#[from] WireError),
}

type Waiting = Arc<Mutex<BTreeMap<u64, Sender<Frame>>>>;

/// A connection to a control server.
pub struct Client {
    stream: Mutex<TcpStream>,
    next_id: AtomicU64,
    waiting: Waiting,
    reader: Option<JoinHandle<()>>,
}

/// A request in flight: wait for its reply, read its stream, or cancel it.
pub struct Call<'c> {
    client: &'c Client,
    op: Option<Op>,
    request_id: u64,
    replies: Receiver<Frame>,
    ended: bool,
}

impl Client {
    /// Connects and says hello (with `token`, if the server requires one).
    pub fn connect(
        address: impl ToSocketAddrs,
        token: Option<&str>,
    ) -> Result<Client, ClientError> {
        let stream = TcpStream::connect(address)?;
        let _ = stream.set_nodelay(true);
        let mut reader_stream = stream.try_clone()?;
        let waiting: Waiting = Arc::default();
        let reader = {
            let waiting = waiting.clone();
            thread::Builder::new().name("control-client".to_string()).spawn(move || {
                while let Ok(Some(frame)) = read_frame(&mut reader_stream) {
                    let Ok(mut waiting) = waiting.lock() else { break };
                    let last = !frame.flags.contains(Flags::STREAM_ITEM);
                    let id = frame.request_id;
                    if let Some(sender) = waiting.get(&id) {
                        let _ = sender.send(frame);
                    }
                    if last {
                        waiting.remove(&id);
                    }
                }
                // Every call still waiting learns the connection is gone.
                if let Ok(mut waiting) = waiting.lock() {
                    waiting.clear();
                }
            })?
        };
        let client = Client {
            stream: Mutex::new(stream),
            next_id: AtomicU64::new(1),
            waiting,
            reader: Some(reader),
        };
        let hello =
            Request::Hello { protocol: PROTOCOL_VERSION, token: token.unwrap_or("").to_string() };
        client.call(&hello)?;
        Ok(client)
    }

    /// Sends `request` and waits for its reply (a stream's end, for `status-stream`).
    pub fn call(&self, request: &Request) -> Result<Reply, ClientError> {
        let mut call = self.send(request)?;
        loop {
            match call.next_reply()? {
                Some(Reply::Status(_)) if call.op == Some(Op::StatusStream) && !call.ended => {}
                Some(reply) => return Ok(reply),
                None => return Err(ClientError::Closed),
            }
        }
    }

    /// Sends `request` without waiting.
    pub fn send(&self, request: &Request) -> Result<Call<'_>, ClientError> {
        self.send_raw(request.op().code(), request.encode()).map(|mut call| {
            call.op = Some(request.op());
            call
        })
    }

    /// Sends a request of any operation code with any body (for operations this client does
    /// not know, and for tests); its replies come back as frames (`Call::next_frame`).
    pub fn send_raw(&self, op_code: u16, body: Vec<u8>) -> Result<Call<'_>, ClientError> {
        let request_id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (sender, replies) = mpsc::channel();
        self.waiting.lock().map_err(|_| ClientError::Closed)?.insert(request_id, sender);
        let frame = Frame::request(op_code, request_id, body);
        self.write(&frame)?;
        Ok(Call { client: self, op: Op::from_code(op_code), request_id, replies, ended: false })
    }

    fn write(&self, frame: &Frame) -> Result<(), ClientError> {
        let mut stream = self.stream.lock().map_err(|_| ClientError::Closed)?;
        frame.write_to(&mut *stream)?;
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(stream) = self.stream.lock() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Call<'_> {
    /// The request id.
    pub fn id(&self) -> u64 {
        self.request_id
    }

    /// Asks the server to cancel this request; its reply then says `cancelled`.
    pub fn cancel(&self) -> Result<(), ClientError> {
        let op_code = self.op.map_or(0, Op::code);
        let frame =
            Frame { op_code, flags: Flags::CANCEL, request_id: self.request_id, body: Vec::new() };
        self.client.write(&frame)
    }

    /// The next frame of the reply, raw; `None` after the last one.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ClientError> {
        if self.ended {
            return Ok(None);
        }
        match self.replies.recv() {
            Ok(frame) => {
                self.ended = !frame.flags.contains(Flags::STREAM_ITEM);
                Ok(Some(frame))
            }
            Err(_) => Err(ClientError::Closed),
        }
    }

    /// The next reply decoded: the reply, or a stream's next item then its `StreamEnd`;
    /// `None` after the last. An error frame is `Err(ClientError::Server)`.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ClientError> {
        let Some(frame) = self.next_frame()? else { return Ok(None) };
        if frame.flags.contains(Flags::ERROR) {
            return Err(ClientError::Server(ErrorReply::decode(&frame.body)?));
        }
        if frame.flags.contains(Flags::STREAM_END) {
            return Ok(Some(Reply::decode_stream_end(&frame.body)?));
        }
        let Some(op) = self.op else {
            return Ok(Some(Reply::Done));
        };
        Ok(Some(Reply::decode(ReplyKind::of(op), &frame.body)?))
    }

    /// Waits for the final reply (skipping a stream's items).
    pub fn wait(mut self) -> Result<Reply, ClientError> {
        let mut last = None;
        while let Some(reply) = self.next_reply()? {
            last = Some(reply);
        }
        last.ok_or(ClientError::Closed)
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.client.waiting.lock() {
            waiting.remove(&self.request_id);
        }
    }
}
