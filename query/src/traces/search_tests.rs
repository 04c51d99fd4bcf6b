//! Trace search over a real span store: Jaeger filters, TraceQL with spanset operators and
//! trace-level intrinsics, summaries and dependencies, checked against brute force.

use std::sync::Arc;

use nerve_storage::traces::{
    AttrValue, Event, KeyValue, Resource, Scope, Span, SpanKind, SpanStore, SpanStoreOptions, StatusCode, TraceId,
};
use nerve_storage::wal::SyncPolicy;

use super::*;
use crate::traces::dependencies::dependencies;
use crate::traces::traceql;

const MS: u64 = 1_000_000;

/// Ten minutes ago, fixed for the whole test run.
fn base() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| (nerve_storage::logs::now_ns() as u64) - 600_000 * MS)
}

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![KeyValue::str("service.name", service), KeyValue::str("host.name", "h")],
        ..Default::default()
    })
}

fn tid(n: u8) -> TraceId {
    let mut t = [0u8; 16];
    t[0] = n;
    t[15] = 1;
    t
}

/// A span of trace `t`, id `id` (parent `parent`, 0 = root), `start` ms after [`base`].
#[allow(clippy::too_many_arguments)]
fn span(t: u8, id: u8, parent: u8, start: u64, dur: u64, svc: &Arc<Resource>, name: &str, err: bool) -> Span {
    Span {
        trace_id: tid(t),
        span_id: [id, 0, 0, 0, 0, 0, 0, 1],
        parent_span_id: if parent == 0 {
            [0; 8]
        } else {
            [parent, 0, 0, 0, 0, 0, 0, 1]
        },
        trace_state: String::new(),
        flags: 1,
        name: name.to_owned(),
        kind: if parent == 0 {
            SpanKind::Server
        } else {
            SpanKind::Client
        },
        start_ns: base() + start * MS,
        end_ns: base() + (start + dur) * MS,
        attributes: vec![KeyValue {
            key: "http.status_code".into(),
            value: AttrValue::Int(if err { 500 } else { 200 }),
        }],
        dropped_attributes_count: 0,
        events: vec![Event {
            time_ns: base() + start * MS,
            name: "log".into(),
            attributes: vec![KeyValue::str("msg", format!("m{id}"))],
            dropped_attributes_count: 0,
        }],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: if err { StatusCode::Error } else { StatusCode::Unset },
        status_message: String::new(),
        resource: svc.clone(),
        scope: Arc::new(Scope::default()),
    }
}

/// Three traces: 1 = frontend → cart (error, 300 ms); 2 = frontend → payment (50 ms);
/// 3 = cart alone (1 s), started latest.
fn store() -> (tempfile::TempDir, Arc<SpanStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s = SpanStore::open(
        dir.path(),
        SpanStoreOptions {
            sync: SyncPolicy::Never,
            background: false,
            ..Default::default()
        },
    )
    .unwrap();
    let (fe, cart, pay) = (resource("frontend"), resource("cart"), resource("payment"));
    let spans = [
        span(1, 1, 0, 0, 400, &fe, "GET /cart", false),
        span(1, 2, 1, 10, 300, &cart, "SELECT", true),
        span(2, 3, 0, 1000, 100, &fe, "GET /pay", false),
        span(2, 4, 3, 1010, 50, &pay, "charge", false),
        span(3, 5, 0, 2000, 1000, &cart, "cleanup", false),
    ];
    s.append(spans[..3].to_vec(), nerve_storage::logs::now_ns()).unwrap();
    // Half in a segment, half in the head: searches see both.
    s.flush().unwrap();
    s.append(spans[3..].to_vec(), nerve_storage::logs::now_ns()).unwrap();
    (dir, s)
}

fn jq(service: &str) -> JaegerQuery {
    JaegerQuery {
        service: service.into(),
        start_ns: base() - 60_000 * MS,
        end_ns: base() + 60_000 * MS,
        limit: 20,
        ..Default::default()
    }
}

