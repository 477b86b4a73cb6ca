#!/usr/bin/env bash
# Airlock on malicious pickles this repository has never seen: ModelAudit's own
# adversarial pickle tests (PyPI sdist modelaudit==0.2.54, pinned by SHA-256),
# harvested while they run under pytest inside `airlock run`, labelled by
# ModelAudit's verdicts and CPython oracles (never by Airlock), then scanned by
# Airlock one process per file.  See scripts/eval/harvest_unseen.py.
#
#   scripts/eval_unseen.sh [harvest_unseen.py options, e.g. --skip-harvest]
#
# Environment:
#   AIRLOCK   the airlock binary to measure (default: target/release/airlock,
#             built with `cargo build --release -p airlock-cli` if missing)
#   UNSEEN_CACHE  cache folder (default ~/.cache/airlock/unseen): sdist, venv,
#             payloads, labels.json, results.json.  Nothing is written to the
#             repository but eval/UNSEEN.md.
#
# Network: the first run downloads the sdist (pip download) and, if needed,
# installs modelaudit==0.2.54, pytest and torch into CACHE/venv.  When
# ~/.cache/airlock/peers/modelaudit (scripts/eval/peers.py) already has
# modelaudit 0.2.54, CACHE/venv reuses it through a .pth file (read-only) and
# only pytest is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${UNSEEN_CACHE:-$HOME/.cache/airlock/unseen}
mkdir -p "$cache"

airlock=${AIRLOCK:-target/release/airlock}
if [ ! -x "$airlock" ]; then
  cargo build --release -p airlock-cli
  airlock=target/release/airlock
fi

venv=$cache/venv
if [ ! -x "$venv/bin/python" ]; then
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  peers=$HOME/.cache/airlock/peers/modelaudit
  if [ -x "$peers/bin/python" ] && "$peers/bin/python" -c \
      "import importlib.metadata as m, sys; sys.exit(m.version('modelaudit') != '0.2.54')" 2>/dev/null; then
    site=$("$peers/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    vsite=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$site" > "$vsite/peers-modelaudit.pth"
  else
    "$venv/bin/python" -m pip install -q "modelaudit==0.2.54" torch numpy
  fi
  "$venv/bin/python" -m pip install -q "pytest==9.2.0"
fi

exec "$venv/bin/python" scripts/eval/harvest_unseen.py --airlock "$airlock" --python "$venv/bin/python" \
  --cache "$cache" "$@"
