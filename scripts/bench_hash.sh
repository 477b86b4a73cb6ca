#!/usr/bin/env bash
# Benchmark hashing a model folder of 4 x 1 GiB files, side by side:
#   - openssl dgst -sha256 (hardware SHA-256; one core) on one file, then
#     on the four one after the other, then one process per core (what the
#     hardware allows);
#   - coreutils sha256sum on one file;
#   - airlock hash on one file (one core), on the folder with one thread
#     (RAYON_NUM_THREADS=1) and on all cores; airlock hash --manifest with
#     1 GB shards (what a signature covers);
#   - the Python model_signing hashing of the same folder (files, sha256,
#     its default parallelism), as `model_signing sign` does before signing.
# Whole processes, page cache warm (every file read once first), best of N
# runs (default 3): wall seconds and GiB/s. Data in target/bench-data/hash.
#
#   scripts/bench_hash.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
venv=$(airlock_venv)
runs=${1:-3}
dir=target/bench-data/hash/model
mkdir -p "$dir"
for i in 0 1 2 3; do
  f=$dir/shard-$i.bin
  [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" = 1073741824 ] || head -c 1073741824 /dev/urandom > "$f"
done
cargo build --release -q -p airlock-cli
bin=target/release/airlock
cat "$dir"/*.bin > /dev/null

best() { # label, GiB hashed, then the command
  local label=$1 gib=$2; shift 2
  local best_wall=""
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$dir.time" -f "%e" "$@" >/dev/null 2>"$dir.err" || { cat "$dir.err" >&2; exit 1; }
    read -r wall < "$dir.time"
    if [ -z "$best_wall" ] || awk "BEGIN{exit !($wall < $best_wall)}"; then best_wall=$wall; fi
  done
  awk -v l="$label" -v w="$best_wall" -v g="$gib" 'BEGIN{printf "| %s | %.2f s | %.2f GiB/s |\n", l, w, g / w}'
}

echo "4 x 1 GiB in $dir; $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); best of $runs"
echo "$(openssl version | cut -d' ' -f1-2), $(sha256sum --version | head -1), model-signing $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("model-signing"))')"
echo
echo "| command | wall | throughput |"
echo "| --- | --- | --- |"
best "openssl dgst -sha256, 1 file" 1 openssl dgst -sha256 "$dir/shard-0.bin"
best "sha256sum, 1 file" 1 sha256sum "$dir/shard-0.bin"
best "airlock hash, 1 file" 1 "$bin" hash "$dir/shard-0.bin"
best "openssl dgst -sha256, 4 files" 4 openssl dgst -sha256 "$dir"/shard-0.bin "$dir"/shard-1.bin "$dir"/shard-2.bin "$dir"/shard-3.bin
best "openssl dgst -sha256, 4 files, one process per core (the hardware's bound)" 4 sh -c '
  n=$(nproc); i=0; for f in "$@"; do openssl dgst -sha256 "$f" >/dev/null & i=$((i+1)); [ $((i % n)) -eq 0 ] && wait; done; wait' sh "$dir"/shard-0.bin "$dir"/shard-1.bin "$dir"/shard-2.bin "$dir"/shard-3.bin
best "airlock hash, folder, 1 thread" 4 env RAYON_NUM_THREADS=1 "$bin" hash "$dir"
best "airlock hash, folder, all cores" 4 "$bin" hash "$dir"
best "airlock hash --manifest (1 GB shards), all cores" 4 "$bin" hash --manifest --shard-size 1000000000 "$dir"
best "model_signing hashing (files, sha256)" 4 "$venv/bin/python" -c '
import sys
from model_signing import hashing
hashing.Config().use_file_serialization().hash(sys.argv[1])
' "$dir"
best "model_signing hashing (1 GB shards, sha256)" 4 "$venv/bin/python" -c '
import sys
from model_signing import hashing
hashing.Config().use_shard_serialization().hash(sys.argv[1])
' "$dir"
