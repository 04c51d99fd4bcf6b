#!/usr/bin/env bash
# Side-by-side scrape benchmark: nerve vs Debian's Prometheus, same machine, same targets.
#
# For each server in SERVERS, in turn: start target/release/nerve-scrapebench (TARGETS local
# /metrics targets × SERIES sample lines, text format 0.0.4, values changing every scrape) with
# a file_sd JSON, start the server on a fresh temp data dir with one job `bench`
# (file_sd_configs → that file, scrape_interval SCRAPE_INTERVAL, scrape_timeout
# SCRAPE_TIMEOUT; nothing else is scraped: nerve's self-scrape only runs when no job is
# configured), wait until every target has been scraped once (count(up == 1) = TARGETS: the
# first round, which creates all series, is the warm-up), then measure DURATION seconds:
#   - server CPU seconds: utime + stime from /proc/PID/stat, delta over the window;
#   - samples scraped in the window, from the server's own PromQL API at the window's end:
#     sum(sum_over_time(scrape_samples_scraped[W])) (= Σ over successful scrapes of the
#     samples each returned; the same query on both servers);
#   - scrapes and failed scrapes in the window (count_over_time / sum_over_time of `up`),
#     mean and max scrape_duration_seconds, count(up == 1) at the end;
#   - peak RSS (VmHWM, since start) and VmRSS at the end, from /proc/PID/status.
# Prints per server: targets up, samples in window, CPU s, CPU s per million samples, peak
# RSS, and the ratios nerve/prometheus. "other CPU s" is machine busy time in the window not
# used by the server or the targets (other programs on the same cores; ~0 for a clean run).
#
# Not part of CI. Every wait is bounded; only loopback addresses are used; only the processes
# this script started are stopped, by PID, on exit.
#
# Environment (defaults in brackets):
#   TARGETS [1000]           scrape targets
#   SERIES [1000]            sample lines per target
#   DURATION [300]           measured seconds after the warm-up (300 s = 20 scrapes per target)
#   SCRAPE_INTERVAL [15]     seconds
#   SCRAPE_TIMEOUT [10]      seconds
#   WARMUP_TIMEOUT [240]     seconds to wait for every target to be up once
#   SERVERS ["nerve prometheus"]  which servers to run, in order
#   SKIP_BUILD [0]           1: use the existing release binaries
#   BIN_DIR [target/release] where nerve and nerve-scrapebench are (NERVE_BIN overrides nerve)
#   KEEP_DATA [0]            1: keep the temp dir (data dirs, configs, logs)
#   RESULTS_JSON []          also write the results as JSON to this file
#   NERVE_ENV []             extra environment for nerve, e.g. RUST_LOG=debug
set -euo pipefail
BENCH_TAG=scrape-bench
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

TARGETS=${TARGETS:-1000}
SERIES=${SERIES:-1000}
DURATION=${DURATION:-300}
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-15}
SCRAPE_TIMEOUT=${SCRAPE_TIMEOUT:-10}
WARMUP_TIMEOUT=${WARMUP_TIMEOUT:-240}
SERVERS=${SERVERS:-nerve prometheus}
RESULTS_JSON=${RESULTS_JSON:-}

BENCH=$BIN_DIR/nerve-scrapebench

require_tools curl jq awk getconf ss column
require_prometheus_if_listed
((SCRAPE_TIMEOUT <= SCRAPE_INTERVAL)) || die "SCRAPE_TIMEOUT must not exceed SCRAPE_INTERVAL"

# The targets need ~2 descriptors each (listener + keep-alive connection), so does the server.
want_fds=$((2 * TARGETS + 256))
if (($(ulimit -n) < want_fds)); then
  ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
  (($(ulimit -n) >= want_fds)) || log "warning: ulimit -n is $(ulimit -n), < $want_fds: targets may fail"
fi

