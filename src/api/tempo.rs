//! The Tempo API under `/tempo` (api-contracts §4): echo, trace by id (protobuf or OTLP JSON
//! by `Accept`), TraceQL and legacy tag search ([`search`]), tag names and values ([`tags`]),
//! build info — in the shapes Grafana's Tempo datasource decodes (its JSON parsing is strict:
//! no field Tempo's protobuf lacks).
//!
//! Errors are plain text with the status, as Tempo's.

pub mod search;
pub mod tags;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nerve_proto::OtlpEncoding;
use nerve_storage::traces::parse_trace_id;
use prost::Message as _;
use serde_json::json;

use crate::api::json::json_response;
use crate::api::traces::{otlp, read_trace, trace_warnings, with_traces, with_warning_headers};
use crate::buildinfo;
use crate::servers::error::ApiError;
use crate::state::AppState;

/// The Tempo version nerve answers as (Grafana enables TraceQL features by version).
const TEMPO_VERSION: &str = "2.8.0";

/// Routes of the Tempo API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tempo/api/echo", get(echo))
        .route("/tempo/api/traces/{id}", get(trace_v1))
        .route("/tempo/api/v2/traces/{id}", get(trace_v2))
        .route("/tempo/api/search", get(search::search))
        .route("/tempo/api/search/tags", get(tags::tags_v1))
        .route("/tempo/api/v2/search/tags", get(tags::tags_v2))
        .route("/tempo/api/search/tag/{tag}/values", get(tags::values_v1))
        .route("/tempo/api/v2/search/tag/{tag}/values", get(tags::values_v2))
        .route("/tempo/api/status/buildinfo", get(buildinfo))
}

/// `GET /api/echo`: the datasource health check.
async fn echo() -> &'static str {
    "echo"
}

/// `GET /api/status/buildinfo`.
async fn buildinfo() -> Response {
    let body = json!({
        "version": TEMPO_VERSION,
        "revision": buildinfo::REVISION,
        "branch": format!("nerve-{}", buildinfo::VERSION),
        "buildUser": "nerve",
        "buildDate": "",
        "goVersion": "",
    });
    json_response(&body.to_string())
}

/// Tempo's plain-text error answer.
pub fn plain_error(e: ApiError) -> Response {
    e.plain().into_response()
}

/// True when `Accept` asks for protobuf.
fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/protobuf") || a.contains("application/x-protobuf"))
}

/// Which trace-by-id answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    /// `/api/traces/{id}`: a bare `Trace` (protobuf) or `{"batches":[…]}`.
    V1,
    /// `/api/v2/traces/{id}`: `TraceByIDResponse` or `{"trace":{"resourceSpans":[…]}}`.
    V2,
}

async fn trace_v1(state: State<AppState>, id: Path<String>, headers: HeaderMap) -> Response {
    trace_by_id(state, id, headers, Version::V1).await
}

async fn trace_v2(state: State<AppState>, id: Path<String>, headers: HeaderMap) -> Response {
    trace_by_id(state, id, headers, Version::V2).await
}

/// Trace by id; `start`/`end` are not needed (the trace-id index covers every partition).
async fn trace_by_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    v: Version,
) -> Response {
    let Some(tid) = parse_trace_id(&id) else {
        return plain_error(ApiError::bad_data(format!(
            "invalid trace id {id:?}: want up to 32 hex digits"
        )));
    };
    let read = with_traces(&state, move |store| {
        let spans = read_trace(&store, &tid)?;
        let warnings = trace_warnings(&store, &spans);
        Ok((spans, warnings))
    });
    let (spans, warnings) = match read.await {
        Ok(r) => r,
        Err(e) => return plain_error(e),
    };
    if spans.is_empty() {
        return with_warning_headers(plain_error(ApiError::not_found("trace not found")), &warnings);
    }
    with_warning_headers(encode_trace(&spans, &headers, v, &warnings), &warnings)
}

/// The trace-by-id answer for `spans` (`v` and `Accept` choose the shape); a v2 answer with
/// `warnings` is `PARTIAL` with them as its message.
fn encode_trace(
    spans: &[nerve_storage::traces::Span],
    headers: &HeaderMap,
    v: Version,
    warnings: &[String],
) -> Response {
    let message = warnings.join("; ");
    let data = otlp::traces_data(spans);
    if wants_protobuf(headers) {
        let trace = data.encode_to_vec();
        let body = match v {
            // `Trace{1: repeated ResourceSpans}` has the bytes of OTLP `TracesData`.
            Version::V1 => trace,
            // `TraceByIDResponse{1: Trace, 3: status, 4: message}`; status 0 (complete) is the
            // default, 1 is partial.
            Version::V2 => {
                let mut out = Vec::with_capacity(trace.len() + message.len() + 16);
                prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut out);
                prost::encoding::encode_varint(trace.len() as u64, &mut out);
                out.extend_from_slice(&trace);
                if !message.is_empty() {
                    prost::encoding::int32::encode(3, &1, &mut out);
                    prost::encoding::string::encode(4, &message, &mut out);
                }
                out
            }
        };
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/protobuf"))],
            body,
        )
            .into_response();
    }
    let resource_spans = OtlpEncoding::Json.encode(&data);
    let resource_spans: serde_json::Value =
        serde_json::from_slice(&resource_spans).unwrap_or_else(|_| json!({"resourceSpans": []}));
    let body = match v {
        Version::V1 => json!({"batches": resource_spans["resourceSpans"]}),
        Version::V2 if message.is_empty() => json!({"trace": resource_spans}),
        Version::V2 => json!({"trace": resource_spans, "status": "PARTIAL", "message": message}),
    };
    json_response(&body.to_string())
}
