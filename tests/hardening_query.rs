//! Query-side hardening (issue #21, items 1, 3 and 8), black-box against the real binary:
//! deep or long query text of every language is refused with 4xx naming the limit and the
//! process stays up; a subquery bomb is refused before it spends memory; log and trace
//! answers are bounded (Loki's `max_entries_limit_per_query`, clamped search limits, a
//! response-size cap) and LogQL honours its `timeout` parameter.

mod common;

use std::time::{Duration, Instant};

use common::{Nerve, client, encode, eventually, loki_push_json, post_form, post_otlp_json, remote_write};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};
use serde_json::{Value, json};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `/-/healthy` answers 200: the process survived.
fn assert_alive(n: &mut Nerve) {
    assert!(n.child.try_wait().unwrap().is_none(), "nerve exited:\n{}", n.logs());
    let r = client().get(n.url("/-/healthy")).send().expect("healthy");
    assert_eq!(r.status(), 200);
}

/// Peak resident memory of the nerve process (`VmHWM`), in bytes.
fn vm_hwm(n: &Nerve) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", n.child.id())).expect("status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn write_up(n: &Nerve) {
    let now = now_ms();
    let req = WriteRequest {
        timeseries: (0..3)
            .map(|i| TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "up".into(),
                    },
                    Label {
                        name: "instance".into(),
                        value: format!("i{i}"),
                    },
                ],
                samples: (0..20)
                    .map(|k| Sample {
                        value: 1.0,
                        timestamp: now - 300_000 + k * 15_000,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    remote_write(n, nerve_proto::encode_v1(&req));
}

fn push_logs(n: &Nerve, app: &str, lines: usize) {
    let now_ns = now_ms() * 1_000_000;
    let values: Vec<Value> = (0..lines)
        .map(|i| {
            json!([
                (now_ns - 60_000_000_000 + i as i64 * 1000).to_string(),
                format!("line {i} level=info")
            ])
        })
        .collect();
    loki_push_json(n, &json!({"streams": [{"stream": {"app": app}, "values": values}]}));
}

/// Item 1: deep PromQL (query, format_query, match[]) is 400 `bad_data` naming the limit,
/// the process stays up, and queries just inside the limit still evaluate.
#[test]
fn deep_promql_is_refused_and_nerve_survives() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nerve::start(dir.path(), &[]);
    write_up(&n);
    let deep = [
        format!("{}up{}", "sum(".repeat(2000), ")".repeat(2000)),
        format!("{}1", "-".repeat(10_000)),
        format!("{}1{}", "(".repeat(50_000), ")".repeat(50_000)),
        vec!["up"; 5000].join(" + "),
    ];
    for q in &deep {
        let (status, body) = post_form(&n.url("/api/v1/query"), &[("query", q)]);
        assert_eq!(status, 400, "{}: {body}", &q[..20]);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["errorType"], "bad_data");
        let msg = v["error"].as_str().unwrap();
        assert!(
            msg.contains("nested too deeply") && msg.contains("the limit is 256"),
            "{msg}"
        );
        assert_alive(&mut n);
    }
    let (status, body) = post_form(&n.url("/api/v1/format_query"), &[("query", &deep[2])]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("the limit is 256"), "{body}");
    let (status, body) = post_form(&n.url("/api/v1/series"), &[("match[]", &deep[2])]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("the limit is 256"), "{body}");
    let long = format!("up{{a=\"{}\"}}", "x".repeat(300_000));
    let (status, body) = post_form(&n.url("/api/v1/query"), &[("query", &long)]);
    assert_eq!(status, 400, "{}", &body[..200.min(body.len())]);
    assert!(body.contains("too long") && body.contains("262144 bytes"), "{body}");
    assert_alive(&mut n);
    // Just inside the limit: evaluated on the query threads' stack.
    let ok = format!("{}up{}", "sum(".repeat(255), ")".repeat(255));
    let (status, body) = post_form(&n.url("/api/v1/query"), &[("query", &ok)]);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "3");
    let ok = format!("{}1", "-".repeat(256));
    let (status, body) = post_form(&n.url("/api/v1/query"), &[("query", &ok)]);
    assert_eq!(status, 200, "{body}");
    assert_alive(&mut n);
}

