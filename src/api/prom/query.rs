//! PromQL over HTTP: `/api/v1/query`, `/api/v1/query_range`, `/api/v1/query_exemplars`,
//! `/api/v1/metadata` and `/api/v1/format_query`, parsed and shaped as Prometheus 2.42's
//! `web/api/v1/api.go` does (api-contracts §1.2–1.3).
//!
//! The engine is synchronous and reads storage, so every query runs in `spawn_blocking`; at most
//! `limits.query_max_concurrency` run at once, the rest wait (Prometheus queues them the same way).

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api::json::{json_response, write_labels, write_point, write_str};
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nerve_query::promql::format::{sample_value, timestamp};
use nerve_query::promql::source::WarnedTsdb;
use nerve_query::promql::{Engine, EngineOptions, MAX_POINTS_PER_SERIES, QueryValue, plan};
use nerve_storage::Labels;
use nerve_storage::metrics::Tsdb;
use tokio::sync::Semaphore;

use super::envelope::{Success, with_warnings};
use super::params::Params;
use super::timestamp::{MAX_TIME_MS, MIN_TIME_MS, parse_time};
use crate::servers::error::ApiError;
use crate::state::AppState;

/// The PromQL engine with the configured limits and the gate bounding concurrent queries
/// (`limits.query_max_concurrency`, Prometheus' `--query.max-concurrency`).
#[derive(Debug)]
pub struct QueryRuntime {
    gate: Semaphore,
    engine: Engine,
    timeout: Duration,
    max_entries: usize,
    max_query_series: usize,
    max_samples: usize,
    max_traces: usize,
    max_response_bytes: usize,
}

impl QueryRuntime {
    /// From the `limits:` section.
    pub fn new(limits: &crate::config::limits::LimitsConfig) -> QueryRuntime {
        let timeout = limits.query_timeout();
        QueryRuntime {
            gate: Semaphore::new(limits.query_max_concurrency()),
            engine: Engine::new(EngineOptions {
                timeout,
                max_samples: limits.query_max_samples(),
                ..EngineOptions::default()
            }),
            timeout,
            max_entries: limits.max_entries_limit_per_query(),
            max_query_series: limits.max_query_series(),
            max_samples: limits.query_max_samples(),
            max_traces: limits.traces_max_search_limit(),
            max_response_bytes: limits.query_max_response_bytes(),
        }
    }

    /// The longest a query may run.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The longest a query asking for `requested` may run: the request's own `timeout` can
    /// only lower `limits.query_timeout`.
    pub fn timeout_for(&self, requested: Option<Duration>) -> Duration {
        requested.map_or(self.timeout, |t| t.min(self.timeout))
    }

    /// Largest `limit` of a LogQL log query (`limits.max_entries_limit_per_query`, 0 = none).
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Most series of a LogQL metric answer (`limits.max_query_series`, 0 = none).
    pub fn max_query_series(&self) -> usize {
        self.max_query_series
    }

    /// Most samples a query may hold (`limits.query_max_samples`).
    pub fn max_samples(&self) -> usize {
        self.max_samples
    }

    /// Most traces one search returns (`limits.traces_max_search_limit`).
    pub fn max_traces(&self) -> usize {
        self.max_traces
    }

