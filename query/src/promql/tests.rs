//! Engine tests over an in-memory source and over a real TSDB in a temp dir.

use nerve_storage::Labels;
use nerve_storage::metrics::{STALE_NAN, Sample, Tsdb, TsdbOptions};

use super::*;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

/// `a{job=x}` counter every 15 s from 0 to 600 s (+1 per sample, reset at 300 s),
/// `a{job=y}` gauge 10 until 120 s then a stale marker, `b{job=x}` constant 2.
fn source() -> MemSource {
    let mut m = MemSource::default();
    let a: Vec<Sample> = (0..=40)
        .map(|i| Sample {
            t: i * 15_000,
            v: if i < 20 { i as f64 } else { (i - 20) as f64 },
        })
        .collect();
    m.add(l(&[("__name__", "a"), ("job", "x")]), a);
    let mut y: Vec<Sample> = (0..=8).map(|i| Sample { t: i * 15_000, v: 10.0 }).collect();
    y.push(Sample {
        t: 135_000,
        v: STALE_NAN,
    });
    m.add(l(&[("__name__", "a"), ("job", "y")]), y);
    m.add(
        l(&[("__name__", "b"), ("job", "x")]),
        (0..=40).map(|i| Sample { t: i * 15_000, v: 2.0 }).collect(),
    );
    m
}

fn vector(src: &MemSource, q: &str, t: i64) -> Vec<(String, f64)> {
    match Engine::default().instant(src, q, t, None).unwrap() {
        QueryValue::Vector { samples, .. } => samples.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        other => panic!("{q}: expected a vector, got {other:?}"),
    }
}

fn scalar(src: &MemSource, q: &str, t: i64) -> f64 {
    match Engine::default().instant(src, q, t, None).unwrap() {
        QueryValue::Scalar { v, .. } => v,
        other => panic!("{q}: expected a scalar, got {other:?}"),
    }
}

#[test]
fn selectors_lookback_staleness_offset_at() {
    let s = source();
    assert_eq!(vector(&s, "a", 100_000).len(), 2);
    // y's stale marker at 135 s ends it at once, not after 5 minutes.
    assert_eq!(vector(&s, "a", 140_000), vec![("a{job=\"x\"}".to_string(), 9.0)]);
    // Lookback: 5 minutes after the last sample at 600 s, nothing.
    assert_eq!(vector(&s, "b", 900_000).len(), 1);
    assert_eq!(vector(&s, "b", 900_001).len(), 0);
    assert_eq!(vector(&s, "a{job=\"x\"} offset 1m", 150_000)[0].1, 6.0);
    assert_eq!(vector(&s, "a{job=\"x\"} @ 30", 600_000)[0].1, 2.0);
    assert_eq!(vector(&s, "a{job=\"x\"} @ start()", 45_000)[0].1, 3.0);
}

#[test]
fn rates_and_over_time() {
    let s = source();
    let r = vector(&s, "increase(a{job=\"x\"}[5m])", 600_000);
    // Window [300 s, 600 s]: samples 0..=20 after the reset; no extrapolation needed.
    assert_eq!(r, vec![("{job=\"x\"}".to_string(), 20.0)]);
    let r = vector(&s, "rate(a{job=\"x\"}[5m])", 450_000);
    // [150, 450]: 21 samples, increase 19 (10..19) + reset to 0..10 → 9 + 10 + 10 = 19+... computed:
    // values 10..19 then 0..10: last-first = 0, plus 19 at the reset = 19 → rate 19/300.
    assert!((r[0].1 - 19.0 / 300.0).abs() < 1e-12, "{r:?}");
    assert_eq!(vector(&s, "count_over_time(a[1m])", 60_000).len(), 2);
    assert_eq!(
        vector(&s, "last_over_time(a{job=\"x\"}[1m])", 60_000)[0].0,
        "a{job=\"x\"}"
    );
    assert_eq!(vector(&s, "resets(a{job=\"x\"}[10m])", 600_000)[0].1, 1.0);
    assert_eq!(
        vector(&s, "absent_over_time(nope{job=\"z\"}[1m])", 60_000)[0].0,
        "{job=\"z\"}"
    );
}

