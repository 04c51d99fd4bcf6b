//! `nerve-loadgen`: a bounded Prometheus remote-write 1.0 load generator.
//!
//! It sends the same deterministic workload to any remote-write receiver (nerve, or
//! `prometheus --web.enable-remote-write-receiver`) so the two can be compared on one
//! machine; `benches/remote_write_vs_prometheus.sh` drives it.
//!
//! # Workload
//! `--series` active series shaped like real exporter output: every scrape target
//! (`job`, `instance`, `env`, `region`) exposes [`SERIES_PER_TARGET`] series in 11 metric
//! families (request counters by method/status/path, a latency histogram, per-CPU
//! seconds, network byte counters, memory/filesystem/temperature/queue gauges, ...), up to
//! 8 labels per series. Targets are added until the total equals `--series` (the last
//! one is cut short). Counters grow by realistic increments (mostly small integers,
//! centiseconds for CPU time, large integers for bytes), gauges random-walk at their
//! natural resolution (bytes in pages, temperature in tenths, queue lengths as
//! integers). Values come from an own xorshift PRNG seeded by `--seed`, so two runs
//! send byte-identical bodies.
//!
//! # Sending
//! Round `r` carries one sample per series, all at `start + r × interval`. A round is cut
//! into requests of `--batch` consecutive series (Prometheus's `max_samples_per_send`
//! default is 2,000). Request `b` of every round always goes through sender task
//! `b % concurrency`, one request at a time on its own keep-alive connection, so each
//! series' samples arrive in time order, the way Prometheus's shards keep them.
//! A generator thread steps the values and `--encoder-threads` threads encode
//! round `r + 1` while round `r` is on the wire (bounded channels keep the lead to about
//! two rounds); `--pre-encode` encodes everything before the clock starts instead.
//!
//! Responses: 2xx counts the request's samples as accepted; 429 and 5xx (and
//! connection errors) are retried after `Retry-After` or an exponential backoff, up to
//! `--max-retries` times; any other status aborts the run with the server's message.
//!
//! # Output
//! Progress lines go to stderr; the result is one JSON line on stdout:
//! `{"samples":N,"seconds":S,"samples_per_sec":X,"requests":R,"retries":K,"errors":E,...}`
//! plus latency quantiles and the client's own CPU time (so it is visible whether the
//! client, not the server, was the bottleneck).
//!
//! Everything is bounded: `--rounds` rounds, `--max-seconds` of wall time, `--max-retries`
//! per request, and only loopback URLs are accepted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use support::{cpu_seconds, loopback_url};
use tokio::sync::mpsc;

#[path = "../support/mod.rs"]
mod support;

/// Command-line options.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "nerve-loadgen",
    about = "Bounded Prometheus remote-write 1.0 load generator (loopback only)"
)]
struct Args {
    /// Remote-write endpoint; the host must be a loopback address.
    #[arg(long, default_value = "http://127.0.0.1:9090/api/v1/write")]
    url: String,
    /// Number of active series.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Number of rounds; each sends one sample of every series.
    #[arg(long, default_value_t = 800)]
    rounds: u32,
    /// Timestamp step between rounds, in milliseconds (the scrape interval).
    #[arg(long, default_value_t = 15_000)]
    interval_ms: i64,
    /// Timestamp of round 0 in Unix milliseconds; default: now − rounds × interval, so the data ends now.
    #[arg(long)]
    start_ms: Option<i64>,
    /// Samples (= series) per request.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    /// Concurrent sender tasks, each with its own keep-alive connection.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Threads that encode request bodies (protobuf + snappy) ahead of the senders.
    #[arg(long, default_value_t = 1)]
    encoder_threads: usize,
    /// Encode every request before the clock starts (memory permitting, see --pre-encode-max-mib).
    #[arg(long)]
    pre_encode: bool,
    /// Upper bound of the memory --pre-encode may hold, in MiB.
    #[arg(long, default_value_t = 4096)]
    pre_encode_max_mib: u64,
    /// Hard stop: wall-clock seconds after which nothing new is sent.
    #[arg(long, default_value_t = 1800)]
    max_seconds: u64,
    /// Retries per request on 429, 5xx or connection errors before it counts as an error.
    #[arg(long, default_value_t = 10)]
    max_retries: u32,
    /// Timeout of one HTTP request, in seconds.
    #[arg(long, default_value_t = 60)]
    request_timeout_seconds: u64,
    /// PRNG seed; the same seed gives the same bodies.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 10)]
    progress_seconds: u64,
}

// ---------------------------------------------------------------------------------------
// Deterministic values
// ---------------------------------------------------------------------------------------

