//! PromQL functions of Prometheus 2.42 over float samples.
//!
//! Families, one per file: [`range`] (functions of a range vector: `rate` & co., `*_over_time`,
//! `holt_winters`), [`math`] (element-wise math, clamping, rounding), [`time`] (`time()`,
//! `timestamp()`, date parts), [`label`] (`label_replace`, `label_join`), [`histogram`]
//! (`histogram_quantile` on classic buckets). This file dispatches a call and holds the few
//! functions that are about whole vectors (`sort`, `absent`, `vector`, `scalar`).

mod histogram;
mod label;
mod math;
pub(crate) mod range;
mod time;

use nerve_storage::Labels;
use nerve_storage::labels::METRIC_NAME;
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{Call, Expr};

use super::eval::Evaluator;
use super::labels;
use super::value::{InstantSample, StepValue, Vector};
use crate::error::{Error, Result};

/// Evaluates a function call at `ts`.
pub(crate) fn call(ev: &mut Evaluator<'_>, c: &Call, ts: i64) -> Result<StepValue> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| unparen(a)).collect();
    if let Some(i) = args
        .iter()
        .position(|a| matches!(a, Expr::MatrixSelector(_) | Expr::Subquery(_)))
    {
        return range::call(ev, name, &args, i, ts);
    }
    let vec_arg = |ev: &mut Evaluator<'_>, i: usize| -> Result<Vector> {
        match args.get(i) {
            Some(a) => ev.eval_vector(a, ts),
            None => Err(Error::BadData(format!("missing argument {i} of {name}()"))),
        }
    };
    let v = match name {
        "time" => return Ok(StepValue::Scalar(ts as f64 / 1000.0)),
        "pi" => return Ok(StepValue::Scalar(std::f64::consts::PI)),
        "vector" => {
            let s = scalar_arg(ev, &args, 0, ts)?;
            vec![InstantSample {
                labels: Labels::empty(),
                t: ts,
                v: s,
            }]
        }
        "scalar" => {
            let v = vec_arg(ev, 0)?;
            return Ok(StepValue::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }));
        }
        "sort" | "sort_desc" => {
            let mut v = vec_arg(ev, 0)?;
            let desc = name == "sort_desc";
            // NaNs last in both directions (Go: sort.Reverse of the value heaps).
            v.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if desc => b.v.partial_cmp(&a.v).unwrap_or(std::cmp::Ordering::Equal),
                _ => a.v.partial_cmp(&b.v).unwrap_or(std::cmp::Ordering::Equal),
            });
            v
        }
        "absent" => {
            let v = vec_arg(ev, 0)?;
            if v.is_empty() {
                vec![InstantSample {
                    labels: absent_labels(args[0]),
                    t: ts,
                    v: 1.0,
                }]
            } else {
                Vec::new()
            }
        }
        "timestamp" => {
            let direct = matches!(args.first(), Some(Expr::VectorSelector(_)));
            let v = vec_arg(ev, 0)?;
            v.into_iter()
                .map(|s| InstantSample {
                    labels: labels::drop_metric_name(&s.labels),
                    t: ts,
                    v: if direct {
                        s.t as f64 / 1000.0
                    } else {
                        ts as f64 / 1000.0
                    },
                })
                .collect()
        }
        "label_replace" => label::replace(vec_arg(ev, 0)?, &string_args(&args)?)?,
        "label_join" => label::join(vec_arg(ev, 0)?, &string_args(&args)?)?,
        "histogram_quantile" => {
            let q = scalar_arg(ev, &args, 0, ts)?;
            histogram::quantile(q, vec_arg(ev, 1)?, ts)
        }
        // Prometheus 2.42 applies these to native histograms only and skips float samples;
        // nerve stores no native histograms, so the result is always empty.
        "histogram_count" | "histogram_sum" => {
            vec_arg(ev, 0)?;
            Vec::new()
        }
        "histogram_fraction" => {
            scalar_arg(ev, &args, 0, ts)?;
            scalar_arg(ev, &args, 1, ts)?;
            vec_arg(ev, 2)?;
            Vec::new()
        }
        "round" => {
            let to = if args.len() > 1 {
                scalar_arg(ev, &args, 1, ts)?
            } else {
                1.0
            };
            math::round(vec_arg(ev, 0)?, to, ts)
        }
        "clamp" => {
            let (lo, hi) = (scalar_arg(ev, &args, 1, ts)?, scalar_arg(ev, &args, 2, ts)?);
            let v = vec_arg(ev, 0)?;
            if hi < lo {
                Vec::new()
            } else {
                math::map(v, ts, |x| math::go_max(lo, math::go_min(hi, x)))
            }
        }
        "clamp_max" => {
            let hi = scalar_arg(ev, &args, 1, ts)?;
            math::map(vec_arg(ev, 0)?, ts, |x| math::go_min(x, hi))
        }
        "clamp_min" => {
            let lo = scalar_arg(ev, &args, 1, ts)?;
            math::map(vec_arg(ev, 0)?, ts, |x| math::go_max(x, lo))
        }
        "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour" | "minute" | "month" | "year" => {
            let v = if args.is_empty() {
                vec![InstantSample {
                    labels: Labels::empty(),
                    t: ts,
                    v: ts as f64 / 1000.0,
                }]
            } else {
                vec_arg(ev, 0)?
            };
            time::date_part(name, v, ts)
        }
        _ => match math::simple(name) {
            Some(f) => math::map(vec_arg(ev, 0)?, ts, f),
            None => return Err(Error::NotSupported(format!("function {name}()"))),
        },
    };
    Ok(StepValue::Vector(v))
}

/// Strips any parentheses around an expression (Prometheus unwraps call arguments).
pub(crate) fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        other => other,
    }
}

fn scalar_arg(ev: &mut Evaluator<'_>, args: &[&Expr], i: usize, ts: i64) -> Result<f64> {
    match args.get(i) {
        Some(a) => ev.eval_scalar(a, ts),
        None => Err(Error::BadData(format!("missing scalar argument {i}"))),
    }
}

/// String literal arguments (every argument after the first).
fn string_args(args: &[&Expr]) -> Result<Vec<String>> {
    args.iter()
        .skip(1)
        .map(|a| match a {
            Expr::StringLiteral(s) => Ok(s.val.clone()),
            _ => Err(Error::BadData("expected a string literal argument".into())),
        })
        .collect()
}

/// The labels `absent()`/`absent_over_time()` report: equality matchers of a plain selector,
/// minus names matched more than once or by other operators (`createLabelsForAbsentFunction`).
pub(crate) fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::empty(),
    };
    let mut out = Labels::empty();
    let mut empty: Vec<String> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, PMatchOp::Equal) && out.get(&m.name).is_none() {
            out = labels::set(&out, &m.name, &m.value);
        } else {
            empty.push(m.name.clone());
        }
    }
    labels::remove(&out, &empty)
}
