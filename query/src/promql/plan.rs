//! From query text to something the evaluator can run: parsing with promql-parser, refusing
//! what Prometheus 2.42 does not accept (or what this engine does not implement yet), turning
//! selectors into storage matchers, and working out which time range every selector must load
//! (Prometheus' `getTimeRangesForSelector`).

use std::collections::HashMap;
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nerve_storage::labels::METRIC_NAME;
use nerve_storage::{MatchOp, Matcher};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::function::{Function, register_extra_functions};
use promql_parser::parser::token::{T_LIMIT_RATIO, T_LIMITK};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AtModifier, Expr, MatrixSelector, Offset, VectorSelector};

use crate::error::{Error, Result};

/// Functions promql-parser 0.11 knows but Prometheus 2.42 does not have.
pub(crate) const NOT_IN_PROMETHEUS_2_42: &[&str] = &[
    "histogram_avg",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_quantiles",
    "info",
    "double_exponential_smoothing",
    "mad_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
    "first_over_time",
    "max_of",
    "min_of",
    "range",
    "start",
    "end",
    "step",
    "start_timestamp",
    "sort_by_label",
    "sort_by_label_desc",
    "integral",
];

static REGISTER: Once = Once::new();

/// Parses a query as Prometheus 2.42 would, with its error text prefixed by a position.
///
/// promql-parser does not report where an error is, so a rejected query is re-read by
/// [`diagnose`](super::diagnose) for Prometheus' position and message (`1:1` and
/// promql-parser's text when it finds nothing).
///
/// Text longer or nested deeper than [`super::prescan`] allows is refused before anything
/// recurses over it.
pub fn parse(query: &str) -> Result<Expr> {
    super::prescan::check(query)?;
    REGISTER.call_once(|| {
        // Prometheus 2.42 still has holt_winters (renamed later); the parser no longer does.
        let hw = Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        );
        if let Err(e) = register_extra_functions(vec![hw]) {
            tracing::warn!(error = %e, "registering holt_winters with the PromQL parser");
        }
    });
    if query.trim().is_empty() {
        return Err(Error::BadData("1:1: parse error: no expression found in input".into()));
    }
    let positioned =
        |fallback: String| Error::BadData(super::diagnose::diagnose(query, NOT_IN_PROMETHEUS_2_42).unwrap_or(fallback));
    // promql-parser panics on some inputs (e.g. a range duration too large for `Duration`);
    // a query must never take a request handler down, so a panic becomes a parse error.
    let parsed = std::panic::catch_unwind(|| promql_parser::parser::parse(query))
        .map_err(|_| positioned("1:1: parse error: invalid expression (out-of-range number or duration)".into()))?;
    let expr = parsed.map_err(|e| positioned(format!("1:1: parse error: {e}")))?;
    // promql-parser accepts quoted label names (`{"a"="b"}`), Prometheus 2.42 does not.
    if quoted_label_name(query)
        && let Some(m) = super::diagnose::diagnose(query, NOT_IN_PROMETHEUS_2_42)
    {
        return Err(Error::BadData(m));
    }
    if let Err(e) = check(&expr) {
        return Err(match e {
            Error::BadData(m) => positioned(m),
            other => other,
        });
    }
    Ok(expr)
}

/// Whether a quote follows `{` or `,` (after spaces): a quoted label name, or a function's
/// string argument; either way [`super::diagnose`] decides.
fn quoted_label_name(query: &str) -> bool {
    let b = query.as_bytes();
    b.iter().enumerate().any(|(i, c)| {
        (*c == b'{' || *c == b',')
            && b[i + 1..]
                .iter()
                .find(|x| !x.is_ascii_whitespace())
                .is_some_and(|x| matches!(x, b'"' | b'\'' | b'`'))
    })
}

/// Refuses constructs Prometheus 2.42 rejects at parse time.
fn check(e: &Expr) -> Result<()> {
    let unknown = |what: &str| Err(Error::BadData(format!("1:1: parse error: {what}")));
    match e {
        Expr::Aggregate(a) => {
            let id = a.op.id();
            if id == T_LIMITK || id == T_LIMIT_RATIO {
                return unknown(&format!("unknown aggregation operator {}", a.op));
            }
            if let Some(p) = &a.param {
                check(p)?;
            }
            check(&a.expr)
        }
        Expr::Unary(u) => check(&u.expr),
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier
                && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
            {
                return unknown("fill modifiers are not supported by Prometheus 2.42");
            }
            check(&b.lhs)?;
            check(&b.rhs)
        }
        Expr::Paren(p) => check(&p.expr),
        Expr::Subquery(s) => check(&s.expr),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(vs) => check_selector(vs),
        Expr::MatrixSelector(ms) => check_selector(&ms.vs),
        Expr::Call(c) => {
            if NOT_IN_PROMETHEUS_2_42.contains(&c.func.name) {
                return unknown(&format!("unknown function with name {:?}", c.func.name));
            }
            c.args.args.iter().try_for_each(|a| check(a))
        }
        Expr::Extension(_) => Err(Error::NotSupported("extension expressions".into())),
    }
}

