//! Log ingest: Loki's `POST /loki/api/v1/push` (JSON, gzip/deflate JSON, snappy protobuf), and
//! [`store`], the one path by which decoded pushes (Loki or OTLP) reach the log store.
//!
//! Validation follows Loki's distributor (api-contracts §2.4): streams need labels, at most
//! `limits.logs_max_labels_per_stream` label names, valid names; lines longer than
//! `limits.logs_max_line_size` are refused; the store refuses lines too far behind their
//! stream, past retention or too far in the future. Refused entries are reported in a 400
//! whose body says what and why, while the valid entries of the same push are stored (Loki's
//! behaviour). The ingestion rate limit and the stream limit answer 429 + `Retry-After` and
//! store nothing. Success is 204. Loki adds `service_name` when missing and `detected_level`
//! to structured metadata; so does nerve. Trace ids are taken from structured metadata, a JSON
//! line or a logfmt line and indexed.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nerve_proto::loki::{PushRequest, decode_push, detect_level, ensure_service_name, extract_trace_id};
use nerve_storage::Labels;
use nerve_storage::labels::is_valid_label_name;
use nerve_storage::logs::{LogEntry, LogStream, now_ns};

use crate::config::limits::LimitsConfig;
use crate::ingest::body::{BodyLimits, charge_snappy_block, read_decoded};
use crate::servers::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// What a push stored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushSummary {
    /// Entries stored.
    pub accepted: usize,
    /// Entries refused (validation or store), with the reasons in `errors`.
    pub rejected: usize,
    /// One line per refusal reason (bounded).
    pub errors: Vec<String>,
}

impl PushSummary {
    /// The Loki answer: 204, or 400 listing what was refused.
    pub fn into_loki_response(self) -> Response {
        if self.rejected == 0 {
            return StatusCode::NO_CONTENT.into_response();
        }
        let mut msg = self.errors.join("\n");
        msg.push_str(&format!(
            "\ntotal ignored: {} out of {}",
            self.rejected,
            self.rejected + self.accepted
        ));
        ApiError::bad_data(msg).plain().into_response()
    }
}

/// At most this many refusal messages are kept per push.
const MAX_ERRORS: usize = 20;

/// `POST /loki/api/v1/push`.
#[tracing::instrument(skip_all)]
pub async fn push(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match push_inner(&state, &headers, body).await {
        Ok(summary) => summary.into_loki_response(),
        Err(e) => e.plain().into_response(),
    }
}

async fn push_inner(state: &AppState, headers: &HeaderMap, body: Body) -> Result<PushSummary, ApiError> {
    state.logs.ready()?;
    state.memory.check()?;
    let header_str = |h| {
        headers
            .get(h)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header_str(header::CONTENT_TYPE);
    let json = push_format(headers.get(header::CONTENT_TYPE))?;
    let max_decoded = state.limits.logs_max_decoded();
    let limits = BodyLimits {
        max_body: state.limits.logs_max_body(),
        max_decoded,
        decoded_limit: "limits.logs_max_decoded_bytes",
        allow_snappy: true,
    };
    let mut body = read_decoded(&state.memory, headers, body, limits).await?;
    if !json {
        charge_snappy_block(&mut body, max_decoded)?;
    }
    let req = tokio::task::spawn_blocking(move || {
        let decoded = decode_push(&body.bytes, content_type.as_deref(), None, max_decoded);
        drop(body);
        decoded
    })
    .await?
    .map_err(|e| {
        let kind = if e.http_status() == 413 {
            ErrorKind::PayloadTooLarge
        } else {
            ErrorKind::BadData
        };
        ApiError::new(kind, format!("decoding push request: {e}"))
    })?;
    store(state, req).await
}

/// Whether a push body is JSON (`true`) or snappy protobuf (`false`), from its
/// `Content-Type`: `application/json` is JSON; none, `application/x-protobuf` and
/// `application/octet-stream` are protobuf (what promtail and Loki's own clients send).
/// A header that is not a media type is refused with 400, as Loki's `mime.ParseMediaType`
/// check does, and any other media type with 415 naming the accepted ones, instead of
/// being misread as protobuf.
fn push_format(content_type: Option<&header::HeaderValue>) -> Result<bool, ApiError> {
    let Some(value) = content_type else {
        return Ok(false);
    };
    let bad = |why: &str| {
        ApiError::bad_data(format!(
            "invalid Content-Type header {:?}: {why}",
            String::from_utf8_lossy(value.as_bytes())
        ))
    };
    let text = value.to_str().map_err(|_| bad("not visible ASCII"))?;
    let media = text.split(';').next().unwrap_or_default().trim();
    if media.is_empty() {
        return Ok(false);
    }
    let Some((kind, sub)) = media.split_once('/') else {
        return Err(bad("expected type/subtype"));
    };
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    if !token(kind) || !token(sub) {
        return Err(bad("expected type/subtype"));
    }
    if media.eq_ignore_ascii_case("application/json") {
        Ok(true)
    } else if media.eq_ignore_ascii_case("application/x-protobuf")
        || media.eq_ignore_ascii_case("application/octet-stream")
    {
        Ok(false)
    } else {
        Err(ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!(
                "unsupported Content-Type {media:?}; use application/json or application/x-protobuf (snappy-compressed)"
            ),
        ))
    }
}

