//! Evaluates a metric expression at one timestamp from pre-extracted series: range
//! aggregation windows, vector aggregations, `vector()`, literals and `label_replace`.
//! Binary operators live in [`super::binary`].
//!
//! Windows are Loki's: a step at `t` aggregates samples with timestamps in
//! `(t - offset - range, t - offset]` (docs: LogQL › Metric queries).

use std::collections::HashMap;

use nerve_storage::{Labels, MatchOp};

use super::ast::{Expr, Grouping, LabelReplace, RangeAgg, RangeOp, VecOp, VectorAgg};
use super::binary;
use super::extract::Series;
use super::labels_builder::ERROR_LABEL;
use crate::error::{Error, Result};

/// An instant vector: labels and value per series.
pub type Vector = Vec<(Labels, f64)>;

/// The value of an expression at one step.
#[derive(Clone, Debug)]
pub enum StepValue {
    /// Series values.
    Vector(Vector),
    /// A number.
    Scalar(f64),
}

/// Key of a range aggregation node in [`Evaluator::series`].
pub fn node_key(ra: &RangeAgg) -> usize {
    std::ptr::from_ref(ra) as usize
}

/// Evaluates expressions at steps.
pub struct Evaluator {
    /// Extracted series per range aggregation node (see [`node_key`]).
    pub series: HashMap<usize, Vec<Series>>,
}

/// Loki's pipeline error for a series that still carries `__error__`.
pub fn pipeline_error(labels: &Labels) -> Error {
    let e = labels.get(ERROR_LABEL).unwrap_or_default();
    Error::BadData(format!(
        "pipeline error: '{e}' for series: '{labels}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{e}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
    ))
}

impl Evaluator {
    /// Evaluates `e` at `t_ns`.
    pub fn eval(&self, e: &Expr, t_ns: i64) -> Result<StepValue> {
        Ok(match e {
            Expr::Log(_) => return Err(Error::BadData("log queries cannot be evaluated as metrics".into())),
            Expr::Literal(v) => StepValue::Scalar(*v),
            Expr::Vector(v) => StepValue::Vector(vec![(Labels::empty(), *v)]),
            Expr::RangeAgg(ra) => StepValue::Vector(self.range_agg(ra, t_ns)?),
            Expr::VectorAgg(va) => StepValue::Vector(self.vector_agg(va, t_ns)?),
            Expr::Binary(b) => {
                let l = self.eval(&b.lhs, t_ns)?;
                let r = self.eval(&b.rhs, t_ns)?;
                binary::eval(b, l, r)?
            }
            Expr::LabelReplace(lr) => StepValue::Vector(label_replace(lr, self.vector(&lr.inner, t_ns)?)),
        })
    }

    fn vector(&self, e: &Expr, t_ns: i64) -> Result<Vector> {
        match self.eval(e, t_ns)? {
            StepValue::Vector(v) => Ok(v),
            StepValue::Scalar(_) => Err(Error::BadData("expected a vector, got a scalar".into())),
        }
    }

    fn range_agg(&self, ra: &RangeAgg, t_ns: i64) -> Result<Vector> {
        let series = self.series.get(&node_key(ra)).map_or(&[][..], Vec::as_slice);
        let end = t_ns - ra.range.offset_ns;
        let start = end - ra.range.range_ns;
        let mut out = Vec::new();
        let mut any = false;
        for s in series {
            let lo = s.points.partition_point(|p| p.0 <= start);
            let hi = s.points.partition_point(|p| p.0 <= end);
            if lo >= hi {
                continue;
            }
            any = true;
            if ra.op == RangeOp::Absent {
                continue;
            }
            if s.labels.get(ERROR_LABEL).is_some() {
                return Err(pipeline_error(&s.labels));
            }
            out.push((s.labels.clone(), aggregate(ra, &s.points[lo..hi])));
        }
        if ra.op == RangeOp::Absent {
            return Ok(if any {
                Vec::new()
            } else {
                vec![(absent_labels(ra), 1.0)]
            });
        }
        Ok(out)
    }