/// xorshift64* — small, fast, deterministic; plenty for synthetic metric values.
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (any value, zero included).
    fn new(seed: u64) -> Self {
        // splitmix64 step, so nearby seeds give unrelated streams and the state is never 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Approximately standard normal (Irwin–Hall with four terms).
    fn normal(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 3f64.sqrt()
    }

    /// A Poisson-like non-negative integer with mean `lambda`: exact (Knuth) below 12,
    /// a rounded normal approximation above.
    fn poisson(&mut self, lambda: f64) -> f64 {
        if lambda <= 0.0 {
            return 0.0;
        }
        if lambda < 12.0 {
            let limit = (-lambda).exp();
            let mut k = 0u32;
            let mut p = self.unit();
            while p > limit && k < 64 {
                k += 1;
                p *= self.unit();
            }
            f64::from(k)
        } else {
            (lambda + lambda.sqrt() * self.normal()).round().max(0.0)
        }
    }
}

/// How one series' value evolves from round to round. Values are kept in integer
/// "units" (pages, centiseconds, tenths of a degree, ...) and sent as `units / divisor`,
/// the way exporters derive them.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Never changes (`up`).
    Constant,
    /// Counter growing by a Poisson-like number of units with this mean per round.
    Counter { mean: f64 },
    /// Counter growing by `mean × U(0.5, 1.5)` units per round, rounded (bytes, centiseconds).
    SmoothCounter { mean: f64 },
    /// Gauge moving by a whole number of units in `[-step, step]`, staying put with
    /// probability `hold`, clamped to `[min, max]`.
    Walk { step: f64, hold: f64, min: f64, max: f64 },
    /// Part of a histogram; the whole histogram is stepped together (see [`Histogram`]).
    Histogram,
}

/// The le bounds of the latency histogram.
const LE: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, f64::INFINITY];
/// Their label values, formatted as client_golang does.
const LE_LABELS: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];
const PATHS: [&str; 5] = [
    "/api/v1/orders",
    "/api/v1/search",
    "/api/v1/users",
    "/healthz",
    "/login",
];
const METHODS: [&str; 2] = ["GET", "POST"];
const STATUSES: [(&str, f64); 3] = [("200", 1.0), ("404", 0.04), ("500", 0.004)];
/// CPU modes with their typical share of wall time.
const CPU_MODES: [(&str, f64); 8] = [
    ("idle", 0.78),
    ("iowait", 0.02),
    ("irq", 0.004),
    ("nice", 0.002),
    ("softirq", 0.01),
    ("steal", 0.003),
    ("system", 0.05),
    ("user", 0.13),
];
const CPUS: usize = 4;
const JOBS: [(&str, u16); 5] = [
    ("api", 8080),
    ("gateway", 8081),
    ("node", 9100),
    ("worker", 8082),
    ("db-proxy", 9187),
];
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-south-1"];

/// Series one scrape target exposes.
const SERIES_PER_TARGET: usize = 1 // up
    + 1 // process_resident_memory_bytes
    + 1 // process_cpu_seconds_total
    + 1 // go_goroutines
    + CPUS * CPU_MODES.len() // node_cpu_seconds_total
    + 6 // node_network_{receive,transmit}_bytes_total
    + 3 // node_filesystem_avail_bytes
    + 4 // temperature_celsius
    + 4 // queue_length
    + METHODS.len() * STATUSES.len() * PATHS.len() // http_requests_total
    + PATHS.len() * (LE.len() + 2); // http_request_duration_seconds_{bucket,sum,count}

/// One latency histogram (one path of one target): its series are stepped together so the
/// buckets stay cumulative and `_count` equals the `+Inf` bucket.
#[derive(Debug, Clone)]
struct Histogram {
    /// Index of the `le="0.005"` bucket; the other buckets follow, then `_sum`, then `_count`.
    first: usize,
    /// Mean requests per round.
    rate: f64,
    /// Median latency in seconds.
    median: f64,
}

/// The state of every series (including the cut-off tail of the last target).
struct Model {
    units: Vec<f64>,
    divisor: Vec<f64>,
    kinds: Vec<Kind>,
    histograms: Vec<Histogram>,
    rng: XorShift,
    /// Series actually sent (`--series`); `units` may hold a few more.
    active: usize,
}

/// Builds label sets while the model is laid out.
struct Layout {
    labels: Vec<Vec<(String, String)>>,
    model: Model,
}

