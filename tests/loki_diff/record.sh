#!/usr/bin/env bash
# Re-records the Loki differential suite's golden answers (tests/loki_diff/golden/answers.jsonl).
# Starts the Loki built by ../shared/peers/build.sh (LOKI, default ~/peers/bin/loki) on free
# loopback ports in an empty temporary directory, pushes data.json with T0 = start of yesterday
# UTC, flushes, runs every check of queries.txt through record.py, then stops Loki.
# Usage: tests/loki_diff/record.sh [LOKI_CONFIG]   (default /work/shared/peers/loki.yaml)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
loki=${LOKI:-$HOME/peers/bin/loki}
config=${1:-/work/shared/peers/loki.yaml}
[ -x "$loki" ] || { echo "no Loki at $loki (build it with ../shared/peers/build.sh)" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port); grpc_port=$(free_port)
dir=$(mktemp -d /tmp/loki-diff.XXXXXX)
sed -e "s#DATA#$dir#g" -e "s#3100#$http_port#" -e "s#9096#$grpc_port#" "$config" > "$dir/loki.yaml"
# The pattern ingester is off by default; the patterns endpoint 404s without it.
printf 'pattern_ingester:\n  enabled: true\n' >> "$dir/loki.yaml"
# Loki writes ./fake and ./index under its working directory: start it from inside $dir.
(cd "$dir" && exec "$loki" -config.file="$dir/loki.yaml" > "$dir/loki.log" 2>&1) &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
base="http://127.0.0.1:$http_port"
for _ in $(seq 1 120); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/ready")" = 200 ]; then break; fi
  kill -0 "$pid" 2>/dev/null || { cat "$dir/loki.log" >&2; exit 1; }
  sleep 1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/ready")" = 200 ] || { echo "Loki not ready in 120 s" >&2; exit 1; }
"$loki" --version 2>/dev/null | head -1 > "$here/golden/loki-version.txt"
python3 "$here/record.py" "$base" "${@:2}"
