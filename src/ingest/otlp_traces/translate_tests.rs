//! OTLP ↔ model: arbitrary bodies never panic the decoder or the translation, and the
//! model → OTLP conversion of the read APIs translates back to the same spans.

use std::sync::Arc;

use nerve_proto::otlp::decode_request;
use nerve_proto::otlp_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use nerve_storage::traces::{AttrValue, Event, KeyValue, Link, Resource, Scope, Span, SpanKind, StatusCode};
use proptest::prelude::*;

use super::*;
use crate::api::traces::otlp::traces_data;

fn attr_value() -> impl Strategy<Value = AttrValue> {
    let leaf = prop_oneof![
        ".{0,8}".prop_map(AttrValue::Str),
        any::<bool>().prop_map(AttrValue::Bool),
        any::<i64>().prop_map(AttrValue::Int),
        (-1e9f64..1e9).prop_map(AttrValue::Double),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(AttrValue::Bytes),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(AttrValue::Array),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..3)
                .prop_map(|kv| AttrValue::KvList(kv.into_iter().map(|(key, value)| KeyValue { key, value }).collect())),
        ]
    })
}

fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(("[a-z.]{1,6}", attr_value()), 0..3)
        .prop_map(|v| v.into_iter().map(|(key, value)| KeyValue { key, value }).collect())
}

prop_compose! {
    fn span(resources: Vec<Arc<Resource>>, scopes: Vec<Arc<Scope>>)(
        trace in any::<[u8; 16]>(), id in any::<[u8; 8]>(), parent in any::<[u8; 8]>(),
        start in 0u64..1 << 62, dur in 0u64..1 << 40, kind in 0i32..6, status in 0i32..3,
        name in ".{0,10}", msg in ".{0,5}", a in attrs(), ea in attrs(),
        r in 0..resources.len(), sc in 0..scopes.len(), flags in any::<u32>(),
    ) -> Span {
        Span {
            trace_id: trace,
            span_id: id,
            parent_span_id: parent,
            trace_state: String::new(),
            flags,
            name,
            kind: SpanKind::from_i32(kind),
            start_ns: start,
            end_ns: start + dur,
            attributes: a,
            dropped_attributes_count: 1,
            events: vec![Event { time_ns: start, name: "e".into(), attributes: ea, dropped_attributes_count: 2 }],
            dropped_events_count: 3,
            links: vec![Link { trace_id: trace, span_id: parent, trace_state: "k=v".into(), attributes: vec![], dropped_attributes_count: 0, flags: 1 }],
            dropped_links_count: 4,
            status_code: StatusCode::from_i32(status),
            status_message: msg,
            resource: resources[r].clone(),
            scope: scopes[sc].clone(),
        }
    }
}

fn sorted(mut v: Vec<Span>) -> Vec<Span> {
    v.sort_by_key(|s| (s.trace_id, s.span_id, s.start_ns));
    v
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..512),
        json in any::<bool>(),
    ) {
        let ct = if json { "application/json" } else { "application/x-protobuf" };
        if let Ok(req) = decode_request::<ExportTraceServiceRequest>(&body, Some(ct), None, 4096) {
            let _ = translate(req);
        }
    }

    #[test]
    fn model_to_otlp_and_back_is_identity(spans in {
        let resources = vec![
            Arc::new(Resource { attributes: vec![KeyValue::str("service.name", "a")], dropped_attributes_count: 0, schema_url: "s1".into() }),
            Arc::new(Resource { attributes: vec![KeyValue::str("service.name", "b")], dropped_attributes_count: 2, schema_url: String::new() }),
        ];
        let scopes = vec![
            Arc::new(Scope { name: "lib".into(), version: "1".into(), attributes: vec![], dropped_attributes_count: 0, schema_url: String::new() }),
            Arc::new(Scope { name: "other".into(), ..Default::default() }),
        ];
        prop::collection::vec(span(resources, scopes), 0..6)
    }) {
        let data = traces_data(&spans);
        let back = translate(ExportTraceServiceRequest { resource_spans: data.resource_spans });
        prop_assert_eq!(back.rejected, 0);
        prop_assert_eq!(sorted(back.spans), sorted(spans));
    }
}
