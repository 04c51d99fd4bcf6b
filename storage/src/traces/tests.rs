//! Span store tests: codec round trips, lookups across head/segments/compaction, replay,
//! retention, scans.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::wal::SyncPolicy;

/// A recent time (replay drops spans past retention by the real clock), at a day boundary.
fn t0() -> u64 {
    let now = crate::logs::now_ns() as u64;
    now / 86_400_000_000_000 * 86_400_000_000_000 - 86_400_000_000_000
}

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![KeyValue::str("service.name", service), KeyValue::str("host.name", "h1")],
        ..Default::default()
    })
}

fn span(trace: u8, id: u8, parent: u8, start_ms: u64, dur_ms: u64, service: &Arc<Resource>) -> Span {
    let mut trace_id = [0u8; 16];
    trace_id[0] = trace;
    trace_id[15] = 1;
    Span {
        trace_id,
        span_id: [id, 0, 0, 0, 0, 0, 0, 1],
        parent_span_id: if parent == 0 {
            [0; 8]
        } else {
            [parent, 0, 0, 0, 0, 0, 0, 1]
        },
        trace_state: String::new(),
        flags: 1,
        name: format!("op-{id}"),
        kind: SpanKind::Server,
        start_ns: t0() + start_ms * 1_000_000,
        end_ns: t0() + (start_ms + dur_ms) * 1_000_000,
        attributes: vec![
            KeyValue::str("http.method", "GET"),
            KeyValue {
                key: "http.status_code".into(),
                value: AttrValue::Int(200 + i64::from(id)),
            },
        ],
        dropped_attributes_count: 0,
        events: vec![Event {
            time_ns: t0() + start_ms * 1_000_000 + 5,
            name: "exception".into(),
            attributes: vec![KeyValue::str("exception.message", "boom")],
            dropped_attributes_count: 0,
        }],
        dropped_events_count: 0,
        links: vec![Link {
            trace_id: [9; 16],
            span_id: [8; 8],
            trace_state: "k=v".into(),
            attributes: vec![],
            dropped_attributes_count: 1,
            flags: 0,
        }],
        dropped_links_count: 0,
        status_code: if id.is_multiple_of(2) {
            StatusCode::Error
        } else {
            StatusCode::Unset
        },
        status_message: String::new(),
        resource: service.clone(),
        scope: Arc::new(Scope {
            name: "lib".into(),
            version: "1.0".into(),
            ..Default::default()
        }),
    }
}

fn opts() -> SpanStoreOptions {
    SpanStoreOptions {
        background: false,
        sync: SyncPolicy::Never,
        block_spans: 3,
        ..Default::default()
    }
}

fn now() -> i64 {
    (t0() + 3_600_000_000_000) as i64
}

fn tid(trace: u8) -> TraceId {
    span(trace, 1, 0, 0, 1, &resource("x")).trace_id
}

#[test]
fn codec_round_trips_every_field() {
    let api = resource("api");
    let db = resource("db");
    let spans = vec![
        span(1, 1, 0, 0, 10, &api),
        span(1, 2, 1, 1, 5, &db),
        span(2, 3, 0, 2, 7, &api),
    ];
    let back = codec::decode(&codec::encode(&spans)).unwrap();
    assert_eq!(back, spans);
}

fn value() -> impl Strategy<Value = AttrValue> {
    let leaf = prop_oneof![
        ".*".prop_map(AttrValue::Str),
        any::<bool>().prop_map(AttrValue::Bool),
        any::<i64>().prop_map(AttrValue::Int),
        any::<f64>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(AttrValue::Double),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(AttrValue::Bytes),
        Just(AttrValue::Empty),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(AttrValue::Array),
            proptest::collection::vec((".*", inner), 0..4)
                .prop_map(|kv| AttrValue::KvList(kv.into_iter().map(|(key, value)| KeyValue { key, value }).collect())),
        ]
    })
}

proptest! {
    #[test]
    fn codec_round_trips_any_attributes(
        attrs in proptest::collection::vec((".*", value()), 0..6),
        starts in proptest::collection::vec((any::<u64>(), any::<u32>(), any::<u8>()), 1..6),
    ) {
        let res = resource("svc");
        let spans: Vec<Span> = starts.iter().enumerate().map(|(i, (start, dur, trace))| {
            let mut s = span(*trace | 1, i as u8 + 1, 0, 0, 0, &res);
            s.start_ns = *start;
            s.end_ns = start.saturating_add(u64::from(*dur));
            s.attributes = attrs.iter().map(|(k, v)| KeyValue { key: k.clone(), value: v.clone() }).collect();
            s
        }).collect();
        let back = codec::decode(&codec::encode(&spans)).unwrap();
        prop_assert_eq!(back, spans);
    }

    #[test]
    fn codec_rejects_garbage_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = codec::decode(&bytes);
    }
}

