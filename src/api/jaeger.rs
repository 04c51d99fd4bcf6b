//! The Jaeger query API under `/jaeger` (api-contracts §3): services, operations, trace
//! search, trace by id and dependencies, in the JSON Grafana's Jaeger datasource and the
//! Jaeger UI read.
//!
//! Errors use Jaeger's envelope: `{"data":null,…,"errors":[{"code":400,"msg":"…"}]}`.

pub mod model;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nerve_query::traces::dependencies::dependencies as find_dependencies;
use nerve_query::traces::search::{JaegerQuery, find_jaeger};
use nerve_storage::traces::{SpanKind, parse_trace_id};
use serde_json::{Value, json};

use crate::api::loki::params::parse_duration_ns;
use crate::api::prom::params::Params;
use crate::api::traces::{
    clamp_limit, now_ns, read_trace, search_deadline, trace_warnings, with_traces, with_warning_headers,
};
use crate::servers::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// Jaeger's default number of traces per search.
const DEFAULT_LIMIT: usize = 100;
/// Default search window when `start` is absent: one hour before `end`.
const DEFAULT_LOOKBACK_NS: u64 = 3600 * 1_000_000_000;
/// Default `lookback` of `/api/dependencies`: one day.
const DEFAULT_DEPENDENCY_LOOKBACK_MS: u64 = 86_400_000;
/// The service listed when no spans are stored yet: older Grafana versions fail their
/// datasource test on an empty list (api-contracts §3).
const PLACEHOLDER_SERVICE: &str = "nerve";

/// Routes of the Jaeger API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jaeger/api/services", get(services))
        .route("/jaeger/api/services/{service}/operations", get(service_operations))
        .route("/jaeger/api/operations", get(operations))
        .route("/jaeger/api/traces", get(search))
        .route("/jaeger/api/traces/{id}", get(trace_by_id))
        .route("/jaeger/api/dependencies", get(dependencies))
}

/// A Jaeger-shaped answer.
fn reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// An [`ApiError`] in Jaeger's error envelope (with `Retry-After` kept for 503s).
fn jaeger_error(e: ApiError) -> Response {
    let status = e.kind().status();
    let mut resp = reply(status, &model::error(status.as_u16(), e.message()));
    if matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::TooManyRequests) {
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(crate::servers::error::RETRY_AFTER_SECS),
        );
    }
    resp
}

fn answer(r: Result<Value, ApiError>) -> Response {
    answer_warned(r.map(|v| (v, Vec::new())))
}

/// [`answer`] with damage warnings as `Warning` headers.
fn answer_warned(r: Result<(Value, Vec<String>), ApiError>) -> Response {
    match r {
        Ok((v, warnings)) => with_warning_headers(reply(StatusCode::OK, &v), &warnings),
        Err(e) => jaeger_error(e),
    }
}

/// `GET /api/services`.
async fn services(State(state): State<AppState>) -> Response {
    answer(
        with_traces(&state, |store| {
            let mut s = store.services();
            if s.is_empty() {
                s.push(PLACEHOLDER_SERVICE.to_owned());
            }
            let n = s.len();
            Ok(model::envelope(json!(s), n))
        })
        .await,
    )
}

/// `GET /api/services/{service}/operations`: distinct span names.
async fn service_operations(State(state): State<AppState>, Path(service): Path<String>) -> Response {
    answer(
        with_traces(&state, move |store| {
            let mut names: Vec<String> = store.operations(&service).into_iter().map(|(n, _)| n).collect();
            names.dedup();
            let n = names.len();
            Ok(model::envelope(json!(names), n))
        })
        .await,
    )
}

/// Jaeger's `spanKind` spelling of a kind (empty for unspecified).
fn kind_name(k: SpanKind) -> &'static str {
    match k {
        SpanKind::Unspecified => "",
        k => k.as_str(),
    }
}

/// `GET /api/operations?service=&spanKind=`.
async fn operations(State(state): State<AppState>, p: Params) -> Response {
    let service = p.first("service").unwrap_or("").to_owned();
    let kind = p.first("spanKind").unwrap_or("").to_owned();
    answer(
        with_traces(&state, move |store| {
            if service.is_empty() {
                return Err(ApiError::bad_data("parameter 'service' is required"));
            }
            let ops: Vec<Value> = store
                .operations(&service)
                .into_iter()
                .filter(|(_, k)| kind.is_empty() || kind_name(*k) == kind)
                .map(|(name, k)| json!({"name": name, "spanKind": kind_name(k)}))
                .collect();
            let n = ops.len();
            Ok(model::envelope(Value::Array(ops), n))
        })
        .await,
    )
}

