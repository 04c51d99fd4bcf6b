//! The Loki HTTP API (api-contracts §2): queries, label and series resources, index stats and
//! volume, live tail, readiness and build info — what Grafana's Loki datasource calls.
//!
//! Errors are non-2xx with a plain-text body, as Loki's (Grafana shows the text).

pub mod delete;
pub mod format;
pub mod params;
pub mod query;
pub mod tail;
pub mod trace_logs;

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nerve_query::logql;
use nerve_storage::Matcher;
use nerve_storage::logs::{LogStore, StreamStats};
use serde_json::json;

use crate::api::json::{json_response, write_labels, write_str};
use crate::api::prom::params::Params;
use crate::buildinfo;
use crate::servers::error::ApiError;
use crate::state::AppState;

/// Routes of the Loki API, to be merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/loki/api/v1/query", get(query::instant).post(query::instant))
        .route("/nerve/api/v1/traces/{trace_id}/logs", get(trace_logs::trace_logs))
        .route("/loki/api/v1/query_range", get(query::range).post(query::range))
        .route("/loki/api/v1/labels", get(labels).post(labels))
        .route("/loki/api/v1/label", get(labels))
        .route("/loki/api/v1/label/{name}/values", get(label_values))
        .route("/loki/api/v1/series", get(series).post(series))
        .route("/loki/api/v1/index/stats", get(index_stats).post(index_stats))
        .route("/loki/api/v1/index/volume", get(volume).post(volume))
        .route("/loki/api/v1/index/volume_range", get(volume_range).post(volume_range))
        .route("/loki/api/v1/tail", get(tail::tail))
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
}

/// Runs a blocking read of the log store off the async runtime, once the store is open.
pub(crate) async fn with_logs<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    F: FnOnce(Arc<LogStore>) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let logs = state.logs.ready()?;
    tokio::task::spawn_blocking(move || f(logs)).await?
}

/// The stream selectors of an optional LogQL `query` parameter (none: every stream).
fn selector_param(p: &Params, name: &str) -> Result<Vec<Vec<Matcher>>, ApiError> {
    match p.first(name) {
        None | Some("") => Ok(vec![Vec::new()]),
        Some(q) => {
            let expr = logql::parse(q).map_err(ApiError::from)?;
            Ok(logql::selector_matchers(&expr))
        }
    }
}

/// `match[]` (or `match`) selectors of the series endpoint.
fn match_params(p: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut all = p.all("match[]");
    all.extend(p.all("match"));
    if all.is_empty() {
        return Ok(vec![Vec::new()]);
    }
    let mut out = Vec::new();
    for q in all {
        let expr = logql::parse(q).map_err(ApiError::from)?;
        out.extend(logql::selector_matchers(&expr));
    }
    Ok(out)
}

fn list_response(values: &[String]) -> Response {
    let mut out = String::from("{\"status\":\"success\",\"data\":[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(&mut out, v);
    }
    out.push_str("]}");
    json_response(&out)
}

/// `GET /loki/api/v1/labels` (`start`, `end`, optional `query`).
#[tracing::instrument(skip_all)]
async fn labels(State(state): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let (start, end) = params::range(&p)?;
    let sels = selector_param(&p, "query")?;
    let names = with_logs(&state, move |logs| {
        let mut names: Vec<String> = sels.iter().flat_map(|m| logs.label_names(m, start, end)).collect();
        names.sort();
        names.dedup();
        Ok(names)
    })
    .await?;
    Ok(list_response(&names))
}

/// `GET /loki/api/v1/label/<name>/values` (`start`, `end`, optional `query`).
#[tracing::instrument(skip_all)]
async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    let (start, end) = params::range(&p)?;
    let sels = selector_param(&p, "query")?;
    let values = with_logs(&state, move |logs| {
        let mut values: Vec<String> = sels
            .iter()
            .flat_map(|m| logs.label_values(&name, m, start, end))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    })
    .await?;
    Ok(list_response(&values))
}

/// `GET|POST /loki/api/v1/series` (`match[]`, `start`, `end`).
#[tracing::instrument(skip_all)]
async fn series(State(state): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let (start, end) = params::range(&p)?;
    let sels = match_params(&p)?;
    let body = with_logs(&state, move |logs| {
        let mut all: Vec<_> = sels.iter().flat_map(|m| logs.series(m, start, end)).collect();
        all.sort();
        all.dedup();
        let mut out = String::from("{\"status\":\"success\",\"data\":[");
        for (i, l) in all.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_labels(&mut out, l);
        }
        out.push_str("]}");
        Ok(out)
    })
    .await?;
    Ok(json_response(&body))
}

/// Per-stream stats of every selector in `query`, deduplicated by stream.
fn stats_of(logs: &LogStore, sels: &[Vec<Matcher>], start: i64, end: i64) -> Result<Vec<StreamStats>, ApiError> {
    let mut all = Vec::new();
    for m in sels {
        all.extend(logs.stream_stats(m, start, end)?);
    }
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    all.dedup_by(|a, b| a.labels == b.labels);
    Ok(all)
}

/// `GET /loki/api/v1/index/stats`: `{"streams","chunks","entries","bytes"}` without envelope.
/// nerve has no chunks; every stream with data counts as one.
#[tracing::instrument(skip_all)]
async fn index_stats(State(state): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let (start, end) = params::range(&p)?;
    let sels = selector_param(&p, "query")?;
    let stats = with_logs(&state, move |logs| stats_of(&logs, &sels, start, end)).await?;
    let entries: u64 = stats.iter().map(|s| s.entries).sum();
    let bytes: u64 = stats.iter().map(|s| s.bytes).sum();
    let body = json!({"streams": stats.len(), "chunks": stats.len(), "entries": entries, "bytes": bytes});
    Ok(json_response(&body.to_string()))
}

