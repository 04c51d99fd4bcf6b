//! The crash campaign (issue #21), run by `scripts/crash-campaign.sh`, not by CI (each signal
//! takes minutes): for each signal, many `kill -9` of a nerve that is writing, at random
//! moments — during WAL replay and startup, while writes stream in, during head cuts and
//! compactions (metrics samples advance through hours of sample time) and log flushes
//! (`commit_interval: 100ms`) — then one clean start that reads back every acknowledged item
//! and counts what is lost. Lost must be 0.
//!
//! Settings (environment): `CRASH_KILLS` (default 50) kills per signal, `CRASH_SEED` (default:
//! the clock, printed) for the random moments. Each run prints one line per signal:
//! `campaign signal=<s> kills=<k> acknowledged=<a> lost=<l> seed=<seed>`.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Nerve, encode};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};
use serde_json::{Value, json};

/// Items per write.
const BATCH: u64 = 10;
/// Most writes per life of the process (bounds the campaign's sample-time span).
const WRITES_PER_LIFE: u64 = 100;
/// Sample-time step of the metrics samples: 50 kills × 100 writes × 10 samples × 1 s ≈ 14 h,
/// enough for several 2 h head cuts and a compaction.
const SAMPLE_STEP_MS: i64 = 1_000;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// xorshift64*: reproducible random moments without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

#[derive(Clone, Copy, Debug)]
enum Signal {
    Metrics,
    Logs,
    Traces,
}

/// What the campaign needs to know across lives: the first sample time and the items
/// acknowledged.
struct Ledger {
    t0_ms: i64,
    next: u64,
    acked: BTreeSet<u64>,
}

/// Sends items `first..first + BATCH`; true when acknowledged (2xx).
fn write(c: &reqwest::blocking::Client, addr: &str, signal: Signal, first: u64, t0_ms: i64) -> bool {
    let ids = first..first + BATCH;
    let req = match signal {
        Signal::Metrics => {
            let wr = WriteRequest {
                timeseries: vec![TimeSeries {
                    labels: vec![Label {
                        name: "__name__".into(),
                        value: "crash_seq".into(),
                    }],
                    samples: ids
                        .map(|k| Sample {
                            value: k as f64,
                            timestamp: t0_ms + k as i64 * SAMPLE_STEP_MS,
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            };
            c.post(format!("http://{addr}/api/v1/write"))
                .header("Content-Type", "application/x-protobuf")
                .header("Content-Encoding", "snappy")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(nerve_proto::encode_v1(&wr))
        }
        Signal::Logs => {
            let base = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
            let values: Vec<Value> = ids
                .enumerate()
                .map(|(i, k)| json!([(base + i as u128).to_string(), format!("crash line {k}")]))
                .collect();
            let body = json!({"streams": [{"stream": {"job": "crash"}, "values": values}]});
            c.post(format!("http://{addr}/loki/api/v1/push"))
                .header("Content-Type", "application/json")
                .body(body.to_string())
        }
        Signal::Traces => {
            let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 - 1_000_000_000;
            let spans: Vec<Value> = ids
                .map(|k| {
                    json!({"traceId": trace_id(k), "spanId": format!("{:016x}", k + 1), "name": "op",
                       "kind": 2, "startTimeUnixNano": start.to_string(),
                       "endTimeUnixNano": (start + 5_000_000).to_string()})
                })
                .collect();
            let body = json!({"resourceSpans": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "crash"}}]},
                "scopeSpans": [{"spans": spans}]}]});
            c.post(format!("http://{addr}/v1/traces"))
                .header("Content-Type", "application/json")
                .body(body.to_string())
        }
    };
    req.send().is_ok_and(|r| r.status().is_success())
}

fn trace_id(k: u64) -> String {
    format!("c0a5{k:028x}")
}