    /// Refuses an answer of `len` bytes above `limits.query_max_response_bytes` with 422
    /// `execution`, so a client gets a clear error instead of an enormous (or cut) body.
    pub fn check_response_size(&self, len: usize) -> Result<(), ApiError> {
        if self.max_response_bytes > 0 && len > self.max_response_bytes {
            return Err(ApiError::new(
                crate::servers::error::ErrorKind::Execution,
                format!(
                    "the answer would be {len} bytes, more than limits.query_max_response_bytes ({} bytes); narrow the query or its time range",
                    self.max_response_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// Routes of this module, to be merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/query_exemplars", get(query_exemplars).post(query_exemplars))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/format_query", get(format_query).post(format_query))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn invalid(name: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad_data(format!("invalid parameter {name:?}: {msg}"))
}

/// A required time parameter (ms).
fn required_time(p: &Params, name: &str) -> Result<i64, ApiError> {
    parse_time(p.first(name).unwrap_or("")).map_err(|e| invalid(name, e))
}

/// A duration parameter in Prometheus' `parseDuration` forms: float seconds or `1h30m`.
pub(crate) fn duration_param(p: &Params, name: &str) -> Result<Option<Duration>, ApiError> {
    let raw = match p.first(name) {
        None | Some("") => return Ok(None),
        Some(v) => v,
    };
    if let Ok(secs) = raw.parse::<f64>()
        && raw
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == b'.' || c == b'-' || c == b'+')
    {
        let ns = secs * 1e9;
        if !ns.is_finite() || ns.abs() >= 9.2e18 {
            return Err(invalid(
                name,
                format!("cannot parse {raw:?} to a valid duration. It overflows int64"),
            ));
        }
        if ns < 0.0 {
            return Ok(Some(Duration::ZERO));
        }
        return Ok(Some(Duration::from_nanos(ns as u64)));
    }
    plan::parse_duration(raw)
        .map(Some)
        .map_err(|_| invalid(name, format!("cannot parse {raw:?} to a valid duration")))
}

/// Maps an engine error; parse errors become Prometheus' `invalid parameter "query"`.
fn engine_error(e: nerve_query::Error, parsing: bool) -> ApiError {
    match e {
        nerve_query::Error::BadData(m) if parsing => invalid("query", m),
        other => other.into(),
    }
}

/// Runs `f` on the blocking pool once a query slot and the TSDB are available.
async fn run<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(std::sync::Arc<Tsdb>) -> Result<T, ApiError> + Send + 'static,
{
    let tsdb = state.db.ready()?;
    let _permit = state
        .query
        .gate
        .acquire()
        .await
        .map_err(|_| ApiError::unavailable("query engine is shutting down"))?;
    tokio::task::spawn_blocking(move || f(tsdb)).await?
}

/// `GET|POST /api/v1/query`.
#[tracing::instrument(skip_all)]
async fn query(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let t = params.time("time", now_ms())?;
    let timeout = duration_param(&params, "timeout")?;
    let q = params.first("query").unwrap_or("").to_owned();
    let rt = state.query.clone();
    let (value, warnings) = run(&state, move |tsdb| {
        let expr = plan::parse(&q).map_err(|e| engine_error(e, true))?;
        let src = WarnedTsdb::new(&tsdb);
        let v = rt.engine.instant_expr(&src, &expr, t, timeout);
        Ok((v.map_err(|e| engine_error(e, false))?, src.into_warnings()))
    })
    .await?;
    let body = with_warnings(render(&value), &warnings);
    state.query.check_response_size(body.len())?;
    Ok(json_response(&body))
}

/// `GET|POST /api/v1/query_range`.
#[tracing::instrument(skip_all)]
async fn query_range(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let start = required_time(&params, "start")?;
    let end = required_time(&params, "end")?;
    if end < start {
        return Err(invalid("end", "end timestamp must not be before start time"));
    }
    let step = duration_param(&params, "step")?.unwrap_or(Duration::ZERO);
    if step.is_zero() {
        return Err(invalid(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let span_ns = i128::from(end - start) * 1_000_000;
    if span_ns / (step.as_nanos() as i128) > i128::from(MAX_POINTS_PER_SERIES) {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
    if step_ms == 0 {
        return Err(invalid("step", "query resolution steps below 1ms are not supported"));
    }
    let timeout = duration_param(&params, "timeout")?;
    let q = params.first("query").unwrap_or("").to_owned();
    let rt = state.query.clone();
    let (m, warnings) = run(&state, move |tsdb| {
        let expr = plan::parse(&q).map_err(|e| engine_error(e, true))?;
        let src = WarnedTsdb::new(&tsdb);
        let m = rt.engine.range_expr(&src, &expr, start, end, step_ms, timeout);
        Ok((m.map_err(|e| engine_error(e, false))?, src.into_warnings()))
    })
    .await?;
    let body = with_warnings(render(&QueryValue::Matrix(m)), &warnings);
    state.query.check_response_size(body.len())?;
    Ok(json_response(&body))
}

/// `GET|POST /api/v1/query_exemplars`: exemplars of the series the query's selectors select.
#[tracing::instrument(skip_all)]
async fn query_exemplars(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    // Grafana's probe sends milliseconds where seconds belong; they parse (far future) and pass.
    let start = params.time("start", MIN_TIME_MS)?;
    let end = params.time("end", MAX_TIME_MS)?;
    if end < start {
        return Err(invalid("end", "end timestamp must not be before start timestamp"));
    }
    let q = params.first("query").unwrap_or("").to_owned();
    let body = run(&state, move |tsdb| {
        let expr = plan::parse(&q).map_err(|e| ApiError::bad_data(e.to_string()))?;
        let sels = plan::selectors(&expr);
        if sels.is_empty() {
            return Ok("null".to_owned());
        }
        let mut found: Vec<(Labels, Vec<nerve_storage::metrics::Exemplar>)> = Vec::new();
        for vs in sels {
            let m = plan::matchers(vs).map_err(ApiError::from)?;
            found.extend(tsdb.exemplars(&m, start, end)?);
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.dedup_by(|a, b| a.0 == b.0);
        let mut out = String::from("[");
        for (i, (series, ex)) in found.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"seriesLabels\":");
            write_labels(&mut out, series);
            out.push_str(",\"exemplars\":[");
            for (j, e) in ex.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str("{\"labels\":");
                write_labels(&mut out, &e.labels);
                let _ = write!(
                    out,
                    ",\"value\":\"{}\",\"timestamp\":{}}}",
                    sample_value(e.v),
                    timestamp(e.t)
                );
            }
            out.push_str("]}");
        }
        out.push(']');
        Ok(out)
    })
    .await?;
    Ok(json_response(&format!("{{\"status\":\"success\",\"data\":{body}}}")))
}

/// `GET /api/v1/metadata` (`metric`, `limit`, `limit_per_metric`).
#[tracing::instrument(skip_all)]
async fn metadata(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let limit = match params.first("limit") {
        None | Some("") => -1,
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| ApiError::bad_data("limit must be a number"))?,
    };
    let metric = params.first("metric").unwrap_or("").to_owned();
    let tsdb = state.db.ready()?;
    let all = tokio::task::spawn_blocking(move || tsdb.metadata()).await?;
    let mut data = serde_json::Map::new();
    for (name, md) in all {
        if !metric.is_empty() && name != metric {
            continue;
        }
        if limit >= 0 && data.len() as i64 >= limit {
            break;
        }
        data.insert(
            name,
            serde_json::json!([{"type": md.kind.as_str(), "help": md.help, "unit": md.unit}]),
        );
    }
    Ok(Success::new(data).into_response())
}

/// `GET|POST /api/v1/format_query`.
#[tracing::instrument(skip_all)]
async fn format_query(params: Params) -> Result<Response, ApiError> {
    let q = params.first("query").unwrap_or("");
    let pretty = plan::format_query(q).map_err(|e| engine_error(e, true))?;
    Ok(Success::new(pretty).into_response())
}

/// The success envelope of a query result, written directly (numbers exactly as Prometheus).
fn render(v: &QueryValue) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "{{\"status\":\"success\",\"data\":{{\"resultType\":\"{}\",\"result\":",
        v.type_name()
    );
    match v {
        QueryValue::Scalar { t, v } => write_point(&mut out, *t, *v),
        QueryValue::String { t, s } => {
            let _ = write!(out, "[{},", timestamp(*t));
            write_str(&mut out, s);
            out.push(']');
        }
        QueryValue::Vector { t, samples } => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"value\":");
                write_point(&mut out, *t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        QueryValue::Matrix(m) => {
            out.push('[');
            for (i, s) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, p) in s.samples.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_point(&mut out, p.t, p.v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push_str("}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nerve_storage::metrics::Sample;

    #[test]
    fn renders_like_prometheus() {
        let l = Labels::from_pairs([("__name__", "up"), ("a", "q\"\\ü")]).unwrap();
        let v = QueryValue::Matrix(vec![nerve_query::promql::RangeSeries {
            labels: l,
            samples: vec![
                Sample {
                    t: 1_718_000_000_000,
                    v: 1.0,
                },
                Sample {
                    t: 1_718_000_015_500,
                    v: f64::NAN,
                },
            ],
        }]);
        assert_eq!(
            render(&v),
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","a":"q\"\\ü"},"values":[[1718000000,"1"],[1718000015.500,"NaN"]]}]}}"#
        );
        assert_eq!(
            render(&QueryValue::Scalar { t: 4000, v: 2.0 }),
            r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#
        );
    }
}
