//! Ingest hardening (issue #21 items 2, 4 and 9) against the real binary:
//! samples far from the wall clock are refused with a message naming the bound and do not
//! stop ingestion (also across a restart); decompression bombs on every compressed path
//! are refused with bounded memory; malformed bodies get a 4xx saying what was wrong.

mod common;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, client, encode};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};

const YEAR_MS: i64 = 365 * 86_400_000;
const MIB: usize = 1 << 20;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A remote-write 1.0 body: one series `name{case=...}` with one sample.
fn rw_v1(name: &str, case: &str, t: i64, v: f64) -> Vec<u8> {
    let label = |n: &str, v: &str| Label {
        name: n.into(),
        value: v.into(),
    };
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![label("__name__", name), label("case", case)],
            samples: vec![Sample { value: v, timestamp: t }],
            ..Default::default()
        }],
        ..Default::default()
    };
    nerve_proto::encode_v1(&req)
}

fn post_rw(n: &Nerve, body: Vec<u8>, content_type: Option<&str>) -> (u16, String) {
    let mut r = client()
        .post(n.url("/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .body(body);
    if let Some(ct) = content_type {
        r = r.header("Content-Type", ct);
    }
    let r = r.send().expect("POST /api/v1/write");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

fn post(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let mut r = client().post(url).body(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().unwrap_or_else(|e| panic!("POST {url}: {e}"));
    (r.status().as_u16(), r.text().unwrap_or_default())
}

/// Values of `query` at `t_ms` (instant query), by the `case` label.
fn values(n: &Nerve, query: &str, t_ms: i64) -> Vec<(String, String)> {
    let v = n.get_json(&format!(
        "/api/v1/query?query={}&time={}",
        encode(query),
        t_ms as f64 / 1000.0
    ));
    let mut out: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|r| {
            (
                r["metric"]["case"].as_str().unwrap_or("").to_owned(),
                r["value"][1].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn self_metric(n: &Nerve, name: &str) -> f64 {
    let text = client().get(n.url("/metrics")).send().unwrap().text().unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

// ---- item 2: sample time bounds ----

#[test]
fn far_timestamps_get_400_naming_the_bound_and_ingestion_continues_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let n = Nerve::start(&data, &[]);
    let now = now_ms();
    for (case, t, bound) in [
        ("future", now + 10 * YEAR_MS, "max_future (10m)"),
        ("far_past", -1_000_000_000_000_000, "retention (15d)"),
        ("max", i64::MAX, "max_future (10m)"),
        ("min", i64::MIN, "retention (15d)"),
    ] {
        let (s, msg) = post_rw(&n, rw_v1("hardening_bounds", case, t, 1.0), None);
        assert_eq!(s, 400, "{case}: {msg}");
        assert!(
            msg.contains(&format!("hardening_bounds{{case=\"{case}\"}}")) && msg.contains(bound),
            "{case}: {msg}"
        );
        assert!(msg.contains("out of bounds"), "{case}: {msg}");
    }
    // Current samples are still accepted; give the head's background maintenance (every
    // second) a chance to run between them, which is when the old behaviour broke.
    let (s, msg) = post_rw(&n, rw_v1("hardening_bounds", "now", now, 1.0), None);
    assert_eq!(s, 204, "{msg}");
    std::thread::sleep(Duration::from_millis(2_500));
    let t2 = now_ms();
    let (s, msg) = post_rw(&n, rw_v1("hardening_bounds", "later", t2, 2.0), None);
    assert_eq!(s, 204, "{msg}");
    assert_eq!(
        values(&n, "hardening_bounds", t2),
        vec![("later".into(), "2".into()), ("now".into(), "1".into())]
    );
    assert!(self_metric(&n, "nerve_tsdb_out_of_bound_samples_total") >= 4.0);
    assert!(n.stop().success());

    let n = Nerve::start(&data, &[]);
    let t3 = now_ms();
    let (s, msg) = post_rw(&n, rw_v1("hardening_bounds", "restarted", t3, 3.0), None);
    assert_eq!(s, 204, "after restart: {msg}");
    assert_eq!(
        values(&n, "hardening_bounds", t3),
        vec![
            ("later".into(), "2".into()),
            ("now".into(), "1".into()),
            ("restarted".into(), "3".into())
        ]
    );
}

/// OTLP JSON with one gauge `name` holding the given (time ns, value) points.
fn otlp_gauge(name: &str, points: &[(i128, f64)]) -> String {
    let pts: Vec<String> = points
        .iter()
        .map(|(t, v)| format!(r#"{{"timeUnixNano":"{t}","asDouble":{v}}}"#))
        .collect();
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"hard"}}}}]}},
        "scopeMetrics":[{{"metrics":[{{"name":"{name}","gauge":{{"dataPoints":[{}]}}}}]}}]}}]}}"#,
        pts.join(",")
    )
}

