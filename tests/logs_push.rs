//! Log ingest end to end: every push format (Loki JSON, gzip JSON, snappy protobuf, OTLP from
//! the real `opentelemetry-otlp` exporter over gRPC and HTTP) read back with LogQL over the Loki
//! HTTP API — exact lines, labels, nanosecond timestamps and structured metadata; malformed
//! bodies and limits answered with 4xx and a message; acknowledged pushes survive `kill -9`.

mod common;

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, client, encode, eventually};
use nerve_proto::loki::{PushEntry, PushRequest, PushStream, encode_push_protobuf};
use serde_json::{Value, json};

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

/// `query_range` over the last hour (plus a minute ahead), categorized labels.
fn query_range(n: &Nerve, q: &str, extra: &str) -> Value {
    let end = now_ns() + 60_000_000_000;
    let start = end - 7_200_000_000_000;
    let url = n.url(&format!(
        "/loki/api/v1/query_range?query={}&start={start}&end={end}&direction=forward&limit=1000{extra}",
        encode(q)
    ));
    let r = client()
        .get(url)
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .send()
        .unwrap();
    let status = r.status();
    let body = r.text().unwrap();
    assert_eq!(status, 200, "{q}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// `(labels, ts, line, structured metadata)` of every entry of a streams result.
fn entries(v: &Value) -> Vec<(Value, String, String, Value)> {
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().expect("result array") {
        for e in s["values"].as_array().expect("values") {
            out.push((
                s["stream"].clone(),
                e[0].as_str().unwrap().to_owned(),
                e[1].as_str().unwrap().to_owned(),
                e[2]["structuredMetadata"].clone(),
            ));
        }
    }
    out
}

fn push(n: &Nerve, body: Vec<u8>, content_type: &str, encoding: Option<&str>) -> (u16, String) {
    let mut r = client()
        .post(n.url("/loki/api/v1/push"))
        .header("Content-Type", content_type)
        .body(body);
    if let Some(e) = encoding {
        r = r.header("Content-Encoding", e);
    }
    let r = r.send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Waits for `q` to return exactly `want` entries.
fn wait_entries(n: &Nerve, q: &str, want: usize) -> Vec<(Value, String, String, Value)> {
    eventually(Duration::from_secs(20), || {
        let e = entries(&query_range(n, q, ""));
        (e.len() == want).then_some(e)
    })
    .unwrap_or_else(|| panic!("{q}: want {want} entries, got {:?}", entries(&query_range(n, q, ""))))
}

#[test]
fn json_gzip_and_protobuf_pushes_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let t = now_ns() - 1_000_000_000;
    let body = json!({"streams": [{
        "stream": {"job": "api", "env": "prod"},
        "values": [
            [t.to_string(), "GET /x 200", {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}],
            [(t + 1).to_string(), "level=error msg=\"disk \\\"full\\\"\" ü"],
        ]
    }]});
    let (s, text) = push(&n, body.to_string().into_bytes(), "application/json", None);
    assert_eq!(s, 204, "{text}");
    let gz = json!({"streams": [{"stream": {"job": "gz"}, "values": [[(t + 2).to_string(), "zipped"]]}]});
    let (s, text) = push(&n, gzip(gz.to_string().as_bytes()), "application/json", Some("gzip"));
    assert_eq!(s, 204, "{text}");
    let pb = PushRequest {
        streams: vec![PushStream {
            labels: vec![("job".into(), "pb".into())],
            entries: vec![PushEntry {
                ts_ns: t + 3,
                line: "from protobuf".into(),
                structured_metadata: vec![("user".into(), "42".into())],
            }],
        }],
    };
    let (s, text) = push(&n, encode_push_protobuf(&pb), "application/x-protobuf", None);
    assert_eq!(s, 204, "{text}");

    let got = wait_entries(&n, r#"{job="api"}"#, 2);
    assert_eq!(got[0].0, json!({"env": "prod", "job": "api", "service_name": "api"}));
    assert_eq!(got[0].1, t.to_string());
    assert_eq!(got[0].2, "GET /x 200");
    assert_eq!(got[0].3["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(got[1].1, (t + 1).to_string());
    assert_eq!(got[1].2, "level=error msg=\"disk \\\"full\\\"\" ü");
    assert_eq!(got[1].3["detected_level"], "error");
    let got = wait_entries(&n, r#"{job="gz"}"#, 1);
    assert_eq!(got[0].2, "zipped");
    let got = wait_entries(&n, r#"{job="pb"}"#, 1);
    assert_eq!(
        (got[0].1.as_str(), got[0].2.as_str()),
        ((t + 3).to_string().as_str(), "from protobuf")
    );
    assert_eq!(got[0].3["user"], "42");

    // Line filters, legacy encoding (metadata folded into the stream), labels API.
    let e = entries(&query_range(&n, r#"{job=~"api|gz"} |= "disk""#, ""));
    assert_eq!(e.len(), 1);
    let legacy = n.get_json(&format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}",
        encode(r#"{job="pb"}"#),
        t - 10,
        t + 10
    ));
    assert_eq!(legacy["data"]["result"][0]["stream"]["user"], "42", "{legacy}");
    assert_eq!(legacy["data"]["result"][0]["values"][0].as_array().unwrap().len(), 2);
    let labels = n.get_json("/loki/api/v1/labels");
    assert_eq!(labels["data"], json!(["env", "job", "service_name"]), "{labels}");
    let values = n.get_json("/loki/api/v1/label/job/values");
    assert_eq!(values["data"], json!(["api", "gz", "pb"]));
    let series = n.get_json(&format!("/loki/api/v1/series?match[]={}", encode(r#"{job="gz"}"#)));
    assert_eq!(series["data"], json!([{"job": "gz", "service_name": "gz"}]));
}

#[test]
fn grafana_health_check_and_metric_query() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let v = n.get_json(&format!(
        "/loki/api/v1/query?query={}&time=4000000000&direction=backward",
        encode("vector(1)+vector(1)")
    ));
    assert_eq!(v["data"]["resultType"], "vector", "{v}");
    assert_eq!(
        v["data"]["result"],
        json!([{"metric": {}, "value": [4000000000u64, "2"]}])
    );
    let t = now_ns() - 10_000_000_000;
    let body = json!({"streams": [{"stream": {"app": "x"}, "values": [
        [t.to_string(), "{\"level\":\"info\"}"],
        [(t + 1).to_string(), "{\"level\":\"error\"}"],
        [(t + 2).to_string(), "{\"level\":\"error\"}"],
    ]}]});
    assert_eq!(push(&n, body.to_string().into_bytes(), "application/json", None).0, 204);
    let q = r#"sum by (level) (count_over_time({app="x"} | json [1h]))"#;
    let v = eventually(Duration::from_secs(20), || {
        let v = n.get_json(&format!("/loki/api/v1/query?query={}&time={}", encode(q), now_ns()));
        (v["data"]["result"].as_array().map(Vec::len) == Some(2)).then_some(v)
    })
    .expect("two level series");
    let mut got: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["level"].as_str().unwrap().to_owned(),
                s["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("error".to_owned(), "2".to_owned()),
            ("info".to_owned(), "1".to_owned())
        ]
    );
}

#[test]
fn malformed_pushes_get_400_with_a_message_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let cases: Vec<(Vec<u8>, &str, Option<&str>, &str)> = vec![
        (b"{not json".to_vec(), "application/json", None, ""),
        (
            br#"{"streams":[{"stream":{"a":"b"},"values":[[1718000000000000000,"numeric ts"]]}]}"#.to_vec(),
            "application/json",
            None,
            "",
        ),
        (b"\x00\x01garbage".to_vec(), "application/x-protobuf", None, ""),
        (b"not gzip".to_vec(), "application/json", Some("gzip"), ""),
        (
            json!({"streams":[{"stream":{"1bad":"x"},"values":[[now_ns().to_string(),"l"]]}]})
                .to_string()
                .into_bytes(),
            "application/json",
            None,
            "",
        ),
    ];
    for (body, ct, enc, _) in cases {
        let (status, text) = push(&n, body.clone(), ct, enc);
        assert_eq!(status, 400, "{:?}: {text}", String::from_utf8_lossy(&body));
        assert!(text.trim().len() > 5, "message expected: {text:?}");
    }
    let long = "x".repeat(300 << 10);
    let body = json!({"streams":[{"stream":{"a":"b"},"values":[[now_ns().to_string(), long], [now_ns().to_string(), "short"]]}]});
    let (status, text) = push(&n, body.to_string().into_bytes(), "application/json", None);
    assert_eq!(status, 400);
    assert!(text.contains("max entry size"), "{text}");
    // The valid entry of that push was kept, and the server still answers.
    wait_entries(&n, r#"{a="b"}"#, 1);
    assert_eq!(client().get(n.url("/-/ready")).send().unwrap().status(), 200);
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        "limits:\n  logs_ingestion_rate: 1KB\n  logs_ingestion_burst: 2KB\n",
    )
    .unwrap();
    let n = Nerve::start(&dir.path().join("data"), &["--config", cfg.to_str().unwrap()]);
    let body = json!({"streams":[{"stream":{"a":"b"},"values":[[now_ns().to_string(), "y".repeat(3000)]]}]});
    let r = client()
        .post(n.url("/loki/api/v1/push"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert!(r.text().unwrap().contains("rate limit"));
}

#[test]
fn indexing_backlog_answers_503_with_retry_after_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    // Nothing is indexed for an hour, and 1 KB of unindexed lines is the most allowed.
    std::fs::write(
        &cfg,
        "limits:\n  logs_max_unindexed_bytes: 1KB\nstorage:\n  logs:\n    commit_interval: 1h\n",
    )
    .unwrap();
    let n = Nerve::start(&dir.path().join("data"), &["--config", cfg.to_str().unwrap()]);
    let t = now_ns() - 1_000_000_000;
    let body = |i: i64| {
        json!({"streams":[{"stream":{"job":"backlog"},"values":[[(t + i).to_string(), format!("line {i} {}", "z".repeat(800))]]}]})
            .to_string()
            .into_bytes()
    };
    // The first two pushes fit (the check runs before each push); the third finds the
    // backlog over the limit.
    for i in 0..2 {
        let (s, text) = push(&n, body(i), "application/json", None);
        assert_eq!(s, 204, "{text}");
    }
    let r = client()
        .post(n.url("/loki/api/v1/push"))
        .header("Content-Type", "application/json")
        .body(body(2))
        .send()
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    assert!(r.text().unwrap().contains("logs_max_unindexed_bytes"));
    // Both acknowledged lines are readable (from the head) and nothing else.
    let got = entries(&query_range(&n, r#"{job="backlog"}"#, ""));
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn acknowledged_pushes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    // Heads are flushed to chunks within 100 ms, so the first half is in chunk files and the
    // index when the process dies.
    std::fs::write(&cfg, "storage:\n  logs:\n    commit_interval: 100ms\n").unwrap();
    let args = ["--config", cfg.to_str().unwrap()];
    let data = dir.path().join("data");
    let n = Nerve::start(&data, &args);
    let t = now_ns() - 5_000_000_000;
    let mut sent = Vec::new();
    for i in 0..200i64 {
        let line = format!("crash line {i} token{}", i % 7);
        let body = json!({"streams":[{"stream":{"job":"crash","shard":(i % 3).to_string()},
            "values":[[(t + i).to_string(), line]]}]});
        let (s, text) = push(&n, body.to_string().into_bytes(), "application/json", None);
        assert_eq!(s, 204, "{text}");
        sent.push(((t + i).to_string(), line));
        if i == 100 {
            // Let the first half reach the chunks; the rest stays in the WAL only.
            eventually(Duration::from_secs(20), || {
                let m = client().get(n.url("/metrics")).send().ok()?.text().ok()?;
                m.lines().any(|l| l == "nerve_log_head_entries 0").then_some(())
            })
            .expect("the head was never flushed");
        }
    }
    n.kill9();
    let n = Nerve::start(&data, &args);
    let mut got: Vec<(String, String)> = entries(&query_range(&n, r#"{job="crash"}"#, ""))
        .into_iter()
        .map(|(_, ts, line, _)| (ts, line))
        .collect();
    got.sort();
    sent.sort();
    assert_eq!(got, sent);
    let filtered = entries(&query_range(&n, r#"{job="crash"} |= "token3""#, ""));
    assert_eq!(
        filtered.len(),
        sent.iter().filter(|(_, l)| l.ends_with("token3")).count()
    );
}
