//! What the Jaeger ([`crate::api::jaeger`]) and Tempo ([`crate::api::tempo`]) APIs share:
//! running span-store reads off the async runtime, reading a whole trace, search deadlines,
//! damage warnings, and the model → OTLP conversion ([`otlp`]).
//!
//! Damage: when span segments were quarantined since startup, answers over their time range
//! still succeed but say so — in Jaeger's trace `warnings`, in Tempo's v2 trace-by-id
//! `status: "PARTIAL"` and `message`, and, for every answer (also those whose body has no place
//! for it, as Grafana's Tempo datasource refuses unknown fields), in `Warning` headers.

pub mod delete;
pub mod otlp;

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use nerve_storage::traces::{Span, SpanStore, TraceId};

use crate::servers::error::ApiError;
use crate::state::AppState;

/// The deadline of a search starting now: `limits.query_timeout`, as for PromQL and LogQL.
pub fn search_deadline(state: &AppState) -> Option<Instant> {
    Instant::now().checked_add(state.query.timeout())
}

/// A search's `limit` lowered to `limits.traces_max_search_limit`.
pub fn clamp_limit(state: &AppState, limit: usize) -> usize {
    limit.min(state.query.max_traces())
}

/// Runs a blocking read of the span store off the async runtime, once the store is open.
pub async fn with_traces<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    F: FnOnce(Arc<SpanStore>) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let store = state.traces.ready()?;
    tokio::task::spawn_blocking(move || f(store)).await?
}

/// Every stored span of `trace` (any time), sorted by start.
pub fn read_trace(store: &SpanStore, trace: &TraceId) -> Result<Vec<Span>, ApiError> {
    Ok(store.trace(trace, 0, u64::MAX)?)
}

/// Now in nanoseconds since the epoch.
pub fn now_ns() -> u64 {
    nerve_storage::logs::now_ns().max(0) as u64
}

/// Damage warnings for an answer about one trace made of `spans`: those of the partitions the
/// spans fall in or, when none was found, of every partition (the trace may have been in a
/// quarantined segment).
pub fn trace_warnings(store: &SpanStore, spans: &[Span]) -> Vec<String> {
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(u64::MAX);
    store.damage_warnings(start, end)
}

/// Most `Warning` headers one answer carries.
const MAX_WARNING_HEADERS: usize = 8;

/// Adds one `Warning: 199 nerve "<text>"` header per warning (RFC 7234's miscellaneous
/// warning; quotes and control characters in the text are replaced).
pub fn with_warning_headers(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings.iter().take(MAX_WARNING_HEADERS) {
        let text: String = w
            .chars()
            .map(|c| {
                if c == '"' || c == '\\' || !(' '..='~').contains(&c) {
                    '\''
                } else {
                    c
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("199 nerve \"{text}\"")) {
            resp.headers_mut().append(HeaderName::from_static("warning"), v);
        }
    }
    resp
}
