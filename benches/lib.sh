# shellcheck shell=bash
# Helpers shared by the benchmark scripts in benches/ (sourced, not run): logging, stopping
# processes by PID, free loopback ports, starting nerve or Prometheus and waiting until they
# are ready, CPU and memory figures from /proc, and the nerve/prometheus ratio lines.
#
# Before sourcing, a script sets BENCH_TAG (the prefix of its log lines). Sourcing sets ROOT
# (the repository) and changes into it, and sets BIN_DIR [$CARGO_TARGET_DIR/release or
# target/release] and NERVE [$NERVE_BIN or $BIN_DIR/nerve]. Every wait is bounded; only
# loopback addresses are used; only processes the script started are stopped, by PID.

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
NERVE=${NERVE_BIN:-$BIN_DIR/nerve}
NERVE_ENV=${NERVE_ENV:-}
KEEP_DATA=${KEEP_DATA:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

log() { printf '[%s %s] %s\n' "${BENCH_TAG:-bench}" "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

require_tools() { # TOOL...: dies naming the first one missing
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
  done
}

# Dies unless prometheus is installed, when SERVERS names it.
require_prometheus_if_listed() {
  if [[ " ${SERVERS:-} " == *" prometheus "* ]] && ! command -v prometheus >/dev/null; then
    die "prometheus not found: apt-get install -y --no-install-recommends prometheus"
  fi
}

build_release() { # CARGO-BUILD-ARGS...: a niced release build, unless SKIP_BUILD=1
  [[ $SKIP_BUILD == 1 ]] && return 0
  log "building release binaries (nice): $*"
  nice cargo build --release "$@" >&2
}

stop_pid() { # PID [seconds]: TERM, wait, then KILL
  local pid=$1 wait=${2:-30} i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid still alive after ${wait}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# On exit: stops the processes whose PIDs are in the variables STOP_ON_EXIT names
# ("NAME:seconds ...", in that order), then removes $WORK unless KEEP_DATA=1.
bench_cleanup() {
  local spec name
  for spec in ${STOP_ON_EXIT:-}; do
    name=${spec%%:*}
    stop_pid "${!name:-}" "${spec#*:}"
  done
  [[ -n ${WORK:-} ]] || return 0
  if [[ $KEEP_DATA == 1 ]]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}

# Creates WORK, a temp dir named after PREFIX, and installs bench_cleanup on exit.
make_work_dir() { # PREFIX
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

free_port() {
  local port i
  for ((i = 0; i < 200; i++)); do
    port=$((20000 + RANDOM % 40000))
    if ! ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

# Starts NAME (nerve or prometheus) in the background on 127.0.0.1:PORT with CONFIG and a
# fresh DATA dir, output to LOGFILE; extra arguments go to prometheus only (e.g.
# --web.enable-remote-write-receiver). Sets STARTED_PID. nerve gets $NERVE_ENV.
start_server() { # NAME DATA PORT CONFIG LOGFILE [prometheus flags...]
  local name=$1 data=$2 port=$3 config=$4 logfile=$5
  shift 5
  case $name in
  nerve)
    # shellcheck disable=SC2086 # NERVE_ENV is a list of VAR=value words
    env $NERVE_ENV "$NERVE" serve --config "$config" --data-dir "$data" --http-listen "127.0.0.1:$port" \
      --otlp-grpc-listen 127.0.0.1:0 --otlp-http-listen 127.0.0.1:0 >"$logfile" 2>&1 &
    ;;
  prometheus)
    prometheus "$@" --storage.tsdb.path="$data" --web.listen-address="127.0.0.1:$port" \
      --config.file="$config" >"$logfile" 2>&1 &
    ;;
  *) die "unknown server $name" ;;
  esac
  STARTED_PID=$!
}

wait_ready() { # NAME URL PID LOGFILE: polls URL/-/ready for up to 60 s; dies if PID exits
  local i
  for ((i = 0; i < 600; i++)); do
    kill -0 "$3" 2>/dev/null || {
      tail -20 "$4" >&2
      die "$1 exited during startup"
    }
    curl -sf -o /dev/null --max-time 5 "$2/-/ready" && return 0
    sleep 0.1
  done
  die "$1 not ready after 60 s"
}

# Starts nerve with every listener on a kernel-chosen loopback port and waits until it is
# ready. Sets NERVE_PID, NERVE_ADDR (HTTP) and NERVE_OTLP_ADDR (OTLP/HTTP), read from its log.
start_nerve_logged() { # DATA LOGFILE [nerve serve args...]
  local data=$1 logfile=$2 i
  shift 2
  "$NERVE" serve --data-dir "$data" "$@" \
    --http-listen 127.0.0.1:0 --otlp-grpc-listen 127.0.0.1:0 --otlp-http-listen 127.0.0.1:0 \
    2>"$logfile" &
  NERVE_PID=$!
  NERVE_ADDR=
  for ((i = 0; i < 300; i++)); do
    NERVE_ADDR=$(grep -m1 -o 'http server listening addr=[0-9.:]*' "$logfile" | grep -v otlp | sed 's/.*addr=//' || true)
    [[ -n $NERVE_ADDR ]] && curl -fs "http://$NERVE_ADDR/-/ready" >/dev/null && break
    sleep 0.2
  done
  [[ -n $NERVE_ADDR ]] || {
    cat "$logfile" >&2
    die "nerve did not start"
  }
  NERVE_OTLP_ADDR=$(grep -m1 -o 'otlp http server listening addr=[0-9.:]*' "$logfile" | sed 's/.*addr=//' || true)
}

cpu_seconds() { # PID: utime + stime, in seconds
  awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# Busy CPU seconds of the whole machine (all CPUs), from /proc/stat.
machine_busy() { awk -v hz="$CLK_TCK" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Prints "LABEL nerve/prometheus = R" for the figure at JQ-PATH of the two results (JSON
# objects), and with OP and GOAL also the goal and PASS or MISS.
ratio_line() { # NERVE-JSON PROM-JSON JQ-PATH LABEL [OP GOAL]
  local a b
  a=$(echo "$1" | jq "$3")
  b=$(echo "$2" | jq "$3")
  awk -v a="$a" -v b="$b" -v label="$4" -v op="${5:-}" -v g="${6:-}" 'BEGIN {
    if (a == "null" || b == "null" || b == 0) { printf "%-22s n/a (missing figure)\n", label; exit }
    r = a / b
    if (op == "") { printf "%-22s nerve/prometheus = %.3f\n", label, r; exit }
    pass = (op == ">=") ? (r >= g) : (r <= g)
    printf "%-22s nerve/prometheus = %.3f   goal %s %.2f   %s\n", label, r, op, g, pass ? "PASS" : "MISS"
  }'
}
