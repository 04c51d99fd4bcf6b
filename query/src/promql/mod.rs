//! The PromQL engine: instant and range queries over a [`Queryable`], with Prometheus 2.42
//! semantics (5 m lookback, staleness markers, `offset`, `@`, subqueries, extrapolated rates,
//! `__name__` dropping, its matching errors) and limits (samples, timeout).
//!
//! Parsing is promql-parser's; [`plan`] refuses what Prometheus 2.42 does not accept and works
//! out selector time ranges; [`eval`] evaluates one step; [`binary`], [`aggregate`] and
//! [`functions`] implement the operators. Unimplemented parts fail with
//! [`Error::NotSupported`](crate::Error::NotSupported), never with a wrong number.

mod aggregate;
mod binary;
pub mod diagnose;
mod eval;
pub mod format;
mod functions;
pub mod labels;
pub mod plan;
pub mod prescan;
mod series_major;
pub mod source;
pub mod value;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nerve_storage::Labels;
use nerve_storage::metrics::Sample;
use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;

pub use source::{MemSource, Queryable, SelectHints, SelectedSeries};
pub use value::{InstantSample, Matrix, QueryValue, RangeSeries, Vector};

use self::eval::{EvalParams, Evaluator};
use self::value::StepValue;
use crate::error::{Error, Result};

/// Most points a range query may return per series (Prometheus' API limit).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5 m).
    pub lookback_delta: Duration,
    /// Longest a query may run (Prometheus: 2 m).
    pub timeout: Duration,
    /// Most samples a query may hold (Prometheus: 50 M).
    pub max_samples: usize,
    /// Step of subqueries written without one (Prometheus: the evaluation interval, 1 m).
    pub default_subquery_step: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: Duration::from_secs(300),
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            default_subquery_step: Duration::from_secs(60),
        }
    }
}

