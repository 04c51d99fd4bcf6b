//! Storage hot paths: the head chunk codecs, the block chunk codec and WAL appends.
//!
//! One function per bench group; add new groups (head append, postings) as functions and list
//! them in the `criterion_group!` at the bottom. Codec throughput is in samples, WAL throughput
//! in records.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nerve_storage::metrics::chunk::{DecChunk, DecIter, XorChunk, XorIter};
use nerve_storage::metrics::{Sample, block_chunk};
use nerve_storage::wal::{SyncPolicy, Wal, WalOptions};
use support::rng::Rng;

mod support;

/// Samples per series: 2 h at a 15 s scrape interval, what one block chunk holds.
const SAMPLES: usize = 480;
/// Prometheus' head chunk size.
const HEAD_CHUNK_SAMPLES: usize = 120;

/// The series shapes the codecs are measured on: a busy counter, a two-decimal gauge and noise,
/// all scraped every 15 s.
fn workloads() -> Vec<(&'static str, Vec<Sample>)> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut series = |f: &mut dyn FnMut(&mut Rng) -> f64| -> Vec<Sample> {
        (0..SAMPLES)
            .map(|i| Sample {
                t: 1_700_000_000_000 + i as i64 * 15_000,
                v: f(&mut rng),
            })
            .collect()
    };
    let mut counter = 123_456.0;
    let mut cents = 4_217i64;
    vec![
        (
            "counter",
            series(&mut |r| {
                counter += (r.next() % 301) as f64;
                counter
            }),
        ),
        (
            "gauge_2dp",
            series(&mut |r| {
                cents += (r.next() % 41) as i64 - 20;
                cents as f64 / 100.0
            }),
        ),
        ("random", series(&mut |r| r.unit())),
    ]
}

fn xor_chunk(c: &mut Criterion) {
    let mut g = c.benchmark_group("xor_chunk");
    for (name, samples) in workloads() {
        let samples = &samples[..HEAD_CHUNK_SAMPLES];
        g.throughput(Throughput::Elements(samples.len() as u64));
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                let mut chunk = XorChunk::new();
                for s in black_box(samples) {
                    chunk.append(s.t, s.v);
                }
                black_box(chunk.byte_len())
            })
        });
        let mut chunk = XorChunk::new();
        samples.iter().for_each(|s| chunk.append(s.t, s.v));
        let mut it = XorIter::new(chunk.bytes());
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                it.reset(black_box(chunk.bytes()));
                let mut sum = 0.0;
                for s in it.by_ref() {
                    sum += s.v;
                }
                black_box(sum)
            })
        });
    }
    g.finish();
}

/// The head's open-chunk codec, on the same 120-sample chunks as `xor_chunk`.
fn dec_chunk(c: &mut Criterion) {
    let mut g = c.benchmark_group("dec_chunk");
    for (name, samples) in workloads() {
        let samples = &samples[..HEAD_CHUNK_SAMPLES];
        g.throughput(Throughput::Elements(samples.len() as u64));
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                let mut chunk = DecChunk::new();
                for s in black_box(samples) {
                    chunk.append(s.t, s.v);
                }
                black_box(chunk.bytes().len())
            })
        });
        let mut chunk = DecChunk::new();
        samples.iter().for_each(|s| chunk.append(s.t, s.v));
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                let mut sum = 0.0;
                for s in DecIter::new(black_box(chunk.bytes())) {
                    sum += s.v;
                }
                black_box(sum)
            })
        });
    }
    g.finish();
}

fn block_chunk(c: &mut Criterion) {
    let mut g = c.benchmark_group("block_chunk");
    for (name, samples) in workloads() {
        g.throughput(Throughput::Elements(samples.len() as u64));
        let mut buf = Vec::new();
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                block_chunk::encode(black_box(&samples), &mut buf);
                black_box(buf.len())
            })
        });
        let mut encoded = Vec::new();
        block_chunk::encode(&samples, &mut encoded);
        let mut out = Vec::with_capacity(samples.len());
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                out.clear();
                block_chunk::decode(black_box(&encoded), &mut out).ok();
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn wal_append(c: &mut Criterion) {
    const RECORDS: usize = 100;
    const RECORD_BYTES: usize = 200;
    let mut g = c.benchmark_group("wal");
    g.throughput(Throughput::Elements(RECORDS as u64));
    let Ok(dir) = tempfile::tempdir() else { return };
    let opts = WalOptions {
        segment_size: 64 << 20,
        sync: SyncPolicy::Never,
    };
    let Ok(wal) = Wal::open(dir.path(), opts) else { return };
    let payloads: Vec<Vec<u8>> = (0..RECORDS).map(|i| vec![i as u8; RECORD_BYTES]).collect();
    let batch: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
    g.bench_function("log/100x200B", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                wal.log(black_box(&batch)).ok();
            }
            let elapsed = start.elapsed();
            // Untimed: drop the segments just written so the temp dir stays small.
            if let Ok(cur) = wal.cut_segment() {
                wal.checkpoint(cur - 1, |_| None).ok();
            }
            elapsed
        })
    });
    wal.close().ok();
    g.finish();
}

criterion_group!(benches, xor_chunk, dec_chunk, block_chunk, wal_append);
criterion_main!(benches);
