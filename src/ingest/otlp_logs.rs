//! OTLP logs ingest: `POST /v1/logs` (OTLP/HTTP port and main port), `POST /otlp/v1/logs`
//! (main port, Loki's path) and the gRPC `LogsService/Export` (see [`crate::servers::grpc`]).
//!
//! Translation (index labels from the listed resource attributes, the rest as structured
//! metadata, trace and span ids, `detected_level`) is nerve-proto's
//! [`nerve_proto::otlp_logs`]; storage and limits are [`super::loki::store`]'s. Answers follow
//! OTLP: 200 with `ExportLogsServiceResponse` (`partial_success` counts refused records), 400
//! with a `google.rpc.Status` for an undecodable body, 413 over the body limits, 429 / 503 +
//! `Retry-After` when the rate limit or back-pressure applies.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use nerve_proto::OtlpEncoding;
use nerve_proto::otlp_logs::{decode_logs_request, translate_logs};
use nerve_proto::otlp_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use nerve_storage::logs::now_ns;

use super::loki::{PushSummary, store};
use crate::forward::sender::Signal;
use crate::ingest::body::{BodyLimits, read_decoded};
use crate::ingest::otlp_metrics::status_response;
use crate::servers::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// The OTLP/HTTP logs routes: `/v1/logs` and Loki's `/otlp/v1/logs`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/logs", post(http_export))
        .route("/otlp/v1/logs", post(http_export))
}

/// The OTLP answer for a stored push.
pub fn response(summary: &PushSummary) -> ExportLogsServiceResponse {
    ExportLogsServiceResponse {
        partial_success: (summary.rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: i64::try_from(summary.rejected).unwrap_or(i64::MAX),
            error_message: summary.errors.first().cloned().unwrap_or_default(),
        }),
    }
}

/// Translates and stores one decoded request (both transports).
pub async fn ingest(state: &AppState, req: ExportLogsServiceRequest) -> Result<PushSummary, ApiError> {
    state.logs.ready()?;
    state.memory.check()?;
    let forwarder = state.forwarder.clone();
    let (push, forward) = tokio::task::spawn_blocking(move || {
        let forward = forwarder.as_ref().and_then(|f| f.otlp_record(Signal::Logs, &req));
        (translate_logs(&req, now_ns()), forward)
    })
    .await?;
    let summary = store(state, push).await?;
    if let (Some(f), Some(rec)) = (&state.forwarder, forward) {
        f.push_otlp(&rec);
    }
    Ok(summary)
}

/// `POST /v1/logs` and `POST /otlp/v1/logs`.
#[tracing::instrument(skip_all)]
pub async fn http_export(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let Some(encoding) = OtlpEncoding::from_content_type(&content_type) else {
        let e = ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!("unsupported content type {content_type:?}; use application/x-protobuf or application/json"),
        );
        return status_response(&e, OtlpEncoding::Protobuf);
    };
    let result = async {
        state.logs.ready()?;
        state.memory.check()?;
        let max = state.limits.logs_max_decoded();
        let limits = BodyLimits {
            max_body: state.limits.logs_max_body(),
            max_decoded: max,
            decoded_limit: "limits.logs_max_decoded_bytes",
            allow_snappy: false,
        };
        let body = read_decoded(&state.memory, &headers, body, limits).await?;
        let req = tokio::task::spawn_blocking(move || {
            let req = decode_logs_request(&body.bytes, Some(&content_type), None, max);
            drop(body);
            req
        })
        .await?
        .map_err(|e| {
            let kind = if e.http_status() == 413 {
                ErrorKind::PayloadTooLarge
            } else {
                ErrorKind::BadData
            };
            ApiError::new(kind, format!("decoding OTLP logs request: {e}"))
        })?;
        ingest(&state, req).await
    }
    .await;
    match result {
        Ok(summary) => {
            let resp = response(&summary);
            let body = if encoding == OtlpEncoding::Json && resp.partial_success.is_none() {
                b"{}".to_vec()
            } else {
                encoding.encode(&resp)
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, HeaderValue::from_static(encoding.content_type()))],
                body,
            )
                .into_response()
        }
        Err(e) => status_response(&e, encoding),
    }
}
