//! Overload: a bounded burst (4 s, loopback, counted) at 10× the configured sustainable
//! remote-write and log-push rates. nerve must keep answering health checks and queries,
//! refuse the excess with 503/429 + `Retry-After`, keep its peak RSS under `limits.max_memory`,
//! and store exactly what it acknowledged. A second test sets a memory bound below nerve's
//! own footprint and checks every ingest path refuses with 503 while queries still work.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Nerve, client, encode};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};
use serde_json::json;

/// Sustainable remote-write rate configured for the test, samples/s (burst the same).
const RW_RATE: u64 = 5_000;
/// Sustainable log rate, bytes/s of lines (burst the same).
const LOG_RATE: u64 = 200 << 10;
/// Memory bound configured (and asserted on the peak RSS).
const MAX_MEMORY: u64 = 320 << 20;
/// How long the burst lasts.
const BURST: Duration = Duration::from_secs(4);

const RW_SENDERS: usize = 4;
const RW_SERIES: usize = 50;
const RW_PER_SERIES: usize = 50;
/// Samples in one remote-write request.
const RW_BATCH: u64 = (RW_SERIES * RW_PER_SERIES) as u64;
const LOG_SENDERS: usize = 2;
const LOG_LINES: usize = 100;
const LOG_LINE_BYTES: usize = 1024;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[derive(Default)]
struct Tally {
    attempts: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    /// Refusals without `Retry-After`, other statuses, transport errors.
    wrong: AtomicU64,
}

impl Tally {
    fn record(&self, r: reqwest::Result<reqwest::blocking::Response>, ok: u16, refusals: &[u16], what: &str) -> bool {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        match r {
            Ok(r) if r.status().as_u16() == ok => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Ok(r) if refusals.contains(&r.status().as_u16()) && r.headers().contains_key("retry-after") => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) => {
                let status = r.status();
                eprintln!("{what}: unexpected {status}: {}", r.text().unwrap_or_default());
                self.wrong.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                eprintln!("{what}: transport error: {e}");
                self.wrong.fetch_add(1, Ordering::Relaxed);
            }
        }
        false
    }
}

