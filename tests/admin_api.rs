//! The TSDB admin API over HTTP: disabled by default, behind the write credentials when on;
//! `delete_series` hides data at once and for good (restart, `clean_tombstones`), and a
//! snapshot is a TSDB directory that opens with everything in it.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{Nerve, client, encode};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};
use nerve_storage::Matcher;
use nerve_storage::metrics::{Tsdb, TsdbOptions};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn write(n: &Nerve, token: &str, t0: i64) {
    let req = WriteRequest {
        timeseries: ["keep", "drop"]
            .iter()
            .map(|which| TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "admin_test".into(),
                    },
                    Label {
                        name: "which".into(),
                        value: (*which).into(),
                    },
                ],
                samples: (0..10)
                    .map(|i| Sample {
                        value: i as f64,
                        timestamp: t0 + i * 1000,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let r = client()
        .post(n.url("/api/v1/write"))
        .bearer_auth(token)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(nerve_proto::encode_v1(&req))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
}

fn series(n: &Nerve) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(
        &client()
            .get(n.url(&format!("/api/v1/series?match[]={}", encode("admin_test"))))
            .bearer_auth("reader")
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    let mut out: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["which"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

fn admin(n: &Nerve, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = client().post(n.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().unwrap();
    (r.status().as_u16(), r.text().unwrap_or_default())
}

#[test]
fn admin_api_disabled_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let (s, body) = admin(&n, "/api/v1/admin/tsdb/snapshot", None);
    assert_eq!(s, 503);
    assert!(body.contains("admin APIs disabled"), "{body}");
}

#[test]
fn delete_series_snapshot_and_clean_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        "server:\n  enable_admin_api: true\nauth:\n  write:\n    bearer_token: writer\n  read:\n    bearer_token: reader\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let args = ["--config", cfg.to_str().unwrap()];
    let n = Nerve::start(&data, &args);
    let t0 = now_ms() - 60_000;
    write(&n, "writer", t0);
    assert_eq!(series(&n), ["drop", "keep"]);

    let delete = format!(
        "/api/v1/admin/tsdb/delete_series?match[]={}",
        encode("admin_test{which=\"drop\"}")
    );
    assert_eq!(admin(&n, &delete, None).0, 401, "no credentials");
    assert_eq!(admin(&n, &delete, Some("reader")).0, 403, "read credentials");
    assert_eq!(
        admin(&n, "/api/v1/admin/tsdb/delete_series", Some("writer")).0,
        400,
        "no match[]"
    );
    assert_eq!(admin(&n, &delete, Some("writer")).0, 204);
    assert_eq!(series(&n), ["keep"], "deleted at once");

    let (s, body) = admin(&n, "/api/v1/admin/tsdb/snapshot", Some("writer"));
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let name = v["data"]["name"].as_str().unwrap().to_owned();
    assert!(name.len() > 17 && name.contains('T') && name.contains('Z'), "{name}");

    assert_eq!(admin(&n, "/api/v1/admin/tsdb/clean_tombstones", Some("writer")).0, 204);
    n.kill9();
    let n = Nerve::start(&data, &args);
    assert_eq!(series(&n), ["keep"], "deletion survives kill -9");
    drop(n);

    // The snapshot opens as a TSDB, with the head in it and the deletion applied.
    let snap = Tsdb::open(
        &data.join("snapshots").join(&name).join("metrics"),
        TsdbOptions::default(),
    )
    .unwrap();
    let q = snap.querier(i64::MIN, i64::MAX).unwrap();
    let got = q.select(&[Matcher::equal("__name__", "admin_test")]).unwrap();
    let names: Vec<String> = got.iter().map(|s| s.labels.to_string()).collect();
    assert_eq!(got.len(), 1, "{names:?}");
    assert_eq!(got[0].labels.get("which"), Some("keep"));
    assert_eq!(got[0].samples().unwrap().len(), 10);
}

#[test]
fn log_and_span_deletion_by_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(&cfg, "server:\n  enable_admin_api: true\n").unwrap();
    let data = dir.path().join("data");
    let args = ["--config", cfg.to_str().unwrap()];
    let n = Nerve::start(&data, &args);
    let now_ns = now_ms() as u128 * 1_000_000;
    let t = |s: u128| (now_ns - 60_000_000_000 + s * 1_000_000_000).to_string();
    let push = serde_json::json!({"streams": [
        {"stream": {"job": "del"}, "values": [[t(0), "a0"], [t(10), "a10"], [t(20), "a20"]]},
        {"stream": {"job": "keep"}, "values": [[t(10), "k10"]]}
    ]});
    let r = client()
        .post(n.url("/loki/api/v1/push"))
        .header("Content-Type", "application/json")
        .body(push.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let lines = |n: &Nerve| -> Vec<String> {
        let v = n.get_json(&format!(
            "/loki/api/v1/query_range?query={}&start={}&direction=forward",
            encode("{job=~\"del|keep\"}"),
            now_ns - 120_000_000_000
        ));
        let mut out: Vec<String> = v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e[1].as_str().unwrap().to_owned())
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(lines(&n), ["a0", "a10", "a20", "k10"]);
    // Loki's API: a selector and a range (seconds here).
    let start_s = (now_ns - 60_000_000_000) / 1_000_000_000 + 5;
    let end_s = start_s + 10;
    let (s, body) = admin(
        &n,
        &format!(
            "/loki/api/v1/delete?query={}&start={start_s}&end={end_s}",
            encode("{job=\"del\"}")
        ),
        None,
    );
    assert_eq!(s, 204, "{body}");
    assert_eq!(lines(&n), ["a0", "a20", "k10"], "a10 deleted at once");
    let (s, body) = admin(
        &n,
        &format!("/loki/api/v1/delete?query={}", encode("{job=\"del\"} |= \"x\"")),
        None,
    );
    assert_eq!(s, 400, "line filters are refused: {body}");
    let listed: serde_json::Value = serde_json::from_str(
        &client()
            .get(n.url("/loki/api/v1/delete"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let id = listed[0]["request_id"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["query"], "{job=\"del\"}");

    // Spans: one trace early in the range, one late.
    let span = |trace: &str, at: u128| {
        serde_json::json!({"traceId": trace, "spanId": "00000000000000b1", "name": "op", "kind": 2,
            "startTimeUnixNano": t(at), "endTimeUnixNano": t(at + 1)})
    };
    let early = "de1e7e00000000000000000000000001";
    let late = "de1e7e00000000000000000000000002";
    let body = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "del-svc"}}]},
        "scopeSpans": [{"spans": [span(early, 0), span(late, 30)]}]}]});
    let r = client()
        .post(n.otlp_http_url("/v1/traces"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let found = |n: &Nerve, id: &str| {
        client()
            .get(n.url(&format!("/jaeger/api/traces/{id}")))
            .send()
            .unwrap()
            .status()
            == 200
    };
    assert!(found(&n, early) && found(&n, late));
    let (s, body) = admin(
        &n,
        &format!("/nerve/api/v1/traces/delete?start={}&end={}", t(0), t(10)),
        None,
    );
    assert_eq!(s, 200, "{body}");
    assert!(!found(&n, early), "early trace deleted");
    assert!(found(&n, late), "late trace kept");

    // Both survive kill -9; cancelling the log deletion brings a10 back.
    n.kill9();
    let n = Nerve::start(&data, &args);
    assert_eq!(lines(&n), ["a0", "a20", "k10"]);
    assert!(!found(&n, early) && found(&n, late));
    let r = client()
        .delete(n.url(&format!("/loki/api/v1/delete?request_id={id}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(lines(&n), ["a0", "a10", "a20", "k10"]);
}
