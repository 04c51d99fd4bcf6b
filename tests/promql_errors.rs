//! Golden error responses of the PromQL API, black-box: parse errors are HTTP 400 `bad_data`
//! with Prometheus 2.42's position and text, many-to-many matching is 422 `execution`, a query
//! past its deadline is 503 `timeout`.

mod common;

use common::{Nerve, post_form, remote_write};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};
use serde_json::Value;

/// Samples every 15 s for an hour, ending at this time (ms).
const END_MS: i64 = 1_718_000_000_000;

fn series(labels: &[(&str, &str)], v: f64) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(k, v)| Label {
                name: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
        samples: (0..240)
            .map(|i| Sample {
                value: v + i as f64,
                timestamp: END_MS - 3_600_000 + i * 15_000,
            })
            .collect(),
        ..Default::default()
    }
}

fn load(n: &Nerve) {
    let req = WriteRequest {
        timeseries: vec![
            series(&[("__name__", "a"), ("i", "1"), ("job", "x")], 1.0),
            series(&[("__name__", "a"), ("i", "2"), ("job", "x")], 2.0),
            series(&[("__name__", "b"), ("i", "3"), ("job", "x")], 3.0),
            series(&[("__name__", "b"), ("i", "4"), ("job", "x")], 4.0),
        ],
        ..Default::default()
    };
    remote_write(n, nerve_proto::encode_v1(&req));
}

/// Form-POSTs `params` to `path`; the JSON body plus `httpStatus`.
fn post(n: &Nerve, path: &str, params: &[(&str, &str)]) -> Value {
    let (status, text) = post_form(&n.url(path), params);
    let mut v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {status} {e}: {text}"));
    v["httpStatus"] = status.into();
    v
}

fn assert_error(v: &Value, status: u64, error_type: &str) {
    assert_eq!(
        (v["httpStatus"].as_u64(), v["status"].as_str(), v["errorType"].as_str()),
        (Some(status), Some("error"), Some(error_type)),
        "{v}"
    );
}

#[test]
fn promql_error_responses() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The data is from 2024: keep it (samples older than the retention are refused).
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(&cfg, "storage:\n  metrics:\n    retention: 20y\n").unwrap();
    let n = Nerve::start(&dir.path().join("nerve"), &["--config", cfg.to_str().unwrap()]);
    load(&n);
    let at = format!("{}", END_MS / 1000);
    let start = format!("{}", END_MS / 1000 - 3_600);

    // Parse errors: 400 bad_data, with the text Prometheus 2.42 answers for the same query.
    for (q, want) in [
        ("sum(", "1:5: parse error: unclosed left parenthesis"),
        ("foo * * bar", "1:7: parse error: unexpected <op:*>"),
        ("rate(foo[5m]", "1:13: parse error: unclosed left parenthesis"),
        (
            "foo{a=}",
            "1:7: parse error: unexpected \"}\" in label matching, expected string",
        ),
        (
            "rate(foo)",
            "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
        ),
        (
            "nonexistent(foo)",
            "1:1: parse error: unknown function with name \"nonexistent\"",
        ),
        ("foo\n  bar", "2:3: parse error: unexpected identifier \"bar\""),
    ] {
        let want = format!("invalid parameter \"query\": {want}");
        let v = post(&n, "/api/v1/query", &[("query", q), ("time", &at)]);
        assert_error(&v, 400, "bad_data");
        assert_eq!(v["error"].as_str(), Some(want.as_str()), "{q:?}");
        let v = post(
            &n,
            "/api/v1/query_range",
            &[("query", q), ("start", &start), ("end", &at), ("step", "60")],
        );
        assert_error(&v, 400, "bad_data");
        assert_eq!(v["error"].as_str(), Some(want.as_str()), "{q:?} (range)");
    }

    // The data is there: a valid query over it succeeds.
    let v = post(&n, "/api/v1/query", &[("query", "sum(a)"), ("time", &at)]);
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(v["data"]["result"][0]["value"][1], "481", "{v}");

    // Many-to-many matching: 422 execution.
    for path in ["/api/v1/query", "/api/v1/query_range"] {
        let v = post(
            &n,
            path,
            &[
                ("query", "a + on(job) b"),
                ("time", &at),
                ("start", &start),
                ("end", &at),
                ("step", "60"),
            ],
        );
        assert_error(&v, 422, "execution");
        let e = v["error"].as_str().unwrap_or("");
        assert!(e.contains("many-to-many matching not allowed"), "{e}");
    }

    // A query past its deadline (the API's `timeout` parameter): 503 timeout.
    let v = post(
        &n,
        "/api/v1/query_range",
        &[
            ("query", "sum_over_time(a[1h:1s])"),
            ("start", &start),
            ("end", &at),
            ("step", "1"),
            ("timeout", "0.001"),
        ],
    );
    assert_error(&v, 503, "timeout");
}
