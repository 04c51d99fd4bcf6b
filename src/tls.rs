//! TLS for nerve's outgoing HTTP clients (scrapes, Alertmanager notifications): a rustls
//! client configuration (ring provider) built from a Prometheus `tls_config` block.
//!
//! What each key does, as in Prometheus' `common/config`:
//! - `ca` / `ca_file`: the only roots trusted for the server's certificate; without them the
//!   system's roots are used (the platform verifier).
//! - `cert` / `cert_file` with `key` / `key_file`: a client certificate for mutual TLS.
//! - `server_name`: the name the server's certificate is checked against instead of the
//!   URL's host. (rustls still sends the URL's host as SNI.)
//! - `insecure_skip_verify`: any server certificate is accepted; the handshake signatures
//!   are still checked against the presented certificate's key.
//! - `min_version` / `max_version`: `TLS10` … `TLS13`. rustls speaks only TLS 1.2 and 1.3,
//!   so a minimum below 1.2 means 1.2 and a maximum below 1.2 is an error.
//!
//! Files are read when the client is built, i.e. at start and at every config reload
//! (Prometheus re-reads changed files per connection; here a reload picks them up).

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::config::http_client::{HttpClientConfig, TlsConfig};

/// The crypto provider every nerve TLS configuration uses (ring: no C toolchain beyond gcc).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes ring the process-wide rustls provider, for clients nerve does not build itself
/// (reqwest built without a provider panics otherwise). Idempotent.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client builder whose TLS follows `cfg` (see [`client_config`]); every outgoing
/// HTTP client of nerve starts here.
pub fn http_client_builder(cfg: Option<&TlsConfig>, http2: bool) -> Result<reqwest::ClientBuilder, String> {
    let builder = reqwest::Client::builder().tls_backend_preconfigured(client_config(cfg, http2)?);
    Ok(if http2 { builder } else { builder.http1_only() })
}

/// A reqwest client builder following every HTTP client key of a section (see
/// [`HttpClientConfig`]): TLS, HTTP/2, redirects (followed up to 10 times unless
/// `follow_redirects: false`) and the proxy (`proxy_url` with its `no_proxy` exceptions, or
/// the environment's with `proxy_from_environment`, else none). Credentials are added per
/// request (see `crate::credentials`).
pub fn client_builder(cfg: &HttpClientConfig) -> Result<reqwest::ClientBuilder, String> {
    let redirect = if cfg.follow_redirects.unwrap_or(true) {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    let http2 = cfg.enable_http2 != Some(false);
    let builder = http_client_builder(cfg.tls_config.as_ref(), http2)?.redirect(redirect);
    Ok(match &cfg.proxy_url {
        Some(p) => {
            let proxy = reqwest::Proxy::all(p).map_err(|e| format!("invalid proxy_url {p:?}: {e}"))?;
            let no_proxy = cfg.no_proxy.as_deref().and_then(reqwest::NoProxy::from_string);
            builder.proxy(proxy.no_proxy(no_proxy))
        }
        None if cfg.proxy_from_environment.unwrap_or(false) => builder,
        None => builder.no_proxy(),
    })
}

/// Builds the client configuration for `cfg` (`None`: system roots, no client certificate).
/// `http2` adds `h2` to the ALPN offer. Errors say which key is wrong.
pub fn client_config(cfg: Option<&TlsConfig>, http2: bool) -> Result<ClientConfig, String> {
    let default = TlsConfig::default();
    let cfg = cfg.unwrap_or(&default);
    let provider = provider();
    let versions = protocol_versions(cfg.min_version.as_deref(), cfg.max_version.as_deref())?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_config: {e}"))?;

    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = if cfg.insecure_skip_verify {
        Arc::new(ConfiguredVerifier {
            chain: None,
            name: None,
            algorithms,
        })
    } else {
        let chain: Arc<dyn ServerCertVerifier> = if let Some(roots) = custom_roots(cfg)? {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("tls_config: invalid CA certificates: {e}"))?
        } else {
            Arc::new(
                rustls_platform_verifier::Verifier::new(provider.clone())
                    .map_err(|e| format!("tls_config: loading the system's root certificates: {e}"))?,
            )
        };
        match cfg.server_name.as_deref().filter(|s| !s.is_empty()) {
            Some(name) => {
                let name = ServerName::try_from(name.to_owned())
                    .map_err(|e| format!("tls_config: invalid server_name {name:?}: {e}"))?;
                Arc::new(ConfiguredVerifier {
                    chain: Some(chain),
                    name: Some(name),
                    algorithms,
                })
            }
            None => chain,
        }
    };
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);

    let mut config = match client_identity(cfg)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("tls_config: client certificate and key do not fit: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// The TLS versions between `min` and `max` (Go's names) that rustls supports.
fn protocol_versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    fn rank(v: &str) -> Result<u8, String> {
        match v {
            "TLS10" => Ok(10),
            "TLS11" => Ok(11),
            "TLS12" => Ok(12),
            "TLS13" => Ok(13),
            other => Err(format!("tls_config: unknown TLS version: {other}")),
        }
    }
    let lo = min.filter(|s| !s.is_empty()).map(rank).transpose()?.unwrap_or(10);
    let hi = max.filter(|s| !s.is_empty()).map(rank).transpose()?.unwrap_or(13);
    if lo > hi {
        return Err(format!(
            "tls_config: max_version must be greater than or equal to min_version, got {} < {}",
            max.unwrap_or(""),
            min.unwrap_or("")
        ));
    }
    let mut out = Vec::new();
    if lo <= 12 && hi >= 12 {
        out.push(&rustls::version::TLS12);
    }
    if hi >= 13 {
        out.push(&rustls::version::TLS13);
    }
    if out.is_empty() {
        return Err("tls_config: only TLS 1.2 and 1.3 are supported, max_version is below TLS12".to_owned());
    }
    Ok(out)
}

