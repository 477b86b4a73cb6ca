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

airlock_executorch_venv() {
  local dir="${AIRLOCK_EXECUTORCH_VENV:-$HOME/.cache/airlock/executorch-venv}"
  local stamp="$dir/.airlock-ready"
  local base want site vsite
  base=$(airlock_venv) || return 1
  want="lock sha256 $(sha256sum "$AIRLOCK_EXECUTORCH_LOCK" | cut -d' ' -f1) base $base"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "syncing the ExecuTorch venv in $dir with $AIRLOCK_EXECUTORCH_LOCK" >&2
    [ -x "$dir/bin/python" ] || "$base/bin/python" -m venv --without-pip "$dir" >&2 || return 1
    site=$("$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    vsite=$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$site" > "$vsite/airlock-venv.pth"
    # pip comes from the project's venv too (through the .pth file).
    "$dir/bin/python" -m pip install --quiet --no-deps --require-hashes \
      -r "$AIRLOCK_EXECUTORCH_LOCK" >&2 || return 1
    "$dir/bin/python" -c 'import executorch.exir, executorch.extension.pybindings.portable_lib' \
      >/dev/null 2>&1 || { echo "executorch does not import in $dir" >&2; return 1; }
    echo "$want" > "$stamp"
  fi
  echo "$dir"
}
