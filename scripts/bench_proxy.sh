#!/usr/bin/env bash
# The latency `airlock input proxy` adds: the same chat completion request
# at a fixed rate (RATE requests/s for SECONDS, `hey` as the load generator)
# sent straight to a stand-in model server (crates/inputs/examples/
# upstream.rs, a fixed answer) and through the proxy; latency percentiles
# of both, side by side. Loopback only.
#
#   scripts/bench_proxy.sh            (RATE=1000 SECONDS_RUN=10 WORKERS=20)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${RATE:-1000}
secs=${SECONDS_RUN:-10}
workers=${WORKERS:-20}
if ! command -v hey >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q hey >/dev/null
  else
    echo "hey (the HTTP load generator) is not installed: apt-get install hey" >&2
    exit 2
  fi
fi
cargo build --release -q -p airlock-cli
cargo build --release -q -p airlock-inputs --features proxy --example upstream
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
target/release/examples/upstream 127.0.0.1:0 >"$tmp/up" &
for _ in $(seq 50); do [ -s "$tmp/up" ] && break; sleep 0.1; done
up=$(head -1 "$tmp/up")
target/release/airlock input proxy --upstream "http://$up" --listen 127.0.0.1:0 --log /dev/null 2>"$tmp/proxy" &
for _ in $(seq 50); do grep -q listening "$tmp/proxy" 2>/dev/null && break; sleep 0.1; done
proxy=$(sed -n 's/.*listening on http:\/\/\([^,]*\),.*/\1/p' "$tmp/proxy")
cat >"$tmp/body.json" <<'JSON'
{"model":"m","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Can you explain how gradient checkpointing trades compute for memory in PyTorch, and when I should use torch.utils.checkpoint with use_reentrant=False? Please include a short example and mention the memory savings you would expect for a 24-layer transformer trained with a batch of 8 sequences of 2,048 tokens. Keep it under 300 words, and format the code as a Python block."}]}
JSON
per_worker=$(( rate / workers ))
run() {
  hey -z "${secs}s" -c "$workers" -q "$per_worker" -m POST -T application/json -D "$tmp/body.json" "http://$1/v1/chat/completions" >"$tmp/$2"
  printf '%-8s %s req/s  ' "$2" "$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$tmp/$2")"
  awk '/ 50% in| 90% in| 99% in/ {printf "p%s %.2f ms  ", substr($1,1,length($1)-1), $3*1000}' "$tmp/$2"
  awk '/Status code distribution/ {s=1; next} /Error distribution/ {s=0; e=1; next} s && NF {printf "status %s: %s  ", $1, $2} e && NF {printf "error: %s  ", $0}' "$tmp/$2"
  echo
}
echo "$rate requests/s for ${secs} s, $workers workers, $(wc -c <"$tmp/body.json") byte chat request"
run "$up" direct
run "$proxy" proxy