#[test]
fn otlp_point_from_the_future_gets_partial_success() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let now = now_ms();
    let ns = |ms: i64| i128::from(ms) * 1_000_000;
    let body = otlp_gauge("hardening_otlp", &[(ns(now), 5.0), (ns(now + 10 * YEAR_MS), 6.0)]);
    let (s, text) = post(
        &n.otlp_http_url("/v1/metrics"),
        &[("content-type", "application/json")],
        body.into_bytes(),
    );
    assert_eq!(s, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ps = &v["partialSuccess"];
    assert_eq!(ps["rejectedDataPoints"].to_string().trim_matches('"'), "1", "{text}");
    let msg = ps["errorMessage"].as_str().unwrap_or_default();
    assert!(
        msg.contains("hardening_otlp") && msg.contains("max_future (10m)"),
        "{msg}"
    );
    let got = n.get_json(&format!(
        "/api/v1/query?query=hardening_otlp&time={}",
        now as f64 / 1000.0
    ));
    assert_eq!(got["data"]["result"][0]["value"][1], "5", "{got}");
}

// ---- item 9: silently accepted bad input ----

#[test]
fn malformed_bodies_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let now = now_ms();
    let v2_type = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

    // A 1.0 body announced as 2.0.
    let (s, msg) = post_rw(&n, rw_v1("hardening_v", "v1_as_v2", now, 1.0), Some(v2_type));
    assert_eq!(s, 400, "{msg}");
    assert!(msg.contains("remote-write 2.0 request carries field 1"), "{msg}");

    // A 2.0 body without a content type (read as 1.0).
    let v2 = |first_symbol: &str| nerve_proto::write_v2::Request {
        symbols: vec![first_symbol.into(), "__name__".into(), "hardening_v".into()],
        timeseries: vec![nerve_proto::write_v2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: vec![nerve_proto::write_v2::Sample {
                value: 1.0,
                timestamp: now,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let (s, msg) = post_rw(&n, nerve_proto::encode_v2(&v2("")), None);
    assert_eq!(s, 400, "{msg}");
    assert!(msg.contains("proto=io.prometheus.write.v2.Request"), "{msg}");

    // A 2.0 request whose first symbol is not empty.
    let (s, msg) = post_rw(&n, nerve_proto::encode_v2(&v2("x")), Some(v2_type));
    assert_eq!(s, 400, "{msg}");
    assert!(msg.contains("symbols[0] must be the empty string"), "{msg}");
    // Nothing of the refused writes was stored; the correct 2.0 body is.
    let (s, msg) = post_rw(&n, nerve_proto::encode_v2(&v2("")), Some(v2_type));
    assert_eq!(s, 204, "{msg}");

    // An OTLP histogram whose bucket counts do not match its bounds.
    let t = i128::from(now) * 1_000_000;
    let body = format!(
        r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"hardening_hist","histogram":{{
        "aggregationTemporality":2,"dataPoints":[{{"timeUnixNano":"{t}","count":"3","sum":1,
        "bucketCounts":["1","2"],"explicitBounds":[1,2]}}]}}}}]}}]}}]}}"#
    );
    let (s, text) = post(
        &n.url("/v1/metrics"),
        &[("content-type", "application/json")],
        body.into_bytes(),
    );
    assert_eq!(s, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["partialSuccess"]["rejectedDataPoints"].to_string().trim_matches('"'),
        "1",
        "{text}"
    );
    let msg = v["partialSuccess"]["errorMessage"].as_str().unwrap_or_default();
    assert!(msg.contains("2 bucket counts for 2 explicit bounds"), "{msg}");

    // Loki push: a Content-Type that is not a media type, one nerve does not read, and
    // repeated label names.
    let push = n.url("/loki/api/v1/push");
    let line = format!(
        r#"{{"streams":[{{"stream":{{"job":"a"}},"values":[["{}","x"]]}}]}}"#,
        now * 1_000_000
    );
    let (s, msg) = post(&push, &[("content-type", "garbage")], line.clone().into_bytes());
    assert_eq!(s, 400, "{msg}");
    assert!(msg.contains("invalid Content-Type header \"garbage\""), "{msg}");
    let (s, msg) = post(&push, &[("content-type", "text/plain")], line.clone().into_bytes());
    assert_eq!(s, 415, "{msg}");
    assert!(msg.contains("application/json"), "{msg}");
    let dup = format!(
        r#"{{"streams":[{{"stream":{{"job":"a","env":"x","job":"b"}},"values":[["{}","x"]]}}]}}"#,
        now * 1_000_000
    );
    let (s, msg) = post(&push, &[("content-type", "application/json")], dup.into_bytes());
    assert_eq!(s, 400, "{msg}");
    assert!(msg.contains("streams[0].stream: duplicate label name \"job\""), "{msg}");
    let (s, msg) = post(&push, &[("content-type", "application/json")], line.into_bytes());
    assert_eq!(s, 204, "{msg}");
}

