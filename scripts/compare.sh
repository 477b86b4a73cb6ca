#!/usr/bin/env bash
# How Airlock compares: one command that runs Airlock, picklescan, modelscan,
# fickling and ModelAudit side by side on the evaluation corpus and on a
# scan-speed benchmark, and writes the results.
#
#   scripts/compare.sh [--no-bench] [--no-readme] [--tools airlock,picklescan,...]
#
# It needs what scripts/test.sh needs (Rust, Python 3.11 with pip) and
# network access to PyPI the first time. Steps:
#   1. builds airlock (release);
#   2. the producers' venv (torch, numpy, safetensors, ...; scripts/lib/venv.sh);
#   3. labels the corpus (eval/corpus, tests/fixtures/torch,
#      tests/fixtures/malicious) by loading every file with its real loader in
#      throw-away processes (scripts/verify_eval_corpus.py) and checks the
#      labels against eval/labels.json;
#   4. installs each peer, latest release from PyPI, into its own venv under
#      ~/.cache/airlock/peers (scripts/eval/peers.py; ModelAudit's telemetry
#      switched off);
#   5. runs every tool on every file, one process per file, 60 s timeout
#      each, then a folder of 1,000 small checkpoints and one 2 GiB checkpoint
#      (written by real torch under target/bench-data);
#   6. prints the summary and writes eval/results.json, eval/RESULTS.md (every
#      file, every tool) and the comparison table between the compare
#      markers of README.md ("How it compares") and docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh

bench=1 readme=1 tools=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-bench) bench=0 ;;
    --no-readme) readme=0 ;;
    --tools) tools=$2; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== building airlock" >&2
cargo build --release --locked -q -p airlock-cli
venv=$(airlock_venv)
echo "== labelling the corpus by loading every file" >&2
"$venv/bin/python" scripts/verify_eval_corpus.py --out "$tmp/labels.json" --check eval/labels.json
args=(--airlock target/release/airlock --labels "$tmp/labels.json"
      --peers-cache "${AIRLOCK_PEERS_CACHE:-$HOME/.cache/airlock/peers}"
      --json eval/results.json --markdown eval/RESULTS.md)
[ -n "$tools" ] && args+=(--tools "$tools")
if [ "$bench" = 1 ]; then
  data=target/bench-data
  [ -f "$data/large.pt" ] || "$venv/bin/python" scripts/gen_bench_checkpoints.py "$data"
  args+=(--bench-data "$data")
fi
[ "$readme" = 1 ] && args+=(--readme README.md --readme docs/BENCHMARKS.md)
python3 scripts/eval/compare.py "${args[@]}"
