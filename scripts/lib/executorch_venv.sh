# Shared helper: the venv with ExecuTorch (its producer, its Python reader of
# .pte files, its C++ runtime) that scripts/gen_pte_fixtures.py runs in. It is
# a venv of its own, ~/.cache/airlock/executorch-venv, so the project's venv
# (scripts/lib/venv.sh) is not disturbed: it reads torch and the rest of the
# project's venv through a .pth file, and holds only the packages of
# scripts/requirements-executorch.lock, installed without their dependencies
# and checked against their hashes. Like venv.sh, it is (re)synced whenever
# the lock's hash differs from the one it was last synced with.
#
#   source scripts/lib/venv.sh; source scripts/lib/executorch_venv.sh
#   etvenv=$(airlock_executorch_venv)

AIRLOCK_EXECUTORCH_LOCK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/requirements-executorch.lock"

source "$(dirname "${BASH_SOURCE[0]}")/overlay_venv.sh"

airlock_executorch_venv() {
  airlock_overlay_venv "${AIRLOCK_EXECUTORCH_VENV:-$HOME/.cache/airlock/executorch-venv}" \
    "$AIRLOCK_EXECUTORCH_LOCK" ExecuTorch 'import executorch.exir, executorch.extension.pybindings.portable_lib'
}
