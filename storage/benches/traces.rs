//! Span store hot paths: block encode/decode, append (WAL + head), flush into segments, and
//! trace-by-id lookups over segments holding 100k spans.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nerve_storage::logs::now_ns;
use nerve_storage::traces::{
    AttrValue, KeyValue, Resource, Scope, Span, SpanKind, SpanStore, SpanStoreOptions, StatusCode, TraceId, codec,
};
use nerve_storage::wal::SyncPolicy;
use support::rng::Rng;

mod support;

const SERVICES: [&str; 4] = ["frontend", "cart", "checkout", "payment"];

/// `n` spans in traces of 10, with typical HTTP attributes, sorted by trace id.
fn spans(n: usize, seed: u64) -> (Vec<Span>, Vec<TraceId>) {
    let mut r = Rng(seed);
    let resources: Vec<Arc<Resource>> = SERVICES
        .iter()
        .map(|s| {
            Arc::new(Resource {
                attributes: vec![
                    KeyValue::str("service.name", *s),
                    KeyValue::str("host.name", format!("{s}-1")),
                ],
                ..Default::default()
            })
        })
        .collect();
    let scope = Arc::new(Scope {
        name: "bench".into(),
        ..Default::default()
    });
    let now = now_ns() as u64;
    let mut out = Vec::with_capacity(n);
    let mut ids = Vec::new();
    let mut trace_id = [0u8; 16];
    for i in 0..n {
        if i % 10 == 0 {
            trace_id[..8].copy_from_slice(&r.next().to_be_bytes());
            trace_id[8..].copy_from_slice(&r.next().to_be_bytes());
            ids.push(trace_id);
        }
        let start = now - 600_000_000_000 + r.next() % 500_000_000_000;
        out.push(Span {
            trace_id,
            span_id: r.next().to_be_bytes(),
            parent_span_id: if i % 10 == 0 { [0; 8] } else { r.next().to_be_bytes() },
            trace_state: String::new(),
            flags: 1,
            name: format!("GET /api/{}", i % 7),
            kind: SpanKind::Server,
            start_ns: start,
            end_ns: start + r.next() % 100_000_000,
            attributes: vec![
                KeyValue::str("http.request.method", "GET"),
                KeyValue {
                    key: "http.response.status_code".into(),
                    value: AttrValue::Int(200),
                },
                KeyValue::str(
                    "url.full",
                    format!("http://cart:8080/api/items?id={}", r.next() % 100_000),
                ),
            ],
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status_code: StatusCode::Unset,
            status_message: String::new(),
            resource: resources[i % SERVICES.len()].clone(),
            scope: scope.clone(),
        });
    }
    out.sort_by_key(|s| (s.trace_id, s.start_ns));
    (out, ids)
}

fn opts() -> SpanStoreOptions {
    SpanStoreOptions {
        background: false,
        sync: SyncPolicy::Never,
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let (block, _) = spans(2048, 7);
    let encoded = codec::encode(&block);
    let mut g = c.benchmark_group("traces");
    g.throughput(Throughput::Elements(block.len() as u64));
    g.bench_function("encode_block_2048", |b| b.iter(|| black_box(codec::encode(&block))));
    g.bench_function("decode_block_2048", |b| {
        b.iter(|| black_box(codec::decode(&encoded).unwrap()))
    });
    let packed = zstd::bulk::compress(&encoded, 3).unwrap();
    eprintln!(
        "block of 2048 spans: {} B raw, {} B zstd-3 ({:.1} B/span)",
        encoded.len(),
        packed.len(),
        packed.len() as f64 / 2048.0
    );

    let (batch, _) = spans(1000, 11);
    let dir = tempfile::tempdir().unwrap();
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    g.throughput(Throughput::Elements(1000));
    g.bench_function("append_1000", |b| {
        b.iter(|| black_box(store.append(batch.clone(), now_ns()).unwrap()));
        store.flush().unwrap();
    });
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    let store = SpanStore::open(dir.path(), opts()).unwrap();
    let (all, ids) = spans(100_000, 13);
    for chunk in all.chunks(10_000) {
        store.append(chunk.to_vec(), now_ns()).unwrap();
        store.flush().unwrap();
    }
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("trace_by_id_100k_spans_10_segments", |b| {
        b.iter(|| {
            i = (i + 7919) % ids.len();
            black_box(store.trace(&ids[i], 0, u64::MAX).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
