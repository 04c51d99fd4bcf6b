#!/usr/bin/env python3
"""Generates the log data set of the Loki differential suite (tests/loki_diff/data.json).

Deterministic (seeded): re-running it writes the same file. Timestamps are nanosecond offsets
from T0, a UTC day boundary chosen at run time by the recorder and by the Rust test ("start of
yesterday"), so epoch-aligned steps fall on the same offsets in every run.

Shape: 20 streams over 4 hours; JSON (nested objects, arrays, numbers, bools, nulls, escaped
strings), logfmt (quoted and empty values, duplicate keys), Java-style lines with multi-line
stack traces, Postgres, nginx and apache access logs, key=value-ish text, ANSI colour, unicode,
structured metadata (trace_id, user_id and one name that clashes with a parsed field), equal
timestamps within a stream.

Usage: python3 gen.py > data.json
"""

import json
import random
import sys

SEED = 2323
SPAN_S = 4 * 3600
R = random.Random(SEED)

PATHS = ["/api/orders", "/api/orders/42", "/api/users", "/login", "/static/app.js",
         "/health", "/api/cart?item=7&qty=2", "/search?q=caf%C3%A9"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
STATUSES = [200, 200, 200, 201, 204, 301, 400, 404, 404, 500, 503]
USERS = ["alice", "bob", "carol", "dave", "Łukasz", "zoë", "मोहन", "李雷"]
IPS = ["10.1.2.3", "10.1.7.40", "10.2.0.9", "192.168.1.20", "172.16.5.4", "10.1.255.1",
       "2001:db8::1"]


def trace_id():
    return "%032x" % R.getrandbits(128)


def dur():
    v = R.choice([R.randint(1, 999), R.randint(1, 5000)])
    return R.choice(["%dms" % v, "%.3fs" % (v / 1000.0), "%dus" % (v * 7), "1m%ds" % (v % 60)])


def size():
    return R.choice(["%dB" % R.randint(1, 999), "%dKB" % R.randint(1, 900),
                     "%.1fMB" % R.uniform(0.1, 20), "%dKiB" % R.randint(1, 64)])


def level():
    return R.choices(["info", "debug", "warn", "error"], [60, 15, 15, 10])[0]


def json_line(svc):
    lv = level()
    doc = {
        "level": lv,
        "msg": R.choice(["order created", "payment \"declined\"", "cache miss\tkey=a",
                         "user logged in", "slow query", "línea con acentos", "retry\\backoff"]),
        "status": R.choice(STATUSES),
        "latency_ms": round(R.uniform(0.1, 2500), 3),
        "duration": dur(),
        "bytes": R.randint(0, 2_000_000),
        "ok": R.random() < 0.8,
        "user": {"name": R.choice(USERS), "id": R.randint(1, 50), "tags": ["a", "b"][: R.randint(0, 2)]},
        "items": [R.randint(1, 9) for _ in range(R.randint(0, 3))],
        "ip": R.choice(IPS),
        "service": svc,
        "note": None if R.random() < 0.3 else "n%d" % R.randint(1, 5),
    }
    if R.random() < 0.2:
        doc["error"] = {"code": R.randint(1, 5), "detail": {"reason": "timeout", "retry": True}}
    if R.random() < 0.1:
        del doc["level"]
    line = json.dumps(doc, ensure_ascii=R.random() < 0.5)
    if R.random() < 0.03:
        line = line[: len(line) // 2]  # truncated JSON: parser errors
    return line


def logfmt_line():
    parts = ["ts=%s" % R.choice(["2024-01-01T00:00:00Z", "now"]),
             "level=%s" % level(),
             "msg=%s" % R.choice(['"payment accepted"', '"card \\"declined\\""', "charged",
                                  '"a=b c=d"', '""']),
             "amount=%.2f" % R.uniform(1, 999),
             "currency=%s" % R.choice(["EUR", "USD", "JPY"]),
             "duration=%s" % dur(),
             "size=%s" % size(),
             "user=%s" % R.choice(USERS),
             "note=" if R.random() < 0.4 else "note=%s" % R.choice(["x", '"spaced value"']),
             "client=%s" % R.choice(IPS)]
    if R.random() < 0.2:
        parts.append("level=%s" % level())  # duplicate key
    if R.random() < 0.1:
        parts.append("bare")
    return " ".join(parts)


EXC = ["java.lang.NullPointerException: Cannot invoke \"String.length()\"",
       "java.io.IOException: Connection reset by peer",
       "java.util.concurrent.TimeoutException: after 30000 ms"]


def java_line(ts_text):
    lv = R.choice(["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"])
    cls = R.choice(["c.e.checkout.CartService", "c.e.checkout.PaymentClient", "o.s.web.Dispatcher"])
    msg = R.choice(["Processing cart 17 for user %s" % R.choice(USERS),
                    "Request took %s" % dur(), "Retrying call attempt=%d" % R.randint(1, 5),
                    "Failed to reach payment service", "Cart total 12.50 EUR"])
    line = "%s %-5s [main-%d] %s - %s" % (ts_text, lv, R.randint(1, 8), cls, msg)
    if lv == "ERROR" and R.random() < 0.7:
        line += "\n" + R.choice(EXC)
        for i in range(R.randint(2, 5)):
            line += "\n\tat c.e.checkout.Handler.step%d(Handler.java:%d)" % (i, R.randint(10, 400))
    return line


def pg_line(ts_text):
    kind = R.choice(["LOG", "LOG", "ERROR", "WARNING", "FATAL", "STATEMENT"])
    msg = {
        "LOG": R.choice(["duration: %.3f ms  statement: SELECT * FROM orders WHERE id = %d"
                         % (R.uniform(0.1, 900), R.randint(1, 999)),
                         "checkpoint complete: wrote %d buffers" % R.randint(1, 400),
                         "connection authorized: user=app database=shop"]),
        "ERROR": R.choice(['duplicate key value violates unique constraint "orders_pkey"',
                           'relation "missing" does not exist']),
        "WARNING": "there is no transaction in progress",
        "FATAL": 'password authentication failed for user "%s"' % R.choice(USERS),
        "STATEMENT": "INSERT INTO orders VALUES ($1, $2)",
    }[kind]
    return "%s UTC [%d] %s:  %s" % (ts_text, R.randint(100, 999), kind, msg)


def nginx_line(ts_text):
    return '%s - %s [%s] "%s %s HTTP/1.1" %d %d "-" "%s" %s' % (
        R.choice(IPS), R.choice(["-", "alice", "bob"]), ts_text, R.choice(METHODS),
        R.choice(PATHS), R.choice(STATUSES), R.randint(0, 90000),
        R.choice(["curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64)", "Go-http-client/1.1"]),
        "%.3f" % R.uniform(0, 3))


def apache_line(ts_text):
    return '%s - - [%s] "%s %s HTTP/1.0" %d %s' % (
        R.choice(IPS), ts_text, R.choice(METHODS), R.choice(PATHS), R.choice(STATUSES),
        R.choice(["-", str(R.randint(1, 50000))]))


ANSI = {"info": "\x1b[32mINFO\x1b[0m", "warn": "\x1b[33mWARN\x1b[0m",
        "error": "\x1b[31;1mERROR\x1b[0m", "debug": "\x1b[36mDEBUG\x1b[0m"}


def ansi_line():
    lv = level()
    return "%s \x1b[1m%s\x1b[0m rendered page=%s in %s" % (
        ANSI[lv], R.choice(["web", "ssr"]), R.choice(PATHS), dur())


def unicode_line():
    return R.choice([
        "Benutzer %s hat sich angemeldet ✓" % R.choice(USERS),
        "用户 %s 登录成功 status=ok" % R.choice(USERS),
        "Заказ №%d оформлен, сумма %d ₽" % (R.randint(1, 999), R.randint(10, 9000)),
        "emoji 🚀 deploy %s done 🎉 level=info" % R.choice(["v1.2", "v1.3"]),
        "niveau=avertissement message=\"café froid\" durée=%s" % dur(),
        "\u200bzero-width start and trailing space ",
    ])


def kv_line():
    return "%s component=%s queue=%s depth=%d took=%s worker=%d result=%s" % (
        R.choice(["job done", "job failed", "job retried"]), R.choice(["sched", "exec"]),
        R.choice(["emails", "reports", "thumbs"]), R.randint(0, 500), dur(), R.randint(1, 4),
        R.choice(["ok", "fail", "ok", "skip"]))


def ts_texts(off_ns):
    # Text timestamps inside lines: derived from the offset only (T0 is a day boundary).
    s = off_ns // 1_000_000_000
    hh, mm, ss = s // 3600, s // 60 % 60, s % 60
    ms = off_ns // 1_000_000 % 1000
    return {
        "iso": "2026-01-01 %02d:%02d:%02d.%03d" % (hh, mm, ss, ms),
        "clf": "01/Jan/2026:%02d:%02d:%02d +0000" % (hh, mm, ss),
    }


STREAMS = [
    # (labels, kind, lines, structured metadata kind)
    ({"app": "orders", "env": "prod", "namespace": "shop", "pod": "orders-0"}, "json", 700, "trace"),
    ({"app": "orders", "env": "prod", "namespace": "shop", "pod": "orders-1"}, "json", 600, "trace"),
    ({"app": "orders", "env": "staging", "namespace": "shop", "pod": "orders-0"}, "json", 300, "clash"),
    ({"app": "payments", "env": "prod", "namespace": "shop", "pod": "pay-0", "level": "info"}, "logfmt", 500, "trace"),
    ({"app": "payments", "env": "prod", "namespace": "shop", "pod": "pay-0", "level": "error"}, "logfmt", 150, "trace"),
    ({"app": "payments", "env": "staging", "namespace": "shop", "pod": "pay-1"}, "logfmt", 300, "none"),
    ({"app": "checkout", "env": "prod", "namespace": "shop", "pod": "checkout-a"}, "java", 500, "trace"),
    ({"app": "checkout", "env": "staging", "namespace": "shop", "pod": "checkout-b"}, "java", 250, "none"),
    ({"app": "postgres", "env": "prod", "namespace": "db", "pod": "pg-0"}, "pg", 500, "none"),
    ({"app": "postgres", "env": "prod", "namespace": "db", "pod": "pg-1"}, "pg", 200, "user"),
    ({"app": "nginx", "env": "prod", "namespace": "edge", "pod": "nginx-0"}, "nginx", 800, "none"),
    ({"app": "nginx", "env": "staging", "namespace": "edge", "pod": "nginx-0"}, "nginx", 300, "none"),
    ({"app": "apache", "env": "prod", "namespace": "edge", "pod": "httpd-0"}, "apache", 400, "none"),
    ({"app": "frontend", "env": "prod", "namespace": "web", "pod": "fe-0"}, "ansi", 400, "trace"),
    ({"app": "frontend", "env": "dev", "namespace": "web", "pod": "fe-1"}, "ansi", 150, "none"),
    ({"app": "i18n", "env": "prod", "namespace": "web", "pod": "i18n-0", "region": "eu-west"}, "unicode", 300, "user"),
    ({"app": "worker", "env": "prod", "namespace": "jobs", "pod": "worker-0"}, "kv", 500, "none"),
    ({"app": "worker", "env": "prod", "namespace": "jobs", "pod": "worker-1"}, "kv", 400, "trace"),
    ({"job": "system/syslog", "host": "node-1", "filename": "/var/log/syslog"}, "mixed", 300, "none"),
    ({"service_name": "legacy", "env": "prod", "team": "платёж"}, "mixed", 150, "none"),
]


def make_line(kind, off_ns, svc):
    t = ts_texts(off_ns)
    if kind == "json":
        return json_line(svc)
    if kind == "logfmt":
        return logfmt_line()
    if kind == "java":
        return java_line(t["iso"])
    if kind == "pg":
        return pg_line(t["iso"])
    if kind == "nginx":
        return nginx_line(t["clf"])
    if kind == "apache":
        return apache_line(t["clf"])
    if kind == "ansi":
        return ansi_line()
    if kind == "unicode":
        return unicode_line()
    if kind == "kv":
        return kv_line()
    return make_line(R.choice(["json", "logfmt", "java", "nginx", "unicode", "kv"]), off_ns, svc)


def metadata(kind):
    if kind == "trace":
        return {"trace_id": trace_id()} if R.random() < 0.7 else {}
    if kind == "user":
        return {"user_id": str(R.randint(1, 20)), "trace_id": trace_id()}
    if kind == "clash":
        # `status` is also a field of the JSON lines: parsed labels get the `_extracted` suffix.
        return {"status": R.choice(["ok", "degraded"]), "trace_id": trace_id()}
    return {}


def main():
    streams = []
    for labels, kind, n, md in STREAMS:
        offs = sorted(R.randrange(0, SPAN_S * 1000) * 1_000_000 + R.randrange(0, 1000) for _ in range(n))
        values = []
        prev = None
        for off in offs:
            if prev is not None and R.random() < 0.05:
                off = prev  # equal timestamps within a stream
            off = max(off, prev or 0)
            line = make_line(kind, off, labels.get("app", "legacy"))
            entry = [str(off), line]
            m = metadata(md)
            if m:
                entry.append(m)
            values.append(entry)
            prev = off
        streams.append({"stream": labels, "values": values})
    json.dump({"seed": SEED, "span_seconds": SPAN_S, "streams": streams}, sys.stdout,
              ensure_ascii=False, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
