//! The OTLP gRPC server (`:4317`): `opentelemetry.proto.collector.metrics.v1.MetricsService`,
//! `…logs.v1.LogsService` and `…trace.v1.TraceService`.
//!
//! tonic's routes are an axum router, so the server is axum's (HTTP/2 prior knowledge is
//! detected per connection) and shares the HTTP server's shutdown handling. gzip requests
//! are accepted (inflated by [`grpc_body`], bounded and counted against the memory guard)
//! and answers are gzipped when the client accepts it.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::Router;
use axum::middleware;
use nerve_proto::otlp_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use nerve_proto::otlp_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use nerve_proto::otlp_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use nerve_proto::otlp_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use nerve_proto::otlp_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use nerve_proto::otlp_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tower_http::trace::TraceLayer;

use crate::ingest::grpc_body;
use crate::ingest::otlp::{ExportRequest, MAX_BODY_BYTES, OtlpSignal};
use crate::ingest::otlp_logs::Logs;
use crate::ingest::otlp_metrics::Metrics;
use crate::ingest::otlp_traces::Traces;
use crate::servers::auth::{self, AccessPolicy};
use crate::servers::error::ApiError;
use crate::shutdown::Shutdown;
use crate::state::AppState;

/// One OTLP gRPC service: its `Export` stores the request through the signal's
/// [`OtlpSignal::store`], the path OTLP/HTTP takes too.
#[derive(Debug)]
pub struct OtlpService<S> {
    state: AppState,
    signal: PhantomData<fn() -> S>,
}

impl<S> Clone for OtlpService<S> {
    fn clone(&self) -> Self {
        OtlpService {
            state: self.state.clone(),
            signal: PhantomData,
        }
    }
}

impl<S: OtlpSignal> OtlpService<S> {
    fn new(state: AppState) -> Self {
        OtlpService {
            state,
            signal: PhantomData,
        }
    }

    async fn store(
        &self,
        request: tonic::Request<S::Request>,
    ) -> Result<tonic::Response<<S::Request as ExportRequest>::Response>, tonic::Status> {
        S::store(&self.state, request.into_inner())
            .await
            .map(tonic::Response::new)
            .map_err(ApiError::into_grpc_status)
    }
}

/// Implements a tonic service trait for the [`OtlpService`] of a signal: `Export` is
/// [`OtlpService::store`].
macro_rules! export_service {
    ($service:ident, $signal:ty, $request:ty, $response:ty) => {
        #[tonic::async_trait]
        impl $service for OtlpService<$signal> {
            async fn export(
                &self,
                request: tonic::Request<$request>,
            ) -> Result<tonic::Response<$response>, tonic::Status> {
                self.store(request).await
            }
        }
    };
}

export_service!(
    MetricsService,
    Metrics,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse
);
export_service!(LogsService, Logs, ExportLogsServiceRequest, ExportLogsServiceResponse);
export_service!(
    TraceService,
    Traces,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse
);

/// The gRPC routes, behind the write policy unless it is open.
pub fn router(state: AppState, write: &Arc<AccessPolicy>) -> Router {
    let max_logs = state.limits.logs_max_decoded();
    let logs = LogsServiceServer::new(OtlpService::<Logs>::new(state.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_logs);
    let traces = TraceServiceServer::new(OtlpService::<Traces>::new(state.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_BODY_BYTES);
    let inflate = middleware::from_fn_with_state(state.clone(), grpc_body::inflate_grpc);
    let metrics = MetricsServiceServer::new(OtlpService::<Metrics>::new(state))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_BODY_BYTES);
    let routes = tonic::service::Routes::new(metrics)
        .add_service(logs)
        .add_service(traces)
        .into_axum_router()
        // Inside the auth layer below: only authorised calls get inflated.
        .route_layer(inflate);
    let routes = if write.is_open() {
        routes
    } else {
        routes.route_layer(middleware::from_fn_with_state(write.clone(), auth::require_grpc))
    };
    routes
        .layer(middleware::map_response(decode_errors_are_invalid_argument))
        .layer(TraceLayer::new_for_grpc())
}

/// tonic answers a request body it cannot decode with INTERNAL (gRPC's convention for parse
/// failures); a malformed export is the client's fault and OTLP clients must not retry it, so
/// such answers are re-coded INVALID_ARGUMENT, keeping prost's message (which says what was
/// wrong).
async fn decode_errors_are_invalid_argument(mut resp: axum::response::Response) -> axum::response::Response {
    let h = resp.headers_mut();
    let decode_failure = h.get("grpc-status").is_some_and(|v| v == "13")
        && h.get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|m| m.starts_with("failed%20to%20decode") || m.starts_with("failed to decode"));
    if decode_failure {
        h.insert("grpc-status", axum::http::HeaderValue::from_static("3"));
    }
    resp
}

/// Binds the gRPC listener and logs `otlp grpc server listening addr=<ip:port>` with the
/// address actually bound.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    super::bind(addr, "otlp grpc").await
}

/// Serves `app` until `shutdown` triggers, then lets in-flight calls finish.
pub async fn serve<L>(listener: L, app: Router, shutdown: Shutdown) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    super::serve(listener, app, shutdown, "otlp grpc").await
}

#[cfg(test)]
mod tests {
    use nerve_proto::otlp_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use nerve_proto::otlp_proto::tonic::metrics::v1::{
        AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data,
        number_data_point,
    };

    use super::*;
    use crate::config::limits::LimitsConfig;
    use crate::db::Db;

