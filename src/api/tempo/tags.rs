//! Tag names and values for Grafana's TraceQL builder and autocomplete:
//! `/api/search/tags` (`{"tagNames":[…]}`), `/api/v2/search/tags` (scopes),
//! `/api/search/tag/{t}/values` (`{"tagValues":["…"]}`) and `/api/v2/search/tag/{t}/values`
//! (typed values). Service names, span names and attribute keys come from the store's
//! catalog; other attribute values from a scan of the requested range (default: the last
//! hour). The `q` parameter (a filter to narrow values) is accepted and ignored.

use axum::extract::{Path, State};
use axum::response::Response;
use nerve_storage::traces::{AttrScope, AttrValue, SpanStore};
use serde_json::{Value, json};

use super::plain_error;
use crate::api::json::json_response;
use crate::api::prom::params::Params;
use crate::api::traces::{now_ns, with_traces};
use crate::servers::error::ApiError;
use crate::state::AppState;

/// Intrinsics nerve's TraceQL understands, as Tempo lists them.
const INTRINSICS: [&str; 8] = [
    "duration",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "status",
    "statusMessage",
    "traceDuration",
];
const STATUSES: [&str; 3] = ["error", "ok", "unset"];
const KINDS: [&str; 6] = ["unspecified", "internal", "server", "client", "producer", "consumer"];
/// Default and largest number of values returned.
const MAX_VALUES: usize = 1000;
/// Values scanned for when `start` is absent: the last hour.
const DEFAULT_WINDOW_NS: u64 = 3600 * 1_000_000_000;

fn ok(v: &Value) -> Response {
    json_response(&v.to_string())
}

/// `scope` parameter: `resource`, `span`, `intrinsic` or all (absent / `all`).
fn scope_param(p: &Params) -> Result<Option<String>, ApiError> {
    match p.first("scope") {
        None | Some("") | Some("all") => Ok(None),
        Some(s @ ("resource" | "span" | "intrinsic")) => Ok(Some(s.to_owned())),
        Some(s) => Err(ApiError::bad_data(format!(
            "invalid scope {s:?}: want resource, span, intrinsic or all"
        ))),
    }
}

/// `GET /api/search/tags`: attribute names (span and resource), plus intrinsics when asked.
pub async fn tags_v1(State(state): State<AppState>, p: Params) -> Response {
    let scope = match scope_param(&p) {
        Ok(s) => s,
        Err(e) => return plain_error(e),
    };
    let r = with_traces(&state, move |store| {
        let keys = store.attribute_keys();
        let mut names: Vec<String> = match scope.as_deref() {
            Some("resource") => keys.resource,
            Some("span") => keys.span,
            Some(_) => INTRINSICS.iter().map(|s| s.to_string()).collect(),
            None => keys.resource.into_iter().chain(keys.span).collect(),
        };
        names.sort_unstable();
        names.dedup();
        Ok(json!({"tagNames": names}))
    })
    .await;
    match r {
        Ok(v) => ok(&v),
        Err(e) => plain_error(e),
    }
}

/// `GET /api/v2/search/tags`: names by scope.
pub async fn tags_v2(State(state): State<AppState>, p: Params) -> Response {
    let scope = match scope_param(&p) {
        Ok(s) => s,
        Err(e) => return plain_error(e),
    };
    let r = with_traces(&state, move |store| {
        let keys = store.attribute_keys();
        let all = [
            ("resource", keys.resource),
            ("span", keys.span),
            ("intrinsic", INTRINSICS.iter().map(|s| s.to_string()).collect()),
        ];
        let scopes: Vec<Value> = all
            .into_iter()
            .filter(|(name, _)| scope.as_deref().is_none_or(|s| s == *name))
            .map(|(name, tags)| json!({"name": name, "tags": tags}))
            .collect();
        Ok(json!({"scopes": scopes, "metrics": {}}))
    })
    .await;
    match r {
        Ok(v) => ok(&v),
        Err(e) => plain_error(e),
    }
}

/// Tempo's type name of a value.
fn type_name(v: &AttrValue) -> &'static str {
    match v {
        AttrValue::Int(_) => "int",
        AttrValue::Double(_) => "float",
        AttrValue::Bool(_) => "bool",
        _ => "string",
    }
}

/// The values of tag `tag` (`resource.x`, `span.x`, `.x`, an intrinsic, or — v1 — an
/// unscoped name), with their Tempo types.
fn values(store: &SpanStore, tag: &str, p: &Params, v1: bool) -> Result<Vec<(&'static str, String)>, ApiError> {
    let limit = match p.first("limit") {
        None | Some("") | Some("0") => MAX_VALUES,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::bad_data(format!("invalid limit {v:?}")))?
            .min(MAX_VALUES),
    };
    let keyword = |list: &[&str]| list.iter().map(|s| ("keyword", s.to_string())).collect();
    let strings = |v: Vec<String>| v.into_iter().take(limit).map(|s| ("string", s)).collect();
    let (scope, key) = match tag {
        "status" | "span:status" => return Ok(keyword(&STATUSES)),
        "kind" | "span:kind" => return Ok(keyword(&KINDS)),
        "name" | "span:name" | "rootName" | "trace:rootName" => return Ok(strings(store.span_names())),
        "rootServiceName" | "trace:rootService" | "resource.service.name" => return Ok(strings(store.services())),
        "service.name" if v1 => return Ok(strings(store.services())),
        t => {
            if let Some(k) = t.strip_prefix("resource.") {
                (AttrScope::Resource, k)
            } else if let Some(k) = t.strip_prefix("span.") {
                (AttrScope::Span, k)
            } else if let Some(k) = t.strip_prefix('.') {
                (AttrScope::Any, k)
            } else if v1 {
                (AttrScope::Any, t)
            } else {
                return Err(ApiError::bad_data(format!(
                    "invalid tag {t:?}: want resource.<name>, span.<name>, .<name> or an intrinsic"
                )));
            }
        }
    };
    let secs = |name: &str| -> Result<Option<u64>, ApiError> {
        match p.first(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(|s| Some(s.saturating_mul(1_000_000_000)))
                .map_err(|_| ApiError::bad_data(format!("invalid {name} {v:?}: want unix seconds"))),
        }
    };
    let end = secs("end")?.unwrap_or_else(now_ns);
    let start = secs("start")?.unwrap_or(end.saturating_sub(DEFAULT_WINDOW_NS));
    let vals = store.attribute_values(scope, key, start, end, limit)?;
    let mut out: Vec<(&'static str, String)> = vals.iter().map(|v| (type_name(v), v.to_text())).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// `GET /api/search/tag/{tag}/values`.
pub async fn values_v1(State(state): State<AppState>, Path(tag): Path<String>, p: Params) -> Response {
    let r = with_traces(&state, move |store| {
        let v: Vec<String> = values(&store, &tag, &p, true)?.into_iter().map(|(_, v)| v).collect();
        Ok(json!({"tagValues": v}))
    })
    .await;
    match r {
        Ok(v) => ok(&v),
        Err(e) => plain_error(e),
    }
}

/// `GET /api/v2/search/tag/{tag}/values`.
pub async fn values_v2(State(state): State<AppState>, Path(tag): Path<String>, p: Params) -> Response {
    let r = with_traces(&state, move |store| {
        let v: Vec<Value> = values(&store, &tag, &p, false)?
            .into_iter()
            .map(|(t, v)| json!({"type": t, "value": v}))
            .collect();
        Ok(json!({"tagValues": v, "metrics": {}}))
    })
    .await;
    match r {
        Ok(v) => ok(&v),
        Err(e) => plain_error(e),
    }
}
