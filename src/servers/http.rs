//! The HTTP server: one port for every API, remote write, self-metrics and probes.
//!
//! [`router`] builds the whole `Router` without a socket, so tests drive it with
//! `tower::ServiceExt::oneshot`; [`serve`] runs it on a bound listener until shutdown.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

use crate::api;
use crate::ingest;
use crate::selfmetrics::{self, SelfMetrics};
use crate::servers::auth::{self, AccessPolicy};
use crate::servers::error::ApiError;
use crate::shutdown::Shutdown;
use crate::state::AppState;

/// Largest body accepted by form-encoded API endpoints (remote write has its own limit).
const FORM_MAX_BODY: usize = 8 << 20;

/// The access policies for the two route classes (see [`crate::config::auth`]).
#[derive(Clone, Debug, Default)]
pub struct Policies {
    /// Query APIs and `/metrics`.
    pub read: Arc<AccessPolicy>,
    /// Ingestion endpoints.
    pub write: Arc<AccessPolicy>,
}

/// Builds the router: probes (always open), read routes, write routes, plus tracing,
/// request-duration metrics and body limits.
pub fn router(state: AppState, policies: &Policies) -> Router {
    let probes = Router::new()
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/ready", get(api::loki::ready));
    let read = guard(
        Router::new()
            .route("/metrics", get(metrics))
            .merge(api::prom::targets::routes())
            .merge(api::prom::query::routes())
            .merge(api::prom::rules::routes())
            .merge(api::prom::routes())
            .merge(api::loki::routes())
            .merge(api::jaeger::routes())
            .merge(api::tempo::routes()),
        &policies.read,
    );
    let write = guard(
        Router::new()
            .route("/api/v1/write", post(ingest::remote_write::write))
            .merge(ingest::otlp_metrics::routes())
            .merge(ingest::otlp_logs::routes())
            .merge(ingest::otlp_traces::routes())
            .route("/loki/api/v1/push", post(ingest::loki::push))
            .route(
                "/-/reload",
                post(crate::scrape::reload_handler).put(crate::scrape::reload_handler),
            )
            .route("/-/quit", post(quit).put(quit))
            .merge(api::prom::admin::routes())
            .merge(api::loki::delete::routes())
            .merge(api::traces::delete::routes()),
        &policies.write,
    );
    Router::new()
        .merge(probes)
        .merge(ui::routes())
        .merge(read)
        .merge(write)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.metrics.clone(), track_duration))
        .layer(DefaultBodyLimit::max(FORM_MAX_BODY))
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(Level::WARN)))
        .with_state(state)
}

/// The router of the OTLP/HTTP port (`:4318`): `/v1/metrics` (and Prometheus' OTLP path)
/// behind the write policy; everything else is 404.
pub fn otlp_router(state: AppState, policies: &Policies) -> Router {
    Router::new()
        .merge(guard(
            ingest::otlp_metrics::routes()
                .merge(ingest::otlp_logs::routes())
                .merge(ingest::otlp_traces::routes()),
            &policies.write,
        ))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.metrics.clone(), track_duration))
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(Level::WARN)))
        .with_state(state)
}

/// Puts `routes` behind `policy` unless it is open.
fn guard(routes: Router<AppState>, policy: &Arc<AccessPolicy>) -> Router<AppState> {
    if policy.is_open() {
        routes
    } else {
        routes.route_layer(middleware::from_fn_with_state(policy.clone(), auth::require))
    }
}

/// Binds the HTTP listener and logs `http server listening addr=<ip:port>`
/// (see [`super::bind`]).
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    super::bind(addr, "http").await
}

/// Binds the OTLP/HTTP listener and logs `otlp http server listening addr=<ip:port>`.
pub async fn bind_otlp(addr: &str) -> std::io::Result<TcpListener> {
    super::bind(addr, "otlp http").await
}

/// Serves `app` on `listener` until `shutdown` triggers, then lets in-flight requests finish.
pub async fn serve<L>(listener: L, app: Router, shutdown: Shutdown) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    super::serve(listener, app, shutdown, "http").await
}

/// `POST|PUT /-/quit`: a clean shutdown when `server.enable_quit`, else 403 (as Prometheus
/// answers without `--web.enable-lifecycle`).
async fn quit(State(state): State<AppState>) -> Response {
    match &state.quit {
        Some(s) => {
            tracing::info!("shutdown requested through /-/quit");
            s.trigger();
            (StatusCode::OK, "Requesting termination... Goodbye!\n").into_response()
        }
        None => (
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled (server.enable_quit).\n",
        )
            .into_response(),
    }
}

/// `/-/healthy`: the process is up.
async fn healthy() -> &'static str {
    "nerve is Healthy.\n"
}

/// `/-/ready`: 200 once the TSDB, the log store and the span store are open (WALs replayed), 503 before.
async fn ready(State(state): State<AppState>) -> Response {
    if state.db.is_ready() && state.logs.is_ready() && state.traces.is_ready() {
        (StatusCode::OK, "nerve is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response()
    }
}

/// `/metrics`: nerve's own metrics.
async fn metrics(State(state): State<AppState>) -> Response {
    // The TSDB collector reads `Tsdb::stats`, which only takes short locks.
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(selfmetrics::CONTENT_TYPE),
            )],
            text,
        )
            .into_response(),
        Err(_) => ApiError::internal("encoding self-metrics failed").into_response(),
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

/// Records every request's latency by route pattern, method and status.
async fn track_duration(State(m): State<Arc<SelfMetrics>>, req: Request, next: Next) -> Response {
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    m.observe_request(&handler, method.as_str(), resp.status().as_u16(), started.elapsed());
    resp
}

mod ui;

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod grafana_tests;
#[cfg(test)]
mod tests;