    /// Serves `state` on a loopback port; returns a connected client.
    async fn client_for(state: AppState, shutdown: &Shutdown) -> MetricsServiceClient<tonic::transport::Channel> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(state, &Arc::new(AccessPolicy::default()));
        tokio::spawn(serve(listener, app, shutdown.clone()));
        MetricsServiceClient::connect(format!("http://{addr}")).await.unwrap()
    }

    fn sum_request(temporality: AggregationTemporality) -> ExportMetricsServiceRequest {
        let point = |t_s: u64, v: f64| NumberDataPoint {
            time_unix_nano: t_s * 1_000_000_000,
            value: Some(number_data_point::Value::AsDouble(v)),
            ..Default::default()
        };
        let metric = Metric {
            name: "jobs.done".into(),
            data: Some(Data::Sum(Sum {
                data_points: vec![point(1_718_000_000, 2.0), point(1_718_000_015, 3.0)],
                aggregation_temporality: temporality as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![metric],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// With write credentials configured, OTLP gRPC exports need them in the `authorization`
    /// metadata: none or wrong ones are UNAUTHENTICATED, read credentials PERMISSION_DENIED.
    #[tokio::test]
    async fn grpc_exports_need_write_credentials() {
        use crate::config::auth::AccessRule;
        use crate::config::http_client::Secret;
        let dir = tempfile::tempdir().unwrap();
        let shutdown = Shutdown::new();
        let (state, _tsdb) = AppState::for_tests(dir.path(), LimitsConfig::default());
        let rule = |t: &str| AccessRule {
            bearer_token: Some(Secret(t.into())),
            ..Default::default()
        };
        let read = Arc::new(AccessPolicy::from_rule(Some(&rule("reader"))).unwrap());
        let write = Arc::new(AccessPolicy::from_rule(Some(&rule("writer"))).unwrap().with_other(read));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, router(state, &write), shutdown.clone()));
        let mut client = MetricsServiceClient::connect(format!("http://{addr}")).await.unwrap();
        let req = |token: Option<&str>| {
            let mut r = tonic::Request::new(sum_request(AggregationTemporality::Cumulative));
            if let Some(t) = token {
                r.metadata_mut()
                    .insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            r
        };
        let code = |r: Result<_, tonic::Status>| r.err().map(|s| s.code());
        assert_eq!(code(client.export(req(None)).await), Some(tonic::Code::Unauthenticated));
        assert_eq!(
            code(client.export(req(Some("nope"))).await),
            Some(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            code(client.export(req(Some("reader"))).await),
            Some(tonic::Code::PermissionDenied)
        );
        assert!(client.export(req(Some("writer"))).await.is_ok());
        shutdown.trigger();
    }

    /// A gRPC request whose body is not the service's message gets INVALID_ARGUMENT (for
    /// every OTLP service), and the server keeps serving.
    #[tokio::test]
    async fn malformed_messages_are_invalid_argument() {
        use tower::ServiceExt as _;
        let dir = tempfile::tempdir().unwrap();
        let (state, _tsdb) = AppState::for_tests(dir.path(), LimitsConfig::default());
        let app = router(state, &Arc::new(AccessPolicy::default()));
        let garbage = [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01];
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(garbage.len() as u32).to_be_bytes());
        frame.extend_from_slice(&garbage);
        for path in [
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        ] {
            let req = axum::http::Request::post(path)
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(axum::body::Body::from(frame.clone()))
                .unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            let h = resp.headers();
            assert_eq!(
                h.get("grpc-status").map(|v| v.to_str().unwrap()),
                Some("3"),
                "{path}: {h:?}"
            );
            let msg = h.get("grpc-message").unwrap().to_str().unwrap();
            assert!(msg.contains("decode"), "{path}: {msg}");
        }
    }

    #[tokio::test]
    async fn otlp_unavailable_until_the_tsdb_is_open() {
        let shutdown = Shutdown::new();
        let state = AppState::new(Arc::new(Db::new()), LimitsConfig::default());
        let mut client = client_for(state, &shutdown).await;
        let err = client
            .export(sum_request(AggregationTemporality::Cumulative))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");
        shutdown.trigger();
    }

    #[tokio::test]
    async fn otlp_export_stores_and_reports_partial_success() {
        let dir = tempfile::tempdir().unwrap();
        let shutdown = Shutdown::new();
        let (state, tsdb) = AppState::for_tests(dir.path(), LimitsConfig::default());
        let mut client = client_for(state, &shutdown).await;

        let resp = client
            .export(sum_request(AggregationTemporality::Cumulative))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resp.partial_success, None);
        let q = tsdb.querier(i64::MIN, i64::MAX).unwrap();
        let samples: Vec<(i64, f64)> = q
            .select(&[nerve_storage::Matcher::equal("__name__", "jobs_done_total")])
            .unwrap()
            .iter()
            .flat_map(|s| s.samples().unwrap())
            .map(|s| (s.t, s.v))
            .collect();
        assert_eq!(samples, vec![(1_718_000_000_000, 2.0), (1_718_000_015_000, 3.0)]);

        let resp = client
            .export(sum_request(AggregationTemporality::Delta))
            .await
            .unwrap()
            .into_inner();
        let partial = resp.partial_success.unwrap();
        assert_eq!(partial.rejected_data_points, 2);
        assert!(partial.error_message.contains("delta"), "{}", partial.error_message);
        shutdown.trigger();
    }
}
