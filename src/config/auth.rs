//! nerve's `auth:` section: credentials required in front of reads and writes.
//!
//! `read` guards the query APIs and `/metrics`; `write` guards ingestion (remote write, Loki
//! push, OTLP over HTTP and gRPC) and `/-/reload`. `/-/healthy` and `/-/ready` stay open for probes. A request
//! passes when it carries any one of the configured credentials. Enforced by
//! `servers::auth`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::http_client::{BasicAuth, Secret};

/// The `auth:` section.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Credentials for the query APIs and `/metrics`; absent = open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<AccessRule>,
    /// Credentials for ingestion endpoints; absent = open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<AccessRule>,
}

/// The credentials accepted for one class of endpoints.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    /// A bearer token (`Authorization: Bearer <token>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    /// File holding the bearer token (surrounding whitespace is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// A user name and password (`Authorization: Basic ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Users and their bcrypt password hashes (`htpasswd -nbB`, `$2y$…`), as in Prometheus'
    /// web config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth_users: Option<std::collections::BTreeMap<String, Secret>>,
}

impl AuthConfig {
    /// Checks that each rule has at least one credential and no value+file pairs.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rule) in [("auth.read", &self.read), ("auth.write", &self.write)] {
            let Some(r) = rule else { continue };
            if r.bearer_token.is_some() && r.bearer_token_file.is_some() {
                return Err(format!(
                    "{name}: at most one of bearer_token and bearer_token_file must be configured"
                ));
            }
            if let Some(b) = &r.basic_auth {
                if b.username.is_empty() || b.username_file.is_some() {
                    return Err(format!(
                        "{name}.basic_auth: username must be set (username_file is not supported here)"
                    ));
                }
                if b.password.is_some() == b.password_file.is_some() {
                    return Err(format!(
                        "{name}.basic_auth: exactly one of password and password_file must be configured"
                    ));
                }
            }
            for (user, hash) in r.basic_auth_users.iter().flatten() {
                let h = hash.expose();
                if user.is_empty() || user.contains(':') {
                    return Err(format!("{name}.basic_auth_users: invalid user name {user:?}"));
                }
                if !(h.len() == 60 && (h.starts_with("$2a$") || h.starts_with("$2b$") || h.starts_with("$2y$"))) {
                    return Err(format!(
                        "{name}.basic_auth_users.{user}: not a bcrypt hash (want $2y$… as htpasswd -nbB makes)"
                    ));
                }
            }
            if r.bearer_token.is_none()
                && r.bearer_token_file.is_none()
                && r.basic_auth.is_none()
                && r.basic_auth_users.as_ref().is_none_or(|u| u.is_empty())
            {
                return Err(format!(
                    "{name}: configure bearer_token, bearer_token_file, basic_auth or basic_auth_users (or remove the section)"
                ));
            }
        }
        Ok(())
    }
}
