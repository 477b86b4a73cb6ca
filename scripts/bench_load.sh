#!/usr/bin/env bash
# Benchmark airlock.load on checkpoints written by real torch, side by side
# with torch.load(weights_only=True), with and without mmap: a 1 GiB state
# dict of 16 large tensors, and one shaped as GPT-2's pytorch_model.bin
# (148 tensors of the 124M-parameter model, 475 MiB), where the cost per
# tensor shows. Whole
# Python processes (interpreter and torch import included in each, the same
# for all), page cache warm, best of N runs (default 5): wall time of the
# load call itself and peak resident memory of the process. Every tensor is
# touched (summed) after loading, so lazily mapped pages are really read.
#
#   scripts/bench_load.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
venv=$(airlock_venv)
runs=${1:-5}
data=target/bench-data
mkdir -p "$data"
[ -f "$data/load-1g.pt" ] || "$venv/bin/python" - "$data/load-1g.pt" <<'PY'
import sys, torch
torch.manual_seed(0)
# 1 GiB in 8 float32 tensors of 128 MiB, plus small ones, as a state dict.
sd = {f"layers.{i}.weight": torch.randn(8192, 4096) for i in range(8)}
sd |= {f"layers.{i}.bias": torch.randn(4096) for i in range(8)}
torch.save(sd, sys.argv[1])
PY
[ -f "$data/load-gpt2.pt" ] || "$venv/bin/python" - "$data/load-gpt2.pt" <<'PY'
import sys, torch
torch.manual_seed(0)
# GPT-2 (124M): the names and shapes of its pytorch_model.bin.
d, v, n, layers = 768, 50257, 1024, 12
sd = {"wte.weight": torch.randn(v, d), "wpe.weight": torch.randn(n, d)}
for i in range(layers):
    h = f"h.{i}."
    sd |= {h + "ln_1.weight": torch.ones(d), h + "ln_1.bias": torch.zeros(d),
           h + "attn.c_attn.weight": torch.randn(d, 3 * d), h + "attn.c_attn.bias": torch.randn(3 * d),
           h + "attn.c_proj.weight": torch.randn(d, d), h + "attn.c_proj.bias": torch.randn(d),
           h + "ln_2.weight": torch.ones(d), h + "ln_2.bias": torch.zeros(d),
           h + "mlp.c_fc.weight": torch.randn(d, 4 * d), h + "mlp.c_fc.bias": torch.randn(4 * d),
           h + "mlp.c_proj.weight": torch.randn(4 * d, d), h + "mlp.c_proj.bias": torch.randn(d)}
sd |= {"ln_f.weight": torch.ones(d), "ln_f.bias": torch.zeros(d)}
torch.save(sd, sys.argv[1])
PY
"$venv/bin/python" -c 'import airlock' 2>/dev/null || "$venv/bin/python" -m pip install --quiet ./python
for ckpt in "$data/load-1g.pt" "$data/load-gpt2.pt"; do
cat "$ckpt" > /dev/null
"$venv/bin/python" - "$ckpt" "$runs" <<'PY'
import json, os, subprocess, sys
ckpt, runs = sys.argv[1], int(sys.argv[2])
CHILD = r"""
import json, resource, sys, time, torch, airlock
kind, path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if kind == "torch":
    sd = torch.load(path, weights_only=True, map_location="cpu")
elif kind == "torch-mmap":
    sd = torch.load(path, weights_only=True, map_location="cpu", mmap=True)
elif kind == "airlock":
    sd = airlock.load(path)
elif kind == "airlock-mmap":
    sd = airlock.load(path, mmap=True)
else:  # baseline: the interpreter with torch and airlock imported
    sd = {}
t1 = time.perf_counter()
total = sum(float(t.sum()) for t in sd.values())
t2 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "touch": t2 - t1,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
names = {"baseline": "python + import torch, airlock (no load)", "torch": "torch.load(weights_only=True)", "airlock": "airlock.load",
         "torch-mmap": "torch.load(weights_only=True, mmap=True)", "airlock-mmap": "airlock.load(mmap=True)"}
size = os.path.getsize(ckpt)
print(f"== {ckpt}: {size / (1 << 30):.2f} GiB; {os.cpu_count()} cores; best of {runs}")
print(f"{'':44} {'load':>8} {'load+touch':>11} {'peak memory':>12}")
best = {}
for kind in names:
    rows = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", CHILD, kind, ckpt], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    b = min(rows, key=lambda r: r["load"] + r["touch"])
    best[kind] = b
    print(f"{names[kind]:44} {b['load']:7.3f}s {b['load'] + b['touch']:10.3f}s {b['rss_mib']:9.0f} MiB")
t = lambda k: best[k]["load"] + best[k]["touch"]
print(f"airlock.load: {t('airlock') / t('torch'):.2f}x the time of torch.load; "
      f"with mmap {t('airlock-mmap') / t('torch-mmap'):.2f}x the time of torch.load(mmap=True); "
      f"peak memory above the baseline {best['airlock']['rss_mib'] - best['baseline']['rss_mib']:.0f} MiB "
      f"for {size / (1 << 20):.0f} MiB of tensors")
PY
done
