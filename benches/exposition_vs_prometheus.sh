#!/usr/bin/env bash
# Exposition parsing: nerve's parser vs Prometheus 2.42's own (`model/textparse`), on the same
# machine and the same input, one core each.
#
# Prometheus' parser is run through its own `BenchmarkParse` from Debian's prometheus 2.42
# source package, built with Debian's Go toolchain and Go libraries (no other network than
# Debian's archive); nerve's through `cargo bench -p nerve-proto --bench exposition --
# prom_testdata` over the very files that benchmark reads (promtestdata.txt: 410 series with
# HELP/TYPE, 33 KB; promtestdata.nometa.txt: the same series without them). Prints time per
# pass of each file and the ratio. Goal (issue 3): nerve ≥ 2× Prometheus' throughput per core.
#
# Which Prometheus variants compare to what: nerve yields every sample's name, unescaped
# labels and value; Prometheus' `decode-metric` variant does that and also builds a sorted
# label set per series (about 3 allocations), `no-decode-metric` only tokenises and returns
# the raw series text. Both are printed. Prometheus' BenchmarkParse counts two ops per series
# (b.N advances once per series and once more per pass), so a pass is 820 ops here.
#
# Needs root (apt) the first time. Not part of CI. Environment: WORK [target/promparse],
# BENCHTIME [3s].
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${WORK:-$ROOT/target/promparse}
BENCHTIME=${BENCHTIME:-3s}
mkdir -p "$WORK"

if [[ ! -d "$WORK/src/prometheus-2.42.0+ds" ]]; then
  if [[ ! -f /etc/apt/sources.list.d/debian-src.sources ]]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      > /etc/apt/sources.list.d/debian-src.sources
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev golang-go \
    golang-github-gogo-protobuf-dev golang-github-pkg-errors-dev golang-github-prometheus-common-dev \
    golang-github-stretchr-testify-dev golang-github-cespare-xxhash-dev golang-github-grafana-regexp-dev \
    golang-gopkg-yaml.v2-dev
  mkdir -p "$WORK/src" && (cd "$WORK/src" && apt-get source -qq prometheus >&2)
fi
SRC=$(ls -d "$WORK"/src/prometheus-2.42.0+ds)
mkdir -p "$WORK/gopath/src/github.com/prometheus"
ln -sfn "$SRC" "$WORK/gopath/src/github.com/prometheus/prometheus"
TESTDATA=$SRC/model/textparse

echo "== Prometheus 2.42 model/textparse BenchmarkParse (go, -cpu 1)" >&2
GO_OUT=$(cd "$WORK/gopath/src/github.com/prometheus/prometheus/model/textparse" &&
  GOPATH="$WORK/gopath:/usr/share/gocode" GO111MODULE=off GOPROXY=off GOFLAGS= GOCACHE="$WORK/gocache" \
    go test -run '^$' -bench 'BenchmarkParse/(prometheus|openmetrics)/(no-decode-metric|decode-metric)/' \
    -benchtime "$BENCHTIME" -cpu 1)
echo "$GO_OUT" >&2

echo "== nerve (cargo bench -p nerve-proto --bench exposition -- prom_testdata)" >&2
PROM_TEXTPARSE_TESTDATA=$TESTDATA cargo bench -p nerve-proto --bench exposition -- prom_testdata >&2

python3 - "$GO_OUT" "$ROOT/target/criterion/prom_testdata" <<'PY'
import json, os, re, sys
go, crit = sys.argv[1], sys.argv[2]
prom = {}
for line in go.splitlines():
    m = re.match(r"BenchmarkParse/(\w+)/([\w-]+)/(\S+?)\s+\d+\s+([\d.]+) ns/op", line)
    if m:
        fmt, variant, file, ns = m.groups()
        prom[(fmt, variant, file)] = float(ns) * 820 / 1000  # µs per pass
def nerve_us(fmt, file):
    p = os.path.join(crit, f"{fmt}_{file}", "new", "estimates.json")
    if not os.path.exists(p):
        return None
    return json.load(open(p))["mean"]["point_estimate"] / 1000
print(f"{'file':28} {'format':12} {'nerve µs':>9} {'prom decode µs':>15} {'prom no-decode µs':>18} {'speed-up vs decode':>19} {'vs no-decode':>13}")
for file in ["promtestdata.txt", "promtestdata.nometa.txt"]:
    for fmt, nfmt in [("prometheus", "text"), ("openmetrics", "openmetrics")]:
        n = nerve_us(nfmt, file)
        d = prom.get((fmt, "decode-metric", file))
        nd = prom.get((fmt, "no-decode-metric", file))
        if n is None or d is None or nd is None:
            print(f"{file:28} {fmt:12} missing (nerve {n}, prometheus {d}/{nd})")
            continue
        print(f"{file:28} {fmt:12} {n:9.1f} {d:15.1f} {nd:18.1f} {d / n:18.2f}x {nd / n:12.2f}x")
PY
