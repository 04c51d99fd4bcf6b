//! Enforces the `auth:` section: a middleware that lets a request through only when its
//! `Authorization` header carries one of the configured credentials (bearer token, basic
//! auth, or a user of `basic_auth_users` whose password matches its bcrypt hash). Routes are
//! grouped by the router into read and write classes; probes stay open. Missing or unknown
//! credentials get 401 with `WWW-Authenticate`; credentials valid only for the other class
//! (read credentials on a write path, write credentials on a read path) get 403.
//!
//! bcrypt is slow on purpose (tens of ms of CPU per check), so a flood of wrong passwords must
//! not be able to stall the server:
//! - checks run on the blocking pool, at most [`BCRYPT_CONCURRENCY`] at once, never on the
//!   async workers that serve every other request;
//! - a successfully checked credential is remembered for [`VERIFIED_TTL`] (at most
//!   [`VERIFIED_CACHE`] of them, in memory only), and later requests with it skip the hash;
//! - each user's checks run one at a time, and after a wrong password the next check of that
//!   user waits a delay that doubles per consecutive failure (up to [`MAX_FAILURE_DELAY`]), so
//!   guessing costs the server at most one hash per delay; requests queued beyond
//!   [`MAX_WAITING_PER_USER`] for one user get 429 with `Retry-After` at once.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::config::auth::{AccessRule, AuthConfig};
use crate::servers::error::{ApiError, ErrorKind};

/// Most basic credentials remembered as checked against a bcrypt hash.
const VERIFIED_CACHE: usize = 256;
/// How long a checked credential is remembered.
const VERIFIED_TTL: Duration = Duration::from_secs(300);
/// Most bcrypt checks running at once, server-wide (each holds a core for tens of ms).
const BCRYPT_CONCURRENCY: usize = 1;
/// Most requests waiting for one user's check; more get 429.
const MAX_WAITING_PER_USER: usize = 16;
/// Delay before the next check of a user after one wrong password; doubles per failure.
const FAILURE_DELAY: Duration = Duration::from_millis(100);
/// Longest delay between checks of one user after repeated wrong passwords.
const MAX_FAILURE_DELAY: Duration = Duration::from_secs(5);

/// The permits for bcrypt checks, shared by every policy.
static BCRYPT: Semaphore = Semaphore::const_new(BCRYPT_CONCURRENCY);

/// The outcome of checking a request's credentials against one policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are accepted (or none are required).
    Pass,
    /// Missing, unknown or wrong credentials.
    Fail,
    /// Too many checks of the same user are waiting; retry later.
    Busy,
}

/// A user of `basic_auth_users`: the hash and the state that throttles its checks.
#[derive(Debug)]
struct User {
    hash: String,
    /// Held while the user's credential is checked; holds the failure back-off.
    gate: tokio::sync::Mutex<Backoff>,
    /// Requests waiting for (or holding) `gate`.
    waiting: AtomicUsize,
}

/// Consecutive wrong passwords of one user and when the next check may run.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
}

impl Backoff {
    fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
        let delay = FAILURE_DELAY
            .saturating_mul(1 << self.failures.saturating_sub(1).min(16))
            .min(MAX_FAILURE_DELAY);
        self.not_before = Some(Instant::now() + delay);
    }
}