/// The roots from `ca` / `ca_file`, if either is set.
fn custom_roots(cfg: &TlsConfig) -> Result<Option<RootCertStore>, String> {
    if cfg.ca.is_some() && cfg.ca_file.is_some() {
        return Err("tls_config: at most one of ca and ca_file must be configured".to_owned());
    }
    let certs = match (&cfg.ca, &cfg.ca_file) {
        (Some(pem), _) => certs_from_pem(pem.as_bytes(), "ca")?,
        (None, Some(file)) => certs_from_pem(&read_file(file, "ca_file")?, "ca_file")?,
        (None, None) => return Ok(None),
    };
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("tls_config: unusable CA certificate: {e}"))?;
    }
    Ok(Some(roots))
}

/// The client certificate chain and key, if configured (both or neither).
fn client_identity(cfg: &TlsConfig) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
    if cfg.cert.is_some() && cfg.cert_file.is_some() {
        return Err("tls_config: at most one of cert and cert_file must be configured".to_owned());
    }
    if cfg.key.is_some() && cfg.key_file.is_some() {
        return Err("tls_config: at most one of key and key_file must be configured".to_owned());
    }
    let cert = match (&cfg.cert, &cfg.cert_file) {
        (Some(pem), _) => Some(pem.as_bytes().to_vec()),
        (None, Some(f)) => Some(read_file(f, "cert_file")?),
        (None, None) => None,
    };
    let key = match (&cfg.key, &cfg.key_file) {
        (Some(pem), _) => Some(pem.expose().as_bytes().to_vec()),
        (None, Some(f)) => Some(read_file(f, "key_file")?),
        (None, None) => None,
    };
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(
            "tls_config: exactly one of key or key_file must be configured when a client certificate is set".to_owned(),
        ),
        (None, Some(_)) => {
            Err("tls_config: exactly one of cert or cert_file must be configured when a client key is set".to_owned())
        }
        (Some(cert), Some(key)) => {
            let chain = certs_from_pem(&cert, "cert")?;
            let key = PrivateKeyDer::from_pem_slice(&key)
                .map_err(|e| format!("tls_config: no usable private key in key/key_file: {e}"))?;
            Ok(Some((chain, key)))
        }
    }
}

/// Every certificate in a PEM bundle; an error when there is none.
pub fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls_config: {what}: invalid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("tls_config: {what}: no certificate found"));
    }
    Ok(certs)
}

fn read_file(path: &Path, key: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("tls_config: unable to read {key} {}: {e}", path.display()))
}

/// The server-certificate check of `insecure_skip_verify` and `server_name`: the chain is
/// checked by `chain` (`None`: any chain is accepted), against `name` instead of the URL's
/// host when set. Handshake signatures are always verified with the presented certificate's
/// key, with the provider's algorithms (those the chain verifiers use too).
#[derive(Debug)]
struct ConfiguredVerifier {
    chain: Option<Arc<dyn ServerCertVerifier>>,
    name: Option<ServerName<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ConfiguredVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.chain {
            None => Ok(ServerCertVerified::assertion()),
            Some(inner) => {
                let name = self.name.as_ref().unwrap_or(server_name);
                inner.verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

pub mod server;

#[cfg(test)]
pub mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_min_and_max() {
        let v = |min: Option<&str>, max: Option<&str>| {
            protocol_versions(min, max).map(|v| v.iter().map(|p| format!("{:?}", p.version)).collect::<Vec<_>>())
        };
        assert_eq!(v(None, None).unwrap(), ["TLSv1_2", "TLSv1_3"]);
        assert_eq!(v(Some("TLS13"), None).unwrap(), ["TLSv1_3"]);
        assert_eq!(v(Some("TLS10"), Some("TLS12")).unwrap(), ["TLSv1_2"]);
        assert!(
            v(Some("TLS13"), Some("TLS12"))
                .unwrap_err()
                .contains("greater than or equal")
        );
        assert!(v(None, Some("TLS11")).unwrap_err().contains("only TLS 1.2 and 1.3"));
        assert!(v(Some("SSL3"), None).unwrap_err().contains("unknown TLS version: SSL3"));
    }

    #[test]
    fn half_a_client_identity_is_an_error() {
        let cfg = TlsConfig {
            cert: Some("x".to_owned()),
            ..TlsConfig::default()
        };
        assert!(client_config(Some(&cfg), true).unwrap_err().contains("key or key_file"));
        let cfg = TlsConfig {
            ca: Some("not pem".to_owned()),
            ..TlsConfig::default()
        };
        assert!(
            client_config(Some(&cfg), true)
                .unwrap_err()
                .contains("no certificate found")
        );
        let cfg = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        assert!(
            client_config(Some(&cfg), true)
                .unwrap_err()
                .contains("unable to read ca_file")
        );
    }
}
