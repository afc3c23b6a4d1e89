//! Running one node: boot (incarnation, seed, disk, trace, listener, peer tasks), then the
//! node's one loop, which hands the process every message, timer and disk completion in turn
//! until it exits, aborts or is asked to stop.
//!
//! The loop is the production twin of the simulated world's: one thread, one process, one
//! callback at a time. Messages a node sends itself, disk completions and due timers are
//! delivered before the loop waits again; then it waits for the first of: a frame from a
//! reader, the earliest timer, the stop signal.

use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::Arc;

use orrery_sim::{Codec, NodeApi, NodeId, Process, Stream, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::config::NodeConfig;
use crate::inbound::{self, Inbound, Receiving};
use crate::node::{Ended, Node};
use crate::peer::{self, Backoff, Outbound, PeerSlot};
use crate::stats::{Stats, StatsSnapshot};
use crate::storage::DirectoryStorage;
use crate::trace::{self, TraceSink};
use crate::{clock, NodeProcess};

/// Inbound messages handled before the loop looks at its timers and the stop signal again.
const INBOX_BATCH: usize = 64;

/// The file in the data directory that counts the node's boots.
const INCARNATION_FILE: &str = "incarnation";

/// What a node's run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub ended: Ended,
    /// The incarnation that ran (0 at the first boot from this data directory).
    pub incarnation: u32,
    /// The seed of its random streams (configured, or drawn from the OS).
    pub seed: u64,
    /// The network's counters at the end.
    pub stats: StatsSnapshot,
}

/// A node that could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("node {node} is not among the {n_nodes} configured nodes")]
    UnknownNode { node: NodeId, n_nodes: usize },
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: io::Error },
    #[error("data directory {path}: {source}")]
    DataDirectory { path: String, source: io::Error },
    #[error("trace file {path}: {source}")]
    TraceFile { path: String, source: io::Error },
    #[error("no seed configured and none could be drawn from the OS: {0}")]
    Entropy(io::Error),
    #[error("cannot start the tokio runtime: {0}")]
    Tokio(io::Error),
}

/// Runs node `config.node` in this OS process until its process exits or aborts, or the OS
/// process gets SIGTERM or SIGINT: a current-thread tokio runtime, the listener bound as
/// configured. A binary's `main` is then `std::process::exit(report.ended.exit_code())`.
pub fn run<C, F>(config: NodeConfig, codec: C, factory: F) -> Result<Report, RuntimeError>
where
    C: Codec + Send,
    C::Message: Send,
    F: FnOnce(&NodeConfig) -> NodeProcess<C>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RuntimeError::Tokio)?;
    runtime.block_on(serve(config, codec, factory, termination()))
}

