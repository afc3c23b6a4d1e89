//! Nodes run in threads of the test process, each on its own current-thread tokio runtime,
//! stopped on demand; processes that report what they receive and send what the test says.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration as StdDuration;

use orrery_runtime::{serve_on, Node, NodeConfig, NodeEntry, NodeProcess, Report};
use orrery_sim::wire::Bytes;
use orrery_sim::{ms, Codec, NodeApi, NodeId, Process, TimerId};

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("orrery-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `n` loopback listeners on ephemeral ports, and the node table naming them.
pub fn listeners(n: usize) -> (Vec<TcpListener>, Vec<NodeEntry>) {
    let listeners: Vec<TcpListener> =
        (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("an ephemeral port")).collect();
    let nodes = listeners
        .iter()
        .enumerate()
        .map(|(i, listener)| NodeEntry {
            id: NodeId(i as u32),
            address: listener.local_addr().expect("bound"),
            role: "node".to_string(),
        })
        .collect();
    (listeners, nodes)
}

/// A configuration for node `id` of `nodes` with small, fast bounds and a pinned seed.
pub fn config(id: u32, nodes: &[NodeEntry], data: &Path) -> NodeConfig {
    let mut config = NodeConfig::new(NodeId(id), nodes.to_vec(), data.join(format!("n{id}")));
    config.seed = Some(7);
    config.network.reconnect_backoff_min = ms(5);
    config.network.reconnect_backoff_max = ms(50);
    config.network.handshake_timeout = ms(300);
    config
}

/// A node running in a thread until stopped (or until its process ends).
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Report>>,
    pub address: SocketAddr,
}

impl Running {
    /// Stops the node and returns its report.
    pub fn stop(mut self) -> Report {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.thread.take().expect("joined once").join().expect("the node thread")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts `config`'s node on `listener` with the byte codec.
pub fn start(
    listener: TcpListener,
    config: NodeConfig,
    factory: impl FnOnce() -> NodeProcess<Bytes> + Send + 'static,
) -> Running {
    start_with(listener, config, Bytes, factory)
}

/// Starts `config`'s node on `listener` with `codec`.
pub fn start_with<C: Codec + Send>(
    listener: TcpListener,
    config: NodeConfig,
    codec: C,
    factory: impl FnOnce() -> NodeProcess<C> + Send + 'static,
) -> Running
where
    C::Message: Send,
{
    let address = listener.local_addr().expect("bound");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let stopped = async {
            let _ = stopped.await;
        };
        runtime
            .block_on(serve_on(listener, config, codec, |_| factory(), stopped))
            .expect("the node starts")
    });
    Running { stop: Some(stop), thread: Some(thread), address }
}

/// Reports every message it receives to the test, as (from, message).
pub struct Recorder<M = Vec<u8>>(pub mpsc::Sender<(NodeId, M)>);

impl<M: 'static, N: NodeApi<M>> Process<M, N> for Recorder<M> {
    fn on_message(&mut self, _node: &mut N, from: NodeId, message: M) {
        let _ = self.0.send((from, message));
    }
}

/// Sends what the test tells it to (polling every millisecond) and reports each send's
/// outcome; reports what it receives too.
pub struct Driver {
    pub commands: mpsc::Receiver<(NodeId, Vec<u8>)>,
    pub outcomes: mpsc::Sender<bool>,
    pub received: mpsc::Sender<(NodeId, Vec<u8>)>,
}

impl Process<Vec<u8>, Node<Bytes>> for Driver {
    fn on_start(&mut self, node: &mut Node<Bytes>) {
        node.set_timer(ms(1), 0);
    }

    fn on_message(&mut self, _node: &mut Node<Bytes>, from: NodeId, message: Vec<u8>) {
        let _ = self.received.send((from, message));
    }

    fn on_timer(&mut self, node: &mut Node<Bytes>, _timer: TimerId, _tag: u64) {
        while let Ok((to, message)) = self.commands.try_recv() {
            let _ = self.outcomes.send(node.try_send(to, message).is_ok());
        }
        node.set_timer(ms(1), 0);
    }
}

/// The next message received within `patience`, if any.
pub fn receive<T>(inbox: &mpsc::Receiver<T>, patience: StdDuration) -> Option<T> {
    inbox.recv_timeout(patience).ok()
}

/// Waits up to `patience` for `condition`.
pub fn eventually(patience: StdDuration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + patience;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(StdDuration::from_millis(5));
    }
    condition()
}
