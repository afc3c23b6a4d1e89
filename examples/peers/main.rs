//! Orrery's entry in the peer benchmarks of `../shared/peers`: runs one workload and prints
//! one `RESULT ...` / `DET ...` line in exactly the format of the peers' common crate, with
//! `sys=orrery`, so `run.sh` can put Orrery in the same table as bare / turmoil / madsim.
//!
//! ```text
//! cargo run --release --example peers -- w1 | w2 | w3 [--threads N] [--seeds N] | det
//! ```
//!
//! `w1 --rounds N` and `w2 --ticks N` shrink a run for profilers (callgrind); the defaults
//! are the spec's sizes. `w1-async` is W1 with both nodes async processes
//! (`orrery_sim::task`), the same exchange; its line says `wl=w1-async`. `w2-zero-faults` is W2
//! with every network fault family configured at rate zero (issue 3's overhead bench; not a
//! peer workload). Exit code 2 on bad usage; a failed result check panics (101).

use std::time::Instant;

mod workloads;

use workloads::*;

const SYS: &str = "orrery";

/// User+system CPU seconds of this process so far, all threads (getrusage, as the peers).
fn cpu_s() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Wall and CPU seconds around `f`. The wall clock is read outside any simulated run, to
/// report what the peers report.
#[allow(clippy::disallowed_methods)] // tidy: allow (benchmark timing, not simulation input)
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (t, c) = (Instant::now(), cpu_s());
    let out = f();
    (out, t.elapsed().as_secs_f64(), cpu_s() - c)
}

fn usage() -> ! {
    eprintln!(
        "usage: peers w1 [--rounds N] | w1-async [--rounds N] | w2 [--ticks N] \
         | w2-zero-faults [--ticks N] | w3 [--threads N] [--seeds N] | det"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or_else(|| usage());
    let flag = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().unwrap_or_else(|_| usage()))
            .unwrap_or(default)
    };
    match mode {
        "w1" | "w1-async" => {
            let rounds = flag("--rounds", W1_ROUNDS);
            let run = || match mode {
                "w1" => w1(rounds),
                _ => w1_async(rounds),
            };
            let (o, wall, cpu) = timed(run);
            o.check(rounds);
            println!(
                "RESULT sys={SYS} wl={mode} threads=1 wall_s={wall:.4} cpu_s={cpu:.4} units={} rate={:.0} sim_s={:.4} check=ok",
                o.rounds,
                o.rounds as f64 / wall,
                o.sim_ns as f64 / 1e9
            );
        }
        "w2" | "w2-zero-faults" => {
            let ticks = flag("--ticks", W2_TICKS);
            let run = || match mode {
                "w2" => w2(ticks),
                _ => w2_with(ticks, W2Faults::ArmedAtZero),
            };
            let (o, wall, cpu) = timed(run);
            o.check(ticks);
            let total = o.total();
            println!(
                "RESULT sys={SYS} wl={mode} threads=1 wall_s={wall:.4} cpu_s={cpu:.4} units={total} rate={:.0} sim_s={:.4} check=ok",
                total as f64 / wall,
                o.sim_ns as f64 / 1e9
            );
        }
        "w3" => {
            let threads = flag("--threads", 1) as usize;
            let seeds = flag("--seeds", W3_SEEDS);
            let ((fp, mean_sim_ns), wall, cpu) = timed(|| sweep(seeds, threads));
            // sim_s here is the mean simulated duration of one seed
            println!(
                "RESULT sys={SYS} wl=w3 threads={threads} wall_s={wall:.4} cpu_s={cpu:.4} units={seeds} rate={:.1} sim_s={:.4} sweep_fp={fp:016x} check=ok",
                seeds as f64 / wall,
                mean_sim_ns as f64 / 1e9
            );
        }
        "det" => {
            let a = w3(DET_SEED);
            let b = w3(DET_SEED);
            let c = w3(DET_SEED + 1);
            a.check();
            b.check();
            c.check();
            // Orrery's own trace fingerprint must agree with the delivery-order one.
            assert_eq!(a.trace_fingerprint, b.trace_fingerprint, "trace fingerprint differs");
            assert_ne!(a.trace_fingerprint, c.trace_fingerprint, "seeds share a trace");
            println!(
                "DET sys={SYS} seed={DET_SEED} run1={:016x} run2={:016x} identical={} seed{}={:016x} differs_from_other_seed={} sim_s={:.4}",
                a.fp,
                b.fp,
                a.fp == b.fp,
                DET_SEED + 1,
                c.fp,
                a.fp != c.fp,
                a.sim_ns as f64 / 1e9
            );
        }
        _ => usage(),
    }
}
