#!/usr/bin/env bash
# Side-by-side PromQL latency: nerve vs Debian's Prometheus 2.42, same machine, same data.
#
# Both servers start on free 127.0.0.1 ports with fresh temp data dirs and the same config (no
# scrape jobs). target/release/nerve-loadgen remote-writes the same deterministic workload
# (exporter-shaped series: http_requests_total, a latency histogram, node_cpu_seconds_total,
# network/filesystem/temperature/queue gauges, ...) into each. Then a fixed list of 20 queries
# (10 instant, 10 range; rate, sum by, histogram_quantile, topk, binary ops with matching,
# regex matchers, subqueries) runs against both: one warm-up each, then REPS timed runs,
# alternating servers. Printed: per query the median latency of each server, the ratio
# nerve/Prometheus and whether the two results have the same number of series; then the
# median and geometric mean of the ratios. Latency is curl's time_total for a form POST, so it
# includes HTTP and JSON encoding, as a Grafana panel sees it.
#
# The data spans less than 3 h so that neither server cuts or compacts a block while the
# queries run (both answer from their in-memory head).
#
# Not part of CI. Every wait is bounded; only loopback addresses are used; the servers it
# started are stopped by PID on exit.
#
# Environment (defaults in brackets):
#   SERIES [20000]     active series (140 targets × 143 series)
#   ROUNDS [700]       samples per series, 15 s apart (2 h 55 min)
#   REPS [5]           timed runs per query and server
#   QUERY_TIMEOUT [120] seconds one query may take (curl --max-time)
#   SKIP_BUILD [0]     1: use the existing release binaries
#   NERVE_BIN, LOADGEN_BIN  binaries to use (default: the release build under BIN_DIR,
#                      itself $CARGO_TARGET_DIR/release or target/release); copied to the
#                      temp dir at the start, since a shared target dir may be rebuilt while
#                      this runs
#   KEEP_DATA [0]      1: keep the temp dir (data dirs, logs, raw timings)
set -euo pipefail
BENCH_TAG=promql-bench
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

SERIES=${SERIES:-20000}
ROUNDS=${ROUNDS:-700}
REPS=${REPS:-5}
QUERY_TIMEOUT=${QUERY_TIMEOUT:-120}
INTERVAL_MS=15000
TWO_HOURS_MS=7200000

LOADGEN=${LOADGEN_BIN:-$BIN_DIR/nerve-loadgen}

require_tools curl jq awk sort ss
SERVERS="nerve prometheus" require_prometheus_if_listed
((ROUNDS * INTERVAL_MS < 3 * 3600 * 1000)) || log "warning: data spans ≥ 3 h; block cutting may overlap the queries"

build_release --bin nerve
build_release --features loadgen --bin nerve-loadgen
[[ -x $NERVE && -x $LOADGEN ]] || die "release binaries missing"
NERVE_REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')

make_work_dir nerve-promql-bench
cp "$NERVE" "$WORK/nerve"
cp "$LOADGEN" "$WORK/nerve-loadgen"
NERVE=$WORK/nerve
LOADGEN=$WORK/nerve-loadgen
NERVE_PID=
PROM_PID=
STOP_ON_EXIT="NERVE_PID:30 PROM_PID:30"

printf 'global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: none\n    static_configs: []\n' >"$WORK/config.yml"

NOW_MS=$(($(date +%s) * 1000))
START_MS=$(((NOW_MS - ROUNDS * INTERVAL_MS) / TWO_HOURS_MS * TWO_HOURS_MS))
END_S=$(((START_MS + (ROUNDS - 1) * INTERVAL_MS) / 1000))

NPORT=$(free_port)
NERVE_URL=http://127.0.0.1:$NPORT
mkdir -p "$WORK/nerve-data" "$WORK/prom-data"
start_server nerve "$WORK/nerve-data" "$NPORT" "$WORK/config.yml" "$WORK/nerve.log"
NERVE_PID=$STARTED_PID
wait_ready nerve "$NERVE_URL" "$NERVE_PID" "$WORK/nerve.log"
PPORT=$(free_port)
PROM_URL=http://127.0.0.1:$PPORT
start_server prometheus "$WORK/prom-data" "$PPORT" "$WORK/config.yml" "$WORK/prometheus.log" \
  --web.enable-remote-write-receiver
PROM_PID=$STARTED_PID
wait_ready prometheus "$PROM_URL" "$PROM_PID" "$WORK/prometheus.log"
log "nerve (pid $NERVE_PID) on $NERVE_URL, prometheus (pid $PROM_PID) on $PROM_URL"

log "loading $SERIES series × $ROUNDS rounds into each"
for url in "$NERVE_URL" "$PROM_URL"; do
  "$LOADGEN" --url "$url/api/v1/write" --series "$SERIES" --rounds "$ROUNDS" --interval-ms "$INTERVAL_MS" \
    --start-ms "$START_MS" --max-seconds 1200 --progress-seconds 30 >"$WORK/load.json" 2>>"$WORK/loadgen.log" ||
    die "loadgen against $url failed: $(tail -3 "$WORK/loadgen.log")"
  [[ $(tail -1 "$WORK/load.json" | jq '.complete') == true ]] || die "load against $url incomplete"
done
sleep 5

