#!/usr/bin/env bash
# Side by side: porcupine's Go checker and `orrery check-history` on the same histories, on the
# same machine, in interleaved runs, reporting medians (see benches/README.md, "Linearizability
# checker against porcupine").
#
# The histories: all of porcupine's own test data (its 103 Jepsen etcd logs and 6 kv
# histories, each read by porcupine's own parser and model from porcupine_test.go, and by
# Orrery with --format detection / --format porcupine-kv), and the bench histories of
# benches/histories.rs exported in porcupine's formats. Verdicts are compared with the
# verdicts porcupine's tests expect; timings are CPU time of the check alone and of read +
# check, measured inside each process, and each process's total CPU.
#
#   benches/porcupine.sh                      # RUNS=5 rounds
#   RUNS=9 PORCUPINE_SRC=/path/to/porcupine benches/porcupine.sh
#
# Needs: go (installed with apt-get when missing and run as root), git, python3, cargo. The
# porcupine source comes from PORCUPINE_SRC (a checkout or git directory) or is cloned from
# GitHub; nothing of porcupine is written into this repository.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${PORCUPINE_WORK:-${TMPDIR:-/tmp}/orrery-porcupine}
RUNS=${RUNS:-5}
# The porcupine commit the figures in benches/README.md were measured at.
PORCUPINE_COMMIT=55508eb201b314c218d7e8412c3ea4b9499a5f53
PORCUPINE_URL=https://github.com/anishathalye/porcupine.git

missing() {
    echo "MISSING: $*" >&2
    echo "benches/porcupine.sh cannot measure anything without it." >&2
    exit 1
}

command -v python3 >/dev/null || missing "python3"
command -v git >/dev/null || missing "git"
command -v cargo >/dev/null || missing "cargo"
if ! command -v go >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "installing Go from Debian (apt-get install -y golang)" >&2
        apt-get install -y golang >&2 || missing "go (apt-get install -y golang failed)"
    else
        missing "go (install Go, e.g. apt-get install -y golang)"
    fi
fi

mkdir -p "$WORK"
if [ ! -d "$WORK/porcupine/.git" ]; then
    rm -rf "$WORK/porcupine"
    SOURCE=${PORCUPINE_SRC:-$PORCUPINE_URL}
    echo "fetching porcupine from $SOURCE" >&2
    git clone -q "$SOURCE" "$WORK/porcupine" \
        || missing "porcupine's source (set PORCUPINE_SRC to a checkout, or allow access to $PORCUPINE_URL)"
fi
if ! git -C "$WORK/porcupine" checkout -q "$PORCUPINE_COMMIT" 2>/dev/null; then
    echo "WARNING: porcupine commit $PORCUPINE_COMMIT is not in $WORK/porcupine;" \
        "measuring $(git -C "$WORK/porcupine" rev-parse --short HEAD) instead" >&2
fi

echo "building the porcupine harness" >&2
cp "$ROOT/benches/porcupine/orrery_harness_test.go" "$WORK/porcupine/"
(cd "$WORK/porcupine" && go test -c -o "$WORK/porcupine-harness" .)

echo "building orrery (release) and exporting the bench histories" >&2
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build --release --quiet)
mkdir -p "$WORK/histories"
(cd "$ROOT" && ORRERY_LINEARIZABILITY_EXPORT="$WORK/histories" ORRERY_LINEARIZABILITY_EXPORT_ONLY=1 \
    cargo bench --quiet --bench linearizability >&2)

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(go version), $(rustc --version)" >&2
python3 "$ROOT/benches/porcupine_compare.py" \
    --porcupine "$WORK/porcupine" \
    --harness "$WORK/porcupine-harness" \
    --orrery "$TARGET/release/orrery" \
    --histories "$WORK/histories" \
    --runs "$RUNS" \
    --csv "$WORK/results.csv"
