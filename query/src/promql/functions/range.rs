//! Functions of a range vector: `rate`, `increase`, `delta` (with Prometheus' extrapolation),
//! `irate`, `idelta`, `deriv`, `predict_linear`, `changes`, `resets`, `holt_winters` and every
//! `*_over_time`, each a port of Prometheus 2.42's `promql/functions.go`.

use nerve_storage::metrics::Sample;
use promql_parser::parser::Expr;

use super::absent_labels;
use crate::error::{Error, Result};
use crate::promql::aggregate::quantile;
use crate::promql::eval::{Evaluator, check_unique};
use crate::promql::labels::drop_metric_name;
use crate::promql::plan;
use crate::promql::value::{InstantSample, StepValue};

/// The window a range argument covers at one step.
pub(crate) struct Window {
    /// First millisecond (inclusive).
    pub start: i64,
    /// Last millisecond (inclusive).
    pub end: i64,
    /// The selector's range in seconds.
    pub range_secs: f64,
}

/// Evaluates `name` whose argument `mi` is a range vector, at `ts`.
pub(super) fn call(ev: &mut Evaluator<'_>, name: &str, args: &[&Expr], mi: usize, ts: i64) -> Result<StepValue> {
    let mut scalars = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        scalars.push(if i == mi { 0.0 } else { ev.eval_scalar(a, ts)? });
    }
    let w = match args[mi] {
        Expr::MatrixSelector(ms) => {
            let end = ev.ref_time(&ms.vs.at, &ms.vs.offset, ts);
            let r = plan::duration_ms(&ms.range);
            Window {
                start: end - r,
                end,
                range_secs: r as f64 / 1000.0,
            }
        }
        Expr::Subquery(sq) => {
            let end = ev.ref_time(&sq.at, &sq.offset, ts);
            let r = plan::duration_ms(&sq.range);
            Window {
                start: end - r,
                end,
                range_secs: r as f64 / 1000.0,
            }
        }
        _ => return Err(Error::Execution("BUG: range function without a range argument".into())),
    };
    let value = match args[mi] {
        // Prometheus 2.42 evaluates `predict_linear` (an "@-unsafe" function) per step with the
        // selector's offset fixed relative to the query start, so with `@` its window slides
        // past the `@` time while only samples up to it were loaded. Reproduced as is.
        Expr::MatrixSelector(ms) if name == "predict_linear" && ms.vs.at.is_some() => {
            let shifted_end = w.end + (ts - ev.p.start);
            let r = plan::duration_ms(&ms.range);
            StepValue::Matrix(ev.select_range_window(ms, shifted_end - r, w.end)?)
        }
        other => ev.eval(other, ts)?,
    };
    let m = match value {
        StepValue::Matrix(m) => m,
        other => return Err(crate::promql::eval::type_error("range vector argument", &other)),
    };
    if name == "absent_over_time" {
        if m.is_empty() {
            return Ok(StepValue::Vector(vec![InstantSample {
                labels: absent_labels(args[mi]),
                t: ts,
                v: 1.0,
            }]));
        }
        return Ok(StepValue::Vector(Vec::new()));
    }
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        let p = &s.samples;
        if p.is_empty() {
            continue;
        }
        let v = apply(name, p, &w, &scalars, ts)?;
        if let Some(v) = v {
            let labels = if name == "last_over_time" {
                s.labels
            } else {
                drop_metric_name(&s.labels)
            };
            out.push(InstantSample { labels, t: ts, v });
        }
    }
    check_unique(&out)?;
    Ok(StepValue::Vector(out))
}

/// The value of range function `name` over the window samples `p` (not empty) at `ts`;
/// `scalars` holds the call's scalar arguments by position. `None`: no output for the series.
pub(crate) fn apply(name: &str, p: &[Sample], w: &Window, scalars: &[f64], ts: i64) -> Result<Option<f64>> {
    Ok(match name {
        "rate" => extrapolated_rate(p, w, true, true),
        "increase" => extrapolated_rate(p, w, true, false),
        "delta" => extrapolated_rate(p, w, false, false),
        "irate" => instant_value(p, true),
        "idelta" => instant_value(p, false),
        "deriv" => (p.len() >= 2).then(|| linear_regression(p, p[0].t).0),
        "predict_linear" => (p.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(p, ts);
            slope * scalars[1] + intercept
        }),
        "changes" => Some(changes(p)),
        "resets" => Some(resets(p)),
        "holt_winters" => holt_winters(p, scalars[1], scalars[2])?,
        "avg_over_time" => Some(avg(p)),
        "sum_over_time" => Some(sum(p)),
        "count_over_time" => Some(p.len() as f64),
        "min_over_time" => Some(
            p.iter()
                .fold(p[0].v, |m, x| if x.v < m || m.is_nan() { x.v } else { m }),
        ),
        "max_over_time" => Some(
            p.iter()
                .fold(p[0].v, |m, x| if x.v > m || m.is_nan() { x.v } else { m }),
        ),
        "last_over_time" => p.last().map(|x| x.v),
        "present_over_time" => Some(1.0),
        "stddev_over_time" => Some(stdvar(p).sqrt()),
        "stdvar_over_time" => Some(stdvar(p)),
        "quantile_over_time" => {
            let mut vals: Vec<f64> = p.iter().map(|x| x.v).collect();
            Some(quantile(scalars[0], &mut vals))
        }
        _ => return Err(Error::NotSupported(format!("function {name}() over a range vector"))),
    })
}

