//! Series-major evaluation for range queries: the nodes where Prometheus' own engine also
//! iterates series rather than steps.
//!
//! The evaluator otherwise evaluates the whole tree once per step, which for
//! `rate(x[5m])` over many series means slicing every series' window, cloning its samples and
//! rebuilding its label set (`__name__` dropped) at every step, and for aggregations computing
//! every input series' grouping key at every step. Here, before the steps run:
//! - a range function over a range selector (`rate(x[5m])`, `*_over_time`, …, scalar
//!   arguments being literals) walks each series once with a window sliding over all steps
//!   and builds its output label set once;
//! - an instant selector walks each series once with a cursor over all steps;
//! - an aggregation (`sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar`) over
//!   such a call or over an instant selector computes each input series' group once and folds
//!   its values into per-step accumulators, in the same order the per-step evaluation would
//!   (so float results are identical).
//!
//! The root of a range query is answered from this directly; nested nodes hand their per-step
//! vectors to the step-by-step evaluator. Cases where the two could differ (duplicate output
//! label sets, which Prometheus reports per step; `predict_linear` with `@`; very many groups ×
//! steps) are left to the step-by-step evaluator.

use std::collections::{HashMap, HashSet};

use nerve_storage::Labels;
use nerve_storage::labels::METRIC_NAME;
use nerve_storage::metrics::{Sample, is_stale_nan};
use promql_parser::parser::token::*;
use promql_parser::parser::{AggregateExpr, Call, Expr, LabelModifier, MatrixSelector, VectorSelector};

use super::eval::Evaluator;
use super::functions::range::{Window, apply};
use super::labels;
use super::plan;
use super::value::{InstantSample, Matrix, RangeSeries, Vector};
use crate::error::Result;

/// Most `groups × steps` accumulators one aggregation may hold here (beyond: step by step).
const MAX_ACCUMULATORS: usize = 8 << 20;

/// Range functions computed here (`absent_over_time` is about missing series; left out).
pub(crate) const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "deriv",
    "predict_linear",
    "changes",
    "resets",
    "holt_winters",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "last_over_time",
    "present_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
];

/// The steps of a range query: `start + k × step` for `k < n`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid {
    /// First step (ms).
    pub start: i64,
    /// Step width (ms, > 0).
    pub step: i64,
    /// Number of steps.
    pub n: usize,
}

impl Grid {
    fn ts(&self, k: usize) -> i64 {
        self.start + k as i64 * self.step
    }

    /// The step index of `ts`, if `ts` is a step.
    pub(crate) fn index(&self, ts: i64) -> Option<usize> {
        let d = ts.checked_sub(self.start)?;
        if d < 0 || d % self.step != 0 {
            return None;
        }
        let k = usize::try_from(d / self.step).ok()?;
        (k < self.n).then_some(k)
    }
}

/// A node's result over all steps: output series (samples at step times) and, per step, the
/// order in which the step-by-step evaluator would list them (`None`: series order).
pub(crate) struct Columns {
    series: Matrix,
    order: Option<Vec<Vec<u32>>>,
}

impl Columns {
    /// The result as a range query answer: series with points, sorted by labels.
    pub(crate) fn into_matrix(self) -> Matrix {
        let mut m: Matrix = self.series.into_iter().filter(|s| !s.samples.is_empty()).collect();
        m.sort_by(|a, b| a.labels.cmp(&b.labels));
        m
    }

    /// The number of output points.
    pub(crate) fn points(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// The per-step vectors the step-by-step evaluator would have computed.
    pub(crate) fn into_steps(self, grid: &Grid) -> Vec<Vector> {
        let mut out: Vec<Vector> = (0..grid.n).map(|_| Vec::new()).collect();
        match self.order {
            None => {
                for s in self.series {
                    let Some((last, rest)) = s.samples.split_last() else {
                        continue;
                    };
                    for x in rest {
                        if let Some(k) = grid.index(x.t) {
                            out[k].push(InstantSample {
                                labels: s.labels.clone(),
                                t: x.t,
                                v: x.v,
                            });
                        }
                    }
                    if let Some(k) = grid.index(last.t) {
                        out[k].push(InstantSample {
                            labels: s.labels,
                            t: last.t,
                            v: last.v,
                        });
                    }
                }
            }
            Some(order) => {
                let mut cursor = vec![0usize; self.series.len()];
                for (k, ids) in order.into_iter().enumerate() {
                    let ts = grid.ts(k);
                    for i in ids {
                        let (s, c) = (&self.series[i as usize], &mut cursor[i as usize]);
                        if let Some(x) = s.samples.get(*c).filter(|x| x.t == ts) {
                            out[k].push(InstantSample {
                                labels: s.labels.clone(),
                                t: ts,
                                v: x.v,
                            });
                            *c += 1;
                        }
                    }
                }
            }
        }
        out
    }
}

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        other => other,
    }
}