// ---- item 4: decompression bombs ----

/// Bodies inflating to 1 GiB of zeros, one per encoding, built once: a compressed MiB of
/// zeros repeated 1024 times (gzip members, DEFLATE blocks after a full flush, zstd frames
/// — each a valid stream of its encoding) so the test does not spend a minute compressing.
struct Bombs {
    gzip: Vec<u8>,
    deflate: Vec<u8>,
    zstd: Vec<u8>,
    /// One gzip member (what gRPC's decoder reads): header, the DEFLATE bomb, trailer.
    gzip_single: Vec<u8>,
}

/// CRC-32 of 2^30 zero bytes (Python's `zlib.crc32`), for the single-member gzip trailer.
const CRC32_OF_1GIB_ZEROS: u32 = 0x5b64_c2b0;

impl Bombs {
    fn new() -> Bombs {
        let zeros = vec![0u8; MIB];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&zeros).unwrap();
        let gz = gz.finish().unwrap();

        // Raw DEFLATE: one MiB in non-final blocks ending byte-aligned with an empty
        // dictionary (full flush), so the same bytes can follow themselves; then a final
        // empty fixed-Huffman block (0x03 0x00).
        let mut c = flate2::Compress::new(flate2::Compression::best(), false);
        let mut piece = Vec::with_capacity(64 << 10);
        c.compress_vec(&zeros, &mut piece, flate2::FlushCompress::Full).unwrap();
        assert_eq!(c.total_in(), MIB as u64, "one call compresses the whole MiB");
        let zs = zstd::encode_all(&zeros[..], 3).unwrap();

        let repeat = |p: &[u8]| p.repeat(1024);
        let mut deflate = repeat(&piece);
        deflate.extend_from_slice(&[0x03, 0x00]);
        let mut gzip_single = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        gzip_single.extend_from_slice(&deflate);
        gzip_single.extend_from_slice(&CRC32_OF_1GIB_ZEROS.to_le_bytes());
        gzip_single.extend_from_slice(&((1u64 << 30) as u32).to_le_bytes());
        let b = Bombs {
            gzip: repeat(&gz),
            deflate,
            zstd: repeat(&zs),
            gzip_single,
        };
        for (name, body) in [("gzip", &b.gzip), ("deflate", &b.deflate), ("zstd", &b.zstd)] {
            assert!(body.len() < 2 * MIB, "{name} bomb is {} bytes", body.len());
        }
        b
    }

    fn get(&self, encoding: &str) -> &[u8] {
        match encoding {
            "gzip" => &self.gzip,
            "deflate" => &self.deflate,
            _ => &self.zstd,
        }
    }
}

