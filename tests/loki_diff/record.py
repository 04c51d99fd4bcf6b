#!/usr/bin/env python3
"""Pushes data.json into a running Loki and records its normalized answers to every check of
queries.txt into golden/answers.jsonl (one JSON object per line: {"id", "call", "answer"}).

Run through record.sh, which starts and stops Loki. The normalization here and in
tests/loki_diff.rs must stay the same (the rules are listed at the top of normalize.rs).

Usage: record.py BASE_URL [--only ID,ID] [--print]
--only re-records the listed checks and keeps the other answers of the golden file.
GOLDEN_OUT=FILE writes the answers there instead (to compare two Loki runs).
"""

import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
NS = 1_000_000_000

PATHS = {
    "query_range": "/loki/api/v1/query_range",
    "query": "/loki/api/v1/query",
    "labels": "/loki/api/v1/labels",
    "label_values": "/loki/api/v1/label/{}/values",
    "series": "/loki/api/v1/series",
    "index_stats": "/loki/api/v1/index/stats",
    "index_volume": "/loki/api/v1/index/volume",
    "index_volume_range": "/loki/api/v1/index/volume_range",
    "detected_labels": "/loki/api/v1/detected_labels",
    "detected_fields": "/loki/api/v1/detected_fields",
    "detected_field_values": "/loki/api/v1/detected_field/{}/values",
    "patterns": "/loki/api/v1/patterns",
}


