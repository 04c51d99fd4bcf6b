//! `nerve-tracebench`: OTLP trace ingest and query benchmark against a running nerve.
//!
//! Workload: `--spans` spans in traces of `--trace-spans` spans (a server root and a chain of
//! children across 8 services), start times spread over the last `--span-secs` seconds.
//! Spans carry the attributes an HTTP/DB service typically has (method, route, status code,
//! a URL with an id, peer name; db statements), 5 % of traces have an error with an
//! `exception` event. Ids and values come from an own xorshift PRNG (`--seed`), so runs are
//! identical. Every OTLP/HTTP protobuf body (`--batch` spans) is encoded before the clock
//! starts.
//!
//! Phases, each bounded by `--max-seconds`: (1) export with `--concurrency` connections to
//! `/v1/traces`, measuring wall time and nerve's CPU time (`/proc/<--pid>/stat`);
//! (2) `--lookups` trace-by-id requests for random stored traces through the Tempo API
//! (`/tempo/api/v2/traces/{id}`, protobuf, as Grafana asks) and the Jaeger API
//! (`/jaeger/api/traces/{id}`), one at a time, reporting p50/p99; (3) a Jaeger search by
//! service + minDuration over the whole window (`--repeat` times). Prints one JSON line.
//! Loopback URLs only.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use nerve_proto::otlp_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use nerve_proto::otlp_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value};
use nerve_proto::otlp_proto::tonic::resource::v1::Resource;
use nerve_proto::otlp_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::Event};
use prost::Message as _;
use support::rng::Rng;
use support::{cpu_seconds_of, loopback_url, percentile, post_all};

#[path = "../support/mod.rs"]
mod support;

#[derive(Parser, Debug)]
struct Args {
    /// nerve's HTTP base URL (loopback only).
    #[arg(long)]
    url: String,
    /// nerve's OTLP/HTTP base URL (loopback only).
    #[arg(long)]
    otlp_url: String,
    /// nerve's PID, for CPU time.
    #[arg(long)]
    pid: u32,
    /// Spans to export.
    #[arg(long, default_value_t = 1_000_000)]
    spans: usize,
    /// Spans per trace.
    #[arg(long, default_value_t = 10)]
    trace_spans: usize,
    /// Spans per export request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds of history the start times cover (ending now).
    #[arg(long, default_value_t = 3600)]
    span_secs: u64,
    /// Trace-by-id lookups per API.
    #[arg(long, default_value_t = 1000)]
    lookups: usize,
    /// Repetitions of the search.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// PRNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Wall-time bound of the whole run, seconds.
    #[arg(long, default_value_t = 1200)]
    max_seconds: u64,
}

const SERVICES: [&str; 8] = [
    "frontend", "cart", "checkout", "payment", "shipping", "email", "currency", "ads",
];
const ROUTES: [&str; 6] = [
    "/api/cart",
    "/api/checkout",
    "/api/products/{id}",
    "/api/ship",
    "/api/pay",
    "/health",
];
const METHODS: [&str; 3] = ["GET", "POST", "PUT"];

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: impl Into<String>) -> Value {
    Value::StringValue(v.into())
}

/// Builds the request bodies and the trace ids.
fn build(a: &Args) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut r = Rng(a.seed.max(1));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let resources: Vec<Resource> = SERVICES
        .iter()
        .map(|svc| Resource {
            attributes: vec![
                kv("service.name", s(*svc)),
                kv("service.version", s("1.4.2")),
                kv("host.name", s(format!("{svc}-7d9f8b6c5-x2k4q"))),
                kv("telemetry.sdk.language", s("rust")),
                kv("telemetry.sdk.name", s("opentelemetry")),
            ],
            ..Default::default()
        })
        .collect();
    let mut bodies = Vec::new();
    let mut ids = Vec::new();
    let mut pending: Vec<(usize, Span)> = Vec::new();
    let traces = a.spans.div_ceil(a.trace_spans.max(1));
    let flush = |pending: &mut Vec<(usize, Span)>, bodies: &mut Vec<Vec<u8>>| {
        let mut by_svc: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
        for (svc, sp) in pending.drain(..) {
            by_svc[svc].push(sp);
        }
        let req = ExportTraceServiceRequest {
            resource_spans: by_svc
                .into_iter()
                .enumerate()
                .filter(|(_, v)| !v.is_empty())
                .map(|(i, spans)| ResourceSpans {
                    resource: Some(resources[i].clone()),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: "opentelemetry-http".into(),
                            version: "0.33.1".into(),
                            ..Default::default()
                        }),
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        };
        bodies.push(req.encode_to_vec());
    };
    for _ in 0..traces {
        let trace_id: Vec<u8> = (0..2).flat_map(|_| r.next().to_be_bytes()).collect();
        ids.push(trace_id.iter().map(|b| format!("{b:02x}")).collect());
        let start = now - a.span_secs * 1_000_000_000 + r.below(a.span_secs * 1_000_000_000);
        let total = 5_000_000 + r.below(900_000_000);
        let error = r.below(20) == 0;
        let mut parent: Vec<u8> = Vec::new();
        for i in 0..a.trace_spans {
            let span_id = r.next().to_be_bytes().to_vec();
            let svc = if i == 0 {
                0
            } else {
                1 + r.below(SERVICES.len() as u64 - 1) as usize
            };
            let s_start = start + (i as u64) * total / (a.trace_spans as u64 * 4);
            let dur = (total >> i.min(20)).max(50_000) + r.below(100_000);
            let route = ROUTES[r.below(ROUTES.len() as u64) as usize];
            let is_db = i > 0 && r.below(3) == 0;
            let mut attributes = vec![
                kv("http.request.method", s(METHODS[r.below(3) as usize])),
                kv("http.route", s(route)),
                kv(
                    "http.response.status_code",
                    Value::IntValue(if error && i == a.trace_spans - 1 { 500 } else { 200 }),
                ),
                kv(
                    "url.full",
                    s(format!(
                        "http://{}:8080{}?id={}",
                        SERVICES[svc],
                        route,
                        r.below(100_000)
                    )),
                ),
                kv("server.address", s(SERVICES[svc])),
            ];
            if is_db {
                attributes.push(kv("db.system", s("postgresql")));
                attributes.push(kv(
                    "db.statement",
                    s(format!("SELECT * FROM items WHERE id = {}", r.below(1_000_000))),
                ));
            }
            let last = i == a.trace_spans - 1;
            let span = Span {
                trace_id: trace_id.clone(),
                span_id: span_id.clone(),
                parent_span_id: parent.clone(),
                name: if is_db {
                    "SELECT items".into()
                } else {
                    format!("{} {route}", METHODS[i % 3])
                },
                kind: if i == 0 {
                    2
                } else if is_db {
                    3
                } else {
                    2 + (i % 2) as i32
                },
                start_time_unix_nano: s_start,
                end_time_unix_nano: s_start + dur,
                attributes,
                events: if error && last {
                    vec![Event {
                        time_unix_nano: s_start + dur / 2,
                        name: "exception".into(),
                        attributes: vec![
                            kv("exception.type", s("TimeoutError")),
                            kv("exception.message", s("upstream request timed out")),
                        ],
                        ..Default::default()
                    }]
                } else {
                    Vec::new()
                },
                status: (error && last).then(|| Status {
                    message: "upstream request timed out".into(),
                    code: 2,
                }),
                ..Default::default()
            };
            parent = span_id;
            pending.push((svc, span));
            if pending.len() >= a.batch {
                flush(&mut pending, &mut bodies);
            }
        }
    }
    if !pending.is_empty() {
        flush(&mut pending, &mut bodies);
    }
    (bodies, ids)
}

