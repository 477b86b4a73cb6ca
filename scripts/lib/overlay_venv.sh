# Shared helper of executorch_venv.sh and mlflow_venv.sh: a venv of its own
# that reads the project's venv (scripts/lib/venv.sh) through a .pth file
# and holds only the packages of LOCK, installed without their dependencies
# and checked against their hashes; (re)synced whenever the lock's hash or
# the project's venv differs from the last sync. Prints the venv's folder.
#
#   airlock_overlay_venv DIR LOCK LABEL CHECK_PYTHON_CODE

airlock_overlay_venv() {
  local dir=$1 lock=$2 label=$3 check=$4
  local stamp="$dir/.airlock-ready"
  local base want site vsite
  base=$(airlock_venv) || return 1
  want="lock sha256 $(sha256sum "$lock" | cut -d' ' -f1) base $base"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "syncing the $label venv in $dir with $lock" >&2
    [ -x "$dir/bin/python" ] || "$base/bin/python" -m venv --without-pip "$dir" >&2 || return 1
    site=$("$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    vsite=$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$site" > "$vsite/airlock-venv.pth"
    # pip comes from the project's venv too (through the .pth file).
    "$dir/bin/python" -m pip install --quiet --no-deps --require-hashes -r "$lock" >&2 || return 1
    "$dir/bin/python" -c "$check" >/dev/null 2>&1 ||
      { echo "the $label venv in $dir fails: $check" >&2; return 1; }
    echo "$want" > "$stamp"
  fi
  echo "$dir"
}
