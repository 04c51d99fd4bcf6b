//! OTLP traces from the real `opentelemetry-otlp` exporter (gRPC and HTTP/protobuf) and raw
//! OTLP JSON, read back through the Jaeger and the Tempo APIs with identical content (ids,
//! timings, attributes, events, links, status), found by service, operation, tag, duration
//! and TraceQL; malformed bodies are 400; acknowledged spans survive `kill -9`.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, client, encode, eventually, grpc_runtime};
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceState, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::{Value, json};

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

/// One span as both APIs must show it.
#[derive(Debug, PartialEq, Clone)]
struct Seen {
    span_id: String,
    parent: String,
    name: String,
    start_us: u64,
    duration_us: u64,
    kind: String,
    error: bool,
    status_message: String,
    attrs: BTreeMap<String, String>,
    events: Vec<(String, BTreeMap<String, String>)>,
    links: Vec<String>,
    service: String,
}

fn jaeger_value(tag: &Value) -> String {
    match &tag["value"] {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// Spans of a Jaeger trace (`/jaeger/api/traces/{id}`), minus the tags Jaeger derives from
/// kind, status and scope.
fn from_jaeger(v: &Value) -> Vec<Seen> {
    let t = &v["data"][0];
    let mut out: Vec<Seen> = t["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| {
            let mut attrs = BTreeMap::new();
            let (mut kind, mut error, mut msg) = (String::new(), false, String::new());
            for tag in s["tags"].as_array().unwrap() {
                let k = tag["key"].as_str().unwrap().to_owned();
                let val = jaeger_value(tag);
                match k.as_str() {
                    "span.kind" => kind = val,
                    "error" => error = val == "true",
                    "otel.status_description" => msg = val,
                    "otel.status_code" | "otel.scope.name" | "otel.scope.version" | "internal.span.format" => {}
                    _ => {
                        attrs.insert(k, val);
                    }
                }
            }
            let parent = s["references"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["refType"] == "CHILD_OF"))
                .map(|r| r["spanID"].as_str().unwrap().to_owned())
                .unwrap_or_default();
            let links = s["references"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter(|r| r["refType"] == "FOLLOWS_FROM")
                        .map(|r| r["spanID"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let events = s["logs"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|l| {
                            let mut name = String::new();
                            let mut a = BTreeMap::new();
                            for f in l["fields"].as_array().unwrap() {
                                let k = f["key"].as_str().unwrap();
                                if k == "event" {
                                    name = jaeger_value(f);
                                } else {
                                    a.insert(k.to_owned(), jaeger_value(f));
                                }
                            }
                            (name, a)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let pid = s["processID"].as_str().unwrap();
            Seen {
                span_id: s["spanID"].as_str().unwrap().to_owned(),
                parent,
                name: s["operationName"].as_str().unwrap().to_owned(),
                start_us: s["startTime"].as_u64().unwrap(),
                duration_us: s["duration"].as_u64().unwrap(),
                kind,
                error,
                status_message: msg,
                attrs,
                events,
                links,
                service: t["processes"][pid]["serviceName"].as_str().unwrap().to_owned(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.span_id.cmp(&b.span_id));
    out
}

fn otlp_value(v: &Value) -> String {
    let (k, x) = v.as_object().and_then(|o| o.iter().next()).expect("AnyValue");
    match (k.as_str(), x) {
        (_, Value::String(s)) => s.clone(),
        ("doubleValue", x) => x.as_f64().unwrap().to_string(),
        (_, x) => x.to_string(),
    }
}

fn otlp_attrs(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|kv| (kv["key"].as_str().unwrap().to_owned(), otlp_value(&kv["value"])))
                .collect()
        })
        .unwrap_or_default()
}

fn num(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        v => v.as_u64().unwrap(),
    }
}

/// Spans of a Tempo v2 trace (`/tempo/api/v2/traces/{id}`, OTLP JSON).
fn from_tempo(v: &Value) -> Vec<Seen> {
    let kinds = ["unspecified", "internal", "server", "client", "producer", "consumer"];
    let mut out = Vec::new();
    for rs in v["trace"]["resourceSpans"].as_array().expect("resourceSpans") {
        let service = otlp_attrs(&rs["resource"]["attributes"])["service.name"].clone();
        for ss in rs["scopeSpans"].as_array().unwrap() {
            for s in ss["spans"].as_array().unwrap() {
                let start = num(&s["startTimeUnixNano"]);
                let end = num(&s["endTimeUnixNano"]);
                out.push(Seen {
                    span_id: s["spanId"].as_str().unwrap().to_owned(),
                    parent: s["parentSpanId"].as_str().unwrap_or("").to_owned(),
                    name: s["name"].as_str().unwrap().to_owned(),
                    start_us: start / 1000,
                    duration_us: (end - start) / 1000,
                    kind: kinds[s["kind"].as_u64().unwrap_or(0) as usize].to_owned(),
                    error: s["status"]["code"].as_u64() == Some(2),
                    status_message: s["status"]["message"].as_str().unwrap_or("").to_owned(),
                    attrs: otlp_attrs(&s["attributes"]),
                    events: s["events"]
                        .as_array()
                        .map(|e| {
                            e.iter()
                                .map(|e| (e["name"].as_str().unwrap().to_owned(), otlp_attrs(&e["attributes"])))
                                .collect()
                        })
                        .unwrap_or_default(),
                    links: s["links"]
                        .as_array()
                        .map(|l| l.iter().map(|l| l["spanId"].as_str().unwrap().to_owned()).collect())
                        .unwrap_or_default(),
                    service: service.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.span_id.cmp(&b.span_id));
    out
}

/// The trace through both APIs once it is there; asserts they agree.
fn read_both(n: &Nerve, trace_id: &str, spans: usize) -> Vec<Seen> {
    let jaeger = eventually(Duration::from_secs(20), || {
        let r = client()
            .get(n.url(&format!("/jaeger/api/traces/{trace_id}")))
            .send()
            .ok()?;
        let v: Value = serde_json::from_str(&r.text().ok()?).ok()?;
        (v["data"][0]["spans"].as_array()?.len() == spans).then_some(v)
    })
    .unwrap_or_else(|| panic!("trace {trace_id} not in the Jaeger API; log:\n{}", n.logs()));
    let r = client()
        .get(n.url(&format!("/tempo/api/v2/traces/{trace_id}")))
        .header("Accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let tempo: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    let (j, t) = (from_jaeger(&jaeger), from_tempo(&tempo));
    assert_eq!(j, t, "Jaeger and Tempo disagree:\n{jaeger}\n{tempo}");
    assert_eq!(jaeger["data"][0]["traceID"], trace_id);
    j
}

/// Exports a two-span trace (server root, client child with an event, a link and an error)
/// through `provider`; returns the trace id and the child's span id.
fn emit(p: &SdkTracerProvider) -> (String, String, String) {
    let tracer = p.tracer("shop-lib");
    let root = tracer
        .span_builder("GET /cart")
        .with_kind(SpanKind::Server)
        .with_attributes(vec![
            KeyValue::new("http.method", "GET"),
            KeyValue::new("http.status_code", 500i64),
        ])
        .start(&tracer);
    let trace_id = root.span_context().trace_id().to_string();
    let root_id = root.span_context().span_id().to_string();
    let cx = Context::current_with_span(root);
    let linked = SpanContext::new(
        opentelemetry::trace::TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        opentelemetry::trace::SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let mut child = tracer
        .span_builder("SELECT")
        .with_kind(SpanKind::Client)
        .with_attributes(vec![
            KeyValue::new("db.system", "postgresql"),
            KeyValue::new("db.rows", 3.5),
        ])
        .with_links(vec![Link::with_context(linked)])
        .start_with_context(&tracer, &cx);
    let child_id = child.span_context().span_id().to_string();
    std::thread::sleep(Duration::from_millis(30));
    child.add_event("exception", vec![KeyValue::new("exception.message", "timeout")]);
    child.set_status(Status::error("db timeout"));
    child.end();
    cx.span().end();
    (trace_id, root_id, child_id)
}

fn provider(exporter: SpanExporter, service: &str) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .with_attribute(KeyValue::new("host.name", "box-1"))
                .build(),
        )
        .build()
}

/// Checks the exported trace's content and that every search finds it.
fn check(n: &Nerve, service: &str, trace_id: &str, root_id: &str, child_id: &str) {
    let spans = read_both(n, trace_id, 2);
    let root = spans.iter().find(|s| s.span_id == root_id).expect("root");
    let child = spans.iter().find(|s| s.span_id == child_id).expect("child");
    assert_eq!(
        (root.name.as_str(), root.kind.as_str(), root.parent.as_str()),
        ("GET /cart", "server", "")
    );
    assert_eq!(root.attrs["http.status_code"], "500");
    assert_eq!(root.service, service);
    assert_eq!((child.name.as_str(), child.kind.as_str()), ("SELECT", "client"));
    assert_eq!(child.parent, root_id);
    assert!(child.error, "{child:?}");
    assert_eq!(child.status_message, "db timeout");
    assert_eq!(child.attrs["db.system"], "postgresql");
    assert_eq!(child.attrs["db.rows"], "3.5");
    assert_eq!(child.events[0].0, "exception");
    assert_eq!(child.events[0].1["exception.message"], "timeout");
    assert_eq!(child.links, vec!["b7ad6b7169203331".to_string()]);
    assert!(child.duration_us >= 30_000, "{child:?}");
    assert!(root.start_us <= child.start_us && root.duration_us >= child.duration_us);

    let (start, end) = (now_us() - 3_600_000_000, now_us() + 60_000_000);
    let jaeger_finds = |query: &str| {
        let v = n.get_json(&format!("/jaeger/api/traces?{query}&start={start}&end={end}&limit=20"));
        v["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{query}: {v}"))
            .iter()
            .any(|t| t["traceID"] == trace_id)
    };
    let svc = format!("service={service}");
    assert!(jaeger_finds(&svc));
    assert!(jaeger_finds(&format!("{svc}&operation=SELECT")));
    assert!(jaeger_finds(&format!(
        "{svc}&tags={}",
        encode(r#"{"db.system":"postgresql"}"#)
    )));
    assert!(!jaeger_finds(&format!(
        "{svc}&tags={}",
        encode(r#"{"db.system":"mysql"}"#)
    )));
    assert!(jaeger_finds(&format!("{svc}&minDuration=20ms")));
    assert!(!jaeger_finds(&format!("{svc}&minDuration=1h")));
    assert!(!jaeger_finds("service=nobody"));
    let services = n.get_json("/jaeger/api/services");
    assert!(
        services["data"].as_array().unwrap().iter().any(|s| s == service),
        "{services}"
    );
    let ops = n.get_json(&format!("/jaeger/api/services/{service}/operations"));
    assert!(ops["data"].as_array().unwrap().iter().any(|s| s == "SELECT"), "{ops}");

    let tempo_finds = |q: &str| {
        let v = n.get_json(&format!(
            "/tempo/api/search?q={}&start={}&end={}",
            encode(q),
            start / 1_000_000,
            end / 1_000_000
        ));
        let traces = v["traces"].as_array().unwrap_or_else(|| panic!("{q}: {v}"));
        traces.iter().find(|t| t["traceID"] == trace_id).cloned()
    };
    let hit = tempo_finds(&format!(
        r#"{{resource.service.name="{service}" && name="SELECT" && status=error && duration>20ms}}"#
    ))
    .expect("TraceQL search");
    assert_eq!(hit["rootServiceName"], service, "{hit}");
    assert_eq!(hit["rootTraceName"], "GET /cart", "{hit}");
    assert_eq!(hit["spanSets"][0]["spans"][0]["spanID"], child_id, "{hit}");
    assert!(
        tempo_finds(&format!(
            r#"{{.db.system="postgresql" && kind=client}} && {{resource.service.name="{service}"}}"#
        ))
        .is_some()
    );
    assert!(
        tempo_finds(&format!(
            r#"{{resource.service.name="{service}" && span.http.status_code >= 500}}"#
        ))
        .is_some()
    );
    assert!(tempo_finds(&format!(r#"{{resource.service.name="{service}" && duration>1h}}"#)).is_none());
}

#[test]
fn grpc_exporter_traces_read_back_through_jaeger_and_tempo() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let rt = grpc_runtime();
    let (p, ids) = {
        let _guard = rt.enter();
        let exporter = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{}", n.otlp_grpc_addr))
            .with_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let p = provider(exporter, "shop-grpc");
        let ids = emit(&p);
        p.force_flush().expect("flush");
        (p, ids)
    };
    check(&n, "shop-grpc", &ids.0, &ids.1, &ids.2);
    let _ = p.shutdown();
}

#[test]
fn http_protobuf_exporter_traces_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let url = n.otlp_http_url("/v1/traces");
    let ids = std::thread::spawn(move || {
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let p = provider(exporter, "shop-http");
        let ids = emit(&p);
        p.force_flush().expect("flush");
        let _ = p.shutdown();
        ids
    })
    .join()
    .expect("exporter thread");
    check(&n, "shop-http", &ids.0, &ids.1, &ids.2);
}

const TRACE: &str = "5b8efff798038103d269b633813fc60c";

/// A raw OTLP JSON export (hex ids, enums as integers, int64 as strings).
fn json_body(start_ns: u64) -> Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop-json"}}]},
        "scopeSpans": [{"scope": {"name": "raw"}, "spans": [
            {"traceId": TRACE, "spanId": "eee19b7ec3c1b174", "name": "GET /cart", "kind": 2,
             "startTimeUnixNano": start_ns.to_string(), "endTimeUnixNano": (start_ns + 80_000_000).to_string(),
             "attributes": [{"key": "http.status_code", "value": {"intValue": "500"}}], "status": {}},
            {"traceId": TRACE, "spanId": "eee19b7ec3c1b173", "parentSpanId": "eee19b7ec3c1b174", "name": "SELECT",
             "kind": 3, "startTimeUnixNano": (start_ns + 10_000_000).to_string(),
             "endTimeUnixNano": start_ns + 50_000_000,
             "attributes": [{"key": "db.system", "value": {"stringValue": "postgresql"}},
                            {"key": "db.rows", "value": {"doubleValue": 3.5}}],
             "events": [{"timeUnixNano": (start_ns + 20_000_000).to_string(), "name": "exception",
                         "attributes": [{"key": "exception.message", "value": {"stringValue": "timeout"}}]}],
             "links": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331"}],
             "status": {"code": 2, "message": "db timeout"}}
        ]}]
    }]})
}

fn post_json(url: &str, body: &Value) -> reqwest::blocking::Response {
    client()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
}

#[test]
fn raw_otlp_json_traces_read_back_and_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let start_ns = (now_us() - 60_000_000) * 1000;
    let r = post_json(&n.otlp_http_url("/v1/traces"), &json_body(start_ns));
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    check(&n, "shop-json", TRACE, "eee19b7ec3c1b174", "eee19b7ec3c1b173");
    let before = read_both(&n, TRACE, 2);
    n.kill9();
    let n = Nerve::start(dir.path(), &[]);
    assert_eq!(read_both(&n, TRACE, 2), before, "after kill -9");
    // A clean stop flushes the head into segments; the trace reads the same from them.
    assert!(n.stop().success());
    let n = Nerve::start(dir.path(), &[]);
    assert_eq!(read_both(&n, TRACE, 2), before, "after a clean restart");
}

#[test]
fn malformed_otlp_is_400_and_bad_spans_are_partial_success() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let url = n.otlp_http_url("/v1/traces");
    let r = client()
        .post(&url)
        .header("Content-Type", "application/x-protobuf")
        .body(vec![0xff, 0xff, 0xff, 0x0f, 0x01])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = post_json(&url, &json!({"resourceSpans": "nope"}));
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("decoding OTLP traces request"));
    let r = client()
        .post(&url)
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), 415);
    // One span with a 4-byte trace id: refused, the other stored, the client told so.
    let mut body = json_body((now_us() - 1_000_000) * 1000);
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = json!("0102abcd");
    let r = post_json(&url, &body);
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    assert_eq!(num(&v["partialSuccess"]["rejectedSpans"]), 1, "{v}");
    assert!(
        v["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("trace id"),
        "{v}"
    );
    read_both(&n, TRACE, 1);
    let r = client()
        .get(n.url("/jaeger/api/traces/0123456789abcdef0123456789abcdef"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}
