//! `nerve-scrapebench`: many local scrape targets for a scrape load benchmark
//! (`benches/scrape_bench.sh` runs it against nerve and against Prometheus in turn).
//!
//! Workload: `--targets` HTTP listeners on `127.0.0.1:0` (loopback only), each serving
//! `GET /metrics` in the Prometheus text format 0.0.4 (`Content-Type: text/plain;
//! version=0.0.4; charset=utf-8`) with exactly `--series` sample lines, shaped like a typical
//! application plus node exporter:
//!
//! - `bench_target_info{target="N",shard="…"} 1`: the one line whose labels differ per target;
//! - about 30 %: `http_request_duration_seconds` classic histograms by method and path
//!   (12 `le` buckets, `_sum`, `_count`: 14 lines each; a few observations per request);
//! - about 15 %: `node_cpu_seconds_total{cpu, mode}` float counters;
//! - about 10 %: `app_connections{pool, state}` integer gauges (random walk);
//! - about 10 %: `node_filesystem_avail_bytes{device, mountpoint, fstype}` gauges (random walk);
//! - the rest: `http_requests_total{method, status, path}` integer counters.
//!
//! Every family has `# HELP` and `# TYPE` lines; no sample carries a timestamp. Values are
//! updated on every request (counters always increase, gauges walk), from an own xorshift
//! PRNG per target (`--seed`, the target index), so each target's values differ and runs are
//! repeatable. Bodies are served uncompressed whatever `Accept-Encoding` says: both
//! Prometheus and nerve accept that. The label part of every line is rendered once at start
//! and shared by all targets; a request only formats the values (about 60 B per line), so
//! serving costs little CPU next to the scraper being measured on the same cores. One
//! single-threaded runtime serves all targets.
//!
//! Once every listener is bound, `--write-sd FILE` gets a file_sd JSON
//! (`[{"targets":["127.0.0.1:PORT",…],"labels":{}}]`, written to a temp file and renamed) for
//! `file_sd_configs`. Progress (requests served, targets scraped, min/max per target) goes to
//! stderr every `--progress-secs`; after `--max-seconds` (or SIGINT/SIGTERM) it prints one
//! JSON summary line to stdout and exits. Needs about 2 file descriptors per target
//! (listener + the scraper's keep-alive connection): raise `ulimit -n` for many targets.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use clap::Parser;
use parking_lot::Mutex;
use support::rng::Rng;

#[path = "../support/mod.rs"]
mod support;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Parser, Debug)]
#[command(about = "Serve many local /metrics targets for a scrape benchmark")]
struct Args {
    /// Number of targets (listeners on 127.0.0.1, OS-chosen ports).
    #[arg(long, default_value_t = 1000)]
    targets: usize,
    /// Sample lines per target body.
    #[arg(long, default_value_t = 1000)]
    series: usize,
    /// Write a file_sd JSON listing all targets to this file once they are bound.
    #[arg(long)]
    write_sd: Option<PathBuf>,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 1800)]
    max_seconds: u64,
    /// Seconds between progress lines on stderr.
    #[arg(long, default_value_t = 15)]
    progress_secs: u64,
    /// PRNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Target `stream`'s own generator: distinct streams for one seed, never a zero state.
fn target_rng(seed: u64, stream: u64) -> Rng {
    let s = seed ^ (stream.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut r = Rng(if s == 0 { 0x2545_F491_4F6C_DD1D } else { s });
    for _ in 0..4 {
        r.next();
    }
    r
}

const METHOD_NAMES: [&str; 4] = ["GET", "HEAD", "POST", "PUT"];
const STATUSES: [&str; 6] = ["200", "201", "304", "400", "404", "500"];
const PATHS: [&str; 8] = [
    "orders", "users", "cart", "search", "login", "items", "health", "payments",
];
const CPU_MODES: [&str; 8] = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"];
const CONN_STATES: [&str; 3] = ["active", "idle", "waiting"];
const FSTYPES: [&str; 3] = ["ext4", "xfs", "tmpfs"];
const LE: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];
const LE_VALUES: [f64; 12] = [
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    f64::INFINITY,
];
const HIST_LINES: usize = LE.len() + 2;

