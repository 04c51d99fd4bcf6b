//! Remote-write receiver tests through the router: both versions, every status code of
//! api-contracts §1.4, partial rejection, limits and the v2 response headers.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use nerve_proto::{prompb, write_v2};
use nerve_storage::Matcher;
use nerve_storage::metrics::{MetricType, Tsdb};
use tower::ServiceExt;

use crate::config::limits::LimitsConfig;
use crate::config::units::ByteSize;
use crate::db::Db;
use crate::servers::http::{Policies, router};
use crate::state::AppState;

const T0: i64 = 1_718_000_000_000;
const V2_CONTENT_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

struct Fixture {
    app: Router,
    state: AppState,
    tsdb: Arc<Tsdb>,
    _dir: tempfile::TempDir,
}

fn fixture_with(limits: LimitsConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (state, tsdb) = AppState::for_tests(dir.path(), limits);
    Fixture {
        app: router(state.clone(), &Policies::default()),
        state,
        tsdb,
        _dir: dir,
    }
}

fn fixture() -> Fixture {
    fixture_with(LimitsConfig::default())
}

fn labels(pairs: &[(&str, &str)]) -> Vec<prompb::Label> {
    pairs
        .iter()
        .map(|(n, v)| prompb::Label {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect()
}

fn v1_series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> prompb::TimeSeries {
    prompb::TimeSeries {
        labels: labels(pairs),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| prompb::Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

async fn post(
    app: &Router,
    body: Vec<u8>,
    content_type: Option<&str>,
    encoding: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::post("/api/v1/write");
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    if let Some(enc) = encoding {
        req = req.header(header::CONTENT_ENCODING, enc);
    }
    let resp = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    let text = String::from_utf8(axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec()).unwrap();
    (parts.status, parts.headers, text)
}

async fn post_v1(app: &Router, req: &prompb::WriteRequest) -> (StatusCode, HeaderMap, String) {
    post(
        app,
        nerve_proto::encode_v1(req),
        Some("application/x-protobuf"),
        Some("snappy"),
    )
    .await
}

/// Samples stored for the series with metric name `name`.
fn stored(tsdb: &Tsdb, name: &str) -> Vec<(i64, f64)> {
    crate::ingest::append::stored_samples(tsdb, &[Matcher::equal("__name__", name)])
}

#[tokio::test]
async fn v1_is_stored_and_answered_204() {
    let f = fixture();
    let req = prompb::WriteRequest {
        timeseries: vec![
            v1_series(&[("__name__", "up"), ("job", "a")], &[(T0, 1.0), (T0 + 15_000, 0.0)]),
            v1_series(&[("__name__", "http_requests_total"), ("job", "b")], &[(T0, 42.0)]),
        ],
        metadata: vec![prompb::MetricMetadata {
            r#type: prompb::metric_metadata::MetricType::Counter as i32,
            metric_family_name: "http_requests_total".into(),
            help: "Requests.".into(),
            unit: String::new(),
        }],
    };
    let (s, h, body) = post_v1(&f.app, &req).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    assert!(
        !h.contains_key(super::SAMPLES_WRITTEN),
        "v1 answers carry no v2 headers"
    );
    assert_eq!(stored(&f.tsdb, "up"), vec![(T0, 1.0), (T0 + 15_000, 0.0)]);
    assert_eq!(stored(&f.tsdb, "http_requests_total"), vec![(T0, 42.0)]);
    let md = f.tsdb.metadata();
    assert!(
        md.iter()
            .any(|(name, m)| name == "http_requests_total" && m.kind == MetricType::Counter && m.help == "Requests.")
    );
    let text = f.state.metrics.encode().unwrap();
    assert!(
        text.contains("nerve_ingested_samples_total{source=\"remote_write\"} 3"),
        "{text}"
    );

    // Missing headers: still version 1.
    let req = prompb::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "up"), ("job", "c")], &[(T0, 1.0)])],
        ..Default::default()
    };
    let (s, _, _) = post(&f.app, nerve_proto::encode_v1(&req), None, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // An empty request is fine.
    assert_eq!(
        post_v1(&f.app, &prompb::WriteRequest::default()).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn v2_is_stored_with_written_headers() {
    let f = fixture();
    let symbols = [
        "",
        "__name__",
        "latency_seconds",
        "job",
        "api",
        "trace_id",
        "abc123",
        "Latency.",
        "seconds",
    ];
    let req = write_v2::Request {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        timeseries: vec![
            write_v2::TimeSeries {
                labels_refs: vec![1, 2, 3, 4],
                samples: vec![
                    write_v2::Sample {
                        value: 0.5,
                        timestamp: T0,
                        ..Default::default()
                    },
                    write_v2::Sample {
                        value: 0.7,
                        timestamp: T0 + 1000,
                        ..Default::default()
                    },
                ],
                exemplars: vec![write_v2::Exemplar {
                    labels_refs: vec![5, 6],
                    value: 0.7,
                    timestamp: T0 + 1000,
                }],
                metadata: Some(write_v2::Metadata {
                    r#type: write_v2::metadata::MetricType::Gauge as i32,
                    help_ref: 7,
                    unit_ref: 8,
                }),
                ..Default::default()
            },
            write_v2::TimeSeries {
                labels_refs: vec![1, 2, 3, 6],
                histograms: vec![write_v2::Histogram {
                    timestamp: T0,
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    };
    let (s, h, body) = post(
        &f.app,
        nerve_proto::encode_v2(&req),
        Some(V2_CONTENT_TYPE),
        Some("snappy"),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(h[super::SAMPLES_WRITTEN], "2");
    assert_eq!(h[super::HISTOGRAMS_WRITTEN], "0");
    assert_eq!(h[super::EXEMPLARS_WRITTEN], "1");
    assert_eq!(stored(&f.tsdb, "latency_seconds"), vec![(T0, 0.5), (T0 + 1000, 0.7)]);
    let md = f.tsdb.metadata();
    assert!(
        md.iter()
            .any(|(n, m)| n == "latency_seconds" && m.kind == MetricType::Gauge && m.unit == "seconds")
    );
    let text = f.state.metrics.encode().unwrap();
    assert!(
        text.contains("nerve_dropped_native_histograms_total{source=\"remote_write\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("nerve_ingested_exemplars_total{source=\"remote_write\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_samples_are_400_and_good_ones_kept() {
    let f = fixture();
    let first = prompb::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "up")], &[(T0 + 2000, 1.0)])],
        ..Default::default()
    };
    assert_eq!(post_v1(&f.app, &first).await.0, StatusCode::NO_CONTENT);
    let second = prompb::WriteRequest {
        timeseries: vec![
            v1_series(&[("__name__", "up")], &[(T0 + 1000, 5.0), (T0 + 3000, 3.0)]),
            v1_series(&[("job", "no_name")], &[(T0, 1.0)]),
            v1_series(&[("__name__", "ok")], &[(T0, 7.0)]),
        ],
        ..Default::default()
    };
    let (s, _, body) = post_v1(&f.app, &second).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("out of order"), "{body}");
    assert!(body.contains("(2 of 4 samples rejected)"), "{body}");
    assert_eq!(stored(&f.tsdb, "up"), vec![(T0 + 2000, 1.0), (T0 + 3000, 3.0)]);
    assert_eq!(stored(&f.tsdb, "ok"), vec![(T0, 7.0)]);

    // Same for v2, which also reports what was written.
    let req = write_v2::Request {
        symbols: vec!["".into(), "__name__".into(), "up".into()],
        timeseries: vec![write_v2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: vec![
                write_v2::Sample {
                    value: 1.0,
                    timestamp: T0,
                    ..Default::default()
                },
                write_v2::Sample {
                    value: 1.0,
                    timestamp: T0 + 4000,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
    };
    let (s, h, body) = post(
        &f.app,
        nerve_proto::encode_v2(&req),
        Some(V2_CONTENT_TYPE),
        Some("snappy"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(h[super::SAMPLES_WRITTEN], "1");
}

#[tokio::test]
async fn unsupported_and_undecodable() {
    let f = fixture();
    let good = nerve_proto::encode_v1(&prompb::WriteRequest::default());
    let (s, _, _) = post(&f.app, good.clone(), Some("application/json"), Some("snappy")).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _, _) = post(&f.app, good.clone(), Some("application/x-protobuf;proto=foo.Bar"), None).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _, _) = post(&f.app, good, Some("application/x-protobuf"), Some("gzip")).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _, body) = post(
        &f.app,
        b"not snappy at all".to_vec(),
        Some("application/x-protobuf"),
        Some("snappy"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap();
    let (s, _, body) = post(&f.app, garbage, Some("application/x-protobuf"), Some("snappy")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("protobuf"), "{body}");
}

#[tokio::test]
async fn size_limits_are_413() {
    let limits = LimitsConfig {
        remote_write_max_body_bytes: Some(ByteSize(8192)),
        remote_write_max_decoded_bytes: Some(ByteSize(4096)),
        ..Default::default()
    };
    let f = fixture_with(limits);
    let (s, _, body) = post(&f.app, vec![0; 10_000], Some("application/x-protobuf"), Some("snappy")).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("limits.remote_write_max_body_bytes"), "{body}");
    // Compresses to a few bytes but decodes to 64 KiB.
    let bomb = snap::raw::Encoder::new().compress_vec(&[0u8; 65536]).unwrap();
    assert!(bomb.len() < 8192);
    let (s, _, body) = post(&f.app, bomb, Some("application/x-protobuf"), Some("snappy")).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("limits.remote_write_max_decoded_bytes"), "{body}");
}

#[tokio::test]
async fn label_limits_are_400() {
    let limits = LimitsConfig {
        max_label_value_length: Some(8),
        ..Default::default()
    };
    let f = fixture_with(limits);
    let req = prompb::WriteRequest {
        timeseries: vec![v1_series(
            &[("__name__", "up"), ("path", "/a/very/long/path")],
            &[(T0, 1.0)],
        )],
        ..Default::default()
    };
    let (s, _, body) = post_v1(&f.app, &req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("max_label_value_length"), "{body}");
}

#[tokio::test]
async fn not_ready_is_503_with_retry_after() {
    let app = router(
        AppState::new(Arc::new(Db::new()), LimitsConfig::default()),
        &Policies::default(),
    );
    let (s, h, _) = post_v1(&app, &prompb::WriteRequest::default()).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h[header::RETRY_AFTER], "5");
}

#[tokio::test]
async fn closed_storage_is_503() {
    let f = fixture();
    f.tsdb.close().unwrap();
    let req = prompb::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", "up")], &[(T0, 1.0)])],
        ..Default::default()
    };
    let (s, h, _) = post_v1(&f.app, &req).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.contains_key(header::RETRY_AFTER));
}
