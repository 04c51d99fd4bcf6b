//! Jaeger's UI-model JSON of a trace (Jaeger's `uimodel`, api-contracts §3): processes per
//! resource, spans with µs times, `CHILD_OF`/`FOLLOWS_FROM` references, typed tags and logs.

use nerve_query::traces::search::derived_tags;
use nerve_storage::traces::{AttrValue, KeyValue, Resource, Span, hex};
use serde_json::{Map, Value, json};

/// A Jaeger tag: `{"key","type","value"}` with Jaeger's type names.
pub fn tag(kv: &KeyValue) -> Value {
    let (ty, value) = match &kv.value {
        AttrValue::Str(s) => ("string", Value::String(s.clone())),
        AttrValue::Bool(b) => ("bool", Value::Bool(*b)),
        AttrValue::Int(i) => ("int64", Value::from(*i)),
        AttrValue::Double(d) => (
            "float64",
            serde_json::Number::from_f64(*d).map_or_else(|| Value::String(d.to_string()), Value::Number),
        ),
        AttrValue::Bytes(_) => ("binary", Value::String(kv.value.to_text())),
        v => ("string", Value::String(v.to_text())),
    };
    json!({"key": kv.key, "type": ty, "value": value})
}

fn tags(kvs: &[KeyValue]) -> Vec<Value> {
    kvs.iter().map(tag).collect()
}

/// The process of a resource: its service name and every resource attribute as a tag
/// (`service.name` included: Grafana's trace-to-logs reads only tags).
fn process(r: &Resource) -> Value {
    let mut t = tags(&r.attributes);
    if !r.attributes.iter().any(|kv| kv.key == "service.name") {
        t.insert(0, tag(&KeyValue::str("service.name", r.service_name())));
    }
    json!({"serviceName": r.service_name(), "tags": t})
}

/// One span; `pid` names its process.
fn span(s: &Span, trace_hex: &str, pid: &str) -> Value {
    let mut refs = Vec::new();
    if !s.is_root() {
        refs.push(json!({"refType": "CHILD_OF", "traceID": trace_hex, "spanID": hex(&s.parent_span_id)}));
    }
    for l in &s.links {
        refs.push(json!({"refType": "FOLLOWS_FROM", "traceID": hex(&l.trace_id), "spanID": hex(&l.span_id)}));
    }
    let mut t = tags(&s.attributes);
    t.extend(derived_tags(s).iter().map(tag));
    let logs: Vec<Value> = s
        .events
        .iter()
        .map(|e| {
            let mut fields = vec![tag(&KeyValue::str("event", e.name.clone()))];
            fields.extend(tags(&e.attributes));
            json!({"timestamp": e.time_ns / 1000, "fields": fields})
        })
        .collect();
    json!({
        "traceID": trace_hex,
        "spanID": hex(&s.span_id),
        "flags": s.flags,
        "operationName": s.name,
        "references": refs,
        "startTime": s.start_ns / 1000,
        "duration": s.duration_ns() / 1000,
        "tags": t,
        "logs": logs,
        "processID": pid,
        "warnings": Value::Null,
    })
}

/// A trace (non-empty `spans`, sorted by start) in Jaeger's JSON. Processes are numbered
/// `p1`, `p2`, … in order of first appearance.
pub fn trace(spans: &[Span]) -> Value {
    let trace_hex = spans.first().map(|s| hex(&s.trace_id)).unwrap_or_default();
    let mut resources: Vec<&Resource> = Vec::new();
    let mut processes = Map::new();
    let mut out = Vec::with_capacity(spans.len());
    for s in spans {
        let i = match resources.iter().position(|r| *r == &*s.resource) {
            Some(i) => i,
            None => {
                resources.push(&s.resource);
                processes.insert(format!("p{}", resources.len()), process(&s.resource));
                resources.len() - 1
            }
        };
        out.push(span(s, &trace_hex, &format!("p{}", i + 1)));
    }
    json!({"traceID": trace_hex, "spans": out, "processes": processes, "warnings": Value::Null})
}

/// `trace` with its `warnings` set to `warnings` when there are any (Jaeger's field for what
/// may be wrong with a trace; here: damaged storage in its time range).
pub fn with_warnings(mut trace: Value, warnings: &[String]) -> Value {
    if !warnings.is_empty() {
        trace["warnings"] = json!(warnings);
    }
    trace
}

/// Jaeger's response envelope around `data`.
pub fn envelope(data: Value, total: usize) -> Value {
    json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": Value::Null})
}

/// Jaeger's error envelope.
pub fn error(code: u16, msg: &str) -> Value {
    json!({"data": Value::Null, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": code, "msg": msg}]})
}
