#!/usr/bin/env bash
# Airlock on malicious pickles this repository has never seen: ModelAudit's own
# adversarial pickle tests (PyPI sdist modelaudit==0.2.54, pinned by SHA-256),
# harvested while they run under pytest inside `airlock run`, labelled by
# ModelAudit's verdicts and CPython oracles (never by Airlock), then scanned by
# Airlock one process per file.  See scripts/eval/harvest_unseen.py.
#
#   scripts/eval_unseen.sh [harvest_unseen.py options, e.g. --skip-harvest]
#
# Third set, ModelAudit's main-package tests (tests/ of the same sdist: pickle,
# torch zip / legacy, joblib, numpy, archive scanners), summary eval/UNSEEN-main.md:
#
#   UNSEEN_CACHE=~/.cache/airlock/unseen-main scripts/eval_unseen.sh --suite main [--skip-scan | --skip-harvest]
#
# Fourth set, another project's: the tests of the peer scanner picklescan (PyPI
# sdist picklescan==1.0.5 for tests/test_scanner.py, its repository's tests/data
# and tests/data2 at the commit of tag v1.0.5 for the files it scans; both
# pinned), summary eval/UNSEEN-peers.md:
#
#   UNSEEN_CACHE=~/.cache/airlock/unseen-peers scripts/eval_unseen.sh --suite peers [--peer-repo GIT_CLONE]
#
# Fifth set, another peer's: the tests of Trail of Bits' fickling (test/ of its
# repository at the commit of tag v0.1.12, pinned; its sdist ships no tests), run
# against fickling==0.1.12 from PyPI, summary eval/UNSEEN-fickling.md:
#
#   UNSEEN_CACHE=~/.cache/airlock/unseen-fickling scripts/eval_unseen.sh --suite fickling [--peer-repo GIT_CLONE]
#
# Sixth set, another peer's: the tests of Protect AI's modelscan (tests/ of its
# repository at commit 8b8ed4bf78a8, pinned; its wheel ships no tests), run against
# modelscan==0.8.8 from PyPI (wheel pinned by SHA-256; its modelscan/ is that
# commit's), summary eval/UNSEEN-modelscan.md.  TensorFlow / Keras are not
# installed: their tests are left out (the tests' modules import through stubs):
#
#   UNSEEN_CACHE=~/.cache/airlock/unseen-modelscan scripts/eval_unseen.sh --suite modelscan [--peer-repo GIT_CLONE]
#
# Seventh set, another peer's: the tests of Lab700x's AIsbom (tests/ of its repository at
# the commit of tag v1.3.2, pinned; its wheel ships no tests), run against aisbom-cli==1.3.2
# from PyPI (wheel pinned by SHA-256; its aisbom/ is that tag's byte for byte), summary
# eval/UNSEEN-aisbom.md.  Its Keras, ONNX, GGUF, remote and telemetry tests scan no pickle
# and are not run:
#
#   UNSEEN_CACHE=~/.cache/airlock/unseen-aisbom scripts/eval_unseen.sh --suite aisbom [--peer-repo GIT_CLONE]
#
# Tenth set: the tests fickling added after that release (its repository 19 commits later, at
# 854c99a, run against fickling built from that commit's source), first contact only: payloads of
# tests added or changed since v0.1.12 and none of the fifth set's harvest (run that one first),
# summary eval/UNSEEN-fickling-next.md:
#
#   UNSEEN_CACHE=~/.cache/airlock/unseen-fickling-next scripts/eval_unseen.sh --suite fickling-next [--peer-repo GIT_CLONE]
#
# Eighth set, no peer's tests: published scanner-bypass proofs of concept (eight GitHub
# repositories at pinned commits, PoCs from issue threads; every file pinned by SHA-256),
# labelled by their publishers' claims and the CPython oracles, summary eval/UNSEEN-pocs.md
# (scripts/eval/unseen_pocs.py; its --check needs no network):
#
#   scripts/eval_unseen.sh --suite pocs [--source OWNER/NAME=PATH ...]
#
# Ninth set: pickles written by pickle compilers (pker's CTF exploits, Pickora's
# samples, each compiled by the pinned tool; sources and payloads pinned by
# SHA-256), summary eval/UNSEEN-compilers.md (scripts/eval/unseen_compilers.py):
#
#   scripts/eval_unseen.sh --suite compilers [--source OWNER/NAME=PATH ...]
#
# Environment:
#   AIRLOCK   the airlock binary to measure (default: target/release/airlock,
#             built with `cargo build --release -p airlock-cli` if missing)
#   UNSEEN_CACHE  cache folder (default ~/.cache/airlock/unseen, with --suite
#             main ~/.cache/airlock/unseen-main, --suite peers
#             ~/.cache/airlock/unseen-peers, --suite fickling
#             ~/.cache/airlock/unseen-fickling, --suite modelscan
#             ~/.cache/airlock/unseen-modelscan, --suite aisbom
#             ~/.cache/airlock/unseen-aisbom): sdist, venv, payloads,
#             labels.json, results.json.  Nothing is written to the repository
#             but eval/UNSEEN.md (--suite main: eval/UNSEEN-main.md, --suite
#             peers: eval/UNSEEN-peers.md, --suite fickling:
#             eval/UNSEEN-fickling.md, --suite modelscan:
#             eval/UNSEEN-modelscan.md, --suite aisbom: eval/UNSEEN-aisbom.md).
#
# Network: the first run downloads the sdist (pip download) and, if needed,
# installs modelaudit==0.2.54, pytest and torch into CACHE/venv.  When
# ~/.cache/airlock/peers/modelaudit (scripts/eval/peers.py) already has
# modelaudit 0.2.54, CACHE/venv reuses it through a .pth file (read-only) and
# only pytest is installed (--suite main: and dill, which some of its tests use).
# --suite peers: picklescan==1.0.5 (or ~/.cache/airlock/peers/picklescan's, read
# through a .pth file), torch from the project's venv (scripts/lib/venv.sh, a .pth
# file too), pytest and py7zr (its 7z tests) installed; without --peer-repo the
# repository's tarball of the pinned commit is downloaded once.
# --suite fickling: fickling==0.1.12 (or ~/.cache/airlock/peers/fickling's, through a
# .pth file), torch, torchvision and numpy from the project's venv (a .pth file),
# pytest and py7zr (its polyglot tests) installed; the tests come from --peer-repo
# (a git clone, or a tarball) or the repository's tarball of the pinned commit.
# --suite modelscan: modelscan==0.8.8 (or ~/.cache/airlock/peers/modelscan's, through
# a .pth file read first; else its wheel, --require-hashes, and click, rich, tomlkit,
# numpy 1.26.4: its numpy scanner fails on numpy 2), torch, requests, aiohttp from the project's venv (a .pth file), pytest and dill
# (its tests write dill files) installed; tests as for fickling.
# --suite aisbom: aisbom-cli==1.3.2 (its wheel, --require-hashes, no dependencies), then its
# dependencies at the versions of the tag's poetry.lock (typer 0.27.1 and click 8.4.2 in the
# suite's venv, read before the project's newer ones), torch, numpy, joblib, requests from the
# project's venv (a .pth file), pytest, dill and py7zr (its tests write dill and 7z files);
# tests as for fickling.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=picklescan
prev=
peer_repo=
for a in "$@"; do
  if [ "$prev" = --suite ]; then suite=$a; fi
  if [ "$prev" = --peer-repo ]; then peer_repo=$a; fi
  case $a in --suite=*) suite=${a#--suite=} ;; --peer-repo=*) peer_repo=${a#--peer-repo=} ;; esac
  prev=$a
done
if [ "$suite" = pocs ]; then  # the project's venv: torch for the allowlist, Python 3.11
  source scripts/lib/venv.sh
  exec "$(airlock_venv)/bin/python" scripts/eval/unseen_pocs.py "$@"
fi
if [ "$suite" = compilers ]; then
  source scripts/lib/venv.sh
  exec "$(airlock_venv)/bin/python" scripts/eval/unseen_compilers.py "$@"
fi
case $suite in
  main) cache=${UNSEEN_CACHE:-$HOME/.cache/airlock/unseen-main} ;;
  peers) cache=${UNSEEN_CACHE:-$HOME/.cache/airlock/unseen-peers} ;;
  fickling) cache=${UNSEEN_CACHE:-$HOME/.cache/airlock/unseen-fickling} ;;
  fickling-next) cache=${UNSEEN_CACHE:-$HOME/.cache/airlock/unseen-fickling-next} ;;
  modelscan) cache=${UNSEEN_CACHE:-$HOME/.cache/airlock/unseen-modelscan} ;;
  aisbom) cache=${UNSEEN_CACHE:-$HOME/.cache/airlock/unseen-aisbom} ;;
  *) cache=${UNSEEN_CACHE:-$HOME/.cache/airlock/unseen} ;;