/// How a line's value changes on each request.
#[derive(Clone, Copy)]
enum Kind {
    /// Integer counter: += 1..=max_step.
    IntCounter { max_step: u64 },
    /// Float counter: += [0, max_step).
    FloatCounter { max_step: f64 },
    /// Integer gauge: random walk of ±step within [lo, hi].
    IntGauge { step: u64, lo: f64, hi: f64 },
    /// Histogram bucket, sum or count: updated per histogram group.
    Hist,
}

struct Line {
    /// `# HELP`/`# TYPE` lines before this sample (empty unless it starts a family).
    head: String,
    /// `name{labels} `.
    prefix: String,
    kind: Kind,
}

/// The label part of all lines, shared by all targets. The first line of each body
/// (`bench_target_info`, per target) is not in `lines`.
struct Template {
    lines: Vec<Line>,
    /// Index of the first bucket line of each histogram group; the group's lines are
    /// `first..first + LE.len()` (buckets), then `_sum`, then `_count`.
    hist_groups: Vec<usize>,
}

fn path_label(i: usize) -> String {
    format!("/api/v{}/{}", 1 + i / PATHS.len(), PATHS[i % PATHS.len()])
}

fn family_head(name: &str, help: &str, typ: &str) -> String {
    format!("# HELP {name} {help}\n# TYPE {name} {typ}\n")
}

impl Template {
    fn new(series: usize) -> Self {
        let rest = series.saturating_sub(1);
        let groups = rest * 3 / 10 / HIST_LINES;
        let cpu = rest * 15 / 100;
        let conn = rest / 10;
        let fs = rest / 10;
        let reqs = rest - groups * HIST_LINES - cpu - conn - fs;
        let mut lines = Vec::with_capacity(rest);
        let mut hist_groups = Vec::with_capacity(groups);
        for i in 0..reqs {
            let head = if i == 0 {
                family_head("http_requests_total", "Total HTTP requests handled.", "counter")
            } else {
                String::new()
            };
            let method = METHOD_NAMES[i % 4];
            let status = STATUSES[(i / 4) % STATUSES.len()];
            let path = path_label(i / (4 * STATUSES.len()));
            lines.push(Line {
                head,
                prefix: format!("http_requests_total{{method=\"{method}\",status=\"{status}\",path=\"{path}\"}} "),
                kind: Kind::IntCounter { max_step: 40 },
            });
        }
        let hname = "http_request_duration_seconds";
        for g in 0..groups {
            let method = METHOD_NAMES[g % 4];
            let path = path_label(g / 4);
            hist_groups.push(lines.len());
            for (b, le) in LE.iter().enumerate() {
                let head = if g == 0 && b == 0 {
                    family_head(hname, "HTTP request latency.", "histogram")
                } else {
                    String::new()
                };
                lines.push(Line {
                    head,
                    prefix: format!("{hname}_bucket{{method=\"{method}\",path=\"{path}\",le=\"{le}\"}} "),
                    kind: Kind::Hist,
                });
            }
            for suffix in ["sum", "count"] {
                lines.push(Line {
                    head: String::new(),
                    prefix: format!("{hname}_{suffix}{{method=\"{method}\",path=\"{path}\"}} "),
                    kind: Kind::Hist,
                });
            }
        }
        for i in 0..cpu {
            let head = if i == 0 {
                family_head(
                    "node_cpu_seconds_total",
                    "Seconds the CPUs spent in each mode.",
                    "counter",
                )
            } else {
                String::new()
            };
            let mode = CPU_MODES[i % CPU_MODES.len()];
            lines.push(Line {
                head,
                prefix: format!("node_cpu_seconds_total{{cpu=\"{}\",mode=\"{mode}\"}} ", i / 8),
                kind: Kind::FloatCounter {
                    max_step: if mode == "idle" { 15.0 } else { 2.0 },
                },
            });
        }
        for i in 0..conn {
            let head = if i == 0 {
                family_head("app_connections", "Connections in the pool by state.", "gauge")
            } else {
                String::new()
            };
            lines.push(Line {
                head,
                prefix: format!(
                    "app_connections{{pool=\"pool-{}\",state=\"{}\"}} ",
                    i / 3,
                    CONN_STATES[i % 3]
                ),
                kind: Kind::IntGauge {
                    step: 3,
                    lo: 0.0,
                    hi: 200.0,
                },
            });
        }
        for i in 0..fs {
            let head = if i == 0 {
                family_head(
                    "node_filesystem_avail_bytes",
                    "Filesystem space available to non-root users in bytes.",
                    "gauge",
                )
            } else {
                String::new()
            };
            lines.push(Line {
                head,
                prefix: format!(
                    "node_filesystem_avail_bytes{{device=\"/dev/vd{}{}\",fstype=\"{}\",mountpoint=\"/mnt/data{i}\"}} ",
                    (b'a' + (i / 16 % 26) as u8) as char,
                    i % 16 + 1,
                    FSTYPES[i % FSTYPES.len()]
                ),
                kind: Kind::IntGauge {
                    step: 4 << 20,
                    lo: 1e9,
                    hi: 5e11,
                },
            });
        }
        debug_assert_eq!(lines.len(), rest);
        Template { lines, hist_groups }
    }
}

