//! Scraping a real target: Debian's `prometheus-node-exporter`, scraped by nerve every 1 s.
//! `up{job="node"}` is 1 and node_* series carry job/instance; after the exporter is stopped
//! `up` becomes 0 and its series end with staleness markers. A second test scrapes the same
//! exporter with nerve and Debian's `prometheus` side by side and compares the series sets.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Nerve, Peer, client, eventually, free_port, require, start_prometheus};
use nerve_storage::Matcher;
use nerve_storage::metrics::{Sample, Tsdb, TsdbOptions, is_stale_nan};

/// Starts node_exporter on a free port with a few fast, stable collectors.
fn node_exporter() -> (Peer, String) {
    let bin = require("prometheus-node-exporter");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(bin)
        .arg(format!("--web.listen-address={addr}"))
        .args([
            "--collector.disable-defaults",
            "--collector.cpu",
            "--collector.loadavg",
            "--collector.meminfo",
            "--collector.time",
            "--collector.uname",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node exporter");
    let p = Peer(child);
    let url = format!("http://{addr}/metrics");
    eventually(Duration::from_secs(30), || {
        client().get(&url).send().ok().filter(|r| r.status().is_success())
    })
    .expect("node exporter did not come up");
    (p, addr)
}

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("nerve.yml");
    std::fs::write(&p, body).unwrap();
    p
}

/// `match[]` → sorted `name=value,...` strings.
fn series_set(v: &serde_json::Value) -> BTreeSet<String> {
    v["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    let mut kv: Vec<String> = s
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect();
                    kv.sort();
                    kv.join(",")
                })
                .collect()
        })
        .unwrap_or_default()
}

fn stored(data_dir: &Path, m: &[Matcher]) -> Vec<(nerve_storage::Labels, Vec<Sample>)> {
    let db = Tsdb::open(&data_dir.join("metrics"), TsdbOptions::default()).expect("open TSDB");
    let q = db.querier(0, i64::MAX).unwrap();
    let out = q
        .select(m)
        .unwrap()
        .into_iter()
        .map(|s| {
            let v = s.samples().unwrap();
            (s.labels, v)
        })
        .collect();
    db.close().unwrap();
    out
}

fn target_health(n: &Nerve, job: &str) -> Option<String> {
    let v = n.get_json("/api/v1/targets?state=active");
    v["data"]["activeTargets"]
        .as_array()?
        .iter()
        .find(|t| t["scrapePool"] == job)
        .and_then(|t| t["health"].as_str().map(str::to_owned))
}