build_release --features loadgen --bin nerve --bin nerve-scrapebench
[[ -x $NERVE || " $SERVERS " != *" nerve "* ]] || die "$NERVE missing"
[[ -x $BENCH ]] || die "$BENCH missing"
# Taken now: the shared target/ may be rebuilt by someone else while this runs.
NERVE_REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')
NERVE_BUILT=$(date -r "$NERVE" '+%F %T' 2>/dev/null || echo '?')

make_work_dir nerve-scrape-bench
SERVER_PID=
BENCH_PID=
STOP_ON_EXIT="SERVER_PID:60 BENCH_PID:10"

# query URL EXPR [TIME]: the first result's value of an instant query, or null.
query() {
  local args=(--data-urlencode "query=$2")
  [[ -n ${3:-} ]] && args+=(--data-urlencode "time=$3")
  curl -sf --max-time 60 -G "$1/api/v1/query" "${args[@]}" 2>/dev/null |
    jq -r '.data.result[0].value[1] // "null"' 2>/dev/null || echo null
}

alive() { # NAME: dies when the server or the targets are gone
  kill -0 "$SERVER_PID" 2>/dev/null || die "$1 exited; log tail: $(tail -5 "$WORK/$1.log")"
  kill -0 "$BENCH_PID" 2>/dev/null || die "nerve-scrapebench exited; log tail: $(tail -5 "$WORK/$1.targets.log")"
}

