//! Property test: the series-major fast path ([`series_major`](super::series_major)) gives
//! bit for bit what evaluating every node step by step gives.
//!
//! Random series (NaN, ±Inf, huge and tiny magnitudes, `-0.0`, stale markers, irregular
//! intervals and gaps longer than the lookback) and random queries from the grammar the fast
//! path handles (range functions over selectors, aggregations with `by`/`without`, instant
//! selectors), nested in what hands its input to the per-step evaluator (binary operators with
//! vector matching, `topk`, math functions, subqueries, `offset`, `@`), are evaluated twice:
//! by the engine as it runs in production, and with the fast path switched off
//! ([`EvalParams::series_major`](super::eval::EvalParams::series_major)). Results must agree in
//! labels, order, timestamps and the bits of every value (any NaN equals any NaN), errors in
//! their message.

use nerve_storage::Labels;
use nerve_storage::metrics::{STALE_NAN, Sample};
use proptest::prelude::*;
use proptest::test_runner::Config;

use super::*;

/// Label sets series may have; `a{job="x"}` and `b{job="x"}` collide once `__name__` is
/// dropped, which both paths must report alike.
const SERIES: &[&[(&str, &str)]] = &[
    &[("__name__", "a"), ("job", "x"), ("inst", "1")],
    &[("__name__", "a"), ("job", "x"), ("inst", "2")],
    &[("__name__", "a"), ("job", "y"), ("inst", "1")],
    &[("__name__", "a"), ("job", "z")],
    &[("__name__", "b"), ("job", "x"), ("inst", "1")],
    &[("__name__", "b"), ("job", "y")],
    &[("__name__", "a"), ("job", "x")],
    &[("__name__", "b"), ("job", "x")],
];

/// Last sample time generated (ms); queries look a little past it.
const HORIZON_MS: i64 = 1_200_000;

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => (-1000i32..1000).prop_map(f64::from),
        6 => -1e3f64..1e3,
        2 => prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e308,
            -1e308,
            1.7e308,
            1e-308,
            5e-324,
            -5e-324,
            0.0,
            -0.0,
            0.1,
            1e16,
            -1e16,
        ]),
        1 => Just(STALE_NAN),
        1 => any::<f64>(),
    ]
}

/// Gaps between samples (ms): scrape-like, irregular, and longer than the 5 m lookback.
fn gap() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => Just(15_000i64),
        3 => 1i64..60_000,
        1 => 300_000i64..420_000,
    ]
}

fn samples() -> impl Strategy<Value = Vec<Sample>> {
    (0i64..120_000, prop::collection::vec((gap(), value()), 0..60)).prop_map(|(first, points)| {
        let mut t = first;
        let mut out = Vec::with_capacity(points.len());
        for (g, v) in points {
            if t > HORIZON_MS {
                break;
            }
            out.push(Sample { t, v });
            t += g;
        }
        out
    })
}

fn source() -> impl Strategy<Value = MemSource> {
    prop::collection::vec(prop::option::weighted(0.7, samples()), SERIES.len()).prop_map(|all| {
        let mut m = MemSource::default();
        for (pairs, s) in SERIES.iter().zip(all) {
            if let Some(s) = s {
                m.add(Labels::from_pairs(pairs.iter().copied()).unwrap(), s);
            }
        }
        m
    })
}

fn pick(xs: &'static [&'static str]) -> impl Strategy<Value = &'static str> + Clone {
    prop::sample::select(xs)
}

/// An instant selector with optional `offset` and `@`.
fn selector() -> impl Strategy<Value = String> + Clone {
    (
        pick(&[
            "a",
            "b",
            "a{job=\"x\"}",
            "a{job=~\"x|y\"}",
            "b{job!=\"y\"}",
            "{__name__=~\"a|b\"}",
            "{__name__=~\"a|b\",job=\"x\"}",
            "nothing",
        ]),
        pick(&[
            "",
            "",
            "",
            " offset 30s",
            " offset 2m",
            " @ 300",
            " @ 612.5",
            " @ start()",
            " @ end()",
            " @ 450 offset 1m",
        ]),
    )
        .prop_map(|(s, m)| format!("{s}{m}"))
}