/// Starts nerve without waiting for it to be ready; returns it and its HTTP address once
/// logged (None when it died first).
fn spawn(data: &Path, cfg: &Path) -> (Child, Option<String>) {
    let mut child = common::serve_command(data)
        .args(["--config", cfg.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nerve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("http server listening")
                && !line.contains("otlp http")
                && let (Some(tx), Some(a)) = (tx.take(), line.split("addr=").nth(1))
            {
                let _ = tx.send(a.split_whitespace().next().unwrap_or("").to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).ok();
    (child, addr)
}

/// One life: start, write until the chosen moment, `kill -9`.
fn one_life(data: &Path, cfg: &Path, signal: Signal, ledger: &Arc<Mutex<Ledger>>, rng: &mut Rng) {
    let (mut child, addr) = spawn(data, cfg);
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("nerve did not log its address");
    };
    // One life in five is killed within 300 ms of binding: during WAL replay or startup.
    let early = rng.below(5) == 0;
    let moment = Duration::from_millis(if early { rng.below(300) } else { 200 + rng.below(1800) });
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, ledger, addr) = (stop.clone(), ledger.clone(), addr.clone());
        std::thread::spawn(move || {
            common::install_crypto_provider();
            let c = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < WRITES_PER_LIFE {
                let (first, t0) = {
                    let mut l = ledger.lock().unwrap();
                    l.next += BATCH;
                    (l.next - BATCH, l.t0_ms)
                };
                sent += 1;
                if write(&c, &addr, signal, first, t0) {
                    ledger.lock().unwrap().acked.extend(first..first + BATCH);
                    // Spread the writes over the life, so kills land among them.
                    std::thread::sleep(Duration::from_millis(10));
                } else {
                    // Not ready yet (503) or already dead: try again shortly.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        })
    };
    std::thread::sleep(moment);
    let _ = child.kill();
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

/// Every acknowledged item the restarted nerve can read back.
fn read_back(n: &Nerve, signal: Signal, ledger: &Ledger) -> BTreeSet<u64> {
    match signal {
        Signal::Metrics => {
            let hours = (now_ms() - ledger.t0_ms) / 3_600_000 + 2;
            let v = n.get_json(&format!(
                "/api/v1/query?query={}",
                encode(&format!("crash_seq[{hours}h]"))
            ));
            assert_eq!(v["status"], "success", "{v}");
            let mut out = BTreeSet::new();
            for s in v["data"]["result"].as_array().unwrap() {
                for p in s["values"].as_array().unwrap() {
                    let k: u64 = p[1].as_str().unwrap().parse().unwrap();
                    let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                    assert_eq!(
                        t,
                        ledger.t0_ms + k as i64 * SAMPLE_STEP_MS,
                        "sample {k} at the wrong time"
                    );
                    out.insert(k);
                }
            }
            out
        }
        Signal::Logs => {
            // Page forward in time, 1000 lines at a time.
            let mut out = BTreeSet::new();
            let mut start = (ledger.t0_ms - 60_000) as i128 * 1_000_000;
            let end = (now_ms() + 60_000) as i128 * 1_000_000;
            loop {
                let v = n.get_json(&format!(
                    "/loki/api/v1/query_range?query={}&limit=1000&direction=forward&start={start}&end={end}",
                    encode("{job=\"crash\"}")
                ));
                assert_eq!(v["status"], "success", "{v}");
                let mut last = None;
                let mut got = 0;
                for s in v["data"]["result"].as_array().unwrap() {
                    for e in s["values"].as_array().unwrap() {
                        let ts: i128 = e[0].as_str().unwrap().parse().unwrap();
                        let k = e[1].as_str().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
                        out.insert(k);
                        last = Some(last.map_or(ts, |l: i128| l.max(ts)));
                        got += 1;
                    }
                }
                match last {
                    Some(l) if got == 1000 => start = l + 1,
                    _ => break,
                }
            }
            out
        }
        Signal::Traces => ledger
            .acked
            .iter()
            .copied()
            .filter(|&k| {
                let r = n
                    .http
                    .get(n.url(&format!("/jaeger/api/traces/{}", trace_id(k))))
                    .send()
                    .unwrap();
                r.status() == 200
                    && serde_json::from_str::<Value>(&r.text().unwrap()).unwrap()["data"][0]["spans"]
                        .as_array()
                        .is_some_and(|s| s.iter().any(|sp| sp["spanID"] == format!("{:016x}", k + 1)))
            })
            .collect(),
    }
}

fn campaign(signal: Signal) {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        "scrape_configs: []\nstorage:\n  logs:\n    commit_interval: 100ms\n",
    )
    .unwrap();
    let ledger = Arc::new(Mutex::new(Ledger {
        t0_ms: (now_ms() / 3_600_000 - 14) * 3_600_000,
        next: 0,
        acked: BTreeSet::new(),
    }));
    let started = Instant::now();
    for _ in 0..kills {
        one_life(&data, &cfg, signal, &ledger, &mut rng);
    }
    let n = Nerve::start(&data, &["--config", cfg.to_str().unwrap()]);
    let ledger = ledger.lock().unwrap();
    let present = read_back(&n, signal, &ledger);
    let lost: Vec<u64> = ledger.acked.difference(&present).copied().collect();
    println!(
        "campaign signal={signal:?} kills={kills} acknowledged={} lost={} seed={seed} seconds={}",
        ledger.acked.len(),
        lost.len(),
        started.elapsed().as_secs()
    );
    assert!(!ledger.acked.is_empty(), "nothing was acknowledged");
    assert!(
        lost.is_empty(),
        "{signal:?}: {} acknowledged items lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
}

#[test]
#[ignore = "minutes long: run by scripts/crash-campaign.sh"]
fn crash_campaign_metrics() {
    campaign(Signal::Metrics);
}

#[test]
#[ignore = "minutes long: run by scripts/crash-campaign.sh"]
fn crash_campaign_logs() {
    campaign(Signal::Logs);
}

#[test]
#[ignore = "minutes long: run by scripts/crash-campaign.sh"]
fn crash_campaign_traces() {
    campaign(Signal::Traces);
}