fn check_selector(vs: &VectorSelector) -> Result<()> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(Error::BadData(
            "1:1: parse error: `or` inside a selector is not supported by Prometheus 2.42".into(),
        ));
    }
    Ok(())
}

/// Storage matchers of a selector (the metric name first, when given by name).
pub fn matchers(vs: &VectorSelector) -> Result<Vec<Matcher>> {
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        let op = match m.op {
            PMatchOp::Equal => MatchOp::Equal,
            PMatchOp::NotEqual => MatchOp::NotEqual,
            PMatchOp::Re(_) => MatchOp::Regex,
            PMatchOp::NotRe(_) => MatchOp::NotRegex,
        };
        out.push(Matcher::new(op, m.name.clone(), m.value.clone())?);
    }
    Ok(out)
}

/// Milliseconds of a (non-negative) duration.
pub fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Signed milliseconds of an `offset` (0 when absent).
pub fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

/// Milliseconds since the epoch of a `SystemTime` (negative before 1970).
pub fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => duration_ms(&d),
        Err(e) => -duration_ms(&e.duration()),
    }
}

/// The fixed time of an `@` modifier, given the query's start and end (ms).
pub fn at_ms(at: &Option<AtModifier>, start: i64, end: i64) -> Option<i64> {
    at.as_ref().map(|a| match a {
        AtModifier::Start => start,
        AtModifier::End => end,
        AtModifier::At(t) => system_time_ms(t),
    })
}

/// Identity of a selector node inside one parsed expression (its address; the tree is not
/// moved while a query runs).
pub fn node_key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

/// Enclosing subqueries' accumulated offset and range, and the `@` time of the first one
/// carrying `@` (Prometheus' `subqueryTimes`).
#[derive(Clone, Copy, Default)]
struct Path {
    offset: i64,
    range: i64,
    at: Option<i64>,
}

/// The `[mint, maxt]` every selector of `e` must load for a query over `[start, end]` (ms).
pub fn selector_ranges(e: &Expr, start: i64, end: i64, lookback: i64) -> HashMap<usize, (i64, i64)> {
    let mut out = HashMap::new();
    walk(e, Path::default(), start, end, lookback, &mut out);
    out
}

fn bounds(vs: &VectorSelector, range: i64, p: Path, (start, end, lookback): (i64, i64, i64)) -> (i64, i64) {
    let (mut s, mut e) = match p.at {
        Some(t) => (t, t),
        None => (start, end),
    };
    match at_ms(&vs.at, start, end) {
        Some(t) => {
            s = t;
            e = t;
        }
        None => {
            s = s - p.offset - p.range;
            e -= p.offset;
        }
    }
    s -= if range == 0 { lookback } else { range };
    let o = offset_ms(&vs.offset);
    (s - o, e - o)
}

fn walk(e: &Expr, p: Path, start: i64, end: i64, lb: i64, out: &mut HashMap<usize, (i64, i64)>) {
    match e {
        Expr::VectorSelector(vs) => {
            out.insert(node_key(vs), bounds(vs, 0, p, (start, end, lb)));
        }
        Expr::MatrixSelector(MatrixSelector { vs, range }) => {
            out.insert(node_key(vs), bounds(vs, duration_ms(range).max(1), p, (start, end, lb)));
        }
        Expr::Subquery(sq) => {
            let mut q = p;
            q.offset += offset_ms(&sq.offset);
            q.range += duration_ms(&sq.range);
            if let Some(t) = at_ms(&sq.at, start, end) {
                q = Path {
                    offset: offset_ms(&sq.offset),
                    range: duration_ms(&sq.range),
                    at: Some(t),
                };
            }
            walk(&sq.expr, q, start, end, lb, out);
        }
        Expr::Aggregate(a) => {
            if let Some(x) = &a.param {
                walk(x, p, start, end, lb, out);
            }
            walk(&a.expr, p, start, end, lb, out);
        }
        Expr::Unary(u) => walk(&u.expr, p, start, end, lb, out),
        Expr::Binary(b) => {
            walk(&b.lhs, p, start, end, lb, out);
            walk(&b.rhs, p, start, end, lb, out);
        }
        Expr::Paren(x) => walk(&x.expr, p, start, end, lb, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, p, start, end, lb, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The fewest points the subqueries of `e` make the evaluator hold when it is evaluated at
/// every step of `[start, end]` (ms), counting one series per subquery step.
///
/// A subquery evaluates its body at every multiple of its step in its window; evaluations at
/// the same time are shared, so across all evaluations it needs `(span + range) / step + 1`
/// steps, where `span` is how far apart the times it is evaluated at lie (`end - start` at the
/// top, the enclosing subquery's span plus range inside one, 0 under `@`). Every step holds at
/// least one value, so a query whose count is above the sample limit can be refused before
/// anything is evaluated. Saturates instead of overflowing.
pub fn subquery_points(e: &Expr, start: i64, end: i64, default_step: i64) -> u64 {
    fn go(e: &Expr, span: u64, default_step: u64, total: &mut u64) {
        match e {
            Expr::Subquery(sq) => {
                let range = u64::try_from(duration_ms(&sq.range)).unwrap_or(u64::MAX);
                let step = sq
                    .step
                    .as_ref()
                    .map(|d| u64::try_from(duration_ms(d)).unwrap_or(u64::MAX))
                    .filter(|s| *s > 0)
                    .unwrap_or(default_step)
                    .max(1);
                let span = if sq.at.is_some() { 0 } else { span };
                let inner = span.saturating_add(range);
                *total = total.saturating_add((inner / step).saturating_add(1));
                go(&sq.expr, inner, default_step, total);
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    go(p, span, default_step, total);
                }
                go(&a.expr, span, default_step, total);
            }
            Expr::Unary(u) => go(&u.expr, span, default_step, total),
            Expr::Binary(b) => {
                go(&b.lhs, span, default_step, total);
                go(&b.rhs, span, default_step, total);
            }
            Expr::Paren(p) => go(&p.expr, span, default_step, total),
            Expr::Call(c) => c.args.args.iter().for_each(|a| go(a, span, default_step, total)),
            Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_)
            | Expr::Extension(_) => {}
        }
    }
    let mut total = 0;
    let span = u64::try_from(end.saturating_sub(start)).unwrap_or(0);
    go(e, span, u64::try_from(default_step).unwrap_or(1).max(1), &mut total);
    total
}

/// A Prometheus duration string (`5m`, `1h30m`) as a `Duration`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    promql_parser::util::parse_duration(s).map_err(Error::BadData)
}

