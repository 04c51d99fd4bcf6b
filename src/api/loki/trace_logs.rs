//! `GET /nerve/api/v1/traces/{trace_id}/logs`: every log line carrying a trace id (in its
//! structured metadata, or as `trace_id`/`traceId`/`traceID` in a JSON or logfmt line), across
//! all streams, answered from the log store's trace-id index — "logs of this trace" for the
//! UI and for links. Parameters as Loki's `query_range`: `start`, `end` (default the last
//! hour), `limit` (default 100), `direction` (default backward).
//!
//! Answer: `{"status":"success","data":{"traceId":"…","lines":[{"timestamp":"<ns>",
//! "labels":{…},"line":"…","metadata":{…}}]}}`.

use std::ops::ControlFlow;

use axum::extract::{Path, State};
use axum::response::Response;
use nerve_storage::logs::{Direction, Select};
use nerve_storage::traces::{hex, parse_trace_id};

use super::params;
use crate::api::json::{json_response, write_labels, write_str};
use crate::api::prom::params::Params;
use crate::servers::error::ApiError;
use crate::state::AppState;

/// The handler.
pub async fn trace_logs(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    let id = parse_trace_id(&trace_id)
        .map(|t| hex(&t))
        .ok_or_else(|| ApiError::bad_data(format!("invalid trace id {trace_id:?}: want up to 32 hex digits")))?;
    let (start_ns, end_ns) = params::range(&p)?;
    let limit = params::limit(&p)?;
    params::check_entries_limit(limit, state.query.max_entries())?;
    let direction: Direction = params::direction(&p)?;
    let body = super::with_logs(&state, move |logs| {
        let sel = Select {
            matchers: Vec::new(),
            start_ns,
            end_ns,
            direction,
            contains: Vec::new(),
            trace_id: Some(id.clone()),
        };
        let mut out = String::from("{\"status\":\"success\",\"data\":{\"traceId\":");
        write_str(&mut out, &id);
        out.push_str(",\"lines\":[");
        let mut n = 0usize;
        logs.select(&sel, &mut |e| {
            if n > 0 {
                out.push(',');
            }
            out.push_str("{\"timestamp\":\"");
            out.push_str(&e.ts_ns.to_string());
            out.push_str("\",\"labels\":");
            write_labels(&mut out, e.labels);
            out.push_str(",\"line\":");
            write_str(&mut out, e.line);
            out.push_str(",\"metadata\":{");
            for (i, (k, v)) in e.metadata.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(&mut out, k);
                out.push(':');
                write_str(&mut out, v);
            }
            out.push_str("}}");
            n += 1;
            if n >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .map_err(ApiError::from)?;
        out.push_str("]}}");
        Ok(out)
    })
    .await?;
    Ok(json_response(&body))
}
