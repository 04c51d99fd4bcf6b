//! Loki's log deletion API, behind the write credentials and `server.enable_admin_api`:
//! - `POST|PUT /loki/api/v1/delete?query={selector}[&start=][&end=]` → 204; the entries stop
//!   being returned at once (start defaults to the epoch, end to now; seconds, nanoseconds or
//!   RFC 3339). Only a stream selector is accepted (Loki also takes line filters).
//! - `GET /loki/api/v1/delete` → the accepted requests;
//! - `DELETE /loki/api/v1/delete?request_id=…` → 204 (404 when unknown); the entries come back.
//!
//! Deleted entries are filtered out while reading; their bytes leave the disk with their
//! partition at retention (nerve does not rewrite index partitions as Loki's compactor does).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use nerve_query::logql;
use serde::Serialize;

use super::params::parse_ns;
use super::with_logs;
use crate::api::prom::params::Params;
use crate::servers::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// The deletion routes (the caller puts them behind the write policy).
pub fn routes() -> Router<AppState> {
    Router::new().route("/loki/api/v1/delete", post(delete).put(delete).get(list).delete(cancel))
}

/// 503 unless `server.enable_admin_api`.
pub(crate) fn admin_enabled(state: &AppState) -> Result<(), ApiError> {
    match state.admin_dir {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            ErrorKind::Unavailable,
            "admin APIs disabled (server.enable_admin_api)",
        )),
    }
}

fn time_param(p: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match p.first(name) {
        None | Some("") => Ok(default),
        Some(v) => parse_ns(v).map_err(ApiError::bad_data),
    }
}

async fn delete(State(state): State<AppState>, p: Params) -> Result<Response, ApiError> {
    admin_enabled(&state)?;
    let query = p
        .first("query")
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::bad_data("query parameter must be a stream selector"))?
        .to_owned();
    let expr = logql::parse(&query).map_err(ApiError::from)?;
    let logql::Expr::Log(log) = &expr else {
        return Err(ApiError::bad_data(
            "query must be a log stream selector, not a metric query",
        ));
    };
    if !log.stages.is_empty() {
        return Err(ApiError::bad_data(
            "only a stream selector is supported in deletion queries (no line filters or parsers)",
        ));
    }
    let matchers = log.matchers.clone();
    let start = time_param(&p, "start", 0)?;
    let end = time_param(&p, "end", nerve_storage::logs::now_ns())?;
    if end < start {
        return Err(ApiError::bad_data("end must not be before start"));
    }
    let id = with_logs(&state, move |logs| Ok(logs.delete(&query, matchers, start, end)?)).await?;
    tracing::info!(request_id = %id, "log deletion accepted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize)]
struct Listed {
    request_id: String,
    query: String,
    /// Seconds since the epoch.
    start_time: f64,
    end_time: f64,
    created_at: f64,
    status: &'static str,
}

async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    admin_enabled(&state)?;
    let reqs = with_logs(&state, |logs| Ok(logs.delete_requests())).await?;
    let secs = |ns: i64| ns as f64 / 1e9;
    let out: Vec<Listed> = reqs
        .into_iter()
        .map(|r| Listed {
            request_id: r.id,
            query: r.query,
            start_time: secs(r.start_ns),
            end_time: secs(r.end_ns),
            created_at: secs(r.created_ns),
            // Filtering applies at once; the bytes go with retention.
            status: "received",
        })
        .collect();
    Ok(axum::Json(out).into_response())
}

async fn cancel(State(state): State<AppState>, p: Params) -> Result<Response, ApiError> {
    admin_enabled(&state)?;
    let id = p
        .first("request_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_data("request_id is required"))?
        .to_owned();
    let found = with_logs(&state, move |logs| Ok(logs.cancel_delete(&id)?)).await?;
    if found {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("no deletion request with that request_id"))
    }
}
