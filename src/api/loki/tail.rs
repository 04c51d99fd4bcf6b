//! `GET /loki/api/v1/tail` over WebSocket (`query`, `start`, `limit`, `delay_for` ≤ 5 s).
//!
//! nerve polls the store once a second for entries newer than the last one sent (up to
//! `now − delay_for`) and sends them as `{"streams":[{"stream":{..},"values":[["ns","line"]]}]}`
//! messages, oldest first. The connection ends when the client closes it or the query fails.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use nerve_query::logql::{self, LogValue};
use nerve_storage::logs::now_ns;

use super::format::{Encoding, write_streams};
use super::params;
use crate::api::prom::params::Params;
use crate::servers::error::ApiError;
use crate::state::AppState;

/// How often the store is polled.
const POLL: Duration = Duration::from_secs(1);
/// Largest `delay_for` Loki accepts, seconds.
const MAX_DELAY_S: i64 = 5;
/// Entries sent per poll at most.
const BATCH: usize = 1000;

/// Upgrades to a WebSocket streaming new entries of `query`.
pub async fn tail(State(state): State<AppState>, ws: WebSocketUpgrade, p: Params) -> Result<Response, ApiError> {
    let query = match p.first("query") {
        None | Some("") => return Err(ApiError::bad_data("query parameter is required").plain()),
        Some(q) => q.to_owned(),
    };
    let expr = logql::parse(&query).map_err(|e| ApiError::from(e).plain())?;
    if !expr.is_log() {
        return Err(ApiError::bad_data("tail only supports log queries, not metric queries").plain());
    }
    let delay: i64 = match p.first("delay_for") {
        None | Some("") => 0,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|d| (0..=MAX_DELAY_S).contains(d))
            .ok_or_else(|| ApiError::bad_data(format!("delay_for can't be greater than {MAX_DELAY_S}")).plain())?,
    };
    let start = match p.first("start") {
        None | Some("") => now_ns() - 3_600_000_000_000,
        Some(v) => params::parse_ns(v).map_err(|e| ApiError::bad_data(e).plain())?,
    };
    let limit = params::limit(&p).map_err(ApiError::plain)?;
    params::check_entries_limit(limit, state.query.max_entries()).map_err(ApiError::plain)?;
    state.logs.ready().map_err(ApiError::plain)?;
    Ok(ws.on_upgrade(move |socket| stream(socket, state, query, start, delay * 1_000_000_000, limit)))
}

async fn stream(mut socket: WebSocket, state: AppState, query: String, start: i64, delay_ns: i64, limit: usize) {
    let mut from = start;
    // The first batch honours `limit` (the most recent entries), later ones send everything new.
    let mut first = true;
    loop {
        let to = now_ns() - delay_ns;
        if to > from {
            let q = query.clone();
            let (dir, n) = if first {
                (logql::Direction::Backward, limit)
            } else {
                (logql::Direction::Forward, BATCH)
            };
            let res = super::with_logs(&state, move |logs| {
                let lim = logql::Limits {
                    deadline: Some(Instant::now() + Duration::from_secs(30)),
                    ..logql::Limits::default()
                };
                logql::eval_range(&*logs, &q, from, to, 1_000_000_000, None, n, dir, &lim).map_err(ApiError::from)
            })
            .await;
            let mut lines = match res {
                Ok(LogValue::Streams(lines)) => lines,
                Ok(_) => Vec::new(),
                Err(e) => {
                    let _ = socket.send(Message::Close(None)).await;
                    tracing::debug!(error = %e.message(), "tail query failed");
                    return;
                }
            };
            lines.sort_by_key(|l| l.ts_ns);
            let cut = lines.len() == n && !first;
            from = match lines.last() {
                Some(l) if cut => l.ts_ns + 1,
                _ => to,
            };
            first = false;
            if !lines.is_empty() {
                let mut msg = String::from("{\"streams\":");
                write_streams(&mut msg, &lines, Encoding::Legacy);
                msg.push('}');
                if socket.send(Message::Text(msg.into())).await.is_err() {
                    return;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            m = socket.recv() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
