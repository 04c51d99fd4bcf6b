//! The Prometheus HTTP API (`/api/v1/...`) as far as it is metadata: series, label names,
//! label values and status. Query endpoints come with the PromQL engine.
//!
//! Parsing and shapes follow Prometheus' `web/api/v1/api.go` (see api-contracts §1.2–1.3):
//! GET and form POST (label values GET only), `start`/`end` optional (whole range), `limit=0`
//! meaning no limit with a warning when a result is cut, `match[]` required for `series`.

pub mod admin;
pub mod envelope;
pub mod params;
pub mod query;
pub mod rules;
pub mod runtime;
pub mod status;
pub mod targets;
pub mod timestamp;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use nerve_storage::metrics::Tsdb;
use nerve_storage::{Labels, Matcher};
use serde::Serialize;

use self::envelope::{LabelSet, Success, TRUNCATED_WARNING, truncate};
use self::params::{Params, unescape_label_name};
use self::timestamp::{MAX_TIME_MS, MIN_TIME_MS};
use crate::buildinfo;
use crate::servers::error::ApiError;
use crate::state::AppState;

/// Routes of this module, to be merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/status/flags", any(flags))
        .route("/api/v1/status/tsdb", get(status::tsdb_status))
        .route("/api/v1/status/config", get(runtime::config))
        .route("/api/v1/status/runtimeinfo", get(runtime::runtime_info))
        .route("/api/v1/{*rest}", any(unknown_endpoint))
}

/// The time range and limit every metadata endpoint takes.
struct RangeLimit {
    start: i64,
    end: i64,
    limit: Option<usize>,
}

impl RangeLimit {
    fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(RangeLimit {
            start: p.time("start", MIN_TIME_MS)?,
            end: p.time("end", MAX_TIME_MS)?,
            limit: p.limit()?,
        })
    }
}

/// Runs a blocking storage read off the async runtime, once the TSDB is ready.
pub(crate) async fn with_tsdb<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(Arc<Tsdb>) -> Result<T, ApiError> + Send + 'static,
{
    let tsdb = state.db.ready()?;
    tokio::task::spawn_blocking(move || f(tsdb)).await?
}

/// `GET|POST /api/v1/series`: label sets of the series matching any `match[]` in the range.
#[tracing::instrument(skip_all)]
async fn series(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let sets = params.matcher_sets()?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let RangeLimit { start, end, limit } = RangeLimit::parse(&params)?;
    let (found, cut) = with_tsdb(&state, move |tsdb| {
        let mut found: Vec<Labels> = Vec::new();
        if end >= start {
            let q = tsdb.querier(start, end)?;
            for set in &sets {
                found.extend(q.select(set)?.into_iter().map(|s| s.labels));
            }
            if sets.len() > 1 {
                found.sort();
                found.dedup();
            }
        }
        let cut = truncate(&mut found, limit);
        Ok((found, cut))
    })
    .await?;
    let data: Vec<LabelSet<'_>> = found.iter().map(LabelSet).collect();
    Ok(with_warning(Success::new(data), cut).into_response())
}

/// `GET|POST /api/v1/labels`: label names of the series in range (matching `match[]` if given).
#[tracing::instrument(skip_all)]
async fn labels(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let sets = params.matcher_sets()?;
    let RangeLimit { start, end, limit } = RangeLimit::parse(&params)?;
    let (names, cut) = with_tsdb(&state, move |tsdb| {
        let names = if end < start {
            Vec::new()
        } else {
            let q = tsdb.querier(start, end)?;
            union(&sets, |m| Ok(q.label_names(m)?))?
        };
        let mut names = names;
        let cut = truncate(&mut names, limit);
        Ok((names, cut))
    })
    .await?;
    Ok(with_warning(Success::new(names), cut).into_response())
}

/// `GET /api/v1/label/{name}/values`: values of one label (name may be `U__`-escaped).
#[tracing::instrument(skip_all, fields(label))]
async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let name = unescape_label_name(&name);
    tracing::Span::current().record("label", name.as_str());
    if name.is_empty() {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let sets = params.matcher_sets()?;
    let RangeLimit { start, end, limit } = RangeLimit::parse(&params)?;
    let (values, cut) = with_tsdb(&state, move |tsdb| {
        let mut values = if end < start {
            Vec::new()
        } else {
            let q = tsdb.querier(start, end)?;
            union(&sets, |m| Ok(q.label_values(&name, m)?))?
        };
        let cut = truncate(&mut values, limit);
        Ok((values, cut))
    })
    .await?;
    Ok(with_warning(Success::new(values), cut).into_response())
}

/// Runs `f` once with no matchers (no `match[]`) or once per matcher set, and merges the
/// sorted results into one sorted, de-duplicated list.
fn union<F>(sets: &[Vec<Matcher>], mut f: F) -> Result<Vec<String>, ApiError>
where
    F: FnMut(&[Matcher]) -> Result<Vec<String>, ApiError>,
{
    match sets {
        [] => f(&[]),
        [one] => f(one),
        many => {
            let mut all = Vec::new();
            for set in many {
                all.extend(f(set)?);
            }
            all.sort_unstable();
            all.dedup();
            Ok(all)
        }
    }
}

fn with_warning<T: Serialize>(s: Success<T>, truncated: bool) -> Success<T> {
    if truncated { s.warn(TRUNCATED_WARNING) } else { s }
}

/// `data` of `/api/v1/status/buildinfo`. No `features` key: a non-empty one makes Grafana
/// assume Mimir.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildInfo {
    version: &'static str,
    revision: &'static str,
    branch: &'static str,
    build_user: &'static str,
    build_date: &'static str,
    go_version: &'static str,
}

/// `GET /api/v1/status/buildinfo`.
async fn buildinfo() -> Response {
    Success::new(BuildInfo {
        version: buildinfo::VERSION,
        revision: buildinfo::REVISION,
        branch: buildinfo::BRANCH,
        build_user: buildinfo::BUILD_USER,
        build_date: buildinfo::BUILD_DATE,
        go_version: buildinfo::TOOLCHAIN,
    })
    .into_response()
}

/// `/api/v1/status/flags` is deliberately 404: Grafana's alerting takes any 200 there for
/// Thanos.
async fn flags() -> ApiError {
    ApiError::not_found("/api/v1/status/flags is not served by nerve")
}

/// Any other `/api/v1/...` path.
async fn unknown_endpoint(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("unknown API endpoint {}", uri.path()))
}
