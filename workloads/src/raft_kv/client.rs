//! Clients: each runs one get, put or append at a time against the cluster, retrying through
//! redirects and timeouts, and records what it invoked and what came back as history
//! observations (`workload::history`), as Jepsen's clients do.
//!
//! The history is the run's record of observations, outside every node, so a client's crash
//! leaves its open operation open: indeterminate. Operations are stamped with true virtual
//! time by the observation itself, never a client's skewed clock. An operation that gets no
//! answer by `operation_timeout` ends: a get as `fail` (a read has no effect), a put or
//! append as `info` (it may yet take effect); after an `info` the client continues as a new
//! process, as Jepsen's do.

use orrery_sim::workload::history;
use orrery_sim::{Duration, Instant, NodeApi, NodeId, Process, TimerId, Value};

use super::message::{Answer, Message, Op};
use super::RaftKvParams;

/// What every client knows: where the servers are and how patient to be.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub servers: Vec<NodeId>,
    pub keys: u64,
    /// Pause between one operation's end and the next one's start.
    pub think_time: Duration,
    /// Silence after which a request is sent to the next server.
    pub request_timeout: Duration,
    /// How long an operation may take before it ends as `fail` or `info`.
    pub operation_timeout: Duration,
}

impl ClientConfig {
    pub fn new(params: &RaftKvParams, servers: Vec<NodeId>) -> ClientConfig {
        ClientConfig {
            servers,
            keys: params.keys,
            think_time: params.think_time,
            request_timeout: params.request_timeout,
            operation_timeout: params.operation_timeout,
        }
    }
}

const TIMER_THINK: u64 = 1;
const TIMER_RETRY: u64 = 2;
const TIMER_GIVE_UP: u64 = 3;

/// Processes (Jepsen's word) one client incarnation can be, one after each `info`.
const PROCESSES_PER_INCARNATION: u64 = 1 << 20;

pub struct Client {
    config: ClientConfig,
    /// The history process this client is now, also its session for deduplication.
    process: u64,
    /// How many processes this incarnation has been before (one per `info`).
    generation: u64,
    seq: u64,
    /// Index into `config.servers` of the server believed to lead.
    target: usize,
    pending: Option<Pending>,
    /// When an operation last completed `ok`, in true virtual time.
    pub last_ok_at: Option<Instant>,
}

struct Pending {
    seq: u64,
    op: Op,
    retry_timer: TimerId,
    give_up_timer: TimerId,
}

/// How an operation ended.
enum Ending {
    /// It happened; a get returned the value (`None`: the key was never written).
    Ok(Option<String>),
    /// It certainly did not happen.
    Fail,
    /// It may or may not have happened.
    Info,
}

impl Client {
    pub fn new(config: ClientConfig) -> Client {
        Client {
            config,
            process: 0,
            generation: 0,
            seq: 0,
            target: 0,
            pending: None,
            last_ok_at: None,
        }
    }

    /// A process number no other client, incarnation or generation of the run has: the
    /// node's first process is its id.
    fn number_process(&mut self, node: &mut impl NodeApi<Message>) {
        debug_assert!(self.generation < PROCESSES_PER_INCARNATION);
        let life = u64::from(node.incarnation()) * PROCESSES_PER_INCARNATION + self.generation;
        self.process = life * node.n_nodes() as u64 + u64::from(node.id().0);
        self.seq = 0;
    }

    fn think(&mut self, node: &mut impl NodeApi<Message>) {
        let pause = node.rng().uniform_u64(0, self.config.think_time.as_nanos());
        node.set_timer(Duration::from_nanos(pause), TIMER_THINK);
    }

    fn invoke(&mut self, node: &mut impl NodeApi<Message>) {
        self.seq += 1;
        let key = node.rng().below(self.config.keys.max(1));
        let value = format!("{}.{} ", self.process, self.seq);
        let (op, function) = match node.rng().below(3) {
            0 => (Op::Get { key }, "get"),
            1 => (Op::Put { key, value }, "put"),
            _ => (Op::Append { key, value }, "append"),
        };
        let written = match &op {
            Op::Get { .. } => None,
            Op::Put { value, .. } | Op::Append { value, .. } => Some(Value::Str(value)),
        };
        history::invoke(node, self.process, function, Some(Value::U64(key)), written);
        let retry_timer = node.set_timer(self.config.request_timeout, TIMER_RETRY);
        let give_up_timer = node.set_timer(self.config.operation_timeout, TIMER_GIVE_UP);
        self.pending = Some(Pending { seq: self.seq, op, retry_timer, give_up_timer });
        self.send(node);
    }

    fn send(&self, node: &mut impl NodeApi<Message>) {
        let (Some(pending), Some(&server)) = (&self.pending, self.config.servers.get(self.target))
        else {
            return;
        };
        let request =
            Message::Request { session: self.process, seq: pending.seq, op: pending.op.clone() };
        node.send(server, request);
    }

    fn complete(&mut self, node: &mut impl NodeApi<Message>, ending: Ending) {
        let Some(pending) = self.pending.take() else { return };
        node.cancel_timer(pending.retry_timer);
        node.cancel_timer(pending.give_up_timer);
        match ending {
            Ending::Ok(value) => {
                self.last_ok_at = Some(node.true_now());
                history::ok(node, self.process, value.as_deref().map(Value::Str));
            }
            Ending::Fail => history::fail(node, self.process),
            Ending::Info => {
                history::info(node, self.process);
                self.generation += 1;
                self.number_process(node);
            }
        }
        self.think(node);
    }

    fn next_server(&mut self) {
        self.target = (self.target + 1) % self.config.servers.len().max(1);
    }
}

impl<N: NodeApi<Message>> Process<Message, N> for Client {
    fn on_start(&mut self, node: &mut N) {
        self.number_process(node);
        let first = node.rng().below(self.config.servers.len().max(1) as u64);
        self.target = first as usize;
        self.think(node);
    }

    fn on_message(&mut self, node: &mut N, from: NodeId, message: Message) {
        let Message::Reply { session, seq, answer } = message else { return };
        let Some(pending) = self.pending.as_ref().filter(|p| p.seq == seq) else { return };
        if session != self.process {
            return;
        }
        match answer {
            Answer::Done { value } => {
                if let Some(index) = self.config.servers.iter().position(|&s| s == from) {
                    self.target = index;
                }
                let read = match pending.op {
                    Op::Get { .. } => value,
                    _ => None,
                };
                self.complete(node, Ending::Ok(read));
            }
            Answer::NotLeader { leader } => {
                match leader.and_then(|l| self.config.servers.iter().position(|&s| s == l)) {
                    Some(index) if self.config.servers[index] != from => {
                        self.target = index;
                        self.send(node);
                    }
                    // No better guess: the retry timer moves on to the next server.
                    _ => {}
                }
            }
        }
    }

    fn on_timer(&mut self, node: &mut N, timer: TimerId, tag: u64) {
        match tag {
            TIMER_THINK if self.pending.is_none() => self.invoke(node),
            TIMER_RETRY => {
                let Some(pending) = &mut self.pending else { return };
                if pending.retry_timer != timer {
                    return;
                }
                pending.retry_timer = node.set_timer(self.config.request_timeout, TIMER_RETRY);
                self.next_server();
                self.send(node);
            }
            TIMER_GIVE_UP => {
                let Some(pending) = &self.pending else { return };
                if pending.give_up_timer != timer {
                    return;
                }
                let ending = match pending.op {
                    Op::Get { .. } => Ending::Fail,
                    _ => Ending::Info,
                };
                self.complete(node, ending);
            }
            _ => {}
        }
    }
}
