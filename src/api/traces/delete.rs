//! nerve's span deletion API (Tempo and Jaeger have none), behind the write credentials and
//! `server.enable_admin_api`:
//! - `POST|PUT /nerve/api/v1/traces/delete?start=&end=[&service=]` → `{"id": …}`; spans
//!   starting in `[start, end]` (of that service only, when given) stop being returned by
//!   trace lookups and searches at once (seconds, nanoseconds or RFC 3339; both required);
//! - `GET /nerve/api/v1/traces/delete` → the accepted deletions.
//!
//! Like log deletions, the bytes leave the disk with their partition at retention.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;

use super::with_traces;
use crate::api::loki::delete::admin_enabled;
use crate::api::loki::params::parse_ns;
use crate::api::prom::params::Params;
use crate::servers::error::ApiError;
use crate::state::AppState;

/// The routes (the caller puts them behind the write policy).
pub fn routes() -> Router<AppState> {
    Router::new().route("/nerve/api/v1/traces/delete", post(delete).put(delete).get(list))
}

fn required_ns(p: &Params, name: &str) -> Result<u64, ApiError> {
    let v = p
        .first(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_data(format!("{name} is required")))?;
    let ns = parse_ns(v).map_err(ApiError::bad_data)?;
    u64::try_from(ns).map_err(|_| ApiError::bad_data(format!("{name} is before the epoch")))
}

#[derive(Serialize)]
struct Accepted {
    id: String,
}

async fn delete(State(state): State<AppState>, p: Params) -> Result<Response, ApiError> {
    admin_enabled(&state)?;
    let start = required_ns(&p, "start")?;
    let end = required_ns(&p, "end")?;
    if end < start {
        return Err(ApiError::bad_data("end must not be before start"));
    }
    let service = p.first("service").filter(|s| !s.is_empty()).map(str::to_owned);
    let id = with_traces(&state, move |store| Ok(store.delete_spans(service, start, end)?)).await?;
    tracing::info!(%id, "span deletion accepted");
    Ok(axum::Json(Accepted { id }).into_response())
}

async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    admin_enabled(&state)?;
    let all = with_traces(&state, |store| Ok(store.span_deletions())).await?;
    Ok(axum::Json(all).into_response())
}
