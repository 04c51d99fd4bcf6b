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
BENCH_TAG=traces-bench
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
SPANS=${SPANS:-1000000}
CONCURRENCY=${CONCURRENCY:-4}
MAX_SECONDS=${MAX_SECONDS:-1200}
build_release --features loadgen --bin nerve --bin nerve-tracebench
make_work_dir nerve-traces-bench
TMP=$WORK
NERVE_PID=
STOP_ON_EXIT="NERVE_PID:60"
EXTRA=()
[[ -n "${CONFIG:-}" ]] && EXTRA=(--config "$CONFIG")
start_nerve_logged "$TMP/data" "$TMP/nerve.log" "${EXTRA[@]}"
ADDR=$NERVE_ADDR
OTLP=$NERVE_OTLP_ADDR
RESULT=$("$BIN_DIR/nerve-tracebench" --url "http://$ADDR" --otlp-url "http://$OTLP" --pid "$NERVE_PID" \
  --spans "$SPANS" --concurrency "$CONCURRENCY" --max-seconds "$MAX_SECONDS")
PEAK_RSS_KB=$(grep VmHWM "/proc/$NERVE_PID/status" | awk '{print $2}')
stop_pid "$NERVE_PID" 60
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