/// A range function over a range selector (what the fast path computes series by series).
fn range_call() -> impl Strategy<Value = String> + Clone {
    (
        pick(series_major::RANGE_FUNCTIONS),
        selector(),
        pick(&["[30s]", "[1m]", "[100s]", "[5m]"]),
        pick(&["0", "0.5", "0.9", "1", "-1", "2"]),
    )
        .prop_map(|(f, s, r, q)| {
            // The range goes between the selector and its modifiers.
            let (sel, modifiers) = match s.find(' ') {
                Some(i) => s.split_at(i),
                None => (s.as_str(), ""),
            };
            let rs = format!("{sel}{r}{modifiers}");
            match f {
                "quantile_over_time" => format!("{f}({q}, {rs})"),
                "predict_linear" => format!("{f}({rs}, 60)"),
                "holt_winters" => format!("{f}({rs}, 0.5, 0.3)"),
                _ => format!("{f}({rs})"),
            }
        })
}

fn grouping() -> impl Strategy<Value = &'static str> + Clone {
    pick(&[
        "",
        " by (job)",
        " without (job)",
        " by (inst)",
        " without (inst)",
        " by (__name__)",
        " by (job, inst)",
        " without (inst, job)",
        " by ()",
    ])
}

/// What the fast path computes on its own: selectors, range calls, and the aggregations
/// without parameter over them.
fn fast() -> impl Strategy<Value = String> + Clone {
    let leaf = prop_oneof![selector(), range_call()];
    prop_oneof![
        2 => leaf.clone(),
        3 => (
            pick(&["sum", "avg", "count", "min", "max", "group", "stddev", "stdvar"]),
            grouping(),
            leaf,
        )
            .prop_map(|(op, g, e)| format!("{op}{g} ({e})")),
    ]
}

/// Queries: fast-path nodes on their own (answered series-major at the root) or nested in what
/// the per-step evaluator computes.
fn query() -> impl Strategy<Value = String> {
    prop_oneof![1 => fast(), 3 => nested()]
}

/// Fast-path nodes nested in what the per-step evaluator computes.
fn nested() -> impl Strategy<Value = String> {
    fast().prop_recursive(3, 24, 2, |inner| {
        let binop = pick(&[
            "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "> bool", "== bool", "atan2",
        ]);
        let matching = pick(&[
            "",
            "",
            " on (job)",
            " ignoring (inst)",
            " on (job) group_left ()",
            " ignoring (inst) group_left (inst)",
            " on (job) group_right ()",
            " on ()",
        ]);
        prop_oneof![
            3 => inner.clone(),
            2 => (inner.clone(), binop, matching, inner.clone())
                .prop_map(|(l, op, m, r)| format!("({l}) {op}{m} ({r})")),
            1 => (inner.clone(), pick(&["and", "or", "unless"]), pick(&["", " on (job)", " ignoring (inst)"]), inner.clone())
                .prop_map(|(l, op, m, r)| format!("({l}) {op}{m} ({r})")),
            1 => (inner.clone(), pick(&["* 2", "- 0.1", "/ 0", "> bool 0.5", "+ -0"]))
                .prop_map(|(e, s)| format!("({e}) {s}")),
            1 => inner.clone().prop_map(|e| format!("-({e})")),
            1 => (pick(&["abs", "sqrt", "ceil", "exp", "sgn"]), inner.clone())
                .prop_map(|(f, e)| format!("{f}({e})")),
            1 => selector().prop_map(|s| format!("timestamp({s})")),
            2 => (
                pick(&["sum", "avg", "max", "count", "stddev", "topk", "bottomk", "quantile"]),
                grouping(),
                inner.clone(),
            )
                .prop_map(|(op, g, e)| match op {
                    "topk" => format!("topk{g} (2, {e})"),
                    "bottomk" => format!("bottomk{g} (1, {e})"),
                    "quantile" => format!("quantile{g} (0.3, {e})"),
                    _ => format!("{op}{g} ({e})"),
                }),
            2 => (
                pick(&["max_over_time", "sum_over_time", "avg_over_time", "rate", "last_over_time", "stddev_over_time"]),
                inner,
                pick(&["[2m:30s]", "[90s:15s]", "[5m:1m]", "[1m:]", "[45s:7s]"]),
                pick(&["", "", " offset 40s", " @ 500", " @ end()"]),
            )
                .prop_map(|(f, e, r, m)| format!("{f}(({e}){r}{m})")),
        ]
    })
}

fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn same_matrix(a: &Matrix, b: &Matrix) -> std::result::Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{} series vs {}", a.len(), b.len()));
    }
    for (x, y) in a.iter().zip(b) {
        if x.labels != y.labels {
            return Err(format!("series {} vs {}", x.labels, y.labels));
        }
        if x.samples.len() != y.samples.len()
            || x.samples
                .iter()
                .zip(&y.samples)
                .any(|(p, q)| p.t != q.t || !same_value(p.v, q.v))
        {
            return Err(format!("{}: {:?} vs {:?}", x.labels, x.samples, y.samples));
        }
    }
    Ok(())
}

fn same_errors<T>(fast: &Result<T>, slow: &Result<T>) -> Option<std::result::Result<(), String>> {
    match (fast, slow) {
        (Err(a), Err(b)) if a.to_string() == b.to_string() => Some(Ok(())),
        (Err(a), Err(b)) => Some(Err(format!("errors differ: {a} vs {b}"))),
        (Err(a), Ok(_)) => Some(Err(format!("only the fast path failed: {a}"))),
        (Ok(_), Err(b)) => Some(Err(format!("only the step-by-step path failed: {b}"))),
        _ => None,
    }
}

fn range_agrees(src: &MemSource, q: &str, start: i64, step: i64, n: i64) -> std::result::Result<(), String> {
    let engine = Engine::default();
    let Ok(expr) = plan::parse(q) else {
        return Err(format!("generated query does not parse: {q}"));
    };
    let end = start + (n - 1) * step;
    let run = |series_major| {
        let p = EvalParams {
            series_major,
            ..engine.params(start, end, None)
        };
        engine.range_with(src, &expr, step, p)
    };
    let (fast, slow) = (run(true), run(false));
    if let Some(r) = same_errors(&fast, &slow) {
        return r;
    }
    same_matrix(&fast.unwrap_or_default(), &slow.unwrap_or_default())
}

fn instant_agrees(src: &MemSource, q: &str, t: i64) -> std::result::Result<(), String> {
    let engine = Engine::default();
    let Ok(expr) = plan::parse(q) else {
        return Err(format!("generated query does not parse: {q}"));
    };
    let run = |series_major| {
        let p = EvalParams {
            series_major,
            ..engine.params(t, t, None)
        };
        engine.instant_with(src, &expr, p)
    };
    let (fast, slow) = (run(true), run(false));
    if let Some(r) = same_errors(&fast, &slow) {
        return r;
    }
    match (fast, slow) {
        (Ok(QueryValue::Vector { samples: a, .. }), Ok(QueryValue::Vector { samples: b, .. })) => {
            if a.len() != b.len()
                || a.iter()
                    .zip(&b)
                    .any(|(x, y)| x.labels != y.labels || x.t != y.t || !same_value(x.v, y.v))
            {
                return Err(format!("{a:?} vs {b:?}"));
            }
            Ok(())
        }
        (Ok(QueryValue::Scalar { v: a, .. }), Ok(QueryValue::Scalar { v: b, .. })) if same_value(a, b) => Ok(()),
        (Ok(a), Ok(b)) => Err(format!("{a:?} vs {b:?}")),
        _ => Ok(()),
    }
}

proptest! {
    #![proptest_config(Config { cases: 512, ..Config::default() })]

    /// Range queries: every step of every series, bit for bit.
    #[test]
    fn range_paths_agree(
        src in source(),
        q in query(),
        start in 0i64..HORIZON_MS,
        step in prop_oneof![Just(15_000i64), Just(60_000i64), 1_000i64..100_000],
        n in 1i64..40,
    ) {
        if let Err(e) = range_agrees(&src, &q, start, step, n) {
            prop_assert!(false, "{q} from {start} step {step} × {n}: {e}");
        }
    }

    /// Instant queries: the vector in the order the API returns it.
    #[test]
    fn instant_paths_agree(src in source(), q in query(), t in 0i64..HORIZON_MS + 400_000) {
        if let Err(e) = instant_agrees(&src, &q, t) {
            prop_assert!(false, "{q} at {t}: {e}");
        }
    }
}