#[test]
fn jaeger_filters_need_one_span_to_match_all_conditions() {
    let (_d, s) = store();
    assert_eq!(
        find_jaeger(&s, &jq("cart"), None).unwrap(),
        vec![tid(3), tid(1)],
        "latest first"
    );
    let q = JaegerQuery {
        operation: Some("SELECT".into()),
        ..jq("cart")
    };
    assert_eq!(find_jaeger(&s, &q, None).unwrap(), vec![tid(1)]);
    let q = JaegerQuery {
        tags: vec![
            ("error".into(), "true".into()),
            ("http.status_code".into(), "500".into()),
        ],
        ..jq("cart")
    };
    assert_eq!(find_jaeger(&s, &q, None).unwrap(), vec![tid(1)]);
    // Resource and event tags count; a tag of another span of the trace does not.
    let q = JaegerQuery {
        tags: vec![("host.name".into(), "h".into()), ("msg".into(), "m2".into())],
        ..jq("cart")
    };
    assert_eq!(find_jaeger(&s, &q, None).unwrap(), vec![tid(1)]);
    let q = JaegerQuery {
        tags: vec![("msg".into(), "m1".into())],
        ..jq("cart")
    };
    assert!(find_jaeger(&s, &q, None).unwrap().is_empty());
    let q = JaegerQuery {
        min_duration_ns: 500 * MS,
        ..jq("cart")
    };
    assert_eq!(find_jaeger(&s, &q, None).unwrap(), vec![tid(3)]);
    let q = JaegerQuery {
        max_duration_ns: Some(500 * MS),
        ..jq("cart")
    };
    assert_eq!(find_jaeger(&s, &q, None).unwrap(), vec![tid(1)]);
    let q = JaegerQuery { limit: 1, ..jq("cart") };
    assert_eq!(find_jaeger(&s, &q, None).unwrap(), vec![tid(3)]);
    let q = JaegerQuery {
        end_ns: base() + 1500 * MS,
        ..jq("cart")
    };
    assert_eq!(find_jaeger(&s, &q, None).unwrap(), vec![tid(1)], "time range");
    assert!(find_jaeger(&s, &jq("nobody"), None).unwrap().is_empty());
}

fn tq(s: &SpanStore, q: &str) -> Vec<TraceQlHit> {
    let q = traceql::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    find_traceql(s, &q, base() - 60_000 * MS, base() + 60_000 * MS, 20, 3, None).unwrap()
}

fn ids(h: &[TraceQlHit]) -> Vec<TraceId> {
    h.iter().map(|h| h.trace_id).collect()
}