#[test]
fn scrapes_node_exporter_and_marks_its_series_stale_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (exporter, addr) = node_exporter();
    let cfg = write_config(
        dir.path(),
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    );
    let cfg_arg = cfg.to_string_lossy().into_owned();
    let n = Nerve::start(&data, &["--config", &cfg_arg]);
    let up = eventually(Duration::from_secs(30), || {
        let s = series_set(&n.get_json("/api/v1/series?match[]=up{job=\"node\"}"));
        (!s.is_empty()).then_some(s)
    })
    .unwrap_or_else(|| panic!("no up{{job=\"node\"}}; log:\n{}", n.logs()));
    assert_eq!(up.len(), 1);
    assert!(
        up.iter().next().unwrap().contains(&format!("instance={addr}")),
        "{up:?}"
    );
    let node = series_set(&n.get_json("/api/v1/series?match[]={__name__=~\"node_.*\"}"));
    assert!(node.len() > 10, "few node_* series: {node:?}");
    for s in &node {
        assert!(s.contains("job=node") && s.contains(&format!("instance={addr}")), "{s}");
    }
    // The targets API shows the target, and the scrape succeeded.
    assert_eq!(
        eventually(Duration::from_secs(10), || target_health(&n, "node")
            .filter(|h| h == "up"))
        .as_deref(),
        Some("up")
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(n.stop().success());

    let ups = stored(
        &data,
        &[Matcher::equal("__name__", "up"), Matcher::equal("job", "node")],
    );
    assert_eq!(ups.len(), 1);
    let last = ups[0].1.last().expect("up samples");
    assert_eq!(last.v, 1.0, "latest up sample");

    // Again, then stop the exporter: up becomes 0 and its series get staleness markers.
    let t_restart = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let n = Nerve::start(&data, &["--config", &cfg_arg]);
    eventually(Duration::from_secs(15), || {
        let v = n.get_json("/api/v1/targets");
        let t = v["data"]["activeTargets"].as_array()?.first()?.clone();
        (t["health"] == "up" && t["lastScrapeDuration"].as_f64()? > 0.0).then_some(())
    })
    .expect("scraping after restart");
    drop(exporter);
    eventually(Duration::from_secs(15), || {
        target_health(&n, "node").filter(|h| h == "down")
    })
    .unwrap_or_else(|| panic!("target never went down; log:\n{}", n.logs()));
    let v = n.get_json("/api/v1/targets");
    let err = v["data"]["activeTargets"][0]["lastError"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(!err.is_empty(), "lastError empty: {v}");
    std::thread::sleep(Duration::from_millis(1200));
    assert!(n.stop().success());

    let ups = stored(
        &data,
        &[Matcher::equal("__name__", "up"), Matcher::equal("job", "node")],
    );
    assert_eq!(ups[0].1.last().unwrap().v, 0.0, "latest up after the exporter stopped");
    let node = stored(
        &data,
        &[
            Matcher::new(nerve_storage::MatchOp::Regex, "__name__", "node_.+").unwrap(),
            Matcher::equal("job", "node"),
        ],
    );
    assert!(!node.is_empty());
    for (labels, samples) in &node {
        let after: Vec<&Sample> = samples.iter().filter(|s| s.t >= t_restart).collect();
        let last = after
            .last()
            .unwrap_or_else(|| panic!("{labels}: no samples after restart"));
        assert!(
            is_stale_nan(last.v),
            "{labels}: last sample {last:?} is not a staleness marker"
        );
        assert!(
            after.iter().any(|s| !is_stale_nan(s.v)),
            "{labels}: no real sample after restart"
        );
    }
}

#[test]
fn same_series_as_prometheus_when_scraping_the_same_target() {
    let prom_bin = require("prometheus");
    let dir = tempfile::tempdir().unwrap();
    let (_exporter, addr) = node_exporter();
    let job = format!(
        "scrape_configs:\n  - job_name: node\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['{addr}']\n        labels: {{env: side-by-side}}\n    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: 'go_memstats_.*'\n        action: drop\n"
    );
    let cfg = write_config(dir.path(), &job);
    let cfg_arg = cfg.to_string_lossy().into_owned();
    let n = Nerve::start(&dir.path().join("nerve"), &["--config", &cfg_arg]);
    let prom_port = free_port();
    let _prom = start_prometheus(&prom_bin, &cfg, &dir.path().join("prom"), prom_port, &[]);
    let prom_series = |q: &str| -> Option<BTreeSet<String>> {
        let body = client()
            .get(format!("http://127.0.0.1:{prom_port}{q}"))
            .send()
            .ok()?
            .text()
            .ok()?;
        Some(series_set(&serde_json::from_str(&body).ok()?))
    };
    let q = "/api/v1/series?match[]={job=\"node\"}";
    // Both have scraped a few times once their sets agree; allow time for the first scrapes.
    let mut last = (BTreeSet::new(), BTreeSet::new());
    let same = eventually(Duration::from_secs(60), || {
        let theirs = prom_series(q)?;
        let ours = series_set(&n.get_json(q));
        let ok = theirs.len() > 20 && theirs == ours;
        last = (theirs, ours);
        ok.then_some(())
    });
    let (theirs, ours) = last;
    if same.is_none() {
        // Say why Prometheus has what it has (it once had no series at all in CI).
        let targets = client()
            .get(format!("http://127.0.0.1:{prom_port}/api/v1/targets"))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_else(|e| e.to_string());
        panic!(
            "series differ.\nonly in prometheus: {:#?}\nonly in nerve: {:#?}\nprometheus targets: {targets}",
            theirs.difference(&ours).collect::<Vec<_>>(),
            ours.difference(&theirs).collect::<Vec<_>>()
        );
    }
    assert!(ours.iter().all(|s| s.contains("env=side-by-side")));
    assert!(!ours.iter().any(|s| s.contains("go_memstats_")));
    assert!(n.stop().success());
}

#[test]
fn zero_config_self_scrape_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(&dir.path().join("data"), &[]);
    let v = n.get_json("/api/v1/targets");
    let t = &v["data"]["activeTargets"][0];
    assert_eq!(t["scrapePool"], "nerve", "{v}");
    assert_eq!(t["labels"]["job"], "nerve");
    assert_eq!(t["scrapeUrl"], format!("http://{}/metrics", n.addr));
    drop(n);

    // With a config file: POST /-/reload picks up a new job; an invalid file is refused.
    let cfg = write_config(
        dir.path(),
        "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['127.0.0.1:1']}]\n",
    );
    let cfg_arg = cfg.to_string_lossy().into_owned();
    let n = Nerve::start(&dir.path().join("data2"), &["--config", &cfg_arg]);
    let pools = |n: &Nerve| -> BTreeSet<String> {
        let v = n.get_json("/api/v1/targets");
        v["data"]["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["scrapePool"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(pools(&n), BTreeSet::from(["a".to_owned()]));
    write_config(
        dir.path(),
        "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['127.0.0.1:1']}]\n  - job_name: b\n    static_configs: [{targets: ['127.0.0.1:2']}]\n",
    );
    let r = client().post(n.url("/-/reload")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(pools(&n), BTreeSet::from(["a".to_owned(), "b".to_owned()]));
    write_config(dir.path(), "scrape_configs:\n  - job_name: a\n    lables: {}\n");
    let r = client().post(n.url("/-/reload")).send().unwrap();
    assert_eq!(r.status().as_u16(), 500);
    assert!(r.text().unwrap().contains("lables"));
    assert_eq!(pools(&n), BTreeSet::from(["a".to_owned(), "b".to_owned()]));
}
