//! Debian's real Prometheus 2.42 remote-writes into nerve (scraping itself as the data
//! source); the series it sent must appear in nerve with identical labels, and `promtool
//! query series|labels` must work against nerve.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::{Nerve, client, eventually, free_port, require, start_prometheus};

fn series_set(v: &serde_json::Value) -> BTreeSet<String> {
    v["data"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|s| {
            let mut kv: Vec<String> = s
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                .collect();
            kv.sort();
            kv.join(",")
        })
        .collect()
}

#[test]
fn prometheus_remote_writes_into_nerve_and_promtool_reads_back() {
    let prom_bin = require("prometheus");
    let promtool = require("promtool");
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(&dir.path().join("nerve"), &[]);
    let port = free_port();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
remote_write:
  - url: "{}"
    queue_config:
      batch_send_deadline: 1s
      max_shards: 2
    metadata_config:
      send_interval: 2s
"#,
            n.url("/api/v1/write")
        ),
    )
    .unwrap();
    let prom = start_prometheus(&prom_bin, &cfg, &dir.path().join("prom"), port, &[]);
    let prom_url = format!("http://127.0.0.1:{port}");
    // Wait for a few sends: Prometheus's own series show up in nerve.
    let got = eventually(Duration::from_secs(90), || {
        let v = n.get_json("/api/v1/series?match[]={job=\"prometheus\"}");
        let s = series_set(&v);
        (s.len() > 100).then_some(s)
    })
    .unwrap_or_else(|| panic!("no remote-written series arrived; nerve log:\n{}", n.logs()));
    assert!(
        got.iter()
            .any(|s| s.contains("__name__=up,") && s.contains("instance=127.0.0.1")),
        "no up series"
    );

    // Every series Prometheus holds for a stable metric must be in nerve with the same labels.
    for metric in [
        "up",
        "prometheus_build_info",
        "prometheus_tsdb_head_series",
        "go_goroutines",
        "process_cpu_seconds_total",
    ] {
        let q = format!("/api/v1/series?match[]={metric}");
        let theirs = eventually(Duration::from_secs(30), || {
            let body = client().get(format!("{prom_url}{q}")).send().ok()?.text().ok()?;
            let s = series_set(&serde_json::from_str(&body).ok()?);
            (!s.is_empty()).then_some(s)
        })
        .unwrap_or_else(|| panic!("prometheus has no {metric}"));
        let ours = eventually(Duration::from_secs(30), || {
            let s = series_set(&n.get_json(&q));
            theirs.is_subset(&s).then_some(s)
        });
        assert!(
            ours.is_some(),
            "{metric}: nerve lacks {:?}",
            theirs.difference(&series_set(&n.get_json(&q))).collect::<Vec<_>>()
        );
    }

    // promtool as a real API client.
    let out = Command::new(&promtool)
        .args(["query", "series", &n.url(""), "--match=up"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "promtool query series failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("__name__=\"up\"") && text.contains("job=\"prometheus\""),
        "promtool series output: {text}"
    );
    let out = Command::new(&promtool)
        .args(["query", "labels", &n.url(""), "job"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool query labels failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == "prometheus")
    );
    let out = Command::new(&promtool)
        .args(["query", "labels", &n.url(""), "__name__"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == "prometheus_build_info")
    );

    drop(prom);
    assert!(n.stop().success());
}
