//! The evaluator: evaluates an expression at one step, Prometheus 2.42 semantics.
//!
//! Instead of Prometheus' node-at-a-time matrices, the whole tree is evaluated once per step;
//! each selector loads its series once per query (the range [`plan::selector_ranges`] worked
//! out) and later steps only binary-search the loaded samples, and subquery steps are memoized
//! on their absolute timestamps, so a range query costs about what Prometheus' does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use nerve_storage::Labels;
use nerve_storage::metrics::is_stale_nan;
use promql_parser::parser::{AtModifier, Expr, MatrixSelector, Offset, SubqueryExpr, VectorSelector};

use super::series_major::{self, Grid};
use super::source::{Queryable, SelectHints, SelectedSeries};
use super::value::{InstantSample, Matrix, RangeSeries, StepValue, Vector};
use super::{aggregate, binary, functions, labels, plan};
use crate::error::{Error, Result};

/// Settings shared by one query's evaluation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EvalParams {
    /// Query start (ms): `@ start()`.
    pub start: i64,
    /// Query end (ms): `@ end()`.
    pub end: i64,
    /// Lookback delta (ms).
    pub lookback: i64,
    /// Step of subqueries that give none (ms; Prometheus: the global evaluation interval).
    pub subquery_step: i64,
    /// Sample budget.
    pub max_samples: usize,
    /// Deadline.
    pub deadline: Option<Instant>,
    /// Whether nodes [`series_major::supported`] may be computed series-major (the engine
    /// always allows it; `false` evaluates everything step by step, the reference the
    /// property tests hold the fast path to).
    pub series_major: bool,
}

