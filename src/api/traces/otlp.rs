//! nerve's span model → OTLP messages (the reverse of [`crate::ingest::otlp_traces::translate`]),
//! for the Tempo trace-by-id answers (protobuf and OTLP JSON).

use std::sync::Arc;

use nerve_proto::otlp_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue as OtlpKeyValue, KeyValueList, any_value,
};
use nerve_proto::otlp_proto::tonic::resource::v1::Resource as OtlpResource;
use nerve_proto::otlp_proto::tonic::trace::v1::{self as otlp, ResourceSpans, ScopeSpans, TracesData};
use nerve_storage::traces::{AttrValue, KeyValue, Span};

/// The spans grouped as OTLP does: one `ResourceSpans` per distinct resource, one
/// `ScopeSpans` per distinct scope inside it, spans in the given order.
pub fn traces_data(spans: &[Span]) -> TracesData {
    let mut out: Vec<ResourceSpans> = Vec::new();
    // (resource, [(scope, index into out[..].scope_spans)]) in first-seen order.
    let mut groups: Vec<(
        &Arc<nerve_storage::traces::Resource>,
        Vec<&Arc<nerve_storage::traces::Scope>>,
    )> = Vec::new();
    for s in spans {
        let ri = match groups
            .iter()
            .position(|(r, _)| Arc::ptr_eq(r, &s.resource) || **r == s.resource)
        {
            Some(i) => i,
            None => {
                groups.push((&s.resource, Vec::new()));
                out.push(ResourceSpans {
                    resource: Some(OtlpResource {
                        attributes: attrs(&s.resource.attributes),
                        dropped_attributes_count: s.resource.dropped_attributes_count,
                        entity_refs: Vec::new(),
                    }),
                    scope_spans: Vec::new(),
                    schema_url: s.resource.schema_url.clone(),
                });
                groups.len() - 1
            }
        };
        let scopes = &mut groups[ri].1;
        let si = match scopes
            .iter()
            .position(|sc| Arc::ptr_eq(sc, &s.scope) || **sc == s.scope)
        {
            Some(i) => i,
            None => {
                scopes.push(&s.scope);
                out[ri].scope_spans.push(ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: s.scope.name.clone(),
                        version: s.scope.version.clone(),
                        attributes: attrs(&s.scope.attributes),
                        dropped_attributes_count: s.scope.dropped_attributes_count,
                    }),
                    spans: Vec::new(),
                    schema_url: s.scope.schema_url.clone(),
                });
                scopes.len() - 1
            }
        };
        out[ri].scope_spans[si].spans.push(span(s));
    }
    TracesData { resource_spans: out }
}

fn span(s: &Span) -> otlp::Span {
    otlp::Span {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: if s.is_root() {
            Vec::new()
        } else {
            s.parent_span_id.to_vec()
        },
        flags: s.flags,
        name: s.name.clone(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start_ns,
        end_time_unix_nano: s.end_ns,
        attributes: attrs(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| otlp::span::Event {
                time_unix_nano: e.time_ns,
                name: e.name.clone(),
                attributes: attrs(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| otlp::span::Link {
                trace_id: l.trace_id.to_vec(),
                span_id: l.span_id.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: attrs(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: (s.status_code as i32 != 0 || !s.status_message.is_empty()).then(|| otlp::Status {
            message: s.status_message.clone(),
            code: s.status_code as i32,
        }),
    }
}

/// Model attributes → OTLP attributes.
pub fn attrs(kvs: &[KeyValue]) -> Vec<OtlpKeyValue> {
    kvs.iter()
        .map(|kv| OtlpKeyValue {
            key: kv.key.clone(),
            value: Some(value(&kv.value)),
            ..Default::default()
        })
        .collect()
}

/// A model value → OTLP `AnyValue`.
pub fn value(v: &AttrValue) -> AnyValue {
    let value = match v {
        AttrValue::Str(s) => Some(any_value::Value::StringValue(s.clone())),
        AttrValue::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        AttrValue::Int(i) => Some(any_value::Value::IntValue(*i)),
        AttrValue::Double(d) => Some(any_value::Value::DoubleValue(*d)),
        AttrValue::Bytes(b) => Some(any_value::Value::BytesValue(b.clone())),
        AttrValue::Array(a) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: a.iter().map(value).collect(),
        })),
        AttrValue::KvList(kv) => Some(any_value::Value::KvlistValue(KeyValueList { values: attrs(kv) })),
        AttrValue::Empty => None,
    };
    AnyValue { value }
}
