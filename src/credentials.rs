//! Credentials nerve sends on its outgoing HTTP requests (scrapes, forwarding): HTTP basic
//! auth or an `Authorization: <type> <credentials>` header, given inline or as files that are
//! re-read on every request, so rotated secrets work without a reload.

use std::path::PathBuf;

use reqwest::header::{AUTHORIZATION, HeaderValue};

use crate::config::http_client::{Authorization, BasicAuth, Secret};

/// How a request authenticates.
#[derive(Clone, Debug, Default)]
pub enum Credentials {
    /// Nothing is sent.
    #[default]
    None,
    /// HTTP basic auth.
    Basic {
        /// User name.
        username: Secretish,
        /// Password.
        password: Secretish,
    },
    /// `Authorization: <kind> <credentials>`.
    Header {
        /// The scheme, `Bearer` unless configured.
        kind: String,
        /// The credentials after the scheme.
        credentials: Secretish,
    },
}

/// A credential given inline or as a file read at every request.
#[derive(Clone, Debug)]
pub enum Secretish {
    /// The value itself.
    Inline(Secret),
    /// A file holding the value (trimmed).
    File(PathBuf),
}

impl Secretish {
    /// The file wins over the inline value, as in Prometheus.
    pub fn from_parts(inline: Option<&Secret>, file: Option<&PathBuf>) -> Secretish {
        match (inline, file) {
            (_, Some(f)) => Secretish::File(f.clone()),
            (Some(s), None) => Secretish::Inline(s.clone()),
            (None, None) => Secretish::Inline(Secret::default()),
        }
    }

    /// The current value.
    pub fn read(&self) -> Result<String, String> {
        match self {
            Secretish::Inline(s) => Ok(s.expose().to_owned()),
            Secretish::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .map_err(|e| format!("reading credentials file {}: {e}", p.display())),
        }
    }
}

impl Credentials {
    /// From Prometheus-style client options; `basic_auth` wins over `authorization`, which
    /// wins over a legacy bearer token.
    pub fn from_options(
        basic: Option<&BasicAuth>,
        authorization: Option<&Authorization>,
        bearer: (Option<&Secret>, Option<&PathBuf>),
    ) -> Credentials {
        if let Some(b) = basic {
            let username = match &b.username_file {
                Some(f) => Secretish::File(f.clone()),
                None => Secretish::Inline(Secret(b.username.clone())),
            };
            Credentials::Basic {
                username,
                password: Secretish::from_parts(b.password.as_ref(), b.password_file.as_ref()),
            }
        } else if let Some(a) = authorization {
            Credentials::Header {
                kind: a.kind.clone().unwrap_or_else(|| "Bearer".to_owned()),
                credentials: Secretish::from_parts(a.credentials.as_ref(), a.credentials_file.as_ref()),
            }
        } else if bearer.0.is_some() || bearer.1.is_some() {
            Credentials::Header {
                kind: "Bearer".to_owned(),
                credentials: Secretish::from_parts(bearer.0, bearer.1),
            }
        } else {
            Credentials::None
        }
    }

    /// Adds the credentials to a request.
    pub fn apply(&self, req: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, String> {
        Ok(match self {
            Credentials::None => req,
            Credentials::Basic { username, password } => req.basic_auth(username.read()?, Some(password.read()?)),
            Credentials::Header { kind, credentials } => {
                let value = format!("{kind} {}", credentials.read()?);
                let mut hv =
                    HeaderValue::from_str(&value).map_err(|_| "invalid authorization credentials".to_owned())?;
                hv.set_sensitive(true);
                req.header(AUTHORIZATION, hv)
            }
        })
    }
}