#[test]
fn lookup_finds_spans_in_head_segments_and_late_arrivals() {
    let dir = tempfile::tempdir().unwrap();
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    let api = resource("api");
    let out = store
        .append(
            vec![
                span(1, 1, 0, 0, 100, &api),
                span(1, 2, 1, 10, 20, &api),
                span(2, 3, 0, 5, 1, &api),
            ],
            now(),
        )
        .unwrap();
    assert_eq!(out.accepted, 3);
    assert_eq!(store.trace(&tid(1), 0, u64::MAX).unwrap().len(), 2);
    store.flush().unwrap();
    assert_eq!(store.stats().head_spans, 0);
    // A late span of trace 1 joins it from the head, then from a second segment.
    store
        .append(vec![span(1, 4, 2, 50, 5, &resource("db"))], now())
        .unwrap();
    let t = store.trace(&tid(1), 0, u64::MAX).unwrap();
    assert_eq!(t.iter().map(|s| s.span_id[0]).collect::<Vec<_>>(), vec![1, 2, 4]);
    store.flush().unwrap();
    let t2 = store.trace(&tid(1), 0, u64::MAX).unwrap();
    assert_eq!(t2, t);
    assert_eq!(t2[0], span(1, 1, 0, 0, 100, &api));
    // Duplicated export (a client retry) does not duplicate spans.
    store.append(vec![span(1, 1, 0, 0, 100, &api)], now()).unwrap();
    assert_eq!(store.trace(&tid(1), 0, u64::MAX).unwrap().len(), 3);
    assert!(store.trace(&tid(7), 0, u64::MAX).unwrap().is_empty());
    assert_eq!(store.services(), vec!["api".to_string(), "db".to_string()]);
    assert_eq!(store.operations("db"), vec![("op-4".to_string(), SpanKind::Server)]);
    let keys = store.attribute_keys();
    assert_eq!(keys.resource, vec!["host.name".to_string(), "service.name".to_string()]);
    assert!(keys.span.contains(&"http.status_code".to_string()));
}

#[test]
fn reopen_replays_unflushed_spans_once() {
    let dir = tempfile::tempdir().unwrap();
    let api = resource("api");
    {
        let store = SpanStore::open(dir.path(), opts()).unwrap();
        store.append(vec![span(1, 1, 0, 0, 100, &api)], now()).unwrap();
        store.flush().unwrap();
        store.append(vec![span(1, 2, 1, 10, 20, &api)], now()).unwrap();
        // Dropped without close: like a crash, the head is only in the WAL.
    }
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    let t = store.trace(&tid(1), 0, u64::MAX).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(store.stats().head_spans, 1, "the flushed span is not replayed again");
    store.append(vec![span(3, 1, 0, 0, 1, &api)], now()).unwrap();
    store.close().unwrap();
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    assert_eq!(store.stats().head_spans, 0);
    assert_eq!(store.trace(&tid(3), 0, u64::MAX).unwrap().len(), 1);
    assert_eq!(store.stats().segment_spans, 3);
}

#[test]
fn compaction_merges_segments_and_keeps_every_span() {
    let dir = tempfile::tempdir().unwrap();
    let store = SpanStore::open(
        dir.path(),
        SpanStoreOptions {
            compact_at: 3,
            ..opts()
        },
    )
    .unwrap();
    let api = resource("api");
    for round in 0..3u8 {
        let spans = (1..=4u8)
            .map(|t| span(t, round + 1, 0, u64::from(round), 10, &api))
            .collect();
        store.append(spans, now()).unwrap();
        store.flush().unwrap();
    }
    assert_eq!(store.stats().segments, 3);
    store.maintain(now()).unwrap();
    let stats = store.stats();
    assert_eq!((stats.segments, stats.segment_spans), (1, 12));
    for t in 1..=4 {
        assert_eq!(store.trace(&tid(t), 0, u64::MAX).unwrap().len(), 3);
    }
    drop(store);
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    assert_eq!(store.stats().segments, 1);
    assert_eq!(store.trace(&tid(2), 0, u64::MAX).unwrap().len(), 3);
}

