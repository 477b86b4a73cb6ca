#!/usr/bin/env bash
# Benchmark the pickle engine on real pickles, side by side with CPython.
#
#   scripts/bench_pickle.sh
#
# 1. Generates the inputs with real torch (venv under ~/.cache/airlock, made
#    by scripts/test.sh's setup if missing): target/bench-data/*.pkl
# 2. Times CPython on the same files: pickletools.genops (what Python-based
#    scanners decode with) and, for the int list, the C unpickler itself.
# 3. Runs the criterion benchmark (decode, and decode + symbolic run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
venv=$(airlock_venv)
data=target/bench-data
mkdir -p "$data"
[ -f "$data/state_dict.pkl" ] || "$venv/bin/python" scripts/gen_bench_pickles.py "$data"

echo "== CPython $(python3 -c 'import sys; print(sys.version.split()[0])') on the same files"
python3 - "$data" <<'PY'
import pickle, pickletools, sys, time, os
d = sys.argv[1]
def best(f, n=5):
    t = []
    for _ in range(n):
        s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
    return min(t)
for name in ("state_dict.pkl", "million_ints.pkl"):
    data = open(os.path.join(d, name), "rb").read()
    mb = len(data) / 1e6
    t = best(lambda: sum(1 for _ in pickletools.genops(data)), 3)
    print(f"  pickletools.genops  {name:18} {t*1e3:8.1f} ms  {mb/t:8.1f} MB/s")
    if name == "million_ints.pkl":
        t = best(lambda: pickle.loads(data))
        print(f"  pickle.loads (C)    {name:18} {t*1e3:8.1f} ms  {mb/t:8.1f} MB/s")
PY
echo "== airlock-pickle (criterion)"
AIRLOCK_BENCH_DATA="$PWD/$data" cargo bench -p airlock-pickle --bench engine -- --noplot 2>&1 \
  | awk '/^pickle\// {name=$1} /time:/ && name {t=$4" "$5} /thrpt:/ && name && !/%/ {printf "  %-32s %10s %-3s  %8s %s\n", name, t, "", $4, $5; name=""}'
