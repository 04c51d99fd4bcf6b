#!/usr/bin/env bash
# Side-by-side remote-write benchmark: nerve vs Debian's Prometheus, same machine, same load.
#
# For each server in turn (fresh temp data dir, free 127.0.0.1 port) it runs
# target/release/nerve-loadgen with the same deterministic workload, then waits for the
# first 2 h block and prints, per server: accepted samples/s, peak RSS, on-disk bytes per
# sample of that block, plus the ratios nerve/prometheus against the goals
# (samples/s ≥ 2×, bytes/sample ≤ 40 %, peak RSS ≤ 30 %).
#
# Not part of CI. Every wait is bounded; only loopback addresses are used; the servers it
# started are stopped by PID on exit.
#
# Environment (defaults in brackets):
#   SERIES [100000]        active series
#   ROUNDS [800]           samples per series, INTERVAL_MS apart (800 × 15 s = 3 h 20 min:
#                          > 3 h, so Prometheus compacts its head into a first 2 h block)
#   INTERVAL_MS [15000]    scrape interval the timestamps follow
#   CONCURRENCY [4]        concurrent keep-alive connections
#   BATCH [2000]           samples per request (Prometheus's max_samples_per_send)
#   ENCODER_THREADS [1]    loadgen encoder threads
#   PRE_ENCODE [1]         1: loadgen encodes all requests before the clock starts, so its
#                          CPU use while sending is only HTTP; 0: encode while sending
#   LOAD_TIMEOUT [1500]    seconds one load run may take (loadgen --max-seconds)
#   BLOCK_TIMEOUT [360]    seconds to wait for the first block after the load
#   SERVERS ["nerve prometheus"]  which servers to run, in order
#   SKIP_BUILD [0]         1: use the existing release binaries
#   BIN_DIR [target/release]  where nerve and nerve-loadgen are (NERVE_BIN overrides nerve)
#   KEEP_DATA [0]          1: keep the temp dir (data dirs, logs, RSS traces)
#   RESULTS_JSON []        also write the results as JSON to this file
#   NERVE_ENV []           extra environment for nerve, e.g. an allocator experiment:
#                          NERVE_ENV=LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
set -euo pipefail
BENCH_TAG=bench
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

SERIES=${SERIES:-100000}
ROUNDS=${ROUNDS:-800}
INTERVAL_MS=${INTERVAL_MS:-15000}
CONCURRENCY=${CONCURRENCY:-4}
BATCH=${BATCH:-2000}
ENCODER_THREADS=${ENCODER_THREADS:-1}
PRE_ENCODE=${PRE_ENCODE:-1}
LOAD_TIMEOUT=${LOAD_TIMEOUT:-1500}
BLOCK_TIMEOUT=${BLOCK_TIMEOUT:-360}
SERVERS=${SERVERS:-nerve prometheus}
RESULTS_JSON=${RESULTS_JSON:-}

LOADGEN=$BIN_DIR/nerve-loadgen
TWO_HOURS_MS=7200000

require_tools curl jq du awk ss
require_prometheus_if_listed
if ((ROUNDS * INTERVAL_MS <= 3 * 3600 * 1000)); then
  log "warning: ROUNDS × INTERVAL_MS spans ≤ 3 h; Prometheus only compacts a head spanning > 3 h, so no block may appear"
fi

build_release --bin nerve
build_release --features loadgen --bin nerve-loadgen
[[ -x $NERVE || " $SERVERS " != *" nerve "* ]] || die "$NERVE missing"
# Taken now: the shared target/ may be rebuilt by someone else while this runs.
NERVE_REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')
NERVE_BUILT=$(date -r "$NERVE" '+%F %T' 2>/dev/null || echo '?')
[[ -x $LOADGEN ]] || die "$LOADGEN missing"

make_work_dir nerve-bench
SERVER_PID=
SAMPLER_PID=
STOP_ON_EXIT="SAMPLER_PID:2 SERVER_PID:30"

# Resident-set sampler: every 200 ms, the max VmRSS (kB) so far goes to $2, and once a
# second "seconds-since-start kB" is appended to $2.trace.
rss_sampler() {
  local pid=$1 out=$2 max=0 rss i
  for ((i = 0; i < 5 * (LOAD_TIMEOUT + BLOCK_TIMEOUT + 300); i++)); do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || break
    [[ -n $rss ]] || break
    ((rss > max)) && max=$rss && echo "$max" >"$out.tmp" && mv "$out.tmp" "$out"
    ((i % 5 == 0)) && echo "$((i / 5)) $rss" >>"$out.trace"
    sleep 0.2
  done
}

# The data of the two runs is identical: the same seed, and the same start, aligned to a 2 h
# boundary so both servers' first block covers exactly [START, START + 2 h).
NOW_MS=$(($(date +%s) * 1000))
START_MS=$(((NOW_MS - ROUNDS * INTERVAL_MS) / TWO_HOURS_MS * TWO_HOURS_MS))
log "workload: $SERIES series × $ROUNDS rounds every ${INTERVAL_MS} ms from $START_MS, batch $BATCH, $CONCURRENCY connections"