#[test]
fn traceql_spanset_operators_and_intrinsics() {
    let (_d, s) = store();
    assert_eq!(ids(&tq(&s, "{}")), vec![tid(3), tid(2), tid(1)]);
    let h = tq(&s, "{}");
    assert_eq!(h[2].matched, 2);
    let h = tq(&s, r#"{resource.service.name = "cart" && status = error}"#);
    assert_eq!(ids(&h), vec![tid(1)]);
    assert_eq!(h[0].matched, 1);
    assert_eq!(h[0].spans[0].span_id, [2, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(h[0].spans[0].name, "SELECT");
    assert_eq!(h[0].spans[0].duration_ns, 300 * MS);
    // && between spansets: both must be in the trace; the result is their union.
    let h = tq(
        &s,
        r#"{resource.service.name = "frontend"} && {resource.service.name = "payment"}"#,
    );
    assert_eq!(ids(&h), vec![tid(2)]);
    assert_eq!(h[0].matched, 2);
    let h = tq(&s, r#"{name = "SELECT"} || {name = "charge"}"#);
    assert_eq!(ids(&h), vec![tid(2), tid(1)]);
    assert_eq!(ids(&tq(&s, "{span.http.status_code >= 500}")), vec![tid(1)]);
    assert_eq!(ids(&tq(&s, "{duration > 500ms}")), vec![tid(3)]);
    // Trace-level intrinsics come from the whole trace, not the matching span.
    assert_eq!(
        ids(&tq(&s, r#"{rootServiceName = "frontend" && name = "SELECT"}"#)),
        vec![tid(1)]
    );
    assert_eq!(ids(&tq(&s, r#"{rootName = "GET /pay"}"#)), vec![tid(2)]);
    assert_eq!(ids(&tq(&s, "{traceDuration > 350ms && kind = client}")), vec![tid(1)]);
    assert!(tq(&s, r#"{resource.service.name = "nobody"}"#).is_empty());
    // spss bounds the spans shown, not the count.
    let q = traceql::parse("{}").unwrap();
    let h = find_traceql(&s, &q, base() - 60_000 * MS, base() + 60_000 * MS, 1, 1, None).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].spans.len(), 1);
}

/// Every TraceQL result equals a brute-force evaluation over every stored span.
#[test]
fn traceql_matches_brute_force() {
    let (_d, s) = store();
    let mut all = Vec::new();
    for t in 1..=3 {
        all.extend(s.trace(&tid(t), 0, u64::MAX).unwrap());
    }
    for text in [
        "{}",
        "{status = error}",
        "{kind = server && duration < 200ms}",
        r#"{.host.name = "h" && span.http.status_code = 200}"#,
        r#"{name =~ "GET.*"} && {kind = client}"#,
        r#"{name !~ "GET.*"} || {status = error}"#,
        r#"{rootServiceName != "frontend"}"#,
    ] {
        let q = traceql::parse(text).unwrap();
        let mut want = Vec::new();
        for t in 1..=3u8 {
            let spans: Vec<&Span> = all.iter().filter(|x| x.trace_id == tid(t)).collect();
            let facts = spans.iter().find(|x| x.is_root()).map(|r| traceql::TraceFacts {
                root_name: Some(r.name.clone()),
                root_service: Some(r.service_name().to_owned()),
                duration_ns: spans.iter().map(|x| x.end_ns).max().unwrap()
                    - spans.iter().map(|x| x.start_ns).min().unwrap(),
            });
            let masks: Vec<u64> = spans
                .iter()
                .map(|x| {
                    (0..q.filters().len()).fold(0u64, |m, i| {
                        m | (u64::from(q.filters()[i].matches(x, facts.as_ref())) << i)
                    })
                })
                .collect();
            let any = masks.iter().fold(0, |a, m| a | m);
            let c = q.contributing(&|i| any & (1 << i) != 0);
            let n = masks.iter().filter(|m| *m & c != 0).count();
            if c != 0 {
                want.push((tid(t), n));
            }
        }
        let mut got: Vec<(TraceId, usize)> = tq(&s, text).iter().map(|h| (h.trace_id, h.matched)).collect();
        got.sort();
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn summaries_and_dependencies() {
    let (_d, s) = store();
    let sum = summarize(&s.trace(&tid(1), 0, u64::MAX).unwrap());
    assert_eq!(sum.root_service.as_deref(), Some("frontend"));
    assert_eq!(sum.root_name.as_deref(), Some("GET /cart"));
    assert_eq!(sum.start_ns, base());
    assert_eq!(sum.duration_ns, 400 * MS);
    assert_eq!(sum.services, vec![("cart".into(), 1, 1), ("frontend".into(), 1, 0)]);
    let d = dependencies(&s, base() - 60_000 * MS, base() + 60_000 * MS, None).unwrap();
    let d: Vec<(String, String, u64)> = d.into_iter().map(|d| (d.parent, d.child, d.calls)).collect();
    assert_eq!(
        d,
        vec![
            ("frontend".into(), "cart".into(), 1),
            ("frontend".into(), "payment".into(), 1)
        ]
    );
}

#[test]
fn derived_tags_follow_the_otel_jaeger_translation() {
    let svc = resource("x");
    let s = span(1, 2, 1, 0, 1, &svc, "op", true);
    let tags: Vec<(String, String)> = derived_tags(&s)
        .into_iter()
        .map(|kv| (kv.key, kv.value.to_text()))
        .collect();
    assert_eq!(
        tags,
        vec![
            ("span.kind".into(), "client".into()),
            ("otel.status_code".into(), "ERROR".into()),
            ("error".into(), "true".into()),
        ]
    );
}
