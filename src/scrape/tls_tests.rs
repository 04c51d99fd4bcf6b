//! HTTPS scrapes against in-process TLS targets whose certificates the test makes: a CA, a
//! server certificate for a name that is not the target's address, a client certificate for
//! mutual TLS. Each `tls_config` key is exercised by a job of its own.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use nerve_storage::Matcher;
use nerve_storage::metrics::{Tsdb, TsdbOptions};

use super::*;
use crate::tls::testing::{make_pki, serve_tls};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_targets_follow_tls_config() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let app = || Router::new().route("/metrics", get(|| async { "tls_target_metric{k=\"v\"} 42\n" }));
    let open = serve_tls(&pki, false, app()).await;
    let mtls = serve_tls(&pki, true, app()).await;
    let tsdb = Tsdb::open(&dir.path().join("db"), TsdbOptions::default()).unwrap();
    let db = Arc::new(Db::new());
    db.set(tsdb.clone());
    let (ca, cert, key) = (&pki.ca, &pki.client_cert, &pki.client_key);
    // job name → (target, tls_config, expected up)
    let jobs = [
        (
            "ca_and_server_name",
            &open,
            format!("{{ca_file: '{ca}', server_name: nerve-test.local}}"),
            1.0,
        ),
        (
            "inline_ca",
            &open,
            format!(
                "{{ca: {:?}, server_name: nerve-test.local}}",
                std::fs::read_to_string(ca).unwrap()
            ),
            1.0,
        ),
        ("ca_wrong_name", &open, format!("{{ca_file: '{ca}'}}"), 0.0),
        ("system_roots", &open, "{server_name: nerve-test.local}".to_owned(), 0.0),
        ("insecure", &open, "{insecure_skip_verify: true}".to_owned(), 1.0),
        (
            "client_cert",
            &mtls,
            format!("{{ca_file: '{ca}', server_name: nerve-test.local, cert_file: '{cert}', key_file: '{key}'}}"),
            1.0,
        ),
        (
            "no_client_cert",
            &mtls,
            format!("{{ca_file: '{ca}', server_name: nerve-test.local}}"),
            0.0,
        ),
    ];
    let mut yaml = String::from("scrape_configs:\n");
    for (job, target, tls, _) in &jobs {
        yaml.push_str(&format!(
            "  - job_name: {job}\n    scheme: https\n    scrape_interval: 200ms\n    scrape_timeout: 150ms\n    \
             tls_config: {tls}\n    static_configs:\n      - targets: ['{target}']\n"
        ));
    }
    let m = Manager::new(db);
    m.apply(&Config::parse(&yaml).unwrap()).unwrap();

    let up_of = |job: &str| -> Option<f64> {
        let q = tsdb.querier(0, i64::MAX).unwrap();
        let s = q
            .select(&[Matcher::equal("__name__", "up"), Matcher::equal("job", job)])
            .unwrap();
        s.first()?.samples().unwrap().first().map(|x| x.v)
    };
    for _ in 0..200 {
        if jobs.iter().all(|(job, ..)| up_of(job).is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let snap = m.registry().snapshot();
    for (job, _, _, want) in &jobs {
        let last = snap[*job].active[0].last();
        assert_eq!(up_of(job), Some(*want), "{job}: lastError {:?}", last.error);
    }
    let err = |job: &str| snap[job].active[0].last().error.clone();
    assert!(err("ca_wrong_name").contains("certificate"), "{}", err("ca_wrong_name"));
    assert!(err("system_roots").contains("certificate"), "{}", err("system_roots"));
    assert_eq!(
        snap["ca_and_server_name"].active[0].spec.url,
        format!("https://{open}/metrics")
    );
    let q = tsdb.querier(0, i64::MAX).unwrap();
    let got = q
        .select(&[
            Matcher::equal("__name__", "tls_target_metric"),
            Matcher::equal("job", "client_cert"),
        ])
        .unwrap();
    assert_eq!(got[0].samples().unwrap()[0].v, 42.0);
    m.shutdown().await;
}

#[tokio::test]
async fn invalid_tls_config_fails_the_reload_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::new());
    db.set(Tsdb::open(dir.path(), TsdbOptions::default()).unwrap());
    let m = Manager::new(db);
    let cfg = Config::parse(
        "scrape_configs:\n  - job_name: x\n    scheme: https\n    tls_config: {ca_file: /nonexistent/ca.pem}\n    \
         static_configs:\n      - targets: ['127.0.0.1:1']\n",
    )
    .unwrap();
    let e = m.apply(&cfg).unwrap_err();
    assert!(e.contains("unable to read ca_file /nonexistent/ca.pem"), "{e}");
}
