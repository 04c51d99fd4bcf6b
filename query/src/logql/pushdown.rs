//! Facts about a parsed query the storage and HTTP layers need: the substrings every line must
//! contain (full-text pushdown) and the stream selectors.

use nerve_storage::Matcher;

use nerve_storage::MatchOp;

use super::ast::{Expr, Grouping, LabelFilter, LineFilterOp, LineMatcher, LogExpr, RangeAgg, RangeOp, Stage, VecOp};

/// Substrings a raw line must contain to pass `log`'s pipeline: the single-literal `|=`
/// filters met before any stage that rewrites the line (`line_format`, `decolorize`,
/// `unpack`). Filters with `or` alternatives and empty literals are not pushed down.
pub fn pushdown_for(log: &LogExpr) -> Vec<String> {
    let mut out = Vec::new();
    for st in &log.stages {
        match st {
            Stage::LineFormat(_) | Stage::Decolorize | Stage::Unpack => break,
            Stage::LineFilter(f) if f.op == LineFilterOp::Contains && f.alts.len() == 1 => {
                if let LineMatcher::Literal(s) = &f.alts[0]
                    && !s.is_empty()
                    && !out.contains(s)
                {
                    out.push(s.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// The trace id `log`'s entries must carry as their `trace_id` label, when that is decided
/// before any stage could set the label: a `| trace_id="<32 lowercase hex digits>"` filter
/// (alone or under `and`) met before a parser or `label_format`. (`drop`/`keep` only remove
/// labels, so a filter after them still requires the entry's own id.)
pub fn pushdown_trace_id(log: &LogExpr) -> Option<String> {
    fn required(f: &LabelFilter) -> Option<String> {
        match f {
            LabelFilter::And(a, b) => required(a).or_else(|| required(b)),
            LabelFilter::Str(m)
                if m.name == "trace_id"
                    && m.op == MatchOp::Equal
                    && m.value.len() == 32
                    && m.value
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    && m.value.bytes().any(|b| b != b'0') =>
            {
                Some(m.value.clone())
            }
            _ => None,
        }
    }
    for st in &log.stages {
        match st {
            Stage::Json(_)
            | Stage::Logfmt { .. }
            | Stage::Regexp(_)
            | Stage::Pattern(_)
            | Stage::Unpack
            | Stage::LabelFormat(_) => return None,
            Stage::LabelFilter(f) => {
                if let Some(t) = required(f) {
                    return Some(t);
                }
            }
            _ => {}
        }
    }
    None
}

/// The pushed-down substrings of the whole query: those required by every selector in it
/// (for a single selector, exactly [`pushdown_for`]; the evaluator itself pushes down per
/// selector).
pub fn pushdown_contains(e: &Expr) -> Vec<String> {
    let logs = log_exprs(e);
    let Some((first, rest)) = logs.split_first() else {
        return Vec::new();
    };
    let mut out = pushdown_for(first);
    for l in rest {
        let other = pushdown_for(l);
        out.retain(|s| other.contains(s));
    }
    out
}

/// The matchers of every stream selector in the query, in order of appearance (for the
/// labels/series endpoints, which accept LogQL selectors).
pub fn selector_matchers(e: &Expr) -> Vec<Vec<Matcher>> {
    log_exprs(e).into_iter().map(|l| l.matchers.clone()).collect()
}

/// Every log expression in the query, in order.
pub fn log_exprs(e: &Expr) -> Vec<&LogExpr> {
    let mut out = Vec::new();
    walk(e, &mut |x| match x {
        Expr::Log(l) => out.push(l),
        Expr::RangeAgg(r) => out.push(&r.range.log),
        _ => {}
    });
    out
}

/// Every range aggregation in the query, in order.
pub fn range_aggs(e: &Expr) -> Vec<&RangeAgg> {
    let mut out = Vec::new();
    walk(e, &mut |x| {
        if let Expr::RangeAgg(r) = x {
            out.push(r);
        }
    });
    out
}

/// The outer grouping a range aggregation may extract its series under, as Loki injects it: a
/// `sum` straight over `count_over_time`, `rate`, `bytes_over_time`, `bytes_rate` or
/// `sum_over_time` without a grouping of its own only needs the labels the sum keeps (`sum`
/// without `by` keeps none), and these range operations add up across merged series.
pub fn injected_groupings(e: &Expr) -> Vec<(&RangeAgg, Grouping)> {
    let mut out = Vec::new();
    walk(e, &mut |x| {
        if let Expr::VectorAgg(v) = x
            && v.op == VecOp::Sum
            && let Expr::RangeAgg(r) = v.inner.as_ref()
            && r.grouping.is_none()
            && matches!(
                r.op,
                RangeOp::Count | RangeOp::Rate | RangeOp::Bytes | RangeOp::BytesRate | RangeOp::Sum
            )
        {
            let g = v.grouping.clone().unwrap_or(Grouping {
                without: false,
                labels: Vec::new(),
            });
            out.push((r, g));
        }
    });
    out
}

fn walk<'a>(e: &'a Expr, f: &mut dyn FnMut(&'a Expr)) {
    f(e);
    match e {
        Expr::VectorAgg(v) => walk(&v.inner, f),
        Expr::Binary(b) => {
            walk(&b.lhs, f);
            walk(&b.rhs, f);
        }
        Expr::LabelReplace(l) => walk(&l.inner, f),
        _ => {}
    }
}
