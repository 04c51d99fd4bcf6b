//! Enforces the `auth:` section: a middleware that lets a request through only when its
//! `Authorization` header carries one of the configured credentials (bearer token, basic
//! auth, or a user of `basic_auth_users` whose password matches its bcrypt hash). Routes are
//! grouped by the router into read and write classes; probes stay open. Missing or unknown
//! credentials get 401 with `WWW-Authenticate`; credentials valid only for the other class
//! (read credentials on a write path) get 403.
//!
//! bcrypt is slow on purpose (tens of ms per check), so a successfully checked basic
//! credential is remembered (at most [`VERIFIED_CACHE`] of them, in memory only) and later
//! requests with it skip the hash.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::auth::AccessRule;
use crate::servers::error::{ApiError, ErrorKind};

/// Most basic credentials remembered as checked against a bcrypt hash.
const VERIFIED_CACHE: usize = 256;

/// The credentials accepted for one class of routes; empty = open. Thread-safe.
#[derive(Debug, Default)]
pub struct AccessPolicy {
    bearer: Vec<String>,
    /// `base64(user:password)` as it appears after `Basic `.
    basic: Vec<String>,
    /// User → bcrypt hash.
    users: std::collections::BTreeMap<String, String>,
    /// Basic credentials (as sent) that matched a user's hash.
    verified: parking_lot::Mutex<std::collections::HashSet<String>>,
    /// The other class's policy: credentials it accepts get 403 here instead of 401.
    other: Option<Arc<AccessPolicy>>,
}

impl AccessPolicy {
    /// Builds the policy for a rule, reading token and password files now (so a missing file
    /// fails startup instead of locking everyone out later).
    pub fn from_rule(rule: Option<&AccessRule>) -> Result<Self, String> {
        let mut p = AccessPolicy::default();
        let Some(rule) = rule else { return Ok(p) };
        if let Some(t) = &rule.bearer_token {
            p.bearer.push(t.expose().to_owned());
        }
        if let Some(f) = &rule.bearer_token_file {
            p.bearer.push(read_secret(f)?);
        }
        if let Some(b) = &rule.basic_auth {
            let password = match (&b.password, &b.password_file) {
                (Some(pw), _) => pw.expose().to_owned(),
                (None, Some(f)) => read_secret(f)?,
                (None, None) => String::new(),
            };
            p.basic.push(base64(format!("{}:{password}", b.username).as_bytes()));
        }
        for (user, hash) in rule.basic_auth_users.iter().flatten() {
            p.users.insert(user.clone(), hash.expose().to_owned());
        }
        Ok(p)
    }

    /// This policy, answering 403 to credentials that `other` (the other route class)
    /// accepts.
    pub fn with_other(mut self, other: Arc<AccessPolicy>) -> Self {
        self.other = Some(other);
        self
    }

    /// Whether a basic credential (base64 of `user:password`) matches a bcrypt user.
    fn check_user(&self, cred: &str) -> bool {
        if self.users.is_empty() {
            return false;
        }
        if self.verified.lock().contains(cred) {
            return true;
        }
        let Some(decoded) = unbase64(cred) else { return false };
        let Some((user, password)) = decoded.split_once(':') else {
            return false;
        };
        let Some(hash) = self.users.get(user) else { return false };
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            let mut v = self.verified.lock();
            if v.len() >= VERIFIED_CACHE {
                v.clear();
            }
            v.insert(cred.to_owned());
        }
        ok
    }

    /// True when no credential is required.
    pub fn is_open(&self) -> bool {
        self.bearer.is_empty() && self.basic.is_empty() && self.users.is_empty()
    }

    /// Whether the request's `Authorization` header satisfies the policy.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        if self.is_open() {
            return true;
        }
        let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some((scheme, cred)) = value.trim().split_once(' ') else {
            return false;
        };
        let cred = cred.trim();
        let candidates = if scheme.eq_ignore_ascii_case("bearer") {
            &self.bearer
        } else if scheme.eq_ignore_ascii_case("basic") {
            &self.basic
        } else {
            return false;
        };
        // Check every candidate so timing does not reveal which one matched.
        let listed = candidates
            .iter()
            .fold(false, |ok, c| ok | constant_time_eq(c.as_bytes(), cred.as_bytes()));
        listed || (scheme.eq_ignore_ascii_case("basic") && self.check_user(cred))
    }
}

