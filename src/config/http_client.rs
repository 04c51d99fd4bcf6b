//! HTTP client settings shared by scrape configs, Alertmanager configs and remote-write targets,
//! spelled as in Prometheus' `common/config` (basic auth, authorization, TLS, proxy).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::section::config_section;

/// A credential from the config file. `Debug` and `Serialize` print `<secret>`, as Prometheus'
/// `/api/v1/status/config` does, so secrets never reach logs or API answers.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

/// HTTP basic authentication (`basic_auth:`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// File to read the user name from, instead of `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_file: Option<PathBuf>,
    /// Password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// File to read the password from, instead of `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

/// The `Authorization` header to send (`authorization:`), e.g. a bearer token.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Auth scheme; Prometheus defaults to `Bearer`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The credentials (token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    /// File to read the credentials from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
}

/// TLS client settings (`tls_config:`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM CA bundle, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// PEM CA bundle file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// Client certificate file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// Client key, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    /// Client key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Server name for SNI and certificate checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Skip certificate verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Minimum TLS version (`TLS12`, `TLS13`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// Maximum TLS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

config_section! {
    [http_client_value]
    /// The HTTP client keys every Prometheus client section accepts (scrape configs,
    /// Alertmanagers, remote write, forwarding targets), as one value: validated by
    /// [`HttpClientConfig::validate`], turned into a client by
    /// [`crate::tls::client_builder`].
    #[derive(Clone, Debug, Default, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct HttpClientConfig {}
}

/// A combination of HTTP client keys Prometheus rejects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpClientError {
    /// `basic_auth` and `authorization` together.
    #[error("at most one of basic_auth and authorization must be configured")]
    BasicAuthAndAuthorization,
    /// `basic_auth.password` and `password_file` together.
    #[error("at most one of basic_auth password and password_file must be configured")]
    PasswordAndFile,
    /// `basic_auth.username` and `username_file` together.
    #[error("at most one of basic_auth username and username_file must be configured")]
    UsernameAndFile,
    /// `authorization.credentials` and `credentials_file` together.
    #[error("at most one of authorization credentials and credentials_file must be configured")]
    CredentialsAndFile,
    /// `authorization.type: basic`.
    #[error("authorization type cannot be set to \"basic\", use \"basic_auth\" instead")]
    BasicAuthorizationType,
}

impl HttpClientConfig {
    /// Checks the combinations Prometheus rejects: at most one of basic auth and
    /// authorization, no value and file for the same secret.
    pub fn validate(&self) -> Result<(), HttpClientError> {
        if self.basic_auth.is_some() && self.authorization.is_some() {
            return Err(HttpClientError::BasicAuthAndAuthorization);
        }
        if let Some(b) = &self.basic_auth {
            if b.password.is_some() && b.password_file.is_some() {
                return Err(HttpClientError::PasswordAndFile);
            }
            if !b.username.is_empty() && b.username_file.is_some() {
                return Err(HttpClientError::UsernameAndFile);
            }
        }
        if let Some(a) = &self.authorization {
            if a.credentials.is_some() && a.credentials_file.is_some() {
                return Err(HttpClientError::CredentialsAndFile);
            }
            if a.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("basic")) {
                return Err(HttpClientError::BasicAuthorizationType);
            }
        }
        Ok(())
    }
}
