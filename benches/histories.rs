//! Histories for the linearizability benchmarks and tests, generated deterministically from
//! labelled random streams by running a real sequential register / key-value store: each
//! operation takes effect at one instant inside its [invoke, complete] interval, so the history
//! is linearizable by construction; a `-bad` variant changes one late read. The shapes follow
//! Jepsen's etcd register test (10 processes, values 0..5, reads/writes/cas, a few timeouts as
//! `:info`) and a multi-key key-value workload (get, put, append over 128 keys) — the workloads
//! porcupine is usually measured on.
//!
//! Shared by `benches/linearizability.rs` and `tests/check_history.rs` (included by path).

use orrery_sim::check::{Completion, Function, History, ModelName, Value};
use orrery_sim::rng::Stream;

/// One generated operation before it is recorded.
struct Planned {
    process: u64,
    call_time: u64,
    effect_time: u64,
    return_time: u64,
    key: Option<i64>,
    function: Function,
    input: Value,
    /// The operation timed out: recorded as `:info`, and took effect only if `applied`.
    timed_out: bool,
    applied: bool,
    completion: Completion,
}

/// The shape of a generated history.
pub struct Workload {
    pub name: &'static str,
    pub model: ModelName,
    pub processes: u64,
    pub operations_total: usize,
    /// `None` for a single register; otherwise operations pick one of this many keys.
    pub keys_total: Option<u64>,
    pub timeout_probability: f64,
    pub corrupt_one_read: bool,
}

pub const WORKLOADS: [Workload; 5] = [
    Workload {
        name: "etcd-register-1k",
        model: ModelName::CasRegister,
        processes: 10,
        operations_total: 1_000,
        keys_total: None,
        timeout_probability: 0.01,
        corrupt_one_read: false,
    },
    Workload {
        name: "etcd-register-1k-bad",
        model: ModelName::CasRegister,
        processes: 10,
        operations_total: 1_000,
        keys_total: None,
        timeout_probability: 0.01,
        corrupt_one_read: true,
    },
    Workload {
        name: "etcd-register-10k",
        model: ModelName::CasRegister,
        processes: 10,
        operations_total: 10_000,
        keys_total: None,
        timeout_probability: 0.002,
        corrupt_one_read: false,
    },
    Workload {
        name: "kv-100k-128keys",
        model: ModelName::Kv,
        processes: 20,
        operations_total: 100_000,
        keys_total: Some(128),
        timeout_probability: 0.001,
        corrupt_one_read: false,
    },
    Workload {
        name: "kv-100k-128keys-bad",
        model: ModelName::Kv,
        processes: 20,
        operations_total: 100_000,
        keys_total: Some(128),
        timeout_probability: 0.001,
        corrupt_one_read: true,
    },
];

/// Generates the workload's history from `seed`.
pub fn generate(workload: &Workload, seed: u64) -> History {
    let mut rng = Stream::new(seed, workload.name);
    let per_process = workload.operations_total / workload.processes as usize;
    let mut planned = Vec::with_capacity(workload.operations_total);
    for process in 0..workload.processes {
        let mut time = rng.uniform_u64(0, 50);
        for _ in 0..per_process {
            let call_time = time;
            let effect_time = call_time + rng.uniform_u64(1, 100);
            let return_time = effect_time + rng.uniform_u64(1, 100);
            time = return_time + rng.uniform_u64(1, 30);
            let key = workload.keys_total.map(|keys| rng.below(keys) as i64);
            let roll = rng.below(10);
            let (function, input) = if workload.model == ModelName::Kv {
                match roll {
                    0..=4 => (Function::Get, Value::Nil),
                    5..=7 => (Function::Put, Value::Str(format!("p{}", rng.below(1000)).into())),
                    _ => (Function::Append, Value::Str(format!("{}", rng.below(10)).into())),
                }
            } else {
                match roll {
                    0..=3 => (Function::Read, Value::Nil),
                    4..=6 => (Function::Write, Value::Int(rng.below(5) as i64)),
                    _ => (
                        Function::Cas,
                        Value::Vector(vec![
                            Value::Int(rng.below(5) as i64),
                            Value::Int(rng.below(5) as i64),
                        ]),
                    ),
                }
            };
            let timed_out = rng.bernoulli(workload.timeout_probability);
            planned.push(Planned {
                process,
                call_time,
                effect_time,
                return_time,
                key,
                function,
                input,
                timed_out,
                applied: !timed_out || rng.bernoulli(0.5),
                completion: Completion::Info,
            });
        }
    }
    // Run the sequential object in effect-time order to learn every operation's output.
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&index| (planned[index].effect_time, index));
    let mut store: std::collections::BTreeMap<Option<i64>, Value> = Default::default();
    for &index in &order {
        let operation = &mut planned[index];
        let current = store.get(&operation.key).cloned().unwrap_or(Value::Nil);
        let (next, completion) = match (&operation.function, &operation.input) {
            (Function::Read | Function::Get, _) => (current.clone(), Completion::Ok(current)),
            (Function::Write | Function::Put, value) => {
                (value.clone(), Completion::Ok(value.clone()))
            }
            (Function::Append, Value::Str(suffix)) => {
                let base = match &current {
                    Value::Str(text) => text.to_string(),
                    _ => String::new(),
                };
                (Value::Str((base + suffix).into()), Completion::Ok(operation.input.clone()))
            }
            (Function::Cas, Value::Vector(pair)) if pair[0] == current => {
                (pair[1].clone(), Completion::Ok(operation.input.clone()))
            }
            (Function::Cas, _) => (current, Completion::Fail),
            (function, _) => unreachable!("the generator does not plan {function:?}"),
        };
        if operation.applied {
            store.insert(operation.key, next);
        }
        operation.completion = if operation.timed_out { Completion::Info } else { completion };
    }
    if workload.corrupt_one_read {
        // A read in the last tenth returns a value nobody wrote.
        let late = planned.len() * 9 / 10;
        if let Some(operation) = planned[late..].iter_mut().find(|operation| {
            matches!(operation.function, Function::Read | Function::Get)
                && matches!(operation.completion, Completion::Ok(_))
        }) {
            operation.completion = Completion::Ok(match workload.model {
                ModelName::Kv => Value::Str("never-written".into()),
                _ => Value::Int(99),
            });
        }
    }
    record(planned)
}

/// Records the planned operations into a history in time order, as a client would.
fn record(planned: Vec<Planned>) -> History {
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(planned.len() * 2);
    for (index, operation) in planned.iter().enumerate() {
        events.push((operation.call_time, false, index));
        events.push((operation.return_time, true, index));
    }
    events.sort_unstable();
    let mut history = History::new();
    let mut references = vec![None; planned.len()];
    for (time, is_completion, index) in events {
        let operation = &planned[index];
        match (is_completion, references[index]) {
            (false, _) => {
                references[index] = Some(history.invoke_with_key(
                    time,
                    operation.process,
                    operation.function.clone(),
                    operation.key.map(Value::Int),
                    operation.input.clone(),
                ));
            }
            (true, Some(reference)) => {
                history.complete(time, reference, operation.completion.clone())
            }
            (true, None) => unreachable!("completions sort after their invocations"),
        }
    }
    history
}

/// A register history of a million operations, for the memory bound (not benchmarked by
/// criterion: one check takes about a second).
pub const REGISTER_1M: Workload = Workload {
    name: "etcd-register-1m",
    model: ModelName::CasRegister,
    processes: 10,
    operations_total: 1_000_000,
    keys_total: None,
    timeout_probability: 0.0002,
    corrupt_one_read: false,
};