/// `extrapolatedRate`: the increase over the window, extrapolated to the window's edges unless
/// the series starts or ends further than 1.1 average intervals inside it.
fn extrapolated_rate(p: &[Sample], w: &Window, is_counter: bool, is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (first, last) = (p[0], p[p.len() - 1]);
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = 0.0;
        for x in p {
            if x.v < prev {
                result += prev;
            }
            prev = x.v;
        }
    }
    let mut duration_to_start = (first.t - w.start) as f64 / 1000.0;
    let duration_to_end = (w.end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_between = sampled / (p.len() - 1) as f64;
    if is_counter && result > 0.0 && first.v >= 0.0 {
        let duration_to_zero = sampled * (first.v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = avg_between * 1.1;
    let mut interval = sampled;
    interval += if duration_to_start < threshold {
        duration_to_start
    } else {
        avg_between / 2.0
    };
    interval += if duration_to_end < threshold {
        duration_to_end
    } else {
        avg_between / 2.0
    };
    let mut factor = interval / sampled;
    if is_rate {
        factor /= w.range_secs;
    }
    Some(result * factor)
}

/// `instantValue`: from the last two samples (`irate`, `idelta`).
fn instant_value(p: &[Sample], is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (prev, last) = (p[p.len() - 2], p[p.len() - 1]);
    let mut v = if is_rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    let dt = last.t - prev.t;
    if dt == 0 {
        return None;
    }
    if is_rate {
        v /= dt as f64 / 1000.0;
    }
    Some(v)
}

/// Neumaier-compensated summation step (`kahanSumInc`).
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Least-squares slope and intercept, x in seconds relative to `intercept_t`.
fn linear_regression(p: &[Sample], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = p[0].v;
    let mut const_y = true;
    for (i, s) in p.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn changes(p: &[Sample]) -> f64 {
    let mut n = 0;
    let mut prev = p[0].v;
    for x in &p[1..] {
        if x.v != prev && !(x.v.is_nan() && prev.is_nan()) {
            n += 1;
        }
        prev = x.v;
    }
    n as f64
}

fn resets(p: &[Sample]) -> f64 {
    let mut n = 0;
    let mut prev = p[0].v;
    for x in &p[1..] {
        if x.v < prev {
            n += 1;
        }
        prev = x.v;
    }
    n as f64
}

fn holt_winters(p: &[Sample], sf: f64, tf: f64) -> Result<Option<f64>> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(Error::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(Error::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    if p.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0, p[0].v);
    let mut b = p[1].v - p[0].v;
    for (i, x) in p.iter().enumerate().skip(1) {
        let xs = sf * x.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, xs + y);
    }
    Ok(Some(s1))
}

fn avg(p: &[Sample]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0, 0.0);
    for x in p {
        count += 1.0;
        if mean.is_infinite() {
            if x.v.is_infinite() && (mean > 0.0) == (x.v > 0.0) {
                continue;
            }
            if !x.v.is_infinite() && !x.v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(x.v / count - mean / count, mean, c);
    }
    if mean.is_infinite() { mean } else { mean + c }
}

fn sum(p: &[Sample]) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0);
    for x in p {
        (s, c) = kahan_inc(x.v, s, c);
    }
    if s.is_infinite() { s } else { s + c }
}

fn stdvar(p: &[Sample]) -> f64 {
    let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for x in p {
        count += 1.0;
        let delta = x.v - (mean + cm);
        (mean, cm) = kahan_inc(delta / count, mean, cm);
        (aux, ca) = kahan_inc(delta * (x.v - (mean + cm)), aux, ca);
    }
    (aux + ca) / count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pts: &[(i64, f64)]) -> Vec<Sample> {
        pts.iter().map(|&(t, v)| Sample { t, v }).collect()
    }

    #[test]
    fn rate_extrapolates_like_prometheus() {
        // Samples every 15 s from t=15s..300s, counter +1 each; window (0, 300].
        let p: Vec<Sample> = (1..=20)
            .map(|i| Sample {
                t: i * 15_000,
                v: i as f64,
            })
            .collect();
        let w = Window {
            start: 0,
            end: 300_000,
            range_secs: 300.0,
        };
        // Increase 19 over 285 s, extrapolated by 15 s at the start (zero point cut) and 0 at the end.
        let inc = extrapolated_rate(&p, &w, true, false).unwrap();
        assert!((inc - 19.0 * 300.0 / 285.0).abs() < 1e-12, "{inc}");
        // A reset adds the value before it.
        let p = s(&[(0, 5.0), (10_000, 8.0), (20_000, 2.0)]);
        let w = Window {
            start: 0,
            end: 20_000,
            range_secs: 20.0,
        };
        assert_eq!(extrapolated_rate(&p, &w, true, false), Some(5.0));
        assert_eq!(instant_value(&p, true), Some(0.2));
        assert_eq!(resets(&p), 1.0);
        assert_eq!(changes(&p), 2.0);
    }

    #[test]
    fn regression() {
        let p = s(&[(0, 1.0), (1000, 3.0), (2000, 5.0)]);
        let (slope, icpt) = linear_regression(&p, 0);
        assert!((slope - 2.0).abs() < 1e-12 && (icpt - 1.0).abs() < 1e-12);
    }
}
