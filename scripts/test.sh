#!/usr/bin/env bash
# The whole test suite, as README.md gives it; .ci/run runs exactly this.
# Needs Rust and Python 3.11+ with pip. It installs what else it needs:
# cargo-fuzz, and a venv with torch, numpy, safetensors, omegaconf, pytest and
# model-signing, every package pinned by scripts/requirements.lock, under
# ~/.cache/airlock (kept between runs) for the parity tests against the real
# producers and loaders, and beside it a venv with ExecuTorch
# (scripts/requirements-executorch.lock, scripts/lib/executorch_venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh

start=$SECONDS
step() { printf '\n== %s  [%dm%02ds]\n' "$*" $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)); }
tmp=$(mktemp -d)
fuzz_pid=""
trap '[ -z "$fuzz_pid" ] || kill -- -"$fuzz_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

step "format"
cargo fmt --all --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked

step "Python value semantics: the printable table as this machine's CPython writes it"
python3 scripts/gen_unicode_printable.py --check crates/pyvalue/src/printable_table.rs

# The tests below that need an environment variable run with --workspace
# (each test name is one crate's): the features stay those of the run above,
# so nothing is built again.
step "pickle engine against this machine's CPython"
python3 scripts/gen_pickle_corpus.py "$tmp/corpus.json"
AIRLOCK_PICKLE_CORPUS="$tmp/corpus.json" cargo test --workspace --test differential --locked

# The fuzzers run one core each for a fixed time: they run beside the
# Python-bound steps below, and are waited for before the sandbox's tests,
# whose limits are timed.
step "fuzz smoke started in the background (${AIRLOCK_FUZZ_SECONDS:-30} s per target; its log follows the wheel's tests)"
setsid -w scripts/fuzz_smoke.sh "${AIRLOCK_FUZZ_SECONDS:-30}" >"$tmp/fuzz.log" 2>&1 &
fuzz_pid=$!

step "Python venv with the real producers"
venv=$(airlock_venv)
"$venv/bin/python" -c 'import torch, numpy, safetensors; print("torch", torch.__version__, "numpy", numpy.__version__)'

step "committed fixtures are what the generators write with the pinned venv"
"$venv/bin/python" scripts/gen_pickle_corpus.py --check crates/pickle/tests/data/corpus.json
"$venv/bin/python" scripts/gen_torch_fixtures.py --check tests/fixtures/torch
"$venv/bin/python" scripts/gen_malicious_fixtures.py --check tests/fixtures/malicious
"$venv/bin/python" scripts/gen_numpy_fixtures.py --check tests/fixtures/numpy
"$venv/bin/python" scripts/gen_joblib_fixtures.py --check tests/fixtures/joblib
"$venv/bin/python" scripts/gen_object_fixtures.py --check tests/fixtures/objects
"$venv/bin/python" scripts/gen_pyzip_fixtures.py --check tests/fixtures
"$venv/bin/python" scripts/gen_sharded_fixtures.py --check tests/fixtures/sharded
"$venv/bin/python" scripts/gen_dcp_fixtures.py --check tests/fixtures/dcp
"$venv/bin/python" scripts/gen_examples.py --check examples
"$venv/bin/python" scripts/gen_eval_corpus.py --check eval/corpus
"$venv/bin/python" scripts/gen_signing_fixtures.py --check tests/fixtures/signing
"$venv/bin/python" scripts/gen_pt2_fixtures.py --check tests/fixtures/pt2
"$venv/bin/python" scripts/gen_secrets_fixtures.py --check tests/fixtures/secrets
# The labelled set of the input-check evaluation (texts from pinned wheels,
# some 11 MB downloaded once; eval/INPUTS.md).
python3 scripts/eval_inputs.py --check
# The eighth unseen set (published scanner-bypass proofs of concept): its
# report agrees with its recorded results (eval/UNSEEN-pocs.md).
python3 scripts/eval/unseen_pocs.py --check
# The ninth (pickles written by pickle compilers, eval/UNSEEN-compilers.md).
python3 scripts/eval/unseen_compilers.py --check
# ExecuTorch in a venv of its own (executorch's pins would disturb the
# project's venv): some 25 MB of wheels, installed once and kept.
if [ "${AIRLOCK_SKIP_EXECUTORCH:-}" = 1 ]; then
  echo "AIRLOCK_SKIP_EXECUTORCH=1: the ExecuTorch fixtures are not regenerated (their Rust tests still run)"
else
  source scripts/lib/executorch_venv.sh
  etvenv=$(airlock_executorch_venv)
  "$etvenv/bin/python" scripts/gen_pte_fixtures.py --check tests/fixtures/pte
fi
# The torch.export attack variants still run their payloads in torch.export.load.
"$venv/bin/python" scripts/prove_malicious.py tests/fixtures/pt2/malicious --jobs 2 --out "$tmp/pt2-proof.json"

step "weights_only tables against the installed torch"
"$venv/bin/python" scripts/gen_torch_tables.py --check crates/policy/src/torch_tables.rs

step "danger catalogue derived from the code of the installed Python, torch, NumPy, SciPy, joblib, click and pytest"
"$venv/bin/python" scripts/gen_danger_catalogue.py --check crates/policy/data/danger_generated.tsv

step "enum classes rebuilt as data, derived from the installed transformers, accelerate, Lightning and torch"
"$venv/bin/python" scripts/gen_enum_table.py --check