#[test]
fn aggregations_and_binops() {
    let s = source();
    assert_eq!(vector(&s, "sum(a)", 60_000), vec![("{}".to_string(), 14.0)]);
    assert_eq!(vector(&s, "sum by (job) (a)", 60_000).len(), 2);
    assert_eq!(vector(&s, "topk(1, a)", 60_000)[0].1, 10.0);
    assert_eq!(vector(&s, "count_values(\"v\", a)", 60_000).len(), 2);
    assert_eq!(
        vector(&s, "a / on(job) b", 60_000),
        vec![("{job=\"x\"}".to_string(), 2.0)]
    );
    assert_eq!(vector(&s, "a > bool 5", 60_000).len(), 2);
    assert_eq!(vector(&s, "a > 5", 60_000), vec![("a{job=\"y\"}".to_string(), 10.0)]);
    assert_eq!(vector(&s, "a and b", 60_000).len(), 1);
    assert_eq!(vector(&s, "a unless b", 60_000).len(), 1);
    // b{job="x"} matches a{job="x"} once the name is ignored.
    assert_eq!(vector(&s, "a or b", 60_000).len(), 2);
    assert_eq!(scalar(&s, "scalar(b) * 2", 60_000), 4.0);
    // Two left series match one right series: must be explicit.
    let e = Engine::default().instant(&s, "a * on() b", 60_000, None).unwrap_err();
    assert_eq!(e.error_type(), "execution", "{e}");
    let e = Engine::default().instant(&s, "b * on() a", 60_000, None).unwrap_err();
    assert!(e.to_string().contains("many-to-many matching not allowed"), "{e}");
    assert_eq!(vector(&s, "a * on() group_left b", 60_000).len(), 2);
}

#[test]
fn range_query_and_subquery() {
    let s = source();
    let m = Engine::default().range(&s, "a", 0, 600_000, 60_000, None).unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].samples.len(), 11);
    assert_eq!(m[1].samples.len(), 3); // y: 0, 60, 120 s; stale from 135 s
    let m = Engine::default()
        .range(&s, "max_over_time(a{job=\"x\"}[2m:30s])", 120_000, 120_000, 1, None)
        .unwrap();
    assert_eq!(m[0].samples[0].v, 8.0);
    let e = Engine::default().range(&s, "a[5m]", 0, 10, 1, None).unwrap_err();
    assert_eq!(e.error_type(), "bad_data");
}

#[test]
fn unsupported_and_limits() {
    let s = source();
    let e = Engine::new(EngineOptions {
        max_samples: 5,
        ..Default::default()
    })
    .instant(&s, "a", 60_000, None)
    .unwrap_err();
    assert_eq!(e.error_type(), "execution");
    let e = Engine::default()
        .instant(
            &s,
            "sum_over_time(a[1h:1ms])",
            600_000,
            Some(std::time::Duration::from_millis(1)),
        )
        .unwrap_err();
    assert_eq!(e.error_type(), "timeout", "{e}");
}

#[test]
fn over_a_real_tsdb() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    let mut app = db.appender();
    for i in 0..10 {
        app.append(&l(&[("__name__", "up"), ("job", "j")]), i * 10_000, i as f64)
            .unwrap();
    }
    app.commit().unwrap();
    match Engine::default()
        .instant(&*db, "sum(rate(up[1m]))", 90_000, None)
        .unwrap()
    {
        QueryValue::Vector { samples, .. } => assert!((samples[0].v - 0.1).abs() < 1e-12),
        other => panic!("{other:?}"),
    }
}

#[test]
fn parser_panics_become_parse_errors() {
    // The promql_parse fuzz target found promql-parser panicking on range durations too
    // large for `Duration`.
    let err = plan::parse("a[999999999999999999999999]").unwrap_err();
    assert!(
        matches!(err, crate::Error::BadData(ref m) if m.contains("parse error")),
        "{err:?}"
    );
}

