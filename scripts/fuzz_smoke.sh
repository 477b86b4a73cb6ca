#!/usr/bin/env bash
# Bounded fuzzing of every parser (cargo-fuzz + libFuzzer, stable toolchain
# through RUSTC_BOOTSTRAP=1). Seeds come from the differential corpus.
#
#   scripts/fuzz_smoke.sh [SECONDS_PER_TARGET]   (default 30)
#
# Corpora live in $AIRLOCK_FUZZ_CORPUS (default ~/.cache/airlock/fuzz-corpus)
# and grow from run to run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (once)"
  cargo install cargo-fuzz --locked --quiet
fi
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
python3 - "$seeds" <<'PY'
import json, os, sys
out = sys.argv[1]
corpus = json.load(open("crates/pickle/tests/data/corpus.json"))
for group in ("cases", "quirks", "adversarial"):
    for c in corpus[group]:
        data = bytes.fromhex(c["pickle"])
        if len(data) < 20000:
            open(os.path.join(out, f"{group}-{c['name']}"), "wb").write(data)
# The numpy fixtures also seed the header parser with their header text
# alone, and the dtype builder with the descriptor strings numpy was asked.
numpy_dir = "tests/fixtures/numpy"
for f in sorted(os.listdir(numpy_dir)):
    data = open(os.path.join(numpy_dir, f), "rb").read()
    if f.endswith(".npy") and len(data) > 10:
        n = 2 if data[6:8] == b"\x01\x00" else 4
        header = data[8 + n : 8 + n + int.from_bytes(data[8 : 8 + n], "little")]
        open(os.path.join(out, "npyheader-" + f), "wb").write(header[:65536])
table = json.load(open(os.path.join(numpy_dir, "dtype_strings.json")))
for i, row in enumerate(table["strings"] + table["written"]):
    open(os.path.join(out, f"dtype-{i}"), "wb").write(row["descr"].encode("utf-8"))
for i, row in enumerate(table["literals"]):
    open(os.path.join(out, f"descr-{i}"), "wb").write(row["source"].encode("utf-8"))
# The code files of the TorchScript fixtures seed the TorchScript reader.
import zipfile
for d, _, files in os.walk("tests/fixtures"):
    for f in files:
        p = os.path.join(d, f)
        try:
            with zipfile.ZipFile(p) as z:
                for n in z.namelist():
                    if "/code/" in n and n.endswith(".py"):
                        open(os.path.join(out, "tscode-" + p.replace("/", "_") + "-" + n.replace("/", "_")), "wb").write(z.read(n)[:65536])
        except Exception:  # not a ZIP, or one Python's zipfile refuses
            pass
# The JSON members of the torch.export archives (programs, payload configs)
# seed the .pt2 reader's JSON parsers (pt2_reader).
for d, _, files in os.walk("tests/fixtures/pt2"):
    for f in files:
        if f.endswith(".pt2"):
            try:
                with zipfile.ZipFile(os.path.join(d, f)) as z:
                    for n in z.namelist():
                        if n.endswith(".json"):
                            open(os.path.join(out, "pt2json-" + f + "-" + n.replace("/", "_")), "wb").write(z.read(n)[:65536])
            except Exception:  # an attack variant Python's zipfile refuses
                pass
# Real checkpoints, attack files, .npy fixtures, the compressed files and
# archives of tests/fixtures/compress and tests/fixtures/pyzip, and the
# .metadata and .distcp files of tests/fixtures/dcp (for dcp_reader) seed
# the container and decompression readers.
for root in ("tests/fixtures", "examples"):
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if os.path.getsize(p) <= 65536 and not f.endswith(".json"):
                open(os.path.join(out, "file-" + p.replace("/", "_")), "wb").write(open(p, "rb").read())
PY
# Each target's corpus (the inputs that reached new code) is kept between
# runs outside the checkout, so every run starts where the last one ended.
corpora="${AIRLOCK_FUZZ_CORPUS:-$HOME/.cache/airlock/fuzz-corpus}"
# Every target built at once (they share their dependencies), then run.
echo "building the fuzz targets"
cargo fuzz build --fuzz-dir fuzz
for target in $(cargo fuzz list --fuzz-dir fuzz); do
  mkdir -p "$corpora/$target"
  echo "fuzzing $target for ${secs}s ($(find "$corpora/$target" -type f | wc -l) inputs kept from earlier runs)"
  log="$seeds/$target.log"
  if ! cargo fuzz run --fuzz-dir fuzz "$target" "$corpora/$target" "$seeds" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzzing $target failed; the crashing input is in fuzz/artifacts/$target" >&2
    exit 1
  fi
  grep -E "^Done [0-9]+ runs" "$log" || { tail -n 20 "$log" >&2; exit 1; }
done