/// Runs PromQL queries. Cheap to clone; holds no state between queries.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    /// An engine with `opts`.
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// The engine's settings.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    fn params(&self, start: i64, end: i64, timeout: Option<Duration>) -> EvalParams {
        let timeout = timeout.map_or(self.opts.timeout, |t| t.min(self.opts.timeout));
        EvalParams {
            start,
            end,
            lookback: ms(self.opts.lookback_delta),
            subquery_step: ms(self.opts.default_subquery_step).max(1),
            max_samples: self.opts.max_samples,
            deadline: Instant::now().checked_add(timeout),
            series_major: true,
        }
    }

    /// Refuses, before anything is evaluated, a query whose subqueries alone would hold more
    /// than `max_samples` points over `[start, end]` ([`plan::subquery_points`]).
    fn check_cost(&self, expr: &Expr, start: i64, end: i64) -> Result<()> {
        let points = plan::subquery_points(expr, start, end, ms(self.opts.default_subquery_step).max(1));
        if points > u64::try_from(self.opts.max_samples).unwrap_or(u64::MAX) {
            return Err(Error::TooManySamples("query execution"));
        }
        Ok(())
    }

    /// Evaluates `query` at `t_ms`. `timeout` may only shorten the engine's own.
    pub fn instant(
        &self,
        src: &dyn Queryable,
        query: &str,
        t_ms: i64,
        timeout: Option<Duration>,
    ) -> Result<QueryValue> {
        let expr = plan::parse(query)?;
        self.instant_expr(src, &expr, t_ms, timeout)
    }

    /// Evaluates a parsed expression at `t_ms`.
    pub fn instant_expr(
        &self,
        src: &dyn Queryable,
        expr: &Expr,
        t_ms: i64,
        timeout: Option<Duration>,
    ) -> Result<QueryValue> {
        self.check_cost(expr, t_ms, t_ms)?;
        self.instant_with(src, expr, self.params(t_ms, t_ms, timeout))
    }

    /// Evaluates `expr` at `p.start` (= `p.end`).
    fn instant_with(&self, src: &dyn Queryable, expr: &Expr, p: EvalParams) -> Result<QueryValue> {
        let t_ms = p.start;
        let mut ev = Evaluator::new(src, expr, p);
        if p.series_major {
            // The series-major path serves one step too: it slices windows instead of copying
            // them.
            let grid = series_major::Grid {
                start: t_ms,
                step: 1,
                n: 1,
            };
            if series_major::supported(expr)
                && let Some(cols) = series_major::compute(&mut ev, expr, &grid)?
            {
                let samples = cols.into_steps(&grid).pop().unwrap_or_default();
                return Ok(QueryValue::Vector { t: t_ms, samples });
            }
            series_major::precompute(&mut ev, expr, &grid)?;
        }
        Ok(match ev.eval(expr, t_ms)? {
            StepValue::Scalar(v) => QueryValue::Scalar { t: t_ms, v },
            StepValue::String(s) => QueryValue::String { t: t_ms, s },
            StepValue::Vector(samples) => QueryValue::Vector {
                t: t_ms,
                samples: samples.into_iter().map(|s| InstantSample { t: t_ms, ..s }).collect(),
            },
            StepValue::Matrix(mut m) => {
                m.sort_by(|a, b| a.labels.cmp(&b.labels));
                QueryValue::Matrix(m)
            }
        })
    }

    /// Evaluates `query` at `start_ms`, `start_ms + step_ms`, … ≤ `end_ms`; the result is a
    /// matrix sorted by labels. The caller checks the API's limits on the number of steps.
    pub fn range(
        &self,
        src: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        timeout: Option<Duration>,
    ) -> Result<Matrix> {
        let expr = plan::parse(query)?;
        self.range_expr(src, &expr, start_ms, end_ms, step_ms, timeout)
    }

    /// [`Engine::range`] for a parsed expression.
    pub fn range_expr(
        &self,
        src: &dyn Queryable,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        timeout: Option<Duration>,
    ) -> Result<Matrix> {
        match expr.value_type() {
            ValueType::Vector | ValueType::Scalar => {}
            ValueType::Matrix => {
                return Err(Error::BadData(
                    "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into(),
                ));
            }
            ValueType::String => {
                return Err(Error::BadData(
                    "invalid expression type \"string\" for range query, must be Scalar or instant Vector".into(),
                ));
            }
        }
        if step_ms <= 0 || end_ms < start_ms {
            return Err(Error::BadData(
                "range query needs end >= start and a positive step".into(),
            ));
        }
        self.check_cost(expr, start_ms, end_ms)?;
        self.range_with(src, expr, step_ms, self.params(start_ms, end_ms, timeout))
    }

    /// Evaluates `expr` at every `step_ms` from `p.start` to `p.end`.
    fn range_with(&self, src: &dyn Queryable, expr: &Expr, step_ms: i64, p: EvalParams) -> Result<Matrix> {
        let (start_ms, end_ms) = (p.start, p.end);
        let mut ev = Evaluator::new(src, expr, p);
        let n = usize::try_from((end_ms - start_ms) / step_ms)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        // Very many steps would hold too many per-step vectors at once.
        if p.series_major && n <= 100_000 {
            let grid = series_major::Grid {
                start: start_ms,
                step: step_ms,
                n,
            };
            if series_major::supported(expr)
                && let Some(cols) = series_major::compute(&mut ev, expr, &grid)?
            {
                if cols.points() > self.opts.max_samples {
                    return Err(Error::TooManySamples("query execution"));
                }
                return Ok(cols.into_matrix());
            }
            series_major::precompute(&mut ev, expr, &grid)?;
        }
        let mut out = StepCollector::default();
        let mut points = 0usize;
        let mut t = start_ms;
        while t <= end_ms {
            match ev.eval(expr, t)? {
                StepValue::Scalar(v) => out.push_step(
                    t,
                    vec![InstantSample {
                        labels: Labels::empty(),
                        t,
                        v,
                    }],
                ),
                StepValue::Vector(vec) => {
                    points += vec.len();
                    out.push_step(t, vec);
                }
                other => return Err(eval::type_error("range query result", &other)),
            }
            ev.account(0)?;
            if points > self.opts.max_samples {
                return Err(Error::TooManySamples("query execution"));
            }
            t = match t.checked_add(step_ms) {
                Some(n) => n,
                None => break,
            };
        }
        let mut m = out.series;
        m.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(m)
    }
}

/// Gathers per-step vectors into series. Steps mostly list the same label sets in the same
/// order, so a sample is first compared with the series its position held at the previous
/// step; only on a miss are its labels hashed.
#[derive(Default)]
struct StepCollector {
    series: Matrix,
    index: HashMap<Labels, usize>,
    prev: Vec<usize>,
}

impl StepCollector {
    fn push_step(&mut self, t: i64, vec: Vector) {
        let mut cur = Vec::with_capacity(vec.len());
        for (i, s) in vec.into_iter().enumerate() {
            let j = match self.prev.get(i) {
                Some(&j) if self.series[j].labels == s.labels => j,
                _ => match self.index.get(&s.labels) {
                    Some(&j) => j,
                    None => {
                        let j = self.series.len();
                        self.index.insert(s.labels.clone(), j);
                        self.series.push(RangeSeries {
                            labels: s.labels,
                            samples: Vec::new(),
                        });
                        j
                    }
                },
            };
            self.series[j].samples.push(Sample { t, v: s.v });
            cur.push(j);
        }
        self.prev = cur;
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod paths_props;
#[cfg(test)]
mod tests;
