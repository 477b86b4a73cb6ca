#!/usr/bin/env bash
# `airlock net listeners` on a host with many sockets, and `airlock net
# probe` of a /24 over the default ports: wall time of whole processes
# (best of RUNS).
#
#   scripts/bench_net.sh            (SOCKETS=10000 RUNS=5)
#
# A helper Python process opens SOCKETS listening TCP sockets on loopback
# (the open-files limit raised for it), then `airlock net listeners` runs
# with and without its exchanges (the helper's sockets are a Python
# process's: the exchange budget caps how many are tried). The probe
# covers 127.0.0.0/24 over the default port set (4,608 endpoints) where
# nothing listens on those ports. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
airlock=${AIRLOCK:-target/release/airlock}
[ -x "$airlock" ] || cargo build --release -q -p airlock-cli
n=${SOCKETS:-10000}
runs=${RUNS:-5}
ulimit -n $((n + 1024))
ready=$(mktemp)
trap 'kill "$helper" 2>/dev/null; rm -f "$ready"' EXIT
python3 - "$n" "$ready" <<'PY' &
import socket, sys, time
n, ready = int(sys.argv[1]), sys.argv[2]
keep = []
for _ in range(n):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    keep.append(s)
open(ready, "w").write("ready")
time.sleep(600)
PY
helper=$!
for _ in $(seq 600); do [ -s "$ready" ] && break; sleep 0.1; done
best() {
  local b=999999 t0 t1 ms
  for _ in $(seq "$runs"); do
    t0=$(date +%s%N); "$@" >/dev/null || [ $? = 1 ]; t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000)); [ "$ms" -lt "$b" ] && b=$ms
  done
  echo "$b"
}
total=$(wc -l < /proc/net/tcp)
echo "sockets in /proc/net/tcp: $((total - 1)); best of $runs"
echo "| command | ms |"
echo "| --- | ---: |"
echo "| airlock net listeners --no-exchange | $(best "$airlock" net listeners --no-exchange --format json) |"
echo "| airlock net listeners | $(best "$airlock" net listeners --format json) |"
echo "| airlock net probe 127.0.0.0/24 (default ports) | $(best "$airlock" net probe 127.0.0.0/24 --format json) |"
