//! Disk-full behaviour on a real full filesystem: nerve's data dir lives on a size-limited
//! tmpfs made for the test, a ballast file fills it, and then:
//! - remote-write, Loki push and OTLP traces are refused with 503 + `Retry-After` and a message
//!   that says the disk is full (every client retries those), while queries keep answering;
//! - nerve restarts (after `kill -9`) on the full disk and serves everything acknowledged;
//! - SIGTERM on the full disk exits 0 (the WALs hold everything) and the restart serves it all;
//! - once the ballast is gone, ingest resumes without a restart, and nothing acknowledged
//!   before, during or after the full period is lost.
//!
//! Mounting needs root (CAP_SYS_ADMIN), which CI has; elsewhere the test says so and skips.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Nerve, client, encode};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};
use serde_json::{Value, json};

/// A tmpfs mounted for the test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .ok()?;
        if out.status.success() {
            Some(Tmpfs(dir.to_owned()))
        } else {
            eprintln!("mount tmpfs: {}", String::from_utf8_lossy(&out.stderr));
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// What one attempt got back.
struct Reply {
    status: u16,
    retry_after: bool,
    body: String,
}

fn reply(r: reqwest::blocking::Response) -> Reply {
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    Reply {
        status,
        retry_after,
        body: r.text().unwrap_or_default(),
    }
}

/// Remote-write request `r`: one series `disk_full_test{req="r"}` with value `r`.
fn write_metric(n: &Nerve, r: usize) -> Reply {
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "disk_full_test".into(),
                },
                Label {
                    name: "req".into(),
                    value: r.to_string(),
                },
            ],
            samples: vec![Sample {
                value: r as f64,
                timestamp: now_ms(),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    reply(
        client()
            .post(n.url("/api/v1/write"))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(nerve_proto::encode_v1(&req))
            .send()
            .expect("remote write"),
    )
}

/// Loki push `r`: one line `disk-full line r` (padded so pages fill quickly).
fn push_log(n: &Nerve, r: usize) -> Reply {
    let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let line = format!("disk-full line {r} {}", "x".repeat(200));
    let body = json!({"streams": [{"stream": {"job": "disk-full"}, "values": [[ts.to_string(), line]]}]});
    reply(
        client()
            .post(n.url("/loki/api/v1/push"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .expect("loki push"),
    )
}

fn trace_id(r: usize) -> String {
    format!("d15cf011{r:024x}")
}

/// OTLP/HTTP JSON export `r`: one span in trace [`trace_id`]`(r)`.
fn export_span(n: &Nerve, r: usize) -> Reply {
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 - 1_000_000_000;
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "disk-full"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": trace_id(r), "spanId": format!("{:016x}", r + 1), "name": "op", "kind": 2,
            "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 5_000_000).to_string(),
            "attributes": [{"key": "pad", "value": {"stringValue": "y".repeat(200)}}]
        }]}]
    }]});
    reply(
        client()
            .post(n.otlp_http_url("/v1/traces"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .expect("otlp export"),
    )
}

type Send = fn(&Nerve, usize) -> Reply;

/// The signals under test: name, sender, numbers acknowledged so far.
struct Signal {
    name: &'static str,
    send: Send,
    acked: BTreeSet<usize>,
    next: usize,
}

impl Signal {
    fn new(name: &'static str, send: Send) -> Signal {
        Signal {
            name,
            send,
            acked: BTreeSet::new(),
            next: 0,
        }
    }

    /// Sends one write; records it when acknowledged.
    fn send_one(&mut self, n: &Nerve) -> Reply {
        let r = self.next;
        self.next += 1;
        let rep = (self.send)(n, r);
        if (200..300).contains(&rep.status) {
            self.acked.insert(r);
        }
        rep
    }

    /// Sends writes until one is refused (bounded); asserts the refusal is a retryable
    /// "disk full" and not anything else.
    fn until_refused(&mut self, n: &Nerve) {
        for i in 0..3000 {
            let rep = self.send_one(n);
            if (200..300).contains(&rep.status) {
                continue;
            }
            assert_eq!(rep.status, 503, "{}: refusal status, body {}", self.name, rep.body);
            assert!(rep.retry_after, "{}: 503 without Retry-After", self.name);
            assert!(
                rep.body.contains("disk full") && rep.body.contains("No space left"),
                "{}: refusal does not say the disk is full: {}",
                self.name,
                rep.body
            );
            eprintln!("{}: refused after {i} more writes: {}", self.name, rep.body.trim());
            return;
        }
        panic!("{}: 3000 writes accepted on a full disk", self.name);
    }

    /// Sends until one is accepted again (bounded in time).
    fn until_accepted(&mut self, n: &Nerve) {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let rep = self.send_one(n);
            if (200..300).contains(&rep.status) {
                return;
            }
            assert!(
                Instant::now() < until,
                "{}: still refused after space returned: {}",
                self.name,
                rep.body
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn stored_metrics(n: &Nerve) -> BTreeSet<usize> {
    let v = n.get_json(&format!(
        "/api/v1/query?query={}",
        encode("last_over_time(disk_full_test[1h])")
    ));
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let r: usize = s["metric"]["req"].as_str().unwrap().parse().unwrap();
            assert_eq!(s["value"][1].as_str().unwrap(), r.to_string(), "value of req {r}");
            r
        })
        .collect()
}

fn stored_logs(n: &Nerve) -> BTreeSet<usize> {
    let start = (now_ms() - 3_600_000) * 1_000_000;
    let v = n.get_json(&format!(
        "/loki/api/v1/query_range?query={}&limit=50000&start={start}",
        encode("{job=\"disk-full\"}")
    ));
    assert_eq!(v["status"], "success", "{v}");
    let mut out = BTreeSet::new();
    for s in v["data"]["result"].as_array().unwrap() {
        for e in s["values"].as_array().unwrap() {
            let line = e[1].as_str().unwrap();
            let r = line.split(' ').nth(2).unwrap().parse().unwrap();
            assert!(out.insert(r), "line {r} twice");
        }
    }
    out
}

fn trace_stored(n: &Nerve, r: usize) -> bool {
    let resp = client()
        .get(n.url(&format!("/jaeger/api/traces/{}", trace_id(r))))
        .send()
        .unwrap();
    if resp.status() == 404 {
        return false;
    }
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_str(&resp.text().unwrap()).unwrap();
    v["data"][0]["spans"].as_array().is_some_and(|s| s.len() == 1)
}

/// Every acknowledged write of every signal is readable.
fn assert_all_acked_present(n: &Nerve, sigs: &[Signal], when: &str) {
    let metrics = stored_metrics(n);
    let missing: Vec<_> = sigs[0].acked.difference(&metrics).collect();
    assert!(
        missing.is_empty(),
        "{when}: acknowledged remote writes missing: {missing:?}"
    );
    let logs = stored_logs(n);
    let missing: Vec<_> = sigs[1].acked.difference(&logs).collect();
    assert!(
        missing.is_empty(),
        "{when}: acknowledged log lines missing: {missing:?}"
    );
    let missing: Vec<_> = sigs[2].acked.iter().filter(|&&r| !trace_stored(n, r)).collect();
    assert!(missing.is_empty(), "{when}: acknowledged traces missing: {missing:?}");
}

/// Writes zeros into `path` until the filesystem refuses; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(k) => total += k as u64,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "filling the tmpfs: {e}");
                break;
            }
        }
    }
    total
}

