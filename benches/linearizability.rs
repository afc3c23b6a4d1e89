//! Linearizability checker throughput, in operations checked per second, on the histories of
//! `histories.rs` (Jepsen etcd-style registers and a 128-key key-value store).
//!
//! Set `ORRERY_LINEARIZABILITY_EXPORT=DIR` to also write each history into DIR as Jepsen EDN
//! (`NAME.edn`), JSON lines (`NAME.jsonl`) and in porcupine's own format (`NAME.log`, an etcd
//! log, for registers; `NAME.txt`, its kv text, for the key-value histories), so that other
//! checkers (porcupine) can be run on exactly the same input; with
//! `ORRERY_LINEARIZABILITY_EXPORT_ONLY=1` the bench only exports (and adds the
//! million-operation register history), which is what `benches/porcupine.sh` uses.

#[path = "histories.rs"]
mod histories;

use criterion::{BenchmarkId, Criterion, Throughput};
use orrery_sim::check::porcupine::{write_etcd_log, write_kv_log};
use orrery_sim::check::{
    check_history, write_history, write_history_jsonl, History, ModelName, Verdict,
    STEPS_MAX_DEFAULT,
};

use histories::{generate, Workload, REGISTER_1M, WORKLOADS};

fn verdict_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable(_) => "not linearizable",
        Verdict::Unknown { .. } => "unknown",
    }
}

/// Writes the history in every format into `directory`.
fn export(directory: &std::path::Path, workload: &Workload, history: &History) {
    let write = |extension: &str, text: String| {
        let path = directory.join(format!("{}.{extension}", workload.name));
        std::fs::write(&path, text).expect("export directory is writable");
    };
    write("edn", write_history(history));
    write("jsonl", write_history_jsonl(history));
    match workload.model {
        ModelName::Kv => write("txt", write_kv_log(history).expect("kv histories fit porcupine")),
        _ => write("log", write_etcd_log(history).expect("registers fit porcupine's etcd log")),
    }
}

fn linearizability(c: &mut Criterion) {
    let export_directory = std::env::var_os("ORRERY_LINEARIZABILITY_EXPORT");
    let export_only = std::env::var_os("ORRERY_LINEARIZABILITY_EXPORT_ONLY").is_some();
    let mut group = c.benchmark_group("linearizability");
    group.sample_size(10);
    let extra: &[Workload] = if export_only { &[REGISTER_1M] } else { &[] };
    for workload in WORKLOADS.iter().chain(extra) {
        let history = generate(workload, 1);
        if let Some(directory) = &export_directory {
            export(std::path::Path::new(directory), workload, &history);
        }
        let report = check_history(&history, workload.model, STEPS_MAX_DEFAULT)
            .expect("generated histories fit their model");
        eprintln!(
            "{}: {} ({} operations, {} steps)",
            workload.name,
            verdict_name(&report.verdict),
            history.operations().len(),
            report.steps_total
        );
        if export_only {
            continue;
        }
        group.throughput(Throughput::Elements(history.operations().len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(workload.name),
            &history,
            |b, history| b.iter(|| check_history(history, workload.model, STEPS_MAX_DEFAULT)),
        );
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    linearizability(&mut criterion);
    criterion.final_summary();
}
