//! The remote-write receiver, `POST /api/v1/write` (versions 1.0 and 2.0).
//!
//! Flow: negotiate the version from the headers (415 if unsupported) → admit the request
//! (in-flight bound, else 503 + Retry-After) → read the body up to
//! `limits.remote_write_max_body_bytes` (413) → check the snappy header against
//! `limits.remote_write_max_decoded_bytes` (413) → reserve decoded bytes (503) → decode with
//! nerve-proto and append on a blocking thread.
//!
//! Answers (api-contracts §1.4, Prometheus' `write_handler.go`): 204 when everything was
//! stored; 400 when some data can never be stored (bad labels, out of order, duplicate, too
//! old) — the good samples are still committed and the message names the first problem and
//! how many samples were rejected; 500 for storage failures; 503 when overloaded or still
//! replaying the WAL. Version 2.0 answers carry the `X-Prometheus-Remote-Write-*-Written`
//! headers. Native histograms are counted and dropped (not stored yet).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nerve_proto::{DecodedMetadata, DecodedSeries, RemoteWriteVersion};

use crate::ingest::append::{self, Outcome, SeriesLimits};
use crate::ingest::body::read_body;
use crate::selfmetrics::SourceLabels;
use crate::servers::error::{ApiError, ErrorKind};
use crate::state::AppState;

const SOURCE: SourceLabels = SourceLabels { source: "remote_write" };

/// Response header: float samples stored (2.0).
pub const SAMPLES_WRITTEN: &str = "X-Prometheus-Remote-Write-Samples-Written";
/// Response header: native histogram samples stored (2.0; always 0, not supported yet).
pub const HISTOGRAMS_WRITTEN: &str = "X-Prometheus-Remote-Write-Histograms-Written";
/// Response header: exemplars stored (2.0).
pub const EXEMPLARS_WRITTEN: &str = "X-Prometheus-Remote-Write-Exemplars-Written";

/// `POST /api/v1/write`.
#[tracing::instrument(skip_all, fields(version))]
pub async fn write(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match receive(&state, &headers, body).await {
        Ok(resp) => resp,
        Err(e) => e.plain().into_response(),
    }
}

async fn receive(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let header_str = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let version = nerve_proto::negotiate(header_str(header::CONTENT_TYPE), header_str(header::CONTENT_ENCODING))
        .map_err(|e| {
            let kind = if e.http_status() == 415 {
                ErrorKind::UnsupportedMediaType
            } else {
                ErrorKind::BadData
            };
            ApiError::new(kind, e.to_string())
        })?;
    tracing::Span::current().record("version", tracing::field::debug(version));
    let tsdb = state.db.ready()?;
    state.memory.check().inspect_err(|_| throttled(state))?;
    if state.remote_write_rate.as_ref().is_some_and(|r| r.is_exhausted()) {
        throttled(state);
        return Err(rate_limited(state));
    }
    let gate = &state.remote_write_gate;
    let _request = gate.admit_request().await.inspect_err(|_| throttled(state))?;

    let limits = &state.limits;
    let body = read_body(
        headers,
        body,
        limits.remote_write_max_body(),
        Some("limits.remote_write_max_body_bytes"),
    )
    .await?;
    let decoded_len = snap::raw::decompress_len(&body).map_err(|e| ApiError::bad_data(format!("snappy: {e}")))?;
    if decoded_len > limits.remote_write_max_decoded() {
        return Err(ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "decompressed body of {decoded_len} bytes exceeds limits.remote_write_max_decoded_bytes ({} bytes)",
                limits.remote_write_max_decoded()
            ),
        ));
    }
    let _bytes = gate
        .reserve_bytes(decoded_len)
        .await
        .inspect_err(|_| throttled(state))?;
    // The snappy header announced the decoded size: count it against the memory bound
    // before anything is decompressed (see `body::read_decoded` for the other encodings).
    let mut charge = state.memory.charge();
    charge.add(decoded_len).inspect_err(|_| throttled(state))?;

    let max_decoded = limits.remote_write_max_decoded();
    let label_limits = SeriesLimits::new(limits, true, state.remote_write_rate.clone());
    let outcome = tokio::task::spawn_blocking(move || -> Result<Outcome, ApiError> {
        let _charge = charge;
        if version == RemoteWriteVersion::V1 {
            // Zero-copy path: existing series are found without allocating their labels.
            let raw = nerve_proto::remote_write::decompress(&body, max_decoded)
                .map_err(|e| ApiError::bad_data(e.to_string()))?;
            drop(body);
            return fast_v1::store_v1(&tsdb, &raw, &label_limits);
        }
        let (series, metadata) = decode(version, &body, max_decoded)?;
        drop(body);
        append::store(&tsdb, series, &metadata, &label_limits)
    })
    .await??;

    outcome.record(&state.metrics, &SOURCE);
    state
        .metrics
        .dropped_histograms
        .get_or_create(&SOURCE)
        .inc_by(outcome.histograms_dropped);
    if outcome.histograms_dropped > 0 {
        tracing::debug!(
            count = outcome.histograms_dropped,
            "native histogram samples dropped (not supported yet)"
        );
    }

    let mut resp = match &outcome.first_error {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(first) => {
            let msg = format!(
                "{first} ({} of {} samples rejected)",
                outcome.samples_rejected,
                outcome.samples_rejected + outcome.samples_written
            );
            tracing::debug!(error = %msg, "remote write partially rejected");
            ApiError::bad_data(msg).plain().into_response()
        }
    };
    if version == RemoteWriteVersion::V2 {
        let h = resp.headers_mut();
        h.insert(SAMPLES_WRITTEN, HeaderValue::from(outcome.samples_written));
        h.insert(HISTOGRAMS_WRITTEN, HeaderValue::from(0u64));
        h.insert(EXEMPLARS_WRITTEN, HeaderValue::from(outcome.exemplars_written));
    }
    Ok(resp)
}

/// The 503 for a request over `limits.remote_write_ingestion_rate`: remote-write senders
/// retry a 503 with back-off (a 429 Prometheus drops unless told otherwise).
fn rate_limited(state: &AppState) -> ApiError {
    let rate = state.remote_write_rate.as_ref().map_or(0, |r| r.rate());
    ApiError::new(
        ErrorKind::Unavailable,
        format!("remote write over limits.remote_write_ingestion_rate ({rate} samples/s); retry later"),
    )
}

fn throttled(state: &AppState) {
    state.metrics.throttled_requests.get_or_create(&SOURCE).inc();
}

/// Decodes either version into the version-neutral view.
fn decode(
    version: RemoteWriteVersion,
    body: &[u8],
    max_decoded: usize,
) -> Result<(Vec<DecodedSeries>, Vec<DecodedMetadata>), ApiError> {
    let bad = |e: nerve_proto::Error| ApiError::bad_data(e.to_string());
    match version {
        RemoteWriteVersion::V1 => {
            nerve_proto::flatten_v1(nerve_proto::decode_v1(body, max_decoded).map_err(bad)?).map_err(bad)
        }
        RemoteWriteVersion::V2 => {
            let series =
                nerve_proto::flatten_v2(nerve_proto::decode_v2(body, max_decoded).map_err(bad)?).map_err(bad)?;
            Ok((series, Vec::new()))
        }
    }
}

mod fast_v1;
#[cfg(test)]
mod tests;