/// Peak resident set size of `pid` in bytes (`VmHWM`).
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Current resident set size of `pid` in bytes (`VmRSS`).
fn vm_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Waits (bounded) until the memory of refused bombs has been returned, so the next
/// request is judged on its own and not refused for the previous burst.
fn wait_rss_below(pid: u32, bytes: u64) {
    let started = std::time::Instant::now();
    for _ in 0..300 {
        if vm_rss(pid) < bytes {
            eprintln!(
                "resident memory back under {} MiB after {:?}",
                bytes >> 20,
                started.elapsed()
            );
            // One more sampling period of the memory guard (100 ms) to see it too.
            std::thread::sleep(Duration::from_millis(300));
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("resident memory stayed at {} MiB after a burst", vm_rss(pid) >> 20);
}

fn alive(n: &mut Nerve) {
    assert!(
        n.child.try_wait().unwrap().is_none(),
        "nerve exited; log:\n{}",
        n.logs()
    );
    let r = client().get(n.url("/-/healthy")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// One compressed ingest path: URL, content type, and the limit its 413 names.
struct Path {
    url: String,
    content_type: &'static str,
    limit: &'static str,
}

const ENCODINGS: [&str; 3] = ["gzip", "deflate", "zstd"];

#[test]
fn decompression_bombs_are_refused_with_bounded_memory_on_every_path() {
    let bombs = Bombs::new();
    let dir = tempfile::tempdir().unwrap();
    // Default limits: 8 x 256 MiB of logs would pass 512 MiB without the shared bound on
    // decompressed bytes in flight (limits.max_inflight_decompressed_bytes, 256 MiB).
    let mut n = Nerve::start(&dir.path().join("data"), &[]);
    let pid = n.child.id();
    let otlp = "the OTLP request limit of 64MiB";
    let logs = "limits.logs_max_decoded_bytes";
    let paths = [
        (n.url("/loki/api/v1/push"), "application/json", logs),
        (n.url("/otlp/v1/logs"), "application/x-protobuf", logs),
        (n.otlp_http_url("/v1/logs"), "application/x-protobuf", logs),
        (n.url("/v1/traces"), "application/x-protobuf", otlp),
        (n.otlp_http_url("/v1/traces"), "application/json", otlp),
        (n.url("/api/v1/otlp/v1/metrics"), "application/x-protobuf", otlp),
        (n.otlp_http_url("/v1/metrics"), "application/x-protobuf", otlp),
    ]
    .map(|(url, content_type, limit)| Path {
        url,
        content_type,
        limit,
    });
    for p in &paths {
        // One bomb at a time: refused at the decoded limit, with the limit named.
        for enc in ENCODINGS {
            wait_rss_below(pid, 128 * MIB as u64);
            let (s, msg) = post(
                &p.url,
                &[("content-type", p.content_type), ("content-encoding", enc)],
                bombs.get(enc).to_vec(),
            );
            assert_eq!(s, 413, "{} {enc}: {msg}", p.url);
            assert!(msg.contains(p.limit), "{} {enc}: {msg}", p.url);
        }
        // Eight at once: each refused at its limit or, once their sum would pass
        // limits.max_inflight_decompressed_bytes, with 503 (retry later); never more memory.
        let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let enc = ENCODINGS[i % 3];
                    let body = bombs.get(enc).to_vec();
                    let headers = [("content-type", p.content_type), ("content-encoding", enc)];
                    s.spawn(move || post(&p.url, &headers, body))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (s, msg) in &statuses {
            match s {
                413 => assert!(msg.contains(p.limit), "{}: {msg}", p.url),
                503 => assert!(
                    msg.contains("limits.max_inflight_decompressed_bytes") || msg.contains("limits.max_memory"),
                    "{}: {msg}",
                    p.url
                ),
                _ => panic!("{}: {s} {msg}", p.url),
            }
        }
        alive(&mut n);
        let peak = vm_hwm(pid);
        let codes: Vec<u16> = statuses.iter().map(|(s, _)| *s).collect();
        eprintln!(
            "{}: 8 concurrent bombs answered {codes:?}; peak RSS so far {} MiB",
            p.url,
            peak >> 20
        );
        assert!(peak < 512 * MIB as u64, "{}: peak RSS {} MiB", p.url, peak >> 20);
    }

    // gRPC (OTLP port 4317): one gzip-compressed message frame per call.
    let grpc = reqwest::blocking::Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut frame = vec![1u8];
    frame.extend_from_slice(&(bombs.gzip_single.len() as u32).to_be_bytes());
    frame.extend_from_slice(&bombs.gzip_single);
    let grpc_addr = n.otlp_grpc_addr.clone();
    let call = |service: &str| {
        let r = grpc
            .post(format!(
                "http://{}/opentelemetry.proto.collector.{service}/Export",
                grpc_addr
            ))
            .header("content-type", "application/grpc")
            .header("grpc-encoding", "gzip")
            .header("te", "trailers")
            .body(frame.clone())
            .send()
            .unwrap();
        let h = |k: &str| {
            r.headers()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .replace("%20", " ")
        };
        (h("grpc-status"), h("grpc-message"))
    };
    for (service, limit) in [
        ("logs.v1.LogsService", logs),
        ("trace.v1.TraceService", otlp),
        ("metrics.v1.MetricsService", otlp),
    ] {
        wait_rss_below(pid, 128 * MIB as u64);
        // RESOURCE_EXHAUSTED naming the limit.
        let (code, msg) = call(service);
        assert_eq!(code, "8", "{service}: {msg}");
        assert!(msg.contains(limit), "{service}: {msg}");
        let answers: Vec<(String, String)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| call(service))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (code, msg) in &answers {
            match code.as_str() {
                "8" => assert!(msg.contains(limit), "{service}: {msg}"),
                // UNAVAILABLE: over the decompression or memory bound, retry later.
                "14" => assert!(
                    msg.contains("limits.max_inflight_decompressed_bytes") || msg.contains("limits.max_memory"),
                    "{service}: {msg}"
                ),
                _ => panic!("{service}: grpc-status {code} {msg}"),
            }
        }
        alive(&mut n);
        let peak = vm_hwm(pid);
        let codes: Vec<&str> = answers.iter().map(|(c, _)| c.as_str()).collect();
        eprintln!(
            "gRPC {service}: 8 concurrent bombs answered grpc-status {codes:?}; peak RSS so far {} MiB",
            peak >> 20
        );
        assert!(peak < 512 * MIB as u64, "gRPC {service}: peak RSS {} MiB", peak >> 20);
    }

    // Remote write: the snappy header announces 1 GiB; refused before allocating.
    let mut announced = Vec::new();
    let mut len = 1u64 << 30;
    while len >= 0x80 {
        announced.push((len as u8) | 0x80);
        len >>= 7;
    }
    announced.push(len as u8);
    announced.extend_from_slice(&[0u8; 1024]);
    let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let body = announced.clone();
                let n = &n;
                s.spawn(move || post_rw(n, body, None))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (s, msg) in statuses {
        assert_eq!(s, 413, "{msg}");
        assert!(msg.contains("limits.remote_write_max_decoded_bytes"), "{msg}");
    }
    alive(&mut n);
    let peak = vm_hwm(pid);
    eprintln!(
        "remote write: 8 concurrent 1 GiB snappy headers answered 413; peak RSS {} MiB",
        peak >> 20
    );
    assert!(peak < 512 * MIB as u64, "peak RSS {} MiB", peak >> 20);
    // Nothing is left counted against the memory bound: ordinary pushes go through.
    wait_rss_below(pid, 128 * MIB as u64);
    let line = format!(
        r#"{{"streams":[{{"stream":{{"job":"after"}},"values":[["{}","ok"]]}}]}}"#,
        now_ms() * 1_000_000
    );
    let (s, msg) = post(
        &n.url("/loki/api/v1/push"),
        &[("content-type", "application/json")],
        line.into_bytes(),
    );
    assert_eq!(s, 204, "{msg}");
}
