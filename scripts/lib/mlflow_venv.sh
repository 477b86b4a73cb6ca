# Shared helper: a venv with a real MLflow tracking server for the tests of
# `airlock net` (scripts/requirements-mlflow.lock), which start one on
# loopback. A venv of its own, ~/.cache/airlock/mlflow-venv, reading the
# project's venv (scripts/lib/venv.sh: numpy, pandas, scikit-learn, ...)
# through a .pth file and holding only the packages MLflow adds, installed
# without their dependencies and checked against their hashes; (re)synced
# whenever the lock's hash differs from the one it was last synced with.
#
#   source scripts/lib/venv.sh; source scripts/lib/mlflow_venv.sh
#   mvenv=$(airlock_mlflow_venv)

AIRLOCK_MLFLOW_LOCK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/requirements-mlflow.lock"

airlock_mlflow_venv() {
  local dir="${AIRLOCK_MLFLOW_VENV:-$HOME/.cache/airlock/mlflow-venv}"
  local stamp="$dir/.airlock-ready"
  local base want site vsite
  base=$(airlock_venv) || return 1
  want="lock sha256 $(sha256sum "$AIRLOCK_MLFLOW_LOCK" | cut -d' ' -f1) base $base"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "syncing the MLflow venv in $dir with $AIRLOCK_MLFLOW_LOCK" >&2
    [ -x "$dir/bin/python" ] || "$base/bin/python" -m venv --without-pip "$dir" >&2 || return 1
    site=$("$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    vsite=$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$site" > "$vsite/airlock-venv.pth"
    # pip comes from the project's venv too (through the .pth file).
    "$dir/bin/python" -m pip install --quiet --no-deps --require-hashes \
      -r "$AIRLOCK_MLFLOW_LOCK" >&2 || return 1
    "$dir/bin/python" -c 'import mlflow.server' >/dev/null 2>&1 ||
      { echo "mlflow.server does not import in $dir" >&2; return 1; }
    echo "$want" > "$stamp"
  fi
  echo "$dir"
}