#[test]
fn full_disk_refuses_writes_keeps_serving_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("mnt"), "48m") else {
        assert!(
            !is_root(),
            "running as root but could not mount a tmpfs for the disk-full test"
        );
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return;
    };
    let data = fs.0.join("data");
    let ballast = fs.0.join("ballast");
    // Every stored line is read back with one query: no cap on its `limit`.
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(&cfg, "limits:\n  max_entries_limit_per_query: 0\n").unwrap();
    let args = ["--config", cfg.to_str().unwrap()];
    let n = Nerve::start(&data, &args);
    let mut sigs = [
        Signal::new("remote write", write_metric),
        Signal::new("loki push", push_log),
        Signal::new("otlp traces", export_span),
    ];
    for s in &mut sigs {
        for _ in 0..20 {
            let rep = s.send_one(&n);
            assert!((200..300).contains(&rep.status), "{}: {}", s.name, rep.body);
        }
    }

    let filled = fill(&ballast);
    assert!(filled > 0);
    for s in &mut sigs {
        s.until_refused(&n);
    }
    // Reads keep working on the full disk.
    assert_eq!(client().get(n.url("/-/healthy")).send().unwrap().status(), 200);
    assert_all_acked_present(&n, &sigs, "disk full");

    // Crash and restart while the disk is still full.
    n.kill9();
    let n = Nerve::start(&data, &args);
    assert_all_acked_present(&n, &sigs, "restart on a full disk");
    for s in &mut sigs {
        s.until_refused(&n);
    }

    // SIGTERM on the full disk: the WALs hold everything acknowledged, so the final flushes
    // failing is no reason for a failure exit; the next start replays them.
    let status = n.stop();
    assert!(status.success(), "SIGTERM on a full disk exited with {status:?}");
    let n = Nerve::start(&data, &args);
    assert_all_acked_present(&n, &sigs, "restart after SIGTERM on a full disk");

    // Space returns: ingest resumes without a restart.
    std::fs::remove_file(&ballast).unwrap();
    for s in &mut sigs {
        s.until_accepted(&n);
        for _ in 0..10 {
            let rep = s.send_one(&n);
            assert!(
                (200..300).contains(&rep.status),
                "{} after space returned: {}",
                s.name,
                rep.body
            );
        }
    }
    assert_all_acked_present(&n, &sigs, "space returned");
    n.kill9();
    let n = Nerve::start(&data, &args);
    assert_all_acked_present(&n, &sigs, "final restart");
    drop(n);
}
