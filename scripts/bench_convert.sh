#!/usr/bin/env bash
# Benchmark `airlock convert` on a 2 GiB state dict written by real torch,
# side by side with what people do today and with a plain copy:
#   - cp of the same file (the floor: the bytes have to be copied once);
#   - torch.load(weights_only=True) + safetensors.torch.save_file;
#   - airlock convert --to safetensors.
# airlock syncs its output to disk before renaming it into place (so a crash
# never leaves a half file under the output's name), so every command here
# ends with `sync` of its output, to compare the same work. Whole processes,
# page cache warm, best of N runs (default 3), wall time and peak resident
# memory. Outputs go to target/bench-data/convert (same disk).
#
#   scripts/bench_convert.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
venv=$(airlock_venv)
data=target/bench-data
runs=${1:-3}
[ -f "$data/large.pt" ] || "$venv/bin/python" scripts/gen_bench_checkpoints.py "$data"
cargo build --release -q -p airlock-cli
bin=target/release/airlock
out=$data/convert
mkdir -p "$out"

best() { # label, then the command: best wall seconds and the peak KiB of that run
  local label=$1; shift
  local best_wall="" best_rss=""
  for _ in $(seq "$runs"); do
    rm -f "$out"/*
    sync
    /usr/bin/time -o "$out.time" -f "%e %M" "$@" >/dev/null 2>"$out.err" || { cat "$out.err" >&2; exit 1; }
    read -r wall rss < "$out.time"
    if [ -z "$best_wall" ] || awk "BEGIN{exit !($wall < $best_wall)}"; then
      best_wall=$wall best_rss=$rss
    fi
  done
  echo "$label $best_wall $best_rss"
}

cat "$data/large.pt" > /dev/null
size=$(stat -c %s "$data/large.pt")
echo "== $(basename "$data/large.pt"): $size bytes, 16 float32 tensors of 128 MiB; $(nproc) cores; best of $runs"
{
  best cp sh -c 'cp "$1" "$2" && sync "$2"' sh "$data/large.pt" "$out/copy.pt"
  best torch "$venv/bin/python" -c '
import sys, torch
from safetensors.torch import save_file
sd = torch.load(sys.argv[1], weights_only=True, map_location="cpu")
save_file(sd, sys.argv[2])
import os
fd = os.open(sys.argv[2], os.O_RDONLY); os.fsync(fd); os.close(fd)
' "$data/large.pt" "$out/torch.safetensors"
  best airlock "$bin" convert "$data/large.pt" -o "$out/airlock.safetensors"
} > "$out.rows"
python3 - "$out.rows" "$size" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
size = int(sys.argv[2])
t = {r[0]: (float(r[1]), int(r[2])) for r in rows}
names = {"cp": "cp (copy the bytes) + sync", "torch": "torch.load + save_file + sync",
         "airlock": "airlock convert --to safetensors"}
print(f"{'':38} {'wall':>8} {'GiB/s':>7} {'peak memory':>12}")
for k in ("cp", "torch", "airlock"):
    w, rss = t[k]
    print(f"{names[k]:38} {w:7.2f}s {size / w / (1 << 30):7.2f} {rss / 1024:9.1f} MiB")
a, c, p = t["airlock"][0], t["cp"][0], t["torch"][0]
print(f"airlock is {p / a:.1f}x faster than torch.load + save_file, {a / c:.2f}x the time of cp")
PY
rm -rf "$out" "$out.time" "$out.err" "$out.rows"