step "weights_only prediction against real torch.load on every fixture"
"$venv/bin/python" scripts/torch_parity.py tests/fixtures/torch --out "$tmp/parity.json"
python3 scripts/gen_wo_edge_fixtures.py --check tests/fixtures/torch-edge
"$venv/bin/python" scripts/gen_family_fixtures.py --check tests/fixtures/family
cargo build -q -p airlock-cli --locked && python3 scripts/family_table.py --check
"$venv/bin/python" scripts/torch_parity.py tests/fixtures/torch-edge --out "$tmp/parity-edge.json"
AIRLOCK_TORCH_PARITY="$tmp/parity.json" AIRLOCK_TORCH_PARITY_EDGE="$tmp/parity-edge.json" \
  cargo test --workspace --test corpus --locked

step "rebuild as data against what real torch.load returns on every fixture"
"$venv/bin/python" scripts/gen_rebuild_expected.py --check tests/fixtures/torch
cargo test --workspace --test rebuild_fixtures --locked

step "evaluation corpus labels: every file loaded by its real loader (every malicious payload runs)"
"$venv/bin/python" scripts/verify_eval_corpus.py --check eval/labels.json

step "writers: safetensors and pt files the real loaders read back"
AIRLOCK_WRITER_PARITY_DIR="$tmp/written" cargo test --workspace --test writer_parity --locked
"$venv/bin/python" scripts/check_written.py "$tmp/written"

step "convert: every output bit-identical to what real torch.load gives"
AIRLOCK_CONVERT_PARITY_DIR="$tmp/convert" cargo test --workspace --test parity --locked
AIRLOCK_CONVERT_PARITY_DIR="$tmp/convert" cargo test --workspace --test dcp --locked
"$venv/bin/python" scripts/convert_parity.py "$tmp/convert/pairs.json" \
  "$tmp/convert/sharded/pairs.json" "$tmp/convert/numpy/pairs.json" "$tmp/convert/dcp/pairs.json" \
  "$tmp/convert/family/pairs.json"

step "Python package: wheel, clean-venv install, pytest against real torch"
# Built with the dev profile, from the artifacts `cargo test` built: the
# same code as the release wheel (python/pyproject.toml's profile), without
# a second optimised build of every crate, and with overflow checks on.
MATURIN_PEP517_ARGS="--profile dev" "$venv/bin/python" -m pip wheel --quiet --no-deps -w "$tmp/wheels" ./python
python3 -m venv "$tmp/clean"
"$tmp/clean/bin/python" -m pip install --quiet "$tmp"/wheels/*.whl
"$tmp/clean/bin/python" -c 'import airlock; r = airlock.scan("examples/models/state_dict.pt"); print("airlock", airlock.__version__, r.verdict); assert r.safe'
"$tmp/clean/bin/airlock" scan examples/models/state_dict.pt
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$tmp"/wheels/*.whl
AIRLOCK_SANDBOX_REQUIRED=1 AIRLOCK_VENV="$venv" "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests

step "fuzz smoke: every parser fuzzed, no crash, no leak, no timeout"
fuzz_status=0
wait "$fuzz_pid" || fuzz_status=$?
fuzz_pid=""
cat "$tmp/fuzz.log"
[ "$fuzz_status" = 0 ] || { echo "fuzz smoke failed (status $fuzz_status)" >&2; exit 1; }

step "model hashing: manifests identical to model_signing's, checksum lists to sha256sum's"
cargo build -q -p airlock-cli --locked
"$venv/bin/python" scripts/signing_parity.py target/debug/airlock

step "model signatures: airlock and model_signing verify each other's, and refuse tampering"
"$venv/bin/python" scripts/signing_interop.py target/debug/airlock

step "airlock net: a real TCPStore found, confirmed over loopback and judged; probed, its write access proved; a real torchrun job classified in a namespace, and inside run --net loopback unreachable from outside; the firewall ruleset in namespaces; a real Jupyter server with and without a token; a real MLflow server"
# The firewall's test loads its ruleset with nft into network namespaces
# it makes: as root, nftables is installed when missing (Debian's package).
# A real Jupyter server in a venv of its own (scripts/lib/jupyter_venv.sh).
source scripts/lib/jupyter_venv.sh
jvenv=$(airlock_jupyter_venv)
# A real MLflow tracking server, in a venv of its own that reads the
# project's (scripts/lib/mlflow_venv.sh).
source scripts/lib/mlflow_venv.sh
mvenv=$(airlock_mlflow_venv)
net_env=(AIRLOCK_NET_REQUIRED=1 AIRLOCK_SANDBOX_REQUIRED=1 AIRLOCK_VENV="$venv" AIRLOCK_JUPYTER_VENV="$jvenv"
  AIRLOCK_MLFLOW_VENV="$mvenv")
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  command -v nft >/dev/null || apt-get install -y -q nftables >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nftables >/dev/null 2>&1; } || true
  command -v nft >/dev/null && net_env+=(AIRLOCK_FIREWALL_REQUIRED=1)
fi
env "${net_env[@]}" cargo test -p airlock-cli --test net --locked

step "sandbox: escape attempts, limits, real torch and every malicious payload inside (as root, then as uid 65534)"
AIRLOCK_SANDBOX_REQUIRED=1 AIRLOCK_VENV="$venv" cargo test -p airlock-cli --test sandbox --locked
if [ "$(id -u)" = 0 ]; then
  bin=$(cargo test -p airlock-cli --test sandbox --no-run --locked 2>&1 | sed -n 's|.*(\(target/[^)]*/sandbox-[0-9a-f]*\)).*|\1|p' | tail -1)
  (cd /tmp && setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
    env AIRLOCK_SANDBOX_REQUIRED=1 "$OLDPWD/$bin")
fi

step "all tests passed"
