//! Network servers and what they share: the HTTP router, the error type, authentication.
//! `grpc` serves OTLP over gRPC.

pub mod auth;
pub mod error;
pub mod grpc;
pub mod http;

use axum::Router;
use tokio::net::TcpListener;

use crate::shutdown::Shutdown;

/// Binds a listener (`:9090` means all interfaces) and logs the one
/// `<name> server listening addr=<ip:port>` line, with the address actually bound (tests bind
/// port 0 and read it from there).
pub async fn bind(addr: &str, name: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(crate::config::server::normalize_listen_addr(addr)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "{name} server listening");
    Ok(listener)
}

/// Serves `app` on `listener` until `shutdown` triggers, then lets in-flight requests finish
/// and logs `<name> server stopped`.
pub async fn serve<L>(listener: L, app: Router, shutdown: Shutdown, name: &str) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await?;
    tracing::info!("{name} server stopped");
    Ok(())
}
