#!/usr/bin/env bash
# `airlock ci` side by side with zizmor (the PyPI package, pinned) on the
# same workflow folders: wall time of whole processes (best of RUNS) and the
# findings each tool reports, by rule, so that README can say which policy
# principle each covers on real workflows.
#
#   scripts/bench_ci.sh [PATH ...]      (default: the real workflows under tests/fixtures/ci/real)
#
# PATH: a repository checkout (its .github/workflows) or a workflows folder;
# for the figure the issue names, a checkout of pytorch/pytorch.
# Environment: AIRLOCK (default target/release/airlock, built if missing),
# RUNS (default 5), SCALE (default 5), ZIZMOR_VENV (default ~/.cache/airlock/peers/zizmor).
# Network: the first run installs zizmor==1.32.0 from PyPI into ZIZMOR_VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
airlock=${AIRLOCK:-target/release/airlock}
[ -x "$airlock" ] || cargo build --release -q -p airlock-cli
runs=${RUNS:-5}
zvenv=${ZIZMOR_VENV:-$HOME/.cache/airlock/peers/zizmor}
if [ ! -x "$zvenv/bin/zizmor" ]; then
  python3 -m venv "$zvenv"
  "$zvenv/bin/python" -m pip install --quiet "zizmor==1.32.0"
fi
# Without paths: the real workflows of tests/fixtures/ci/real, each project
# alone and, for scale, SCALE (default 5) copies of all of them in one folder.
if [ $# -eq 0 ]; then
  scaled=$(mktemp -d)
  trap 'rm -rf "$scaled"' EXIT
  mkdir -p "$scaled/.github/workflows"
  for i in $(seq "${SCALE:-5}"); do
    for f in tests/fixtures/ci/real/*/.github/workflows/*.yml; do
      project=$(basename "$(dirname "$(dirname "$(dirname "$f")")")")
      cp "$f" "$scaled/.github/workflows/$i-$project-$(basename "$f")"
    done
  done
  set -- tests/fixtures/ci/real/* "$scaled"
fi
python3 - "$airlock" "$zvenv/bin/zizmor" "$runs" "$@" <<'PY'
import collections, json, os, subprocess, sys, time

airlock, zizmor, runs, paths = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]

def best(cmd):
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        out = p.stdout
    return min(times), out

def workflows(path):
    d = os.path.join(path, ".github", "workflows")
    d = d if os.path.isdir(d) else path
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith((".yml", ".yaml")))

version = subprocess.run([zizmor, "--version"], capture_output=True, text=True).stdout.strip()
print(f"airlock: {subprocess.run([airlock, '--version'], capture_output=True, text=True).stdout.strip()}; {version}; best of {runs} runs")
print("| folder | workflow files | airlock ci | zizmor (offline) | airlock findings by rule | zizmor findings by audit |")
print("| --- | ---: | ---: | ---: | --- | --- |")
for path in paths:
    files = workflows(path)
    ta, a = best([airlock, "ci", path, "--format", "json"])
    tz, z = best([zizmor, "--offline", "--format", "json", "--no-exit-codes", *files])
    a_rules = collections.Counter(f["rule"] for r in json.loads(a)["files"] for f in r["findings"])
    z_rules = collections.Counter(f["ident"] for f in json.loads(z or "[]"))
    fmt = lambda c: ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"
    print(f"| `{path}` | {len(files)} | {ta * 1000:.0f} ms | {tz * 1000:.0f} ms | {fmt(a_rules)} | {fmt(z_rules)} |")
PY
