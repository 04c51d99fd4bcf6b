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
//! `google.rpc.Status` for an undecodable body; **413** over [`MAX_BODY_BYTES`]
//! (decompressed); **415** for other content types; **503** + `Retry-After` under
//! back-pressure or while the WAL replays; 500 for storage failures. gRPC maps the same
//! outcomes to OK (with partial success), INVALID_ARGUMENT, RESOURCE_EXHAUSTED and
//! UNAVAILABLE.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use nerve_proto::otlp_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use nerve_proto::{MetricsBatch, OtlpEncoding, RpcStatus, otlp};
use nerve_storage::Labels;
use nerve_storage::metrics::{Exemplar, MetricMetadata, MetricType, Tsdb};

use crate::config::limits::LimitsConfig;
use crate::forward::sender::Signal;
use crate::ingest::body::{BodyLimits, read_decoded};
use crate::selfmetrics::SourceLabels;
use crate::servers::error::{ApiError, ErrorKind, RETRY_AFTER_SECS};
use crate::state::AppState;

const SOURCE: SourceLabels = SourceLabels { source: "otlp" };

/// Largest OTLP request accepted, after decompression (the OTLP specification's
/// recommended 64 MiB); larger → 413 (gRPC: RESOURCE_EXHAUSTED).
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// Body bounds of every OTLP/HTTP path (metrics, traces): [`MAX_BODY_BYTES`] as sent and
/// decompressed.
pub const OTLP_BODY_LIMITS: BodyLimits = BodyLimits {
    max_body: MAX_BODY_BYTES,
    max_decoded: MAX_BODY_BYTES,
    decoded_limit: "the OTLP request limit of 64MiB",
    allow_snappy: false,
};

/// The OTLP/HTTP metrics routes: `/v1/metrics` and Prometheus' `/api/v1/otlp/v1/metrics`
/// (gzip, deflate and zstd bodies are decompressed by [`read_decoded`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/metrics", post(http_export))
        .route("/api/v1/otlp/v1/metrics", post(http_export))
}

/// What storing one request did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// Samples stored.
    pub samples_written: u64,
    /// Samples storage refused (out of order, too old, bad labels, limits).
    pub samples_rejected: u64,
    /// Exemplars stored.
    pub exemplars_written: u64,
    /// Data points refused while translating (delta, exponential, malformed).
    pub points_rejected: u64,
    /// The first refusal, for `partial_success.error_message`.
    pub first_error: Option<String>,
}

impl Outcome {
    /// The OTLP answer. `rejected_data_points` counts refused OTLP points plus samples
    /// storage refused (one histogram point is several samples, so this may overcount).
    pub fn response(&self) -> ExportMetricsServiceResponse {
        let rejected = self.points_rejected + self.samples_rejected;
        ExportMetricsServiceResponse {
            partial_success: (rejected > 0).then(|| ExportMetricsPartialSuccess {
                rejected_data_points: i64::try_from(rejected).unwrap_or(i64::MAX),
                error_message: self.first_error.clone().unwrap_or_default(),
            }),
        }
    }
}

/// The one ingest path of both transports: admission (back-pressure), translation and
/// storage on a blocking thread, self-metrics. `body_bytes` is the request's decoded size
/// (reserved against the in-flight byte budget); `decode` turns the body into a request
/// on the blocking thread.
pub async fn ingest<F>(state: &AppState, body_bytes: usize, decode: F) -> Result<Outcome, ApiError>
where
    F: FnOnce() -> Result<ExportMetricsServiceRequest, ApiError> + Send + 'static,
{
    let tsdb = state.db.ready()?;
    state.memory.check()?;
    let gate = &state.remote_write_gate;
    let _request = gate.admit_request().await.map_err(|_| throttled(state))?;
    let _bytes = gate.reserve_bytes(body_bytes).await.map_err(|_| throttled(state))?;
    let limits = state.limits.clone();
    let forwarder = state.forwarder.clone();
    let outcome = tokio::task::spawn_blocking(move || -> Result<Outcome, ApiError> {
        let req = decode()?;
        let forward = forwarder.as_ref().and_then(|f| f.otlp_record(Signal::Metrics, &req));
        let batch = nerve_proto::translate_metrics(&req);
        drop(req);
        let outcome = store(&tsdb, batch, &limits)?;
        if let (Some(f), Some(rec)) = (&forwarder, forward) {
            f.push_otlp(&rec);
        }
        Ok(outcome)
    })
    .await??;
    let m = &state.metrics;
    m.ingested_samples
        .get_or_create(&SOURCE)
        .inc_by(outcome.samples_written);
    m.rejected_samples
        .get_or_create(&SOURCE)
        .inc_by(outcome.samples_rejected);
    m.ingested_exemplars
        .get_or_create(&SOURCE)
        .inc_by(outcome.exemplars_written);
    if let Some(e) = &outcome.first_error {
        tracing::debug!(
            error = %e,
            points_rejected = outcome.points_rejected,
            samples_rejected = outcome.samples_rejected,
            "OTLP metrics partially rejected"
        );
    }
    Ok(outcome)
}

fn throttled(state: &AppState) -> ApiError {
    state.metrics.throttled_requests.get_or_create(&SOURCE).inc();
    ApiError::unavailable("too many OTLP/remote-write requests or bytes in flight; retry later")
}

