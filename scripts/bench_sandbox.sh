#!/usr/bin/env bash
# Benchmark the cost of `airlock run`: what it adds to running a command,
# side by side with running it directly: /bin/true, and
# `python -c 'import torch'` (the venv's Python). Whole processes, direct
# and sandboxed runs interleaved in random order, both pinned to one CPU,
# N runs each (default 31): medians of wall time and of CPU time (user +
# system, the sandbox's processes included), and what the sandbox adds as
# the median of the paired differences with a bootstrap 95% interval.
#
#   scripts/bench_sandbox.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
venv=$(airlock_venv)
runs=${1:-31}
cargo build --release -q -p airlock-cli
bin=$PWD/target/release/airlock

medians() { # label, then the command
  python3 - "$runs" "$bin" "$@" <<'PY'
import os, random, subprocess, sys, time
runs, airlock, label, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
boxed = [airlock, "run", "--"] + cmd
# Both on one CPU: on a small VM the scheduler's noise is larger than what
# is measured.
pin = ["taskset", "-c", str(os.cpu_count() - 1)] if subprocess.run(["which", "taskset"], capture_output=True).returncode == 0 else []
variants = {"direct": pin + cmd, "boxed": pin + boxed}
for c in variants.values():
    subprocess.run(c, check=True, capture_output=True)  # warm the page cache
wall = {k: [] for k in variants}
cpu = {k: [] for k in variants}
rng = random.Random(1)
for _ in range(runs):
    order = list(variants.items())
    rng.shuffle(order)  # neither always runs first
    for key, c in order:
        t = time.perf_counter()
        p = subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)  # usage covers the reaped descendants
        wall[key].append((time.perf_counter() - t) * 1000)
        cpu[key].append((usage.ru_utime + usage.ru_stime) * 1000)
        assert status == 0, (c, status)
med = lambda v: sorted(v)[len(v) // 2]

def added(m):
    """Median of the paired differences, with a bootstrap 95% interval."""
    diffs = [b - d for b, d in zip(m["boxed"], m["direct"])]
    boots = sorted(med([rng.choice(diffs) for _ in diffs]) for _ in range(2000))
    return f"{med(diffs):+.1f} ms ({boots[50]:+.1f} to {boots[1949]:+.1f})"

print(f"| {label} | {med(wall['direct']):.1f} ms | {med(wall['boxed']):.1f} ms | {added(wall)} "
      f"| {med(cpu['direct']):.1f} ms | {med(cpu['boxed']):.1f} ms | {added(cpu)} |")
PY
}

echo "airlock run start-up cost; $(nproc) cores, kernel $(uname -r), $(id -un); median of $runs"
echo
echo "| command | wall, direct | wall, in airlock run | added (95% interval) | CPU, direct | CPU, in airlock run | added (95% interval) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
medians "/bin/true" /bin/true
medians "python -c 'import torch'" "$venv/bin/python" -c "import torch"