/// Item 1: deep and very long LogQL and TraceQL are 4xx and the process stays up.
#[test]
fn deep_and_long_logql_and_traceql_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nerve::start(dir.path(), &[]);
    push_logs(&n, "a", 10);
    let logql = [
        format!(
            "{}count_over_time({{app=\"a\"}}[1m]){}",
            "(".repeat(50_000),
            ")".repeat(50_000)
        ),
        vec!["count_over_time({app=\"a\"}[1m])"; 5000].join(" + "),
        format!("{{app=\"a\"}} | {}", vec!["level=\"info\""; 20_000].join(" or ")),
        format!("{{app=\"a\"}} | {}", vec!["level=\"info\""; 20_000].join(", ")),
        format!("{{app=\"a\"}} |= \"{}\"", "x".repeat(300_000)),
    ];
    for q in &logql {
        let (status, body) = post_form(&n.url("/loki/api/v1/query_range"), &[("query", q), ("limit", "10")]);
        assert!(
            (400..500).contains(&status),
            "{status}: {}",
            &body[..200.min(body.len())]
        );
        assert_alive(&mut n);
    }
    // Tempo search is GET only, and an HTTP/1 request line must stay under 64 KiB, so these
    // are as deep and long as a client can send (the 256 KiB cap is unit-tested).
    let traceql = [
        format!("{{ {}.a=1 }}", "(".repeat(15_000)),
        format!("{{ {} }}", vec![".a>1"; 4000].join("&&")),
        format!("{{ {} }}", vec![".a>1"; 4000].join("||")),
        format!("{}{{}}", "(".repeat(15_000)),
    ];
    for q in &traceql {
        let r = client()
            .get(n.url(&format!("/tempo/api/search?q={}", encode(q))))
            .send()
            .expect("search");
        let status = r.status().as_u16();
        let body = r.text().unwrap_or_default();
        assert_eq!(status, 400, "{}", &body[..200.min(body.len())]);
        assert!(body.contains("nests too deeply (more than 64 levels)"), "{body}");
        assert_alive(&mut n);
    }
}

