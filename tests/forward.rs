//! Forwarding against real receivers:
//! - Debian's Prometheus 2.42 with `--web.enable-remote-write-receiver` gets exactly the series
//!   and samples written into nerve, including everything written while it was down (and
//!   across a `kill -9` of nerve in the meantime: the queue is on disk);
//! - a second nerve gets the OTLP traces and logs the first one accepted.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, Peer, client, encode, eventually, free_port, remote_write, require, start_prometheus};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};
use serde_json::{Value, json};

/// Series → samples `(t_ms, value bits)`.
type Expected = BTreeMap<String, Vec<(i64, u64)>>;

fn start_peer_prometheus(dir: &Path, port: u16) -> Peer {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").unwrap();
    let p = start_prometheus(
        &require("prometheus"),
        &cfg,
        &dir.join("tsdb"),
        port,
        &["--web.enable-remote-write-receiver"],
    );
    let ready = eventually(Duration::from_secs(60), || {
        client()
            .get(format!("http://127.0.0.1:{port}/-/ready"))
            .send()
            .ok()
            .filter(|r| r.status() == 200)
    });
    assert!(ready.is_some(), "prometheus did not become ready");
    p
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Writes batch `b` into nerve: 10 series × 20 samples, timestamps increasing across batches.
fn write_batch(n: &Nerve, b: usize, t0: i64, exp: &mut Expected) {
    let mut req = WriteRequest::default();
    for s in 0..10 {
        let mut ts = TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "forward_test".into(),
                },
                Label {
                    name: "series".into(),
                    value: s.to_string(),
                },
            ],
            ..Default::default()
        };
        for i in 0..20 {
            let t = t0 + ((b * 20 + i) * 1000) as i64;
            let v = (b * 1000 + s * 20 + i) as f64 / 8.0;
            ts.samples.push(Sample { value: v, timestamp: t });
            exp.entry(s.to_string()).or_default().push((t, v.to_bits()));
        }
        req.timeseries.push(ts);
    }
    remote_write(n, nerve_proto::encode_v1(&req));
}

/// What Prometheus holds for `forward_test`, in the same shape.
fn prometheus_has(port: u16) -> Option<Expected> {
    let url = format!(
        "http://127.0.0.1:{port}/api/v1/query?query={}&time={}",
        encode("forward_test[2h]"),
        now_ms() as f64 / 1000.0 + 60.0
    );
    let v: Value = serde_json::from_str(&client().get(url).send().ok()?.text().ok()?).ok()?;
    let mut out = Expected::new();
    for s in v["data"]["result"].as_array()? {
        let key = s["metric"]["series"].as_str()?.to_string();
        let samples = s["values"]
            .as_array()?
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                let v: f64 = p[1].as_str().unwrap().parse().unwrap();
                (t, v.to_bits())
            })
            .collect();
        out.insert(key, samples);
    }
    Some(out)
}

fn wait_for(port: u16, exp: &Expected, what: &str) {
    let mut last = None;
    let ok = eventually(Duration::from_secs(60), || {
        let got = prometheus_has(port);
        let done = got.as_ref() == Some(exp);
        last = got;
        done.then_some(())
    });
    assert!(
        ok.is_some(),
        "{what}: Prometheus never held exactly what nerve acknowledged; last seen {} series, want {}",
        last.map_or(0, |l| l.len()),
        exp.len()
    );
    let samples: usize = exp.values().map(Vec::len).sum();
    eprintln!(
        "{what}: Prometheus holds exactly the {} series and {samples} samples sent",
        exp.len()
    );
}

fn metric(n: &Nerve, name: &str) -> f64 {
    let text = client().get(n.url("/metrics")).send().unwrap().text().unwrap();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn remote_write_forwarding_reaches_prometheus_and_survives_its_outage() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let prom_dir = dir.path().join("prom");
    let prom = start_peer_prometheus(&prom_dir, port);
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        format!("forward:\n  remote_write:\n    - url: http://127.0.0.1:{port}/api/v1/write\n"),
    )
    .unwrap();
    let data = dir.path().join("nerve");
    let args = ["--config", cfg.to_str().unwrap()];
    let n = Nerve::start(&data, &args);
    let t0 = now_ms() - 30 * 60_000;
    let mut exp = Expected::new();

    write_batch(&n, 0, t0, &mut exp);
    wait_for(port, &exp, "receiver up");

    // The receiver goes away; nerve keeps acknowledging and queues on disk.
    drop(prom);
    write_batch(&n, 1, t0, &mut exp);
    let failing = eventually(Duration::from_secs(30), || {
        (metric(&n, "nerve_forward_failed_requests_total") > 0.0).then_some(())
    });
    assert!(
        failing.is_some(),
        "no failed delivery counted while the receiver is down"
    );
    assert!(metric(&n, "nerve_forward_pending_bytes") > 0.0, "nothing pending");
    // nerve crashes too; the queue survives on disk.
    n.kill9();
    let n = Nerve::start(&data, &args);
    write_batch(&n, 2, t0, &mut exp);

    let _prom = start_peer_prometheus(&prom_dir, port);
    wait_for(port, &exp, "after the outage");
    let drained = eventually(Duration::from_secs(30), || {
        (metric(&n, "nerve_forward_pending_bytes") == 0.0).then_some(())
    });
    assert!(drained.is_some(), "queue not drained");
    assert_eq!(metric(&n, "nerve_forward_dropped_records_total"), 0.0);
}

