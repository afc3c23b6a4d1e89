#!/usr/bin/env bash
# W1 only, for issue 17's bound: the peers' W1 (bare, turmoil, madsim) beside Orrery's W1 with
# callback processes and with async processes, every binary once per round, interleaved, RUNS
# rounds; then 1,000,000-round-trip runs of both Orrery variants, paired, for the async /
# callback CPU ratio. Prints medians of CPU s and round trips per CPU s (benches/README.md).
#
#   cargo build --release --example peers
#   (cd ../shared/peers && cargo build --release && \
#    RUSTFLAGS="--cfg madsim" cargo build --release -p madsim-bench --target-dir target/madsim)
#   setsid bash -c 'echo -20 > /proc/$$/autogroup; benches/w1-async.sh'
#
# PEERS_TARGET (default ../shared/peers/target) is where those peer builds are; ORRERY_BIN
# (default target/release/examples/peers) the example.
set -euo pipefail
RUNS=${RUNS:-7}
orrery=${ORRERY_BIN:-target/release/examples/peers}
peers=${PEERS_TARGET:-../shared/peers/target}
raw=$(mktemp)
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq 1 "$RUNS"); do
  for command in "$peers/release/bare-loop w1" "$peers/release/turmoil-bench w1" \
    "$peers/madsim/release/madsim-bench w1" "$orrery w1" "$orrery w1-async"; do
    $command | grep '^RESULT' >>"$raw"
  done
  "$orrery" w1 --rounds 1000000 | grep '^RESULT' | sed 's/ wl=w1 / wl=w1-1M /' >>"$raw"
  "$orrery" w1-async --rounds 1000000 | grep '^RESULT' | sed 's/ wl=w1-async / wl=w1-async-1M /' >>"$raw"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$raw" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    fields = dict(t.split("=", 1) for t in line.split()[1:])
    rows[(fields["sys"], fields["wl"])].append((float(fields["cpu_s"]), int(fields["units"])))
print("| system | workload | CPU s (median) | round trips per CPU s (median) |")
print("|---|---|---|---|")
for (system, workload), runs in rows.items():
    cpu = statistics.median(c for c, _ in runs)
    rate = statistics.median(u / c for c, u in runs)
    print(f"| {system} | {workload} | {cpu:.4f} | {rate:,.0f} |")
callback = [c for c, _ in rows[("orrery", "w1-1M")]]
asynchronous = [c for c, _ in rows[("orrery", "w1-async-1M")]]
ratios = sorted(a / c for c, a in zip(callback, asynchronous))
print(f"async / callback CPU, 1M round trips: median of pairs {statistics.median(ratios):.2f} "
      f"(range {ratios[0]:.2f}-{ratios[-1]:.2f})")
PY
rm -f "$raw"
