#!/usr/bin/env bash
# Log ingest and search benchmark: a release nerve on a fresh temp data dir, driven by
# target/release/nerve-logbench over the Loki push API (snappy protobuf), then queried over the
# Loki query API. Prints ingest MB/s per nerve CPU-second, the rare-token search latency over
# all pushed data, the `sum by (level) (count_over_time(... | json [1m]))` latency over 1 h,
# and the stored bytes as a share of the raw line bytes (after a clean shutdown).
# Goals (issue 5): ingest ≥ 50 MB/s per core, rare-token search over ≥ 1 GB < 200 ms,
# storage ≤ 15 % of raw.
#
# Not part of CI. Bounded: BYTES of data, MAX_SECONDS per run; loopback only; the nerve it
# started is stopped by PID on exit.
#
# Environment: BYTES [1073741824], STREAMS [50], CONCURRENCY [4], SKIP_BUILD [0], KEEP_DATA [0],
#              MAX_SECONDS [1200], RESULTS_JSON [] (also write the figures there),
#              BIN_DIR [target/release] (where nerve and nerve-logbench are; with SKIP_BUILD=1,
#              lets a copy of the binaries be measured while the target dir is rebuilt).
set -euo pipefail
BENCH_TAG=logs-bench
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
BYTES=${BYTES:-1073741824}
STREAMS=${STREAMS:-50}
CONCURRENCY=${CONCURRENCY:-4}
MAX_SECONDS=${MAX_SECONDS:-1200}
build_release --features loadgen --bin nerve --bin nerve-logbench
make_work_dir nerve-logs-bench
TMP=$WORK
NERVE_PID=
STOP_ON_EXIT="NERVE_PID:60"
cat > "$TMP/nerve.yml" <<YML
limits:
  logs_ingestion_rate: 4GB
  logs_ingestion_burst: 8GB
YML
start_nerve_logged "$TMP/data" "$TMP/nerve.log" --config "$TMP/nerve.yml"
ADDR=$NERVE_ADDR
RESULT=$("$BIN_DIR/nerve-logbench" --url "http://$ADDR" --pid "$NERVE_PID" --bytes "$BYTES" \
  --streams "$STREAMS" --concurrency "$CONCURRENCY" --max-seconds "$MAX_SECONDS")
PEAK_RSS_KB=$(grep VmHWM "/proc/$NERVE_PID/status" | awk '{print $2}')
stop_pid "$NERVE_PID" 60
NERVE_PID=
STORED=$(du -sb "$TMP/data/logs" | cut -f1)
python3 - "$RESULT" "$STORED" "$PEAK_RSS_KB" "${RESULTS_JSON:-}" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); stored = int(sys.argv[2]); rss_kb = int(sys.argv[3]); out = sys.argv[4]
r["stored_bytes"] = stored
r["stored_share_of_raw"] = stored / r["raw_bytes"]
r["peak_rss_mib"] = rss_kb / 1024
def goal(ok): return "PASS" if ok else "MISS"
print(f"raw log data        {r['raw_bytes']/1e6:10.1f} MB in {r['lines']} lines")
print(f"push wall time      {r['push_seconds']:10.1f} s   ({r['push_mb_per_sec']:.1f} MB/s)")
print(f"ingest per core     {r['ingest_mb_per_cpu_second']:10.1f} MB/s per nerve CPU-second  goal >= 50   {goal(r['ingest_mb_per_cpu_second'] >= 50)}")
print(f"rare-token search   {r['rare_token_ms_median']:10.1f} ms median ({r['rare_token_lines_found']} lines)  goal < 200   {goal(r['rare_token_ms_median'] < 200)}")
print(f"count_over_time|json{r['metric_query_ms_median']:10.1f} ms median over 1 h")
print(f"stored / raw        {100*r['stored_share_of_raw']:10.1f} %   goal <= 15   {goal(r['stored_share_of_raw'] <= 0.15)}")
print(f"peak RSS            {r['peak_rss_mib']:10.1f} MiB")
if out:
    json.dump(r, open(out, "w"), indent=1)
PY
