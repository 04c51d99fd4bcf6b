//! OTLP metrics ingest: `POST /v1/metrics` (OTLP/HTTP port and main port),
//! `POST /api/v1/otlp/v1/metrics` (main port, Prometheus' path) and the gRPC
//! `MetricsService/Export` (see [`crate::servers::grpc`]). Both transports end in [`ingest`].
//!
//! Translation (names, units, `job`/`instance`, `target_info`, exemplars, delta temporality
//! refused) is nerve-proto's [`nerve_proto::otlp_metrics`]; this module bounds the input and
//! stores the result.
//!
//! OTLP/HTTP answers (api-contracts §5), always in the request's encoding (protobuf or JSON;
//! gzip, deflate and zstd request bodies are accepted): **200** with `ExportMetricsServiceResponse`, whose
//! `partial_success` counts refused data points and names the first reason; **400** with a
//! `google.rpc.Status` for an undecodable body; **413** over
//! [`MAX_BODY_BYTES`](crate::ingest::otlp::MAX_BODY_BYTES)
//! (decompressed); **415** for other content types; **503** + `Retry-After` under
//! back-pressure or while the WAL replays; 500 for storage failures. gRPC maps the same
//! outcomes to OK (with partial success), INVALID_ARGUMENT, RESOURCE_EXHAUSTED and
//! UNAVAILABLE.

use axum::Router;
use axum::routing::post;
use nerve_proto::otlp_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message as _;

use crate::forward::sender::Signal;
use crate::ingest::append::{self, SeriesLimits};
use crate::ingest::otlp::{Answer, Decoder, ExportResponse, OtlpSignal, http_export};
use crate::selfmetrics::SourceLabels;
use crate::servers::error::ApiError;
use crate::state::AppState;

const SOURCE: SourceLabels = SourceLabels { source: "otlp" };

/// The OTLP/HTTP metrics routes: `/v1/metrics` and Prometheus' `/api/v1/otlp/v1/metrics`
/// (gzip, deflate and zstd bodies are decompressed by [`crate::ingest::body::read_decoded`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/metrics", post(http_export::<Metrics>))
        .route("/api/v1/otlp/v1/metrics", post(http_export::<Metrics>))
}

/// What storing one request did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// What storage did with the translated samples.
    pub stored: append::Outcome,
    /// Data points refused while translating (delta, exponential, malformed).
    pub points_rejected: u64,
}

impl Outcome {
    /// The OTLP answer. `rejected_data_points` counts refused OTLP points plus samples
    /// storage refused (one histogram point is several samples, so this may overcount).
    pub fn response(&self) -> ExportMetricsServiceResponse {
        ExportMetricsServiceResponse::new(
            self.points_rejected + self.stored.samples_rejected,
            self.stored.first_error.as_deref(),
        )
    }
}

/// The OTLP metrics signal.
#[derive(Debug)]
pub struct Metrics;

impl OtlpSignal for Metrics {
    type Request = ExportMetricsServiceRequest;

    fn ready(state: &AppState) -> Result<(), ApiError> {
        state.db.ready()?;
        Ok(())
    }

    /// Admits the decoded bytes before decoding them (see [`ingest`]).
    async fn ingest(state: &AppState, len: usize, decode: Decoder<ExportMetricsServiceRequest>) -> Answer<Self> {
        ingest(state, len, decode).await.map(|o| o.response())
    }

    async fn store(state: &AppState, req: ExportMetricsServiceRequest) -> Answer<Self> {
        let len = req.encoded_len();
        Self::ingest(state, len, Box::new(move || Ok(req))).await
    }
}

/// The one ingest path of both transports: admission (back-pressure), translation and
/// storage on a blocking thread, self-metrics. `body_bytes` is the request's decoded size
/// (reserved against the in-flight byte budget); `decode` turns the body into a request
/// on the blocking thread.
pub async fn ingest(
    state: &AppState,
    body_bytes: usize,
    decode: Decoder<ExportMetricsServiceRequest>,
) -> Result<Outcome, ApiError> {
    let tsdb = state.db.ready()?;
    state.memory.check()?;
    let gate = &state.remote_write_gate;
    let _request = gate.admit_request().await.map_err(|_| throttled(state))?;
    let _bytes = gate.reserve_bytes(body_bytes).await.map_err(|_| throttled(state))?;
    let limits = SeriesLimits::new(&state.limits, false, None);
    let forwarder = state.forwarder.clone();
    let outcome = tokio::task::spawn_blocking(move || -> Result<Outcome, ApiError> {
        let req = decode()?;
        let forward = forwarder.as_ref().and_then(|f| f.otlp_record(Signal::Metrics, &req));
        let batch = nerve_proto::translate_metrics(&req);
        drop(req);
        let mut stored = append::store(&tsdb, batch.series, &batch.metadata, &limits)?;
        if let (Some(f), Some(rec)) = (&forwarder, forward) {
            f.push_otlp(&rec);
        }
        // Translation refusals come first: they are the request's own fault.
        if batch.first_rejection.is_some() {
            stored.first_error = batch.first_rejection;
        }
        Ok(Outcome {
            stored,
            points_rejected: batch.rejected_points,
        })
    })
    .await??;
    outcome.stored.record(&state.metrics, &SOURCE);
    if let Some(e) = &outcome.stored.first_error {
        tracing::debug!(
            error = %e,
            points_rejected = outcome.points_rejected,
            samples_rejected = outcome.stored.samples_rejected,
            "OTLP metrics partially rejected"
        );
    }
    Ok(outcome)
}

fn throttled(state: &AppState) -> ApiError {
    state.metrics.throttled_requests.get_or_create(&SOURCE).inc();
    ApiError::unavailable("too many OTLP/remote-write requests or bytes in flight; retry later")
}

#[cfg(test)]
mod tests;