/// The state of one query's evaluation.
pub(crate) struct Evaluator<'a> {
    src: &'a dyn Queryable,
    pub(crate) p: EvalParams,
    samples: usize,
    bounds: HashMap<usize, (i64, i64)>,
    loaded: HashMap<usize, Arc<Vec<SelectedSeries>>>,
    subquery_memo: HashMap<(usize, i64), Arc<StepValue>>,
    /// Per-step results of nodes computed series-major before the steps ran (by node address).
    precomputed: HashMap<usize, (Grid, Vec<Vector>)>,
    /// Subquery bodies computed series-major over every step any evaluation of the subquery
    /// needs (by body address; `None`: evaluated step by step).
    subquery_columns: HashMap<usize, Option<(Grid, Matrix)>>,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(src: &'a dyn Queryable, root: &Expr, p: EvalParams) -> Self {
        Evaluator {
            src,
            p,
            samples: 0,
            bounds: plan::selector_ranges(root, p.start, p.end, p.lookback),
            loaded: HashMap::new(),
            subquery_memo: HashMap::new(),
            precomputed: HashMap::new(),
            subquery_columns: HashMap::new(),
        }
    }

    /// Keeps a node's per-step results (see [`series_major`](super::series_major)).
    pub(crate) fn store_precomputed(&mut self, e: &Expr, grid: Grid, steps: Vec<Vector>) {
        self.precomputed.insert(e as *const Expr as usize, (grid, steps));
    }

    /// A node's precomputed result at `ts`, handed out once.
    fn take_precomputed(&mut self, e: &Expr, ts: i64) -> Option<Vector> {
        let (grid, steps) = self.precomputed.get_mut(&(e as *const Expr as usize))?;
        let k = grid.index(ts)?;
        steps.get_mut(k).map(std::mem::take)
    }

    /// Fails once the deadline has passed (checked cooperatively at every node and step).
    pub(crate) fn check_deadline(&self) -> Result<()> {
        match self.p.deadline {
            Some(d) if Instant::now() > d => Err(Error::Timeout("expression evaluation")),
            _ => Ok(()),
        }
    }

    /// Counts `n` more samples held against the budget.
    pub(crate) fn account(&mut self, n: usize) -> Result<()> {
        self.samples = self.samples.saturating_add(n);
        if self.samples > self.p.max_samples {
            return Err(Error::TooManySamples("query execution"));
        }
        Ok(())
    }

    /// Fails when `n` more samples would not fit the budget, before they are materialised
    /// (columns of every series over every step: at most one point per series and step).
    pub(crate) fn ensure_room(&self, n: usize) -> Result<()> {
        if n > self.p.max_samples.saturating_sub(self.samples) {
            return Err(Error::TooManySamples("query execution"));
        }
        Ok(())
    }

    /// The time a selector or subquery looks at when evaluated at `ts`.
    pub(crate) fn ref_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, ts: i64) -> i64 {
        plan::at_ms(at, self.p.start, self.p.end).unwrap_or(ts) - plan::offset_ms(offset)
    }

    /// Evaluates `e` at `ts` (ms).
    pub(crate) fn eval(&mut self, e: &Expr, ts: i64) -> Result<StepValue> {
        self.check_deadline()?;
        if !self.precomputed.is_empty()
            && let Some(v) = self.take_precomputed(e, ts)
        {
            return Ok(StepValue::Vector(v));
        }
        match e {
            Expr::NumberLiteral(n) => Ok(StepValue::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(StepValue::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, ts),
            Expr::Unary(u) => match self.eval(&u.expr, ts)? {
                StepValue::Scalar(v) => Ok(StepValue::Scalar(-v)),
                StepValue::Vector(v) => {
                    let out: Vector = v
                        .into_iter()
                        .map(|s| InstantSample {
                            labels: labels::drop_metric_name(&s.labels),
                            t: ts,
                            v: -s.v,
                        })
                        .collect();
                    check_unique(&out)?;
                    Ok(StepValue::Vector(out))
                }
                other => Err(type_error("unary expression", &other)),
            },
            Expr::VectorSelector(vs) => Ok(StepValue::Vector(self.select_instant(vs, ts)?)),
            Expr::MatrixSelector(ms) => Ok(StepValue::Matrix(self.select_range(ms, ts)?)),
            Expr::Subquery(sq) => Ok(StepValue::Matrix(self.subquery(sq, ts)?)),
            Expr::Call(c) => {
                let v = functions::call(self, c, ts)?;
                if let StepValue::Vector(out) = &v {
                    check_unique(out)?;
                }
                Ok(v)
            }
            Expr::Aggregate(a) => aggregate::eval(self, a, ts),
            Expr::Binary(b) => {
                let v = binary::eval(self, b, ts)?;
                if let StepValue::Vector(out) = &v {
                    check_unique(out)?;
                }
                Ok(v)
            }
            Expr::Extension(_) => Err(Error::NotSupported("extension expressions".into())),
        }
    }

    /// Evaluates `e` at `ts`, expecting a scalar.
    pub(crate) fn eval_scalar(&mut self, e: &Expr, ts: i64) -> Result<f64> {
        match self.eval(e, ts)? {
            StepValue::Scalar(v) => Ok(v),
            other => Err(type_error("scalar argument", &other)),
        }
    }

    /// Evaluates `e` at `ts`, expecting an instant vector.
    pub(crate) fn eval_vector(&mut self, e: &Expr, ts: i64) -> Result<Vector> {
        match self.eval(e, ts)? {
            StepValue::Vector(v) => Ok(v),
            other => Err(type_error("instant vector argument", &other)),
        }
    }

    /// The series of a selector, loaded on first use. `ranged` drops stale markers (range
    /// selectors never return them).
    pub(crate) fn load(&mut self, vs: &VectorSelector, ranged: bool) -> Result<Arc<Vec<SelectedSeries>>> {
        let key = plan::node_key(vs);
        if let Some(d) = self.loaded.get(&key) {
            return Ok(d.clone());
        }
        let (mint, maxt) = *self
            .bounds
            .get(&key)
            .ok_or_else(|| Error::Execution("BUG: selector without a planned time range".into()))?;
        let matchers = plan::matchers(vs)?;
        let hints = SelectHints {
            mint_ms: mint,
            maxt_ms: maxt,
            max_samples: self.p.max_samples.saturating_sub(self.samples),
            deadline: self.p.deadline,
        };
        let mut series = self.src.select(&matchers, hints)?;
        if ranged {
            for s in &mut series {
                s.samples.retain(|x| !is_stale_nan(x.v));
            }
            series.retain(|s| !s.samples.is_empty());
        }
        self.account(series.iter().map(|s| s.samples.len()).sum())?;
        let d = Arc::new(series);
        self.loaded.insert(key, d.clone());
        Ok(d)
    }

    /// An instant vector selector at `ts`: per series, the newest sample at or before the
    /// reference time and no older than the lookback delta, unless it is a stale marker.
    pub(crate) fn select_instant(&mut self, vs: &VectorSelector, ts: i64) -> Result<Vector> {
        let reft = self.ref_time(&vs.at, &vs.offset, ts);
        let data = self.load(vs, false)?;
        let mut out = Vec::new();
        for s in data.iter() {
            let i = s.samples.partition_point(|x| x.t <= reft);
            if i == 0 {
                continue;
            }
            let x = s.samples[i - 1];
            if x.t < reft - self.p.lookback || is_stale_nan(x.v) {
                continue;
            }
            out.push(InstantSample {
                labels: s.labels.clone(),
                t: x.t,
                v: x.v,
            });
        }
        Ok(out)
    }

    /// A range selector at `ts`: per series, the samples in `[ref - range, ref]`.
    pub(crate) fn select_range(&mut self, ms: &MatrixSelector, ts: i64) -> Result<Matrix> {
        let maxt = self.ref_time(&ms.vs.at, &ms.vs.offset, ts);
        self.select_range_window(ms, maxt - plan::duration_ms(&ms.range), maxt)
    }

    /// A range selector's samples in `[mint, maxt]`, per series.
    pub(crate) fn select_range_window(&mut self, ms: &MatrixSelector, mint: i64, maxt: i64) -> Result<Matrix> {
        let data = self.load(&ms.vs, true)?;
        let mut out = Vec::new();
        for s in data.iter() {
            let a = s.samples.partition_point(|x| x.t < mint);
            let b = s.samples.partition_point(|x| x.t <= maxt);
            if a < b {
                out.push(RangeSeries {
                    labels: s.labels.clone(),
                    samples: s.samples[a..b].to_vec(),
                });
            }
        }
        Ok(out)
    }

    /// The step of a subquery (its own, or the default).
    pub(crate) fn subquery_step(&self, sq: &SubqueryExpr) -> i64 {
        sq.step
            .as_ref()
            .map(plan::duration_ms)
            .filter(|s| *s > 0)
            .unwrap_or(self.p.subquery_step)
    }

    /// A subquery at `ts`: the inner expression evaluated at every multiple of the step in
    /// `[ref - range, ref]`, grouped into series.
    pub(crate) fn subquery(&mut self, sq: &SubqueryExpr, ts: i64) -> Result<Matrix> {
        let reft = self.ref_time(&sq.at, &sq.offset, ts);
        let range = plan::duration_ms(&sq.range);
        let step = self.subquery_step(sq);
        let mint = reft - range;
        // First multiple of the step at or after mint (Go's truncating division, as Prometheus).
        let mut t = step * (mint / step);
        if t < mint {
            t += step;
        }
        // Every step holds at least a value: refuse before evaluating what cannot fit.
        let steps = usize::try_from((reft.saturating_sub(t) / step).max(0).saturating_add(1)).unwrap_or(usize::MAX);
        self.ensure_room(steps)?;
        let key = &*sq.expr as *const Expr as usize;
        if self.p.series_major
            && let Some(m) = self.subquery_from_columns(sq, key, t, reft)?
        {
            return Ok(m);
        }
        let mut by_labels: HashMap<Labels, Vec<nerve_storage::metrics::Sample>> = HashMap::new();
        let mut order: Vec<Labels> = Vec::new();
        while t <= reft {
            let v = match self.subquery_memo.get(&(key, t)) {
                Some(v) => v.clone(),
                None => {
                    let v = Arc::new(self.eval(&sq.expr, t)?);
                    if let StepValue::Vector(x) = &*v {
                        self.account(x.len())?;
                    }
                    self.subquery_memo.insert((key, t), v.clone());
                    v
                }
            };
            match &*v {
                StepValue::Scalar(x) => push_point(&mut by_labels, &mut order, Labels::empty(), t, *x),
                StepValue::Vector(vec) => {
                    for s in vec {
                        push_point(&mut by_labels, &mut order, s.labels.clone(), t, s.v);
                    }
                }
                other => return Err(type_error("subquery", other)),
            }
            t += step;
        }
        let mut out: Matrix = order
            .into_iter()
            .map(|l| {
                let samples = by_labels.remove(&l).unwrap_or_default();
                RangeSeries { labels: l, samples }
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }
}

impl Evaluator<'_> {
    /// A subquery's points in `[first, reft]` from its body computed series-major once for
    /// the whole query, when the body allows it and the window lies inside what was computed.
    fn subquery_from_columns(
        &mut self,
        sq: &SubqueryExpr,
        key: usize,
        first: i64,
        reft: i64,
    ) -> Result<Option<Matrix>> {
        if !self.subquery_columns.contains_key(&key) {
            let cols = self.subquery_columns_for(sq)?;
            self.subquery_columns.insert(key, cols);
        }
        let Some(Some((grid, m))) = self.subquery_columns.get(&key) else {
            return Ok(None);
        };
        // Every step in [first, reft] must have been computed.
        let last = grid.start + (grid.n as i64 - 1) * grid.step;
        if first < grid.start || reft >= last + grid.step {
            return Ok(None);
        }
        let mut out = Vec::new();
        for s in m {
            let a = s.samples.partition_point(|x| x.t < first);
            let b = s.samples.partition_point(|x| x.t <= reft);
            if a < b {
                out.push(RangeSeries {
                    labels: s.labels.clone(),
                    samples: s.samples[a..b].to_vec(),
                });
            }
        }
        Ok(Some(out))
    }

    /// The body of `sq` over every subquery step from the window of the query's start to the
    /// reference time of its end (`None`: not computable series-major).
    fn subquery_columns_for(&mut self, sq: &SubqueryExpr) -> Result<Option<(Grid, Matrix)>> {
        if !series_major::supported(&sq.expr) {
            return Ok(None);
        }
        let step = self.subquery_step(sq);
        let lo = self.ref_time(&sq.at, &sq.offset, self.p.start) - plan::duration_ms(&sq.range);
        let hi = self.ref_time(&sq.at, &sq.offset, self.p.end);
        let mut start = step * (lo / step);
        if start < lo {
            start += step;
        }
        if hi < start || (hi - start) / step >= 100_000 {
            return Ok(None);
        }
        let grid = Grid {
            start,
            step,
            n: usize::try_from((hi - start) / step).unwrap_or(0) + 1,
        };
        let Some(cols) = series_major::compute(self, &sq.expr, &grid)? else {
            return Ok(None);
        };
        self.account(cols.points())?;
        Ok(Some((grid, cols.into_matrix())))
    }
}

fn push_point(
    m: &mut HashMap<Labels, Vec<nerve_storage::metrics::Sample>>,
    order: &mut Vec<Labels>,
    l: Labels,
    t: i64,
    v: f64,
) {
    let e = m.entry(l.clone()).or_default();
    if e.is_empty() {
        order.push(l);
    }
    e.push(nerve_storage::metrics::Sample { t, v });
}

/// Prometheus' check that an operation did not produce two elements with one label set.
pub(crate) fn check_unique(v: &Vector) -> Result<()> {
    if v.len() < 2 {
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(v.len());
    for s in v {
        if !seen.insert(&s.labels) {
            return Err(Error::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
}

/// An error for a value of the wrong type (the parser's type checks make this rare).
pub(crate) fn type_error(what: &str, got: &StepValue) -> Error {
    Error::Execution(format!("unexpected {} for {what}", got.type_name()))
}
