//! Query drivers: log queries over a time range, and metric queries at one time or over
//! steps. See the module docs of [`super`] for the semantics.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::time::Instant;

use nerve_storage::Labels;

use super::ast::{Expr, LogExpr, VecOp};
use super::extract;
use super::labels_builder::LabelsBuilder;
use super::parser::parse;
use super::pushdown::{injected_groupings, pushdown_for, pushdown_trace_id, range_aggs};
use super::source::{Direction, LogSource, Select};
use super::stages;
use super::step::{Evaluator, StepValue, node_key};
use super::value::{Limits, LogLine, LogValue, Sample, SeriesOut};
use crate::error::{Error, Result};

/// Most points a range query may return per series (Loki's resolution limit).
pub const MAX_POINTS: i64 = 11_000;

/// Loki's error for log queries sent to the instant endpoint.
pub const INSTANT_LOG_QUERY_ERR: &str =
    "log queries are not supported as an instant query type, please change your query to a range query type";

fn check_deadline(limits: &Limits) -> Result<()> {
    match limits.deadline {
        Some(d) if Instant::now() > d => Err(Error::Timeout("logql evaluation")),
        _ => Ok(()),
    }
}

fn series_limit_err(n: usize) -> Error {
    Error::BadData(format!(
        "maximum number of series ({n}) reached for a single query; consider reducing query cardinality by adding more specific stream selectors, reducing the time range, or aggregating results with functions like sum(), count() or topk()"
    ))
}

/// Parses and runs an instant query at `time_ns`. Log queries are refused, as in Loki 3.
pub fn eval_instant(
    src: &dyn LogSource,
    query: &str,
    time_ns: i64,
    limit: usize,
    direction: Direction,
    limits: &Limits,
) -> Result<LogValue> {
    eval_instant_expr(src, &parse(query)?, time_ns, limit, direction, limits)
}

/// [`eval_instant`] for an already parsed query.
pub fn eval_instant_expr(
    src: &dyn LogSource,
    expr: &Expr,
    time_ns: i64,
    _limit: usize,
    _direction: Direction,
    limits: &Limits,
) -> Result<LogValue> {
    if expr.is_log() {
        return Err(Error::BadData(INSTANT_LOG_QUERY_ERR.into()));
    }
    let ev = prepare(src, expr, time_ns, time_ns, limits)?;
    check_deadline(limits)?;
    Ok(match ev.eval(expr, time_ns)? {
        StepValue::Scalar(v) => LogValue::Scalar(time_ns, v),
        StepValue::Vector(mut v) => {
            if limits.max_series > 0 && v.len() > limits.max_series {
                return Err(series_limit_err(limits.max_series));
            }
            if !matches!(expr, Expr::VectorAgg(va) if matches!(va.op, VecOp::Sort | VecOp::SortDesc)) {
                v.sort_by(|a, b| a.0.cmp(&b.0));
            }
            LogValue::Vector(
                v.into_iter()
                    .map(|(labels, value)| Sample {
                        labels,
                        ts_ns: time_ns,
                        value,
                    })
                    .collect(),
            )
        }
    })
}

/// Parses and runs a range query. Log queries return up to `limit` lines (0 = no limit) in
/// `[start_ns, end_ns)` in `direction` order, at most one per `interval_ns` per label set when
/// given; metric queries are evaluated at `start_ns, start_ns + step_ns, ... <= end_ns`.
#[allow(clippy::too_many_arguments)]
pub fn eval_range(
    src: &dyn LogSource,
    query: &str,
    start_ns: i64,
    end_ns: i64,
    step_ns: i64,
    interval_ns: Option<i64>,
    limit: usize,
    direction: Direction,
    limits: &Limits,
) -> Result<LogValue> {
    let expr = parse(query)?;
    eval_range_expr(
        src,
        &expr,
        start_ns,
        end_ns,
        step_ns,
        interval_ns,
        limit,
        direction,
        limits,
    )
}

