#!/usr/bin/env python3
"""Re-records line_format.tsv: what a real Loki answers for each line_format template below.

Usage: record_line_format.py [LOKI_BINARY]   (default ~/peers/bin/loki; the config is
$LOKI_CONFIG, default /work/shared/peers/loki.yaml; see /work/shared/peers/README.md). Starts Loki on loopback ports
3311/9311 in a fresh directory, pushes one log line, runs every template through
`{app="golden"} | logfmt | line_format `...``, and writes for each template either the
formatted line (OK) or Loki's __error_details__ (ERR). query/tests/logql_line_format_loki.rs
compares nerve against the file.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
PORT, GRPC = 3311, 9311
LINE = 'level=warn status=200 path=/api/v1/q msg="o\'neil said hi" n=1000000 f=0.5 dur=1500ms empty='
CASES = [
    '{{.level}}|{{.missing}}|{{ .path }}',
    '{{ .msg | title }}',
    '{{ title "élan hello-world foo_bar x.y €uro 1st" }}',
    '{{ addf 1000000 1 }}|{{ addf 999999 0 }}|{{ mulf 1e20 10 }}|{{ divf 1 3 }}',
    '{{ float64 "0.00001" }}|{{ float64 "0.0001" }}|{{ 1e6 }}|{{ 123456.0 }}|{{ -2.5e7 }}',
    '{{ printf "%d" 3 }}|{{ printf "%s" .status }}|{{ printf "%d" .status }}',
    '{{ printf "%.2f|%5s|%-4d|%x|%q" 3.14159 "ab" 7 255 .level }}',
    '{{ printf "%v %v %v" 1.5 2e6 true }}|{{ printf "%s" 3 }}|{{ printf "%d %d" 1 }}',
    '{{ if eq .status "200" }}ok{{ else }}no{{ end }}',
    '{{ eq .status 200 }}',
    '{{ eq 1 1.0 }}',
    '{{ __timestamp__ }}',
    '{{ __timestamp__ | unixEpoch }}|{{ __timestamp__ | unixEpochMillis }}',
    '{{ len .path }}|{{ len "héllo" }}',
    '{{ .level | ToUpper | printf "%q" }}',
    '{{ trunc 3 .path }}|{{ substr 1 4 .path }}|{{ replace "/" "_" .path }}',
    '{{ regexReplaceAll "v(\\\\d)" .path "V${1}" }}',
    '{{ .path | trimPrefix "/api" }}|{{ TrimSuffix .path "/q" }}',
    '{{ duration .dur }}',
    '{{ print 1 2 "x" 3 }}',
    '{{ and .level .missing }}|{{ or .missing "d" }}|{{ not .missing }}|{{ and .level "x" }}',
    '{{ html "<a href=\'x\'>" }}|{{ urlquery "a b&c" }}',
    '{{ .level.x }}',
    '{{ .empty | default "none" }}|{{ default "none" .level }}',
    '{{ ToUpper 1 2 }}',
    '{{ lt .status "300" }}|{{ gt 2 1 }}|{{ le 1.5 1.5 }}',
    '{{- "  a  " -}}|{{ "b" }}  {{- "c" }}',
    '{{/* comment */}}x',
    '{{ index . "level" }}',
]


def request(path, data=None, timeout=10):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def escape(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def main():
    loki = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/peers/bin/loki")
    cfg_src = pathlib.Path(os.environ.get("LOKI_CONFIG", "/work/shared/peers/loki.yaml"))
    with tempfile.TemporaryDirectory() as data:
        cfg = cfg_src.read_text().replace("DATA", data)
        cfg = cfg.replace("http_listen_port: 3100", f"http_listen_port: {PORT}")
        cfg = cfg.replace("grpc_listen_port: 9096", f"grpc_listen_port: {GRPC}")
        (pathlib.Path(data) / "loki.yaml").write_text(cfg)
        env = dict(os.environ, TZ="UTC")
        proc = subprocess.Popen([loki, "-config.file=loki.yaml"], cwd=data, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(120):
                try:
                    if request("/ready", timeout=2).strip() == b"ready":
                        break
                except OSError:
                    pass
                time.sleep(1)
            # A minute ago (Loki refuses old lines), at .789 s to show a fraction.
            ts = (time.time_ns() // 10**9 - 60) * 10**9 + 789_000_000
            push = {"streams": [{"stream": {"app": "golden"}, "values": [[str(ts), LINE]]}]}
            request("/loki/api/v1/push", json.dumps(push).encode())
            rows = []
            for tpl in CASES:
                assert "`" not in tpl and "\t" not in tpl
                q = '{app="golden"} | logfmt | line_format `' + tpl + "`"
                params = urllib.parse.urlencode({"query": q, "start": ts - 10**9, "end": ts + 10**9,
                                                 "limit": 10, "direction": "forward"})
                body = None
                for _ in range(30):
                    body = json.loads(request("/loki/api/v1/query_range?" + params))
                    if body["data"]["result"]:
                        break
                    time.sleep(1)
                res = body["data"]["result"][0]
                details = res["stream"].get("__error_details__")
                if details is not None:
                    rows.append(f"{tpl}\tERR\t{escape(details)}")
                else:
                    rows.append(f"{tpl}\tOK\t{escape(res['values'][0][1])}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    out = HERE / "line_format.tsv"
    header = [f"# Recorded from {subprocess.run([loki, '-version'], capture_output=True, text=True).stdout.splitlines()[0]}",
              f"# ts_ns\t{ts}", f"# line\t{escape(LINE)}"]
    out.write_text("\n".join(header + rows) + "\n")
    print(f"wrote {len(rows)} cases to {out}")


if __name__ == "__main__":
    main()
