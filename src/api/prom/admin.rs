//! Prometheus' TSDB admin API, behind the write credentials and `server.enable_admin_api`
//! (Prometheus' `--web.enable-admin-api`; off by default):
//! - `POST|PUT /api/v1/admin/tsdb/snapshot[?skip_head=true]` → `{"name": …}`, the snapshot in
//!   `<data-dir>/snapshots/<name>/metrics` (a TSDB directory nerve can open);
//! - `POST|PUT /api/v1/admin/tsdb/delete_series?match[]=…[&start=&end=]` → 204, the data
//!   invisible at once and durable;
//! - `POST|PUT /api/v1/admin/tsdb/clean_tombstones` → 204, deleted samples removed from disk.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;

use super::envelope::Success;
use super::params::Params;
use super::timestamp::{MAX_TIME_MS, MIN_TIME_MS};
use super::with_tsdb;
use crate::servers::error::ApiError;
use crate::state::AppState;

/// The admin routes (the caller puts them behind the write policy).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/tsdb/snapshot", post(snapshot).put(snapshot))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(delete_series).put(delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(clean_tombstones).put(clean_tombstones),
        )
}

use crate::api::loki::delete::admin_enabled as enabled;

#[derive(Serialize)]
struct Snapshot {
    name: String,
}

async fn snapshot(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    enabled(&state)?;
    let skip_head = match params.first("skip_head") {
        None | Some("") => false,
        Some(v) => v
            .parse::<bool>()
            .map_err(|_| ApiError::bad_data(format!("cannot parse \"skip_head\" param {v:?}")))?,
    };
    let data_dir = state.admin_dir.clone().unwrap_or_default();
    let name = snapshot_name();
    let dir = data_dir.join("snapshots").join(&name).join("metrics");
    with_tsdb(&state, move |tsdb| {
        let blocks = tsdb.snapshot(&dir, !skip_head)?;
        tracing::info!(dir = %dir.display(), blocks, "TSDB snapshot written");
        Ok(())
    })
    .await?;
    Ok(Success::new(Snapshot { name }).into_response())
}

/// `20060102T150405Z-<16 hex digits>`, as Prometheus names snapshots.
fn snapshot_name() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let stamp = super::targets::rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(now.as_secs()));
    let compact: String = stamp.chars().filter(|c| *c != '-' && *c != ':').collect();
    let rand =
        (now.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{compact}-{rand:016x}")
}

async fn delete_series(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    enabled(&state)?;
    let sets = params.matcher_sets()?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = params.time("start", MIN_TIME_MS)?;
    let end = params.time("end", MAX_TIME_MS)?;
    with_tsdb(&state, move |tsdb| {
        for set in sets {
            tsdb.delete_series(set, start, end)?;
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn clean_tombstones(State(state): State<AppState>) -> Result<Response, ApiError> {
    enabled(&state)?;
    with_tsdb(&state, |tsdb| Ok(tsdb.clean_tombstones()?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