esac
mkdir -p "$cache"

airlock=${AIRLOCK:-target/release/airlock}
if [ ! -x "$airlock" ]; then
  cargo build --release -p airlock-cli
  airlock=target/release/airlock
fi

# has_dist PYTHON DIST VERSION: is DIST==VERSION installed there?
has_dist() {
  [ -x "$1" ] && "$1" -c "import importlib.metadata as m, sys; sys.exit(m.version('$2') != '$3')" 2>/dev/null
}
# link_site PYTHON NAME: $venv reads PYTHON's site-packages (read-only) through NAME.pth
link_site() {
  local site vsite
  site=$("$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  vsite=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$site" > "$vsite/$2.pth"
}

venv=$cache/venv
if [ "$suite" = peers ] && [ ! -x "$venv/bin/python" ]; then
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  peers=$HOME/.cache/airlock/peers/picklescan
  if has_dist "$peers/bin/python" picklescan 1.0.5; then
    link_site "$peers/bin/python" peers-picklescan
  else
    "$venv/bin/python" -m pip install -q "picklescan==1.0.5"
  fi
  source scripts/lib/venv.sh
  link_site "$(airlock_venv)/bin/python" airlock-venv  # torch: the allowlist, the oracles
  "$venv/bin/python" -m pip install -q "pytest==9.2.0" "py7zr==1.1.3"
elif [ "$suite" = fickling ] && [ ! -x "$venv/bin/python" ]; then
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  peers=$HOME/.cache/airlock/peers/fickling
  if has_dist "$peers/bin/python" fickling 0.1.12; then
    link_site "$peers/bin/python" peers-fickling
  else
    "$venv/bin/python" -m pip install -q "fickling==0.1.12"
  fi
  source scripts/lib/venv.sh
  link_site "$(airlock_venv)/bin/python" airlock-venv  # torch, torchvision, numpy: its tests; the allowlist
  "$venv/bin/python" -m pip install -q "pytest==9.2.0" "py7zr==1.1.3"
elif [ "$suite" = fickling-next ] && [ ! -x "$venv/bin/python" ]; then
  # fickling built from the source of the commit whose tests run (no release has it)
  commit=854c99acd2637f97162dd2e1aa2dab4e8d55d77d
  src=$cache/fickling-src
  rm -rf "$src" && mkdir -p "$src"
  if [ -n "$peer_repo" ] && [ -d "$peer_repo" ]; then
    git -C "$peer_repo" archive --format=tar "$commit" fickling pyproject.toml README.md LICENSE | tar -x -C "$src"
  else
    curl -fsSL "https://codeload.github.com/trailofbits/fickling/tar.gz/$commit" | tar -xz --strip-components=1 -C "$src"
  fi
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q "$src"
  source scripts/lib/venv.sh
  link_site "$(airlock_venv)/bin/python" airlock-venv  # torch, torchvision, numpy: its tests; the allowlist
  "$venv/bin/python" -m pip install -q "pytest==9.2.0" "py7zr==1.1.3"
elif [ "$suite" = modelscan ] && [ ! -x "$venv/bin/python" ]; then
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  source scripts/lib/venv.sh
  link_site "$(airlock_venv)/bin/python" airlock-venv  # torch, numpy, requests, aiohttp: its tests; the allowlist
  peers=$HOME/.cache/airlock/peers/modelscan
  if has_dist "$peers/bin/python" modelscan 0.8.8; then
    # read before airlock-venv.pth: its numpy 1.26.4 first (modelscan 0.8.8's numpy scanner calls
    # numpy.lib.format._check_version, gone in numpy 2; torch runs on 1.26 too)
    link_site "$peers/bin/python" 0-peers-modelscan
  else
    req=$cache/modelscan-requirements.txt
    echo "modelscan==0.8.8 --hash=sha256:a1997df2368628daa1b3f394f5660a338b1debc623dec67b38f665ba04ad967e" > "$req"
    "$venv/bin/python" -m pip install -q --no-deps --require-hashes -r "$req"
    "$venv/bin/python" -m pip install -q "click==8.5.1" "rich==14.3.4" "tomlkit==0.13.3" "numpy==1.26.4"
  fi
  "$venv/bin/python" -m pip install -q "pytest==9.2.0" "dill==0.4.1"
elif [ "$suite" = aisbom ] && [ ! -x "$venv/bin/python" ]; then
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  source scripts/lib/venv.sh
  link_site "$(airlock_venv)/bin/python" airlock-venv  # torch, numpy, joblib, requests: its tests; the allowlist
  req=$cache/aisbom-requirements.txt
  echo "aisbom-cli==1.3.2 --hash=sha256:386ba4b51f12e94afc7948ab2a8fc98f130418b7c56ffcd129357584c4b8cc44" > "$req"
  "$venv/bin/python" -m pip install -q --no-deps --require-hashes -r "$req"
  # its dependencies as the tag's poetry.lock pins them (typer < 0.28 and click < 8.5 here, first on sys.path)
  "$venv/bin/python" -m pip install -q "typer==0.27.1" "click==8.4.2" "rich==15.0.0" "shellingham==1.5.4" \
    "cyclonedx-python-lib==11.11.1" "spdx-tools==0.8.5" "pip-requirements-parser==32.0.1" "packaging==26.3" \
    "pytest==9.2.0" "dill==0.3.9" "py7zr==1.1.3"
elif [ ! -x "$venv/bin/python" ]; then
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  peers=$HOME/.cache/airlock/peers/modelaudit
  if has_dist "$peers/bin/python" modelaudit 0.2.54; then
    link_site "$peers/bin/python" peers-modelaudit
  else
    "$venv/bin/python" -m pip install -q "modelaudit==0.2.54" torch numpy
  fi
  "$venv/bin/python" -m pip install -q "pytest==9.2.0"
fi
if [ "$suite" = main ] && ! "$venv/bin/python" -c "import dill, joblib, sklearn" 2>/dev/null; then
  # the main tests' optional dependencies for pickle-bearing files (versions of the sdist's uv.lock)
  "$venv/bin/python" -m pip install -q "dill==0.4.1"
  "$venv/bin/python" -c "import joblib, sklearn" 2>/dev/null \
    || "$venv/bin/python" -m pip install -q "joblib==1.6.0" "scikit-learn==1.7.2"
fi

exec "$venv/bin/python" scripts/eval/harvest_unseen.py --airlock "$airlock" --python "$venv/bin/python" \
  --cache "$cache" "$@"
