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

source "$(dirname "${BASH_SOURCE[0]}")/overlay_venv.sh"

airlock_mlflow_venv() {
  airlock_overlay_venv "${AIRLOCK_MLFLOW_VENV:-$HOME/.cache/airlock/mlflow-venv}" \
    "$AIRLOCK_MLFLOW_LOCK" MLflow 'import mlflow.server'
}
