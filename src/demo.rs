//! `nerve demo` and `nerve --demo`: a simulated shop ([`shop`]) sending correlated telemetry
//! to a nerve over its public HTTP APIs, so a new user sees every signal and every link
//! within a minute:
//!
//! - traces: OTLP/HTTP protobuf to `/v1/traces` every second (frontend → cart → postgres,
//!   frontend → payments → postgres; some declined payments, some slow cart updates), which
//!   nerve also turns into span metrics and service-graph edges;
//! - logs: one JSON line per service call with its `trace_id` and `span_id`, pushed through
//!   the Loki API (`/loki/api/v1/push`, stream labels `service_name`, `env`, `level`; the ids
//!   also as structured metadata);
//! - metrics: OTLP/HTTP to `/v1/metrics` every 5 s, cumulative: the request-duration
//!   histogram `http.server.request.duration` (seconds → `http_server_request_duration_seconds_*`)
//!   whose buckets carry exemplars of real traces, the counter `shop.orders`
//!   (`shop_orders_total`) and the gauge `shop.cart.active_users` (`shop_cart_active_users`).
//!
//! Requests per second are `--rate`; everything stops at shutdown or after `--duration`.
//! A refused send is logged and dropped; the demo keeps going.

pub mod shop;

use std::collections::HashMap;
use std::time::Duration;

use nerve_proto::otlp_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use nerve_proto::otlp_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use nerve_proto::otlp_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use nerve_proto::otlp_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use nerve_proto::otlp_proto::tonic::resource::v1::Resource;
use nerve_proto::otlp_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message as _;

use crate::credentials::Credentials;
use crate::shutdown::Shutdown;
use shop::{Request, Rng, SERVICES};

/// Bucket bounds of the demo's latency histogram (seconds).
const BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", service),
            kv("service.namespace", "shop"),
            kv("deployment.environment", "demo"),
            kv("service.instance.id", &format!("{service}-1")),
        ],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "nerve-demo".into(),
        version: crate::buildinfo::VERSION.into(),
        ..Default::default()
    })
}

fn now_ns() -> u64 {
    u64::try_from(nerve_storage::logs::now_ns()).unwrap_or(0)
}

/// Cumulative histogram state of one (service, route, status).
#[derive(Debug, Default)]
struct Series {
    counts: Vec<u64>,
    sum: f64,
    exemplars: HashMap<usize, Exemplar>,
}

/// Cumulative metric state since the demo started.
#[derive(Debug, Default)]
struct Metrics {
    start_ns: u64,
    latency: HashMap<(&'static str, &'static str, u16), Series>,
    orders: HashMap<&'static str, u64>,
}

impl Metrics {
    fn add(&mut self, r: &Request) {
        for o in &r.observations {
            let s = self.latency.entry((o.service, o.route, o.status)).or_default();
            if s.counts.is_empty() {
                s.counts = vec![0; BOUNDS.len() + 1];
            }
            let i = BOUNDS.partition_point(|b| *b < o.seconds);
            s.counts[i] += 1;
            s.sum += o.seconds;
            s.exemplars.insert(
                i,
                Exemplar {
                    time_unix_nano: now_ns(),
                    span_id: o.span_id.clone(),
                    trace_id: o.trace_id.clone(),
                    value: Some(exemplar::Value::AsDouble(o.seconds)),
                    ..Default::default()
                },
            );
        }
        *self
            .orders
            .entry(if r.failed { "declined" } else { "completed" })
            .or_default() += 1;
    }