#[test]
fn otlp_and_loki_forwarding_to_a_second_nerve() {
    let dir = tempfile::tempdir().unwrap();
    let b = Nerve::start(&dir.path().join("b"), &[]);
    let cfg = dir.path().join("a.yml");
    std::fs::write(
        &cfg,
        format!(
            "forward:\n  otlp:\n    - url: http://{}\n  loki:\n    - url: {}\n  remote_write:\n    - url: {}\n      protobuf_message: io.prometheus.write.v2.Request\n",
            b.otlp_http_addr,
            b.url("/loki/api/v1/push"),
            b.url("/api/v1/write")
        ),
    )
    .unwrap();
    let a = Nerve::start(&dir.path().join("a"), &["--config", cfg.to_str().unwrap()]);
    let trace = "7ace1d000000000000000000000000f0";
    let start = (now_ms() as u64 - 5_000) * 1_000_000;
    let spans = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "fwd-svc"}}]},
        "scopeSpans": [{"spans": [
            {"traceId": trace, "spanId": "00000000000000a1", "name": "GET /fwd", "kind": 2,
             "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 9_000_000).to_string()},
            {"traceId": trace, "spanId": "00000000000000a2", "parentSpanId": "00000000000000a1", "name": "db",
             "kind": 3, "startTimeUnixNano": (start + 1_000_000).to_string(),
             "endTimeUnixNano": (start + 5_000_000).to_string()}
        ]}]
    }]});
    let logs = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "fwd-svc"}}]},
        "scopeLogs": [{"logRecords": [
            {"timeUnixNano": start.to_string(), "body": {"stringValue": "forwarded log line"},
             "traceId": trace, "spanId": "00000000000000a1", "severityText": "INFO"}
        ]}]
    }]});
    for (path, body) in [("/v1/traces", &spans), ("/v1/logs", &logs)] {
        let r = client()
            .post(a.otlp_http_url(path))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}: {}", r.text().unwrap_or_default());
    }
    let got = eventually(Duration::from_secs(30), || {
        let r = client()
            .get(b.url(&format!("/jaeger/api/traces/{trace}")))
            .send()
            .ok()?;
        let v: Value = serde_json::from_str(&r.text().ok()?).ok()?;
        let mut names: Vec<String> = v["data"][0]["spans"]
            .as_array()?
            .iter()
            .map(|s| {
                format!(
                    "{}:{}",
                    s["spanID"].as_str().unwrap(),
                    s["operationName"].as_str().unwrap()
                )
            })
            .collect();
        names.sort();
        (names.len() == 2).then_some(names)
    });
    assert_eq!(
        got.expect("trace forwarded to the second nerve"),
        vec!["00000000000000a1:GET /fwd", "00000000000000a2:db"]
    );
    let line = eventually(Duration::from_secs(30), || {
        let v = b.get_json(&format!(
            "/loki/api/v1/query_range?query={}&start={}",
            encode("{service_name=\"fwd-svc\"}"),
            start - 60_000_000_000
        ));
        v["data"]["result"][0]["values"][0][1].as_str().map(str::to_owned)
    });
    assert_eq!(line.as_deref(), Some("forwarded log line"));
    // A Loki push into the first nerve reaches the second through forward.loki.
    let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let push = json!({"streams": [{"stream": {"job": "fwd-loki", "env": "test"},
        "values": [[ts.to_string(), "pushed via loki", {"trace_id": trace}]]}]});
    let r = client()
        .post(a.url("/loki/api/v1/push"))
        .header("Content-Type", "application/json")
        .body(push.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let got = eventually(Duration::from_secs(30), || {
        let v = b.get_json(&format!(
            "/loki/api/v1/query_range?query={}&start={}",
            encode("{job=\"fwd-loki\"}"),
            ts - 60_000_000_000
        ));
        let s = &v["data"]["result"][0];
        let line = s["values"][0][1].as_str()?;
        Some((
            line.to_owned(),
            s["stream"]["env"].as_str()?.to_owned(),
            s["values"][0][0].as_str()?.to_owned(),
        ))
    });
    assert_eq!(
        got.expect("log push forwarded to the second nerve"),
        ("pushed via loki".to_owned(), "test".to_owned(), ts.to_string())
    );
    // Metrics go to the second nerve as remote write 2.0.
    let mut exp = Expected::new();
    let t0 = now_ms() - 10 * 60_000;
    write_batch(&a, 0, t0, &mut exp);
    let got = eventually(Duration::from_secs(30), || {
        let v = b.get_json(&format!(
            "/api/v1/query?query={}&time={}",
            encode("count_over_time(forward_test[1h])"),
            now_ms() / 1000
        ));
        let r = v["data"]["result"].as_array()?;
        let complete = r.len() == exp.len() && r.iter().all(|s| s["value"][1] == "20");
        complete.then_some(r.len())
    });
    assert_eq!(got, Some(10), "every series and sample forwarded over remote write 2.0");
}
