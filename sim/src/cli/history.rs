//! `orrery check-history`: a recorded history checked for linearizability.
//!
//! Exit codes: 0 linearizable, 1 not linearizable, 3 unknown (the step budget ran out with no
//! violation proven), 2 bad input or usage (an empty history included: there is nothing to
//! call linearizable).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::check::{
    check_interned, read_interned, read_interned_in_order, read_values, spec_for_format,
    Conventions, Format, ModelName, ModelSpec, Value, Verdict,
};

use super::{write_new_file, Status};

/// What `check-history` was asked to do.
pub(super) struct HistoryRequest {
    pub(super) model: String,
    pub(super) file: PathBuf,
    pub(super) format: Option<String>,
    pub(super) initial: Option<String>,
    pub(super) missing: Option<String>,
    pub(super) steps_max: u64,
    pub(super) timings: bool,
    /// Write the history view of the verdict here.
    pub(super) html: Option<PathBuf>,
}

pub(super) fn check_history(request: &HistoryRequest) -> Status {
    match run(request) {
        Ok(status) => status,
        Err(message) => Status::BadInput(message),
    }
}

fn run(request: &HistoryRequest) -> Result<Status, String> {
    let model: ModelName = request.model.parse().map_err(|error| format!("{error}"))?;
    let format = match &request.format {
        None => None,
        Some(name) => Some(name.parse::<Format>().map_err(|error| format!("{error}"))?),
    };
    let conventions = Conventions {
        initial: request.initial.as_deref().map(|text| edn_value("--initial", text)).transpose()?,
        missing: request.missing.as_deref().map(|text| edn_value("--missing", text)).transpose()?,
    };
    // Conventions that do not fit the model are refused before anything is read.
    ModelSpec::with_conventions(model, &conventions).map_err(|error| error.to_string())?;
    let file = &request.file;
    let reader: Box<dyn Read> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(file).map_err(|error| format!("{}: {error}", file.display()))?)
    };
    let name =
        if file == Path::new("-") { "<stdin>".to_string() } else { file.display().to_string() };
    let reading = Stopwatch::start();
    let read_with = if request.html.is_some() { read_interned_in_order } else { read_interned };
    let (history, format) = read_with(reader, format).map_err(|error| format!("{name}:{error}"))?;
    let read = reading.stop();
    let operations = history.len();
    let spec = spec_for_format(model, &conventions, format).map_err(|error| error.to_string())?;
    let view = request.html.as_ref().map(|_| history.to_history());
    let checking = Stopwatch::start();
    let report = check_interned(history, &spec, request.steps_max)
        .map_err(|error| format!("{name}:{error}"))?;
    let checked = checking.stop();
    println!("{report}");
    println!("read {operations} operations as {format}, checked against {spec}");
    if let (Some(out), Some(history)) = (&request.html, &view) {
        let page = crate::view::history_html(&format!("{name} ({spec})"), history, &report);
        write_new_file(out, &page)?;
    }
    if let Verdict::NotLinearizable(explanation) = &report.verdict {
        if spec.initial == Value::Nil && explanation.deadline.description.ends_with("-> \"\"") {
            println!(
                "hint: a read returned \"\" where the key holds nil; porcupine's kv histories \
                 start every key at \"\": try --format porcupine-kv (or --initial '\"\"')"
            );
        }
    }
    if request.timings {
        eprintln!("read:  {read} ({operations} operations)");
        eprintln!("check: {checked}");
        if let Some(peak) = peak_resident_kib() {
            eprintln!("peak resident memory: {} KiB", peak);
        }
    }
    Ok(match report.verdict {
        Verdict::Linearizable => Status::Passed,
        Verdict::NotLinearizable(_) => Status::Failed,
        Verdict::Unknown { .. } => Status::Unknown,
    })
}

/// A convention's value, written as EDN (`nil`, `""`, `0`).
fn edn_value(flag: &str, text: &str) -> Result<Value, String> {
    let values =
        read_values(text.as_bytes()).map_err(|error| format!("{flag} {text:?}: {error}"))?;
    match <[_; 1]>::try_from(values) {
        Ok([(_, value)]) => Ok(value),
        Err(_) => Err(format!("{flag} {text:?}: expected one EDN value, such as nil, \"\" or 0")),
    }
}

/// Wall and CPU time of one phase, for `--timings`.
struct Stopwatch {
    wall: std::time::Instant,
    cpu: Option<std::time::Duration>,
}

struct Elapsed {
    wall: std::time::Duration,
    cpu: Option<std::time::Duration>,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        #[allow(clippy::disallowed_methods)] // tidy: allow (reports wall time only)
        let wall = std::time::Instant::now();
        Stopwatch { wall, cpu: process_cpu_time() }
    }

    fn stop(self) -> Elapsed {
        let cpu = match (self.cpu, process_cpu_time()) {
            (Some(start), Some(end)) => Some(end.saturating_sub(start)),
            _ => None,
        };
        Elapsed { wall: self.wall.elapsed(), cpu }
    }
}

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |duration: std::time::Duration| duration.as_secs_f64() * 1e3;
        write!(f, "{:.2} ms wall", ms(self.wall))?;
        match self.cpu {
            Some(cpu) => write!(f, ", {:.2} ms CPU", ms(cpu)),
            None => Ok(()),
        }
    }
}

/// The process's peak resident set (`VmHWM`), where the system says it: Linux's
/// `/proc/self/status`. Unlike `getrusage`, it counts only this program's own memory, not what
/// a large parent held when it spawned us.
fn peak_resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()
}

/// The CPU time this process has used so far, all threads, user and system.
#[cfg(unix)]
fn process_cpu_time() -> Option<std::time::Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the pointer it is given, which points to one.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    // SAFETY: getrusage succeeded, so it initialised the value.
    let usage = unsafe { usage.assume_init() };
    let time =
        |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

#[cfg(not(unix))]
fn process_cpu_time() -> Option<std::time::Duration> {
    None
}
