//! Authentication on the HTTP routers: every guarded path, the two credential classes, open
//! probes and UI.

use super::tests::{get, send};
use super::*;
use crate::config::auth::{AccessRule, AuthConfig};
use crate::config::http_client::Secret;
use crate::config::limits::LimitsConfig;
use crate::servers::auth::AccessPolicy;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use std::sync::Arc;

#[tokio::test]
async fn auth_guards_reads_but_not_probes() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _tsdb) = AppState::for_tests(dir.path(), LimitsConfig::default());
    let rule = AccessRule {
        bearer_token: Some(Secret("t0ken".into())),
        ..Default::default()
    };
    let policies = Policies {
        read: Arc::new(AccessPolicy::from_rule(Some(&rule)).unwrap()),
        ..Default::default()
    };
    let app = router(state, &policies);
    let (s, h, _) = send(&app, Request::get("/api/v1/labels").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.contains_key(header::WWW_AUTHENTICATE));
    let req = Request::get("/api/v1/labels")
        .header(header::AUTHORIZATION, "Bearer t0ken")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, req).await.0, StatusCode::OK);
    assert_eq!(get(&app, "/metrics").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, "/-/healthy").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/-/ready").await.0, StatusCode::OK);
    // The UI's script requests get no WWW-Authenticate (no browser dialog; the page asks).
    let req = Request::get("/api/v1/labels")
        .header("X-Requested-With", "XMLHttpRequest")
        .body(Body::empty())
        .unwrap();
    let (s, h, _) = send(&app, req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(!h.contains_key(header::WWW_AUTHENTICATE));
    // The UI itself is open, so its login form can load.
    assert_eq!(get(&app, "/").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/assets/app.js").await.0, StatusCode::OK);
}

/// Separate read and write credentials: each class takes only its own; the other class's
/// credentials get 403 (read on an ingest path, write on a query path), none or wrong ones
/// 401; probes stay open.
#[tokio::test]
async fn read_credentials_are_forbidden_on_write_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _tsdb) = AppState::for_tests(dir.path(), LimitsConfig::default());
    let app = router(state, &two_token_policies());
    let push = |token: Option<&str>| {
        let mut r = Request::post("/loki/api/v1/push").header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let now = nerve_storage::logs::now_ns();
        r.body(Body::from(format!(
            r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[["{now}","x"]]}}]}}"#
        )))
        .unwrap()
    };
    assert_eq!(send(&app, push(None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&app, push(Some("wrong"))).await.0, StatusCode::UNAUTHORIZED);
    let (s, _, body) = send(&app, push(Some("reader"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(send(&app, push(Some("writer"))).await.0, StatusCode::NO_CONTENT);
    let q = |t: &str| {
        Request::get("/api/v1/labels")
            .header(header::AUTHORIZATION, format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&app, q("reader")).await.0, StatusCode::OK);
    assert_eq!(send(&app, q("writer")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(&app, q("wrong")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, "/-/healthy").await.0, StatusCode::OK);
}

/// Every query, ingest and admin path of the HTTP port: refused without credentials (401),
/// refused with the other class's credentials (403 either way), and let
/// through with the right ones (whatever the handler then answers).
#[tokio::test]
async fn every_query_ingest_and_admin_path_is_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let (mut state, _tsdb) = AppState::for_tests(dir.path(), LimitsConfig::default());
    // /-/quit enabled (it only triggers this token), so the writer gets past its 403.
    state.quit = Some(crate::shutdown::Shutdown::new());
    let app = router(state, &two_token_policies());
    let reads = [
        "/api/v1/query?query=up",
        "/api/v1/query_range?query=up&start=1&end=2&step=1",
        "/api/v1/series?match[]=up",
        "/api/v1/labels",
        "/api/v1/label/job/values",
        "/api/v1/metadata",
        "/api/v1/query_exemplars?query=up",
        "/api/v1/format_query?query=up",
        "/api/v1/rules",
        "/api/v1/alerts",
        "/api/v1/targets",
        "/api/v1/status/buildinfo",
        "/api/v1/status/config",
        "/api/v1/status/runtimeinfo",
        "/api/v1/status/tsdb",
        "/metrics",
        "/loki/api/v1/query?query=%7Ba%3D%22b%22%7D",
        "/loki/api/v1/query_range?query=%7Ba%3D%22b%22%7D",
        "/loki/api/v1/labels",
        "/loki/api/v1/label/a/values",
        "/loki/api/v1/series",
        "/loki/api/v1/index/stats?query=%7Ba%3D%22b%22%7D",
        "/loki/api/v1/index/volume?query=%7Ba%3D%22b%22%7D",
        "/loki/api/v1/index/volume_range?query=%7Ba%3D%22b%22%7D",
        "/loki/api/v1/status/buildinfo",
        "/loki/api/v1/tail?query=%7Ba%3D%22b%22%7D",
        "/jaeger/api/services",
        "/jaeger/api/services/x/operations",
        "/jaeger/api/traces?service=x",
        "/jaeger/api/traces/0af7651916cd43dd8448eb211c80319c",
        "/jaeger/api/dependencies",
        "/tempo/api/search",
        "/tempo/api/search/tags",
        "/tempo/api/search/tag/service.name/values",
        "/tempo/api/traces/0af7651916cd43dd8448eb211c80319c",
        "/nerve/api/v1/traces/0af7651916cd43dd8448eb211c80319c/logs",
    ];
    let writes = [
        ("POST", "/api/v1/write"),
        ("POST", "/loki/api/v1/push"),
        ("POST", "/v1/metrics"),
        ("POST", "/v1/logs"),
        ("POST", "/v1/traces"),
        ("POST", "/otlp/v1/logs"),
        ("POST", "/api/v1/otlp/v1/metrics"),
        ("POST", "/-/reload"),
        ("POST", "/-/quit"),
        ("POST", "/api/v1/admin/tsdb/snapshot"),
        ("POST", "/api/v1/admin/tsdb/delete_series?match[]=up"),
        ("POST", "/api/v1/admin/tsdb/clean_tombstones"),
        ("POST", "/loki/api/v1/delete?query=%7Ba%3D%22b%22%7D"),
        ("GET", "/loki/api/v1/delete"),
        ("DELETE", "/loki/api/v1/delete?request_id=x"),
        ("POST", "/nerve/api/v1/traces/delete?start=1&end=2"),
        ("GET", "/nerve/api/v1/traces/delete"),
    ];
    for path in reads {
        expect_guarded(&app, "GET", path, ("writer", StatusCode::FORBIDDEN), "reader").await;
    }
    for (method, path) in writes {
        expect_guarded(&app, method, path, ("reader", StatusCode::FORBIDDEN), "writer").await;
    }
    // The OTLP/HTTP port takes the same write credentials.
    let otlp_state = AppState::for_tests(&dir.path().join("otlp"), LimitsConfig::default()).0;
    let otlp = otlp_router(otlp_state, &two_token_policies());
    for path in ["/v1/metrics", "/v1/logs", "/v1/traces", "/api/v1/otlp/v1/metrics"] {
        expect_guarded(&otlp, "POST", path, ("reader", StatusCode::FORBIDDEN), "writer").await;
    }
}

/// `method path` answers 401 without credentials, `wrong.1` with token `wrong.0`, and neither
/// 401 nor 403 with token `right`.
async fn expect_guarded(app: &Router, method: &str, path: &str, wrong: (&str, StatusCode), right: &str) {
    let call = |token: Option<&str>| {
        let mut r = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        r.body(Body::empty()).unwrap()
    };
    assert_eq!(
        send(app, call(None)).await.0,
        StatusCode::UNAUTHORIZED,
        "{method} {path}"
    );
    assert_eq!(send(app, call(Some(wrong.0))).await.0, wrong.1, "{method} {path}");
    let s = send(app, call(Some(right))).await.0;
    assert!(
        s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
        "{method} {path}: {s}"
    );
}

/// Read credentials `Bearer reader`, write credentials `Bearer writer`.
fn two_token_policies() -> Policies {
    let rule = |t: &str| AccessRule {
        bearer_token: Some(Secret(t.into())),
        ..Default::default()
    };
    let auth = AuthConfig {
        read: Some(rule("reader")),
        write: Some(rule("writer")),
    };
    let (read, write) = AccessPolicy::pair(&auth).unwrap();
    Policies { read, write }
}
