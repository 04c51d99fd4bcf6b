//! TLS for nerve's own listeners (HTTP, OTLP gRPC, OTLP/HTTP): `server.tls_server_config`,
//! with the keys Prometheus' web config uses (`cert_file`, `key_file`, `client_ca_file`,
//! `client_auth_type`, `min_version`).
//!
//! The certificate and key files are watched: every accept checks, at most every
//! [`RELOAD_CHECK`], whether their modification times changed, and new connections then use
//! the new pair (a pair that does not load is logged and the old one kept). Handshakes run
//! in their own tasks with a timeout, so a slow or silent client cannot hold up the accept
//! loop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::server::TlsServerConfig;

/// How often the certificate files' modification times are looked at.
const RELOAD_CHECK: Duration = Duration::from_secs(5);
/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a rustls server configuration; `alpn` lists the protocols offered (`h2`,
/// `http/1.1`). Errors name the file or key at fault.
pub fn server_config(cfg: &TlsServerConfig, alpn: &[&[u8]]) -> Result<ServerConfig, String> {
    let provider = super::provider();
    let read = |p: &Path, key: &str| {
        std::fs::read(p).map_err(|e| format!("tls_server_config: unable to read {key} {}: {e}", p.display()))
    };
    let cert_file = cfg
        .cert_file
        .as_deref()
        .ok_or("tls_server_config: cert_file is required")?;
    let key_file = cfg
        .key_file
        .as_deref()
        .ok_or("tls_server_config: key_file is required")?;
    let chain = super::certs_from_pem(&read(cert_file, "cert_file")?, "cert_file")?;
    let key = PrivateKeyDer::from_pem_slice(&read(key_file, "key_file")?).map_err(|e| {
        format!(
            "tls_server_config: no usable private key in {}: {e}",
            key_file.display()
        )
    })?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match cfg.min_version.as_deref() {
        None | Some("" | "TLS10" | "TLS11" | "TLS12") => vec![&rustls::version::TLS12, &rustls::version::TLS13],
        Some("TLS13") => vec![&rustls::version::TLS13],
        Some(other) => return Err(format!("tls_server_config: unknown TLS version: {other}")),
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let auth = cfg.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let ca = cfg
                .client_ca_file
                .as_deref()
                .ok_or_else(|| format!("tls_server_config: client_auth_type {auth} needs client_ca_file"))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in super::certs_from_pem(&read(ca, "client_ca_file")?, "client_ca_file")? {
                roots
                    .add(c)
                    .map_err(|e| format!("tls_server_config: unusable client CA certificate: {e}"))?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if auth == "VerifyClientCertIfGiven" {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| format!("tls_server_config: {e}"))?)
        }
        other => {
            return Err(format!(
                "tls_server_config: client_auth_type {other:?} is not supported (NoClientCert, \
                 VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ));
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("tls_server_config: certificate and key do not fit: {e}"))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A server configuration that follows its files.
pub struct Reloading {
    cfg: TlsServerConfig,
    alpn: Vec<&'static [u8]>,
    state: Mutex<ReloadState>,
}

struct ReloadState {
    acceptor: TlsAcceptor,
    stamps: Vec<Option<SystemTime>>,
    checked: Instant,
}

fn stamps(cfg: &TlsServerConfig) -> Vec<Option<SystemTime>> {
    [&cfg.cert_file, &cfg.key_file, &cfg.client_ca_file]
        .into_iter()
        .map(|p| {
            p.as_deref()
                .and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        })
        .collect()
}

impl std::fmt::Debug for Reloading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Reloading {
    /// Loads the files now; an error here stops startup.
    pub fn new(cfg: TlsServerConfig, alpn: &[&'static [u8]]) -> Result<Arc<Self>, String> {
        let config = server_config(&cfg, alpn)?;
        Ok(Arc::new(Reloading {
            state: Mutex::new(ReloadState {
                acceptor: TlsAcceptor::from(Arc::new(config)),
                stamps: stamps(&cfg),
                checked: Instant::now(),
            }),
            cfg,
            alpn: alpn.to_vec(),
        }))
    }

    /// The acceptor for a new connection, reloaded first if the files changed.
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut st = self.state.lock();
        if st.checked.elapsed() >= RELOAD_CHECK {
            st.checked = Instant::now();
            let now = stamps(&self.cfg);
            if now != st.stamps {
                st.stamps = now;
                match server_config(&self.cfg, &self.alpn) {
                    Ok(c) => {
                        st.acceptor = TlsAcceptor::from(Arc::new(c));
                        tracing::info!("TLS certificate reloaded");
                    }
                    Err(e) => tracing::error!(error = %e, "TLS certificate reload failed; keeping the old one"),
                }
            }
        }
        st.acceptor.clone()
    }

    /// The certificate file, for logs.
    pub fn cert_file(&self) -> Option<&PathBuf> {
        self.cfg.cert_file.as_ref()
    }
}

/// A listener that hands out connections after their TLS handshake (see the module docs).
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Accepts on `tcp` and handshakes with `tls` in the background.
    pub fn new(tcp: TcpListener, tls: Arc<Reloading>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    r = tcp.accept() => r,
                    () = tx.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = tls.acceptor();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => {
                            let _ = tx.send((s, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local, rx })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task only ends when this listener is gone; wait forever meanwhile.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
