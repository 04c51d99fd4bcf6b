//! Aggregation operators (`sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar`,
//! `topk`, `bottomk`, `quantile`, `count_values`) with `by`/`without`, following Prometheus
//! 2.42's `aggregation()` step by step (including its heap for `topk`/`bottomk`, so ties pick
//! the same series).

use std::collections::HashMap;

use nerve_storage::Labels;
use nerve_storage::labels::METRIC_NAME;
use promql_parser::parser::token::*;
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::eval::Evaluator;
use super::format::go_f;
use super::labels;
use super::value::{InstantSample, StepValue, Vector};
use crate::error::{Error, Result};

struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: u64,
    heap: Vec<InstantSample>,
}

/// Evaluates an aggregation at `ts`.
pub(crate) fn eval(ev: &mut Evaluator<'_>, a: &AggregateExpr, ts: i64) -> Result<StepValue> {
    let op = a.op.id();
    let (without, mut grouping) = match &a.modifier {
        Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
        None => (false, Vec::new()),
    };
    grouping.sort();
    let mut k = 0i64;
    let mut q = 0.0;
    let mut value_label = String::new();
    if let Some(p) = &a.param {
        match unparen(p) {
            Expr::StringLiteral(s) => value_label = s.val.clone(),
            _ => {
                let v = ev.eval_scalar(p, ts)?;
                match op {
                    T_TOPK | T_BOTTOMK => {
                        if !(-9.223_372_036_854_776e18..=9.223_372_036_854_776e18).contains(&v) {
                            return Err(Error::Execution(format!("Scalar value {} overflows int64", go_f(v))));
                        }
                        k = v as i64;
                    }
                    _ => q = v,
                }
            }
        }
    }
    let vec = ev.eval_vector(&a.expr, ts)?;
    if matches!(op, T_TOPK | T_BOTTOMK) && k < 1 {
        return Ok(StepValue::Vector(Vec::new()));
    }
    if op == T_COUNT_VALUES {
        if !labels::is_valid_label_name(&value_label) {
            return Err(Error::Execution(format!("invalid label name {value_label:?}")));
        }
        if !without {
            grouping.push(value_label.clone());
            grouping.sort();
        }
    }
    let mut groups: HashMap<String, usize> = HashMap::new();
    let mut ordered: Vec<Group> = Vec::new();
    for s in vec {
        let metric = if op == T_COUNT_VALUES {
            labels::set(&s.labels, &value_label, &go_f(s.v))
        } else {
            s.labels.clone()
        };
        let key = if without {
            labels::signature_without(&metric, &grouping)
        } else {
            labels::signature_on(&metric, &grouping)
        };
        let Some(&gi) = groups.get(&key) else {
            let gl = if without {
                labels::filter(&metric, |n| n != METRIC_NAME && !grouping.iter().any(|g| g == n))
            } else {
                labels::keep_only(&metric, &grouping)
            };
            let mut g = Group {
                labels: gl,
                value: s.v,
                mean: s.v,
                count: 1,
                heap: Vec::new(),
            };
            match op {
                T_STDVAR | T_STDDEV => g.value = 0.0,
                T_TOPK | T_BOTTOMK | T_QUANTILE => g.heap.push(InstantSample { t: ts, ..s }),
                T_GROUP => g.value = 1.0,
                _ => {}
            }
            groups.insert(key, ordered.len());
            ordered.push(g);
            continue;
        };
        let g = &mut ordered[gi];
        match op {
            T_SUM => g.value += s.v,
            T_AVG => {
                g.count += 1;
                if g.mean.is_infinite() {
                    if s.v.is_infinite() && (g.mean > 0.0) == (s.v > 0.0) {
                        continue;
                    }
                    if !s.v.is_infinite() && !s.v.is_nan() {
                        continue;
                    }
                }
                let n = g.count as f64;
                g.mean += s.v / n - g.mean / n;
            }
            T_GROUP => {}
            T_MAX => {
                if g.value < s.v || g.value.is_nan() {
                    g.value = s.v;
                }
            }
            T_MIN => {
                if g.value > s.v || g.value.is_nan() {
                    g.value = s.v;
                }
            }
            T_COUNT | T_COUNT_VALUES => g.count += 1,
            T_STDVAR | T_STDDEV => {
                g.count += 1;
                let delta = s.v - g.mean;
                g.mean += delta / g.count as f64;
                g.value += delta * (s.v - g.mean);
            }
            T_TOPK | T_BOTTOMK => {
                let less = if op == T_TOPK { less_topk } else { less_bottomk };
                let top = &g.heap[0];
                let replace = if op == T_TOPK {
                    top.v < s.v || top.v.is_nan()
                } else {
                    top.v > s.v || top.v.is_nan()
                };
                if (g.heap.len() as i64) < k || replace {
                    let item = InstantSample { t: ts, ..s };
                    if g.heap.len() as i64 == k {
                        if k == 1 {
                            g.heap[0] = item;
                            continue;
                        }
                        heap_pop(&mut g.heap, less);
                    }
                    heap_push(&mut g.heap, item, less);
                }
            }
            T_QUANTILE => g.heap.push(s),
            _ => return Err(Error::NotSupported(format!("aggregation {}", a.op))),
        }
    }
    let mut out: Vector = Vec::with_capacity(ordered.len());
    for mut g in ordered {
        let v = match op {
            T_AVG => g.mean,
            T_COUNT | T_COUNT_VALUES => g.count as f64,
            T_STDVAR => g.value / g.count as f64,
            T_STDDEV => (g.value / g.count as f64).sqrt(),
            T_TOPK | T_BOTTOMK => {
                // Descending for topk, ascending for bottomk (Go: sort.Reverse of the heap).
                let less = if op == T_TOPK { less_topk } else { less_bottomk };
                g.heap.sort_by(|a, b| {
                    if less(b, a) {
                        std::cmp::Ordering::Less
                    } else if less(a, b) {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Equal
                    }
                });
                out.extend(g.heap.into_iter().map(|s| InstantSample { t: ts, ..s }));
                continue;
            }
            T_QUANTILE => {
                let mut vals: Vec<f64> = g.heap.iter().map(|s| s.v).collect();
                quantile(q, &mut vals)
            }
            _ => g.value,
        };
        out.push(InstantSample {
            labels: g.labels,
            t: ts,
            v,
        });
    }
    Ok(StepValue::Vector(out))
}

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        other => other,
    }
}

/// `vectorByValueHeap.Less`: NaN sorts first.
fn less_topk(a: &InstantSample, b: &InstantSample) -> bool {
    a.v.is_nan() || a.v < b.v
}

/// `vectorByReverseValueHeap.Less`: NaN sorts first.
fn less_bottomk(a: &InstantSample, b: &InstantSample) -> bool {
    a.v.is_nan() || a.v > b.v
}

type Less = fn(&InstantSample, &InstantSample) -> bool;

/// Go `container/heap.Push`.
fn heap_push(h: &mut Vec<InstantSample>, x: InstantSample, less: Less) {
    h.push(x);
    let mut j = h.len() - 1;
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go `container/heap.Pop` (the popped element is discarded).
fn heap_pop(h: &mut Vec<InstantSample>, less: Less) {
    let n = h.len() - 1;
    h.swap(0, n);
    let mut i = 0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(&h[j2], &h[j1]) {
            j = j2;
        }
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    h.pop();
}

/// Prometheus' `quantile`: linear interpolation between the closest ranks; NaNs sort first.
pub(crate) fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    vals[lower as usize] * (1.0 - w) + vals[upper as usize] * w
}
