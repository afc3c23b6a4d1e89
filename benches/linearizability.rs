//! Linearizability checker throughput, in operations checked per second.
//!
//! Histories are generated deterministically from labelled random streams by running a real
//! sequential register / key-value store: each operation takes effect at one instant inside its
//! [invoke, complete] interval, so the history is linearizable by construction; a `-bad` variant
//! changes one late read. The shapes follow Jepsen's etcd register test (10 processes, values
//! 0..5, reads/writes/cas, a few timeouts as `:info`) and a multi-key key-value workload (get,
//! put, append over 128 keys) — the workloads porcupine is usually measured on.
//!
//! Set `ORRERY_LINEARIZABILITY_EXPORT=DIR` to also write each history as Jepsen EDN into DIR, so
//! other checkers (porcupine) can be run on exactly the same input.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use orrery_sim::check::{
    check_history, write_history, Completion, Function, History, ModelName, Value, Verdict,
    STEPS_MAX_DEFAULT,
};
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
struct Workload {
    name: &'static str,
    model: ModelName,
    processes: u64,
    operations_total: usize,
    /// `None` for a single register; otherwise operations pick one of this many keys.
    keys_total: Option<u64>,
    timeout_probability: f64,
    corrupt_one_read: bool,
}

const WORKLOADS: [Workload; 5] = [
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
fn generate(workload: &Workload, seed: u64) -> History {
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

fn verdict_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable(_) => "not linearizable",
        Verdict::Unknown { .. } => "unknown",
    }
}

fn linearizability(c: &mut Criterion) {
    let export_directory = std::env::var_os("ORRERY_LINEARIZABILITY_EXPORT");
    let mut group = c.benchmark_group("linearizability");
    group.sample_size(10);
    for workload in &WORKLOADS {
        let history = generate(workload, 1);
        if let Some(directory) = &export_directory {
            let path = std::path::Path::new(directory).join(format!("{}.edn", workload.name));
            std::fs::write(&path, write_history(&history)).expect("export directory is writable");
        }
        let report = check_history(&history, workload.model, STEPS_MAX_DEFAULT)
            .expect("generated histories fit their model");
        eprintln!(
            "{}: {} ({} steps)",
            workload.name,
            verdict_name(&report.verdict),
            report.steps_total
        );
        group.throughput(Throughput::Elements(history.operations().len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(workload.name),
            &history,
            |b, history| b.iter(|| check_history(history, workload.model, STEPS_MAX_DEFAULT)),
        );
    }
    group.finish();
}

criterion_group!(benches, linearizability);
criterion_main!(benches);
