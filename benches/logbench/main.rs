//! `nerve-logbench`: log ingest and query benchmark against a running nerve (Loki API).
//!
//! Workload: `--streams` streams, all `app="x"` (distinct `pod`, half `format="json"` with
//! ~500 B JSON lines, half `format="logfmt"` with ~150 B logfmt lines), `--bytes` of raw line
//! data spread evenly over the last `--span-secs` seconds, each stream's timestamps increasing.
//! One line in `--rare-every` carries the token `rare-token-zq7`. Lines come from an own
//! xorshift PRNG (`--seed`), so runs are identical. Every push body (snappy protobuf, about
//! `--batch-bytes` of lines) is encoded before the clock starts.
//!
//! Phases, each bounded: (1) push with `--concurrency` connections, measuring wall time and
//! nerve's CPU time from `/proc/<--pid>/stat`; (2) wait until the head is committed to the
//! index (`nerve_log_head_entries` = 0); (3) run `{app="x"} |= "rare-token-zq7"` over the
//! whole span (limit 1000, backward, like Grafana) and
//! `sum by (level) (count_over_time({app="x", format="json"} | json [1m]))` (the JSON half of
//! the streams: `| json` over logfmt lines is a pipeline error in Loki and nerve alike) as a
//! range query over the last
//! hour, `--repeat` times each. Prints one JSON line with the figures. Loopback URLs only.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use clap::Parser;
use nerve_proto::loki::{PushEntry, PushRequest, PushStream, encode_push_protobuf};
use support::rng::Rng;
use support::{cpu_seconds_of, encode_query, loopback_url, post_all};

#[path = "../support/mod.rs"]
mod support;

#[derive(Parser, Debug)]
struct Args {
    /// nerve's HTTP base URL (loopback only).
    #[arg(long)]
    url: String,
    /// nerve's PID, for CPU time.
    #[arg(long)]
    pid: u32,
    /// Raw line bytes to push.
    #[arg(long, default_value_t = 1 << 30)]
    bytes: u64,
    /// Number of streams.
    #[arg(long, default_value_t = 50)]
    streams: usize,
    /// Line bytes per push request.
    #[arg(long, default_value_t = 1 << 20)]
    batch_bytes: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds of history the timestamps cover (ending now).
    #[arg(long, default_value_t = 3600)]
    span_secs: u64,
    /// One line in this many carries the rare token.
    #[arg(long, default_value_t = 200_000)]
    rare_every: u64,
    /// Repetitions of each query.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// PRNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Wall-time bound of the whole run, seconds.
    #[arg(long, default_value_t = 1200)]
    max_seconds: u64,
}

const LEVELS: [&str; 5] = ["info", "info", "info", "warn", "error"];
const PATHS: [&str; 6] = [
    "/api/orders",
    "/api/users/{id}",
    "/health",
    "/api/cart",
    "/login",
    "/api/search",
];
const RARE: &str = "rare-token-zq7";

fn json_line(r: &mut Rng, ts_ns: i64) -> String {
    let a = r.next();
    let b = r.next();
    format!(
        "{{\"time\":\"{}.{:09}\",\"level\":\"{}\",\"msg\":\"request completed\",\"method\":\"{}\",\"path\":\"{}\",\"status\":{},\"duration_ms\":{:.3},\"bytes_out\":{},\"user_id\":\"user-{:05}\",\"request_id\":\"{:016x}\",\"trace_id\":\"{:016x}{:016x}\",\"client_ip\":\"10.{}.{}.{}\",\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\",\"region\":\"eu-west-1\"}}",
        ts_ns / 1_000_000_000,
        ts_ns % 1_000_000_000,
        LEVELS[(a % 5) as usize],
        ["GET", "GET", "POST", "PUT"][((a >> 4) % 4) as usize],
        PATHS[((a >> 8) % 6) as usize],
        [200, 200, 200, 201, 304, 404, 500][((a >> 12) % 7) as usize],
        ((a >> 16) % 250_000) as f64 / 1000.0,
        (a >> 24) % 65_536,
        (a >> 32) % 20_000,
        b,
        r.next(),
        r.next(),
        (b >> 8) % 256,
        (b >> 16) % 256,
        (b >> 24) % 256,
    )
}

fn logfmt_line(r: &mut Rng) -> String {
    let a = r.next();
    format!(
        "level={} component=cache msg=\"lookup done\" key=session:{:08x} hit={} took={}us shard={}",
        LEVELS[(a % 5) as usize],
        (a >> 8) as u32,
        !a.is_multiple_of(3),
        (a >> 40) % 5000,
        (a >> 52) % 16
    )
}

