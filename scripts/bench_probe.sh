#!/usr/bin/env bash
# How fast `airlock probe` generates, sends and scores attacks: a
# 2,000-attack suite (200 per family) against the reference target on
# loopback (`airlock probe reference`, which answers at once, so the
# harness is what is measured), release build, five runs, best and median
# wall time; then criterion's figures for building the suite and scoring
# one answer.
#
#   scripts/bench_probe.sh [CONCURRENCY]   (default 8)
set -euo pipefail
cd "$(dirname "$0")/.."
conc="${1:-8}"
cargo build -q --release -p airlock-cli --locked
bin=target/release/airlock
tmp=$(mktemp -d)
"$bin" probe reference --listen 127.0.0.1:0 >"$tmp/url" 2>/dev/null &
ref=$!
trap 'kill $ref 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url=$(head -1 "$tmp/url")
python3 - "$bin" "$url" "$conc" "$tmp" <<'PY'
import json, statistics, subprocess, sys, time
bin, url, conc, tmp = sys.argv[1:]
ts = []
for run in range(5):
    out = f"{tmp}/r{run}.json"
    start = time.perf_counter()
    p = subprocess.run([bin, "probe", "--target", url, "--samples", "200", "--concurrency", conc,
                        "--format", "json", "-o", out, "--force"])
    ts.append(time.perf_counter() - start)
    assert p.returncode in (0, 1), p.returncode
rep = json.load(open(out))
n = rep["overall"]["trials"] + rep["overall"]["errors"]
assert rep["overall"]["errors"] == 0
ts.sort()
print(f"{n} attacks against the reference target on loopback, concurrency {conc}, {len(ts)} runs")
print(f"  wall time: best {ts[0]:.2f} s, median {statistics.median(ts):.2f} s")
print(f"  attacks per second: best {n / ts[0]:.0f}, median {n / statistics.median(ts):.0f}")
PY
cargo bench -q -p airlock-probe --bench probe -- --noplot 2>&1 | grep -E "^(build|score)|time:"
