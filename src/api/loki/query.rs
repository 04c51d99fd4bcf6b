//! `GET|POST /loki/api/v1/query` and `/loki/api/v1/query_range` (`timeout` may shorten
//! `limits.query_timeout`, as PromQL's does).

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nerve_query::logql::{self, Limits};

use super::format::{Encoding, render};
use super::params;
use crate::api::json::json_response;
use crate::api::prom::envelope::with_warnings;
use crate::api::prom::params::Params;
use crate::servers::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// The encoding the client asked for with `X-Loki-Response-Encoding-Flags`.
fn encoding(headers: &HeaderMap) -> Encoding {
    let categorize = headers
        .get_all("x-loki-response-encoding-flags")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|f| f.trim() == "categorize-labels");
    if categorize {
        Encoding::Categorized
    } else {
        Encoding::Legacy
    }
}

fn query_param(p: &Params) -> Result<String, ApiError> {
    match p.first("query") {
        None | Some("") => Err(ApiError::bad_data("query parameter is required").plain()),
        Some(q) => Ok(q.to_owned()),
    }
}

/// Loki's answer to a query that ran past its deadline (`pkg/util/server/error.go`), sent
/// with 504 Gateway Timeout.
pub const DEADLINE_EXCEEDED: &str = "request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed";

/// Query limits: log queries may ask for at most `limits.max_entries_limit_per_query` lines,
/// metric queries answer at most `limits.max_query_series` series and extract at most
/// `limits.query_max_samples` samples, and queries are stopped once `limits.query_timeout` (or
/// the request's shorter `timeout` parameter) has passed.
fn limits(state: &AppState, p: &Params) -> Result<Limits, ApiError> {
    let requested = crate::api::prom::query::duration_param(p, "timeout")?;
    let timeout = state.query.timeout_for(requested);
    Ok(Limits {
        deadline: Instant::now().checked_add(timeout),
        max_entries: state.query.max_entries(),
        max_series: state.query.max_query_series(),
        max_samples: state.query.max_samples(),
    })
}

/// The answer of a query handler: timeouts as Loki sends them (504, plain text), an answer
/// above `limits.query_max_response_bytes` refused, every other error as plain text.
fn answer(state: &AppState, body: Result<String, ApiError>) -> Result<Response, ApiError> {
    match body {
        Ok(body) => {
            state.query.check_response_size(body.len()).map_err(ApiError::plain)?;
            Ok(json_response(&body))
        }
        Err(e) if e.kind() == ErrorKind::Timeout => {
            Ok((StatusCode::GATEWAY_TIMEOUT, DEADLINE_EXCEEDED).into_response())
        }
        Err(e) => Err(e.plain()),
    }
}

/// `GET|POST /loki/api/v1/query` (`query`, `time`, `limit`, `direction`).
#[tracing::instrument(skip_all)]
pub async fn instant(State(state): State<AppState>, headers: HeaderMap, p: Params) -> Result<Response, ApiError> {
    let run = async {
        let q = query_param(&p)?;
        let t = params::time(&p)?;
        let limit = params::limit(&p)?;
        let dir = params::direction(&p)?;
        let enc = encoding(&headers);
        let started = Instant::now();
        let lim = limits(&state, &p)?;
        let (value, warnings) = super::with_logs(&state, move |logs| {
            let v = logql::eval_instant(&*logs, &q, t, limit, dir, &lim).map_err(ApiError::from)?;
            // Damage met in the day before `t` (range aggregations look back).
            Ok((
                v,
                logs.damage_warnings(t.saturating_sub(86_400_000_000_000), t.saturating_add(1)),
            ))
        })
        .await?;
        let body = render(&value, enc, started.elapsed().as_secs_f64());
        Ok(with_warnings(body, &warnings))
    };
    answer(&state, run.await)
}

/// `GET|POST /loki/api/v1/query_range` (`query`, `start`, `end`, `step`, `interval`, `limit`,
/// `direction`).
#[tracing::instrument(skip_all)]
pub async fn range(State(state): State<AppState>, headers: HeaderMap, p: Params) -> Result<Response, ApiError> {
    let run = async {
        let q = query_param(&p)?;
        let (start, end) = params::range(&p)?;
        let step = params::step(&p, start, end)?;
        let interval = params::interval(&p)?;
        let limit = params::limit(&p)?;
        let dir = params::direction(&p)?;
        let enc = encoding(&headers);
        let started = Instant::now();
        let lim = limits(&state, &p)?;
        let (value, warnings) = super::with_logs(&state, move |logs| {
            let v =
                logql::eval_range(&*logs, &q, start, end, step, interval, limit, dir, &lim).map_err(ApiError::from)?;
            Ok((v, logs.damage_warnings(start, end.saturating_add(1))))
        })
        .await?;
        let body = render(&value, enc, started.elapsed().as_secs_f64());
        Ok(with_warnings(body, &warnings))
    };
    answer(&state, run.await)
}