    fn vector_agg(&self, va: &VectorAgg, t_ns: i64) -> Result<Vector> {
        let mut input = self.vector(&va.inner, t_ns)?;
        match va.op {
            VecOp::Sort | VecOp::SortDesc => {
                let desc = va.op == VecOp::SortDesc;
                input.sort_by(|a, b| {
                    let o = a.1.partial_cmp(&b.1).unwrap_or_else(|| a.1.is_nan().cmp(&b.1.is_nan()));
                    if desc && !(a.1.is_nan() || b.1.is_nan()) {
                        o.reverse()
                    } else {
                        o
                    }
                });
                Ok(input)
            }
            VecOp::Topk | VecOp::Bottomk => Ok(topk(va, input)),
            _ => Ok(simple_agg(va.op, va.grouping.as_ref(), input)),
        }
    }
}

/// The labels of a series' group under `g` (no grouping: the empty set).
pub fn group_labels(l: &Labels, g: Option<&Grouping>) -> Labels {
    let Some(g) = g else { return Labels::empty() };
    let keep = |n: &str| g.labels.iter().any(|x| x == n) != g.without;
    Labels::from_pairs(l.iter().filter(|(n, _)| keep(n))).unwrap_or_default()
}

#[derive(Default)]
struct Acc {
    sum: f64,
    count: f64,
    min: f64,
    max: f64,
    mean: f64,
    m2: f64,
}

fn simple_agg(op: VecOp, g: Option<&Grouping>, input: Vector) -> Vector {
    let mut groups: Vec<(Labels, Acc)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (l, v) in input {
        let key = group_labels(&l, g);
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((
                key,
                Acc {
                    min: v,
                    max: v,
                    ..Acc::default()
                },
            ));
            groups.len() - 1
        });
        let a = &mut groups[i].1;
        a.sum += v;
        a.count += 1.0;
        if v < a.min || a.min.is_nan() {
            a.min = v;
        }
        if v > a.max || a.max.is_nan() {
            a.max = v;
        }
        let delta = v - a.mean;
        a.mean += delta / a.count;
        a.m2 += delta * (v - a.mean);
    }
    groups
        .into_iter()
        .map(|(l, a)| {
            let v = match op {
                VecOp::Sum => a.sum,
                VecOp::Avg => a.mean,
                VecOp::Min => a.min,
                VecOp::Max => a.max,
                VecOp::Count => a.count,
                VecOp::Stdvar => a.m2 / a.count,
                VecOp::Stddev => (a.m2 / a.count).sqrt(),
                _ => f64::NAN,
            };
            (l, v)
        })
        .collect()
}

/// topk/bottomk per group. Input is sorted by labels first, so among equal values the series
/// with the smaller label set wins (Loki's own choice depends on map order).
fn topk(va: &VectorAgg, mut input: Vector) -> Vector {
    let k = va.param.unwrap_or(0).max(0) as usize;
    input.sort_by(|a, b| a.0.cmp(&b.0));
    let mut groups: Vec<Vec<(Labels, f64)>> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (l, v) in input {
        let key = group_labels(&l, va.grouping.as_ref());
        let i = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push((l, v));
    }
    let top = va.op == VecOp::Topk;
    let mut out = Vec::new();
    for mut g in groups {
        // NaN always sorts last.
        g.sort_by(|a, b| match (a.1.is_nan(), b.1.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if top => b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal),
            _ => a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal),
        });
        g.truncate(k);
        out.extend(g);
    }
    out
}

fn absent_labels(ra: &RangeAgg) -> Labels {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let mut dup: Vec<&str> = Vec::new();
    for m in &ra.range.log.matchers {
        if m.op != MatchOp::Equal {
            continue;
        }
        if pairs.iter().any(|(n, _)| *n == m.name) {
            dup.push(&m.name);
        }
        pairs.push((&m.name, &m.value));
    }
    pairs.retain(|(n, _)| !dup.contains(n));
    Labels::from_pairs(pairs).unwrap_or_default()
}

