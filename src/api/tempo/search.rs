//! `GET /api/search`: TraceQL (`q`), or Tempo's legacy parameters (`tags` in logfmt,
//! `minDuration`, `maxDuration`) translated into TraceQL, answered as `tempopb.SearchResponse`
//! JSON (64-bit integers as strings).

use axum::extract::State;
use axum::response::Response;
use nerve_query::traces::search::{TraceQlHit, find_traceql, summarize};
use nerve_query::traces::traceql;
use nerve_storage::traces::{SpanStore, hex, parse_trace_id};
use serde_json::{Map, Value, json};

use super::plain_error;
use crate::api::jaeger::parse_tags;
use crate::api::json::json_response;
use crate::api::loki::params::parse_duration_ns;
use crate::api::prom::params::Params;
use crate::api::traces::{clamp_limit, now_ns, otlp, read_trace, search_deadline, with_traces, with_warning_headers};
use crate::servers::error::ApiError;
use crate::state::AppState;

/// Tempo's default number of traces.
const DEFAULT_LIMIT: usize = 20;
/// Tempo's default spans per spanset.
const DEFAULT_SPSS: usize = 3;
/// Search window when `start`/`end` are absent: the last hour.
const DEFAULT_WINDOW_NS: u64 = 3600 * 1_000_000_000;
/// What Tempo shows for a trace whose root span is not stored.
const NO_ROOT: &str = "<root span not yet received>";

/// A seconds parameter in ns.
fn seconds(p: &Params, name: &str) -> Result<Option<u64>, ApiError> {
    match p.first(name) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(|s| Some(s.saturating_mul(1_000_000_000)))
            .map_err(|_| ApiError::bad_data(format!("invalid {name} {v:?}: want unix seconds"))),
    }
}

/// Most spans per spanset one search may ask for.
const MAX_SPSS: usize = 1000;

/// A count parameter, `max` at most.
fn count(p: &Params, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
    match p.first(name) {
        None | Some("") | Some("0") => Ok(default.min(max)),
        Some(v) => v
            .parse::<usize>()
            .map(|n| n.min(max))
            .map_err(|_| ApiError::bad_data(format!("invalid {name} {v:?}: want a positive integer"))),
    }
}

/// Quotes `s` as a TraceQL string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Tempo's legacy search as TraceQL: every tag on one span (`name` is the span name,
/// `status.code` and `error=true` the status, other keys unscoped attributes), durations on the
/// trace's duration.
pub fn legacy_to_traceql(p: &Params) -> Result<String, ApiError> {
    let mut conds = Vec::new();
    for (k, v) in parse_tags(p)? {
        conds.push(match k.as_str() {
            "name" => format!("name = {}", quote(&v)),
            "status.code" | "status" if ["error", "ok", "unset"].contains(&v.as_str()) => format!("status = {v}"),
            "error" if v == "true" => "status = error".to_owned(),
            // A resource attribute in every OTel SDK; scoping it lets the store skip blocks.
            "service.name" => format!("resource.service.name = {}", quote(&v)),
            _ => {
                let name_ok = !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || "._-/:".contains(c));
                let attr = if name_ok {
                    format!(".{k}")
                } else {
                    format!(".{}", quote(&k))
                };
                format!("{attr} = {}", quote(&v))
            }
        });
    }
    for (name, op) in [("minDuration", ">="), ("maxDuration", "<=")] {
        if let Some(v) = p.first(name).filter(|v| !v.is_empty()) {
            let ns = parse_duration_ns(v).map_err(|e| ApiError::bad_data(format!("invalid {name}: {e}")))?;
            conds.push(format!("traceDuration {op} {}ns", ns.max(0)));
        }
    }
    Ok(format!("{{{}}}", conds.join(" && ")))
}

/// A span attribute as `tempopb.common.v1.KeyValue` JSON (OTLP's).
fn attribute(key: &str, v: &nerve_storage::traces::AttrValue) -> Value {
    let value = serde_json::to_value(otlp::value(v)).unwrap_or(Value::Null);
    json!({"key": key, "value": value})
}

