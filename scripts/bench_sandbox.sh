#!/usr/bin/env bash
# Benchmark the cost of `airlock run`: what it adds to running a command,
# side by side with running it directly: /bin/true, and
# `python -c 'import torch'` (the venv's Python), with the released
# executable (a static PIE, `cargo airlock-release`) and with the
# dynamically linked one `cargo build --release` makes. A last variant, the
# same namespaces made by util-linux `unshare` with nothing else, shows
# what the namespaces alone cost.
#
# Wall time is CPU time plus time spent off the CPU (waiting for a lock,
# a grace period, a child). Each is measured where it can be measured
# precisely, all processes pinned to one CPU, N rounds (default 41):
#
# 1. One after another (each round runs the variants in random order):
#    wall time, and the time off the CPU (wall minus the CPU time of the
#    whole process tree, the sandbox's own processes included).
# 2. At the same time on the same CPU, each variant with a direct run of
#    its own, the two commands starting together (the direct run is
#    started as much later as the variant delays its command): CPU time.
#    On a VM the machine's speed drifts from one run to the next by more
#    than the effect measured (a 2-second import varies by about ±150 ms),
#    so runs one after another cannot resolve a few milliseconds; two
#    processes sharing one CPU at the same time see the same machine, and
#    their CPU times differ only by what they do.
#
# What the sandbox adds is the median of the paired differences with the
# direct run, with a bootstrap 95% interval: wall time (pass 1), CPU time
# (pass 2), time off the CPU (pass 1), and their sum, CPU plus off-CPU.
#
#   scripts/bench_sandbox.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
venv=$(airlock_venv)
runs=${1:-41}
# Both builds: the dynamically linked one `cargo build` makes, and the
# static PIE that is released (`cargo airlock-release`).
cargo build --release -q -p airlock-cli
dynamic=$PWD/target/release/airlock-dynamic
cp target/release/airlock "$dynamic"
cargo -q airlock-release
bin=$PWD/target/release/airlock

measure() { # label, then the command
  python3 - "$runs" "$bin" "$dynamic" "$@" <<'PY'
import os, random, subprocess, sys, time
runs, airlock, dynamic, label, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
# All on one CPU: on a small VM the scheduler's noise is larger than what
# is measured, and pass 2 needs the variants to share one.
pin = ["taskset", "-c", str(os.cpu_count() - 1)] if subprocess.run(["which", "taskset"], capture_output=True).returncode == 0 else []
prefixes = {"direct": pin, "boxed": pin + [airlock, "run", "--"], "dynamic": pin + [dynamic, "run", "--"]}
ns = ["unshare", "-U", "-r", "-m", "-p", "-f", "-n", "-i", "-u", "--mount-proc"]
if subprocess.run(ns + ["true"], capture_output=True).returncode == 0:
    prefixes["unshare"] = pin + ns
variants = {k: p + cmd for k, p in prefixes.items()}
for c in variants.values():
    subprocess.run(c, check=True, capture_output=True)  # warm the page cache

def reap(p):
    _, status, usage = os.wait4(p.pid, 0)  # usage covers the reaped descendants
    assert status == 0, (p.args, status)
    return (usage.ru_utime + usage.ru_stime) * 1000

rng = random.Random(1)
med = lambda v: sorted(v)[len(v) // 2]

# How much later a command starts under each variant than run directly
# (the median of 21 runs of a Python that prints the time it started).
# Of two processes sharing a CPU, the one that starts later runs on caches
# the first has warmed and uses less CPU, so in pass 2 the direct run
# starts this much later, and the two commands start together.
stamp = [sys.executable, "-S", "-I", "-c", "import time; print(time.monotonic())"]
lag = {}
for key, prefix in prefixes.items():
    starts = []
    for _ in range(21):
        t = time.monotonic()
        out = subprocess.run(prefix + stamp, check=True, capture_output=True, text=True).stdout
        starts.append(float(out) - t)
    lag[key] = med(starts)
wall = {k: [] for k in variants}
off = {k: [] for k in variants}
cpu = {k: [] for k in variants if k != "direct"}  # pass 2: the difference with its direct run
for _ in range(runs):
    # Pass 1: one after another.
    order = list(variants.items())
    rng.shuffle(order)  # none always runs first
    for key, c in order:
        t = time.perf_counter()
        p = subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        used = reap(p)
        w = (time.perf_counter() - t) * 1000
        wall[key].append(w)
        off[key].append(w - used)
    # Pass 2: each variant at the same time as a direct run, on the same
    # CPU, two processes at a time, the two commands starting together.
    for key in variants:
        if key == "direct":
            continue
        variant = subprocess.Popen(variants[key], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(max(0.0, lag[key] - lag["direct"]))
        direct = subprocess.Popen(variants["direct"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu[key].append(reap(variant) - reap(direct))

def diffs(series, key):
    return [b - d for b, d in zip(series[key], series["direct"])]
def boot(samples):
    """Bootstrap medians of the sum of the given series' medians."""
    return sorted(sum(med([rng.choice(s) for _ in s]) for s in samples) for _ in range(4000))
def added(*samples):
    b = boot(samples)
    return f"{sum(med(s) for s in samples):+,.1f} ms ({b[100]:+,.1f} to {b[3899]:+,.1f})"

for key, name in (("boxed", "`airlock run`"), ("dynamic", "`airlock run`, dynamically linked build"), ("unshare", "`unshare` (namespaces only)")):
    if key not in variants:
        continue
    w, c, o = diffs(wall, key), cpu[key], diffs(off, key)
    print(f"| {label} | {name} | {1000 * (lag[key] - lag['direct']):.1f} ms | {med(wall['direct']):,.1f} ms | {med(wall[key]):,.1f} ms | {added(w)} "
          f"| {added(c)} | {added(o)} | **{added(c, o)}** |")
PY
}

echo "airlock run start-up cost; $(nproc) cores, kernel $(uname -r), $(id -un); median of $runs rounds"
echo
echo "| command | run in | command starts later by | wall, direct | wall, sandboxed | added wall, runs one after another | added CPU, runs side by side | added time off the CPU | added: CPU + off-CPU |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
measure "/bin/true" /bin/true
measure "python -c 'import torch'" "$venv/bin/python" -c "import torch"