# name|kind|query (kind: i = instant at the end of the data, r = range over its last 2 h, step 30 s)
QUERIES=(
  'rate|i|rate(http_requests_total[5m])'
  'sum_by_rate|i|sum by (job) (rate(http_requests_total[5m]))'
  'hist_quantile|i|histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
  'topk_cpu|i|topk(5, sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m])))'
  'error_ratio|i|sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))'
  'regex_arith|i|node_filesystem_avail_bytes{mountpoint=~"/|/data"} / 1024 / 1024'
  'max_over_time|i|max_over_time(temperature_celsius[1h])'
  'avg_filter|i|avg_over_time(queue_length[10m]) > 5'
  'count_by|i|count by (region) (up == 1)'
  'subquery|i|max_over_time(rate(http_requests_total{method="GET"}[5m])[30m:1m])'
  'rate|r|rate(http_requests_total[5m])'
  'sum_by_rate|r|sum by (job) (rate(http_requests_total[5m]))'
  'hist_quantile_job|r|histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))'
  'topk_net|r|topk(10, rate(node_network_receive_bytes_total[5m]))'
  'cpu_ratio|r|sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m])) / count by (instance) (node_cpu_seconds_total{mode="idle"})'
  'sum_without_regex|r|sum without (instance) (rate(http_requests_total{path=~"/api/v1/.*",status!="200"}[5m]))'
  'on_match|r|process_resident_memory_bytes / on(instance, job) go_goroutines'
  'deriv|r|deriv(node_filesystem_avail_bytes[30m])'
  'quantile_ot|r|quantile_over_time(0.9, temperature_celsius[10m])'
  'subquery|r|max_over_time(sum by (job) (rate(http_requests_total[1m]))[15m:1m])'
)

run_query() { # URL KIND QUERY OUT -> prints "seconds" (or "FAIL")
  local url=$1 kind=$2 q=$3 out=$4 code t
  if [[ $kind == i ]]; then
    read -r code t < <(curl -s -o "$out" -w '%{http_code} %{time_total}\n' --max-time "$QUERY_TIMEOUT" \
      --data-urlencode "query=$q" --data-urlencode "time=$END_S" "$url/api/v1/query" || echo "000 0")
  else
    read -r code t < <(curl -s -o "$out" -w '%{http_code} %{time_total}\n' --max-time "$QUERY_TIMEOUT" \
      --data-urlencode "query=$q" --data-urlencode "start=$((END_S - 7200))" --data-urlencode "end=$END_S" \
      --data-urlencode "step=30" "$url/api/v1/query_range" || echo "000 0")
  fi
  if [[ $code == 200 ]]; then echo "$t"; else echo FAIL; fi
}

median() { sort -g | awk '{a[NR] = $1} END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

log "timing ${#QUERIES[@]} queries, $REPS runs each per server (after one warm-up)"
RESULTS=$WORK/results.tsv
: >"$RESULTS"
for entry in "${QUERIES[@]}"; do
  IFS='|' read -r name kind q <<<"$entry"
  run_query "$NERVE_URL" "$kind" "$q" "$WORK/n.json" >/dev/null
  run_query "$PROM_URL" "$kind" "$q" "$WORK/p.json" >/dev/null
  ns=$(jq '.data.result | length' "$WORK/n.json" 2>/dev/null || echo -1)
  ps=$(jq '.data.result | length' "$WORK/p.json" 2>/dev/null || echo -2)
  : >"$WORK/tn"
  : >"$WORK/tp"
  for ((r = 0; r < REPS; r++)); do
    if ((r % 2)); then
      run_query "$PROM_URL" "$kind" "$q" /dev/null >>"$WORK/tp"
      run_query "$NERVE_URL" "$kind" "$q" /dev/null >>"$WORK/tn"
    else
      run_query "$NERVE_URL" "$kind" "$q" /dev/null >>"$WORK/tn"
      run_query "$PROM_URL" "$kind" "$q" /dev/null >>"$WORK/tp"
    fi
  done
  grep -q FAIL "$WORK/tn" "$WORK/tp" && die "query $name ($kind) failed: $(head -c 300 "$WORK/n.json") / $(head -c 300 "$WORK/p.json")"
  mn=$(median <"$WORK/tn")
  mp=$(median <"$WORK/tp")
  same=$([[ $ns == "$ps" ]] && echo yes || echo "NO ($ns vs $ps)")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$name" "$mn" "$mp" "$ns" "$same" >>"$RESULTS"
  log "$kind $name: nerve $mn s, prometheus $mp s ($ns series, same count: $same)"
done

echo
echo "nerve $NERVE_REV vs prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}'), $SERIES series × $ROUNDS rounds, $REPS runs, $(date -u '+%F %H:%M UTC')"
printf '| %-4s | %-18s | %10s | %10s | %7s | %7s | %s\n' kind query "nerve ms" "prom ms" ratio series "same #series"
awk -F'\t' '{ printf "| %-4s | %-18s | %10.1f | %10.1f | %7.3f | %7d | %s\n", ($1 == "i" ? "inst" : "range"), $2, $3 * 1000, $4 * 1000, $3 / $4, $5, $6 }' "$RESULTS"
awk -F'\t' '{ print $3 / $4 }' "$RESULTS" | median | awk '{ printf "median ratio nerve/prometheus: %.3f (goal ≤ 0.7)\n", $1 }'
awk -F'\t' '{ s += log($3 / $4); n++ } END { printf "geometric mean ratio: %.3f\n", exp(s / n) }' "$RESULTS"
awk -F'\t' '{ n += $3; p += $4 } END { printf "total median latency: nerve %.1f ms, prometheus %.1f ms\n", n * 1000, p * 1000 }' "$RESULTS"
