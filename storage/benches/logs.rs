//! Log store hot paths: push (WAL + head), commit into the tantivy index, and selects with an
//! indexed rare token versus a full stream scan. Throughput is in line bytes.

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nerve_storage::logs::{Direction, LogEntry, LogStore, LogStoreOptions, LogStream, Select, now_ns};
use nerve_storage::wal::SyncPolicy;
use nerve_storage::{Labels, Matcher};
use support::rng::Rng;

mod support;

const LEVELS: [&str; 4] = ["info", "info", "warn", "error"];
const PATHS: [&str; 5] = ["/api/orders", "/api/users", "/health", "/api/cart", "/login"];

/// A ~500 B JSON line or a ~150 B logfmt line, alternating by stream.
fn line(rng: &mut Rng, json: bool, i: u64) -> String {
    let r = rng.next();
    let level = LEVELS[(r % 4) as usize];
    let path = PATHS[((r >> 8) % 5) as usize];
    if json {
        format!(
            "{{\"ts\":\"2026-11-22T08:00:{:02}.{:06}Z\",\"level\":\"{level}\",\"msg\":\"request handled\",\"method\":\"GET\",\"path\":\"{path}\",\"status\":{},\"duration_ms\":{},\"bytes\":{},\"user_id\":\"u{:06}\",\"request_id\":\"{:016x}\",\"trace_id\":\"{:032x}\",\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\",\"region\":\"eu-west-1\",\"pod\":\"api-7d9f8c6b5-x{}\"}}",
            i % 60,
            r % 1_000_000,
            [200, 200, 201, 404, 500][((r >> 16) % 5) as usize],
            (r >> 20) % 900,
            (r >> 30) % 50_000,
            (r >> 12) % 100_000,
            rng.next(),
            u128::from(rng.next()) << 64 | u128::from(rng.next()),
            r % 9,
        )
    } else {
        format!(
            "ts=2026-11-22T08:00:{:02}Z level={level} msg=\"cache lookup\" key=user:{} hit={} took={}us",
            i % 60,
            (r >> 8) % 100_000,
            r.is_multiple_of(3),
            (r >> 24) % 5000
        )
    }
}

fn batch(rng: &mut Rng, t0: i64, n: usize, rare_every: usize) -> (Vec<LogStream>, u64) {
    let mut streams: Vec<LogStream> = (0..10)
        .map(|s| LogStream {
            labels: Labels::from_pairs([("app", format!("app{s}")), ("env", "prod".to_owned())]).unwrap(),
            entries: Vec::new(),
        })
        .collect();
    let mut bytes = 0;
    for i in 0..n {
        let s = i % streams.len();
        let mut l = line(rng, s.is_multiple_of(2), i as u64);
        if rare_every > 0 && i.is_multiple_of(rare_every) {
            l.push_str(" rare-token-zq7");
        }
        bytes += l.len() as u64;
        streams[s].entries.push(LogEntry {
            ts_ns: t0 + i as i64 * 1000,
            line: l,
            metadata: vec![],
            trace_id: None,
        });
    }
    (streams, bytes)
}

fn opts() -> LogStoreOptions {
    LogStoreOptions {
        background: false,
        sync: SyncPolicy::Never,
        ..LogStoreOptions::default()
    }
}

/// Time of pushing `sample` into `iters` fresh stores (and committing it into the index when
/// `commit`); opening each store is not timed.
fn push_into_fresh_stores(iters: u64, sample: &[LogStream], commit: bool) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let dir = tempfile::tempdir().unwrap();
        let s = LogStore::open(dir.path(), opts()).unwrap();
        let input = sample.to_vec();
        let t = Instant::now();
        black_box(s.push(input, now_ns()).unwrap());
        if commit {
            s.flush().unwrap();
        }
        total += t.elapsed();
    }
    total
}

fn push_and_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("logs");
    g.sample_size(10);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (sample, bytes) = batch(&mut rng, now_ns() - 3_600_000_000_000, 20_000, 0);
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("push_20k_lines", |b| {
        b.iter_custom(|iters| push_into_fresh_stores(iters, &sample, false))
    });
    g.bench_function("push_and_commit_20k_lines", |b| {
        b.iter_custom(|iters| push_into_fresh_stores(iters, &sample, true))
    });
    g.finish();
}

fn select(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let s = LogStore::open(dir.path(), opts()).unwrap();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let t0 = now_ns() - 3_000_000_000_000;
    for k in 0..10 {
        let (b, _) = batch(&mut rng, t0 + k * 20_000_000, 20_000, 5_000);
        s.push(b, now_ns()).unwrap();
    }
    s.flush().unwrap();
    let req = |contains: Vec<String>| Select {
        matchers: vec![Matcher::equal("app", "app0")],
        start_ns: 0,
        end_ns: i64::MAX,
        direction: Direction::Backward,
        contains,
        trace_id: None,
    };
    let mut g = c.benchmark_group("logs_select_200k_lines");
    g.sample_size(20);
    g.bench_function("rare_token_indexed", |b| {
        let r = req(vec!["rare-token-zq7".into()]);
        b.iter(|| {
            let mut n = 0;
            s.select(&r, &mut |_| {
                n += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
            black_box(n)
        })
    });
    g.bench_function("stream_scan_1000_newest", |b| {
        let r = req(vec![]);
        b.iter(|| {
            let mut n = 0;
            s.select(&r, &mut |_| {
                n += 1;
                if n == 1000 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, push_and_commit, select);
criterion_main!(benches);
