//! Span metrics end to end: a known set of spans exported as OTLP JSON becomes
//! `traces_spanmetrics_*` and `traces_service_graph_*` series whose values are what the spans
//! imply (calls and errors per operation, cumulative latency buckets, sums, one edge per
//! client/server pair), readable with PromQL, and `/api/v1/query_exemplars` returns the
//! spans' trace ids.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, encode, eventually, post_otlp_json};
use serde_json::{Value, json};

/// A span in OTLP JSON.
#[allow(clippy::too_many_arguments)]
fn span(trace: &str, id: &str, parent: &str, name: &str, kind: u8, start_ns: u64, millis: u64, error: bool) -> Value {
    let mut s = json!({"traceId": trace, "spanId": id, "name": name, "kind": kind,
        "startTimeUnixNano": start_ns.to_string(),
        "endTimeUnixNano": (start_ns + millis * 1_000_000).to_string(),
        "status": if error { json!({"code": 2}) } else { json!({}) }});
    if !parent.is_empty() {
        s["parentSpanId"] = json!(parent);
    }
    s
}

fn export(n: &Nerve, service: &str, spans: Vec<Value>) {
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]});
    post_otlp_json(n, "/v1/traces", &body);
}

/// `{labels-as-string: value}` of an instant query's vector.
fn query(n: &Nerve, q: &str) -> Vec<(Value, f64)> {
    let v = n.get_json(&format!("/api/v1/query?query={}", encode(q)));
    assert_eq!(v["status"], "success", "{q}: {v}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"].clone(),
                r["value"][1].as_str().unwrap().parse::<f64>().unwrap(),
            )
        })
        .collect()
}

fn scalar(n: &Nerve, q: &str) -> Option<f64> {
    let r = query(n, q);
    assert!(r.len() <= 1, "{q}: {r:?}");
    r.first().map(|(_, v)| *v)
}

const T1: &str = "11111111111111111111111111111111";
const T2: &str = "22222222222222222222222222222222";
const T3: &str = "33333333333333333333333333333333";

#[test]
fn span_metrics_are_what_the_spans_imply() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        "traces:\n  span_metrics:\n    interval: 1s\n    pairing_wait: 1s\n",
    )
    .unwrap();
    let n = Nerve::start(&dir.path().join("data"), &["--config", cfg.to_str().unwrap()]);
    let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let start = now_ns - 5_000_000_000;
    // shop-frontend: three checkouts of 3 ms, 100 ms and 3 s, the last one failed; each calls
    // shop-payments (client span 2 → server span 3), which fails in trace 2.
    export(
        &n,
        "shop-frontend",
        vec![
            span(T1, "a000000000000001", "", "GET /checkout", 2, start, 3, false),
            span(T2, "b000000000000001", "", "GET /checkout", 2, start, 100, false),
            span(T3, "c000000000000001", "", "GET /checkout", 2, start, 3000, true),
            span(T1, "a000000000000002", "a000000000000001", "charge", 3, start, 2, false),
            span(
                T2,
                "b000000000000002",
                "b000000000000001",
                "charge",
                3,
                start,
                90,
                false,
            ),
            span(
                T3,
                "c000000000000002",
                "c000000000000001",
                "charge",
                3,
                start,
                20,
                false,
            ),
        ],
    );
    export(
        &n,
        "shop-payments",
        vec![
            span(
                T1,
                "a000000000000003",
                "a000000000000002",
                "POST /charge",
                2,
                start,
                1,
                false,
            ),
            span(
                T2,
                "b000000000000003",
                "b000000000000002",
                "POST /charge",
                2,
                start,
                80,
                true,
            ),
            span(
                T3,
                "c000000000000003",
                "c000000000000002",
                "POST /charge",
                2,
                start,
                10,
                false,
            ),
        ],
    );

    let calls = |status: &str| {
        scalar(
            &n,
            &format!(
                "traces_spanmetrics_calls_total{{service=\"shop-frontend\",span_name=\"GET /checkout\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"{status}\"}}"
            ),
        )
    };
    eventually(Duration::from_secs(20), || {
        (calls("STATUS_CODE_UNSET") == Some(2.0) && scalar(&n, "sum(traces_service_graph_request_total)") == Some(3.0))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("span metrics did not appear; log:\n{}", n.logs()));
    assert_eq!(calls("STATUS_CODE_ERROR"), Some(1.0));

    // Latency buckets are cumulative over the two successful checkouts (3 ms, 100 ms).
    let buckets = query(
        &n,
        "traces_spanmetrics_latency_bucket{service=\"shop-frontend\",span_name=\"GET /checkout\",status_code=\"STATUS_CODE_UNSET\"}",
    );
    let le = |b: &str| {
        buckets
            .iter()
            .find(|(m, _)| m["le"] == b)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no le={b} in {buckets:?}"))
    };
    assert_eq!(buckets.len(), 15, "14 bounds and +Inf");
    assert_eq!(
        [le("0.002"), le("0.004"), le("0.064"), le("0.128"), le("+Inf")],
        [0.0, 1.0, 1.0, 2.0, 2.0]
    );
    let sum = scalar(
        &n,
        "traces_spanmetrics_latency_sum{service=\"shop-frontend\",span_name=\"GET /checkout\",status_code=\"STATUS_CODE_UNSET\"}",
    )
    .unwrap();
    assert!((sum - 0.103).abs() < 1e-9, "{sum}");
    assert_eq!(
        scalar(&n, "sum(traces_spanmetrics_calls_total{service=\"shop-payments\"})"),
        Some(3.0)
    );

    // One edge frontend → payments: 3 requests, 1 failed (payments' error in trace 2).
    let edge = "{client=\"shop-frontend\",server=\"shop-payments\"}";
    assert_eq!(
        scalar(&n, &format!("traces_service_graph_request_total{edge}")),
        Some(3.0)
    );
    assert_eq!(
        scalar(&n, &format!("traces_service_graph_request_failed_total{edge}")),
        Some(1.0)
    );
    let server_sum = scalar(&n, &format!("traces_service_graph_request_server_seconds_sum{edge}")).unwrap();
    assert!((server_sum - 0.091).abs() < 1e-9, "{server_sum}");
    assert_eq!(
        scalar(&n, &format!("traces_service_graph_request_client_seconds_count{edge}")),
        Some(3.0)
    );

    // Exemplars carry the spans' trace ids.
    let end = now_ns / 1_000_000_000 + 60;
    let v = n.get_json(&format!(
        "/api/v1/query_exemplars?query={}&start={}&end={end}",
        encode("traces_spanmetrics_latency_bucket{service=\"shop-frontend\"}"),
        end - 600
    ));
    assert_eq!(v["status"], "success", "{v}");
    let ids: BTreeSet<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["exemplars"].as_array().unwrap().iter())
        .map(|e| e["labels"]["trace_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([T1.to_owned(), T2.to_owned(), T3.to_owned()]),
        "{v}"
    );
    let rate = query(&n, "sum by (service) (rate(traces_spanmetrics_calls_total[1m]))");
    assert_eq!(rate.len(), 2, "{rate:?}");
}
