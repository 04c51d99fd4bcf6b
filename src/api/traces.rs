//! What the Jaeger ([`crate::api::jaeger`]) and Tempo ([`crate::api::tempo`]) APIs share:
//! running span-store reads off the async runtime, reading a whole trace, search deadlines,
//! and the model → OTLP conversion ([`otlp`]).

pub mod delete;
pub mod otlp;

use std::sync::Arc;
use std::time::Instant;

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
