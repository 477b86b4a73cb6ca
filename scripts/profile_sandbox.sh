#!/usr/bin/env bash
# Where the time `airlock run` adds to `python -c 'import torch'` goes: a
# `perf` profile (software CPU clock, 1999 Hz, kernel and user) of N direct
# and N sandboxed runs (default 6), pinned to one CPU, then the samples per
# run in the kernel functions of each confinement layer, and in all of the
# kernel and all of user space, side by side.
#
#   scripts/profile_sandbox.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
venv=$(airlock_venv)
runs=${1:-6}
command -v perf >/dev/null || { echo "perf is needed (linux-perf / linux-tools)"; exit 2; }
cargo build --release -q -p airlock-cli
bin=$PWD/target/release/airlock
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cpu=$(( $(nproc) - 1 ))
for i in $(seq "$runs"); do
  # Alternated, so that a drift of the machine's speed hits both alike.
  perf record -q -F 1999 -o "$out/direct-$i.data" -- taskset -c "$cpu" "$venv/bin/python" -c 'import torch' 2>/dev/null
  perf record -q -F 1999 -o "$out/boxed-$i.data" -- taskset -c "$cpu" "$bin" run -- "$venv/bin/python" -c 'import torch' 2>/dev/null
done
python3 - "$out" "$runs" <<'PY'
import collections, glob, re, subprocess, sys
out, runs = sys.argv[1], int(sys.argv[2])
# Kernel functions of each layer (by name).
LAYERS = {
    "Landlock": re.compile(r"landlock|^find_rule$|is_access_to_paths_allowed"),
    "seccomp": re.compile(r"seccomp|^syscall_trace_enter"),
    "mount lookups": re.compile(r"^__lookup_mnt$|^lookup_mnt$|^step_into$|^follow_managed|^traverse_mounts"),
}
def profile(kind):
    total = collections.Counter()
    for f in glob.glob(f"{out}/{kind}-*.data"):
        report = subprocess.run(["perf", "report", "-i", f, "--sort", "dso,sym", "-q", "--stdio",
                                 "-F", "sample,dso,sym"], capture_output=True, text=True).stdout
        for line in report.splitlines():
            parts = line.split()
            if len(parts) < 4 or not parts[0].isdigit():
                continue
            n, dso, sym = int(parts[0]), parts[1], parts[-1]
            kernel = dso == "[kernel.kallsyms]"
            total["kernel" if kernel else "user"] += n
            for layer, pattern in LAYERS.items():
                if kernel and pattern.search(sym):
                    total[layer] += n
    return total
d, b = profile("direct"), profile("boxed")
ms = lambda n: n / runs / 1999 * 1000
print(f"samples per run at 1999 Hz as ms, {runs} runs each")
print("| where | direct | in airlock run | added |")
print("| --- | --- | --- | --- |")
for key in list(LAYERS) + ["kernel", "user"]:
    print(f"| {key} | {ms(d[key]):.1f} ms | {ms(b[key]):.1f} ms | {ms(b[key] - d[key]):+.1f} ms |")
PY