/// A µs timestamp parameter in ns.
fn micros(p: &Params, name: &str) -> Result<Option<u64>, ApiError> {
    match p.first(name) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(|us| Some(us.saturating_mul(1000)))
            .map_err(|_| ApiError::bad_data(format!("unable to parse param '{name}': {v:?} is not microseconds"))),
    }
}

fn duration(p: &Params, name: &str) -> Result<Option<u64>, ApiError> {
    match p.first(name) {
        None | Some("") => Ok(None),
        Some(v) => parse_duration_ns(v)
            .map(|ns| Some(ns.max(0) as u64))
            .map_err(|e| ApiError::bad_data(format!("unable to parse param '{name}': {e}"))),
    }
}

/// The `tags` parameter (a JSON object, or logfmt `k=v k2="v 2"`) plus repeated `tag=k:v`.
pub fn parse_tags(p: &Params) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for raw in p.all("tags") {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        if raw.starts_with('{') {
            let m: serde_json::Map<String, Value> = serde_json::from_str(raw)
                .map_err(|e| ApiError::bad_data(format!("malformed 'tags' parameter: {e}")))?;
            for (k, v) in m {
                let v = match v {
                    Value::String(s) => s,
                    v => v.to_string(),
                };
                out.push((k, v));
            }
        } else {
            out.extend(logfmt(raw).map_err(|e| ApiError::bad_data(format!("malformed 'tags' parameter: {e}")))?);
        }
    }
    for t in p.all("tag") {
        let (k, v) = t
            .split_once(':')
            .ok_or_else(|| ApiError::bad_data(format!("malformed 'tag' parameter {t:?}: want key:value")))?;
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

/// Splits logfmt `k=v k2="quoted v"` pairs.
fn logfmt(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(|| format!("{rest:?} has no '='"))?;
        let key = rest[..eq].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("bad key {key:?}"));
        }
        rest = &rest[eq + 1..];
        let value = if let Some(q) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => v.push(c),
                }
            }
            let end = end.ok_or("unterminated quote")?;
            rest = &q[end + 1..];
            v
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let v = rest[..end].to_owned();
            rest = &rest[end..];
            v
        };
        out.push((key.to_owned(), value));
        rest = rest.trim_start();
    }
    Ok(out)
}

/// `GET /api/traces`: search, or the traces named by repeated `traceID`.
async fn search(State(state): State<AppState>, p: Params) -> Response {
    let ids: Vec<String> = p.all("traceID").into_iter().map(str::to_owned).collect();
    if !ids.is_empty() {
        return answer_warned(
            with_traces(&state, move |store| {
                let mut traces = Vec::new();
                let mut warnings = Vec::new();
                for id in &ids {
                    let tid = parse_trace_id(id)
                        .ok_or_else(|| ApiError::bad_data(format!("malformed 'traceID' parameter {id:?}")))?;
                    let spans = read_trace(&store, &tid)?;
                    let w = trace_warnings(&store, &spans);
                    if !spans.is_empty() {
                        traces.push(model::with_warnings(model::trace(&spans), &w));
                    }
                    warnings.extend(w.into_iter().filter(|w| !warnings.contains(w)).collect::<Vec<_>>());
                }
                let n = traces.len();
                Ok((model::envelope(Value::Array(traces), n), warnings))
            })
            .await,
        );
    }
    let q = (|| {
        let service = p.first("service").unwrap_or("").to_owned();
        if service.is_empty() {
            return Err(ApiError::bad_data("parameter 'service' is required"));
        }
        let end_ns = micros(&p, "end")?.unwrap_or_else(now_ns);
        let start_ns = micros(&p, "start")?.unwrap_or(end_ns.saturating_sub(DEFAULT_LOOKBACK_NS));
        if start_ns > end_ns {
            return Err(ApiError::bad_data("start time is after end time"));
        }
        let limit = match p.first("limit") {
            None | Some("") | Some("0") => DEFAULT_LIMIT,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ApiError::bad_data(format!("unable to parse param 'limit': {v:?}")))?,
        };
        let limit = clamp_limit(&state, limit);
        let min = duration(&p, "minDuration")?.unwrap_or(0);
        let max = duration(&p, "maxDuration")?;
        if max.is_some_and(|m| m < min) {
            return Err(ApiError::bad_data("'maxDuration' should be greater than 'minDuration'"));
        }
        Ok(JaegerQuery {
            service,
            operation: p.first("operation").filter(|o| !o.is_empty()).map(str::to_owned),
            tags: parse_tags(&p)?,
            min_duration_ns: min,
            max_duration_ns: max,
            start_ns,
            end_ns,
            limit,
        })
    })();
    let q = match q {
        Ok(q) => q,
        Err(e) => return jaeger_error(e),
    };
    let deadline = search_deadline(&state);
    let found = with_traces(&state, move |store| {
        let ids = find_jaeger(&store, &q, deadline)?;
        let warnings = store.damage_warnings(q.start_ns, q.end_ns);
        let mut traces = Vec::with_capacity(ids.len());
        for id in &ids {
            let spans = read_trace(&store, id)?;
            // Never an empty `spans` array: Grafana reads `spans[0]`.
            if !spans.is_empty() {
                traces.push(model::with_warnings(model::trace(&spans), &warnings));
            }
        }
        let n = traces.len();
        Ok((model::envelope(Value::Array(traces), n).to_string(), warnings))
    })
    .await;
    // A too large answer is refused, never cut.
    match found.and_then(|(body, w)| state.query.check_response_size(body.len()).map(|()| (body, w))) {
        Ok((body, warnings)) => with_warning_headers(
            (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            &warnings,
        ),
        Err(e) => jaeger_error(e),
    }
}

