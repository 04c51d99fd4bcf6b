//! TraceQL, the subset Grafana's Tempo search sends: spanset filters `{ … }` joined by `&&`
//! and `||`, conditions on intrinsics and attributes combined with `&&`, `||`, `!` and
//! parentheses.
//!
//! A query is a set expression over its filters. [`Filter::matches`] tests one span; the
//! search engine records which filters some span of a trace matched and asks
//! [`Query::contributing`] which of them make up the trace's result spanset (none: the trace
//! does not match). `{a} && {b}` needs both filters matched in the trace and returns the
//! spans of both; `{a} || {b}` returns those of either.
//!
//! Supported:
//! - intrinsics `name`, `status`, `statusMessage`, `kind`, `duration`, `rootName`,
//!   `rootServiceName`, `traceDuration`, and the scoped forms `span:name`, `span:status`,
//!   `span:statusMessage`, `span:kind`, `span:duration`, `span:id`, `span:parentID`,
//!   `trace:id`, `trace:rootName`, `trace:rootService`, `trace:duration`, `event:name`,
//!   `link:traceID`, `link:spanID`, `instrumentation:name`, `instrumentation:version`;
//! - attributes `.x` (span or resource), `span.x`, `resource.x`, `event.x`, `link.x`,
//!   `instrumentation.x`, names quoted when they hold special characters;
//! - operators `=`, `!=`, `>`, `>=`, `<`, `<=`, `=~`, `!~` (regexes fully anchored, as in
//!   Tempo), literals strings, integers, floats, durations, `true`/`false`, `nil`, status
//!   (`error`, `ok`, `unset`) and kind values.
//!
//! Comparisons are typed: a missing attribute or a value of another type never matches
//! (except `= nil`), and an array attribute matches when one of its elements does.
//! Pipelines (`| count()`, `| select(…)`, `| by(…)`), structural operators (`>>`, `>`, `~`,
//! …), arithmetic and the `parent.` scope are rejected with a parse error saying so.

mod eval;
mod lexer;
mod parser;

use nerve_storage::traces::{AttrValue, Span};
use regex::Regex;

pub use lexer::AttrScope;

use crate::error::{Error, Result};

/// The most spanset filters one query may hold.
pub const MAX_FILTERS: usize = 64;
/// The deepest nesting of parentheses, `!` and operators a query may use.
pub const MAX_DEPTH: usize = 64;

/// A parsed TraceQL query.
#[derive(Clone, Debug)]
pub struct Query {
    filters: Vec<Filter>,
    expr: SetExpr,
}

/// One spanset filter `{ … }`.
#[derive(Clone, Debug)]
pub struct Filter {
    cond: Cond,
}

/// Facts about a whole trace that trace-level intrinsics (`rootName`, `rootServiceName`,
/// `traceDuration`) compare against.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceFacts {
    /// The root span's name, when the root span is known.
    pub root_name: Option<String>,
    /// The root span's service, when the root span is known.
    pub root_service: Option<String>,
    /// Latest span end minus earliest span start (ns).
    pub duration_ns: u64,
}

/// How filters combine into the query's result.
#[derive(Clone, Debug)]
enum SetExpr {
    Filter(usize),
    And(Box<SetExpr>, Box<SetExpr>),
    Or(Box<SetExpr>, Box<SetExpr>),
}

/// A condition inside a filter.
#[derive(Clone, Debug)]
enum Cond {
    Const(bool),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Cmp(Box<Cmp>),
}

/// `field op literal`.
#[derive(Clone, Debug)]
struct Cmp {
    field: Field,
    op: Op,
    lit: Lit,
    /// The anchored regex of `=~` / `!~`.
    re: Option<Regex>,
}

/// What a comparison reads from a span.
#[derive(Clone, Debug, PartialEq)]
enum Field {
    Attr(AttrScope, String),
    Intrinsic(Intrinsic),
}

/// Span and trace intrinsics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Intrinsic {
    Name,
    Status,
    StatusMessage,
    Kind,
    Duration,
    SpanId,
    ParentId,
    TraceId,
    RootName,
    RootService,
    TraceDuration,
    EventName,
    LinkTraceId,
    LinkSpanId,
    ScopeName,
    ScopeVersion,
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Re,
    Nre,
}

/// Literal values.
#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Duration(u64),
    Status(nerve_storage::traces::StatusCode),
    Kind(nerve_storage::traces::SpanKind),
    Nil,
}

/// Parses a TraceQL query; errors read `parse error at line L, col C: …`.
pub fn parse(text: &str) -> Result<Query> {
    parser::parse(text)
}

