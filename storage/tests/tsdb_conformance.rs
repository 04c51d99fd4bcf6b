//! One conformance suite for every way the TSDB can hold data: head only, blocks only,
//! head + blocks, after compaction, and after reopening (WAL replay). Each must answer
//! selects and sample reads exactly like a brute-force model.

use std::collections::BTreeMap;
use std::time::Duration;

use nerve_storage::metrics::{STALE_NAN, SyncPolicy, Tsdb, TsdbOptions};
use nerve_storage::{Labels, MatchOp, Matcher};
use proptest::prelude::*;

type Model = BTreeMap<Labels, Vec<(i64, u64)>>;

const HOUR: i64 = 3_600_000;

fn opts() -> TsdbOptions {
    TsdbOptions {
        sync: SyncPolicy::Never,
        ..Default::default()
    }
}

/// A data set with counters, gauges with special values, gaps, and series that start and end
/// at different times, spanning `hours` hours at 15 s.
fn dataset(hours: i64) -> Vec<(Labels, i64, f64)> {
    let mut out = Vec::new();
    for s in 0..30i64 {
        let l = Labels::from_pairs([
            (
                "__name__".to_string(),
                if s % 3 == 0 {
                    "http_requests_total".to_string()
                } else {
                    format!("gauge_{}", s % 3)
                },
            ),
            ("job".to_string(), format!("job{}", s % 4)),
            ("instance".to_string(), format!("host-{s}:9100")),
            (
                "path".to_string(),
                if s % 5 == 0 {
                    String::new()
                } else {
                    format!("/p{}", s % 2)
                },
            ),
        ])
        .unwrap();
        let start = (s % 7) * HOUR / 2;
        let end = hours * HOUR - (s % 5) * HOUR / 3;
        let mut t = start;
        let mut c = 0.0f64;
        while t < end {
            let v = match s % 3 {
                0 => {
                    c += (t % 7) as f64;
                    c
                }
                1 => ((t / 15_000) % 11) as f64 * 0.25 - 1.0,
                _ => match (t / 15_000) % 50 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => STALE_NAN,
                    3 => -0.0,
                    n => n as f64 / 3.0,
                },
            };
            // Gaps: skip some scrapes.
            if (t / 15_000) % 97 != 5 {
                out.push((l.clone(), t, v));
            }
            t += 15_000;
        }
    }
    out
}

fn load(db: &Tsdb, data: &[(Labels, i64, f64)]) -> Model {
    let mut model = Model::new();
    // Append in time order, in batches, like a scraper would.
    let mut sorted: Vec<&(Labels, i64, f64)> = data.iter().collect();
    sorted.sort_by_key(|x| x.1);
    for batch in sorted.chunks(500) {
        let mut app = db.appender();
        for (l, t, v) in batch {
            app.append(l, *t, *v).unwrap();
            model.entry(l.clone()).or_default().push((*t, v.to_bits()));
        }
        app.commit().unwrap();
    }
    model
}

fn queries() -> Vec<Vec<Matcher>> {
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    vec![
        vec![m(MatchOp::Equal, "__name__", "http_requests_total")],
        vec![
            m(MatchOp::Regex, "job", "job1|job2"),
            m(MatchOp::NotEqual, "__name__", "gauge_1"),
        ],
        vec![m(MatchOp::Equal, "path", "")],
        vec![m(MatchOp::Regex, "instance", "host-1.*")],
        vec![m(MatchOp::NotRegex, "path", "/p0"), m(MatchOp::Regex, "__name__", ".+")],
        vec![m(MatchOp::Equal, "job", "none")],
    ]
}

fn check(db: &Tsdb, model: &Model, ranges: &[(i64, i64)]) {
    for &(mint, maxt) in ranges {
        let q = db.querier(mint, maxt).unwrap();
        for ms in queries() {
            let got = q.select(&ms).unwrap();
            let want: Vec<(&Labels, Vec<(i64, u64)>)> = model
                .iter()
                .filter(|(l, _)| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
                .map(|(l, s)| {
                    (
                        l,
                        s.iter()
                            .copied()
                            .filter(|(t, _)| *t >= mint && *t <= maxt)
                            .collect::<Vec<_>>(),
                    )
                })
                .filter(|(_, s)| !s.is_empty())
                .collect();
            assert_eq!(got.len(), want.len(), "series count for {ms:?} in [{mint},{maxt}]");
            for (g, (wl, ws)) in got.iter().zip(&want) {
                assert_eq!(&g.labels, *wl);
                let gs: Vec<(i64, u64)> = g.samples().unwrap().iter().map(|s| (s.t, s.v.to_bits())).collect();
                assert_eq!(&gs, ws, "samples of {}", g.labels);
                // seek lands on the first sample at or after t and never moves back.
                if let Some(&(t, _)) = ws.get(ws.len() / 2) {
                    let mut it = g.iter();
                    assert_eq!(it.seek(t).map(|s| s.t), Some(t));
                    assert_eq!(it.seek(t - 1).map(|s| s.t), Some(t));
                    it.reset();
                    assert_eq!(it.next().map(|s| s.t), Some(ws[0].0));
                }
            }
        }
        let names = q.label_names(&[]).unwrap();
        let any_in_range = model.values().any(|s| s.iter().any(|(t, _)| *t >= mint && *t <= maxt));
        if any_in_range {
            assert!(
                names.contains(&"instance".to_string()),
                "label names in [{mint},{maxt}]: {names:?}"
            );
        }
    }
}

const RANGES: &[(i64, i64)] = &[
    (i64::MIN, i64::MAX),
    (HOUR, 3 * HOUR),
    (5 * HOUR - 1, 7 * HOUR + 1),
    (0, 0),
];

#[test]
fn head_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    let model = load(&db, &dataset(2));
    check(&db, &model, RANGES);
    assert_eq!(db.stats().blocks, 0);
}