impl Layout {
    fn push(
        &mut self,
        target: &[(String, String)],
        name: &str,
        extra: &[(&str, &str)],
        kind: Kind,
        start: f64,
        div: f64,
    ) {
        let mut labels: Vec<(String, String)> = Vec::with_capacity(target.len() + extra.len() + 1);
        labels.push(("__name__".to_owned(), name.to_owned()));
        labels.extend(target.iter().cloned());
        labels.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
        labels.sort();
        self.labels.push(labels);
        self.model.units.push(start.round());
        self.model.divisor.push(div);
        self.model.kinds.push(kind);
    }
}

impl Model {
    /// Lays out `series` series (whole targets, the last one cut short) and returns the
    /// model plus each sent series' labels, sorted by name as Prometheus sends them.
    fn new(series: usize, seed: u64) -> (Model, Vec<Vec<(String, String)>>) {
        let targets = series.div_ceil(SERIES_PER_TARGET);
        let total = targets * SERIES_PER_TARGET;
        let mut layout = Layout {
            labels: Vec::with_capacity(total),
            model: Model {
                units: Vec::with_capacity(total),
                divisor: Vec::with_capacity(total),
                kinds: Vec::with_capacity(total),
                histograms: Vec::with_capacity(targets * PATHS.len()),
                rng: XorShift::new(seed),
                active: series,
            },
        };
        let mut rng = XorShift::new(seed ^ 0x5EED_1AB0_07ED);
        for t in 0..targets {
            let (job, port) = JOBS[t % JOBS.len()];
            let target = vec![
                ("env".to_owned(), if t % 4 == 3 { "staging" } else { "prod" }.to_owned()),
                (
                    "instance".to_owned(),
                    format!("10.{}.{}.{}:{port}", (t >> 16) & 255, (t >> 8) & 255, t & 255),
                ),
                ("job".to_owned(), job.to_owned()),
                ("region".to_owned(), REGIONS[t % REGIONS.len()].to_owned()),
            ];
            // Uptime so far, in rounds: counters start where a process this old would be.
            let age = rng.range(100.0, 200_000.0);
            let load = rng.range(0.2, 3.0);
            let l = &mut layout;
            l.push(&target, "up", &[], Kind::Constant, 1.0, 1.0);
            let rss_pages = rng.range(10_000.0, 200_000.0);
            let walk = Kind::Walk {
                step: 256.0,
                hold: 0.3,
                min: 5_000.0,
                max: 400_000.0,
            };
            l.push(
                &target,
                "process_resident_memory_bytes",
                &[],
                walk,
                rss_pages,
                1.0 / 4096.0,
            );
            let cpu_cs = 1500.0 * 0.05 * load;
            let kind = Kind::SmoothCounter { mean: cpu_cs };
            l.push(&target, "process_cpu_seconds_total", &[], kind, cpu_cs * age, 100.0);
            let walk = Kind::Walk {
                step: 3.0,
                hold: 0.4,
                min: 8.0,
                max: 2_000.0,
            };
            l.push(&target, "go_goroutines", &[], walk, rng.range(20.0, 400.0), 1.0);
            for cpu in 0..CPUS {
                let cpu_label = cpu.to_string();
                for (mode, share) in CPU_MODES {
                    // 15 s of wall time is 1500 centiseconds per CPU.
                    let mean = 1500.0 * share * if mode == "idle" { 1.0 } else { load / 1.5 };
                    let kind = Kind::SmoothCounter { mean };
                    l.push(
                        &target,
                        "node_cpu_seconds_total",
                        &[("cpu", &cpu_label), ("mode", mode)],
                        kind,
                        mean * age,
                        100.0,
                    );
                }
            }
            for (name, scale) in [
                ("node_network_receive_bytes_total", 1.0),
                ("node_network_transmit_bytes_total", 0.6),
            ] {
                for (device, dev_scale) in [("eth0", 1.0), ("eth1", 0.05), ("lo", 0.2)] {
                    let mean = rng.range(5e3, 5e6) * scale * dev_scale;
                    let kind = Kind::SmoothCounter { mean };
                    l.push(&target, name, &[("device", device)], kind, mean * age, 1.0);
                }
            }
            for mountpoint in ["/", "/home", "/var"] {
                let pages = rng.range(1e5, 5e7);
                let walk = Kind::Walk {
                    step: 64.0,
                    hold: 0.8,
                    min: 1e4,
                    max: 6e7,
                };
                l.push(
                    &target,
                    "node_filesystem_avail_bytes",
                    &[("mountpoint", mountpoint)],
                    walk,
                    pages,
                    1.0 / 4096.0,
                );
            }
            for sensor in ["core0", "core1", "core2", "core3"] {
                let tenths = rng.range(380.0, 650.0);
                let walk = Kind::Walk {
                    step: 3.0,
                    hold: 0.5,
                    min: 300.0,
                    max: 950.0,
                };
                l.push(
                    &target,
                    "temperature_celsius",
                    &[("sensor", sensor)],
                    walk,
                    tenths,
                    10.0,
                );
            }
            for queue in ["emails", "exports", "ingest", "webhooks"] {
                let walk = Kind::Walk {
                    step: 2.0,
                    hold: 0.6,
                    min: 0.0,
                    max: 500.0,
                };
                l.push(
                    &target,
                    "queue_length",
                    &[("queue", queue)],
                    walk,
                    rng.range(0.0, 8.0).floor(),
                    1.0,
                );
            }
            let path_rates: Vec<f64> = PATHS.iter().map(|_| rng.range(0.2, 40.0) * load).collect();
            for method in METHODS {
                for (status, status_share) in STATUSES {
                    for (p, path) in PATHS.iter().enumerate() {
                        let method_share = if method == "GET" { 0.8 } else { 0.2 };
                        let mean = path_rates[p] * method_share * status_share;
                        let extra = [("method", method), ("path", *path), ("status", status)];
                        l.push(
                            &target,
                            "http_requests_total",
                            &extra,
                            Kind::Counter { mean },
                            (mean * age).round(),
                            1.0,
                        );
                    }
                }
            }
            for (p, path) in PATHS.iter().enumerate() {
                let first = l.labels.len();
                let rate = path_rates[p];
                let median = rng.range(0.004, 0.3);
                let count = (rate * age).round();
                for (i, le) in LE_LABELS.iter().enumerate() {
                    // Start the cumulative buckets at their expected shares of `count`.
                    let share = lognormal_cdf(LE[i], median);
                    let extra = [("le", *le), ("path", *path)];
                    let name = "http_request_duration_seconds_bucket";
                    l.push(&target, name, &extra, Kind::Histogram, (count * share).floor(), 1.0);
                }
                let sum = count * median * 1.4;
                l.push(
                    &target,
                    "http_request_duration_seconds_sum",
                    &[("path", path)],
                    Kind::Histogram,
                    0.0,
                    1.0,
                );
                *l.model.units.last_mut().expect("just pushed") = sum;
                l.push(
                    &target,
                    "http_request_duration_seconds_count",
                    &[("path", path)],
                    Kind::Histogram,
                    count,
                    1.0,
                );
                l.model.histograms.push(Histogram { first, rate, median });
            }
            debug_assert_eq!(l.labels.len(), (t + 1) * SERIES_PER_TARGET);
        }
        let Layout { mut labels, model } = layout;
        labels.truncate(series);
        (model, labels)
    }