/// The series-major range path (see `series_major`) answers exactly what instant queries at
/// every step answer.
#[test]
fn range_queries_equal_instant_queries_at_each_step() {
    let s = source();
    let e = Engine::default();
    for q in [
        "rate(a[1m])",
        "sum by (job) (rate(a[1m]))",
        "sum without (job) (increase(a[2m] offset 30s))",
        "avg(a)",
        "count(a)",
        "stddev(b)",
        "min by (job) (a)",
        "group(a @ 100)",
        "last_over_time(a[1m])",
        "quantile_over_time(0.5, a[2m])",
        "predict_linear(a[2m], 60)",
        "max_over_time(sum(rate(a[1m]))[2m:30s])",
        "min_over_time(rate(a[1m])[100s:20s] offset 7s)",
        "rate(a[1m]) / on(job) group_left b",
        "histogram_quantile(0.5, sum by (le) (rate(a[1m])))",
        "a",
        "timestamp(a) - a offset 10s",
        "a > bool 5",
    ] {
        for (start, step) in [(0, 15_000), (3_000, 37_000)] {
            let m = e.range(&s, q, start, 700_000, step, None).unwrap();
            let mut t = start;
            while t <= 700_000 {
                let mut want = vector(&s, q, t);
                want.sort_by(|a, b| a.0.cmp(&b.0));
                let mut got: Vec<(String, f64)> = m
                    .iter()
                    .filter_map(|r| r.samples.iter().find(|x| x.t == t).map(|x| (r.labels.to_string(), x.v)))
                    .collect();
                got.sort_by(|a, b| a.0.cmp(&b.0));
                let same = want.len() == got.len()
                    && want
                        .iter()
                        .zip(&got)
                        .all(|(a, b)| a.0 == b.0 && (a.1 == b.1 || (a.1.is_nan() && b.1.is_nan())));
                assert!(same, "{q} step {step} at {t}: range {got:?} vs instant {want:?}");
                t += step;
            }
        }
    }
    // Dropping `__name__` merges a{job="x"} and b{job="x"}: an error, as in Prometheus.
    let q = "sum(rate({__name__=~\"a|b\"}[1m]))";
    assert!(e.range(&s, q, 0, 700_000, 15_000, None).is_err());
    assert!(e.instant(&s, q, 600_000, None).is_err());
}

/// Issue #21 item 3: cost bounds act before the points are materialised.
#[test]
fn sample_budget_is_checked_before_materialising() {
    let mut s = MemSource::default();
    for i in 0..10 {
        s.add(
            l(&[("__name__", "x"), ("i", &i.to_string())]),
            (0..=40)
                .map(|k| Sample {
                    t: k * 15_000,
                    v: k as f64,
                })
                .collect(),
        );
    }
    let engine = |max_samples| {
        Engine::new(EngineOptions {
            max_samples,
            ..EngineOptions::default()
        })
    };
    // The 410 loaded samples fit a budget of 800, but 10 series × 41 steps could be 410 more
    // points: refused before they are computed (the result alone would have fit).
    let too_many = |r: Result<Matrix>| matches!(r, Err(Error::TooManySamples(_)));
    assert!(too_many(engine(800).range(&s, "x", 0, 600_000, 15_000, None)));
    assert!(too_many(engine(800).range(&s, "rate(x[1m])", 0, 600_000, 15_000, None)));
    assert_eq!(engine(2000).range(&s, "x", 0, 600_000, 15_000, None).unwrap().len(), 10);
    // A subquery's steps are counted from its range and step before it runs.
    let e = engine(1000).instant(&s, "max_over_time(x[1d:1s])", 600_000, None);
    assert!(matches!(e, Err(Error::TooManySamples(_))), "{e:?}");
    assert!(
        engine(1000)
            .instant(&s, "max_over_time(x[10m:1m])", 600_000, None)
            .is_ok()
    );
}
