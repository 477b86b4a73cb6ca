#!/usr/bin/env bash
# Benchmark the cost of `airlock run`: the time it adds to starting a
# process, side by side with running it directly: /bin/true, and
# `python -c 'import torch'` (the venv's Python). Whole processes, median
# of N runs (default 21), wall time in milliseconds.
#
#   scripts/bench_sandbox.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
venv=$(airlock_venv)
runs=${1:-21}
cargo build --release -q -p airlock-cli
bin=$PWD/target/release/airlock

medians() { # label, then the command: median wall milliseconds, direct and in the sandbox, runs interleaved
  python3 - "$runs" "$bin" "$@" <<'PY'
import subprocess, sys, time
runs, airlock, label, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
boxed = [airlock, "run", "--"] + cmd
for c in (cmd, boxed):
    subprocess.run(c, check=True, capture_output=True)  # warm the page cache
times = {"direct": [], "boxed": []}
for _ in range(runs):
    for key, c in (("direct", cmd), ("boxed", boxed)):
        t = time.perf_counter()
        subprocess.run(c, check=True, capture_output=True)
        times[key].append((time.perf_counter() - t) * 1000)
d, s = (sorted(times[k])[runs // 2] for k in ("direct", "boxed"))
print(f"| {label} | {d:.1f} ms | {s:.1f} ms | {s - d:+.1f} ms |")
PY
}

echo "airlock run start-up cost; $(nproc) cores, kernel $(uname -r), $(id -un); median of $runs"
echo
echo "| command | direct | in airlock run | added |"
echo "| --- | --- | --- | --- |"
medians "/bin/true" /bin/true
medians "python -c 'import torch'" "$venv/bin/python" -c "import torch"