    /// Advances every series by one round.
    fn step(&mut self) {
        let rng = &mut self.rng;
        for i in 0..self.units.len() {
            let u = &mut self.units[i];
            match self.kinds[i] {
                Kind::Constant | Kind::Histogram => {}
                Kind::Counter { mean } => *u += rng.poisson(mean),
                Kind::SmoothCounter { mean } => *u += (mean * rng.range(0.5, 1.5)).round(),
                Kind::Walk { step, hold, min, max } => {
                    if rng.unit() >= hold {
                        let delta = (rng.range(-step, step + 1.0)).floor();
                        *u = (*u + delta).clamp(min, max);
                    }
                }
            }
        }
        let mut buckets = [0f64; LE.len()];
        for h in &self.histograms {
            let n = rng.poisson(h.rate) as usize;
            buckets.fill(0.0);
            let mut sum = 0.0;
            for _ in 0..n.min(10_000) {
                let d = h.median * (0.9 * rng.normal()).exp();
                sum += d;
                let b = LE.iter().position(|le| d <= *le).unwrap_or(LE.len() - 1);
                buckets[b] += 1.0;
            }
            let mut cumulative = 0.0;
            for (i, count) in buckets.iter().enumerate() {
                cumulative += count;
                self.units[h.first + i] += cumulative;
            }
            self.units[h.first + LE.len()] += sum;
            self.units[h.first + LE.len() + 1] += cumulative;
        }
    }

    /// The current value of every sent series.
    fn values(&self, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.units[..self.active].iter().zip(&self.divisor).map(|(u, d)| u / d));
    }
}

/// P(latency ≤ le) for the log-normal the histograms draw from (σ = 0.9).
fn lognormal_cdf(le: f64, median: f64) -> f64 {
    if le.is_infinite() {
        return 1.0;
    }
    let z = (le / median).ln() / 0.9;
    // Logistic approximation of Φ(z); good enough for starting values.
    1.0 / (1.0 + (-1.702 * z).exp())
}