/// Item 3: the subquery bomb of issue #21 is 422 `execution` within a second and memory stays
/// small.
#[test]
fn subquery_bomb_is_refused_before_spending_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nerve::start(dir.path(), &[]);
    write_up(&n);
    let t0 = Instant::now();
    let (status, body) = post_form(&n.url("/api/v1/query"), &[("query", "max_over_time(up[1y:1ms])")]);
    let took = t0.elapsed();
    assert_eq!(status, 422, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errorType"], "execution");
    assert_eq!(
        v["error"],
        "query processing would load too many samples into memory in query execution"
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    // The same inside a range query, and nested.
    let now = now_ms() / 1000;
    let (status, body) = post_form(
        &n.url("/api/v1/query_range"),
        &[
            ("query", "max_over_time(max_over_time(up[1m:1ms])[1d:1s])"),
            ("start", &(now - 3600).to_string()),
            ("end", &now.to_string()),
            ("step", "60"),
        ],
    );
    assert_eq!(status, 422, "{body}");
    let hwm = vm_hwm(&n);
    assert!(hwm < 300 << 20, "VmHWM {} MiB", hwm >> 20);
    // A reasonable subquery still answers.
    let (status, body) = post_form(&n.url("/api/v1/query"), &[("query", "max_over_time(up[5m:15s])")]);
    assert_eq!(status, 200, "{body}");
    assert_alive(&mut n);
}

/// Item 8: Loki's entry limit (400 with Loki's message), LogQL's `timeout`, and the
/// response-size cap.
/// Item 8 / per-query memory: a LogQL metric query answers at most `limits.max_query_series`
/// series (400 with Loki's message) and extracts at most `limits.query_max_samples` samples
/// from log lines (422) before it steps.
#[test]
fn logql_metric_queries_are_bounded_in_series_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(&cfg, "limits:\n  query_max_samples: 2000\n").unwrap();
    let n = Nerve::start(&dir.path().join("data"), &["--config", cfg.to_str().unwrap()]);
    push_logs(&n, "a", 3000);
    let ready = eventually(Duration::from_secs(30), || {
        let (status, body) = post_form(
            &n.url("/loki/api/v1/query_range"),
            &[("query", r#"{app="a"}"#), ("limit", "1")],
        );
        (status == 200 && body.contains("line 2999")).then_some(())
    });
    assert!(ready.is_some(), "pushed lines never became readable");
    let q = r#"sum(count_over_time({app="a"} | pattern "line <n> <_>" [1h]))"#;
    let (status, body) = post_form(&n.url("/loki/api/v1/query"), &[("query", q)]);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("too many samples"), "{body}");
    // 1500 lines are under the sample bound; one series per line is over Loki's 500 series.
    let (status, body) = post_form(
        &n.url("/loki/api/v1/query"),
        &[(
            "query",
            r#"count_over_time({app="a"} | pattern "line <n> <_>" | n < 1500 [1h])"#,
        )],
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with("maximum number of series (500) reached for a single query"),
        "{body}"
    );
    let (status, body) = post_form(
        &n.url("/loki/api/v1/query"),
        &[(
            "query",
            r#"sum(count_over_time({app="a"} | pattern "line <n> <_>" | n < 1500 [1h]))"#,
        )],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"1500\""), "{body}");
    assert!(n.stop().success());
}

