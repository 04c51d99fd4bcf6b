#!/usr/bin/env bash
# Runs every cargo-fuzz target of the repo (proto/fuzz, query/fuzz, storage/fuzz) for a given
# time each, one after the other, and prints a table: target, seconds, executions, crashes.
# Exit status 1 if any target crashed (its reproducer is in <crate>/fuzz/artifacts/<target>/).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET_FILTER_REGEX]
#   scripts/fuzz.sh 600            # every target, 10 minutes each
#   scripts/fuzz.sh 120 'traceql|exposition'
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`); not part of CI.
# Corpora stay in <crate>/fuzz/corpus/<target>/ (git-ignored) so later runs continue from them.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
FILTER=${2:-.}
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2; exit 2; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
rows=()
failed=0
for dir in proto storage query; do
  [[ -d "$dir/fuzz" ]] || continue
  for target in $(cd "$dir" && cargo +nightly fuzz list); do
    [[ "$target" =~ $FILTER ]] || continue
    log="$OUT/$dir-$target.log"
    echo "== $dir/$target for ${SECS}s" >&2
    status=0
    (cd "$dir" && cargo +nightly fuzz run "$target" -- -max_total_time="$SECS" -print_final_stats=1) \
      >"$log" 2>&1 || status=$?
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    [[ -n "$runs" ]] || runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1)
    crashes=0
    if [[ $status -ne 0 ]] || grep -qE 'SUMMARY: |panicked at|deadly signal' "$log"; then
      crashes=1
      failed=1
      echo "-- $dir/$target failed; last lines of its log:" >&2
      tail -30 "$log" >&2
    fi
    rows+=("$(printf '%-10s %-16s %6s %12s %7s' "$dir" "$target" "$SECS" "${runs:-?}" "$crashes")")
  done
done
printf '%-10s %-16s %6s %12s %7s\n' crate target seconds executions crashes
printf '%s\n' "${rows[@]}"
exit $failed