// ---------------------------------------------------------------------------------------
// Encoding: hand-rolled protobuf with each series' labels encoded once
// ---------------------------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The `labels` fields (field 1 of `TimeSeries`) of one series, ready to copy.
fn encode_labels(labels: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in labels {
        let mut label = Vec::with_capacity(name.len() + value.len() + 4);
        for (tag, s) in [(0x0A, name), (0x12, value)] {
            if !s.is_empty() {
                label.push(tag);
                put_varint(&mut label, s.len() as u64);
                label.extend_from_slice(s.as_bytes());
            }
        }
        out.push(0x0A);
        put_varint(&mut out, label.len() as u64);
        out.extend_from_slice(&label);
    }
    out
}

/// Appends the protobuf of a `WriteRequest` holding one sample per series, byte for byte
/// what prost would produce for the same message.
fn encode_request(labels: &[Vec<u8>], values: &[f64], timestamp: i64, out: &mut Vec<u8>) {
    let mut sample = [0u8; 20];
    for (series_labels, value) in labels.iter().zip(values) {
        let mut n = 0;
        if *value != 0.0 {
            sample[0] = 0x09;
            sample[1..9].copy_from_slice(&value.to_le_bytes());
            n = 9;
        }
        if timestamp != 0 {
            sample[n] = 0x10;
            n += 1;
            let mut v = timestamp as u64;
            while v >= 0x80 {
                sample[n] = (v as u8) | 0x80;
                v >>= 7;
                n += 1;
            }
            sample[n] = v as u8;
            n += 1;
        }
        let body = series_labels.len() + 1 + varint_len(n as u64) + n;
        out.push(0x0A);
        put_varint(out, body as u64);
        out.extend_from_slice(series_labels);
        out.push(0x12);
        put_varint(out, n as u64);
        out.extend_from_slice(&sample[..n]);
    }
}

/// One request body, ready to send.
struct Job {
    body: Vec<u8>,
    samples: u64,
}

// ---------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------

/// Counters shared by the sender tasks.
#[derive(Default)]
struct Stats {
    samples: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    errors: AtomicU64,
    body_bytes: AtomicU64,
    encoded_bytes: AtomicU64,
}

/// Everything a sender task needs.
struct Sender {
    client: reqwest::Client,
    url: reqwest::Url,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
    max_retries: u32,
}

/// Why a sender task ended early.
enum Ended {
    Done,
    Deadline,
    Stopped,
}

impl Sender {
    /// Sends every job from `rx` in order; returns the request latencies in microseconds.
    async fn run(&self, mut rx: mpsc::Receiver<Job>) -> Result<(Ended, Vec<u32>)> {
        let mut latencies = Vec::new();
        while let Some(job) = rx.recv().await {
            if self.stop.load(Ordering::Relaxed) {
                return Ok((Ended::Stopped, latencies));
            }
            if Instant::now() >= self.deadline {
                return Ok((Ended::Deadline, latencies));
            }
            let started = Instant::now();
            if self.send(job).await? {
                latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
        }
        Ok((Ended::Done, latencies))
    }

    /// Sends one body with retries. `Ok(true)`: accepted; `Ok(false)`: gave up (counted
    /// as an error); `Err`: the server refused it (4xx other than 429).
    async fn send(&self, job: Job) -> Result<bool> {
        let mut attempt = 0u32;
        loop {
            let response = self
                .client
                .post(self.url.clone())
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("User-Agent", "nerve-loadgen")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(job.body.clone())
                .send()
                .await;
            let wait = match response {
                Ok(resp) if resp.status().is_success() => {
                    // Drain the (empty) body so the connection goes back to the pool.
                    let _ = resp.bytes().await;
                    self.stats.samples.fetch_add(job.samples, Ordering::Relaxed);
                    self.stats.requests.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .body_bytes
                        .fetch_add(job.body.len() as u64, Ordering::Relaxed);
                    return Ok(true);
                }
                Ok(resp) if resp.status().as_u16() == 429 || resp.status().is_server_error() => {
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if attempt == 0 || attempt + 1 >= self.max_retries {
                        eprintln!(
                            "nerve-loadgen: HTTP {status} (attempt {}): {}",
                            attempt + 1,
                            text.trim()
                        );
                    }
                    retry_after.unwrap_or_else(|| backoff(attempt))
                }
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    bail!("server refused a request with HTTP {status}: {}", text.trim());
                }
                Err(e) => {
                    if attempt == 0 || attempt + 1 >= self.max_retries {
                        eprintln!("nerve-loadgen: request failed (attempt {}): {e}", attempt + 1);
                    }
                    backoff(attempt)
                }
            };
            attempt += 1;
            if attempt > self.max_retries || self.stop.load(Ordering::Relaxed) {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait.min(left)).await;
        }
    }
}

