# Shared helper: the Python venv with the real producers (torch, numpy,
# safetensors) that fixture generation and parity tests use. It lives outside
# the checkout, under ~/.cache/airlock, so fresh clones reuse it.
#
#   source scripts/lib/venv.sh; venv=$(airlock_venv)

AIRLOCK_VENV_REQUIREMENTS="torch numpy safetensors omegaconf joblib scikit-learn lz4 pytest model-signing pyopenssl"

airlock_venv() {
  local dir="${AIRLOCK_VENV:-$HOME/.cache/airlock/venv}"
  local stamp="$dir/.airlock-ready"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$AIRLOCK_VENV_REQUIREMENTS" ]; then
    echo "setting up the Python venv with $AIRLOCK_VENV_REQUIREMENTS in $dir (once)" >&2
    python3 -m venv "$dir" >&2
    "$dir/bin/python" -m pip install --quiet --upgrade pip >&2
    "$dir/bin/python" -m pip install --quiet $AIRLOCK_VENV_REQUIREMENTS >&2
    echo "$AIRLOCK_VENV_REQUIREMENTS" > "$stamp"
  fi
  echo "$dir"
}