/// `POST /v1/metrics` and `POST /api/v1/otlp/v1/metrics`.
#[tracing::instrument(skip_all)]
pub async fn http_export(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(encoding) = OtlpEncoding::from_content_type(content_type) else {
        let e = ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!("unsupported content type {content_type:?}; use application/x-protobuf or application/json"),
        );
        return status_response(&e, OtlpEncoding::Protobuf);
    };
    let result = async {
        state.db.ready()?;
        state.memory.check()?;
        let body = read_decoded(&state.memory, &headers, body, OTLP_BODY_LIMITS).await?;
        let len = body.bytes.len();
        ingest(&state, len, move || {
            let req = encoding
                .decode(&body.bytes)
                .map_err(|e| ApiError::bad_data(format!("decoding OTLP metrics request: {e}")));
            drop(body);
            req
        })
        .await
    }
    .await;
    match result {
        Ok(outcome) => {
            let resp = outcome.response();
            // The generated JSON mapping writes `{"partialSuccess":null}`; send the canonical
            // empty message instead.
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

/// An error as OTLP/HTTP wants it: the status of its kind, a `google.rpc.Status` body in
/// the request's encoding, `Retry-After` when the client should come back.
pub(crate) fn status_response(e: &ApiError, encoding: OtlpEncoding) -> Response {
    let kind = e.kind();
    if kind == ErrorKind::Internal {
        tracing::error!(error = %e.message(), "OTLP request failed");
    } else {
        tracing::debug!(error = %e.message(), "OTLP request refused");
    }
    let code = match kind {
        ErrorKind::Unavailable | ErrorKind::Timeout => otlp::CODE_UNAVAILABLE,
        ErrorKind::PayloadTooLarge | ErrorKind::TooManyRequests => otlp::CODE_RESOURCE_EXHAUSTED,
        ErrorKind::Internal => otlp::CODE_INTERNAL,
        _ => otlp::CODE_INVALID_ARGUMENT,
    };
    let status = RpcStatus {
        code,
        message: e.message().to_owned(),
    };
    let mut resp = (
        kind.status(),
        [(header::CONTENT_TYPE, HeaderValue::from_static(encoding.content_type()))],
        status.encode(encoding),
    )
        .into_response();
    if matches!(kind, ErrorKind::Unavailable | ErrorKind::TooManyRequests) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    resp
}

/// Label bounds from `limits:` (unset = unbounded).
fn check_limits(labels: &[(String, String)], limits: &LimitsConfig) -> Result<(), String> {
    if let Some(max) = limits.max_labels_per_series
        && labels.len() > max
    {
        return Err(format!(
            "series has {} labels, more than limits.max_labels_per_series ({max})",
            labels.len()
        ));
    }
    for (n, v) in labels {
        if let Some(max) = limits.max_label_name_length
            && n.len() > max
        {
            return Err(format!(
                "label name {n:?} is longer than limits.max_label_name_length ({max})"
            ));
        }
        if let Some(max) = limits.max_label_value_length
            && v.len() > max
        {
            return Err(format!(
                "value of label {n:?} is {} bytes, more than limits.max_label_value_length ({max})",
                v.len()
            ));
        }
    }
    Ok(())
}

/// Appends a translated batch and commits it. Refused samples are counted (the first
/// reason kept); storage failures roll the batch back and become 500/503.
fn store(tsdb: &Tsdb, batch: MetricsBatch, limits: &LimitsConfig) -> Result<Outcome, ApiError> {
    let mut out = Outcome {
        points_rejected: batch.rejected_points,
        first_error: batch.first_rejection,
        ..Outcome::default()
    };
    let mut app = tsdb.appender();
    for md in &batch.metadata {
        let kind = match md.kind {
            nerve_proto::MetricKind::Counter => MetricType::Counter,
            nerve_proto::MetricKind::Gauge => MetricType::Gauge,
            nerve_proto::MetricKind::Histogram => MetricType::Histogram,
            nerve_proto::MetricKind::Summary => MetricType::Summary,
            _ => MetricType::Unknown,
        };
        let md_out = MetricMetadata {
            kind,
            help: md.help.clone(),
            unit: md.unit.clone(),
        };
        app.update_metadata(&md.metric_family, md_out);
    }
    for s in batch.series {
        let labels = match check_limits(&s.labels, limits)
            .and_then(|()| Labels::from_pairs(s.labels).map_err(|e| e.to_string()))
            .and_then(|l| l.validate_series().map(|()| l).map_err(|e| e.to_string()))
        {
            Ok(l) => l,
            Err(msg) => {
                out.samples_rejected += s.samples.len() as u64;
                out.first_error.get_or_insert(msg);
                continue;
            }
        };
        let mut newest = None;
        for &(t, v) in &s.samples {
            match app.append(&labels, t, v) {
                Ok(()) => {
                    out.samples_written += 1;
                    newest = newest.max(Some(t));
                }
                Err(e) if e.is_bad_data() => {
                    out.samples_rejected += 1;
                    out.first_error.get_or_insert_with(|| e.to_string());
                }
                Err(e) => {
                    app.rollback();
                    return Err(e.into());
                }
            }
        }
        for ex in s.exemplars {
            let Some(t) = ex.timestamp.or(newest) else { continue };
            let stored = Labels::from_pairs(ex.labels).and_then(|el| {
                app.append_exemplar(
                    &labels,
                    Exemplar {
                        labels: el,
                        t,
                        v: ex.value,
                    },
                )
            });
            match stored {
                Ok(()) => out.exemplars_written += 1,
                Err(e) if e.is_bad_data() => tracing::debug!(series = %labels, error = %e, "exemplar dropped"),
                Err(e) => {
                    app.rollback();
                    return Err(e.into());
                }
            }
        }
    }
    match app.commit() {
        Ok(()) => Ok(out),
        // A concurrent writer got in between append and commit; the head reports the first
        // refusal only (see remote_write::store).
        Err(e) if e.is_bad_data() => {
            out.samples_written = out.samples_written.saturating_sub(1);
            out.samples_rejected += 1;
            out.first_error.get_or_insert_with(|| e.to_string());
            Ok(out)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