/// A parse error at byte `offset` of `src`.
fn syntax_error(src: &str, offset: usize, msg: String) -> Error {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Error::BadData(format!("parse error at line {line}, col {col}: {msg}"))
}

impl Query {
    /// The query's spanset filters, in the order written.
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// True when some filter compares a trace-level intrinsic, so the search must know
    /// [`TraceFacts`].
    pub fn needs_trace(&self) -> bool {
        self.filters.iter().any(|f| f.cond.needs_trace())
    }

    /// Given which filters some span of a trace matched, the bit set of filters whose spans
    /// form the trace's result (0: the trace does not match).
    pub fn contributing(&self, matched: &dyn Fn(usize) -> bool) -> u64 {
        self.expr.contributing(matched)
    }

    /// What every matching span must have, for skipping storage blocks: its service (when
    /// every filter requires one and the same `resource.service.name`) and its shortest
    /// duration.
    pub fn hint(&self) -> (Option<String>, u64) {
        let mut hints = self.filters.iter().map(|f| f.cond.hint());
        let Some(first) = hints.next() else {
            return (None, 0);
        };
        hints.fold(first, |(svc, dur), (s, d)| {
            let svc = match (svc, s) {
                (Some(a), Some(b)) if a == b => Some(a),
                _ => None,
            };
            (svc, dur.min(d))
        })
    }

    /// The attributes and intrinsics (`status`, `kind`, `statusMessage`) the query refers
    /// to, with `span`'s values, as Tempo lists them on matched spans.
    pub fn matched_attributes(&self, span: &Span) -> Vec<(String, AttrValue)> {
        let mut fields: Vec<&Field> = Vec::new();
        for f in &self.filters {
            f.cond.fields(&mut fields);
        }
        let mut out: Vec<(String, AttrValue)> = Vec::new();
        for field in fields {
            let Some((key, value)) = eval::shown_value(field, span) else {
                continue;
            };
            if !out.iter().any(|(k, _)| *k == key) {
                out.push((key, value));
            }
        }
        out
    }
}

impl Filter {
    /// True when `span` satisfies the filter; `trace` holds the facts of its trace when the
    /// query [needs](Query::needs_trace) them (without them trace intrinsics are unknown).
    pub fn matches(&self, span: &Span, trace: Option<&TraceFacts>) -> bool {
        self.cond.eval(span, trace)
    }
}

impl SetExpr {
    fn contributing(&self, matched: &dyn Fn(usize) -> bool) -> u64 {
        match self {
            SetExpr::Filter(i) => {
                if *i < 64 && matched(*i) {
                    1 << i
                } else {
                    0
                }
            }
            SetExpr::And(a, b) => {
                let (x, y) = (a.contributing(matched), b.contributing(matched));
                if x != 0 && y != 0 { x | y } else { 0 }
            }
            SetExpr::Or(a, b) => a.contributing(matched) | b.contributing(matched),
        }
    }
}

impl Cond {
    fn needs_trace(&self) -> bool {
        match self {
            Cond::Const(_) => false,
            Cond::Not(c) => c.needs_trace(),
            Cond::And(a, b) | Cond::Or(a, b) => a.needs_trace() || b.needs_trace(),
            Cond::Cmp(c) => matches!(
                c.field,
                Field::Intrinsic(Intrinsic::RootName | Intrinsic::RootService | Intrinsic::TraceDuration)
            ),
        }
    }

    /// Service and shortest duration every span satisfying the condition has.
    fn hint(&self) -> (Option<String>, u64) {
        match self {
            Cond::And(a, b) => {
                let (sa, da) = a.hint();
                let (sb, db) = b.hint();
                (sa.or(sb), da.max(db))
            }
            Cond::Cmp(c) => match (&c.field, c.op, &c.lit) {
                (Field::Attr(AttrScope::Resource, k), Op::Eq, Lit::Str(v)) if k == "service.name" => {
                    (Some(v.clone()), 0)
                }
                (Field::Intrinsic(Intrinsic::Duration), Op::Gt | Op::Ge, Lit::Duration(d)) => (None, *d),
                _ => (None, 0),
            },
            _ => (None, 0),
        }
    }

    fn fields<'a>(&'a self, out: &mut Vec<&'a Field>) {
        match self {
            Cond::Const(_) => {}
            Cond::Not(c) => c.fields(out),
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.fields(out);
                b.fields(out);
            }
            Cond::Cmp(c) => out.push(&c.field),
        }
    }
}

#[cfg(test)]
mod tests;