run_one() {
  local name=$1
  local data=$WORK/$name-data sd=$WORK/$name-targets.json cfg=$WORK/$name.yml port url i
  mkdir -p "$data"

  # 1. The targets, bounded by their own --max-seconds as well.
  "$BENCH" --targets "$TARGETS" --series "$SERIES" --write-sd "$sd" \
    --max-seconds $((WARMUP_TIMEOUT + DURATION + 300)) --progress-secs 30 \
    >"$WORK/$name.targets.json" 2>"$WORK/$name.targets.log" &
  BENCH_PID=$!
  for ((i = 0; i < 600; i++)); do
    [[ -s $sd ]] && break
    kill -0 "$BENCH_PID" 2>/dev/null || die "nerve-scrapebench exited: $(tail -5 "$WORK/$name.targets.log")"
    sleep 0.1
  done
  [[ -s $sd ]] || die "nerve-scrapebench wrote no SD file within 60 s"
  log "$name: $TARGETS targets × $SERIES series up (pid $BENCH_PID): $(head -1 "$WORK/$name.targets.log")"

  # 2. The server.
  cat >"$cfg" <<EOF
global:
  scrape_interval: ${SCRAPE_INTERVAL}s
  scrape_timeout: ${SCRAPE_TIMEOUT}s
  evaluation_interval: ${SCRAPE_INTERVAL}s
scrape_configs:
  - job_name: bench
    file_sd_configs:
      - files: ['$sd']
EOF
  port=$(free_port)
  url=http://127.0.0.1:$port
  start_server "$name" "$data" "$port" "$cfg" "$WORK/$name.log"
  SERVER_PID=$STARTED_PID
  wait_ready "$name" "$url" "$SERVER_PID" "$WORK/$name.log"
  log "$name: pid $SERVER_PID on $url, data $data"

  # 3. Warm-up: every target scraped successfully once.
  local up=null waited=0 warm_start cpu_ready
  warm_start=$(date +%s)
  cpu_ready=$(cpu_seconds "$SERVER_PID")
  while ((waited < WARMUP_TIMEOUT)); do
    alive "$name"
    up=$(query "$url" 'count(up == 1)')
    [[ $up == "$TARGETS" ]] && break
    sleep 2
    waited=$(($(date +%s) - warm_start))
  done
  local warmup_cpu
  warmup_cpu=$(awk -v a="$cpu_ready" -v b="$(cpu_seconds "$SERVER_PID")" 'BEGIN {printf "%.2f", b - a}')
  if [[ $up == "$TARGETS" ]]; then
    log "$name: all $TARGETS targets up after $(($(date +%s) - warm_start)) s (warm-up CPU ${warmup_cpu} s)"
  else
    log "$name: WARNING: only ${up} of $TARGETS targets up after ${WARMUP_TIMEOUT} s; measuring anyway"
  fi

  # 4. The measured window.
  local t0 t1 cpu0 cpu1 bcpu0 bcpu1 busy0 busy1 left
  t0=$(date +%s.%N)
  cpu0=$(cpu_seconds "$SERVER_PID")
  bcpu0=$(cpu_seconds "$BENCH_PID")
  busy0=$(machine_busy)
  log "$name: measuring ${DURATION} s"
  left=$DURATION
  while ((left > 0)); do
    sleep $((left < 5 ? left : 5))
    left=$((left - 5))
    alive "$name"
  done
  t1=$(date +%s.%N)
  cpu1=$(cpu_seconds "$SERVER_PID")
  bcpu1=$(cpu_seconds "$BENCH_PID")
  busy1=$(machine_busy)
  local hwm rss
  hwm=$(status_kb "$SERVER_PID" VmHWM)
  rss=$(status_kb "$SERVER_PID" VmRSS)

  # 5. What was scraped in the window, from the server itself, at the window's end.
  local w samples scrapes ok_scrapes up_end dur_avg dur_max head_series
  w=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%dms", (b - a) * 1000}')
  samples=$(query "$url" "sum(sum_over_time(scrape_samples_scraped[$w]))" "$t1")
  scrapes=$(query "$url" "sum(count_over_time(up[$w]))" "$t1")
  ok_scrapes=$(query "$url" "sum(sum_over_time(up[$w]))" "$t1")
  up_end=$(query "$url" 'count(up == 1)' "$t1")
  dur_avg=$(query "$url" "avg(avg_over_time(scrape_duration_seconds[$w]))" "$t1")
  dur_max=$(query "$url" "max(max_over_time(scrape_duration_seconds[$w]))" "$t1")
  # Head series from the server's own /metrics (both export <prefix>_tsdb_head_series).
  head_series=$(curl -sf --max-time 60 "$url/metrics" 2>/dev/null |
    awk '$1 == "prometheus_tsdb_head_series" || $1 == "nerve_tsdb_head_series" {printf "%d", $2; exit}' || true)
  [[ $head_series =~ ^[0-9]+$ ]] || head_series=null

  stop_pid "$SERVER_PID" 60
  SERVER_PID=
  stop_pid "$BENCH_PID" 10
  BENCH_PID=
  local served
  served=$(tail -1 "$WORK/$name.targets.json" 2>/dev/null)
  [[ -n $served ]] || served=null
  log "$name: targets served: $served"

  num() { [[ $1 =~ ^[0-9.eE+-]+$ ]] && echo "$1" || echo null; }
  jq -n --arg name "$name" --argjson targets "$TARGETS" --argjson series "$SERIES" \
    --argjson t0 "$t0" --argjson t1 "$t1" --argjson cpu0 "$cpu0" --argjson cpu1 "$cpu1" \
    --argjson bcpu0 "$bcpu0" --argjson bcpu1 "$bcpu1" --argjson busy0 "$busy0" --argjson busy1 "$busy1" \
    --argjson warmup_cpu "$warmup_cpu" --argjson samples "$(num "$samples")" --argjson scrapes "$(num "$scrapes")" \
    --argjson ok_scrapes "$(num "$ok_scrapes")" --argjson up_end "$(num "$up_end")" \
    --argjson dur_avg "$(num "$dur_avg")" --argjson dur_max "$(num "$dur_max")" \
    --argjson head_series "$head_series" --argjson hwm "${hwm:-0}" --argjson rss "${rss:-0}" \
    --argjson served "$served" '
    ($cpu1 - $cpu0) as $cpu | ($bcpu1 - $bcpu0) as $bcpu |
    {name: $name, targets: $targets, series_per_target: $series,
     window_seconds: (($t1 - $t0) * 10 | round / 10),
     targets_up: $up_end, samples: $samples, scrapes: $scrapes,
     failed_scrapes: (if $scrapes and $ok_scrapes then $scrapes - $ok_scrapes else null end),
     cpu_seconds: ($cpu * 100 | round / 100),
     cpu_seconds_per_million_samples: (if $samples and $samples > 0 then ($cpu / ($samples / 1e6) * 1000 | round / 1000) else null end),
     cpu_cores: (($cpu / ($t1 - $t0)) * 1000 | round / 1000),
     warmup_cpu_seconds: $warmup_cpu,
     scrape_duration_avg_ms: (if $dur_avg then ($dur_avg * 1e4 | round / 10) else null end),
     scrape_duration_max_ms: (if $dur_max then ($dur_max * 1e4 | round / 10) else null end),
     peak_rss_kb: $hwm, rss_end_kb: $rss, head_series: $head_series,
     targets_cpu_seconds: ($bcpu * 100 | round / 100),
     other_cpu_seconds: ([($busy1 - $busy0) - $cpu - $bcpu, 0] | max * 100 | round / 100),
     targets_served: $served}' >"$WORK/$name.result.json"
  log "$name: $(jq -c 'del(.targets_served)' "$WORK/$name.result.json")"
}

