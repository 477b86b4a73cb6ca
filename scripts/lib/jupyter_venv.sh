# Shared helper: a venv with a real Jupyter server (jupyter_server, pinned by
# scripts/requirements-jupyter.lock) for the tests of `airlock net`, which
# start one with and without a token on loopback. A venv of its own,
# ~/.cache/airlock/jupyter-venv, (re)synced whenever the lock's hash differs
# from the one it was last synced with.
#
#   source scripts/lib/jupyter_venv.sh
#   jvenv=$(airlock_jupyter_venv)

AIRLOCK_JUPYTER_LOCK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/requirements-jupyter.lock"

airlock_jupyter_venv() {
  local dir="${AIRLOCK_JUPYTER_VENV:-$HOME/.cache/airlock/jupyter-venv}"
  local stamp="$dir/.airlock-ready"
  local want
  want="lock sha256 $(sha256sum "$AIRLOCK_JUPYTER_LOCK" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "syncing the Jupyter venv in $dir with $AIRLOCK_JUPYTER_LOCK" >&2
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir" >&2 || return 1
    "$dir/bin/python" -m pip install --quiet -r "$AIRLOCK_JUPYTER_LOCK" >&2 || return 1
    "$dir/bin/python" -c 'import jupyter_server' >/dev/null 2>&1 ||
      { echo "jupyter_server does not import in $dir" >&2; return 1; }
    echo "$want" > "$stamp"
  fi
  echo "$dir"
}