async fn lookups(c: &reqwest::Client, urls: &[String], accept: &str, deadline: Instant) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(urls.len());
    for u in urls {
        if Instant::now() > deadline {
            bail!("time limit reached during lookups");
        }
        let t = Instant::now();
        let r = c.get(u).header("Accept", accept).send().await?;
        let status = r.status();
        let body = r.bytes().await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() || body.is_empty() {
            bail!("{u}: {status}");
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    // reqwest is built without a default rustls provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a = Args::parse();
    loopback_url(&a.url)?;
    loopback_url(&a.otlp_url)?;
    let deadline = Instant::now() + Duration::from_secs(a.max_seconds);
    eprintln!("encoding {} spans", a.spans);
    let (bodies, ids) = build(&a);
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let bodies = Arc::new(bodies);
    let c = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let url = format!("{}/v1/traces", a.otlp_url);
    let cpu0 = cpu_seconds_of(a.pid)?;
    let t0 = Instant::now();
    let accepted = |s: reqwest::StatusCode| s.is_success();
    post_all(&c, &url, bodies, a.concurrency, deadline, accepted, "export").await?;
    let push_secs = t0.elapsed().as_secs_f64();
    let push_cpu = cpu_seconds_of(a.pid)? - cpu0;
    eprintln!(
        "exported {} spans ({bytes} bytes) in {push_secs:.1} s, nerve CPU {push_cpu:.1} s",
        a.spans
    );

    let mut r = Rng(a.seed ^ 0x9e37_79b9_7f4a_7c15);
    let picks: Vec<&String> = (0..a.lookups)
        .map(|_| &ids[r.below(ids.len() as u64) as usize])
        .collect();
    let tempo: Vec<String> = picks
        .iter()
        .map(|id| format!("{}/tempo/api/v2/traces/{id}", a.url))
        .collect();
    let jaeger: Vec<String> = picks
        .iter()
        .map(|id| format!("{}/jaeger/api/traces/{id}", a.url))
        .collect();
    let tempo_ms = lookups(&c, &tempo, "application/protobuf", deadline).await?;
    let jaeger_ms = lookups(&c, &jaeger, "application/json", deadline).await?;

    let now_us = SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros() as u64;
    let search = format!(
        "{}/jaeger/api/traces?service=payment&minDuration=300ms&limit=20&start={}&end={}",
        a.url,
        now_us - (a.span_secs + 60) * 1_000_000,
        now_us + 60_000_000
    );
    let mut search_ms = Vec::new();
    let mut found = 0;
    for _ in 0..a.repeat {
        let t = Instant::now();
        let body = c.get(&search).send().await?.text().await?;
        search_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let v: serde_json::Value = serde_json::from_str(&body).context("search response")?;
        found = v["data"].as_array().map_or(0, Vec::len);
    }
    search_ms.sort_by(f64::total_cmp);
    let out = serde_json::json!({
        "spans": a.spans,
        "request_bytes": bytes,
        "push_seconds": push_secs,
        "spans_per_sec": a.spans as f64 / push_secs,
        "nerve_cpu_seconds_push": push_cpu,
        "spans_per_cpu_second": a.spans as f64 / push_cpu.max(1e-9),
        "tempo_by_id_ms_p50": percentile(&tempo_ms, 0.5),
        "tempo_by_id_ms_p99": percentile(&tempo_ms, 0.99),
        "jaeger_by_id_ms_p50": percentile(&jaeger_ms, 0.5),
        "jaeger_by_id_ms_p99": percentile(&jaeger_ms, 0.99),
        "search_service_min_duration_ms_median": search_ms[search_ms.len() / 2],
        "search_traces_found": found,
    });
    println!("{out}");
    Ok(())
}
