//! Feeds arbitrary text to the TraceQL parser; whatever parses is evaluated against a fixed
//! span (with and without trace facts) and its set expression, hint and shown attributes are
//! computed. Nothing may panic. Run with `cargo fuzz run traceql` in `query/`.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use nerve_query::traces::traceql::{TraceFacts, parse};
use nerve_storage::traces::{AttrValue, Event, KeyValue, Resource, Scope, Span, SpanKind, StatusCode};

fn span() -> &'static Span {
    static SPAN: OnceLock<Span> = OnceLock::new();
    SPAN.get_or_init(|| Span {
        trace_id: [7; 16],
        span_id: [1; 8],
        parent_span_id: [2; 8],
        trace_state: String::new(),
        flags: 0,
        name: "GET /x".into(),
        kind: SpanKind::Client,
        start_ns: 10,
        end_ns: 1_000_010,
        attributes: vec![
            KeyValue { key: "n".into(), value: AttrValue::Int(5) },
            KeyValue { key: "f".into(), value: AttrValue::Double(1.5) },
            KeyValue { key: "b".into(), value: AttrValue::Bool(true) },
            KeyValue {
                key: "arr".into(),
                value: AttrValue::Array(vec![AttrValue::Int(1), AttrValue::Str("x".into())]),
            },
            KeyValue::str("s", "value"),
        ],
        dropped_attributes_count: 0,
        events: vec![Event {
            time_ns: 11,
            name: "exception".into(),
            attributes: vec![KeyValue::str("e", "v")],
            dropped_attributes_count: 0,
        }],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: StatusCode::Error,
        status_message: "bad".into(),
        resource: Arc::new(Resource {
            attributes: vec![KeyValue::str("service.name", "svc")],
            ..Default::default()
        }),
        scope: Arc::new(Scope::default()),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(q) = parse(text) else {
        return;
    };
    let facts = TraceFacts {
        root_name: Some("root".into()),
        root_service: None,
        duration_ns: 5,
    };
    let mut mask = 0u64;
    for (i, f) in q.filters().iter().enumerate() {
        if f.matches(span(), Some(&facts)) {
            mask |= 1 << i;
        }
        let _ = f.matches(span(), None);
    }
    let _ = q.contributing(&|i| mask & (1 << i) != 0);
    let _ = q.hint();
    let _ = q.needs_trace();
    let _ = q.matched_attributes(span());
});