    /// The cumulative points as of `t_ns`, one resource per service.
    fn request(&self, t_ns: u64, active_users: f64) -> ExportMetricsServiceRequest {
        let mut per_service: HashMap<&str, Vec<Metric>> = HashMap::new();
        let mut points: HashMap<&str, Vec<HistogramDataPoint>> = HashMap::new();
        for ((service, route, status), s) in &self.latency {
            points.entry(service).or_default().push(HistogramDataPoint {
                attributes: vec![
                    kv("http.route", route),
                    kv("http.response.status_code", &status.to_string()),
                ],
                start_time_unix_nano: self.start_ns,
                time_unix_nano: t_ns,
                count: s.counts.iter().sum(),
                sum: Some(s.sum),
                bucket_counts: s.counts.clone(),
                explicit_bounds: BOUNDS.to_vec(),
                exemplars: s.exemplars.values().cloned().collect(),
                ..Default::default()
            });
        }
        for (service, data_points) in points {
            per_service.entry(service).or_default().push(Metric {
                name: "http.server.request.duration".into(),
                description: "Duration of HTTP server requests.".into(),
                unit: "s".into(),
                data: Some(metric::Data::Histogram(Histogram {
                    data_points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                })),
                ..Default::default()
            });
        }
        let number = |attributes, v: f64| NumberDataPoint {
            attributes,
            start_time_unix_nano: self.start_ns,
            time_unix_nano: t_ns,
            value: Some(number_data_point::Value::AsDouble(v)),
            ..Default::default()
        };
        let orders = self
            .orders
            .iter()
            .map(|(outcome, n)| number(vec![kv("outcome", outcome)], *n as f64))
            .collect();
        let frontend = per_service.entry("frontend").or_default();
        frontend.push(Metric {
            name: "shop.orders".into(),
            description: "Checkouts by outcome.".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: orders,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        });
        per_service.entry("cart").or_default().push(Metric {
            name: "shop.cart.active_users".into(),
            description: "Users with a non-empty cart.".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![number(Vec::new(), active_users)],
            })),
            ..Default::default()
        });
        ExportMetricsServiceRequest {
            resource_metrics: per_service
                .into_iter()
                .map(|(service, metrics)| ResourceMetrics {
                    resource: resource(service),
                    scope_metrics: vec![ScopeMetrics {
                        scope: scope(),
                        metrics,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        }
    }
}

/// The Loki push body for one second's log lines.
fn loki_push(requests: &[Request]) -> String {
    let mut streams: HashMap<(&str, &str), Vec<serde_json::Value>> = HashMap::new();
    for l in requests.iter().flat_map(|r| &r.logs) {
        streams
            .entry((l.service, l.level))
            .or_default()
            .push(serde_json::json!([
                l.t_ns.to_string(),
                l.line,
                {"trace_id": l.trace_id, "span_id": l.span_id}
            ]));
    }
    let streams: Vec<serde_json::Value> = streams
        .into_iter()
        .map(|((service, level), mut values)| {
            values.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
            serde_json::json!({"stream": {"service_name": service, "env": "demo", "level": level}, "values": values})
        })
        .collect();
    serde_json::json!({ "streams": streams }).to_string()
}

fn traces(requests: &mut [Request]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: SERVICES
            .iter()
            .enumerate()
            .map(|(i, service)| ResourceSpans {
                resource: resource(service),
                scope_spans: vec![ScopeSpans {
                    scope: scope(),
                    spans: requests
                        .iter_mut()
                        .flat_map(|r| std::mem::take(&mut r.spans[i]))
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

async fn send(client: &reqwest::Client, creds: &Credentials, url: &str, content_type: &str, body: Vec<u8>) {
    let req = match creds.apply(client.post(url).header("Content-Type", content_type).body(body)) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(%url, error = %e, "demo: credentials unreadable");
            return;
        }
    };
    match req.send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            tracing::warn!(%url, %status, body = %text.chars().take(200).collect::<String>(), "demo: send refused");
        }
        Err(e) => tracing::warn!(%url, error = %e, "demo: send failed"),
    }
}

/// Runs the shop against the nerve at `base` (e.g. `http://127.0.0.1:9090`) until
/// `shutdown` or `duration`. `insecure` skips certificate checks (`--demo` talking to its
/// own TLS listener on loopback); `creds` are sent with every request (write credentials).
pub async fn run(
    base: String,
    rate: f64,
    duration: Option<Duration>,
    insecure: bool,
    creds: Credentials,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let tls = crate::config::http_client::TlsConfig {
        insecure_skip_verify: insecure,
        ..Default::default()
    };
    let client = crate::tls::http_client_builder(Some(&tls), false)
        .map_err(anyhow::Error::msg)?
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = base.trim_end_matches('/').to_owned();
    tracing::info!(url = %base, rate, "demo shop started: services frontend, cart, payments");
    let mut rng = Rng::new(now_ns() ^ 0x9e37_79b9_7f4a_7c15);
    let mut metrics = Metrics {
        start_ns: now_ns(),
        ..Default::default()
    };
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut carry = 0.0;
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => return Ok(()),
        }
        if duration.is_some_and(|d| started.elapsed() >= d) {
            return Ok(());
        }
        carry += rate;
        let n = carry.floor() as usize;
        carry -= n as f64;
        let end = now_ns();
        let mut requests: Vec<Request> = (0..n)
            .map(|i| shop::checkout(&mut rng, end - (i as u64 * 1_000_000_000 / n.max(1) as u64)))
            .collect();
        for r in &requests {
            metrics.add(r);
        }
        let logs = loki_push(&requests);
        let spans = traces(&mut requests).encode_to_vec();
        send(
            &client,
            &creds,
            &format!("{base}/v1/traces"),
            "application/x-protobuf",
            spans,
        )
        .await;
        send(
            &client,
            &creds,
            &format!("{base}/loki/api/v1/push"),
            "application/json",
            logs.into_bytes(),
        )
        .await;
        ticks += 1;
        if ticks % 5 == 1 {
            let users = 40.0 + 25.0 * ((ticks as f64) / 60.0).sin() + rng.unit() * 5.0;
            let body = metrics.request(now_ns(), users.round()).encode_to_vec();
            send(
                &client,
                &creds,
                &format!("{base}/v1/metrics"),
                "application/x-protobuf",
                body,
            )
            .await;
        }
    }
}
