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
use axum::routing::post;
use nerve_proto::otlp_logs::translate_logs;
use nerve_proto::otlp_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use nerve_storage::logs::now_ns;

use super::loki::{PushSummary, store};
use crate::forward::sender::Signal;
use crate::ingest::body::BodyLimits;
use crate::ingest::otlp::{Answer, ExportResponse, OtlpSignal, http_export};
use crate::servers::error::ApiError;
use crate::state::AppState;

/// The OTLP/HTTP logs routes: `/v1/logs` and Loki's `/otlp/v1/logs`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/logs", post(http_export::<Logs>))
        .route("/otlp/v1/logs", post(http_export::<Logs>))
}

/// The OTLP answer for a stored push.
pub fn response(summary: &PushSummary) -> ExportLogsServiceResponse {
    ExportLogsServiceResponse::new(summary.rejected as u64, summary.errors.first().map(String::as_str))
}

/// The OTLP logs signal.
#[derive(Debug)]
pub struct Logs;

impl OtlpSignal for Logs {
    type Request = ExportLogsServiceRequest;

    fn ready(state: &AppState) -> Result<(), ApiError> {
        state.logs.ready()?;
        Ok(())
    }

    /// `limits.logs_max_body_bytes` as sent, `limits.logs_max_decoded_bytes` decompressed.
    fn body_limits(state: &AppState) -> BodyLimits {
        BodyLimits {
            max_body: state.limits.logs_max_body(),
            max_decoded: state.limits.logs_max_decoded(),
            decoded_limit: "limits.logs_max_decoded_bytes",
            allow_snappy: false,
        }
    }

    async fn store(state: &AppState, req: ExportLogsServiceRequest) -> Answer<Self> {
        ingest(state, req).await.map(|summary| response(&summary))
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
