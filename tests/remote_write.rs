//! Remote write against the real binary: acknowledged samples survive `kill -9` (in the head,
//! after a head cut, after compaction, and with a torn WAL tail), and malformed writes get a
//! 4xx with a message while the server keeps serving.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, client, eventually, numbered_files};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};
use nerve_storage::metrics::{SyncPolicy, Tsdb, TsdbOptions};
use nerve_storage::{MatchOp, Matcher};

type Expected = BTreeMap<String, Vec<(i64, u64)>>;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn series_key(name: &str, i: usize) -> Vec<(String, String)> {
    vec![
        ("__name__".into(), name.into()),
        ("instance".into(), format!("host-{i}:9100")),
        ("job".into(), "crash".into()),
    ]
}

fn key_of(labels: &[(String, String)]) -> String {
    labels
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Builds request `r`: `nseries` series with `per` samples each, starting at `t0`, step `step`.
fn request(name: &str, r: usize, nseries: usize, per: usize, t0: i64, step: i64, exp: &mut Expected) -> Vec<u8> {
    let mut req = WriteRequest::default();
    for i in 0..nseries {
        let labels = series_key(name, i);
        let mut ts = TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| Label {
                    name: n.clone(),
                    value: v.clone(),
                })
                .collect(),
            ..Default::default()
        };
        for k in 0..per {
            let t = t0 + ((r * per + k) as i64) * step;
            // Exact-value checks: odd fractions, negative zero, huge and tiny values.
            let v = match (r + k + i) % 5 {
                0 => (r * 1000 + k) as f64 / 7.0,
                // (-0.0 cannot cross remote write: protobuf encoders skip any double == 0.)
                1 => -1e-300,
                2 => 1e300 * (i as f64 + 1.0),
                3 => f64::MIN_POSITIVE,
                _ => (t % 1000) as f64,
            };
            ts.samples.push(Sample { value: v, timestamp: t });
            exp.entry(key_of(&labels)).or_default().push((t, v.to_bits()));
        }
        req.timeseries.push(ts);
    }
    nerve_proto::encode_v1(&req)
}

fn post(n: &Nerve, body: Vec<u8>, content_type: &str) -> (u16, String) {
    let r = client()
        .post(n.url("/api/v1/write"))
        .header("Content-Type", content_type)
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .expect("POST /api/v1/write");
    let s = r.status().as_u16();
    (s, r.text().unwrap_or_default())
}

fn send_all(n: &Nerve, bodies: Vec<Vec<u8>>) {
    for (i, b) in bodies.into_iter().enumerate() {
        let (s, msg) = post(n, b, "application/x-protobuf");
        // The server log and the head bounds make a refusal diagnosable after the fact.
        assert_eq!(
            s,
            204,
            "write {i} refused: {msg}\nhead: {}\nlog:\n{}",
            tsdb_status(n),
            n.logs()
        );
    }
}

