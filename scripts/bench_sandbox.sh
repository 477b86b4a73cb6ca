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
runs=${1:-31}
cargo build --release -q -p airlock-cli
bin=$PWD/target/release/airlock

medians() { # label, then the command: median wall and CPU milliseconds, direct and in the sandbox, runs interleaved
  python3 - "$runs" "$bin" "$@" <<'PY'
import os, subprocess, sys, time
runs, airlock, label, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
boxed = [airlock, "run", "--"] + cmd
# Both on one CPU: on a small VM the scheduler's noise is larger than what
# is measured.
pin = ["taskset", "-c", str(os.cpu_count() - 1)] if subprocess.run(["which", "taskset"], capture_output=True).returncode == 0 else []
cmd, boxed = pin + cmd, pin + boxed
for c in (cmd, boxed):
    subprocess.run(c, check=True, capture_output=True)  # warm the page cache
wall = {"direct": [], "boxed": []}
cpu = {"direct": [], "boxed": []}
for _ in range(runs):
    for key, c in (("direct", cmd), ("boxed", boxed)):
        t = time.perf_counter()
        p = subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)  # usage covers the reaped descendants
        wall[key].append((time.perf_counter() - t) * 1000)
        cpu[key].append((usage.ru_utime + usage.ru_stime) * 1000)
        assert status == 0, (c, status)
med = lambda v: sorted(v)[runs // 2]
dw, sw, dc, sc = med(wall["direct"]), med(wall["boxed"]), med(cpu["direct"]), med(cpu["boxed"])
pair = med([b - d for b, d in zip(wall["boxed"], wall["direct"])])
print(f"| {label} | {dw:.1f} ms | {sw:.1f} ms | {sw - dw:+.1f} ms ({pair:+.1f} ms) | {dc:.1f} ms | {sc:.1f} ms | {sc - dc:+.1f} ms |")
PY
}

echo "airlock run start-up cost; $(nproc) cores, kernel $(uname -r), $(id -un); median of $runs"
echo
echo "| command | wall, direct | wall, in airlock run | added (median of paired differences) | CPU, direct | CPU, in airlock run | added |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
medians "/bin/true" /bin/true
medians "python -c 'import torch'" "$venv/bin/python" -c "import torch"