/// [`eval_range`] for an already parsed query.
#[allow(clippy::too_many_arguments)]
pub fn eval_range_expr(
    src: &dyn LogSource,
    expr: &Expr,
    start_ns: i64,
    end_ns: i64,
    step_ns: i64,
    interval_ns: Option<i64>,
    limit: usize,
    direction: Direction,
    limits: &Limits,
) -> Result<LogValue> {
    if let Expr::Log(l) = expr {
        return eval_logs(src, l, start_ns, end_ns, interval_ns, limit, direction, limits);
    }
    if step_ns <= 0 {
        return Err(Error::BadData(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if end_ns < start_ns {
        return Err(Error::BadData("end timestamp must not be before start time".into()));
    }
    if (end_ns - start_ns) / step_ns >= MAX_POINTS {
        return Err(Error::BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                .into(),
        ));
    }
    let ev = prepare(src, expr, start_ns, end_ns, limits)?;
    let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut t = start_ns;
    while t <= end_ns {
        check_deadline(limits)?;
        match ev.eval(expr, t)? {
            StepValue::Scalar(v) => out.entry(Labels::empty()).or_default().push((t, v)),
            StepValue::Vector(v) => {
                for (l, x) in v {
                    out.entry(l).or_default().push((t, x));
                }
            }
        }
        if limits.max_series > 0 && out.len() > limits.max_series {
            return Err(series_limit_err(limits.max_series));
        }
        t += step_ns;
    }
    Ok(LogValue::Matrix(
        out.into_iter()
            .map(|(labels, points)| SeriesOut { labels, points })
            .collect(),
    ))
}

/// Selects and extracts the samples of every range aggregation for steps in `[start, end]`.
fn prepare(src: &dyn LogSource, expr: &Expr, start_ns: i64, end_ns: i64, limits: &Limits) -> Result<Evaluator> {
    let mut series = HashMap::new();
    let injected = injected_groupings(expr);
    for ra in range_aggs(expr) {
        let grouping = injected
            .iter()
            .find(|(r, _)| std::ptr::eq(*r, ra))
            .map(|(_, g)| g)
            .or(ra.grouping.as_ref());
        let off = ra.range.offset_ns;
        // Windows are (t - off - range, t - off]: select [first + 1, last + 1).
        let sel_start = start_ns
            .saturating_sub(off)
            .saturating_sub(ra.range.range_ns)
            .saturating_add(1);
        let sel_end = end_ns.saturating_sub(off).saturating_add(1);
        series.insert(
            node_key(ra),
            extract::collect(src, ra, grouping, sel_start, sel_end, limits)?,
        );
    }
    Ok(Evaluator { series })
}

#[allow(clippy::too_many_arguments)]
fn eval_logs(
    src: &dyn LogSource,
    log: &LogExpr,
    start_ns: i64,
    end_ns: i64,
    interval_ns: Option<i64>,
    limit: usize,
    direction: Direction,
    limits: &Limits,
) -> Result<LogValue> {
    if limits.max_entries > 0 && limit > limits.max_entries {
        return Err(Error::BadData(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {})",
            limits.max_entries
        )));
    }
    let req = Select {
        matchers: log.matchers.clone(),
        start_ns,
        end_ns,
        direction,
        contains: pushdown_for(log),
        trace_id: pushdown_trace_id(log),
    };
    let interval = interval_ns.filter(|i| *i > 0);
    let mut last_kept: HashMap<Labels, i64> = HashMap::new();
    let mut out: Vec<LogLine> = Vec::new();
    let mut seen = 0usize;
    let mut timed_out = false;
    src.select(&req, &mut |e| {
        seen += 1;
        // The first entry and every 256th after it: a query whose deadline passed while it
        // waited fails even when it would stop after a few lines.
        if seen % 256 == 1 && limits.deadline.is_some_and(|d| Instant::now() > d) {
            timed_out = true;
            return ControlFlow::Break(());
        }
        let mut lb = LabelsBuilder::new(e.labels, e.metadata);
        let Some(line) = stages::run(&log.stages, e.ts_ns, Cow::Borrowed(e.line), &mut lb) else {
            return ControlFlow::Continue(());
        };
        let (stream, structured_metadata, parsed) = lb.categorized();
        let entry = LogLine {
            stream,
            structured_metadata,
            parsed,
            ts_ns: e.ts_ns,
            line: line.into_owned(),
        };
        if let Some(iv) = interval {
            let key = entry.full_labels();
            if let Some(&prev) = last_kept.get(&key) {
                let gap = if direction == Direction::Forward {
                    e.ts_ns - prev
                } else {
                    prev - e.ts_ns
                };
                if gap < iv {
                    return ControlFlow::Continue(());
                }
            }
            last_kept.insert(key, e.ts_ns);
        }
        out.push(entry);
        if limit > 0 && out.len() >= limit {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    if timed_out {
        return Err(Error::Timeout("logql log query"));
    }
    Ok(LogValue::Streams(out))
}
