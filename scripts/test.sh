#!/usr/bin/env bash
# The whole test suite, as README.md gives it; .ci/run runs exactly this.
# Needs Rust and Python 3; installs what else it needs (cargo-fuzz) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step "format"
cargo fmt --all --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked

step "differential tests against this machine's CPython"
python3 scripts/gen_pickle_corpus.py "$tmp/corpus.json"
AIRLOCK_PICKLE_CORPUS="$tmp/corpus.json" cargo test -p airlock-pickle --test differential --locked

step "fuzz smoke"
scripts/fuzz_smoke.sh "${AIRLOCK_FUZZ_SECONDS:-45}"

step "all tests passed"
