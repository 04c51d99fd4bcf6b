//! nerve's `server:` section: listen addresses (the command-line flags override them) and the
//! URL users reach nerve at.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Default address of the HTTP port (all APIs, UI, remote write, self-metrics).
pub const DEFAULT_HTTP_LISTEN: &str = "0.0.0.0:9090";
/// Default OTLP gRPC address.
pub const DEFAULT_OTLP_GRPC_LISTEN: &str = "0.0.0.0:4317";
/// Default OTLP/HTTP address.
pub const DEFAULT_OTLP_HTTP_LISTEN: &str = "0.0.0.0:4318";

/// The `server:` section.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `host:port` of the HTTP server (default `0.0.0.0:9090`; `:9090` means all interfaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_listen: Option<String>,
    /// `host:port` of the OTLP gRPC server (default `0.0.0.0:4317`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_grpc_listen: Option<String>,
    /// `host:port` of the OTLP/HTTP server (default `0.0.0.0:4318`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_http_listen: Option<String>,
    /// The URL users reach nerve at (Prometheus' `--web.external-url`): alerts'
    /// `generatorURL` and templates' `$externalURL`. Default: `http://` + the HTTP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    /// TLS on every listener (HTTP, OTLP gRPC, OTLP/HTTP), keys as in Prometheus' web
    /// config; see [`crate::tls::server`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_config: Option<TlsServerConfig>,
    /// Serve `POST|PUT /-/quit` (behind `auth.write`), which shuts nerve down cleanly, like
    /// Prometheus' `--web.enable-lifecycle` (default false: 403).
    #[serde(default)]
    pub enable_quit: bool,
    /// Serve the TSDB admin API (snapshot, delete_series, clean_tombstones) behind the write
    /// credentials, as Prometheus' `--web.enable-admin-api`. Default off.
    #[serde(default)]
    pub enable_admin_api: bool,
}

/// `server.tls_server_config`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM certificate chain (server certificate first). Reloaded when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key. Reloaded when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// PEM CA bundle that client certificates must chain to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<PathBuf>,
    /// `NoClientCert` (default), `VerifyClientCertIfGiven` or `RequireAndVerifyClientCert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth_type: Option<String>,
    /// `TLS12` (default) or `TLS13`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
}

impl ServerConfig {
    /// Checks that each address has the `host:port` shape.
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("server.http_listen", &self.http_listen),
            ("server.otlp_grpc_listen", &self.otlp_grpc_listen),
            ("server.otlp_http_listen", &self.otlp_http_listen),
        ] {
            if let Some(addr) = v {
                validate_listen_addr(addr).map_err(|e| format!("{key}: {e}"))?;
            }
        }
        if let Some(u) = &self.external_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(format!("server.external_url {u:?} must start with http:// or https://"));
        }
        if let Some(t) = &self.tls_server_config
            && (t.cert_file.is_none() || t.key_file.is_none())
        {
            return Err("server.tls_server_config: cert_file and key_file are required".to_owned());
        }
        Ok(())
    }
}

/// Normalizes a listen address: Go-style `:9090` becomes `0.0.0.0:9090`.
pub fn normalize_listen_addr(addr: &str) -> String {
    if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    }
}

/// Checks `host:port` (IPv6 hosts in brackets) with a numeric port.
pub fn validate_listen_addr(addr: &str) -> Result<(), String> {
    let norm = normalize_listen_addr(addr);
    let Some((host, port)) = norm.rsplit_once(':') else {
        return Err(format!("listen address {addr:?} must be host:port"));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("listen address {addr:?} must be host:port with a numeric port"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert!(validate_listen_addr("0.0.0.0:9090").is_ok());
        assert!(validate_listen_addr(":9090").is_ok());
        assert!(validate_listen_addr("[::1]:0").is_ok());
        assert!(validate_listen_addr("localhost:80").is_ok());
        assert!(validate_listen_addr("9090").is_err());
        assert!(validate_listen_addr("host:http").is_err());
        assert_eq!(normalize_listen_addr(":1"), "0.0.0.0:1");
    }
}
