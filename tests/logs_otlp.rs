//! OTLP logs from the real `opentelemetry-otlp` exporter (gRPC and HTTP protobuf/JSON) read back
//! with LogQL: `service_name` as an index label, severity, attributes and the trace context as
//! structured metadata, the body as the line, and "logs of this trace" by trace id.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, client, encode, eventually, grpc_runtime};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_otlp::{LogExporter, Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use serde_json::Value;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

fn provider(exporter: LogExporter, service: &str) -> SdkLoggerProvider {
    SdkLoggerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .with_attribute(opentelemetry::KeyValue::new("k8s.namespace.name", "shop"))
                .build(),
        )
        .build()
}

fn emit(p: &SdkLoggerProvider) {
    let logger = p.logger("checkout");
    let mut r = logger.create_log_record();
    r.set_body(AnyValue::from("payment failed for order 17"));
    r.set_severity_text("ERROR");
    r.set_severity_number(Severity::Error);
    r.set_timestamp(SystemTime::now());
    r.add_attribute("order.id", 17i64);
    r.set_trace_context(TraceId::from_hex(TRACE).unwrap(), SpanId::from_hex(SPAN).unwrap(), None);
    logger.emit(r);
}

/// The entries of `{service_name="<service>"}` once there is one.
fn check(n: &Nerve, service: &str) {
    let q = format!(r#"{{service_name="{service}"}}"#);
    let v: Value = eventually(Duration::from_secs(20), || {
        let end = now_ns() + 60_000_000_000;
        let r = client()
            .get(n.url(&format!(
                "/loki/api/v1/query_range?query={}&start={}&end={end}",
                encode(&q),
                end - 3_600_000_000_000
            )))
            .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
            .send()
            .ok()?;
        let v: Value = serde_json::from_str(&r.text().ok()?).ok()?;
        (v["data"]["result"].as_array()?.len() == 1).then_some(v)
    })
    .unwrap_or_else(|| panic!("no OTLP log for {service}; log:\n{}", n.logs()));
    let s = &v["data"]["result"][0];
    assert_eq!(s["stream"]["service_name"], service, "{v}");
    assert_eq!(s["stream"]["k8s_namespace_name"], "shop", "{v}");
    let e = &s["values"][0];
    assert_eq!(e[1], "payment failed for order 17");
    let md = &e[2]["structuredMetadata"];
    assert_eq!(md["trace_id"], TRACE, "{v}");
    assert_eq!(md["span_id"], SPAN, "{v}");
    assert_eq!(md["severity_text"], "ERROR", "{v}");
    assert_eq!(md["order_id"], "17", "{v}");
    assert_eq!(md["detected_level"], "error", "{v}");
}

#[test]
fn grpc_exporter_logs_are_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let rt = grpc_runtime();
    let p = {
        let _guard = rt.enter();
        let exporter = LogExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{}", n.otlp_grpc_addr))
            .with_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        provider(exporter, "checkout-grpc")
    };
    // The simple processor exports on emit; the tonic client needs the runtime entered.
    {
        let _guard = rt.enter();
        emit(&p);
        p.force_flush().expect("flush");
    }
    check(&n, "checkout-grpc");
    let _ = p.shutdown();
}

fn http_roundtrip(url: String, protocol: Protocol, service: &'static str) {
    std::thread::spawn(move || {
        let exporter = LogExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .with_endpoint(url)
            .with_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let p = provider(exporter, service);
        emit(&p);
        p.force_flush().expect("flush");
        let _ = p.shutdown();
    })
    .join()
    .expect("exporter thread");
}

#[test]
fn http_protobuf_and_json_exporters_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    http_roundtrip(n.otlp_http_url("/v1/logs"), Protocol::HttpBinary, "checkout-http");
    check(&n, "checkout-http");
    http_roundtrip(n.url("/otlp/v1/logs"), Protocol::HttpJson, "checkout-json");
    check(&n, "checkout-json");
}