/// Validates and stores a decoded push: limits, `service_name`, `detected_level`, trace ids.
pub async fn store(state: &AppState, req: PushRequest) -> Result<PushSummary, ApiError> {
    let logs = state.logs.ready()?;
    let limits = state.limits.clone();
    let forward = state.forwarder.as_ref().and_then(|f| f.loki_record(&req));
    let (streams, mut summary) = prepare(req, &limits);
    let bytes: usize = streams.iter().flat_map(|s| &s.entries).map(|e| e.line.len()).sum();
    let lines: usize = streams.iter().map(|s| s.entries.len()).sum();
    if lines == 0 {
        return Ok(summary);
    }
    if !state.log_rate.try_take(bytes as u64) {
        state.metrics.log_rejected_rate.inc_by(lines as u64);
        return Err(ApiError::new(
            ErrorKind::TooManyRequests,
            format!(
                "Ingestion rate limit exceeded (limit: {} bytes/sec) while attempting to ingest '{lines}' lines totaling '{bytes}' bytes, reduce log volume or raise limits.logs_ingestion_rate",
                state.log_rate.rate()
            ),
        ));
    }
    let max_streams = limits.logs_max_streams();
    let max_unindexed = limits.logs_max_unindexed();
    let outcome = tokio::task::spawn_blocking(move || {
        let unindexed = logs.head_bytes();
        if unindexed > max_unindexed {
            return Err(ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "log indexing is behind: {unindexed} bytes pushed but not yet indexed (limits.logs_max_unindexed_bytes: {max_unindexed}); retry later"
                ),
            ));
        }
        let new = logs.count_new_streams(streams.iter().map(|s| &s.labels));
        let have = logs.stream_count();
        if new > 0 && have + new > max_streams {
            return Err(ApiError::new(
                ErrorKind::TooManyRequests,
                format!(
                    "Maximum active stream limit exceeded when trying to create {new} streams (limits.logs_max_streams: {max_streams}, streams: {have}), reduce the number of streams (reduce labels or reduce label values)"
                ),
            ));
        }
        logs.push(streams, now_ns()).map_err(ApiError::from)
    })
    .await??;
    summary.accepted += outcome.accepted;
    summary.rejected += outcome.rejected.len();
    for r in outcome
        .rejected
        .iter()
        .take(MAX_ERRORS.saturating_sub(summary.errors.len()))
    {
        summary.errors.push(r.to_string());
    }
    if let (Some(f), Some(rec)) = (&state.forwarder, forward)
        && outcome.accepted > 0
    {
        f.push_loki(&rec);
    }
    let m = &state.metrics;
    m.log_ingested_lines.inc_by(outcome.accepted as u64);
    m.log_ingested_bytes.inc_by(outcome.accepted_bytes as u64);
    m.log_rejected_lines.inc_by(summary.rejected as u64);
    Ok(summary)
}

/// Turns wire streams into store streams, refusing what breaks a limit.
fn prepare(req: PushRequest, limits: &LimitsConfig) -> (Vec<LogStream>, PushSummary) {
    let mut summary = PushSummary::default();
    let max_labels = limits.logs_max_labels();
    let max_line = limits.logs_max_line();
    let mut out = Vec::with_capacity(req.streams.len());
    let refuse = |summary: &mut PushSummary, n: usize, msg: String| {
        summary.rejected += n;
        if summary.errors.len() < MAX_ERRORS {
            summary.errors.push(msg);
        }
    };
    for s in req.streams {
        let mut pairs = s.labels;
        if pairs.is_empty() {
            refuse(
                &mut summary,
                s.entries.len(),
                "error parsing labels: stream has no labels".into(),
            );
            continue;
        }
        if let Some((n, _)) = pairs.iter().find(|(n, _)| !is_valid_label_name(n)) {
            let msg = format!("error parsing labels: invalid label name {n:?}");
            refuse(&mut summary, s.entries.len(), msg);
            continue;
        }
        let named = pairs.len();
        ensure_service_name(&mut pairs);
        let labels = match Labels::from_pairs(pairs) {
            Ok(l) => l,
            Err(e) => {
                refuse(&mut summary, s.entries.len(), format!("error parsing labels: {e}"));
                continue;
            }
        };
        if named > max_labels {
            let msg = format!("stream '{labels}' has {named} label names; limit {max_labels}");
            refuse(&mut summary, s.entries.len(), msg);
            continue;
        }
        let label_pairs: Vec<(String, String)> = labels.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
        let mut entries = Vec::with_capacity(s.entries.len());
        for e in s.entries {
            if e.line.len() > max_line {
                let msg = format!(
                    "max entry size '{max_line}' bytes exceeded for stream '{labels}' while adding an entry with length '{}' bytes",
                    e.line.len()
                );
                refuse(&mut summary, 1, msg);
                continue;
            }
            let mut metadata = e.structured_metadata;
            if !metadata.iter().any(|(k, _)| k == "detected_level") && labels.get("detected_level").is_none() {
                let level = detect_level(&label_pairs, &metadata, &e.line);
                metadata.push(("detected_level".to_owned(), level.to_owned()));
            }
            let trace_id = extract_trace_id(&e.line, &metadata);
            entries.push(LogEntry {
                ts_ns: e.ts_ns,
                line: e.line,
                metadata,
                trace_id,
            });
        }
        if !entries.is_empty() {
            out.push(LogStream { labels, entries });
        }
    }
    (out, summary)
}
