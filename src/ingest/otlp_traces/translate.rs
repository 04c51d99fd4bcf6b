//! OTLP trace messages → nerve's span model.

use std::sync::Arc;

use nerve_proto::otlp_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use nerve_proto::otlp_proto::tonic::common::v1::{self as otlp_common, any_value};
use nerve_proto::otlp_proto::tonic::trace::v1 as otlp;
use nerve_storage::traces::{AttrValue, Event, KeyValue, Link, Resource, Scope, Span, SpanKind, StatusCode};

/// Nesting depth kept for array/kvlist attribute values; deeper values become empty.
const MAX_DEPTH: u32 = 16;

/// Spans of a request, and the ones refused with why.
#[derive(Debug, Default)]
pub struct Translated {
    /// Valid spans.
    pub spans: Vec<Span>,
    /// Spans with malformed ids.
    pub rejected: usize,
    /// The first reason.
    pub error: Option<String>,
}

/// Translates every span of `req`; spans whose trace id is not 16 bytes, span id not 8
/// bytes or parent id neither empty nor 8 bytes are refused.
pub fn translate(req: ExportTraceServiceRequest) -> Translated {
    let mut out = Translated::default();
    for rs in req.resource_spans {
        let resource = Arc::new(rs.resource.map_or_else(Resource::default, |r| Resource {
            attributes: attrs(r.attributes),
            dropped_attributes_count: r.dropped_attributes_count,
            schema_url: rs.schema_url.clone(),
        }));
        for ss in rs.scope_spans {
            let scope = Arc::new(ss.scope.map_or_else(Scope::default, |s| Scope {
                name: s.name,
                version: s.version,
                attributes: attrs(s.attributes),
                dropped_attributes_count: s.dropped_attributes_count,
                schema_url: ss.schema_url.clone(),
            }));
            for s in ss.spans {
                match span(s, &resource, &scope) {
                    Ok(s) => out.spans.push(s),
                    Err(e) => {
                        out.rejected += 1;
                        out.error.get_or_insert(e);
                    }
                }
            }
        }
    }
    out
}

fn id<const N: usize>(b: &[u8], what: &str) -> Result<[u8; N], String> {
    b.try_into()
        .map_err(|_| format!("{what} must be {N} bytes, got {}", b.len()))
}

fn span(s: otlp::Span, resource: &Arc<Resource>, scope: &Arc<Scope>) -> Result<Span, String> {
    let trace_id = id::<16>(&s.trace_id, "trace id")?;
    let span_id = id::<8>(&s.span_id, "span id")?;
    let parent_span_id = if s.parent_span_id.is_empty() {
        [0; 8]
    } else {
        id::<8>(&s.parent_span_id, "parent span id")?
    };
    let (status_code, status_message) = s.status.map_or((StatusCode::Unset, String::new()), |st| {
        (StatusCode::from_i32(st.code), st.message)
    });
    let mut links = Vec::with_capacity(s.links.len());
    for l in s.links {
        links.push(Link {
            trace_id: id::<16>(&l.trace_id, "link trace id")?,
            span_id: id::<8>(&l.span_id, "link span id")?,
            trace_state: l.trace_state,
            attributes: attrs(l.attributes),
            dropped_attributes_count: l.dropped_attributes_count,
            flags: l.flags,
        });
    }
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: s.trace_state,
        flags: s.flags,
        name: s.name,
        kind: SpanKind::from_i32(s.kind),
        start_ns: s.start_time_unix_nano,
        end_ns: s.end_time_unix_nano,
        attributes: attrs(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .into_iter()
            .map(|e| Event {
                time_ns: e.time_unix_nano,
                name: e.name,
                attributes: attrs(e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links,
        dropped_links_count: s.dropped_links_count,
        status_code,
        status_message,
        resource: resource.clone(),
        scope: scope.clone(),
    })
}

/// OTLP attributes → model attributes.
pub fn attrs(kvs: Vec<otlp_common::KeyValue>) -> Vec<KeyValue> {
    kvs.into_iter()
        .map(|kv| KeyValue {
            key: kv.key,
            value: kv.value.map_or(AttrValue::Empty, |v| value(v, 0)),
        })
        .collect()
}

fn value(v: otlp_common::AnyValue, depth: u32) -> AttrValue {
    let Some(v) = v.value else {
        return AttrValue::Empty;
    };
    match v {
        any_value::Value::StringValue(s) => AttrValue::Str(s),
        any_value::Value::BoolValue(b) => AttrValue::Bool(b),
        any_value::Value::IntValue(i) => AttrValue::Int(i),
        any_value::Value::DoubleValue(d) => AttrValue::Double(d),
        any_value::Value::BytesValue(b) => AttrValue::Bytes(b),
        _ if depth >= MAX_DEPTH => AttrValue::Empty,
        any_value::Value::ArrayValue(a) => {
            AttrValue::Array(a.values.into_iter().map(|x| value(x, depth + 1)).collect())
        }
        any_value::Value::KvlistValue(kv) => AttrValue::KvList(
            kv.values
                .into_iter()
                .map(|kv| KeyValue {
                    key: kv.key,
                    value: kv.value.map_or(AttrValue::Empty, |v| value(v, depth + 1)),
                })
                .collect(),
        ),
        #[allow(unreachable_patterns)]
        _ => AttrValue::Empty,
    }
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
