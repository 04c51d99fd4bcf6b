//! OTLP/HTTP metrics receiver tests through the router: both encodings, gzip, partial
//! success, and every error answer.

use std::io::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use nerve_proto::otlp_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use nerve_proto::otlp_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use nerve_proto::otlp_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data,
    number_data_point,
};
use nerve_proto::otlp_proto::tonic::resource::v1::Resource;
use nerve_proto::{OtlpEncoding, RpcStatus};
use nerve_storage::Matcher;
use nerve_storage::metrics::{MetricType, Tsdb};
use prost::Message as _;
use tower::ServiceExt;

use crate::config::limits::LimitsConfig;
use crate::servers::http::{Policies, router};
use crate::state::AppState;

const T0_NS: u64 = 1_718_000_000_000_000_000;
const T0_MS: i64 = 1_718_000_000_000;

struct Fixture {
    app: Router,
    tsdb: Arc<Tsdb>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (state, tsdb) = AppState::for_tests(dir.path(), LimitsConfig::default());
    Fixture {
        app: router(state, &Policies::default()),
        tsdb,
        _dir: dir,
    }
}

fn counter(name: &str, value: f64, temporality: AggregationTemporality) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("checkout".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: name.into(),
                    description: "Orders placed.".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: T0_NS,
                            value: Some(number_data_point::Value::AsInt(value as i64)),
                            ..Default::default()
                        }],
                        aggregation_temporality: temporality as i32,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn post(
    app: &Router,
    path: &str,
    body: Vec<u8>,
    content_type: &str,
    gzip: bool,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::post(path).header(header::CONTENT_TYPE, content_type);
    if gzip {
        req = req.header(header::CONTENT_ENCODING, "gzip");
    }
    let resp = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
    (parts.status, parts.headers, bytes)
}

fn stored(tsdb: &Tsdb, name: &str, job: &str) -> Vec<(i64, f64)> {
    crate::ingest::append::stored_samples(tsdb, &[Matcher::equal("__name__", name), Matcher::equal("job", job)])
}

#[tokio::test]
async fn protobuf_is_stored_and_answered_in_protobuf() {
    let f = fixture();
    let body = counter("orders", 5.0, AggregationTemporality::Cumulative).encode_to_vec();
    let (status, headers, bytes) = post(&f.app, "/v1/metrics", body, "application/x-protobuf", false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-protobuf");
    let resp = ExportMetricsServiceResponse::decode(&bytes[..]).unwrap();
    assert_eq!(resp.partial_success, None);
    assert_eq!(stored(&f.tsdb, "orders_total", "checkout"), vec![(T0_MS, 5.0)]);
    let md = f.tsdb.metadata();
    assert!(
        md.iter()
            .any(|(n, m)| n == "orders_total" && m.kind == MetricType::Counter)
    );
}

#[tokio::test]
async fn json_and_gzip_on_the_prometheus_path() {
    let f = fixture();
    let json = OtlpEncoding::Json.encode(&counter("orders", 3.0, AggregationTemporality::Cumulative));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).unwrap();
    let body = gz.finish().unwrap();
    let (status, headers, bytes) = post(&f.app, "/api/v1/otlp/v1/metrics", body, "application/json", true).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(bytes, b"{}");
    assert_eq!(stored(&f.tsdb, "orders_total", "checkout"), vec![(T0_MS, 3.0)]);
}

/// OTLP metrics share remote write's label bounds: 0 means no bound, a bound refuses the
/// series as a partial success naming the limit.
#[tokio::test]
async fn label_limits_are_remote_writes() {
    let body = || counter("orders", 2.0, AggregationTemporality::Cumulative).encode_to_vec();
    for (max, stored_samples) in [(0, 1), (1, 0)] {
        let dir = tempfile::tempdir().unwrap();
        let limits = LimitsConfig {
            max_labels_per_series: Some(max),
            ..LimitsConfig::default()
        };
        let (state, tsdb) = AppState::for_tests(dir.path(), limits);
        let app = router(state, &Policies::default());
        let (status, _, bytes) = post(&app, "/v1/metrics", body(), "application/x-protobuf", false).await;
        assert_eq!(status, StatusCode::OK);
        let resp = ExportMetricsServiceResponse::decode(&bytes[..]).unwrap();
        assert_eq!(
            stored(&tsdb, "orders_total", "checkout").len(),
            stored_samples,
            "limit {max}"
        );
        if stored_samples == 0 {
            let partial = resp.partial_success.unwrap();
            assert_eq!(partial.rejected_data_points, 1);
            assert!(
                partial.error_message.contains("limits.max_labels_per_series (1)"),
                "{partial:?}"
            );
        } else {
            assert_eq!(resp.partial_success, None);
        }
    }
}

#[tokio::test]
async fn delta_is_a_partial_success() {
    let f = fixture();
    let json = OtlpEncoding::Json.encode(&counter("orders", 1.0, AggregationTemporality::Delta));
    let (status, _, bytes) = post(&f.app, "/v1/metrics", json, "application/json", false).await;
    assert_eq!(status, StatusCode::OK);
    let resp: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(resp["partialSuccess"]["rejectedDataPoints"], 1, "{resp}");
    let msg = resp["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(msg.contains("delta"), "{msg}");
    assert!(stored(&f.tsdb, "orders_total", "checkout").is_empty());
}

#[tokio::test]
async fn errors_are_rpc_status_bodies() {
    let f = fixture();
    let (status, headers, bytes) = post(
        &f.app,
        "/v1/metrics",
        b"\xff\xff".to_vec(),
        "application/x-protobuf",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-protobuf");
    let st = RpcStatus::decode(&bytes[..]).unwrap();
    assert_eq!(st.code, nerve_proto::otlp::CODE_INVALID_ARGUMENT);
    assert!(st.message.contains("decoding"), "{}", st.message);

    let (status, _, bytes) = post(&f.app, "/v1/metrics", b"{".to_vec(), "application/json", false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let st: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(st["code"], 3);

    let (status, _, _) = post(&f.app, "/v1/metrics", Vec::new(), "text/plain", false).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let req = Request::post("/v1/metrics")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .header(
            header::CONTENT_LENGTH,
            (crate::ingest::otlp::MAX_BODY_BYTES + 1).to_string(),
        )
        .body(Body::empty())
        .unwrap();
    let resp = f.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn not_ready_is_503_with_retry_after() {
    let state = AppState::new(Arc::new(crate::db::Db::new()), LimitsConfig::default());
    let app = router(state, &Policies::default());
    let body = counter("orders", 1.0, AggregationTemporality::Cumulative).encode_to_vec();
    let (status, headers, bytes) = post(&app, "/v1/metrics", body, "application/x-protobuf", false).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert_eq!(
        RpcStatus::decode(&bytes[..]).unwrap().code,
        nerve_proto::otlp::CODE_UNAVAILABLE
    );
}

#[tokio::test]
async fn grpc_errors_map_to_codes() {
    use crate::servers::error::ApiError;
    assert_eq!(
        ApiError::bad_data("x").into_grpc_status().code(),
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        ApiError::unavailable("x").into_grpc_status().code(),
        tonic::Code::Unavailable
    );
}
