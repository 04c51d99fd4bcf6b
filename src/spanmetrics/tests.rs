//! The generated series equal what a known set of spans implies: calls and error counts per
//! label set, cumulative latency buckets, sums, service-graph edges (paired in either order,
//! virtual database nodes, unpaired halves), exemplars with the spans' trace ids, the leading
//! zero of new series and stale markers for idle ones.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nerve_storage::metrics::{Tsdb, TsdbOptions, is_stale_nan};
use nerve_storage::traces::{AttrValue, KeyValue, Resource, Scope, Span, SpanKind, StatusCode, hex};
use nerve_storage::{Labels, Matcher};

use super::*;

fn policy() -> SpanMetricsPolicy {
    SpanMetricsPolicy {
        interval: Duration::from_secs(15),
        latency_buckets: vec![0.01, 0.1, 1.0],
        graph_buckets: vec![0.1, 1.0],
        pairing_wait: Duration::from_secs(10),
        stale_after: Duration::from_secs(60),
        max_series: 1000,
    }
}

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: AttrValue::Str(service.into()),
        }],
        ..Default::default()
    })
}

#[allow(clippy::too_many_arguments)]
fn span(service: &str, name: &str, kind: SpanKind, trace: u8, id: u8, parent: u8, millis: u64, error: bool) -> Span {
    Span {
        trace_id: [trace; 16],
        span_id: [id; 8],
        parent_span_id: [parent; 8],
        trace_state: String::new(),
        flags: 0,
        name: name.into(),
        kind,
        start_ns: 1_000_000_000,
        end_ns: 1_000_000_000 + millis * 1_000_000,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status_code: if error { StatusCode::Error } else { StatusCode::Unset },
        status_message: String::new(),
        resource: resource(service),
        scope: Arc::new(Scope::default()),
    }
}

/// The value written for the series with exactly these labels (besides `__name__`).
fn value(f: &Flush, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want = Labels::from_pairs(std::iter::once(("__name__", name)).chain(labels.iter().copied())).unwrap();
    f.samples.iter().rev().find(|(l, ..)| *l == want).map(|(_, _, v)| *v)
}

const SERVER: &str = "SPAN_KIND_SERVER";
const UNSET: &str = "STATUS_CODE_UNSET";
const ERROR: &str = "STATUS_CODE_ERROR";

#[test]
fn span_metrics_match_the_spans() {
    let g = Generator::new(policy());
    let t0 = Instant::now();
    // frontend: 4 root server spans of 5 ms, 50 ms, 500 ms and 5 s, the last one failed.
    let mut spans = vec![
        span("frontend", "GET /", SpanKind::Server, 1, 1, 0, 5, false),
        span("frontend", "GET /", SpanKind::Server, 2, 1, 0, 50, false),
        span("frontend", "GET /", SpanKind::Server, 3, 1, 0, 500, false),
        span("frontend", "GET /", SpanKind::Server, 4, 1, 0, 5000, true),
    ];
    // frontend → cart: client spans (id 2) and cart's server spans (parent 2), the pair of
    // trace 2 arriving server-first in a second export; trace 3's cart span failed.
    spans.push(span("frontend", "POST /cart", SpanKind::Client, 1, 2, 1, 30, false));
    spans.push(span("cart", "add", SpanKind::Server, 1, 3, 2, 20, false));
    spans.push(span("frontend", "POST /cart", SpanKind::Client, 3, 2, 1, 300, false));
    spans.push(span("cart", "add", SpanKind::Server, 3, 3, 2, 250, true));
    // cart → postgres: a client span with db.system and no server side.
    let mut db = span("cart", "SELECT", SpanKind::Client, 1, 4, 3, 2, false);
    db.attributes.push(KeyValue {
        key: "db.system".into(),
        value: AttrValue::Str("postgresql".into()),
    });
    spans.push(db);
    // a server span whose client never reports.
    spans.push(span("payments", "charge", SpanKind::Server, 5, 9, 8, 40, false));
    g.observe(&spans, t0, 1_000);
    g.observe(
        &[
            span("cart", "add", SpanKind::Server, 2, 3, 2, 10, false),
            span("frontend", "POST /cart", SpanKind::Client, 2, 2, 1, 15, false),
        ],
        t0,
        1_000,
    );

    let f = g.flush(t0 + Duration::from_secs(11), 2_000);
    let base = [("service", "frontend"), ("span_name", "GET /"), ("span_kind", SERVER)];
    let ok: Vec<(&str, &str)> = base.iter().copied().chain([("status_code", UNSET)]).collect();
    let failed: Vec<(&str, &str)> = base.iter().copied().chain([("status_code", ERROR)]).collect();
    assert_eq!(value(&f, "traces_spanmetrics_calls_total", &ok), Some(3.0));
    assert_eq!(value(&f, "traces_spanmetrics_calls_total", &failed), Some(1.0));
    let bucket = |le: &str| {
        let mut l = ok.clone();
        l.push(("le", le));
        value(&f, "traces_spanmetrics_latency_bucket", &l)
    };
    assert_eq!(
        [bucket("0.01"), bucket("0.1"), bucket("1"), bucket("+Inf")],
        [Some(1.0), Some(2.0), Some(3.0), Some(3.0)]
    );
    assert_eq!(value(&f, "traces_spanmetrics_latency_count", &ok), Some(3.0));
    let sum = value(&f, "traces_spanmetrics_latency_sum", &ok).unwrap();
    assert!((sum - 0.555).abs() < 1e-9, "{sum}");
    let cart_err = [
        ("service", "cart"),
        ("span_name", "add"),
        ("span_kind", SERVER),
        ("status_code", ERROR),
    ];
    assert_eq!(value(&f, "traces_spanmetrics_calls_total", &cart_err), Some(1.0));

    let edge = [("client", "frontend"), ("server", "cart")];
    assert_eq!(value(&f, "traces_service_graph_request_total", &edge), Some(3.0));
    assert_eq!(value(&f, "traces_service_graph_request_failed_total", &edge), Some(1.0));
    let sb = |le: &str| {
        value(
            &f,
            "traces_service_graph_request_server_seconds_bucket",
            &[("client", "frontend"), ("server", "cart"), ("le", le)],
        )
    };
    assert_eq!([sb("0.1"), sb("1"), sb("+Inf")], [Some(2.0), Some(3.0), Some(3.0)]);
    let csum = value(&f, "traces_service_graph_request_client_seconds_sum", &edge).unwrap();
    assert!((csum - 0.345).abs() < 1e-9, "{csum}");
    let db_edge = [
        ("client", "cart"),
        ("server", "postgresql"),
        ("connection_type", "database"),
    ];
    assert_eq!(value(&f, "traces_service_graph_request_total", &db_edge), Some(1.0));
    assert_eq!(
        value(
            &f,
            "traces_service_graph_unpaired_spans_total",
            &[("server", "payments")]
        ),
        Some(1.0)
    );

    // New series start with a 0 one millisecond before their first value.
    let calls = Labels::from_pairs(
        [("__name__", "traces_spanmetrics_calls_total")]
            .into_iter()
            .chain(ok.clone()),
    )
    .unwrap();
    let written: Vec<(i64, f64)> = f
        .samples
        .iter()
        .filter(|(l, ..)| *l == calls)
        .map(|(_, t, v)| (*t, *v))
        .collect();
    assert_eq!(written, [(1_999, 0.0), (2_000, 3.0)]);
    // Exemplars: the newest span counted.
    let ex: Vec<&Exemplar> = f
        .exemplars
        .iter()
        .filter(|(l, _)| *l == calls)
        .map(|(_, e)| e)
        .collect();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].labels.get("trace_id"), Some(hex(&[3; 16]).as_str()));
}