#[test]
fn retention_refuses_old_spans_and_drops_old_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    let api = resource("api");
    store.append(vec![span(1, 1, 0, 0, 1, &api)], now()).unwrap();
    store.flush().unwrap();
    let week = 7 * 86_400_000_000_000i64;
    let out = store.append(vec![span(2, 1, 0, 0, 1, &api)], now() + week).unwrap();
    assert_eq!((out.accepted, out.rejected), (0, 1));
    assert!(out.errors[0].contains("retention"), "{:?}", out.errors);
    store.maintain(now() + week + 2 * 86_400_000_000_000).unwrap();
    assert_eq!(store.stats().segments, 0);
    assert!(store.trace(&tid(1), 0, u64::MAX).unwrap().is_empty());
    assert!(store.services().is_empty());
    let zero = Span {
        trace_id: [0; 16],
        ..span(1, 1, 0, 0, 1, &api)
    };
    assert_eq!(store.append(vec![zero], now()).unwrap().rejected, 1);
}

#[test]
fn size_retention_drops_the_oldest_partitions_but_never_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let api = resource("api");
    let day = 86_400_000_000_000u64;
    let base = now() as u64 - 3 * day;
    {
        let store = SpanStore::open(dir.path(), opts()).unwrap();
        for d in 0..3u64 {
            let mut s = span(d as u8 + 1, 1, 0, 0, 1, &api);
            s.start_ns = base + d * day;
            s.end_ns = s.start_ns + 1_000;
            store.append(vec![s], now()).unwrap();
            store.flush().unwrap();
        }
        assert_eq!(store.stats().segments, 3);
    }
    let one_segment = {
        let store = SpanStore::open(dir.path(), opts()).unwrap();
        store.stats().segment_bytes / 3
    };
    let store = SpanStore::open(
        dir.path(),
        SpanStoreOptions {
            retention_bytes: Some(one_segment * 2),
            ..opts()
        },
    )
    .unwrap();
    store.maintain(now()).unwrap();
    assert!(
        store.trace(&tid(1), 0, u64::MAX).unwrap().is_empty(),
        "oldest day deleted"
    );
    assert_eq!(store.trace(&tid(3), 0, u64::MAX).unwrap().len(), 1, "newest kept");
    assert!(store.stats().segment_bytes <= one_segment * 2 + 64);
    let store = {
        drop(store);
        SpanStore::open(
            dir.path(),
            SpanStoreOptions {
                retention_bytes: Some(1),
                ..opts()
            },
        )
        .unwrap()
    };
    store.maintain(now()).unwrap();
    assert_eq!(
        store.stats().segments,
        1,
        "the newest partition stays whatever the limit"
    );
}

#[test]
fn scan_prunes_by_hint_but_visits_every_match() {
    let dir = tempfile::tempdir().unwrap();
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    let (api, db) = (resource("api"), resource("db"));
    let mut spans = Vec::new();
    for t in 1..=20u8 {
        spans.push(span(
            t,
            1,
            0,
            u64::from(t),
            u64::from(t) * 10,
            if t.is_multiple_of(2) { &api } else { &db },
        ));
    }
    store.append(spans, now()).unwrap();
    let count = |store: &SpanStore, hint: &ScanHint, start_ms: u64, end_ms: u64| {
        let mut n = 0;
        store
            .scan(
                t0() + start_ms * 1_000_000,
                t0() + end_ms * 1_000_000,
                hint,
                &mut |_| {
                    n += 1;
                    ControlFlow::Continue(())
                },
            )
            .unwrap();
        n
    };
    let hint = ScanHint {
        service: Some("api".into()),
        min_duration_ns: 100_000_000,
    };
    for round in 0..2 {
        assert_eq!(count(&store, &ScanHint::default(), 0, 1_000), 20, "round {round}");
        assert_eq!(
            count(&store, &hint, 0, 1_000),
            6,
            "round {round}: api spans of ≥100 ms: t=10..20 even"
        );
        assert_eq!(count(&store, &ScanHint::default(), 0, 0), 0, "round {round}");
        store.flush().unwrap();
    }
    let vals = store
        .attribute_values(AttrScope::Resource, "service.name", 0, u64::MAX, 10)
        .unwrap();
    assert_eq!(vals.len(), 2);
    let _ = Duration::from_secs(1);
}