# One config for both servers: no scraping at all. The job without targets matters for
# nerve, which scrapes itself when no job is configured; its wall-clock samples would stretch
# the head past 3 h and cut the backfilled data into a block early.
printf 'global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: none\n    static_configs: []\n' >"$WORK/scrape.yml"

# Prints the directory of the first block (smallest minTime) among $1/*/meta.json.
first_block() {
  local root=$1 best= best_min= meta min
  for meta in "$root"/*/meta.json; do
    [[ -f $meta ]] || continue
    min=$(jq -r '.minTime // empty' "$meta" 2>/dev/null) || continue
    [[ -n $min ]] || continue
    if [[ -z $best_min ]] || ((min < best_min)); then
      best_min=$min
      best=$(dirname "$meta")
    fi
  done
  [[ -n $best ]] && echo "$best"
}

run_one() {
  local name=$1
  local data=$WORK/$name-data port url blocks_root
  mkdir -p "$data"
  port=$(free_port)
  url=http://127.0.0.1:$port
  case $name in
  nerve) blocks_root=$data/metrics/blocks ;;
  prometheus) blocks_root=$data ;;
  esac
  start_server "$name" "$data" "$port" "$WORK/scrape.yml" "$WORK/$name.log" --web.enable-remote-write-receiver
  SERVER_PID=$STARTED_PID
  log "$name: pid $SERVER_PID on $url, data $data"
  wait_ready "$name" "$url" "$SERVER_PID" "$WORK/$name.log"

  rss_sampler "$SERVER_PID" "$WORK/$name.rss" &
  SAMPLER_PID=$!
  local cpu0 cpu1 busy0 busy1 rss_idle
  rss_idle=$(status_kb "$SERVER_PID" VmRSS)
  cpu0=$(cpu_seconds "$SERVER_PID")
  busy0=$(machine_busy)
  local pre=()
  [[ $PRE_ENCODE == 1 ]] && pre=(--pre-encode)
  log "$name: load starts (idle RSS ${rss_idle} kB)"
  local rc=0
  "$LOADGEN" --url "$url/api/v1/write" --series "$SERIES" --rounds "$ROUNDS" --interval-ms "$INTERVAL_MS" \
    --start-ms "$START_MS" --batch "$BATCH" --concurrency "$CONCURRENCY" --encoder-threads "$ENCODER_THREADS" \
    --max-seconds "$LOAD_TIMEOUT" "${pre[@]}" >"$WORK/$name.load.json" 2> >(tee -a "$WORK/$name.loadgen.log" >&2) || rc=$?
  cpu1=$(cpu_seconds "$SERVER_PID")
  busy1=$(machine_busy)
  local rss_after_load hwm_after_load
  rss_after_load=$(status_kb "$SERVER_PID" VmRSS)
  hwm_after_load=$(status_kb "$SERVER_PID" VmHWM)
  local load other_cpu
  load=$(tail -1 "$WORK/$name.load.json")
  [[ -n $load ]] || die "$name: loadgen printed no result (exit $rc)"
  # CPU time neither the server nor the loadgen used while the load ran: other programs
  # competing for the same cores (should be near 0 for a clean run).
  other_cpu=$(awk -v b0="$busy0" -v b1="$busy1" -v s0="$cpu0" -v s1="$cpu1" -v c="$(echo "$load" | jq '.client_cpu_seconds // 0')" \
    'BEGIN { o = (b1 - b0) - (s1 - s0) - c; printf "%.2f", o < 0 ? 0 : o }')
  log "$name: CPU seconds during the load: server $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.1f", b - a}'), other programs $other_cpu"
  log "$name: load done (exit $rc): $load"
  kill -0 "$SERVER_PID" 2>/dev/null || die "$name died during the load; log tail: $(tail -5 "$WORK/$name.log")"
  if [[ $(echo "$load" | jq '.complete') != true ]]; then
    log "$name: WARNING: the load did not complete (see above); its figures are not comparable"
    INCOMPLETE=1
  fi

  # First block: poll until a block dir with meta.json exists and its size is stable.
  local block= size=-1 prev=-2 waited=0
  log "$name: waiting up to ${BLOCK_TIMEOUT}s for the first block under $blocks_root"
  while ((waited < BLOCK_TIMEOUT)); do
    block=$(first_block "$blocks_root" || true)
    if [[ -n $block ]]; then
      size=$(du -sb "$block" | awk '{print $1}')
      [[ $size == "$prev" ]] && break
      prev=$size
    fi
    sleep 2
    waited=$((waited + 2))
    kill -0 "$SERVER_PID" 2>/dev/null || die "$name died while compacting"
  done
  local block_bytes=null num_samples=null num_series=null bps=null bmin=null bmax=null chunks_bytes=null
  if [[ -n $block && $size == "$prev" ]]; then
    block_bytes=$size
    num_samples=$(jq '.stats.numSamples' "$block/meta.json")
    num_series=$(jq '.stats.numSeries // null' "$block/meta.json")
    bmin=$(jq '.minTime' "$block/meta.json")
    bmax=$(jq '.maxTime' "$block/meta.json")
    [[ -d $block/chunks ]] && chunks_bytes=$(du -sb "$block/chunks" | awk '{print $1}')
    bps=$(awk -v b="$block_bytes" -v n="$num_samples" 'BEGIN { if (n > 0) printf "%.4f", b / n; else print "null" }')
    log "$name: block $(basename "$block"): $block_bytes bytes, $num_samples samples, $num_series series, [$bmin, $bmax) → $bps bytes/sample"
    find "$block" -type f -printf '%s\t%P\n' | sort -k2 >"$WORK/$name.block-files.txt"
  else
    log "$name: no complete block within ${BLOCK_TIMEOUT}s"
  fi
  local hwm rss_end sampled data_bytes wal_bytes
  hwm=$(status_kb "$SERVER_PID" VmHWM)
  rss_end=$(status_kb "$SERVER_PID" VmRSS)
  sampled=$(cat "$WORK/$name.rss" 2>/dev/null || echo 0)
  data_bytes=$(du -sb "$data" | awk '{print $1}')
  wal_bytes=$( (du -sbc "$data"/wal "$data"/metrics/wal 2>/dev/null || true) | awk 'END {print $1 + 0}')
  stop_pid "$SAMPLER_PID" 2
  SAMPLER_PID=
  stop_pid "$SERVER_PID" 60
  SERVER_PID=

  local peak=$((hwm > sampled ? hwm : sampled))
  jq -n --arg name "$name" --argjson load "$load" --argjson block_bytes "$block_bytes" \
    --argjson num_samples "$num_samples" --argjson num_series "$num_series" --argjson bps "$bps" \
    --argjson bmin "$bmin" --argjson bmax "$bmax" --argjson chunks_bytes "$chunks_bytes" \
    --argjson peak_kb "$peak" --argjson hwm_after_load_kb "$hwm_after_load" --argjson rss_after_load_kb "$rss_after_load" \
    --argjson rss_idle_kb "$rss_idle" --argjson rss_end_kb "$rss_end" --argjson data_bytes "$data_bytes" \
    --argjson wal_bytes "${wal_bytes:-0}" --argjson cpu "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.2f", b - a}')" --argjson other_cpu "$other_cpu" \
    '{name: $name, load: $load, samples_per_sec: $load.samples_per_sec, server_cpu_seconds_during_load: $cpu,
      samples_per_server_cpu_second: (if $cpu > 0 then ($load.samples / $cpu | floor) else null end),
      other_programs_cpu_seconds_during_load: $other_cpu,
      peak_rss_kb: $peak_kb, rss_idle_kb: $rss_idle_kb, hwm_after_load_kb: $hwm_after_load_kb,
      rss_after_load_kb: $rss_after_load_kb, rss_end_kb: $rss_end_kb,
      block: {bytes: $block_bytes, chunks_bytes: $chunks_bytes, num_samples: $num_samples, num_series: $num_series,
              min_time: $bmin, max_time: $bmax, bytes_per_sample: $bps},
      data_dir_bytes: $data_bytes, wal_bytes: $wal_bytes}' >"$WORK/$name.result.json"
}

INCOMPLETE=0
for s in $SERVERS; do
  run_one "$s"
done

# ---- report --------------------------------------------------------------------------
results=$(jq -s '.' "$WORK"/*.result.json)
[[ -n $RESULTS_JSON ]] && echo "$results" >"$RESULTS_JSON"
echo
echo "remote-write benchmark: $SERIES series × $ROUNDS rounds (${INTERVAL_MS} ms), batch $BATCH, concurrency $CONCURRENCY, $(nproc) CPUs"
echo "nerve: $NERVE_REV at start (binary built $NERVE_BUILT); $(prometheus --version 2>&1 | head -1)"
echo "$results" | jq -r '
  ["server", "samples/s", "load s", "srv CPU s", "samples/CPU-s", "client CPU s", "other CPU s", "peak RSS MiB", "block B/sample", "block MiB", "retries", "errors"],
  (.[] | [.name, (.samples_per_sec | floor), .load.seconds, .server_cpu_seconds_during_load, .samples_per_server_cpu_second,
          .load.client_cpu_seconds, .other_programs_cpu_seconds_during_load, ((.peak_rss_kb / 1024 * 10 | floor) / 10), .block.bytes_per_sample,
          (if .block.bytes then ((.block.bytes / 1048576 * 10 | floor) / 10) else null end), .load.retries, .load.errors])
  | map(tostring) | @tsv' | column -t -s $'\t'
echo
nerve_r=$(echo "$results" | jq '.[] | select(.name == "nerve")')
prom_r=$(echo "$results" | jq '.[] | select(.name == "prometheus")')
if [[ -n $nerve_r && -n $prom_r ]]; then
  ratio_line "$nerve_r" "$prom_r" '.samples_per_sec' "samples/s" '>=' 2
  ratio_line "$nerve_r" "$prom_r" '.block.bytes_per_sample' "bytes/sample" '<=' 0.40
  ratio_line "$nerve_r" "$prom_r" '.peak_rss_kb' "peak RSS" '<=' 0.30
fi
if ((INCOMPLETE)); then
  log "at least one load run did not complete: the figures above are not comparable"
  exit 1
fi
