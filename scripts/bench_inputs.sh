#!/usr/bin/env bash
# Throughput of `airlock input check`'s deterministic checks (criterion, one
# core, the default profile with decoding on): 1 KB prompts in English, in
# several scripts, and an attack, and the project's docs/*.md as one large
# Markdown text.
#
#   scripts/bench_inputs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p airlock-inputs --bench check -- --noplot 2>&1 | grep -E "^inputs/|time:|thrpt:"