/// A volume group: the (label, value) pairs it is keyed by.
type GroupKey = Vec<(String, String)>;

/// How `index/volume` groups streams.
struct VolumeSpec {
    /// Labels to group by; empty: the labels named in the selector.
    targets: Vec<String>,
    /// `aggregateBy=labels`: one series per target label name instead of per value set.
    by_label_name: bool,
    limit: usize,
}

impl VolumeSpec {
    fn parse(p: &Params, sels: &[Vec<Matcher>]) -> Result<Self, ApiError> {
        let mut targets: Vec<String> = p
            .first("targetLabels")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if targets.is_empty() {
            targets = sels.iter().flatten().map(|m| m.name.clone()).collect();
            targets.sort();
            targets.dedup();
        }
        let by_label_name = match p.first("aggregateBy") {
            None | Some("") | Some("series") => false,
            Some("labels") => true,
            Some(o) => {
                return Err(ApiError::bad_data(format!(
                    "invalid aggregateBy {o:?}: want series or labels"
                )));
            }
        };
        let limit = match p.first("limit") {
            None | Some("") => 100,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::bad_data("limit must be a positive value"))?,
        };
        Ok(VolumeSpec {
            targets,
            by_label_name,
            limit,
        })
    }

    /// Bytes per group, largest first, cut to the limit.
    fn group(&self, stats: &[StreamStats]) -> Vec<(GroupKey, u64)> {
        let mut acc: std::collections::BTreeMap<GroupKey, u64> = Default::default();
        for s in stats {
            if self.by_label_name {
                for t in &self.targets {
                    if s.labels.get(t).is_some() {
                        *acc.entry(vec![(t.clone(), String::new())]).or_default() += s.bytes;
                    }
                }
            } else {
                let key: GroupKey = self
                    .targets
                    .iter()
                    .filter_map(|t| s.labels.get(t).map(|v| (t.clone(), v.to_owned())))
                    .collect();
                *acc.entry(key).or_default() += s.bytes;
            }
        }
        let mut v: Vec<_> = acc.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(self.limit);
        v
    }
}

fn write_pairs(out: &mut String, pairs: &[(String, String)]) {
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_str(out, v);
    }
    out.push('}');
}

/// Seconds as Loki writes vector/matrix timestamps.
fn secs(ns: i64) -> String {
    nerve_query::promql::format::timestamp(ns.div_euclid(1_000_000))
}

/// `GET /loki/api/v1/index/volume`: bytes per group as an instant vector at `end`.
#[tracing::instrument(skip_all)]
async fn volume(State(state): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let (start, end) = params::range(&p)?;
    let sels = selector_param(&p, "query")?;
    let spec = VolumeSpec::parse(&p, &sels)?;
    let stats = with_logs(&state, move |logs| stats_of(&logs, &sels, start, end)).await?;
    let mut out = String::from("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[");
    for (i, (metric, bytes)) in spec.group(&stats).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        write_pairs(&mut out, metric);
        let _ = write!(out, ",\"value\":[{},\"{bytes}\"]}}", secs(end));
    }
    out.push_str("]}}");
    Ok(json_response(&out))
}

/// `GET /loki/api/v1/index/volume_range`: bytes per group per `step` bucket as a matrix.
#[tracing::instrument(skip_all)]
async fn volume_range(State(state): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let (start, end) = params::range(&p)?;
    let step = params::step(&p, start, end)?;
    let sels = selector_param(&p, "query")?;
    let spec = VolumeSpec::parse(&p, &sels)?;
    let buckets = with_logs(&state, move |logs| {
        let mut out = Vec::new();
        let mut t = start;
        while t < end {
            let to = t.saturating_add(step).min(end);
            out.push((t, stats_of(&logs, &sels, t, to)?));
            t = to;
        }
        Ok(out)
    })
    .await?;
    let mut series: std::collections::BTreeMap<GroupKey, Vec<(i64, u64)>> = Default::default();
    for (t, stats) in &buckets {
        for (metric, bytes) in spec.group(stats) {
            series.entry(metric).or_default().push((*t, bytes));
        }
    }
    let mut out = String::from("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[");
    for (i, (metric, points)) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        write_pairs(&mut out, metric);
        out.push_str(",\"values\":[");
        for (j, (t, b)) in points.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "[{},\"{b}\"]", secs(*t));
        }
        out.push_str("]}");
    }
    out.push_str("]}}");
    Ok(json_response(&out))
}

/// `GET /loki/api/v1/status/buildinfo`: flat JSON. The version is the Loki API level nerve
/// answers (Grafana enables features by it); `revision` is nerve's.
async fn buildinfo() -> Response {
    let body = json!({
        "version": "3.4.0",
        "revision": buildinfo::REVISION,
        "branch": format!("nerve-{}", buildinfo::VERSION),
        "buildUser": "nerve",
        "buildDate": "",
        "goVersion": "",
    });
    json_response(&body.to_string())
}

/// `GET /ready`: Loki's readiness probe (200 `ready` once the log store is open).
pub async fn ready(State(state): State<AppState>) -> Response {
    if state.logs.is_ready() && state.db.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(
                header::RETRY_AFTER,
                HeaderValue::from(crate::servers::error::RETRY_AFTER_SECS),
            )],
            "Ingester not ready: waiting for the WAL replay\n",
        )
            .into_response()
    }
}
