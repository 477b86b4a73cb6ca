#!/usr/bin/env bash
# Peak memory and wall time of `airlock scan`, `inspect` and `convert` on
# every hostile file of scripts/gen_hostile.py (decompression bombs, huge
# headers, sparse giants, huge integers, wrong dimensions), and of `scan
# --jobs 3` on the three compressed bombs at once. Prints a Markdown table.
#
#   scripts/bench_hostile.sh [--timeout SECONDS] [--no-build] [CASE...]
#
# Needs GNU time (`apt-get install time`). Each run is cut off after the
# timeout (default 300 s) and reported as such.
set -euo pipefail
cd "$(dirname "$0")/.."

timeout_s=300
build=1
cases=()
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout_s=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) cases+=("$1"); shift ;;
  esac
done

if [ ! -x /usr/bin/time ]; then
  echo "bench_hostile.sh: GNU time is missing (apt-get install time)" >&2
  exit 2
fi

target=${CARGO_TARGET_DIR:-target}
if [ "$build" = 1 ]; then
  cargo build --release -p airlock-cli --locked >&2
fi
airlock="$target/release/airlock"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 scripts/gen_hostile.py "$tmp/cases" "${cases[@]}" >&2
if [ ${#cases[@]} -eq 0 ]; then
  mapfile -t cases < <(python3 scripts/gen_hostile.py --list)
fi

# run LABEL CMD...: one measured process; prints a table row.
run() {
  local label=$1; shift
  local log="$tmp/time.log" out="$tmp/out.txt"
  rm -rf "$tmp/conv"; mkdir -p "$tmp/conv"
  local rc=0
  /usr/bin/time -v -o "$log" timeout "$timeout_s" "$@" >"$out" 2>&1 || rc=$?
  local rss wall verdict
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF == 3) s = $1 * 3600 + $2 * 60 + $3; else s = $1 * 60 + $2; printf "%.2f", s }')
  if [ "$rc" = 124 ]; then
    verdict="timed out after ${timeout_s} s"
  else
    verdict=$(grep -m1 -E '^(safe|suspicious|dangerous|error) |verdict: |^error:|refused|airlock:' "$out" \
      | sed -e "s|$tmp/cases/||g" -e 's/  */ /g' | cut -c1-110 | tr '|' '/' || true)
    [ -n "$verdict" ] || verdict="exit $rc"
  fi
  printf '| %s | %s | %s | %s |\n' "$label" "$rss" "$wall" "$verdict"
}

echo "| case and command | peak RSS (MiB) | wall (s) | first line of output |"
echo "| --- | ---: | ---: | --- |"
for c in "${cases[@]}"; do
  f="$tmp/cases/$c"
  run "\`$c\` scan" "$airlock" scan --no-progress --color never "$f"
  run "\`$c\` inspect" "$airlock" inspect "$f"
  run "\`$c\` convert" "$airlock" convert "$f" -o "$tmp/conv/out.safetensors"
done
bombs=()
for c in bytes960m.pkl.gz bytes960m.pkl.xz bytes960m.pkl.lz4; do
  [ -e "$tmp/cases/$c" ] && bombs+=("$tmp/cases/$c")
done
if [ ${#bombs[@]} -gt 1 ]; then
  run "the compressed bombs, \`scan --jobs 3\`" "$airlock" scan --no-progress --color never --jobs 3 "${bombs[@]}"
fi
run "\`scan --jobs 100000\` on one small file" "$airlock" scan --no-progress --color never --jobs 100000 "$tmp/cases/${cases[0]}"
