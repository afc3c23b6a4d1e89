//! Clients: each runs one get, put or append at a time against the cluster, retrying through
//! redirects and timeouts, and records what it invoked and what came back in the shared
//! history, as Jepsen's clients do.
//!
//! The history lives in a `Recorder` outside every node (the test's notebook, not the
//! system's), so a client's crash leaves its open operation open: indeterminate. Operations
//! are stamped with true virtual time (`Context::true_now`), never a client's skewed clock.
//! An operation that gets no answer by `operation_timeout` ends: a get as `fail` (a read has
//! no effect), a put or append as `info` (it may yet take effect); after an `info` the client
//! continues as a new process, as Jepsen's do.

use std::cell::RefCell;
use std::rc::Rc;

use orrery_sim::check::{Completion, Function, History, OperationRef, Value};
use orrery_sim::{NodeApi, Context, Duration, Instant, NodeId, Process, TimerId};

use super::message::{Answer, Message, Op};

/// The history every client writes into, shared by the workload's clients and checks.
#[derive(Debug, Default)]
pub struct Recorder {
    pub history: History,
    processes_total: u64,
}

impl Recorder {
    /// A fresh process id (also the client's session for deduplication).
    pub fn new_process(&mut self) -> u64 {
        self.processes_total += 1;
        self.processes_total - 1
    }
}

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

const TIMER_THINK: u64 = 1;
const TIMER_RETRY: u64 = 2;
const TIMER_GIVE_UP: u64 = 3;

pub struct Client {
    config: ClientConfig,
    recorder: Rc<RefCell<Recorder>>,
    process: u64,
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
    operation: OperationRef,
    retry_timer: TimerId,
    give_up_timer: TimerId,
}

impl Client {
    pub fn new(config: ClientConfig, recorder: Rc<RefCell<Recorder>>) -> Client {
        let process = recorder.borrow_mut().new_process();
        Client { config, recorder, process, seq: 0, target: 0, pending: None, last_ok_at: None }
    }

    fn think(&mut self, ctx: &mut Context<Message>) {
        let pause = ctx.rng().uniform_u64(0, self.config.think_time.as_nanos());
        ctx.set_timer(Duration::from_nanos(pause), TIMER_THINK);
    }

    fn invoke(&mut self, ctx: &mut Context<Message>) {
        self.seq += 1;
        let key = ctx.rng().below(self.config.keys.max(1));
        let value = format!("{}.{} ", self.process, self.seq);
        let (op, function, input) = match ctx.rng().below(3) {
            0 => (Op::Get { key }, Function::Get, Value::Nil),
            1 => (Op::Put { key, value: value.clone() }, Function::Put, Value::Str(value.into())),
            _ => {
                let input = Value::Str(value.as_str().into());
                (Op::Append { key, value }, Function::Append, input)
            }
        };
        let operation = self.recorder.borrow_mut().history.invoke_with_key(
            ctx.true_now().as_nanos(),
            self.process,
            function,
            Some(Value::Int(key as i64)),
            input,
        );
        let retry_timer = ctx.set_timer(self.config.request_timeout, TIMER_RETRY);
        let give_up_timer = ctx.set_timer(self.config.operation_timeout, TIMER_GIVE_UP);
        self.pending = Some(Pending { seq: self.seq, op, operation, retry_timer, give_up_timer });
        self.send(ctx);
    }

    fn send(&self, ctx: &mut Context<Message>) {
        let (Some(pending), Some(&server)) = (&self.pending, self.config.servers.get(self.target))
        else {
            return;
        };
        let request =
            Message::Request { session: self.process, seq: pending.seq, op: pending.op.clone() };
        ctx.send(server, request);
    }

    fn complete(&mut self, ctx: &mut Context<Message>, completion: Completion) {
        let Some(pending) = self.pending.take() else { return };
        ctx.cancel_timer(pending.retry_timer);
        ctx.cancel_timer(pending.give_up_timer);
        let now = ctx.true_now();
        if matches!(completion, Completion::Ok(_)) {
            self.last_ok_at = Some(now);
        }
        let indeterminate = completion == Completion::Info;
        self.recorder.borrow_mut().history.complete(now.as_nanos(), pending.operation, completion);
        if indeterminate {
            self.process = self.recorder.borrow_mut().new_process();
            self.seq = 0;
        }
        self.think(ctx);
    }

    fn next_server(&mut self) {
        self.target = (self.target + 1) % self.config.servers.len().max(1);
    }
}

impl Process<Message> for Client {
    fn on_start(&mut self, ctx: &mut Context<Message>) {
        let first = ctx.rng().below(self.config.servers.len().max(1) as u64);
        self.target = first as usize;
        self.think(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<Message>, from: NodeId, message: Message) {
        let Message::Reply { session, seq, answer } = message else { return };
        let current = self.pending.as_ref().is_some_and(|p| p.seq == seq);
        if session != self.process || !current {
            return;
        }
        match answer {
            Answer::Done { value } => {
                if let Some(index) = self.config.servers.iter().position(|&s| s == from) {
                    self.target = index;
                }
                let is_get = matches!(self.pending.as_ref().map(|p| &p.op), Some(Op::Get { .. }));
                let output = match value {
                    Some(text) if is_get => Value::Str(text.into()),
                    _ => Value::Nil,
                };
                self.complete(ctx, Completion::Ok(output));
            }
            Answer::NotLeader { leader } => {
                match leader.and_then(|l| self.config.servers.iter().position(|&s| s == l)) {
                    Some(index) if self.config.servers[index] != from => {
                        self.target = index;
                        self.send(ctx);
                    }
                    // No better guess: the retry timer moves on to the next server.
                    _ => {}
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<Message>, timer: TimerId, tag: u64) {
        match tag {
            TIMER_THINK if self.pending.is_none() => self.invoke(ctx),
            TIMER_RETRY => {
                let Some(pending) = &mut self.pending else { return };
                if pending.retry_timer != timer {
                    return;
                }
                pending.retry_timer = ctx.set_timer(self.config.request_timeout, TIMER_RETRY);
                self.next_server();
                self.send(ctx);
            }
            TIMER_GIVE_UP => {
                let Some(pending) = &self.pending else { return };
                if pending.give_up_timer != timer {
                    return;
                }
                let completion = match pending.op {
                    Op::Get { .. } => Completion::Fail,
                    _ => Completion::Info,
                };
                self.complete(ctx, completion);
            }
            _ => {}
        }
    }
}