/// 100 ms, 200 ms, ... capped at 5 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6)).min(5_000))
}

fn main() {
    // reqwest is built without a default rustls provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    match run(&args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("nerve-loadgen: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Runs the whole load; returns the exit code (0: all sent and accepted).
fn run(args: &Args) -> Result<i32> {
    let url = loopback_url(&args.url)?;
    if args.series == 0 || args.rounds == 0 || args.batch == 0 || args.concurrency == 0 || args.encoder_threads == 0 {
        bail!("--series, --rounds, --batch, --concurrency and --encoder-threads must be positive");
    }
    if args.interval_ms <= 0 {
        bail!("--interval-ms must be positive");
    }
    let process_start = Instant::now();
    let deadline = process_start + Duration::from_secs(args.max_seconds);
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let start_ms = args
        .start_ms
        .unwrap_or(now_ms - i64::from(args.rounds) * args.interval_ms);

    let (model, labels) = Model::new(args.series, args.seed);
    let labels: Arc<Vec<Vec<u8>>> = Arc::new(labels.iter().map(|l| encode_labels(l)).collect());
    let batches = args.series.div_ceil(args.batch);
    let concurrency = args.concurrency.min(batches);
    let encoders = args.encoder_threads.min(batches);
    let per_task = batches.div_ceil(concurrency);
    let total_jobs = u64::from(args.rounds) * batches as u64;
    let capacity = if args.pre_encode {
        per_task * args.rounds as usize + 1
    } else {
        2 * per_task + 1
    };
    eprintln!(
        "nerve-loadgen: {} series ({} targets × {SERIES_PER_TARGET}), {} rounds every {} ms from {start_ms}, \
         {batches} requests of ≤ {} samples per round, {concurrency} connections → {}",
        args.series,
        args.series.div_ceil(SERIES_PER_TARGET),
        args.rounds,
        args.interval_ms,
        args.batch,
        url
    );

    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut task_txs = Vec::with_capacity(concurrency);
    let mut task_rxs = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (tx, rx) = mpsc::channel::<Job>(capacity);
        task_txs.push(tx);
        task_rxs.push(rx);
    }

    // Generator → encoders: each encoder gets every round's values (shared, read-only).
    let mut encoder_txs = Vec::with_capacity(encoders);
    let mut encoder_handles = Vec::with_capacity(encoders);
    for e in 0..encoders {
        let (tx, rx) = std_mpsc::sync_channel::<(u32, Arc<Vec<f64>>)>(2);
        encoder_txs.push(tx);
        let labels = Arc::clone(&labels);
        let task_txs = task_txs.clone();
        let stats = Arc::clone(&stats);
        let stop = Arc::clone(&stop);
        let (batch, interval, pre, max_bytes) = (
            args.batch,
            args.interval_ms,
            args.pre_encode,
            args.pre_encode_max_mib << 20,
        );
        encoder_handles.push(thread::spawn(move || -> Result<()> {
            let mut raw = Vec::new();
            let mut snappy = snap::raw::Encoder::new();
            while let Ok((round, values)) = rx.recv() {
                let ts = start_ms + i64::from(round) * interval;
                for b in (e..batches).step_by(encoders) {
                    let lo = b * batch;
                    let hi = (lo + batch).min(labels.len());
                    raw.clear();
                    encode_request(&labels[lo..hi], &values[lo..hi], ts, &mut raw);
                    let mut body = snappy.compress_vec(&raw).context("snappy")?;
                    if pre {
                        body.shrink_to_fit();
                        let held = stats.encoded_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                        if held > max_bytes {
                            stop.store(true, Ordering::Relaxed);
                            bail!(
                                "--pre-encode needs more than --pre-encode-max-mib={} MiB",
                                max_bytes >> 20
                            );
                        }
                    }
                    let job = Job {
                        body,
                        samples: (hi - lo) as u64,
                    };
                    if task_txs[b % task_txs.len()].blocking_send(job).is_err() {
                        return Ok(()); // the senders are gone (abort or deadline)
                    }
                }
            }
            Ok(())
        }));
    }
    drop(task_txs);
    let mut generator = Some({
        let stop = Arc::clone(&stop);
        let rounds = args.rounds;
        thread::spawn(move || {
            let mut model = model;
            let mut values = Vec::new();
            for round in 0..rounds {
                if round > 0 {
                    model.step();
                }
                if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                    return;
                }
                model.values(&mut values);
                let shared = Arc::new(std::mem::take(&mut values));
                for tx in &encoder_txs {
                    if tx.send((round, Arc::clone(&shared))).is_err() {
                        return;
                    }
                }
                values = Arc::try_unwrap(shared).unwrap_or_default();
            }
        })
    });

    let mut encode_seconds = None;
    if args.pre_encode {
        let t0 = Instant::now();
        if let Some(g) = generator.take() {
            g.join().map_err(|_| anyhow!("generator thread panicked"))?;
        }
        for h in encoder_handles.drain(..) {
            h.join().map_err(|_| anyhow!("encoder thread panicked"))??;
        }
        encode_seconds = Some(t0.elapsed().as_secs_f64());
        eprintln!(
            "nerve-loadgen: pre-encoded {} requests ({} MiB) in {:.1} s",
            total_jobs,
            stats.encoded_bytes.load(Ordering::Relaxed) >> 20,
            t0.elapsed().as_secs_f64()
        );
    }

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(args.request_timeout_seconds))
        .build()?;
    let cpu0 = cpu_seconds("self");
    let t0 = Instant::now();
    let outcome = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for rx in task_rxs {
            let sender = Sender {
                client: client.clone(),
                url: url.clone(),
                stats: Arc::clone(&stats),
                stop: Arc::clone(&stop),
                deadline,
                max_retries: args.max_retries,
            };
            tasks.spawn(async move { sender.run(rx).await });
        }
        let progress = (args.progress_seconds > 0).then(|| {
            let stats = Arc::clone(&stats);
            let every = Duration::from_secs(args.progress_seconds);
            tokio::spawn(async move {
                let mut last = 0u64;
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tick.tick().await;
                    let now = stats.samples.load(Ordering::Relaxed);
                    eprintln!(
                        "nerve-loadgen: {:>6.1} s  {now} samples  {:.0} samples/s (last {} s)  {} retries",
                        t0.elapsed().as_secs_f64(),
                        (now - last) as f64 / every.as_secs_f64(),
                        every.as_secs(),
                        stats.retries.load(Ordering::Relaxed)
                    );
                    last = now;
                }
            })
        });
        let mut latencies = Vec::new();
        let mut failure: Option<anyhow::Error> = None;
        let mut hit_deadline = false;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok((ended, lat))) => {
                    hit_deadline |= matches!(ended, Ended::Deadline);
                    latencies.extend(lat);
                }
                Ok(Err(e)) => {
                    stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(anyhow!("sender task failed: {e}"));
                }
            }
            if failure.is_some() {
                tasks.abort_all();
            }
        }
        if let Some(p) = progress {
            p.abort();
        }
        (latencies, failure, hit_deadline)
    });
    let seconds = t0.elapsed().as_secs_f64();
    let client_cpu = cpu0.zip(cpu_seconds("self")).map(|(a, b)| b - a);
    let (mut latencies, failure, hit_deadline) = outcome;
    // Senders are gone: the encoders' sends fail and they return.
    stop.store(true, Ordering::Relaxed);
    for h in encoder_handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("nerve-loadgen: encoder: {e:#}"),
            Err(_) => eprintln!("nerve-loadgen: encoder thread panicked"),
        }
    }
    // With the encoders gone its next send fails, so it returns promptly.
    if generator.take().is_some_and(|g| g.join().is_err()) {
        eprintln!("nerve-loadgen: generator thread panicked");
    }

    latencies.sort_unstable();
    let quantile = |q: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() - 1) as f64 * q).round() as usize;
        f64::from(latencies[i]) / 1000.0
    };
    let samples = stats.samples.load(Ordering::Relaxed);
    let requests = stats.requests.load(Ordering::Relaxed);
    let errors = stats.errors.load(Ordering::Relaxed);
    let complete = requests == total_jobs;
    let result = serde_json::json!({
        "samples": samples,
        "seconds": round3(seconds),
        "samples_per_sec": round3(samples as f64 / seconds.max(1e-9)),
        "requests": requests,
        "retries": stats.retries.load(Ordering::Relaxed),
        "errors": errors,
        "complete": complete,
        "stopped_by_deadline": hit_deadline,
        "aborted": failure.as_ref().map(|e| format!("{e:#}")),
        "series": args.series,
        "rounds": args.rounds,
        "batch": args.batch,
        "concurrency": concurrency,
        "first_timestamp_ms": start_ms,
        "last_timestamp_ms": start_ms + i64::from(args.rounds - 1) * args.interval_ms,
        "body_bytes": stats.body_bytes.load(Ordering::Relaxed),
        "latency_ms_p50": round3(quantile(0.5)),
        "latency_ms_p99": round3(quantile(0.99)),
        "latency_ms_max": round3(quantile(1.0)),
        "client_cpu_seconds": client_cpu.map(round3),
        "client_cpu_share_of_one_core": client_cpu.map(|c| round3(c / seconds.max(1e-9))),
        "pre_encode_seconds": encode_seconds.map(round3),
    });
    println!("{result}");
    Ok(match failure {
        Some(e) => {
            eprintln!("nerve-loadgen: aborted: {e:#}");
            2
        }
        None if !complete => 1,
        None => 0,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};

    fn request(labels: &[Vec<(String, String)>], values: &[f64], ts: i64) -> WriteRequest {
        WriteRequest {
            timeseries: labels
                .iter()
                .zip(values)
                .map(|(l, v)| TimeSeries {
                    labels: l
                        .iter()
                        .map(|(name, value)| Label {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    samples: vec![Sample {
                        value: *v,
                        timestamp: ts,
                    }],
                    exemplars: vec![],
                    histograms: vec![],
                })
                .collect(),
            metadata: vec![],
        }
    }

    #[test]
    fn hand_encoding_matches_prost() {
        let (mut model, labels) = Model::new(2 * SERIES_PER_TARGET + 7, 1);
        let encoded: Vec<Vec<u8>> = labels.iter().map(|l| encode_labels(l)).collect();
        let mut values = Vec::new();
        for (round, ts) in [(0, 1_700_000_000_000i64), (1, 0), (2, -5), (3, i64::MAX)] {
            if round > 0 {
                model.step();
            }
            model.values(&mut values);
            values[0] = 0.0; // prost omits default fields; so must we
            values[1] = f64::NAN;
            let mut raw = Vec::new();
            encode_request(&encoded, &values, ts, &mut raw);
            let expected = nerve_proto::encode_v1(&request(&labels, &values, ts));
            let got = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
            assert_eq!(
                snap::raw::Decoder::new().decompress_vec(&expected).unwrap(),
                raw,
                "ts {ts}"
            );
            let decoded = nerve_proto::decode_v1(&got, 1 << 30).unwrap();
            assert_eq!(decoded.timeseries.len(), labels.len());
        }
    }

    #[test]
    fn varint_len_matches_put_varint() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn layout_is_exact_realistic_and_deterministic() {
        let n = 3 * SERIES_PER_TARGET - 11;
        let (mut a, labels) = Model::new(n, 7);
        let (mut b, _) = Model::new(n, 7);
        assert_eq!(labels.len(), n);
        assert!(labels.iter().all(|l| l.len() <= 8 && l[0].0 == "__name__"));
        assert!(
            labels.iter().all(|l| l.windows(2).all(|w| w[0].0 < w[1].0)),
            "labels sorted"
        );
        let mut unique: Vec<_> = labels.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), n, "series are distinct");
        let families: std::collections::BTreeSet<&str> = labels.iter().map(|l| l[0].1.as_str()).collect();
        assert!(families.len() >= 10, "{families:?}");

        let (mut va, mut vb, mut prev) = (Vec::new(), Vec::new(), Vec::new());
        a.values(&mut prev);
        for _ in 0..50 {
            a.step();
            b.step();
            a.values(&mut va);
            b.values(&mut vb);
            assert_eq!(va, vb);
            for (i, l) in labels.iter().enumerate() {
                let name = l[0].1.as_str();
                if name.ends_with("_total") || name.ends_with("_bucket") || name.ends_with("_count") {
                    assert!(va[i] >= prev[i], "{name} decreased");
                }
                if name == "temperature_celsius" {
                    assert_eq!((va[i] * 10.0).round() / 10.0, va[i]);
                }
                if name == "queue_length" {
                    assert_eq!(va[i].fract(), 0.0);
                }
            }
            prev.clone_from(&va);
        }
        // Histogram buckets are cumulative and _count equals +Inf.
        for h in &a.histograms {
            let u = &a.units[h.first..h.first + LE.len() + 2];
            assert!(u[..LE.len()].windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(u[LE.len() - 1], u[LE.len() + 1]);
        }
    }

    #[test]
    fn only_loopback_urls() {
        assert!(loopback_url("http://127.0.0.1:9090/api/v1/write").is_ok());
        assert!(loopback_url("http://localhost:1/api/v1/write").is_ok());
        assert!(loopback_url("http://[::1]:1/x").is_ok());
        assert!(loopback_url("http://10.0.0.1:9090/api/v1/write").is_err());
        assert!(loopback_url("https://127.0.0.1/").is_err());
    }
}
