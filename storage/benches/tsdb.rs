//! Criterion benches for the TSDB's write and index paths: head append (commit included, WAL
//! without fsync) and postings evaluation for typical selectors over 100k series.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nerve_storage::{Labels, MatchOp, Matcher};
use support::open_tsdb;

mod support;

fn series(n: usize) -> Vec<Labels> {
    (0..n)
        .map(|i| {
            Labels::from_pairs([
                ("__name__".to_string(), format!("metric_{}", i % 50)),
                ("job".to_string(), format!("job{}", i % 10)),
                (
                    "instance".to_string(),
                    format!("10.0.{}.{}:9100", (i / 250) % 256, i % 250),
                ),
                ("status".to_string(), ["200", "404", "500"][i % 3].to_string()),
                ("path".to_string(), format!("/api/v{}/x", i % 7)),
            ])
            .expect("labels")
        })
        .collect()
}

fn head_append(c: &mut Criterion) {
    let mut g = c.benchmark_group("head_append");
    g.measurement_time(Duration::from_secs(8));
    let ls = series(10_000);
    g.throughput(Throughput::Elements(ls.len() as u64));
    let (_dir, db) = open_tsdb();
    let mut t = 0i64;
    g.bench_function("10k_series_one_round_batches_of_2000", |b| {
        b.iter(|| {
            t += 15_000;
            for chunk in ls.chunks(2000) {
                let mut app = db.appender();
                for (i, l) in chunk.iter().enumerate() {
                    app.append(l, t, (t / 1000 + i as i64) as f64).expect("append");
                }
                app.commit().expect("commit");
            }
        })
    });
    g.finish();
}

fn postings(c: &mut Criterion) {
    let mut g = c.benchmark_group("postings");
    let (_dir, db) = open_tsdb();
    let ls = series(100_000);
    for chunk in ls.chunks(5000) {
        let mut app = db.appender();
        for l in chunk {
            app.append(l, 1000, 1.0).expect("append");
        }
        app.commit().expect("commit");
    }
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).expect("matcher");
    let cases: Vec<(&str, Vec<Matcher>)> = vec![
        (
            "name_and_job",
            vec![
                m(MatchOp::Equal, "__name__", "metric_7"),
                m(MatchOp::Equal, "job", "job7"),
            ],
        ),
        (
            "alternation",
            vec![m(MatchOp::Regex, "status", "404|500"), m(MatchOp::Equal, "job", "job3")],
        ),
        (
            "regex_scan",
            vec![
                m(MatchOp::Regex, "instance", "10\\.0\\.1.*"),
                m(MatchOp::NotEqual, "status", "200"),
            ],
        ),
    ];
    let q = db.querier(0, 2000).expect("querier");
    for (name, ms) in &cases {
        g.bench_with_input(BenchmarkId::new("select_100k", name), ms, |b, ms| {
            b.iter(|| black_box(q.select(ms).expect("select").len()))
        });
    }
    g.finish();
}

criterion_group!(benches, head_append, postings);
criterion_main!(benches);
