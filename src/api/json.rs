//! Hand-written JSON for API answers whose numbers must be formatted exactly as Prometheus
//! and Loki write them (sample values as Go strings, timestamps as seconds).

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nerve_query::promql::format::{sample_value, timestamp};
use nerve_storage::Labels;

/// A 200 `application/json` response with `body`.
pub fn json_response(body: &str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body.to_owned(),
    )
        .into_response()
}

/// Appends `s` as a JSON string.
pub fn write_str(out: &mut String, s: &str) {
    // serde_json never fails on a &str.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// Appends a label set as a JSON object.
pub fn write_labels(out: &mut String, l: &Labels) {
    out.push('{');
    for (i, (k, v)) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_str(out, v);
    }
    out.push('}');
}

/// Appends `[<seconds>,"<value>"]` for a millisecond timestamp.
pub fn write_point(out: &mut String, t: i64, v: f64) {
    let _ = write!(out, "[{},\"{}\"]", timestamp(t), sample_value(v));
}