#[test]
fn logql_answers_are_bounded_and_timeout_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(&cfg, "limits:\n  query_max_response_bytes: 64KB\n").unwrap();
    let mut n = Nerve::start(&dir.path().join("data"), &["--config", cfg.to_str().unwrap()]);
    push_logs(&n, "a", 3000);
    let q = r#"{app="a"}"#;
    let lines = |body: &str| -> usize {
        let v: Value = serde_json::from_str(body).unwrap();
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["values"].as_array().unwrap().len())
            .sum()
    };
    let got = eventually(Duration::from_secs(30), || {
        let (status, body) = post_form(&n.url("/loki/api/v1/query_range"), &[("query", q), ("limit", "100")]);
        (status == 200 && lines(&body) == 100).then_some(())
    });
    assert!(got.is_some(), "pushed lines never became readable");
    let (status, body) = post_form(
        &n.url("/loki/api/v1/query_range"),
        &[("query", q), ("limit", "1000000000")],
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body.trim(),
        "max entries limit per query exceeded, limit > max_entries_limit_per_query (1000000000 > 5000)"
    );
    // The trace-to-logs endpoint has the same cap.
    let r = client()
        .get(n.url("/nerve/api/v1/traces/0af7651916cd43dd8448eb211c80319c/logs?limit=1000000000"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("(1000000000 > 5000)"));
    // Metric queries are not limited by it, as in Loki.
    let (status, body) = post_form(
        &n.url("/loki/api/v1/query_range"),
        &[("query", r#"count_over_time({app="a"}[1m])"#), ("limit", "1000000000")],
    );
    assert_eq!(status, 200, "{body}");
    // 3000 lines are more than 64KB of JSON: refused whole, naming the limit.
    let (status, body) = post_form(&n.url("/loki/api/v1/query_range"), &[("query", q), ("limit", "5000")]);
    assert_eq!(status, 422, "{}", &body[..200.min(body.len())]);
    assert!(body.contains("limits.query_max_response_bytes (65536 bytes)"), "{body}");
    // The request's `timeout`: a microsecond has passed before the first step is checked.
    for query in [q, r#"sum(count_over_time({app="a"}[1m]))"#] {
        let (status, body) = post_form(
            &n.url("/loki/api/v1/query_range"),
            &[("query", query), ("limit", "100"), ("timeout", "0.000001")],
        );
        assert_eq!(status, 504, "{query}: {body}");
        assert!(body.starts_with("request timed out"), "{body}");
        let (status, _) = post_form(
            &n.url("/loki/api/v1/query_range"),
            &[("query", query), ("limit", "100")],
        );
        assert_eq!(status, 200, "{query} without timeout");
    }
    // PromQL answers are capped the same way: 7201 points are more than 64KB of JSON.
    let now = now_ms() / 1000;
    let range = [
        ("query", "vector(1)".to_string()),
        ("start", (now - 3600).to_string()),
        ("end", now.to_string()),
    ];
    let mut params: Vec<(&str, &str)> = range.iter().map(|(k, v)| (*k, v.as_str())).collect();
    params.push(("step", "0.5"));
    let (status, body) = post_form(&n.url("/api/v1/query_range"), &params);
    assert_eq!(status, 422, "{}", &body[..200.min(body.len())]);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errorType"], "execution");
    assert!(
        v["error"].as_str().unwrap().contains("query_max_response_bytes"),
        "{body}"
    );
    params.pop();
    params.push(("step", "60"));
    let (status, body) = post_form(&n.url("/api/v1/query_range"), &params);
    assert_eq!(status, 200, "{body}");
    assert_alive(&mut n);
}

fn span_json(trace: usize, start_ns: u64) -> Value {
    json!({"traceId": format!("{:032x}", trace + 1), "spanId": format!("{:016x}", trace + 1), "name": "GET /x",
           "kind": 2, "startTimeUnixNano": start_ns.to_string(), "endTimeUnixNano": (start_ns + 1_000_000).to_string(),
           "status": {}})
}

/// Item 8: Jaeger and Tempo searches return at most `limits.traces_max_search_limit` traces
/// whatever `limit` asks for.
#[test]
fn trace_search_limits_are_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(&cfg, "limits:\n  traces_max_search_limit: 3\n").unwrap();
    let n = Nerve::start(&dir.path().join("data"), &["--config", cfg.to_str().unwrap()]);
    let start_ns = (now_ms() as u64 - 60_000) * 1_000_000;
    let spans: Vec<Value> = (0..8).map(|i| span_json(i, start_ns + i as u64 * 1000)).collect();
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]
    }]});
    post_otlp_json(&n, "/v1/traces", &body);
    let jaeger = |limit: &str| -> usize {
        let v = n.get_json(&format!("/jaeger/api/traces?service=svc&limit={limit}"));
        v["data"].as_array().map_or(0, Vec::len)
    };
    let tempo = |limit: &str| -> usize {
        let q = encode(r#"{ resource.service.name = "svc" }"#);
        let v = n.get_json(&format!("/tempo/api/search?q={q}&limit={limit}"));
        v["traces"].as_array().map_or(0, Vec::len)
    };
    // All eight traces are stored and searchable...
    for i in 0..8 {
        let path = format!("/jaeger/api/traces/{:032x}", i + 1);
        let found = eventually(Duration::from_secs(30), || {
            (client().get(n.url(&path)).send().ok()?.status() == 200).then_some(())
        });
        assert!(found.is_some(), "trace {i} not stored");
    }
    assert!(eventually(Duration::from_secs(30), || (jaeger("2") == 2).then_some(())).is_some());
    assert!(eventually(Duration::from_secs(30), || (tempo("2") == 2).then_some(())).is_some());
    // ...but a huge limit returns only the configured maximum.
    assert_eq!(jaeger("1000000000"), 3);
    assert_eq!(tempo("1000000000"), 3);
}