#[test]
fn flushes_reach_the_tsdb_with_exemplars_and_end_stale() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    let g = Generator::new(policy());
    let t0 = Instant::now();
    let now_ms = 1_700_000_000_000;
    g.observe(
        &[span("api", "GET /x", SpanKind::Server, 7, 1, 0, 20, false)],
        t0,
        now_ms,
    );
    g.write(&tsdb, g.flush(t0, now_ms));
    g.observe(
        &[span("api", "GET /x", SpanKind::Server, 8, 1, 0, 20, false)],
        t0,
        now_ms + 15_000,
    );
    g.write(&tsdb, g.flush(t0 + Duration::from_secs(15), now_ms + 15_000));

    let m = [
        Matcher::equal("__name__", "traces_spanmetrics_latency_bucket"),
        Matcher::equal("le", "0.1"),
    ];
    let q = tsdb.querier(0, i64::MAX).unwrap();
    let series = q.select(&m).unwrap();
    let values: Vec<f64> = series[0].samples().unwrap().iter().map(|s| s.v).collect();
    assert_eq!(values, [0.0, 1.0, 2.0]);
    let ex = tsdb.exemplars(&m, 0, i64::MAX).unwrap();
    let ids: Vec<&str> = ex[0].1.iter().filter_map(|e| e.labels.get("trace_id")).collect();
    assert_eq!(ids, [hex(&[7; 16]), hex(&[8; 16])]);

    // No spans for longer than stale_after: the series ends and is forgotten.
    g.write(&tsdb, g.flush(t0 + Duration::from_secs(100), now_ms + 100_000));
    let q = tsdb.querier(0, i64::MAX).unwrap();
    let last = q.select(&m).unwrap()[0].samples().unwrap().last().unwrap().v;
    assert!(is_stale_nan(last));
    assert!(
        g.flush(t0 + Duration::from_secs(115), now_ms + 115_000)
            .samples
            .is_empty()
    );
}

#[test]
fn max_series_bounds_the_registry() {
    let g = Generator::new(SpanMetricsPolicy {
        max_series: 2,
        ..policy()
    });
    let t0 = Instant::now();
    let spans: Vec<Span> = (0..5)
        .map(|i| span("svc", &format!("op{i}"), SpanKind::Internal, 1, i, 0, 1, false))
        .collect();
    g.observe(&spans, t0, 1);
    assert_eq!(g.counts().refused, 3);
    let f = g.flush(t0, 2);
    let calls = f
        .samples
        .iter()
        .filter(|(l, t, _)| l.get("__name__") == Some("traces_spanmetrics_calls_total") && *t == 2)
        .count();
    assert_eq!(calls, 2);
}
