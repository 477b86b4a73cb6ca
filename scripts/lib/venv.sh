# Shared helper: the Python venv with the real producers (torch, numpy,
# safetensors, ...) that fixture generation and parity tests use. It lives
# outside the checkout, under ~/.cache/airlock, so fresh clones reuse it.
# Every package in it is pinned by scripts/requirements.lock; the venv is
# (re)synced from that file whenever the file's hash differs from the one it
# was last synced with, and a venv that already holds the pinned versions
# is left as it is.
#
#   source scripts/lib/venv.sh; venv=$(airlock_venv)

AIRLOCK_VENV_LOCK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/requirements.lock"

airlock_venv() {
  local dir="${AIRLOCK_VENV:-$HOME/.cache/airlock/venv}"
  local stamp="$dir/.airlock-ready"
  local want
  want="lock sha256 $(sha256sum "$AIRLOCK_VENV_LOCK" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "syncing the Python venv in $dir with $AIRLOCK_VENV_LOCK" >&2
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir" >&2 || return 1
    "$dir/bin/python" -m pip install --quiet "$(grep '^pip==' "$AIRLOCK_VENV_LOCK")" >&2 || return 1
    "$dir/bin/python" -m pip install --quiet -r "$AIRLOCK_VENV_LOCK" >&2 || return 1
    "$dir/bin/python" -m pip check >&2 || return 1
    echo "$want" > "$stamp"
  fi
  local python have
  python=$(sed -n 's/^# python==//p' "$AIRLOCK_VENV_LOCK")
  have=$("$dir/bin/python" -c 'import platform; print(platform.python_version())')
  if [ "$have" != "$python" ]; then
    echo "warning: the venv runs Python $have, the fixtures were written with $python (scripts/requirements.lock): the generators' --check steps may report differences" >&2
  fi
  echo "$dir"
}
