#!/usr/bin/env bash
# Runs nerve's whole test suite. Installs the real peers the black-box tests talk to
# (Debian's prometheus/promtool, node exporter, alertmanager, Chromium for the UI test) and
# Node.js/npm (the build bundles the web UI) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
# The build bundles the web UI with npm; the UI's end-to-end test drives Debian's Chromium.
command -v npm >/dev/null || need+=(nodejs npm)
command -v chromium >/dev/null || need+=(chromium)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "missing test peers: ${need[*]} (install Debian packages: prometheus prometheus-node-exporter prometheus-alertmanager)" >&2
    exit 1
  fi
fi

cargo test --workspace "$@"