/// The call's range selector and scalar arguments, when it can be computed here.
fn range_call(c: &Call) -> Option<(&MatrixSelector, Vec<f64>)> {
    if !RANGE_FUNCTIONS.contains(&c.func.name) {
        return None;
    }
    let mut ms = None;
    let mut scalars = Vec::with_capacity(c.args.args.len());
    for a in &c.args.args {
        match unparen(a) {
            Expr::MatrixSelector(m) if ms.is_none() => {
                ms = Some(m);
                scalars.push(0.0);
            }
            Expr::NumberLiteral(n) => scalars.push(n.val),
            _ => return None,
        }
    }
    let ms = ms?;
    if c.func.name == "predict_linear" && ms.vs.at.is_some() {
        return None;
    }
    Some((ms, scalars))
}

/// Whether `e` (parentheses removed) is computed here.
pub(crate) fn supported(e: &Expr) -> bool {
    match unparen(e) {
        Expr::VectorSelector(_) => true,
        Expr::Call(c) => range_call(c).is_some(),
        Expr::Aggregate(a) => {
            a.param.is_none()
                && matches!(
                    a.op.id(),
                    T_SUM | T_AVG | T_COUNT | T_MIN | T_MAX | T_GROUP | T_STDDEV | T_STDVAR
                )
                && match unparen(&a.expr) {
                    Expr::Call(c) => range_call(c).is_some(),
                    Expr::VectorSelector(_) => true,
                    _ => false,
                }
        }
        _ => false,
    }
}

