//! OTLP metrics from the real `opentelemetry-otlp` exporter (gRPC, HTTP protobuf, HTTP JSON)
//! become Prometheus-named series that PromQL finds: counters with `_total`, up-down
//! counters as gauges, explicit-bucket histograms as `_bucket{le}`/`_sum`/`_count` with the
//! unit suffix, `job` from `service.name`, and `target_info` from the other resource
//! attributes.

mod common;

use std::time::Duration;

use common::{Nerve, client, encode, eventually, grpc_runtime};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::{MetricExporter, Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;

/// A meter provider exporting to `exporter`, with `service.name` = `service` and the
/// SDK's default resource attributes (which end up in `target_info`).
fn provider(exporter: MetricExporter, service: &str) -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .with_attribute(KeyValue::new("deployment.environment", "test"))
                .build(),
        )
        .build()
}

/// Records the instruments the checks expect.
fn record(provider: &SdkMeterProvider) {
    let meter = provider.meter("nerve-otlp-test");
    let requests = meter
        .u64_counter("requests")
        .with_description("Requests served.")
        .build();
    requests.add(3, &[KeyValue::new("http.method", "GET")]);
    requests.add(2, &[KeyValue::new("http.method", "GET")]);
    let queue = meter.i64_up_down_counter("queue.depth").build();
    queue.add(7, &[]);
    queue.add(-2, &[]);
    let latency = meter
        .f64_histogram("latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 0.5, 1.0])
        .build();
    for v in [0.05, 0.3, 0.3, 2.0] {
        latency.record(v, &[KeyValue::new("route", "/api")]);
    }
}

/// Percent-encodes a PromQL expression for a query string.
/// The single value of an instant query, once it has exactly one series.
fn value(n: &Nerve, q: &str) -> Option<f64> {
    let v = n.get_json(&format!("/api/v1/query?query={}", encode(q)));
    let result = v["data"]["result"].as_array()?;
    if result.len() != 1 {
        return None;
    }
    result[0]["value"][1].as_str()?.parse().ok()
}

/// Waits for the exported series and checks names, labels and values.
fn check(n: &Nerve, job: &str) {
    let expect = |q: String, want: f64| {
        let got = eventually(Duration::from_secs(20), || {
            value(n, &q).filter(|v| (v - want).abs() < 1e-9)
        });
        assert!(
            got.is_some(),
            "{q}: want {want}, got {:?}; log:\n{}",
            value(n, &q),
            n.logs()
        );
    };
    expect(format!(r#"requests_total{{job="{job}",http_method="GET"}}"#), 5.0);
    expect(format!(r#"queue_depth{{job="{job}"}}"#), 5.0);
    expect(
        format!(r#"latency_seconds_bucket{{job="{job}",route="/api",le="0.1"}}"#),
        1.0,
    );
    expect(format!(r#"latency_seconds_bucket{{job="{job}",le="0.5"}}"#), 3.0);
    expect(format!(r#"latency_seconds_bucket{{job="{job}",le="1"}}"#), 3.0);
    expect(format!(r#"latency_seconds_bucket{{job="{job}",le="+Inf"}}"#), 4.0);
    expect(format!(r#"latency_seconds_count{{job="{job}"}}"#), 4.0);
    expect(format!(r#"latency_seconds_sum{{job="{job}"}}"#), 2.65);
    expect(
        format!(r#"target_info{{job="{job}",deployment_environment="test",telemetry_sdk_language="rust"}}"#),
        1.0,
    );
    // No series kept the OTLP spelling.
    let raw = n.get_json(&format!("/api/v1/query?query={}", encode(r#"{__name__=~".*\\..*"}"#)));
    assert_eq!(raw["data"]["result"].as_array().map(Vec::len), Some(0), "{raw}");
}

#[test]
fn grpc_exporter_series_are_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    assert!(
        !n.otlp_grpc_addr.is_empty(),
        "no OTLP gRPC address logged:\n{}",
        n.logs()
    );
    // tonic needs a Tokio runtime for its connection; the SDK's reader thread drives the
    // export futures.
    let rt = grpc_runtime();
    let provider = {
        let _guard = rt.enter();
        let exporter = MetricExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{}", n.otlp_grpc_addr))
            .with_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        provider(exporter, "shop-grpc")
    };
    record(&provider);
    provider.force_flush().expect("force_flush over gRPC");
    check(&n, "shop-grpc");
    provider.shutdown().expect("shutdown");
}

/// Runs `f` on a plain thread: the blocking HTTP client must not be built or used inside
/// an async runtime.
fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("exporter thread panicked")
}

fn http_roundtrip(url: String, protocol: Protocol, service: &'static str) {
    off_runtime(move || {
        let exporter = MetricExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .with_endpoint(url)
            .with_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let provider = provider(exporter, service);
        record(&provider);
        provider.force_flush().expect("force_flush over HTTP");
        provider.shutdown().expect("shutdown");
    });
}

#[test]
fn http_protobuf_exporter_series_are_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    assert!(
        !n.otlp_http_addr.is_empty(),
        "no OTLP/HTTP address logged:\n{}",
        n.logs()
    );
    http_roundtrip(n.otlp_http_url("/v1/metrics"), Protocol::HttpBinary, "shop-http");
    check(&n, "shop-http");
}

#[test]
fn http_json_exporter_on_the_prometheus_path() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    http_roundtrip(n.url("/api/v1/otlp/v1/metrics"), Protocol::HttpJson, "shop-json");
    check(&n, "shop-json");
    // Self-metrics count what OTLP ingested.
    let text = client().get(n.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("nerve_ingested_samples_total{source=\"otlp\"}") && !l.ends_with(" 0")),
        "{text}"
    );
}

#[test]
fn otlp_http_port_serves_only_otlp() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let c = client();
    let r = c.get(n.otlp_http_url("/api/v1/query?query=up")).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = c
        .post(n.otlp_http_url("/v1/metrics"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().unwrap(), "{}");
    let r = c
        .post(n.otlp_http_url("/v1/metrics"))
        .header("content-type", "application/x-protobuf")
        .body(vec![0xff, 0xff])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

/// The Rust SDK sends no exemplars yet, so this one is hand-written OTLP JSON (hex ids, int64
/// as strings), the way other SDKs send it; also gzip-free JSON to the OTLP/HTTP port.
#[test]
fn json_exemplars_and_metadata_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let trace_id = "5b8efff798038103d269b633813fc60c";
    let body = format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"pay"}}}}]}},
        "scopeMetrics":[{{"metrics":[{{"name":"http.server.duration","unit":"ms","description":"Server latency.",
        "histogram":{{"aggregationTemporality":2,"dataPoints":[{{"timeUnixNano":"{now_ns}","count":"2","sum":30,
        "bucketCounts":["1","1"],"explicitBounds":[10],
        "exemplars":[{{"timeUnixNano":"{now_ns}","asDouble":25,"traceId":"{trace_id}","spanId":"eee19b7ec3c1b174"}}]}}]}}}}]}}]}}]}}"#
    );
    let r = client()
        .post(n.otlp_http_url("/v1/metrics"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().unwrap(), "{}");

    let q = encode(r#"http_server_duration_milliseconds_bucket{job="pay"}"#);
    let now_s = now_ns / 1_000_000_000;
    let ex = n.get_json(&format!(
        "/api/v1/query_exemplars?query={q}&start={}&end={}",
        now_s - 60,
        now_s + 60
    ));
    let text = ex.to_string();
    assert!(text.contains(trace_id) && text.contains("\"le\":\"+Inf\""), "{text}");
    let md = n.get_json("/api/v1/metadata?metric=http_server_duration_milliseconds");
    let md = md["data"]["http_server_duration_milliseconds"][0].clone();
    assert_eq!(md["type"], "histogram", "{md}");
    assert_eq!(md["unit"], "milliseconds", "{md}");
}