/// Why a request is refused, if it is.
fn refusal(policy: &AccessPolicy, headers: &HeaderMap) -> Option<ErrorKind> {
    if policy.allows(headers) {
        return None;
    }
    let other_accepts = policy
        .other
        .as_ref()
        .is_some_and(|o| !o.is_open() && headers.contains_key(header::AUTHORIZATION) && o.allows(headers));
    Some(if other_accepts {
        ErrorKind::Forbidden
    } else {
        ErrorKind::Unauthorized
    })
}

fn message(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Forbidden => "these credentials are not allowed here (read-only or write-only)",
        _ => "missing or invalid credentials",
    }
}

/// HTTP middleware: 401 (with `WWW-Authenticate`) or 403 unless the policy allows the request.
/// Script requests marked `X-Requested-With: XMLHttpRequest` (nerve's UI) get the 401 without
/// `WWW-Authenticate`, so the browser leaves the login to the page instead of its own dialog.
pub async fn require(State(policy): State<Arc<AccessPolicy>>, req: Request, next: Next) -> Response {
    match refusal(&policy, req.headers()) {
        None => next.run(req).await,
        Some(kind) => {
            let mut resp = ApiError::new(kind, message(kind)).into_response();
            let from_script = req
                .headers()
                .get("x-requested-with")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"));
            if from_script {
                resp.headers_mut().remove(header::WWW_AUTHENTICATE);
            }
            resp
        }
    }
}

/// gRPC middleware: the same decision, answered as a gRPC status (UNAUTHENTICATED or
/// PERMISSION_DENIED) that gRPC clients can read.
pub async fn require_grpc(State(policy): State<Arc<AccessPolicy>>, req: Request, next: Next) -> Response {
    match refusal(&policy, req.headers()) {
        None => next.run(req).await,
        Some(kind) => tonic::Status::new(kind.grpc_code(), message(kind)).into_http::<axum::body::Body>(),
    }
}

fn read_secret(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("reading credentials file {}: {e}", path.display()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decodes standard base64 (padding optional) into UTF-8; `None` when it is not.
fn unbase64(s: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Standard base64 with padding (RFC 4648), as HTTP basic auth uses.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::http_client::{BasicAuth, Secret};
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn bcrypt_users_and_the_verified_cache() {
        let hash = bcrypt::hash("open sesame", 4).unwrap();
        let rule = AccessRule {
            basic_auth_users: Some([("Aladdin".to_owned(), Secret(hash))].into()),
            ..Default::default()
        };
        let p = AccessPolicy::from_rule(Some(&rule)).unwrap();
        assert!(!p.is_open());
        let good = "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==";
        assert!(p.allows(&headers(good)));
        assert_eq!(p.verified.lock().len(), 1, "remembered");
        assert!(p.allows(&headers(good)));
        assert!(!p.allows(&headers(&format!("Basic {}", base64(b"Aladdin:wrong")))));
        assert!(!p.allows(&headers(&format!("Basic {}", base64(b"nobody:open sesame")))));
        assert!(!p.allows(&headers("Basic !!!")));
        assert!(!p.allows(&headers("Bearer open sesame")));
        assert_eq!(unbase64(&base64(b"a:b:c")).as_deref(), Some("a:b:c"));
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }

    #[test]
    fn bearer_and_basic() {
        let rule = AccessRule {
            bearer_token: Some(Secret("s3cret".into())),
            bearer_token_file: None,
            basic_auth: Some(BasicAuth {
                username: "Aladdin".into(),
                password: Some(Secret("open sesame".into())),
                ..Default::default()
            }),
            basic_auth_users: None,
        };
        let p = AccessPolicy::from_rule(Some(&rule)).unwrap();
        assert!(p.allows(&headers("Bearer s3cret")));
        assert!(p.allows(&headers("bearer s3cret")));
        assert!(p.allows(&headers("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        assert!(!p.allows(&headers("Bearer wrong")));
        assert!(!p.allows(&headers("Basic Zm9v")));
        assert!(!p.allows(&HeaderMap::new()));
        assert!(AccessPolicy::from_rule(None).unwrap().allows(&HeaderMap::new()));
    }
}