#[test]
fn blocks_only_and_mixed_and_compacted_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    let model = load(&db, &dataset(9));
    // Mixed: the 1.5× rule cuts the three oldest 2 h ranges, which compaction merges into one
    // 6 h block; the newest data stays in the head.
    db.maintain().unwrap();
    let st = db.stats();
    assert_eq!(st.blocks, 1, "expected one compacted block after maintain, got {st:?}");
    assert_eq!(st.compactions_total, 4, "three head cuts and one compaction: {st:?}");
    assert!(st.head_series > 0);
    check(&db, &model, RANGES);
    // Almost everything in blocks: every complete range is cut.
    db.flush_head().unwrap();
    assert!(db.stats().blocks >= 2, "{:?}", db.stats());
    check(&db, &model, RANGES);
    db.compact_now().unwrap();
    check(&db, &model, RANGES);
    db.close().unwrap();
    drop(db);
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    check(&db, &model, RANGES);
}

#[test]
fn wal_replay_restores_head() {
    let dir = tempfile::tempdir().unwrap();
    let model = {
        let db = Tsdb::open(dir.path(), opts()).unwrap();
        let m = load(&db, &dataset(3));
        db.maintain().unwrap();
        // Add more after the cut so the WAL holds a checkpoint and newer segments.
        m
    };
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    check(&db, &model, RANGES);
}

#[test]
fn rejects_like_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts()).unwrap();
    let l = Labels::from_pairs([("__name__", "x")]).unwrap();
    let mut app = db.appender();
    app.append(&l, 1000, 1.0).unwrap();
    assert!(app.append(&l, 999, 1.0).is_err(), "out of order within a batch");
    app.append(&l, 1000, 1.0).unwrap();
    assert!(app.append(&l, 1000, 2.0).is_err(), "duplicate timestamp, other value");
    app.commit().unwrap();
    let mut app = db.appender();
    assert!(app.append(&l, 10, 1.0).is_err());
    assert!(
        app.append(&Labels::from_pairs([("job", "x")]).unwrap(), 10, 1.0)
            .is_err(),
        "no metric name"
    );
    app.rollback();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    assert_eq!(
        q.select(&[Matcher::equal("__name__", "x")]).unwrap()[0]
            .samples()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn out_of_order_window() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(
        dir.path(),
        TsdbOptions {
            out_of_order_window: Duration::from_secs(600),
            ..opts()
        },
    )
    .unwrap();
    let l = Labels::from_pairs([("__name__", "x")]).unwrap();
    for t in [600_000, 100_000, 300_000] {
        let mut app = db.appender();
        app.append(&l, t, t as f64).unwrap();
        app.commit().unwrap();
    }
    let mut app = db.appender();
    assert!(app.append(&l, -1, 0.0).is_err(), "outside the window");
    drop(app);
    let got: Vec<i64> = db
        .querier(i64::MIN, i64::MAX)
        .unwrap()
        .select(&[Matcher::equal("__name__", "x")])
        .unwrap()[0]
        .samples()
        .unwrap()
        .iter()
        .map(|s| s.t)
        .collect();
    assert_eq!(got, vec![100_000, 300_000, 600_000]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    /// Random interleavings of appends, head cuts and reopenings agree with the model.
    #[test]
    fn model_based(ops in proptest::collection::vec((0u8..4, 0u8..6, 0i64..40, any::<u64>()), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Tsdb::open(dir.path(), TsdbOptions { block_duration: Duration::from_secs(600), ..opts() }).unwrap();
        let mut model = Model::new();
        let mut last: BTreeMap<Labels, i64> = BTreeMap::new();
        let mut clock = 0i64;
        for (op, series, dt, bits) in ops {
            match op {
                0 | 1 => {
                    let l = Labels::from_pairs([("__name__".to_string(), format!("m{series}")), ("k".to_string(), (series % 2).to_string())]).unwrap();
                    clock += dt * 10_000;
                    let v = f64::from_bits(bits);
                    let mut app = db.appender();
                    let ok = app.append(&l, clock, v).is_ok();
                    app.commit().unwrap();
                    let prev = last.get(&l).copied().unwrap_or(i64::MIN);
                    prop_assert_eq!(ok, clock > prev || (clock == prev && model[&l].last().map(|x| x.1) == Some(bits)));
                    if ok && clock > prev {
                        model.entry(l.clone()).or_default().push((clock, bits));
                        last.insert(l, clock);
                    }
                }
                2 => db.maintain().unwrap(),
                _ => {
                    db.close().unwrap();
                    drop(db);
                    db = Tsdb::open(dir.path(), TsdbOptions { block_duration: Duration::from_secs(600), ..opts() }).unwrap();
                }
            }
        }
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        let got = q.select(&[Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()]).unwrap();
        prop_assert_eq!(got.len(), model.len());
        for (g, (l, s)) in got.iter().zip(&model) {
            prop_assert_eq!(&g.labels, l);
            let gs: Vec<(i64, u64)> = g.samples().unwrap().iter().map(|x| (x.t, x.v.to_bits())).collect();
            prop_assert_eq!(&gs, s);
        }
    }
}