/// Decrements a user's waiting count when a request stops waiting, however it ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The credentials accepted for one class of routes; empty = open. Thread-safe.
#[derive(Debug, Default)]
pub struct AccessPolicy {
    bearer: Vec<String>,
    /// `base64(user:password)` as it appears after `Basic `.
    basic: Vec<String>,
    /// User → bcrypt hash and throttle.
    users: std::collections::BTreeMap<String, User>,
    /// Basic credentials (as sent) that matched a user's hash, with when they did.
    verified: parking_lot::Mutex<std::collections::HashMap<String, Instant>>,
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
            p.users.insert(
                user.clone(),
                User {
                    hash: hash.expose().to_owned(),
                    gate: tokio::sync::Mutex::new(Backoff::default()),
                    waiting: AtomicUsize::new(0),
                },
            );
        }
        Ok(p)
    }

    /// The read and write policies of an `auth:` section, each answering 403 to the other
    /// class's credentials.
    pub fn pair(auth: &AuthConfig) -> Result<(Arc<Self>, Arc<Self>), String> {
        let read_alone = Arc::new(Self::from_rule(auth.read.as_ref())?);
        let write_alone = Arc::new(Self::from_rule(auth.write.as_ref())?);
        let read = Self::from_rule(auth.read.as_ref())?.with_other(write_alone);
        let write = Self::from_rule(auth.write.as_ref())?.with_other(read_alone);
        Ok((Arc::new(read), Arc::new(write)))
    }

    /// This policy, answering 403 to credentials that `other` (the other route class)
    /// accepts.
    pub fn with_other(mut self, other: Arc<AccessPolicy>) -> Self {
        self.other = Some(other);
        self
    }

    /// True when no credential is required.
    pub fn is_open(&self) -> bool {
        self.bearer.is_empty() && self.basic.is_empty() && self.users.is_empty()
    }

    /// Whether the request's `Authorization` header satisfies the policy (bcrypt checks run
    /// on the blocking pool, throttled as the module documentation says).
    pub async fn check(&self, headers: &HeaderMap) -> Verdict {
        if self.is_open() {
            return Verdict::Pass;
        }
        let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Verdict::Fail;
        };
        let Some((scheme, cred)) = value.trim().split_once(' ') else {
            return Verdict::Fail;
        };
        let cred = cred.trim();
        let basic = scheme.eq_ignore_ascii_case("basic");
        let candidates = if scheme.eq_ignore_ascii_case("bearer") {
            &self.bearer
        } else if basic {
            &self.basic
        } else {
            return Verdict::Fail;
        };
        // Check every candidate so timing does not reveal which one matched.
        let listed = candidates
            .iter()
            .fold(false, |ok, c| ok | constant_time_eq(c.as_bytes(), cred.as_bytes()));
        if listed {
            Verdict::Pass
        } else if basic {
            self.check_user(cred).await
        } else {
            Verdict::Fail
        }
    }

    /// Whether `cred` was verified within [`VERIFIED_TTL`].
    fn remembered(&self, cred: &str) -> bool {
        self.verified
            .lock()
            .get(cred)
            .is_some_and(|at| at.elapsed() < VERIFIED_TTL)
    }

    fn remember(&self, cred: &str) {
        let mut v = self.verified.lock();
        if v.len() >= VERIFIED_CACHE {
            v.retain(|_, at| at.elapsed() < VERIFIED_TTL);
            if v.len() >= VERIFIED_CACHE {
                v.clear();
            }
        }
        v.insert(cred.to_owned(), Instant::now());
    }

    /// Checks a basic credential (base64 of `user:password`) against a bcrypt user.
    async fn check_user(&self, cred: &str) -> Verdict {
        if self.users.is_empty() {
            return Verdict::Fail;
        }
        if self.remembered(cred) {
            return Verdict::Pass;
        }
        let Some(decoded) = unbase64(cred) else {
            return Verdict::Fail;
        };
        let Some((name, password)) = decoded.split_once(':') else {
            return Verdict::Fail;
        };
        let Some(user) = self.users.get(name) else {
            return Verdict::Fail;
        };
        if user.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING_PER_USER {
            user.waiting.fetch_sub(1, Ordering::AcqRel);
            return Verdict::Busy;
        }
        let _waiting = Waiting(&user.waiting);
        let mut backoff = user.gate.lock().await;
        // The request ahead in the queue may have verified this very credential.
        if self.remembered(cred) {
            return Verdict::Pass;
        }
        if let Some(t) = backoff.not_before {
            tokio::time::sleep_until(t).await;
        }
        let Ok(permit) = BCRYPT.acquire().await else {
            return Verdict::Fail;
        };
        // Counted as a failure until it succeeds: a client that gives up during the hash
        // (which runs on regardless) must not let the next guess skip the delay.
        backoff.failed();
        let (password, hash) = (password.to_owned(), user.hash.clone());
        // The permit moves into the hash, so a hash whose requester left still holds it.
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            bcrypt::verify(password, &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if ok {
            *backoff = Backoff::default();
            self.remember(cred);
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

/// Why a request is refused, if it is.
async fn refusal(policy: &AccessPolicy, headers: &HeaderMap) -> Option<ErrorKind> {
    match policy.check(headers).await {
        Verdict::Pass => None,
        Verdict::Busy => Some(ErrorKind::TooManyRequests),
        Verdict::Fail => {
            let other_accepts = match &policy.other {
                Some(o) if !o.is_open() && headers.contains_key(header::AUTHORIZATION) => {
                    o.check(headers).await == Verdict::Pass
                }
                _ => false,
            };
            Some(if other_accepts {
                ErrorKind::Forbidden
            } else {
                ErrorKind::Unauthorized
            })
        }
    }
}

fn message(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Forbidden => "these credentials are not allowed here (read-only or write-only)",
        ErrorKind::TooManyRequests => "too many credential checks waiting for this user; retry later",
        _ => "missing or invalid credentials",
    }
}

/// HTTP middleware: 401 (with `WWW-Authenticate`), 403 or 429 unless the policy allows the
/// request. Script requests marked `X-Requested-With: XMLHttpRequest` (nerve's UI) get the
/// 401 without `WWW-Authenticate`, so the browser leaves the login to the page instead of its
/// own dialog.
pub async fn require(State(policy): State<Arc<AccessPolicy>>, req: Request, next: Next) -> Response {
    match refusal(&policy, req.headers()).await {
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

/// gRPC middleware: the same decision, answered as a gRPC status (UNAUTHENTICATED,
/// PERMISSION_DENIED or RESOURCE_EXHAUSTED) that gRPC clients can read.
pub async fn require_grpc(State(policy): State<Arc<AccessPolicy>>, req: Request, next: Next) -> Response {
    match refusal(&policy, req.headers()).await {
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

/// Standard base64 that decodes with or without padding and ignores stray bits in the last
/// character, as browsers and curl may send basic credentials.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes standard base64 (padding optional) into UTF-8; `None` when it is not.
fn unbase64(s: &str) -> Option<String> {
    String::from_utf8(LENIENT_BASE64.decode(s).ok()?).ok()
}

/// Standard base64 with padding (RFC 4648), as HTTP basic auth uses.
fn base64(input: &[u8]) -> String {
    STANDARD.encode(input)
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

    fn allows(p: &AccessPolicy, auth: &str) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(p.check(&headers(auth))) == Verdict::Pass
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
        assert!(allows(&p, good));
        assert_eq!(p.verified.lock().len(), 1, "remembered");
        assert!(allows(&p, good));
        assert!(!allows(&p, &format!("Basic {}", base64(b"Aladdin:wrong"))));
        assert!(!allows(&p, &format!("Basic {}", base64(b"nobody:open sesame"))));
        assert!(!allows(&p, "Basic !!!"));
        assert!(!allows(&p, "Bearer open sesame"));
        assert_eq!(unbase64(&base64(b"a:b:c")).as_deref(), Some("a:b:c"));
    }

    /// Wrong passwords make the next check of that user wait longer each time (capped), a
    /// queue past the bound gets `Busy` at once, a request given up while queued leaves the
    /// queue, and a right password resets the delay.
    #[tokio::test]
    async fn wrong_passwords_back_off_and_overflow_is_busy() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let rule = AccessRule {
            basic_auth_users: Some([("u".to_owned(), Secret(hash))].into()),
            ..Default::default()
        };
        let p = Arc::new(AccessPolicy::from_rule(Some(&rule)).unwrap());
        let wrong = headers(&format!("Basic {}", base64(b"u:nope")));
        assert_eq!(p.check(&wrong).await, Verdict::Fail);
        let before = Instant::now();
        assert_eq!(p.check(&wrong).await, Verdict::Fail);
        let user = p.users.get("u").unwrap();
        {
            // The second failure doubled the delay, counted from when its hash started (bounds
            // that hold however slowly the hash ran).
            let b = user.gate.lock().await;
            assert_eq!(b.failures, 2);
            let not_before = b.not_before.unwrap();
            assert!(not_before >= before + FAILURE_DELAY * 2, "{:?}", not_before - before);
            assert!(not_before <= Instant::now() + FAILURE_DELAY * 2);
        }
        let mut b = Backoff::default();
        for _ in 0..40 {
            b.failed();
        }
        assert!(b.not_before.unwrap().saturating_duration_since(Instant::now()) <= MAX_FAILURE_DELAY);
        // Hold the user's gate: the queue fills, and the request past the bound is Busy.
        let mut held = user.gate.lock().await;
        let mut queued = Vec::new();
        for _ in 0..MAX_WAITING_PER_USER {
            let (p, h) = (p.clone(), wrong.clone());
            queued.push(tokio::spawn(async move { p.check(&h).await }));
        }
        while user.waiting.load(Ordering::Acquire) < MAX_WAITING_PER_USER {
            tokio::task::yield_now().await;
        }
        assert_eq!(p.check(&wrong).await, Verdict::Busy);
        for q in &queued {
            q.abort();
        }
        for q in queued {
            assert!(q.await.unwrap_err().is_cancelled());
        }
        assert_eq!(
            user.waiting.load(Ordering::Acquire),
            0,
            "given-up requests left the queue"
        );
        *held = Backoff::default();
        drop(held);
        let right = headers(&format!("Basic {}", base64(b"u:pw")));
        assert_eq!(p.check(&wrong).await, Verdict::Fail);
        assert_eq!(p.check(&right).await, Verdict::Pass);
        assert_eq!(user.gate.lock().await.failures, 0);
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
        assert!(allows(&p, "Bearer s3cret"));
        assert!(allows(&p, "bearer s3cret"));
        assert!(allows(&p, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
        assert!(!allows(&p, "Bearer wrong"));
        assert!(!allows(&p, "Basic Zm9v"));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(p.check(&HeaderMap::new())), Verdict::Fail);
        assert_eq!(
            rt.block_on(AccessPolicy::from_rule(None).unwrap().check(&HeaderMap::new())),
            Verdict::Pass
        );
    }
}