struct TargetState {
    rng: Rng,
    values: Vec<f64>,
    /// Body length of the last response, to size the next buffer.
    last_len: usize,
}

struct Target {
    template: Arc<Template>,
    /// The per-target first line, with its `# HELP`/`# TYPE` (empty when `--series` is 0).
    info: String,
    state: Mutex<TargetState>,
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl Target {
    fn new(template: Arc<Template>, idx: usize, series: usize, seed: u64) -> Self {
        let mut rng = target_rng(seed, idx as u64);
        let values = template
            .lines
            .iter()
            .map(|l| match l.kind {
                Kind::IntCounter { .. } => (rng.next() % 100_000) as f64,
                Kind::FloatCounter { .. } => (rng.next() % 10_000_000) as f64 / 100.0,
                Kind::IntGauge { lo, hi, .. } => (lo + rng.unit() * (hi - lo)).floor(),
                Kind::Hist => 0.0,
            })
            .collect();
        let info = if series == 0 {
            String::new()
        } else {
            format!(
                "{}bench_target_info{{target=\"{idx}\",shard=\"shard-{}\"}} 1\n",
                family_head("bench_target_info", "Identity of this benchmark target.", "gauge"),
                idx % 16
            )
        };
        Target {
            template,
            info,
            state: Mutex::new(TargetState {
                rng,
                values,
                last_len: 0,
            }),
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Advances every value by one step and renders the body.
    fn render(&self) -> String {
        let t = &*self.template;
        let mut st = self.state.lock();
        let TargetState { rng, values, last_len } = &mut *st;
        for (v, line) in values.iter_mut().zip(&t.lines) {
            match line.kind {
                Kind::IntCounter { max_step } => *v += (1 + rng.next() % max_step) as f64,
                Kind::FloatCounter { max_step } => *v += (rng.unit() * max_step * 100.0).round() / 100.0,
                Kind::IntGauge { step, lo, hi } => {
                    let d = (rng.next() % (2 * step + 1)) as f64 - step as f64;
                    *v = (*v + d).clamp(lo, hi);
                }
                Kind::Hist => {}
            }
        }
        let mut counts = [0u32; LE.len()];
        for &first in &t.hist_groups {
            counts.fill(0);
            let n = 1 + rng.next() % 20;
            let mut sum = 0.0;
            for _ in 0..n {
                // Log-uniform latencies from 1 ms to ~16 s.
                let x = 0.001 * (rng.unit() * 14.0).exp2();
                sum += x;
                let b = LE_VALUES.iter().position(|&le| x <= le).unwrap_or(LE.len() - 1);
                counts[b] += 1;
            }
            let mut cum = 0u32;
            for (b, c) in counts.iter().enumerate() {
                cum += c;
                values[first + b] += f64::from(cum);
            }
            values[first + LE.len()] += (sum * 1000.0).round() / 1000.0;
            values[first + LE.len() + 1] += n as f64;
        }
        let mut body = String::with_capacity((*last_len).max(t.lines.len() * 80) + 64);
        body.push_str(&self.info);
        for (v, line) in values.iter().zip(&t.lines) {
            body.push_str(&line.head);
            body.push_str(&line.prefix);
            // Writing to a String cannot fail.
            let _ = write!(body, "{v}");
            body.push('\n');
        }
        *last_len = body.len();
        body
    }
}

async fn metrics(State(t): State<Arc<Target>>) -> impl IntoResponse {
    let body = t.render();
    t.requests.fetch_add(1, Ordering::Relaxed);
    t.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

fn write_sd(path: &Path, addrs: &[SocketAddr]) -> Result<()> {
    let targets: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    let doc = serde_json::json!([{ "targets": targets, "labels": {} }]);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, serde_json::to_vec_pretty(&doc)?).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

struct Totals {
    requests: u64,
    bytes: u64,
    scraped: usize,
    min: u64,
    max: u64,
}

fn totals(targets: &[Arc<Target>]) -> Totals {
    let mut t = Totals {
        requests: 0,
        bytes: 0,
        scraped: 0,
        min: u64::MAX,
        max: 0,
    };
    for target in targets {
        let r = target.requests.load(Ordering::Relaxed);
        t.requests += r;
        t.bytes += target.bytes.load(Ordering::Relaxed);
        t.scraped += usize::from(r > 0);
        t.min = t.min.min(r);
        t.max = t.max.max(r);
    }
    if targets.is_empty() {
        t.min = 0;
    }
    t
}

async fn shutdown_signal() -> Result<&'static str> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => { r.context("waiting for SIGINT")?; Ok("SIGINT") }
        _ = term.recv() => Ok("SIGTERM"),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.targets == 0 {
        bail!("--targets must be at least 1");
    }
    if args.progress_secs == 0 {
        bail!("--progress-secs must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let start = Instant::now();
    let template = Arc::new(Template::new(args.series));
    let mut targets = Vec::with_capacity(args.targets);
    let mut addrs = Vec::with_capacity(args.targets);
    for idx in 0..args.targets {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .with_context(|| format!("binding target {idx} on 127.0.0.1 (for many targets raise `ulimit -n`)"))?;
        let addr = listener.local_addr().context("listener address")?;
        let target = Arc::new(Target::new(template.clone(), idx, args.series, args.seed));
        let app = Router::new().route("/metrics", get(metrics)).with_state(target.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("scrapebench: target {addr}: server error: {e}");
            }
        });
        targets.push(target);
        addrs.push(addr);
    }
    // One body up front, so a template mistake shows before any scraper starts.
    let sample = Target::new(template.clone(), 0, args.series, args.seed).render();
    let sample_lines = sample.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
    if sample_lines != args.series {
        bail!(
            "internal error: body has {sample_lines} sample lines, expected {}",
            args.series
        );
    }
    if let Some(path) = &args.write_sd {
        write_sd(path, &addrs)?;
    }
    eprintln!(
        "scrapebench: {} targets × {} series on 127.0.0.1 (ports {}..), body ~{} B; sd file {}; up to {} s",
        args.targets,
        args.series,
        addrs.first().map_or(0, SocketAddr::port),
        sample.len(),
        args.write_sd
            .as_ref()
            .map_or_else(|| "-".to_owned(), |p| p.display().to_string()),
        args.max_seconds
    );

    let deadline = start + Duration::from_secs(args.max_seconds);
    let mut tick = tokio::time::interval(Duration::from_secs(args.progress_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut prev = 0u64;
    let reason = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.into()) => break "max-seconds".to_owned(),
            r = &mut signal => break r?.to_owned(),
            _ = tick.tick() => {
                let t = totals(&targets);
                eprintln!(
                    "scrapebench: {:>6.0} s: {} requests (+{}), {}/{} targets scraped, per target min {} max {}, {:.1} MiB served",
                    start.elapsed().as_secs_f64(),
                    t.requests,
                    t.requests - prev,
                    t.scraped,
                    args.targets,
                    t.min,
                    t.max,
                    t.bytes as f64 / 1048576.0
                );
                prev = t.requests;
            }
        }
    };
    let t = totals(&targets);
    let summary = serde_json::json!({
        "targets": args.targets,
        "series": args.series,
        "seconds": (start.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "requests": t.requests,
        "targets_scraped": t.scraped,
        "requests_per_target_min": t.min,
        "requests_per_target_max": t.max,
        "bytes_served": t.bytes,
        "body_bytes": sample.len(),
        "stopped_by": reason,
    });
    eprintln!("scrapebench: stopping ({reason})");
    println!("{summary}");
    Ok(())
}
