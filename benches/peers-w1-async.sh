#!/usr/bin/env bash
# Orrery's peer entry with W1 in its async variant (both nodes `orrery_sim::task` processes),
# for ../shared/peers/run.sh, which knows only the workload names w1/w2/w3/det: `w1` runs
# `peers w1-async` and reports it as `wl=w1`; everything else is the plain example. So one
# run.sh run puts async W1 in the same table as the peers (see benches/README.md).
#
#   cargo build --release --example peers
#   PEERS_BIN=$PWD/target/release/examples/peers ORRERY_BIN=benches/peers-w1-async.sh \
#     ../shared/peers/run.sh
set -euo pipefail
bin=${PEERS_BIN:?set PEERS_BIN to the absolute path of target/release/examples/peers}
if [[ ${1:-} == w1 ]]; then
  shift
  "$bin" w1-async "$@" | sed 's/ wl=w1-async / wl=w1 /'
else
  exec "$bin" "$@"
fi