/// Computes a [`supported`] node over all steps; `None` when it must be left to the
/// step-by-step evaluator after all.
pub(crate) fn compute(ev: &mut Evaluator<'_>, e: &Expr, grid: &Grid) -> Result<Option<Columns>> {
    match unparen(e) {
        Expr::VectorSelector(vs) => Ok(Some(instant(ev, vs, grid)?)),
        Expr::Call(c) => match range_call(c) {
            Some((ms, scalars)) => call(ev, c.func.name, ms, &scalars, grid, false),
            None => Ok(None),
        },
        Expr::Aggregate(a) => {
            let grouping = match &a.modifier {
                Some(LabelModifier::Include(l)) | Some(LabelModifier::Exclude(l)) => &l.labels[..],
                None => &[],
            };
            let keep_name = !grouping.iter().any(|g| g == METRIC_NAME);
            let input = match unparen(&a.expr) {
                Expr::Call(c) => match range_call(c) {
                    Some((ms, scalars)) => call(ev, c.func.name, ms, &scalars, grid, keep_name)?,
                    None => None,
                },
                Expr::VectorSelector(vs) => Some(instant(ev, vs, grid)?),
                _ => None,
            };
            match input {
                Some(input) => aggregate(ev, a, input, grid),
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

/// Fills the evaluator's per-step results for every [`supported`] node of `e` outside
/// subqueries (whose inner steps are not the query's).
pub(crate) fn precompute(ev: &mut Evaluator<'_>, e: &Expr, grid: &Grid) -> Result<()> {
    if supported(e)
        && let Some(cols) = compute(ev, e, grid)?
    {
        // Keyed by the node inside any parentheses: callers evaluate that one.
        ev.store_precomputed(unparen(e), *grid, cols.into_steps(grid));
        return Ok(());
    }
    match e {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                precompute(ev, p, grid)?;
            }
            precompute(ev, &a.expr, grid)
        }
        Expr::Unary(u) => precompute(ev, &u.expr, grid),
        Expr::Binary(b) => {
            precompute(ev, &b.lhs, grid)?;
            precompute(ev, &b.rhs, grid)
        }
        Expr::Paren(p) => precompute(ev, &p.expr, grid),
        // `timestamp(x)` reads each selected sample's own time, which per-step results lose.
        Expr::Call(c) if c.func.name == "timestamp" => Ok(()),
        Expr::Call(c) => c.args.args.iter().try_for_each(|a| precompute(ev, a, grid)),
        _ => Ok(()),
    }
}

/// A range function over a range selector, series by series with a sliding window.
///
/// `keep_name`: leave `__name__` in the output labels (for an aggregation whose grouping does
/// not look at it, which saves rebuilding every label set).
fn call(
    ev: &mut Evaluator<'_>,
    name: &str,
    ms: &MatrixSelector,
    scalars: &[f64],
    grid: &Grid,
    keep_name: bool,
) -> Result<Option<Columns>> {
    // Without a fixed name, dropping it may merge series: that must be checked below.
    let keep_name = keep_name && ms.vs.name.is_some();
    let data = ev.load(&ms.vs, true)?;
    ev.ensure_room(data.len().saturating_mul(grid.n))?;
    let range = plan::duration_ms(&ms.range);
    let mut series = Vec::with_capacity(data.len());
    for s in data.iter() {
        ev.check_deadline()?;
        let labels = if keep_name || name == "last_over_time" {
            s.labels.clone()
        } else {
            labels::drop_metric_name(&s.labels)
        };
        let p = &s.samples;
        let (mut a, mut b) = (0usize, 0usize);
        let mut out = Vec::new();
        for k in 0..grid.n {
            let ts = grid.ts(k);
            let end = ev.ref_time(&ms.vs.at, &ms.vs.offset, ts);
            let start = end - range;
            // Windows only move forward (offset and `@` are fixed for the query).
            if a > 0 && p[a - 1].t >= start {
                a = p.partition_point(|x| x.t < start);
            }
            while a < p.len() && p[a].t < start {
                a += 1;
            }
            b = b.max(a);
            if b > 0 && p[b - 1].t > end {
                b = p.partition_point(|x| x.t <= end);
            }
            while b < p.len() && p[b].t <= end {
                b += 1;
            }
            if a >= b {
                continue;
            }
            let w = Window {
                start,
                end,
                range_secs: range as f64 / 1000.0,
            };
            if let Some(v) = apply(name, &p[a..b], &w, scalars, ts)? {
                out.push(Sample { t: ts, v });
            }
        }
        if !out.is_empty() {
            series.push(RangeSeries { labels, samples: out });
        }
    }
    // Dropping `__name__` may make two series equal; Prometheus then fails at the steps where
    // both have a value. Selected by name, all series share it and stay distinct.
    if !keep_name && ms.vs.name.is_none() && name != "last_over_time" {
        let mut seen = HashSet::with_capacity(series.len());
        if !series.iter().all(|s| seen.insert(&s.labels)) {
            return Ok(None);
        }
    }
    Ok(Some(Columns { series, order: None }))
}

/// An instant selector at every step (lookback, stale markers), series by series.
fn instant(ev: &mut Evaluator<'_>, vs: &VectorSelector, grid: &Grid) -> Result<Columns> {
    let data = ev.load(vs, false)?;
    ev.ensure_room(data.len().saturating_mul(grid.n))?;
    let lookback = ev.p.lookback;
    let mut series = Vec::with_capacity(data.len());
    for s in data.iter() {
        ev.check_deadline()?;
        let p = &s.samples;
        let mut j = 0usize;
        let mut out = Vec::new();
        for k in 0..grid.n {
            let ts = grid.ts(k);
            let reft = ev.ref_time(&vs.at, &vs.offset, ts);
            if j > 0 && p[j - 1].t > reft {
                j = p.partition_point(|x| x.t <= reft);
            }
            while j < p.len() && p[j].t <= reft {
                j += 1;
            }
            if j == 0 {
                continue;
            }
            let x = p[j - 1];
            if x.t < reft - lookback || is_stale_nan(x.v) {
                continue;
            }
            out.push(Sample { t: ts, v: x.v });
        }
        series.push(RangeSeries {
            labels: s.labels.clone(),
            samples: out,
        });
    }
    Ok(Columns { series, order: None })
}

/// One group's accumulator at one step (the fields of the step-by-step aggregation).
#[derive(Clone, Copy, Default)]
struct Acc {
    value: f64,
    mean: f64,
    count: u64,
    set: bool,
}

/// An aggregation without parameter over per-series input, folded per step in input order.
fn aggregate(ev: &mut Evaluator<'_>, a: &AggregateExpr, input: Columns, grid: &Grid) -> Result<Option<Columns>> {
    let op = a.op.id();
    let (without, mut grouping) = match &a.modifier {
        Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
        None => (false, Vec::new()),
    };
    grouping.sort();
    // Each input series' group, computed once.
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut group_labels: Vec<Labels> = Vec::new();
    let mut group_of = Vec::with_capacity(input.series.len());
    for s in &input.series {
        let key = if without {
            labels::signature_without(&s.labels, &grouping)
        } else {
            labels::signature_on(&s.labels, &grouping)
        };
        let g = *index.entry(key).or_insert_with(|| {
            group_labels.push(if without {
                labels::filter(&s.labels, |n| n != METRIC_NAME && !grouping.iter().any(|g| g == n))
            } else {
                labels::keep_only(&s.labels, &grouping)
            });
            (group_labels.len() - 1) as u32
        });
        group_of.push(g);
    }
    if group_labels.len().saturating_mul(grid.n) > MAX_ACCUMULATORS {
        return Ok(None);
    }
    let mut acc = vec![Acc::default(); group_labels.len() * grid.n];
    let mut order: Vec<Vec<u32>> = vec![Vec::new(); grid.n];
    for (s, &g) in input.series.iter().zip(&group_of) {
        ev.check_deadline()?;
        for x in &s.samples {
            let Some(k) = grid.index(x.t) else { continue };
            let c = &mut acc[g as usize * grid.n + k];
            if !c.set {
                *c = Acc {
                    value: match op {
                        T_STDVAR | T_STDDEV => 0.0,
                        T_GROUP => 1.0,
                        _ => x.v,
                    },
                    mean: x.v,
                    count: 1,
                    set: true,
                };
                order[k].push(g);
                continue;
            }
            fold(op, c, x.v);
        }
    }
    let series = group_labels
        .into_iter()
        .enumerate()
        .map(|(g, labels)| {
            let samples = acc[g * grid.n..(g + 1) * grid.n]
                .iter()
                .enumerate()
                .filter(|(_, c)| c.set)
                .map(|(k, c)| Sample {
                    t: grid.ts(k),
                    v: match op {
                        T_AVG => c.mean,
                        T_COUNT => c.count as f64,
                        T_STDVAR => c.value / c.count as f64,
                        T_STDDEV => (c.value / c.count as f64).sqrt(),
                        _ => c.value,
                    },
                })
                .collect();
            RangeSeries { labels, samples }
        })
        .collect();
    Ok(Some(Columns {
        series,
        order: Some(order),
    }))
}

/// Folds `v` into a started accumulator, exactly as the step-by-step aggregation does.
fn fold(op: TokenId, c: &mut Acc, v: f64) {
    match op {
        T_SUM => c.value += v,
        T_AVG => {
            c.count += 1;
            if c.mean.is_infinite() {
                if v.is_infinite() && (c.mean > 0.0) == (v > 0.0) {
                    return;
                }
                if !v.is_infinite() && !v.is_nan() {
                    return;
                }
            }
            let n = c.count as f64;
            c.mean += v / n - c.mean / n;
        }
        T_MAX if c.value < v || c.value.is_nan() => c.value = v,
        T_MIN if c.value > v || c.value.is_nan() => c.value = v,
        T_COUNT => c.count += 1,
        T_STDVAR | T_STDDEV => {
            c.count += 1;
            let delta = v - c.mean;
            c.mean += delta / c.count as f64;
            c.value += delta * (v - c.mean);
        }
        _ => {}
    }
}