/// Remote-write request `seq` of `sender`: `RW_SERIES` series × `RW_PER_SERIES` samples with
/// timestamps increasing per sender.
fn rw_body(sender: usize, seq: usize, t0: i64) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: (0..RW_SERIES)
            .map(|s| TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "overload_rw".into(),
                    },
                    Label {
                        name: "s".into(),
                        value: s.to_string(),
                    },
                    Label {
                        name: "sender".into(),
                        value: sender.to_string(),
                    },
                ],
                samples: (0..RW_PER_SERIES)
                    .map(|i| Sample {
                        value: (seq * 100 + i) as f64,
                        timestamp: t0 + (seq * RW_PER_SERIES + i) as i64,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    nerve_proto::encode_v1(&req)
}

fn log_body(sender: usize, seq: usize) -> String {
    let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let values: Vec<_> = (0..LOG_LINES)
        .map(|i| {
            let head = format!("s{sender} r{seq} l{i} ");
            let line = format!("{head}{}", "z".repeat(LOG_LINE_BYTES - head.len()));
            json!([(ts + i as u128).to_string(), line])
        })
        .collect();
    json!({"streams": [{"stream": {"job": "overload", "sender": sender.to_string()}, "values": values}]}).to_string()
}

/// Sends at `per_sec` requests per second until the burst ends.
fn paced(per_sec: f64, mut send: impl FnMut(usize)) {
    let start = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / per_sec);
    let mut seq = 0;
    while start.elapsed() < BURST {
        send(seq);
        seq += 1;
        let next = start + gap * seq as u32;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

fn query_scalar(n: &Nerve, q: &str) -> f64 {
    let v = n.get_json(&format!("/api/v1/query?query={}", encode(q)));
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"][0]["value"][1]
        .as_str()
        .map_or(0.0, |s| s.parse().unwrap())
}

#[test]
fn ten_x_burst_is_refused_with_retry_after_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        format!(
            "limits:\n  remote_write_ingestion_rate: {RW_RATE}\n  remote_write_ingestion_burst: {RW_RATE}\n  \
             logs_ingestion_rate: {LOG_RATE}\n  logs_ingestion_burst: {LOG_RATE}\n  max_memory: {MAX_MEMORY}\n  \
             max_entries_limit_per_query: 0\n"
        ),
    )
    .unwrap();
    let n = Arc::new(Nerve::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    ));
    let t0 = now_ms() - 600_000;
    let rw = Arc::new(Tally::default());
    let logs = Arc::new(Tally::default());
    let acked_lines = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let probe_failures = Arc::new(AtomicU64::new(0));
    let probe_max_ms = Arc::new(AtomicU64::new(0));
    let probes = Arc::new(AtomicU64::new(0));

    // Offered: a bit over 10× each configured rate, so the measured rate is at least 10×.
    let rw_per_sender = (11 * RW_RATE) as f64 / RW_BATCH as f64 / RW_SENDERS as f64;
    let log_per_sender = (11 * LOG_RATE) as f64 / (LOG_LINES * LOG_LINE_BYTES) as f64 / LOG_SENDERS as f64;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for sender in 0..RW_SENDERS {
            let (n, rw) = (n.clone(), rw.clone());
            scope.spawn(move || {
                let c = client();
                paced(rw_per_sender, |seq| {
                    let r = c
                        .post(n.url("/api/v1/write"))
                        .header("Content-Type", "application/x-protobuf")
                        .header("Content-Encoding", "snappy")
                        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                        .body(rw_body(sender, seq, t0))
                        .send();
                    rw.record(r, 204, &[503], "remote write");
                });
            });
        }
        for sender in 0..LOG_SENDERS {
            let (n, logs, acked) = (n.clone(), logs.clone(), acked_lines.clone());
            scope.spawn(move || {
                let c = client();
                paced(log_per_sender, |seq| {
                    let body = log_body(sender, seq);
                    let r = c
                        .post(n.url("/loki/api/v1/push"))
                        .header("Content-Type", "application/json")
                        .body(body)
                        .send();
                    if logs.record(r, 204, &[429, 503], "loki push") {
                        let mut a = acked.lock();
                        a.extend((0..LOG_LINES).map(|i| format!("s{sender} r{seq} l{i}")));
                    }
                });
            });
        }
        // Health and queries keep answering during the burst.
        let (n, fails, max_ms, probes) = (n.clone(), probe_failures.clone(), probe_max_ms.clone(), probes.clone());
        scope.spawn(move || {
            let c = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            while started.elapsed() < BURST {
                for path in ["/-/healthy", "/api/v1/query?query=up", "/loki/api/v1/labels"] {
                    let t = Instant::now();
                    let ok = c.get(n.url(path)).send().is_ok_and(|r| r.status() == 200);
                    max_ms.fetch_max(t.elapsed().as_millis() as u64, Ordering::Relaxed);
                    probes.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        fails.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    });
    let elapsed = started.elapsed().as_secs_f64();
    let n = Arc::into_inner(n).expect("all senders done");

    let (rw_try, rw_ok, rw_no) = (
        rw.attempts.load(Ordering::Relaxed),
        rw.accepted.load(Ordering::Relaxed),
        rw.refused.load(Ordering::Relaxed),
    );
    let (log_try, log_ok, log_no) = (
        logs.attempts.load(Ordering::Relaxed),
        logs.accepted.load(Ordering::Relaxed),
        logs.refused.load(Ordering::Relaxed),
    );
    let offered_rw = (rw_try * RW_BATCH) as f64 / elapsed;
    let offered_log = (log_try as usize * LOG_LINES * LOG_LINE_BYTES) as f64 / elapsed;
    let peak = peak_rss(n.child.id());
    eprintln!(
        "remote write: offered {offered_rw:.0} samples/s ({:.1}× the {RW_RATE}/s limit), {rw_ok} accepted, {rw_no} refused",
        offered_rw / RW_RATE as f64
    );
    eprintln!(
        "loki push: offered {offered_log:.0} B/s ({:.1}× the {LOG_RATE} B/s limit), {log_ok} accepted, {log_no} refused",
        offered_log / LOG_RATE as f64
    );
    eprintln!(
        "probes: {} with {} failures, slowest {} ms; peak RSS {} MiB (bound {} MiB)",
        probes.load(Ordering::Relaxed),
        probe_failures.load(Ordering::Relaxed),
        probe_max_ms.load(Ordering::Relaxed),
        peak >> 20,
        MAX_MEMORY >> 20
    );

    assert!(
        offered_rw >= 10.0 * RW_RATE as f64,
        "remote-write burst too slow to be 10×"
    );
    assert!(offered_log >= 10.0 * LOG_RATE as f64, "log burst too slow to be 10×");
    assert_eq!(
        rw.wrong.load(Ordering::Relaxed),
        0,
        "remote write answers other than 204/503+Retry-After"
    );
    assert_eq!(
        logs.wrong.load(Ordering::Relaxed),
        0,
        "log push answers other than 204/429+Retry-After"
    );
    assert!(rw_no > rw_ok, "most of a 10× remote-write burst must be refused");
    assert!(log_no > log_ok, "most of a 10× log burst must be refused");
    // Accepted stays near the sustainable rate: the burst allowance plus the rate over the
    // run, plus one batch of slack per sender.
    let rw_cap = RW_RATE as f64 * (1.0 + elapsed) + (RW_SENDERS as u64 * RW_BATCH) as f64;
    assert!(
        ((rw_ok * RW_BATCH) as f64) <= rw_cap,
        "remote write accepted above the limit"
    );
    assert!(rw_ok > 0 && log_ok > 0, "the sustainable share must still be accepted");
    assert_eq!(
        probe_failures.load(Ordering::Relaxed),
        0,
        "health or query probes failed"
    );
    assert!(peak < MAX_MEMORY, "peak RSS {peak} above the configured bound");

    // Exactly what was acknowledged is stored: refusals are whole requests.
    let stored = query_scalar(&n, "sum(count_over_time(overload_rw[1h]))");
    assert_eq!(stored as u64, rw_ok * RW_BATCH, "stored samples vs acknowledged");
    let start_ns = (now_ms() - 3_600_000) * 1_000_000;
    let v = n.get_json(&format!(
        "/loki/api/v1/query_range?query={}&limit=100000&start={start_ns}",
        encode("{job=\"overload\"}")
    ));
    let mut got: Vec<String> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().clone())
        .map(|e| {
            let line = e[1].as_str().unwrap();
            line.split(' ').take(3).collect::<Vec<_>>().join(" ")
        })
        .collect();
    let mut want = acked_lines.lock().clone();
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len(), "stored log lines vs acknowledged");
    assert!(got == want, "stored log lines differ from the acknowledged ones");
}