fn tsdb_status(n: &Nerve) -> String {
    client()
        .get(n.url("/api/v1/status/tsdb"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_else(|e| e.to_string())
}

/// Opens the data dir in-process (nerve must be stopped) and compares every sample exactly.
fn verify_storage(data_dir: &Path, name: &str, exp: &Expected) {
    let db = Tsdb::open(
        &data_dir.join("metrics"),
        TsdbOptions {
            sync: SyncPolicy::Never,
            ..Default::default()
        },
    )
    .expect("open TSDB");
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let got = q
        .select(&[Matcher::new(MatchOp::Equal, "__name__", name).unwrap()])
        .unwrap();
    let mut seen = Expected::new();
    for s in got {
        let labels: Vec<(String, String)> = s.labels.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        seen.insert(
            key_of(&labels),
            s.samples().unwrap().iter().map(|x| (x.t, x.v.to_bits())).collect(),
        );
    }
    assert_eq!(seen.len(), exp.len(), "series count");
    for (k, want) in exp {
        let got = seen.get(k).unwrap_or_else(|| panic!("series {k} missing"));
        assert_eq!(got.len(), want.len(), "sample count of {k}");
        assert_eq!(got, want, "samples of {k}");
    }
    db.close().unwrap();
}

fn series_count(n: &Nerve, name: &str) -> usize {
    let v = n.get_json(&format!("/api/v1/series?match[]={name}"));
    assert_eq!(v["status"], "success", "{v}");
    v["data"].as_array().map_or(0, Vec::len)
}

fn block_levels(data_dir: &Path) -> Vec<u64> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(data_dir.join("metrics/blocks")) {
        for e in rd.flatten() {
            if let Ok(raw) = std::fs::read(e.path().join("meta.json")) {
                let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
                out.push(v["compaction"]["level"].as_u64().unwrap());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn kill9_keeps_every_acknowledged_sample_in_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let mut exp = Expected::new();
    let t0 = now_ms() - 600_000;
    let bodies: Vec<Vec<u8>> = (0..40)
        .map(|r| request("crash_head", r, 25, 5, t0, 1000, &mut exp))
        .collect();
    send_all(&n, bodies);
    n.kill9();
    let n = Nerve::start(dir.path(), &[]);
    assert_eq!(series_count(&n, "crash_head"), 25);
    n.stop();
    verify_storage(dir.path(), "crash_head", &exp);
}

#[test]
fn kill9_after_head_cut_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    // No self-scrape: its samples at the wall clock would make the head span more than 1.5
    // block ranges and cut it past the old data this test is still sending (seen in CI when
    // the first self-scrape landed mid-test).
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(&cfg, "scrape_configs:\n  - job_name: none\n").unwrap();
    let args = ["--config", cfg.to_str().unwrap()];
    let n = Nerve::start(dir.path(), &args);
    let mut exp = Expected::new();
    // 10 h of data at 30 s: the head is cut into 2 h blocks, three of which compact into 6 h.
    let hour = 3_600_000;
    // Starting 12-13 h ago, the 70 requests (11 h 40 m) end in the past: samples more than
    // limits.max_future (10m) ahead of the clock are refused.
    let t0 = (now_ms() / hour - 12) * hour;
    let bodies: Vec<Vec<u8>> = (0..60)
        .map(|r| request("crash_block", r, 20, 20, t0, 30_000, &mut exp))
        .collect();
    send_all(&n, bodies);
    // The 6-8 h range is cut after or while the first three blocks compact: wait for both.
    let levels = eventually(Duration::from_secs(60), || {
        let l = block_levels(dir.path());
        (l.contains(&2) && l.len() >= 2).then_some(l)
    })
    .unwrap_or_else(|| {
        panic!(
            "no compacted block appeared: {:?}\n{}",
            block_levels(dir.path()),
            n.logs()
        )
    });
    assert!(
        levels.len() >= 2,
        "expected a compacted block and a level-1 block: {levels:?}"
    );
    // A sample inside a range already cut into a block is refused with 400, like Prometheus's
    // out-of-bounds, and nothing else changes.
    let mut ignored = Expected::new();
    let (s, msg) = post(
        &n,
        request("crash_block", 0, 1, 1, t0 - 1000, 1000, &mut ignored),
        "application/x-protobuf",
    );
    assert_eq!(s, 400, "{msg}");
    assert!(msg.contains("too old"), "{msg}");
    // More data after the cut lands in the head and the WAL after the checkpoint.
    let more: Vec<Vec<u8>> = (60..70)
        .map(|r| request("crash_block", r, 20, 20, t0, 30_000, &mut exp))
        .collect();
    send_all(&n, more);
    n.kill9();
    let n = Nerve::start(dir.path(), &args);
    assert_eq!(series_count(&n, "crash_block"), 20);
    n.stop();
    verify_storage(dir.path(), "crash_block", &exp);
}

#[test]
fn torn_wal_tail_starts_and_keeps_everything_before_the_tear() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let mut exp = Expected::new();
    let t0 = now_ms() - 600_000;
    let bodies: Vec<Vec<u8>> = (0..10).map(|r| request("torn", r, 10, 3, t0, 1000, &mut exp)).collect();
    send_all(&n, bodies);
    // The last request: its samples record will be torn.
    let mut last = Expected::new();
    let body = request("torn", 10, 10, 3, t0, 1000, &mut last);
    send_all(&n, vec![body]);
    n.kill9();
    let wal = dir.path().join("metrics/wal");
    let segs = numbered_files(&wal);
    let seg = segs
        .iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .expect("non-empty WAL segment");
    let len = std::fs::metadata(seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
    f.set_len(len - 7).unwrap();
    drop(f);
    let n = Nerve::start(dir.path(), &[]);
    assert!(
        n.logs().to_lowercase().contains("truncat"),
        "tear not reported:\n{}",
        n.logs()
    );
    n.stop();
    verify_storage(dir.path(), "torn", &exp);
}

#[test]
fn malformed_writes_get_4xx_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let pb = |labels: Vec<(&str, &str)>, t: i64| {
        nerve_proto::encode_v1(&WriteRequest {
            timeseries: vec![TimeSeries {
                labels: labels
                    .into_iter()
                    .map(|(a, b)| Label {
                        name: a.into(),
                        value: b.into(),
                    })
                    .collect(),
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: t,
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
    };
    let now = now_ms();
    // Invalid UTF-8 in a label value: hand-built protobuf (field 1 → series, field 1 → label).
    let bad_utf8 = {
        let label: Vec<u8> = [&[0x0a, 1, b'a', 0x12, 2][..], &[0xff, 0xfe]].concat();
        let series: Vec<u8> = [&[0x0a, label.len() as u8][..], &label].concat();
        let req: Vec<u8> = [&[0x0a, series.len() as u8][..], &series].concat();
        snap::raw::Encoder::new().compress_vec(&req).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "not snappy",
            b"definitely not snappy".to_vec(),
            "application/x-protobuf",
            400,
            "snappy",
        ),
        (
            "not protobuf",
            snap::raw::Encoder::new().compress_vec(&[0xff; 32]).unwrap(),
            "application/x-protobuf",
            400,
            "protobuf",
        ),
        (
            "unsorted labels",
            pb(vec![("job", "x"), ("__name__", "up")], now),
            "application/x-protobuf",
            400,
            "sort",
        ),
        (
            "duplicate label",
            pb(vec![("__name__", "up"), ("job", "x"), ("job", "y")], now),
            "application/x-protobuf",
            400,
            "duplicate",
        ),
        (
            "empty metric name",
            pb(vec![("__name__", ""), ("job", "x")], now),
            "application/x-protobuf",
            400,
            "name",
        ),
        (
            "invalid label name",
            pb(vec![("__name__", "up"), ("bad-name", "x")], now),
            "application/x-protobuf",
            400,
            "label name",
        ),
        ("invalid utf-8", bad_utf8, "application/x-protobuf", 400, "utf"),
        (
            "unsupported proto",
            pb(vec![("__name__", "up")], now),
            "application/x-protobuf;proto=foo.Bar",
            415,
            "proto",
        ),
        (
            "unsupported type",
            pb(vec![("__name__", "up")], now),
            "application/json",
            415,
            "content",
        ),
    ];
    for (what, body, ct, want, needle) in cases {
        let (s, msg) = post(&n, body, ct);
        assert_eq!(s, want, "{what}: {msg}");
        assert!(
            msg.to_lowercase().contains(needle),
            "{what}: message {msg:?} should mention {needle:?}"
        );
        let h = client().get(n.url("/-/healthy")).send().unwrap();
        assert_eq!(h.status().as_u16(), 200, "server unhealthy after {what}");
    }
    // Out of order: a good sample, then an older one for the same series.
    assert_eq!(
        post(&n, pb(vec![("__name__", "ooo")], now), "application/x-protobuf").0,
        204
    );
    let (s, msg) = post(
        &n,
        pb(vec![("__name__", "ooo")], now - 60_000),
        "application/x-protobuf",
    );
    assert_eq!(s, 400, "{msg}");
    assert!(msg.to_lowercase().contains("out of order"), "{msg}");
    // Oversized body → 413 with a message, decided from Content-Length before the body is read
    // (a raw request, so the client does not race the early answer with its upload).
    {
        use std::io::{Read, Write};
        let mut sock = std::net::TcpStream::connect(&n.addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            sock,
            "POST /api/v1/write HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-protobuf\r\n\
             Content-Encoding: snappy\r\nContent-Length: {}\r\n\r\n",
            n.addr,
            40u64 << 20
        )
        .unwrap();
        let mut buf = vec![0u8; 4096];
        let got = sock.read(&mut buf).unwrap();
        let head = String::from_utf8_lossy(&buf[..got]);
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        assert!(head.contains("exceeds"), "{head}");
    }
    // Still serving and the good write is there.
    assert_eq!(series_count(&n, "ooo"), 1);
    let status = n.stop();
    assert!(status.success(), "graceful shutdown failed: {status:?}");
}
