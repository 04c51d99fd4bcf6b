#!/usr/bin/env bash
# Trace ingest and query benchmark: a release nerve on a fresh temp data dir, driven by
# target/release/nerve-tracebench over OTLP/HTTP protobuf, then queried through the Tempo and
# Jaeger APIs. Prints spans/s per nerve CPU-second, trace-by-id p50/p99 over all stored spans,
# a search by service + minDuration, and bytes per span on disk (after a clean shutdown, which
# flushes the head into segments).
# Goals (issue 6): ingest ≥ 100k spans/s per core, trace by id p99 < 20 ms with ≥ 1M spans,
# ≤ 60 B per span on disk.
#
# Not part of CI. Bounded: SPANS spans, MAX_SECONDS per run; loopback only; the nerve it
# started is stopped by PID on exit.
#
# Environment: SPANS [1000000], CONCURRENCY [4], SKIP_BUILD [0], KEEP_DATA [0],
#              MAX_SECONDS [1200], BIN_DIR [target/release],
#              CONFIG [] a nerve config file (e.g. one with `traces: {span_metrics: {enabled:
#              false}}` to measure ingest without span metrics).
set -euo pipefail
cd "$(dirname "$0")/.."
SPANS=${SPANS:-1000000}
CONCURRENCY=${CONCURRENCY:-4}
MAX_SECONDS=${MAX_SECONDS:-1200}
BIN_DIR=${BIN_DIR:-target/release}
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cargo build --release --features loadgen --bin nerve --bin nerve-tracebench
fi
TMP=$(mktemp -d)
NERVE_PID=
cleanup() {
  [[ -n "$NERVE_PID" ]] && kill "$NERVE_PID" 2>/dev/null && wait "$NERVE_PID" 2>/dev/null || true
  [[ "${KEEP_DATA:-0}" == 1 ]] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
EXTRA=()
[[ -n "${CONFIG:-}" ]] && EXTRA=(--config "$CONFIG")
"$BIN_DIR/nerve" serve --data-dir "$TMP/data" "${EXTRA[@]}" \
  --http-listen 127.0.0.1:0 --otlp-grpc-listen 127.0.0.1:0 --otlp-http-listen 127.0.0.1:0 \
  2> "$TMP/nerve.log" &
NERVE_PID=$!
ADDR=
for _ in $(seq 1 300); do
  ADDR=$(grep -m1 -o 'http server listening addr=[0-9.:]*' "$TMP/nerve.log" | grep -v otlp | sed 's/.*addr=//' || true)
  [[ -n "$ADDR" ]] && curl -fs "http://$ADDR/-/ready" >/dev/null && break
  sleep 0.2
done
[[ -n "$ADDR" ]] || { echo "nerve did not start" >&2; cat "$TMP/nerve.log" >&2; exit 1; }
OTLP=$(grep -m1 -o 'otlp http server listening addr=[0-9.:]*' "$TMP/nerve.log" | sed 's/.*addr=//')
RESULT=$("$BIN_DIR/nerve-tracebench" --url "http://$ADDR" --otlp-url "http://$OTLP" --pid "$NERVE_PID" \
  --spans "$SPANS" --concurrency "$CONCURRENCY" --max-seconds "$MAX_SECONDS")
PEAK_RSS_KB=$(grep VmHWM "/proc/$NERVE_PID/status" | awk '{print $2}')
kill -TERM "$NERVE_PID"
for _ in $(seq 1 600); do kill -0 "$NERVE_PID" 2>/dev/null || break; sleep 0.1; done
NERVE_PID=
SEGMENTS=$(du -sb "$TMP/data/traces/partitions" | cut -f1)
TOTAL=$(du -sb "$TMP/data/traces" | cut -f1)
python3 - "$RESULT" "$SEGMENTS" "$TOTAL" "$PEAK_RSS_KB" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); seg = int(sys.argv[2]); total = int(sys.argv[3]); rss_kb = int(sys.argv[4])
r["segment_bytes"] = seg
r["bytes_per_span"] = seg / r["spans"]
r["bytes_per_span_incl_wal"] = total / r["spans"]
r["peak_rss_mib"] = rss_kb / 1024
print(json.dumps(r, indent=1))
ok = lambda b: "PASS" if b else "MISS"
print(f"ingest {r['spans_per_cpu_second']:.0f} spans/s per CPU-second (goal >= 100000): {ok(r['spans_per_cpu_second'] >= 100000)}")
print(f"trace by id p99 {r['tempo_by_id_ms_p99']:.1f} ms Tempo / {r['jaeger_by_id_ms_p99']:.1f} ms Jaeger (goal < 20 ms): {ok(max(r['tempo_by_id_ms_p99'], r['jaeger_by_id_ms_p99']) < 20)}")
print(f"search service+minDuration median {r['search_service_min_duration_ms_median']:.1f} ms ({r['search_traces_found']} traces)")
print(f"bytes per span {r['bytes_per_span']:.1f} (goal <= 60): {ok(r['bytes_per_span'] <= 60)}")
PY