/// The query reformatted as Prometheus' `format_query` does (promql-parser's `prettify`).
pub fn format_query(query: &str) -> Result<String> {
    Ok(parse(query)?.prettify())
}

/// Every vector selector of `e` (those inside range selectors included), in tree order.
pub fn selectors(e: &Expr) -> Vec<&VectorSelector> {
    fn go<'a>(e: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
        match e {
            Expr::VectorSelector(vs) => out.push(vs),
            Expr::MatrixSelector(ms) => out.push(&ms.vs),
            Expr::Subquery(s) => go(&s.expr, out),
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    go(p, out);
                }
                go(&a.expr, out);
            }
            Expr::Unary(u) => go(&u.expr, out),
            Expr::Binary(b) => {
                go(&b.lhs, out);
                go(&b.rhs, out);
            }
            Expr::Paren(p) => go(&p.expr, out),
            Expr::Call(c) => c.args.args.iter().for_each(|a| go(a, out)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    let mut out = Vec::new();
    go(e, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_2_42_lacks() {
        assert!(parse("sort_by_label(up, \"a\")").is_err());
        assert!(parse("limitk(1, up)").is_err());
        assert!(parse("").is_err());
        assert!(parse("holt_winters(up[5m], 0.5, 0.5)").is_ok());
        let e = parse("up{").unwrap_err().to_string();
        assert_eq!(e, "1:4: parse error: unexpected end of input inside braces");
    }

    #[test]
    fn ranges_follow_offsets_subqueries_and_at() {
        let e = parse("rate(x[5m] offset 1m)").unwrap();
        let r = selector_ranges(&e, 1_000_000, 2_000_000, 300_000);
        assert_eq!(
            r.values().next(),
            Some(&(1_000_000 - 300_000 - 60_000, 2_000_000 - 60_000))
        );
        let e = parse("max_over_time(x[10m:1m] offset 1m)").unwrap();
        let r = selector_ranges(&e, 1_000_000, 2_000_000, 300_000);
        assert_eq!(
            r.values().next(),
            Some(&(1_000_000 - 660_000 - 300_000, 2_000_000 - 60_000))
        );
        let e = parse("x @ 100").unwrap();
        let r = selector_ranges(&e, 1_000_000, 2_000_000, 300_000);
        assert_eq!(r.values().next(), Some(&(100_000 - 300_000, 100_000)));
    }

    #[test]
    fn subquery_points_count_steps_before_evaluation() {
        let pts = |q: &str, start, end| subquery_points(&parse(q).unwrap(), start, end, 60_000);
        assert_eq!(pts("rate(x[5m])", 0, 0), 0);
        // [10m:1m] at one time: 11 steps; over a 1 h range query the windows share steps.
        assert_eq!(pts("max_over_time(x[10m:1m])", 0, 0), 11);
        assert_eq!(pts("max_over_time(x[10m:1m])", 0, 3_600_000), 71);
        // The default step, and nesting: the inner one spans the outer's window.
        assert_eq!(pts("max_over_time(x[10m:])", 0, 0), 11);
        assert_eq!(pts("max_over_time(max_over_time(x[1m:1s])[10m:1m])", 0, 0), 11 + 661);
        // `@` pins the evaluation time: no span from the range query.
        assert_eq!(pts("max_over_time(x[10m:1m] @ 100)", 0, 3_600_000), 11);
        // The bomb of issue #21: far beyond any sample limit, computed without overflow.
        assert_eq!(pts("max_over_time(up[1y:1ms])", 0, 0), 31_536_000_001);
        assert!(pts("max_over_time(up[292y:1ms])[292y:1ms]", 0, i64::MAX) > 1 << 62);
    }
}