/// Prometheus-style quantile with linear interpolation (`q < 0` → -Inf, `q > 1` → +Inf).
pub fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    vals[lower as usize] * (1.0 - w) + vals[upper as usize] * w
}

/// Loki's `rate_counter`: Prometheus' extrapolated counter rate, with Loki's units (sample
/// timestamps in nanoseconds, the range start derived from the first sample and the range in
/// milliseconds), so results match Loki rather than Prometheus.
fn rate_counter(points: &[(i64, f64)], range_ns: i64) -> f64 {
    if points.len() < 2 {
        return 0.0;
    }
    let (first, last) = (points[0], points[points.len() - 1]);
    let range_start = first.0 - range_ns / 1_000_000;
    let range_end = last.0;
    let mut result = last.1 - first.1;
    let mut last_v = 0.0;
    for p in points {
        if p.1 < last_v {
            result += last_v;
        }
        last_v = p.1;
    }
    let mut to_start = (first.0 - range_start) as f64 / 1000.0;
    let to_end = (range_end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg = sampled / (points.len() - 1) as f64;
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold { to_start } else { avg / 2.0 };
    interval += if to_end < threshold { to_end } else { avg / 2.0 };
    result * (interval / sampled) / (range_ns as f64 / 1e9)
}

fn aggregate(ra: &RangeAgg, pts: &[(i64, f64)]) -> f64 {
    let secs = ra.range.range_ns as f64 / 1e9;
    let vals = || pts.iter().map(|p| p.1);
    match ra.op {
        RangeOp::Count => pts.len() as f64,
        RangeOp::Rate if ra.range.unwrap.is_none() => pts.len() as f64 / secs,
        RangeOp::Rate | RangeOp::BytesRate => vals().sum::<f64>() / secs,
        RangeOp::RateCounter => rate_counter(pts, ra.range.range_ns),
        RangeOp::Bytes | RangeOp::Sum => vals().sum(),
        RangeOp::Absent => 1.0,
        RangeOp::Avg => {
            let mut mean: f64 = 0.0;
            for (i, v) in vals().enumerate() {
                let c = (i + 1) as f64;
                if mean.is_infinite() {
                    let same_inf = v.is_infinite() && (mean > 0.0) == (v > 0.0);
                    if same_inf || (!v.is_infinite() && !v.is_nan()) {
                        continue;
                    }
                }
                mean += v / c - mean / c;
            }
            mean
        }
        RangeOp::Min => vals().fold(f64::NAN, |m, v| if v < m || m.is_nan() { v } else { m }),
        RangeOp::Max => vals().fold(f64::NAN, |m, v| if v > m || m.is_nan() { v } else { m }),
        RangeOp::Stdvar | RangeOp::Stddev => {
            let (mut count, mut mean, mut aux) = (0.0, 0.0, 0.0);
            for v in vals() {
                count += 1.0;
                let d = v - mean;
                mean += d / count;
                aux += d * (v - mean);
            }
            let var = aux / count;
            if ra.op == RangeOp::Stdvar { var } else { var.sqrt() }
        }
        RangeOp::Quantile => quantile(ra.param.unwrap_or(f64::NAN), &mut vals().collect::<Vec<_>>()),
        RangeOp::First => pts[0].1,
        RangeOp::Last => pts[pts.len() - 1].1,
    }
}

fn label_replace(lr: &LabelReplace, input: Vector) -> Vector {
    input
        .into_iter()
        .map(|(l, v)| {
            let src = l.get(&lr.src).unwrap_or("");
            let Some(caps) = lr.re.captures(src) else { return (l, v) };
            let mut val = String::new();
            caps.expand(&lr.replacement, &mut val);
            let pairs = l
                .iter()
                .filter(|(n, _)| *n != lr.dst)
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .chain(std::iter::once((lr.dst.clone(), val)));
            (Labels::from_pairs(pairs).unwrap_or_default(), v)
        })
        .collect()
}
