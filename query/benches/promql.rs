//! Criterion benches for the PromQL engine over the real TSDB (temp dir, head plus the blocks
//! `maintain` cuts, as in production):
//! - `rate(x[5m])` as a range query over 10k series × 6 h of 15 s samples (step 60 s, last 1 h
//!   and the whole 6 h);
//! - `sum by (job)` over 100k series, instant;
//! - `histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))` over 1k bucket series, as a
//!   range query over 1 h (step 60 s).
//!
//! Data is generated deterministically; loading it takes most of the run. `cargo bench -p nerve-query
//! --bench promql` finishes in a few minutes on 2 cores.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use nerve_query::promql::Engine;
use nerve_storage::Labels;
use nerve_storage::metrics::Tsdb;
use support::open_tsdb;

#[path = "../../storage/benches/support/mod.rs"]
mod support;

/// Scrape interval (ms).
const STEP_MS: i64 = 15_000;
/// Start of every data set (ms): a 2 h boundary.
const T0: i64 = 1_718_000_000_000 / 7_200_000 * 7_200_000;
const HOUR_MS: i64 = 3_600_000;

fn labels(pairs: &[(&str, String)]) -> Labels {
    Labels::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone()))).expect("labels")
}

/// Appends `rounds` scrapes of every series from `T0`; `value(series, round)`.
fn load(db: &Tsdb, series: &[Labels], rounds: i64, value: impl Fn(usize, i64) -> f64) {
    for r in 0..rounds {
        let t = T0 + r * STEP_MS;
        for chunk in series.chunks(10_000) {
            let mut app = db.appender();
            for (i, l) in chunk.iter().enumerate() {
                app.append(l, t, value(i, r)).expect("append");
            }
            app.commit().expect("commit");
        }
    }
    db.maintain().expect("maintain");
}

/// A counter growing by a series-dependent step with a reset now and then.
fn counter(i: usize, r: i64) -> f64 {
    let r = r % 1000;
    (r * (1 + (i as i64 % 7))) as f64
}

fn rate_range(c: &mut Criterion) {
    let (_dir, db) = open_tsdb();
    let series: Vec<Labels> = (0..10_000)
        .map(|i| {
            labels(&[
                ("__name__", "http_requests_total".into()),
                ("job", format!("job{}", i % 10)),
                ("instance", format!("host{}:9100", i / 10)),
                ("code", ["200", "404", "500", "503"][i % 4].into()),
            ])
        })
        .collect();
    let rounds = 6 * HOUR_MS / STEP_MS;
    load(&db, &series, rounds, counter);
    let end = T0 + 6 * HOUR_MS - STEP_MS;
    let engine = Engine::default();
    let mut g = c.benchmark_group("promql_rate_10k_series_6h");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (name, start) in [("range_1h_step_60s", end - HOUR_MS), ("range_6h_step_60s", T0)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let m = engine
                    .range(&*db, "rate(http_requests_total[5m])", start, end, 60_000, None)
                    .expect("query");
                black_box(m.len())
            })
        });
    }
    g.finish();
}

fn sum_by_instant(c: &mut Criterion) {
    let (_dir, db) = open_tsdb();
    let series: Vec<Labels> = (0..100_000)
        .map(|i| {
            labels(&[
                ("__name__", "node_cpu_seconds_total".into()),
                ("job", format!("job{}", i % 20)),
                ("instance", format!("host{}:9100", i / 8)),
                ("mode", format!("mode{}", i % 8)),
            ])
        })
        .collect();
    // 10 minutes of samples: enough for the 5 m lookback.
    load(&db, &series, 40, counter);
    let t = T0 + 39 * STEP_MS;
    let engine = Engine::default();
    let mut g = c.benchmark_group("promql_sum_by_100k_series");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.bench_function("instant", |b| {
        b.iter(|| {
            let v = engine
                .instant(&*db, "sum by (job) (node_cpu_seconds_total)", t, None)
                .expect("query");
            black_box(v)
        })
    });
    g.finish();
}

fn histogram_quantile(c: &mut Criterion) {
    let (_dir, db) = open_tsdb();
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    let series: Vec<Labels> = (0..1_000)
        .map(|i| {
            labels(&[
                ("__name__", "h_bucket".into()),
                ("job", "api".into()),
                ("instance", format!("host{}:9100", i / les.len())),
                ("le", les[i % les.len()].into()),
            ])
        })
        .collect();
    let rounds = 6 * HOUR_MS / STEP_MS;
    // Cumulative buckets: bucket k of an instance counts k + 1 increments per scrape.
    load(&db, &series, rounds, |i, r| (r * (1 + (i % les.len()) as i64)) as f64);
    let end = T0 + 6 * HOUR_MS - STEP_MS;
    let engine = Engine::default();
    let mut g = c.benchmark_group("promql_histogram_quantile_1k_buckets");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("range_1h_step_60s", |b| {
        b.iter(|| {
            let m = engine
                .range(
                    &*db,
                    "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
                    end - HOUR_MS,
                    end,
                    60_000,
                    None,
                )
                .expect("query");
            black_box(m.len())
        })
    });
    g.finish();
}

criterion_group!(benches, rate_range, sum_by_instant, histogram_quantile);
criterion_main!(benches);
