#!/usr/bin/env bash
# Benchmark the cost of `airlock run`: what it adds to running a command,
# side by side with running it directly: /bin/true, and
# `python -c 'import torch'` (the venv's Python). Whole processes, direct
# and sandboxed runs interleaved in random order, all pinned to one CPU,
# N runs each (default 101): medians of wall time and of CPU time (user +
# system, the sandbox's own processes included), and what the sandbox adds
# as the median of the paired differences with a bootstrap 95% interval,
# for wall, CPU and system time apart (system time is where the sandbox's
# work is: namespaces, mounts, Landlock and seccomp checks; user time is
# the same program's). A third variant, the same namespaces made by
# util-linux `unshare` with nothing else, shows what the namespaces alone
# cost.
#
#   scripts/bench_sandbox.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
venv=$(airlock_venv)
runs=${1:-101}
cargo build --release -q -p airlock-cli
bin=$PWD/target/release/airlock

medians() { # label, then the command
  python3 - "$runs" "$bin" "$@" <<'PY'
import os, random, subprocess, sys, time
runs, airlock, label, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
boxed = [airlock, "run", "--"] + cmd
# All on one CPU: on a small VM the scheduler's noise is larger than what
# is measured.
pin = ["taskset", "-c", str(os.cpu_count() - 1)] if subprocess.run(["which", "taskset"], capture_output=True).returncode == 0 else []
variants = {"direct": pin + cmd, "boxed": pin + boxed}
if subprocess.run(["unshare", "-U", "-r", "-m", "-p", "-f", "-n", "-i", "-u", "--mount-proc", "true"],
                  capture_output=True).returncode == 0:
    variants["unshare"] = pin + ["unshare", "-U", "-r", "-m", "-p", "-f", "-n", "-i", "-u", "--mount-proc"] + cmd
for c in variants.values():
    subprocess.run(c, check=True, capture_output=True)  # warm the page cache
res = {k: {"wall": [], "cpu": [], "sys": []} for k in variants}
rng = random.Random(1)
for _ in range(runs):
    order = list(variants.items())
    rng.shuffle(order)  # none always runs first
    for key, c in order:
        t = time.perf_counter()
        p = subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)  # usage covers the reaped descendants
        res[key]["wall"].append((time.perf_counter() - t) * 1000)
        res[key]["cpu"].append((usage.ru_utime + usage.ru_stime) * 1000)
        res[key]["sys"].append(usage.ru_stime * 1000)
        assert status == 0, (c, status)
med = lambda v: sorted(v)[len(v) // 2]

def added(key, m):
    """Median of the paired differences with the direct run, with a
    bootstrap 95% interval."""
    diffs = [b - d for b, d in zip(res[key][m], res["direct"][m])]
    boots = sorted(med([rng.choice(diffs) for _ in diffs]) for _ in range(4000))
    return f"{med(diffs):+.1f} ms ({boots[100]:+.1f} to {boots[3899]:+.1f})"

for key, name in (("boxed", "`airlock run`"), ("unshare", "`unshare` (namespaces only)")):
    if key not in res:
        continue
    print(f"| {label} | {name} | {med(res['direct']['wall']):.1f} ms | {med(res[key]['wall']):.1f} ms "
          f"| {added(key, 'wall')} | {added(key, 'cpu')} | {added(key, 'sys')} |")
PY
}

echo "airlock run start-up cost; $(nproc) cores, kernel $(uname -r), $(id -un); median of $runs"
echo
echo "| command | run in | wall, direct | wall, sandboxed | added wall (95% interval) | added CPU | added system time |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
medians "/bin/true" /bin/true
medians "python -c 'import torch'" "$venv/bin/python" -c "import torch"