/// Runs the node inside the caller's tokio runtime until its process exits or aborts, or
/// `stop` completes. The listener is bound as configured.
pub async fn serve<C, F>(
    config: NodeConfig,
    codec: C,
    factory: F,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<Report, RuntimeError>
where
    C: Codec + Send,
    C::Message: Send,
    F: FnOnce(&NodeConfig) -> NodeProcess<C>,
{
    let listener = bind(&config)?;
    serve_on(listener, config, codec, factory, stop).await
}

/// Like `serve`, on a listener the caller bound (tests bind port 0 and read the port first).
pub async fn serve_on<C, F>(
    listener: std::net::TcpListener,
    config: NodeConfig,
    codec: C,
    factory: F,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<Report, RuntimeError>
where
    C: Codec + Send,
    C::Message: Send,
    F: FnOnce(&NodeConfig) -> NodeProcess<C>,
{
    let me = config.node;
    let n_nodes = config.n_nodes();
    if me.index() >= n_nodes {
        return Err(RuntimeError::UnknownNode { node: me, n_nodes });
    }
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let listen_error = |source| RuntimeError::Listen { address: address.clone(), source };
    listener.set_nonblocking(true).map_err(listen_error)?;
    let listener = TcpListener::from_std(listener).map_err(listen_error)?;
    let data_error = |source| RuntimeError::DataDirectory {
        path: config.data_dir.display().to_string(),
        source,
    };
    let incarnation = boot_incarnation(&config.data_dir).map_err(data_error)?;
    let seed = match config.seed {
        Some(seed) => seed,
        None => os_seed().map_err(RuntimeError::Entropy)?,
    };
    let storage = DirectoryStorage::open(config.data_dir.join("disk")).map_err(data_error)?;
    let header = trace::header(me, config.role(), seed);
    let trace = TraceSink::open(me, config.trace_json.as_deref(), &header).map_err(|source| {
        let path = config.trace_json.as_deref().unwrap_or(Path::new("")).display().to_string();
        RuntimeError::TraceFile { path, source }
    })?;

    let stats = Arc::new(Stats::default());
    let network = config.network.clone();
    let (inbox_sender, inbox) = mpsc::channel::<Inbound>(network.inbox_capacity);
    let slots: Vec<Option<Arc<PeerSlot>>> = (0..n_nodes as u32)
        .map(|peer| (peer != me.0).then(|| Arc::new(PeerSlot::new(me, NodeId(peer)))))
        .collect();
    let receiving = Receiving {
        me,
        n_nodes,
        network: network.clone(),
        inbox: inbox_sender,
        stats: stats.clone(),
        slots: Arc::new(slots.clone()),
    };
    let mut tasks = JoinSet::new();
    let mut peers = Vec::with_capacity(n_nodes);
    for (entry, slot) in config.nodes.iter().zip(slots) {
        let Some(slot) = slot else {
            peers.push(None);
            continue;
        };
        let (queue, queued) = mpsc::channel(network.queue_capacity);
        let jitter = Stream::with_parts(
            seed,
            "runtime.reconnect",
            &[u64::from(me.0), u64::from(entry.id.0), u64::from(incarnation)],
        );
        let link = Outbound {
            peer: entry.id,
            address: entry.address,
            incarnation,
            slot: slot.clone(),
            backoff: Backoff::new(
                network.reconnect_backoff_min,
                network.reconnect_backoff_max,
                jitter,
            ),
            receiving: receiving.clone(),
        };
        tasks.spawn(peer::write_to_peer(link, queued));
        peers.push(Some((slot, queue)));
    }
    tasks.spawn(inbound::accept(listener, receiving));

    let mut node = Node {
        id: me,
        n_nodes,
        incarnation,
        epoch: tokio::time::Instant::now(),
        codec,
        peers,
        frame: Vec::with_capacity(1024),
        local: Default::default(),
        timers: Default::default(),
        rng: Stream::with_parts(seed, "node.app", &[u64::from(me.0), u64::from(incarnation)]),
        storage,
        trace,
        stats: stats.clone(),
        frame_bytes_max: network.frame_bytes_max,
        halt: None,
    };
    tracing::info!(target: "orrery::node", node = %me, role = config.role(), incarnation, seed, address = %address, "started");
    let fields = [("incarnation", Value::from(incarnation)), ("seed", Value::U64(seed))];
    node.trace.record(clock::host_monotonic(), "start", &fields);
    let process = factory(&config);
    // The loop is a task of its own, so a reader's hand-off wakes it through the runtime's
    // run queue rather than by unparking the thread.
    let ended = match tokio::spawn(event_loop(node, process, inbox, stop)).await {
        Ok(ended) => ended,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => Ended::Aborted(format!("the node's loop was cancelled: {error}")),
        },
    };
    tracing::info!(target: "orrery::node", node = %me, ?ended, "ended");
    drop(tasks);
    Ok(Report { ended, incarnation, seed, stats: stats.snapshot() })
}

/// The node's one loop: every callback of the process, one at a time, until it ends.
async fn event_loop<C: Codec + Send>(
    mut node: Node<C>,
    mut process: NodeProcess<C>,
    mut inbox: mpsc::Receiver<Inbound>,
    stop: impl Future<Output = ()>,
) -> Ended
where
    C::Message: Send,
{
    process.on_start(&mut node);
    let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(sleep);
    tokio::pin!(stop);
    let mut armed = None;
    let ended = loop {
        run_ready(&mut node, &mut *process);
        node.trace.flush();
        if let Some(ended) = node.halt.clone() {
            break ended;
        }
        let deadline = node.timers.next_deadline();
        if let Some(deadline) = deadline.filter(|d| armed != Some(*d)) {
            sleep.as_mut().reset(deadline);
        }
        armed = deadline;
        tokio::select! {
            () = &mut stop => {
                node.stop(Ended::Stopped);
            }
            received = inbox.recv() => {
                let Some(first) = received else {
                    // Only a failed listener task drops the inbox's senders.
                    node.abort("the listener stopped");
                    continue;
                };
                deliver(&mut node, &mut *process, first);
                for _ in 1..INBOX_BATCH {
                    if node.halt.is_some() {
                        break;
                    }
                    match inbox.try_recv() {
                        Ok(inbound) => deliver(&mut node, &mut *process, inbound),
                        Err(_) => break,
                    }
                }
            }
            () = &mut sleep, if armed.is_some() => {
                armed = None;
            }
        }
    };
    node.trace.flush();
    ended
}

/// Delivers what is ready without waiting: self-sent messages, disk completions, due timers.
fn run_ready<C: Codec>(node: &mut Node<C>, process: &mut dyn Process<C::Message, Node<C>>) {
    while node.halt.is_none() {
        if let Some(message) = node.local.pop_front() {
            let me = node.id;
            process.on_message(node, me, message);
        } else if let Some((ticket, result)) = node.storage.next_completion() {
            process.on_disk(node, ticket, result);
        } else if let Some((timer, tag)) = node
            .timers
            .next_deadline()
            .and_then(|_| node.timers.pop_due(tokio::time::Instant::now()))
        {
            process.on_timer(node, timer, tag);
        } else {
            return;
        }
    }
}

/// Decodes one frame and hands it to the process; a payload the codec refuses is counted and
/// logged (its frame's checksum held, so the stream is still in step).
fn deliver<C: Codec>(
    node: &mut Node<C>,
    process: &mut dyn Process<C::Message, Node<C>>,
    inbound: Inbound,
) {
    match node.codec.decode(&inbound.payload) {
        Ok(message) => process.on_message(node, inbound.from, message),
        Err(error) => {
            Stats::add(&node.stats.decode_errors, 1);
            tracing::warn!(target: "orrery::net", node = %node.id, from = %inbound.from, %error, "undecodable message dropped");
        }
    }
}

/// The listener as configured: an inherited socket, or `listen` bound.
fn bind(config: &NodeConfig) -> Result<std::net::TcpListener, RuntimeError> {
    match config.listen_fd {
        #[cfg(unix)]
        Some(fd) => {
            use std::os::fd::FromRawFd;
            // SAFETY: the configuration says `fd` is a listening socket this process
            // inherited and nothing else in it owns; this is the one place that takes it.
            let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
            match listener.local_addr() {
                Ok(_) => Ok(listener),
                Err(source) => Err(RuntimeError::Listen { address: format!("fd {fd}"), source }),
            }
        }
        #[cfg(not(unix))]
        Some(fd) => Err(RuntimeError::Listen {
            address: format!("fd {fd}"),
            source: io::Error::new(io::ErrorKind::Unsupported, "inherited sockets need Unix"),
        }),
        None => std::net::TcpListener::bind(config.listen)
            .map_err(|source| RuntimeError::Listen { address: config.listen.to_string(), source }),
    }
}

/// This boot's incarnation: one more than the last boot's from `data_dir`, 0 at the first.
/// Durable before the node starts, so no two boots share one.
fn boot_incarnation(data_dir: &Path) -> io::Result<u32> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(INCARNATION_FILE);
    let incarnation = match std::fs::read_to_string(&path) {
        Ok(text) => {
            text.trim().parse::<u32>().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a number", path.display()),
                )
            })? + 1
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => 0,
        Err(error) => return Err(error),
    };
    let temporary = data_dir.join(format!("{INCARNATION_FILE}.tmp"));
    std::fs::write(&temporary, format!("{incarnation}\n"))?;
    std::fs::File::open(&temporary)?.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(incarnation)
}

/// A seed from the operating system's randomness.
fn os_seed() -> io::Result<u64> {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Completes at the first SIGTERM or SIGINT; never, if they cannot be watched.
async fn termination() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut terminate), Ok(mut interrupt)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::warn!(target: "orrery::node", "cannot watch SIGTERM and SIGINT");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}