for s in $SERVERS; do
  run_one "$s"
done

# ---- report --------------------------------------------------------------------------
results=$(jq -s '.' "$WORK"/*.result.json)
[[ -n $RESULTS_JSON ]] && echo "$results" >"$RESULTS_JSON"
echo
echo "scrape benchmark: $TARGETS targets × $SERIES series every ${SCRAPE_INTERVAL} s (timeout ${SCRAPE_TIMEOUT} s), ${DURATION} s measured after warm-up, $(nproc) CPUs"
echo "nerve: $NERVE_REV at start (binary built $NERVE_BUILT); $(prometheus --version 2>&1 | head -1)"
echo "$results" | jq -r '
  ["server", "up", "samples", "scrapes", "failed", "CPU s", "CPU s/M samples", "cores", "warm-up CPU s",
   "scrape ms avg", "scrape ms max", "head series", "peak RSS MiB", "end RSS MiB", "targets CPU s", "other CPU s"],
  (.[] | [.name, .targets_up, .samples, .scrapes, .failed_scrapes, .cpu_seconds, .cpu_seconds_per_million_samples,
          .cpu_cores, .warmup_cpu_seconds, .scrape_duration_avg_ms, .scrape_duration_max_ms, .head_series,
          ((.peak_rss_kb / 1024 * 10 | floor) / 10), ((.rss_end_kb / 1024 * 10 | floor) / 10),
          .targets_cpu_seconds, .other_cpu_seconds])
  | map(tostring) | @tsv' | column -t -s $'\t'
echo
nerve_r=$(echo "$results" | jq '.[] | select(.name == "nerve")')
prom_r=$(echo "$results" | jq '.[] | select(.name == "prometheus")')
if [[ -n $nerve_r && -n $prom_r ]]; then
  ratio_line "$nerve_r" "$prom_r" '.cpu_seconds_per_million_samples' "CPU s per M samples"
  ratio_line "$nerve_r" "$prom_r" '.peak_rss_kb' "peak RSS"
  ratio_line "$nerve_r" "$prom_r" '.rss_end_kb' "end RSS"
  ratio_line "$nerve_r" "$prom_r" '.samples' "samples in window"
fi
bad=$(echo "$results" | jq --argjson t "$TARGETS" '[.[] | select(.targets_up != $t or (.failed_scrapes // 1) > 0)] | length')
if ((bad > 0)); then
  log "warning: $bad server(s) had targets down or failed scrapes in the window: compare with care"
fi