def t0_ns():
    """Start of yesterday (UTC) in nanoseconds."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    d = datetime.datetime.combine(today - datetime.timedelta(days=1), datetime.time(),
                                  datetime.timezone.utc)
    return int(d.timestamp()) * NS


def parse_checks(path):
    """[(id, kind, params dict, text)] in file order."""
    checks, kind, defaults = [], None, {}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("@ "):
                words = line[2:].split()
                kind, defaults = words[0], dict(w.split("=", 1) for w in words[1:])
                continue
            head, text = line.split(" :: ", 1) if " :: " in line else (line.rstrip(" :"), "")
            words = head.split()
            params = dict(defaults)
            params.update(dict(w.split("=", 1) for w in words[1:]))
            checks.append((words[0], kind, {k: v for k, v in params.items() if v != ""}, text.strip()))
    return checks


def request_of(kind, params, text, t0):
    """(path, [(key, value)]) of one check."""
    path = PATHS[kind]
    if "{}" in path:
        path = path.format(urllib.parse.quote(text, safe=""))
    query = []
    if kind not in ("label_values", "detected_field_values") and text:
        query.append(("match[]" if kind == "series" else "query", text))
    for k, v in params.items():
        if k in ("start", "end", "time"):
            v = str(t0 + int(float(v) * NS))
        query.append((k, v))
    return path, query


def pairs(obj):
    return sorted((obj or {}).items())


def norm_sample(p, t0):
    return [round(float(p[0]) * 1000) - t0 // 1_000_000, p[1]]


def normalize(kind, text, status, body, t0):
    """The run-independent form of one answer."""
    out = {"status": status}
    try:
        j = json.loads(body)
    except ValueError:
        j = None
    if status != 200:
        out["error"] = body.strip()[:300]
        return out
    if j is None:
        out["body"] = body.strip()[:300]
        return out
    if kind in ("query_range", "query"):
        data = j.get("data") or {}
        rt = data.get("resultType")
        res = data.get("result")
        out["resultType"] = rt
        if rt == "streams":
            streams = []
            for s in res or []:
                entries = []
                for e in s.get("values") or []:
                    ts = str(int(e[0]) - t0) if str(e[0]).lstrip("-").isdigit() else e[0]
                    entries.append([ts, e[1], e[2] if len(e) > 2 else None])
                streams.append({"labels": s.get("stream") or {}, "entries": entries})
            streams.sort(key=lambda s: pairs(s["labels"]))
            out["result"] = streams
        elif rt == "matrix":
            series = [{"metric": s.get("metric") or {},
                       "values": [norm_sample(p, t0) for p in s.get("values") or []]}
                      for s in res or []]
            series.sort(key=lambda s: pairs(s["metric"]))
            out["result"] = series
        elif rt == "vector":
            series = [{"metric": s.get("metric") or {}, "value": norm_sample(s["value"], t0)}
                      for s in res or []]
            if not text.startswith("sort"):
                series.sort(key=lambda s: pairs(s["metric"]))
            out["result"] = series
        elif rt == "scalar":
            out["result"] = norm_sample(res, t0)
        else:
            out["result"] = res
    elif kind in ("labels", "label_values"):
        out["data"] = sorted(j.get("data") or [])
    elif kind == "series":
        out["data"] = sorted(j.get("data") or [], key=pairs)
    elif kind == "index_stats":
        out["keys"] = sorted(j.keys())
    elif kind in ("index_volume", "index_volume_range"):
        data = j.get("data") or {}
        out["resultType"] = data.get("resultType")
        out["metrics"] = sorted((s.get("metric") or {} for s in data.get("result") or []), key=pairs)
    elif kind == "detected_labels":
        out["detectedLabels"] = sorted(j.get("detectedLabels") or [], key=lambda x: x.get("label", ""))
    elif kind == "detected_fields":
        fields = j.get("fields") or []
        out["fields"] = sorted(fields, key=lambda x: x.get("label", ""))
    elif kind == "detected_field_values":
        out["values"] = sorted(j.get("values") or [])
    elif kind == "patterns":
        out["patterns"] = sorted(p.get("pattern", "") for p in j.get("data") or [])
    return out


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def push(base, t0):
    with open(os.path.join(HERE, "data.json"), encoding="utf-8") as f:
        data = json.load(f)
    for s in data["streams"]:
        values = [[str(t0 + int(v[0]))] + v[1:] for v in s["values"]]
        for i in range(0, len(values), 500):
            body = json.dumps({"streams": [{"stream": s["stream"], "values": values[i:i + 500]}]})
            st, txt = http("POST", base + "/loki/api/v1/push", body.encode(),
                           {"Content-Type": "application/json"})
            if st // 100 != 2:
                sys.exit("push failed: %s %s" % (st, txt))


def main():
    base = sys.argv[1]
    only = None
    if "--only" in sys.argv:
        only = set(sys.argv[sys.argv.index("--only") + 1].split(","))
    t0 = t0_ns()
    checks = parse_checks(os.path.join(HERE, "queries.txt"))
    push(base, t0)
    st, txt = http("POST", base + "/flush")
    print("flush:", st, txt.strip(), file=sys.stderr)
    time.sleep(10)
    answers = []
    for cid, kind, params, text in checks:
        if only is not None and cid not in only:
            continue
        path, query = request_of(kind, params, text, t0)
        url = base + path + "?" + urllib.parse.urlencode(query)
        st, body = http("GET", url)
        ans = normalize(kind, text, st, body, t0)
        if "--print" in sys.argv:
            print(cid, st, body[:3000])
        answers.append({"id": cid, "call": kind, "answer": ans})
    out = os.environ.get("GOLDEN_OUT") or os.path.join(HERE, "golden", "answers.jsonl")
    if only is not None:
        # Re-record some checks: keep the other answers, in queries.txt order.
        new = {a["id"]: a for a in answers}
        with open(out, encoding="utf-8") as f:
            old = {a["id"]: a for a in map(json.loads, f)}
        answers = [new.get(cid) or old[cid] for cid, _, _, _ in checks if cid in new or cid in old]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for a in answers:
            f.write(json.dumps(a, ensure_ascii=False, sort_keys=True) + "\n")
    ok = sum(1 for a in answers if a["answer"]["status"] == 200)
    print("recorded %d checks (%d answered 200)" % (len(answers), ok), file=sys.stderr)


if __name__ == "__main__":
    main()
