#!/usr/bin/env bash
# Benchmark `airlock scan` at scale, whole process:
#   - a folder of 1,000 small checkpoints (wall time per file, peak memory);
#   - one 2 GiB checkpoint (wall time, bytes read, peak memory).
# Inputs are written with real torch into target/bench-data (once).
#
#   scripts/bench_scan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
venv=$(airlock_venv)
data=target/bench-data
[ -f "$data/large.pt" ] || "$venv/bin/python" scripts/gen_bench_checkpoints.py "$data"
cargo build --release -q -p airlock-cli
bin=target/release/airlock

measure() { # label, then the command; prints "label wall_seconds peak_kib"
  local label=$1; shift
  /usr/bin/time -o /tmp/airlock-bench.time -f "%e %M" "$@" >/tmp/airlock-bench.json 2>/dev/null || true
  echo "$label $(tail -1 /tmp/airlock-bench.time)"
}

echo "== airlock $($bin --version | cut -d' ' -f2) on $(nproc) cores"
# Warm the page cache, as a scan of files just downloaded would find them.
cat "$data"/small/*.pt > /dev/null
read -r _ wall rss < <(measure small "$bin" scan --no-progress -f json "$data/small")
python3 - "$wall" "$rss" <<'PY'
import json, sys
wall, rss = float(sys.argv[1]), int(sys.argv[2])
r = json.load(open("/tmp/airlock-bench.json"))
n = r["summary"]["files"]
print(f"  1,000 small checkpoints: {n} files, {r['summary']['safe']} safe, {wall:.2f} s wall, "
      f"{wall / n * 1000:.2f} ms per file, peak memory {rss / 1024:.1f} MiB")
PY
cat "$data/large.pt" > /dev/null
read -r _ wall rss < <(measure large "$bin" scan --no-progress -f json "$data/large.pt")
python3 - "$wall" "$rss" <<'PY'
import json, sys
wall, rss = float(sys.argv[1]), int(sys.argv[2])
f = json.load(open("/tmp/airlock-bench.json"))["files"][0]
print(f"  2 GiB checkpoint: {f['verdict']}, {wall:.3f} s wall, read {f['bytes_read']:,} of {f['size']:,} bytes "
      f"({100 * f['bytes_read'] / f['size']:.4f}%), peak memory {rss / 1024:.1f} MiB")
PY