/// `GET /api/traces/{id}`; `start`/`end` are ignored (Grafana sends ms where Jaeger reads µs).
async fn trace_by_id(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(tid) = parse_trace_id(&id) else {
        return reply(
            StatusCode::BAD_REQUEST,
            &model::error(400, &format!("malformed trace id {id:?}: want up to 32 hex digits")),
        );
    };
    let read = with_traces(&state, move |store| {
        let spans = read_trace(&store, &tid)?;
        let warnings = trace_warnings(&store, &spans);
        Ok((spans, warnings))
    });
    match read.await {
        Ok((spans, w)) if spans.is_empty() => {
            with_warning_headers(reply(StatusCode::NOT_FOUND, &model::error(404, "trace not found")), &w)
        }
        Ok((spans, w)) => {
            let trace = model::with_warnings(model::trace(&spans), &w);
            with_warning_headers(reply(StatusCode::OK, &model::envelope(json!([trace]), 1)), &w)
        }
        Err(e) => jaeger_error(e),
    }
}

/// `GET /api/dependencies?endTs=<ms>&lookback=<ms>`.
async fn dependencies(State(state): State<AppState>, p: Params) -> Response {
    let ms = |name: &str, default: u64| -> Result<u64, ApiError> {
        match p.first(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| ApiError::bad_data(format!("unable to parse param '{name}': {v:?} is not milliseconds"))),
        }
    };
    let range = (|| {
        let end_ms = ms("endTs", now_ns() / 1_000_000)?;
        let lookback = ms("lookback", DEFAULT_DEPENDENCY_LOOKBACK_MS)?;
        Ok::<_, ApiError>((
            end_ms.saturating_sub(lookback).saturating_mul(1_000_000),
            end_ms.saturating_mul(1_000_000),
        ))
    })();
    let (start, end) = match range {
        Ok(r) => r,
        Err(e) => return jaeger_error(e),
    };
    let deadline = search_deadline(&state);
    answer(
        with_traces(&state, move |store| {
            let deps = find_dependencies(&store, start, end, deadline)?;
            let data: Vec<Value> = deps
                .iter()
                .map(|d| json!({"parent": d.parent, "child": d.child, "callCount": d.calls}))
                .collect();
            let n = data.len();
            Ok(model::envelope(Value::Array(data), n))
        })
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parse_from_json_logfmt_and_tag_params() {
        let p = Params::from_pairs([
            ("tags", r#"{"http.status_code":"500","error":true}"#),
            ("tags", r#"db.system=postgresql msg="a \"b\" c""#),
            ("tag", "k:v:w"),
        ]);
        let t = parse_tags(&p).unwrap();
        assert_eq!(
            t,
            vec![
                ("error".to_owned(), "true".to_owned()),
                ("http.status_code".to_owned(), "500".to_owned()),
                ("db.system".to_owned(), "postgresql".to_owned()),
                ("msg".to_owned(), "a \"b\" c".to_owned()),
                ("k".to_owned(), "v:w".to_owned()),
            ]
        );
        assert!(parse_tags(&Params::from_pairs([("tags", "{nope")])).is_err());
        assert!(parse_tags(&Params::from_pairs([("tags", "novalue")])).is_err());
        assert!(parse_tags(&Params::from_pairs([("tags", "k=\"open")])).is_err());
        assert!(parse_tags(&Params::from_pairs([("tag", "nocolon")])).is_err());
    }
}