#[test]
fn deletions_hide_spans_from_lookups_and_scans_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (api, db) = (resource("api"), resource("db"));
    {
        let store = SpanStore::open(dir.path(), opts()).unwrap();
        store
            .append(
                vec![
                    span(1, 1, 0, 0, 100, &api),
                    span(1, 2, 1, 10, 20, &db),
                    span(2, 3, 0, 500, 1, &api),
                ],
                now(),
            )
            .unwrap();
        store.flush().unwrap();
        assert!(store.delete_spans(None, 10, 5).is_err());
        // Only db's spans in the first 50 ms.
        store.delete_spans(Some("db".into()), t0(), t0() + 50_000_000).unwrap();
        let t = store.trace(&tid(1), 0, u64::MAX).unwrap();
        assert_eq!(t.iter().map(|s| s.span_id[0]).collect::<Vec<_>>(), vec![1]);
        store.close().unwrap();
    }
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    assert_eq!(store.trace(&tid(1), 0, u64::MAX).unwrap().len(), 1, "after reopen");
    // Every service, the first 100 ms: trace 1 is gone, trace 2 (at 500 ms) stays.
    store.delete_spans(None, t0(), t0() + 100_000_000).unwrap();
    assert!(store.trace(&tid(1), 0, u64::MAX).unwrap().is_empty());
    let mut seen = Vec::new();
    store
        .scan(0, u64::MAX, &ScanHint::default(), &mut |s| {
            seen.push(s.span_id[0]);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(seen, vec![3]);
    assert_eq!(store.span_deletions().len(), 2);
}

#[test]
fn spans_beyond_the_per_trace_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SpanStore::open(
        dir.path(),
        SpanStoreOptions {
            max_spans_per_trace: 3,
            ..opts()
        },
    )
    .unwrap();
    let api = resource("api");
    let out = store
        .append(
            vec![
                span(1, 1, 0, 0, 1, &api),
                span(1, 2, 1, 1, 1, &api),
                span(2, 9, 0, 0, 1, &api),
            ],
            now(),
        )
        .unwrap();
    assert_eq!((out.accepted, out.rejected), (3, 0));
    let out = store
        .append(vec![span(1, 3, 1, 2, 1, &api), span(1, 4, 1, 3, 1, &api)], now())
        .unwrap();
    assert_eq!((out.accepted, out.rejected), (1, 1));
    assert!(
        out.errors[0].contains("limits.traces_max_spans_per_trace"),
        "{:?}",
        out.errors
    );
    assert_eq!(store.trace(&tid(1), 0, u64::MAX).unwrap().len(), 3);
}

/// The segment files under the store's partitions.
fn segment_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for p in std::fs::read_dir(dir.join("partitions")).unwrap().flatten() {
        v.extend(
            std::fs::read_dir(p.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|x| x == "seg")),
        );
    }
    v
}

#[test]
fn damaged_segment_blocks_are_skipped_and_damaged_indexes_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let api = resource("api");
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    let spans: Vec<Span> = (1..=4u8)
        .flat_map(|t| (1..=3u8).map(move |i| (t, i)))
        .map(|(t, i)| span(t, i, 0, u64::from(t) * 10, 1, &api))
        .collect();
    store.append(spans, now()).unwrap();
    store.close().unwrap();
    let seg = segment_files(dir.path()).pop().unwrap();
    let good = std::fs::read(&seg).unwrap();
    let first = super::segment::Segment::open(&seg).unwrap().blocks[0].clone();

    // Garbage inside block 0 (trace 1): lookups and scans answer, without that block.
    let mut bytes = good.clone();
    let at = first.offset as usize + first.len as usize / 2;
    bytes[at..at + 4].iter_mut().for_each(|b| *b ^= 0xFF);
    std::fs::write(&seg, &bytes).unwrap();
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    assert!(store.trace(&tid(1), 0, u64::MAX).unwrap().is_empty());
    assert_eq!(store.trace(&tid(2), 0, u64::MAX).unwrap().len(), 3);
    let mut seen = 0;
    store
        .scan(0, u64::MAX, &ScanHint::default(), &mut |_| {
            seen += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(seen, 9);
    let w = store.damage_warnings(0, u64::MAX);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(!seg.exists(), "the damaged segment left its partition");
    assert!(store.trace(&tid(2), 0, u64::MAX).unwrap().is_empty());
    store.close().unwrap();

    // A damaged trace-id index (no checksum of its own) is refused when the segment opens.
    std::fs::write(&seg, &good).unwrap();
    let index_at = (first.offset + first.len) as usize;
    let opened = super::segment::Segment::open(&seg).unwrap();
    let index_start = opened.blocks.iter().map(|b| (b.offset + b.len) as usize).max().unwrap();
    assert!(index_start >= index_at);
    drop(opened);
    let mut bytes = good.clone();
    bytes[index_start + 16] = 0xFF; // block number of the first entry
    std::fs::write(&seg, &bytes).unwrap();
    assert!(super::segment::Segment::open(&seg).is_err());
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    assert!(!seg.exists());
    assert!(
        store
            .damage_warnings(0, u64::MAX)
            .iter()
            .any(|w| w.contains("at startup"))
    );
    store.close().unwrap();
}