/// Pre-encoded push bodies and the raw line bytes they carry.
fn build_bodies(a: &Args) -> (Vec<Vec<u8>>, u64, u64) {
    let mut rng = Rng(a.seed | 1);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64;
    let span = a.span_secs as i64 * 1_000_000_000;
    // Estimate the line count from the mean size of a sample of lines (JSON and logfmt
    // alternate) to spread timestamps evenly; timestamps never pass `now` (nerve refuses
    // lines from the future).
    let mut probe = Rng(a.seed.wrapping_add(7) | 1);
    let sample: u64 = (0..2000)
        .map(|k| if k % 2 == 0 { json_line(&mut probe, now).len() } else { logfmt_line(&mut probe).len() } as u64)
        .sum();
    let mean = (sample / 2000).max(1);
    let total_lines = (a.bytes / mean).max(1) as i64;
    let step = (span / total_lines).max(1);
    let start = now - span;
    let mut bodies = Vec::new();
    let (mut raw, mut lines, mut i) = (0u64, 0u64, 0i64);
    while raw < a.bytes {
        let mut streams: Vec<PushStream> = (0..a.streams)
            .map(|s| PushStream {
                labels: vec![
                    ("app".into(), "x".into()),
                    (
                        "format".into(),
                        if s.is_multiple_of(2) { "json" } else { "logfmt" }.into(),
                    ),
                    ("pod".into(), format!("pod-{s:02}")),
                ],
                entries: Vec::new(),
            })
            .collect();
        let mut in_batch = 0usize;
        while in_batch < a.batch_bytes && raw < a.bytes {
            let s = (i as usize) % a.streams;
            let ts = (start + i * step).min(now);
            let mut line = if s.is_multiple_of(2) {
                json_line(&mut rng, ts)
            } else {
                logfmt_line(&mut rng)
            };
            if (i as u64) % a.rare_every == a.rare_every / 2 {
                // Inside the JSON object for JSON lines (so they stay valid JSON), appended to
                // logfmt lines.
                if line.ends_with('}') {
                    line.pop();
                    line.push_str(&format!(",\"tag\":\"{RARE}\"}}"));
                } else {
                    line.push(' ');
                    line.push_str(RARE);
                }
            }
            raw += line.len() as u64;
            in_batch += line.len();
            lines += 1;
            streams[s].entries.push(PushEntry {
                ts_ns: ts,
                line,
                structured_metadata: Vec::new(),
            });
            i += 1;
        }
        streams.retain(|s| !s.entries.is_empty());
        bodies.push(encode_push_protobuf(&PushRequest { streams }));
    }
    (bodies, raw, lines)
}

async fn timed_query(c: &reqwest::Client, url: &str, repeat: usize) -> Result<(Vec<f64>, String)> {
    let mut times = Vec::new();
    let mut last = String::new();
    for _ in 0..repeat {
        let t = Instant::now();
        let r = c.get(url).send().await?;
        let status = r.status();
        last = r.text().await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() {
            bail!("{url}: {status}: {last}");
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((times, last))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    // reqwest is built without a default rustls provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a = Args::parse();
    loopback_url(&a.url)?;
    let deadline = Instant::now() + Duration::from_secs(a.max_seconds);
    eprintln!("encoding {} bytes of log lines", a.bytes);
    let (bodies, raw, lines) = build_bodies(&a);
    let bodies = Arc::new(bodies);
    let c = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let push_url = format!("{}/loki/api/v1/push", a.url);
    let cpu0 = cpu_seconds_of(a.pid)?;
    let t0 = Instant::now();
    let accepted = |s: reqwest::StatusCode| s.as_u16() == 204;
    post_all(&c, &push_url, bodies, a.concurrency, deadline, accepted, "push").await?;
    let push_secs = t0.elapsed().as_secs_f64();
    let push_cpu = cpu_seconds_of(a.pid)? - cpu0;
    eprintln!("pushed {raw} bytes ({lines} lines) in {push_secs:.1} s, nerve CPU {push_cpu:.1} s");

    // Wait for the index commit.
    let commit_t = Instant::now();
    loop {
        let m = c.get(format!("{}/metrics", a.url)).send().await?.text().await?;
        let head = m
            .lines()
            .find(|l| l.starts_with("nerve_log_head_entries "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok());
        if head == Some(0.0) {
            break;
        }
        if Instant::now() > deadline {
            bail!("time limit reached waiting for the index commit");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let commit_wait = commit_t.elapsed().as_secs_f64();
    let commit_cpu = cpu_seconds_of(a.pid)? - cpu0 - push_cpu;

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i64;
    let start = now - (a.span_secs as i64 + 60) * 1_000_000_000;
    let rare_q = format!(r#"{{app="x"}} |= "{RARE}""#);
    let rare_url = format!(
        "{}/loki/api/v1/query_range?query={}&start={start}&end={}&limit=1000&direction=backward",
        a.url,
        encode_query(&rare_q),
        now + 60_000_000_000
    );
    let (rare_ms, rare_body) = timed_query(&c, &rare_url, a.repeat).await?;
    let found = rare_body.matches(RARE).count();
    let metric_q = r#"sum by (level) (count_over_time({app="x", format="json"} | json [1m]))"#;
    let metric_url = format!(
        "{}/loki/api/v1/query_range?query={}&start={}&end={now}&step=60",
        a.url,
        encode_query(metric_q),
        now - 3_600_000_000_000
    );
    let (metric_ms, _) = timed_query(&c, &metric_url, a.repeat).await?;
    let median = |v: &[f64]| v[v.len() / 2];
    let out = serde_json::json!({
        "raw_bytes": raw,
        "lines": lines,
        "push_seconds": push_secs,
        "push_mb_per_sec": raw as f64 / 1e6 / push_secs,
        "nerve_cpu_seconds_push": push_cpu,
        "nerve_cpu_seconds_commit_wait": commit_cpu,
        "commit_wait_seconds": commit_wait,
        "ingest_mb_per_cpu_second": raw as f64 / 1e6 / (push_cpu + commit_cpu).max(1e-9),
        "rare_token_ms_median": median(&rare_ms),
        "rare_token_ms_min": rare_ms[0],
        "rare_token_lines_found": found,
        "metric_query_ms_median": median(&metric_ms),
        "metric_query_ms_min": metric_ms[0],
    });
    println!("{out}");
    Ok(())
}