/// One `TraceSearchMetadata`, from the stored trace and the search hit.
fn metadata(store: &SpanStore, hit: &TraceQlHit) -> Result<Option<Value>, ApiError> {
    let spans = read_trace(store, &hit.trace_id)?;
    if spans.is_empty() {
        return Ok(None);
    }
    let sum = summarize(&spans);
    let mut stats = Map::new();
    for (svc, n, errors) in &sum.services {
        let mut s = Map::new();
        s.insert("spanCount".into(), json!(n));
        if *errors > 0 {
            s.insert("errorCount".into(), json!(errors));
        }
        stats.insert(svc.clone(), Value::Object(s));
    }
    let matched: Vec<Value> = hit
        .spans
        .iter()
        .map(|s| {
            json!({
                "spanID": hex(&s.span_id),
                "name": s.name,
                "startTimeUnixNano": s.start_ns.to_string(),
                "durationNanos": s.duration_ns.to_string(),
                "attributes": s.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let spanset = json!({"spans": matched, "matched": hit.matched});
    Ok(Some(json!({
        "traceID": hex(&hit.trace_id),
        "rootServiceName": sum.root_service.as_deref().unwrap_or(NO_ROOT),
        "rootTraceName": sum.root_name.as_deref().unwrap_or(""),
        "startTimeUnixNano": sum.start_ns.to_string(),
        "durationMs": sum.duration_ns / 1_000_000,
        "serviceStats": stats,
        "spanSet": spanset,
        "spanSets": [spanset],
    })))
}

/// `GET /api/search`.
pub async fn search(State(state): State<AppState>, p: Params) -> Response {
    let parsed = (|| {
        let end = seconds(&p, "end")?.unwrap_or_else(now_ns);
        let start = seconds(&p, "start")?.unwrap_or(end.saturating_sub(DEFAULT_WINDOW_NS));
        if start > end {
            return Err(ApiError::bad_data("invalid start: after end"));
        }
        let limit = count(&p, "limit", DEFAULT_LIMIT, clamp_limit(&state, usize::MAX))?;
        let spss = count(&p, "spss", DEFAULT_SPSS, MAX_SPSS)?;
        let text = match p.first("q").map(str::trim) {
            Some(q) if !q.is_empty() => q.to_owned(),
            _ => legacy_to_traceql(&p)?,
        };
        Ok((text, start, end, limit, spss))
    })();
    let (text, start, end, limit, spss) = match parsed {
        Ok(v) => v,
        Err(e) => return plain_error(e),
    };
    // A bare hex id (typed into the search box) is a lookup.
    if text.len() >= 16
        && let Some(tid) = parse_trace_id(&text)
    {
        let r = with_traces(&state, move |store| {
            let hit = TraceQlHit {
                trace_id: tid,
                spans: Vec::new(),
                matched: 0,
            };
            let found = metadata(&store, &hit)?.into_iter().collect::<Vec<_>>();
            Ok((found, store.damage_warnings(0, u64::MAX)))
        })
        .await;
        return respond(&state, r);
    }
    let query = match traceql::parse(&text) {
        Ok(q) => q,
        Err(e) => return plain_error(ApiError::bad_data(format!("invalid TraceQL query: {e}"))),
    };
    let deadline = search_deadline(&state);
    let r = with_traces(&state, move |store| {
        let hits = find_traceql(&store, &query, start, end, limit, spss, deadline)?;
        let mut out = Vec::with_capacity(hits.len());
        for h in &hits {
            out.extend(metadata(&store, h)?);
        }
        Ok((out, store.damage_warnings(start, end)))
    })
    .await;
    respond(&state, r)
}

/// The `SearchResponse`; one above `limits.query_max_response_bytes` is refused, never cut.
/// Damage warnings go in `Warning` headers (the body has no field for them).
fn respond(state: &AppState, r: Result<(Vec<Value>, Vec<String>), ApiError>) -> Response {
    let body = r.and_then(|(traces, warnings)| {
        let body = json!({
            "traces": traces,
            "metrics": {"completedJobs": 1, "totalJobs": 1},
        })
        .to_string();
        state.query.check_response_size(body.len()).map(|()| (body, warnings))
    });
    match body {
        Ok((body, warnings)) => with_warning_headers(json_response(&body), &warnings),
        Err(e) => plain_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_parameters_become_traceql() {
        let p = Params::from_pairs([
            ("tags", r#"service.name=cart name="GET /x" error=true http.url="a\"b""#),
            ("minDuration", "100ms"),
            ("maxDuration", "2s"),
        ]);
        let q = legacy_to_traceql(&p).unwrap();
        assert_eq!(
            q,
            r#"{resource.service.name = "cart" && name = "GET /x" && status = error && .http.url = "a\"b" && traceDuration >= 100000000ns && traceDuration <= 2000000000ns}"#
        );
        assert_eq!(legacy_to_traceql(&Params::default()).unwrap(), "{}");
        assert!(traceql::parse(&q).is_ok(), "{q}");
    }
}