#[test]
fn over_the_memory_bound_every_ingest_path_answers_503_and_queries_work() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    // Far below what nerve itself takes: every ingest is over the bound.
    std::fs::write(&cfg, "limits:\n  max_memory: 1MB\n").unwrap();
    let n = Nerve::start(&dir.path().join("data"), &["--config", cfg.to_str().unwrap()]);
    // The sampler's first reading lands within 100 ms of start.
    std::thread::sleep(Duration::from_millis(300));
    let c = client();
    let check = |what: &str, r: reqwest::blocking::Response| {
        let status = r.status();
        let retry = r.headers().contains_key("retry-after");
        let body = r.text().unwrap_or_default();
        assert_eq!(status, 503, "{what}: {body}");
        assert!(retry, "{what}: no Retry-After");
        assert!(body.contains("limits.max_memory"), "{what}: {body}");
    };
    let rw = c
        .post(n.url("/api/v1/write"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(rw_body(0, 0, now_ms()))
        .send()
        .unwrap();
    check("remote write", rw);
    let push = c
        .post(n.url("/loki/api/v1/push"))
        .header("Content-Type", "application/json")
        .body(log_body(0, 0))
        .send()
        .unwrap();
    check("loki push", push);
    for path in ["/v1/traces", "/v1/logs", "/v1/metrics"] {
        let r = c
            .post(n.otlp_http_url(path))
            .header("Content-Type", "application/json")
            .body("{}")
            .send()
            .unwrap();
        check(path, r);
    }
    assert_eq!(c.get(n.url("/-/healthy")).send().unwrap().status(), 200);
    assert_eq!(n.get_json("/api/v1/query?query=up")["status"], "success");
    let metrics = c.get(n.url("/metrics")).send().unwrap().text().unwrap();
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("nerve_ingest_memory_refused_requests_total"))
        .unwrap_or_else(|| panic!("no refusal counter in /metrics"));
    let count: f64 = refused.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(count >= 5.0, "{refused}");
}
