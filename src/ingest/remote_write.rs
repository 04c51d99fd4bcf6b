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

use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, HttpBody as _};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nerve_proto::{DecodedMetadata, DecodedSeries, MetricKind, RemoteWriteVersion};
use nerve_storage::Labels;
use nerve_storage::metrics::{Exemplar, MetricMetadata, MetricType, Tsdb};

use crate::config::limits::LimitsConfig;
use crate::ingest::ratelimit::ByteRateLimiter;
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

/// What one request did to storage.
#[derive(Debug, Default)]
struct Outcome {
    samples_written: u64,
    samples_rejected: u64,
    exemplars_written: u64,
    histograms_dropped: u64,
    /// The first per-sample refusal (bad data), reported in the 400 message.
    first_error: Option<String>,
}

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
    let body = read_body(headers, body, limits).await?;
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
    let label_limits = WriteLimits::new(limits, state.remote_write_rate.clone());
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
        store(&tsdb, series, metadata, &label_limits)
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
    m.dropped_histograms
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

/// Reads the body, refusing with 413 as soon as it is known to exceed the limit (from
/// `Content-Length`, or while streaming for chunked bodies).
async fn read_body(headers: &HeaderMap, mut body: Body, limits: &LimitsConfig) -> Result<Vec<u8>, ApiError> {
    let max = limits.remote_write_max_body();
    let too_large = || {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("request body exceeds limits.remote_write_max_body_bytes ({max} bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| ApiError::bad_data(format!("reading request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
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

/// Label bounds from `limits:` (0 = unbounded).
#[derive(Clone, Debug)]
struct WriteLimits {
    max_labels: usize,
    max_name_len: usize,
    max_value_len: usize,
    /// Samples-per-second bucket; a batch takes its samples at commit or is refused whole.
    rate: Option<Arc<ByteRateLimiter>>,
}

impl WriteLimits {
    fn new(l: &LimitsConfig, rate: Option<Arc<ByteRateLimiter>>) -> Self {
        WriteLimits {
            max_labels: l.max_labels_per_series.unwrap_or(0),
            max_name_len: l.max_label_name_length.unwrap_or(0),
            max_value_len: l.max_label_value_length.unwrap_or(0),
            rate,
        }
    }
}

impl WriteLimits {
    fn check<N: AsRef<str>, V: AsRef<str>>(&self, labels: &[(N, V)]) -> Result<(), String> {
        if self.max_labels > 0 && labels.len() > self.max_labels {
            return Err(format!(
                "series has {} labels, more than limits.max_labels_per_series ({})",
                labels.len(),
                self.max_labels
            ));
        }
        for (n, v) in labels {
            let (n, v) = (n.as_ref(), v.as_ref());
            if self.max_name_len > 0 && n.len() > self.max_name_len {
                return Err(format!(
                    "label name {n:?} is longer than limits.max_label_name_length ({})",
                    self.max_name_len
                ));
            }
            if self.max_value_len > 0 && v.len() > self.max_value_len {
                return Err(format!(
                    "value of label {n:?} is {} bytes, more than limits.max_label_value_length ({})",
                    v.len(),
                    self.max_value_len
                ));
            }
        }
        Ok(())
    }
}

/// Remote write requires label names sorted and unique (the sender's label set is the series
/// identity; an unsorted or duplicated one is a sender bug whose data must be dropped).
fn check_label_order<N: AsRef<str>, V: AsRef<str>>(labels: &[(N, V)]) -> Result<(), String> {
    for w in labels.windows(2) {
        let (a, b) = (w[0].0.as_ref(), w[1].0.as_ref());
        match a.cmp(b) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => return Err(format!("duplicate label name {a:?} in series")),
            std::cmp::Ordering::Greater => {
                return Err(format!("labels are not sorted by name: {b:?} comes after {a:?}"));
            }
        }
    }
    Ok(())
}

/// Appends everything that can be stored and commits it. Per-sample refusals are counted and
/// the first one kept; storage failures abort the batch (rolled back) and become 500/503.
fn store(
    tsdb: &Tsdb,
    series: Vec<DecodedSeries>,
    metadata: Vec<DecodedMetadata>,
    limits: &WriteLimits,
) -> Result<Outcome, ApiError> {
    let mut out = Outcome::default();
    let mut app = tsdb.appender();
    for md in metadata.iter().chain(series.iter().filter_map(|s| s.metadata.as_ref())) {
        if !md.metric_family.is_empty() {
            app.update_metadata(&md.metric_family, to_metadata(md));
        }
    }
    for s in series {
        out.histograms_dropped += s.histograms as u64;
        let labels = match limits
            .check(&s.labels)
            .and_then(|()| check_label_order(&s.labels))
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
        for (t, v) in &s.samples {
            match app.append(&labels, *t, *v) {
                Ok(()) => {
                    out.samples_written += 1;
                    newest = newest.max(Some(*t));
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
                // Prometheus logs exemplar refusals and does not fail the request for them.
                Err(e) if e.is_bad_data() => tracing::debug!(series = %labels, error = %e, "exemplar dropped"),
                Err(e) => {
                    app.rollback();
                    return Err(e.into());
                }
            }
        }
    }
    commit(app, out, limits)
}

/// Commits a batch, folding a commit-time refusal into the outcome.
fn commit(
    app: nerve_storage::metrics::Appender<'_>,
    mut out: Outcome,
    limits: &WriteLimits,
) -> Result<Outcome, ApiError> {
    if let Some(rate) = &limits.rate
        && !app.is_empty()
        && !rate.try_take(app.len() as u64)
    {
        app.rollback();
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            format!(
                "remote write of {} samples over limits.remote_write_ingestion_rate ({} samples/s); retry later",
                out.samples_written,
                rate.rate()
            ),
        ));
    }
    match app.commit() {
        Ok(()) => Ok(out),
        // A concurrent writer got in between `append` and `commit` and the head refused a
        // sample (the rest was stored). The head reports only the first refusal, so the
        // counts are off by the number of further refusals, if any.
        Err(e) if e.is_bad_data() => {
            out.samples_written = out.samples_written.saturating_sub(1);
            out.samples_rejected += 1;
            out.first_error.get_or_insert_with(|| e.to_string());
            Ok(out)
        }
        Err(e) => Err(e.into()),
    }
}

fn to_metadata(md: &DecodedMetadata) -> MetricMetadata {
    let kind = match md.kind {
        MetricKind::Counter => MetricType::Counter,
        MetricKind::Gauge => MetricType::Gauge,
        MetricKind::Histogram => MetricType::Histogram,
        MetricKind::GaugeHistogram => MetricType::GaugeHistogram,
        MetricKind::Summary => MetricType::Summary,
        MetricKind::Info => MetricType::Info,
        MetricKind::StateSet => MetricType::StateSet,
        MetricKind::Unknown => MetricType::Unknown,
    };
    MetricMetadata {
        kind,
        help: md.help.clone(),
        unit: md.unit.clone(),
    }
}

mod fast_v1;
#[cfg(test)]
mod tests;
