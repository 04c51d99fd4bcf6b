//! The manager end to end against an in-process HTTP target: headers, gzip, OpenMetrics by
//! Content-Type, basic auth, synthetic series, and staleness when a job is removed.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use nerve_storage::Matcher;
use nerve_storage::metrics::{Tsdb, TsdbOptions, is_stale_nan};
use parking_lot::Mutex;

use super::*;

type Seen = Arc<Mutex<Vec<HeaderMap>>>;

async fn serve_target(seen: Seen) -> String {
    let om = "# TYPE req counter\nreq_total{path=\"/\"} 7 # {trace_id=\"t1\"} 1\n# EOF\n";
    let app = Router::new()
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let seen = seen.clone();
                async move {
                    let authed = headers.get(header::AUTHORIZATION).is_some_and(|v| v == "Basic dTpw");
                    seen.lock().push(headers);
                    if !authed {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    (
                        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0")],
                        om,
                    )
                        .into_response()
                }
            }),
        )
        .layer(tower_http::compression::CompressionLayer::new());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

fn values(db: &Tsdb, name: &str) -> Vec<(nerve_storage::Labels, Vec<f64>)> {
    let q = db.querier(0, i64::MAX).unwrap();
    q.select(&[Matcher::equal("__name__", name)])
        .unwrap()
        .into_iter()
        .map(|s| {
            let v = s.samples().unwrap().into_iter().map(|x| x.v).collect();
            (s.labels, v)
        })
        .collect()
}

async fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met in 5s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_scrapes_reloads_and_marks_removed_targets_stale() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    let db = Arc::new(Db::new());
    db.set(tsdb.clone());
    let seen: Seen = Arc::default();
    let addr = serve_target(seen.clone()).await;
    let m = Manager::new(db);
    let yaml = format!(
        "scrape_configs:\n  - job_name: app\n    scrape_interval: 200ms\n    scrape_timeout: 150ms\n    \
         basic_auth: {{username: u, password: p}}\n    static_configs:\n      - targets: ['{addr}']\n        labels: {{env: test}}\n"
    );
    let cfg = Config::parse(&yaml).unwrap();
    m.apply(&cfg).unwrap();
    wait_for(|| values(&tsdb, "req_total").first().is_some_and(|(_, v)| v.len() >= 2)).await;

    let (labels, _) = &values(&tsdb, "req_total")[0];
    assert_eq!(labels.get("job"), Some("app"));
    assert_eq!(labels.get("instance"), Some(addr.as_str()));
    assert_eq!(labels.get("env"), Some("test"));
    let (up_labels, up) = &values(&tsdb, "up")[0];
    assert_eq!(up[0], 1.0);
    assert_eq!(up_labels.get("env"), Some("test"));
    assert_eq!(values(&tsdb, "scrape_samples_scraped")[0].1[0], 1.0);
    let ex = tsdb
        .exemplars(&[Matcher::equal("__name__", "req_total")], 0, i64::MAX)
        .unwrap();
    assert_eq!(ex[0].1[0].labels.get("trace_id"), Some("t1"));
    {
        let h = &seen.lock()[0];
        let accept = h.get(header::ACCEPT).unwrap().to_str().unwrap();
        assert!(
            accept.starts_with("application/openmetrics-text;version=1.0.0"),
            "{accept}"
        );
        assert_eq!(h.get("x-prometheus-scrape-timeout-seconds").unwrap(), "0.15");
        assert!(
            h.get(header::ACCEPT_ENCODING)
                .unwrap()
                .to_str()
                .unwrap()
                .contains("gzip")
        );
    }
    let snap = m.registry().snapshot();
    let t = &snap["app"].active[0];
    assert_eq!(t.spec.url, format!("http://{addr}/metrics"));
    assert_eq!(t.last().health.as_str(), "up");

    // An unchanged config keeps the pool (and its task) as is.
    m.apply(&cfg).unwrap();
    assert!(Arc::ptr_eq(&m.registry().snapshot()["app"].active[0], t));

    // Removing the job writes staleness markers for its series and synthetic series.
    m.apply(&Config::parse("scrape_configs:\n  - job_name: other\n    static_configs: []\n").unwrap())
        .unwrap();
    wait_for(|| values(&tsdb, "up")[0].1.last().is_some_and(|v| is_stale_nan(*v))).await;
    wait_for(|| values(&tsdb, "req_total")[0].1.last().is_some_and(|v| is_stale_nan(*v))).await;
    assert!(!m.registry().snapshot().contains_key("app"));
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_scrapes_report_down_and_invalid_reload_keeps_config() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    let db = Arc::new(Db::new());
    db.set(tsdb.clone());
    let seen: Seen = Arc::default();
    let addr = serve_target(seen).await;
    let cfg_path = dir.path().join("nerve.yml");
    // No credentials: the target answers 401.
    std::fs::write(
        &cfg_path,
        format!("scrape_configs:\n  - job_name: app\n    scrape_interval: 200ms\n    scrape_timeout: 100ms\n    static_configs:\n      - targets: ['{addr}']\n"),
    )
    .unwrap();
    let m = Manager::new(db);
    m.set_origin(None, Some(cfg_path.clone()));
    m.reload().await.unwrap();
    wait_for(|| values(&tsdb, "up").first().is_some_and(|(_, v)| !v.is_empty())).await;
    assert_eq!(values(&tsdb, "up")[0].1[0], 0.0);
    let last = m.registry().snapshot()["app"].active[0].last();
    assert_eq!(last.health.as_str(), "down");
    assert_eq!(last.error, "server returned HTTP status 401 Unauthorized");

    std::fs::write(&cfg_path, "scrape_configs:\n  - job_name: app\n    bogus: 1\n").unwrap();
    let e = m.reload().await.unwrap_err();
    assert!(e.contains("bogus"), "{e}");
    assert!(m.registry().snapshot().contains_key("app"), "old config keeps running");
    m.shutdown().await;
}

#[test]
fn zero_config_scrapes_itself() {
    let jobs = effective_jobs(&Config::default(), Some("127.0.0.1:9090"));
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].job_name, SELF_JOB);
    assert_eq!(jobs[0].static_configs[0].targets, ["127.0.0.1:9090"]);
    let cfg = Config::parse("scrape_configs:\n  - job_name: x\n").unwrap();
    assert_eq!(effective_jobs(&cfg, Some("127.0.0.1:9090"))[0].job_name, "x");
}
