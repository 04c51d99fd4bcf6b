//! Evaluating filter conditions against one span: typed comparisons where a missing value or
//! one of another type never matches (only `= nil` matches absence).

use std::borrow::Cow;
use std::cmp::Ordering;

use nerve_storage::traces::{AttrValue, KeyValue, Span, SpanKind, StatusCode, find_attr, hex};

use super::{AttrScope, Cmp, Cond, Field, Intrinsic, Lit, Op, TraceFacts};

/// An intrinsic's value.
enum IVal<'a> {
    Str(Cow<'a, str>),
    Dur(u64),
    Status(StatusCode),
    Kind(SpanKind),
}

impl Cond {
    pub(super) fn eval(&self, span: &Span, trace: Option<&TraceFacts>) -> bool {
        match self {
            Cond::Const(b) => *b,
            Cond::Not(c) => !c.eval(span, trace),
            Cond::And(a, b) => a.eval(span, trace) && b.eval(span, trace),
            Cond::Or(a, b) => a.eval(span, trace) || b.eval(span, trace),
            Cond::Cmp(c) => c.eval(span, trace),
        }
    }
}

impl Cmp {
    fn eval(&self, span: &Span, trace: Option<&TraceFacts>) -> bool {
        let mut found = false;
        let mut hit = false;
        match &self.field {
            Field::Attr(scope, name) => attr_values(*scope, name, span, &mut |v| {
                found = true;
                hit = hit || self.value_matches(v);
            }),
            Field::Intrinsic(i) => intrinsic_values(*i, span, trace, &mut |v| {
                found = true;
                hit = hit || self.intrinsic_matches(&v);
            }),
        }
        match (&self.lit, self.op) {
            (Lit::Nil, Op::Eq) => !found,
            (Lit::Nil, _) => found,
            _ => hit,
        }
    }

    /// An attribute value against the literal; arrays match through any element (`!=` and
    /// `!~` through all of them).
    fn value_matches(&self, v: &AttrValue) -> bool {
        match v {
            AttrValue::Array(items) if matches!(self.op, Op::Ne | Op::Nre) => {
                !items.is_empty() && items.iter().all(|x| self.scalar_matches(x))
            }
            AttrValue::Array(items) => items.iter().any(|x| self.scalar_matches(x)),
            v => self.scalar_matches(v),
        }
    }

    fn scalar_matches(&self, v: &AttrValue) -> bool {
        match (v, &self.lit) {
            (AttrValue::Str(s), Lit::Str(l)) => self.str_matches(s, l),
            (AttrValue::Int(x), Lit::Int(y)) => ordering_satisfies(x.cmp(y), self.op),
            (AttrValue::Int(_) | AttrValue::Double(_), Lit::Int(_) | Lit::Float(_)) => {
                let x = match v {
                    AttrValue::Int(i) => *i as f64,
                    AttrValue::Double(d) => *d,
                    _ => f64::NAN,
                };
                let y = match self.lit {
                    Lit::Int(i) => i as f64,
                    Lit::Float(f) => f,
                    _ => f64::NAN,
                };
                x.partial_cmp(&y).is_some_and(|o| ordering_satisfies(o, self.op))
            }
            (AttrValue::Bool(x), Lit::Bool(y)) => ordering_satisfies(x.cmp(y), self.op),
            _ => false,
        }
    }

    fn str_matches(&self, s: &str, lit: &str) -> bool {
        match (&self.re, self.op) {
            (Some(re), Op::Re) => re.is_match(s),
            (Some(re), Op::Nre) => !re.is_match(s),
            _ => ordering_satisfies(s.cmp(lit), self.op),
        }
    }

    fn intrinsic_matches(&self, v: &IVal<'_>) -> bool {
        match (v, &self.lit) {
            (IVal::Str(s), Lit::Str(l)) => self.str_matches(s, l),
            (IVal::Dur(x), Lit::Duration(y)) => ordering_satisfies(x.cmp(y), self.op),
            (IVal::Status(x), Lit::Status(y)) => ordering_satisfies(x.cmp(y), self.op),
            (IVal::Kind(x), Lit::Kind(y)) => ordering_satisfies(x.cmp(y), self.op),
            _ => false,
        }
    }
}

/// Whether `o` (left compared with right) satisfies `op`; regex operators never do here.
pub(super) fn ordering_satisfies(o: Ordering, op: Op) -> bool {
    match op {
        Op::Eq => o == Ordering::Equal,
        Op::Ne => o != Ordering::Equal,
        Op::Gt => o == Ordering::Greater,
        Op::Ge => o != Ordering::Less,
        Op::Lt => o == Ordering::Less,
        Op::Le => o != Ordering::Greater,
        Op::Re | Op::Nre => false,
    }
}

/// Calls `f` with every value attribute `name` has in `scope` on `span`.
fn attr_values(scope: AttrScope, name: &str, span: &Span, f: &mut dyn FnMut(&AttrValue)) {
    let mut one = |attrs: &[KeyValue]| {
        if let Some(v) = find_attr(attrs, name) {
            f(v);
        }
    };
    match scope {
        AttrScope::Unscoped => {
            one(&span.attributes);
            one(&span.resource.attributes);
        }
        AttrScope::Span => one(&span.attributes),
        AttrScope::Resource => one(&span.resource.attributes),
        AttrScope::Instrumentation => one(&span.scope.attributes),
        AttrScope::Event => span.events.iter().for_each(|e| one(&e.attributes)),
        AttrScope::Link => span.links.iter().for_each(|l| one(&l.attributes)),
    }
}

/// Calls `f` with every value intrinsic `i` has for `span` (none when unknown).
fn intrinsic_values(i: Intrinsic, span: &Span, trace: Option<&TraceFacts>, f: &mut dyn FnMut(IVal<'_>)) {
    let s = |x: &str| IVal::Str(Cow::Owned(x.to_owned()));
    match i {
        Intrinsic::Name => f(IVal::Str(Cow::Borrowed(&span.name))),
        Intrinsic::Status => f(IVal::Status(span.status_code)),
        Intrinsic::StatusMessage => f(IVal::Str(Cow::Borrowed(&span.status_message))),
        Intrinsic::Kind => f(IVal::Kind(span.kind)),
        Intrinsic::Duration => f(IVal::Dur(span.duration_ns())),
        Intrinsic::SpanId => f(IVal::Str(Cow::Owned(hex(&span.span_id)))),
        Intrinsic::ParentId if span.is_root() => {}
        Intrinsic::ParentId => f(IVal::Str(Cow::Owned(hex(&span.parent_span_id)))),
        Intrinsic::TraceId => f(IVal::Str(Cow::Owned(hex(&span.trace_id)))),
        Intrinsic::RootName => {
            if let Some(n) = trace.and_then(|t| t.root_name.as_deref()) {
                f(s(n));
            }
        }
        Intrinsic::RootService => {
            if let Some(n) = trace.and_then(|t| t.root_service.as_deref()) {
                f(s(n));
            }
        }
        Intrinsic::TraceDuration => {
            if let Some(t) = trace {
                f(IVal::Dur(t.duration_ns));
            }
        }
        Intrinsic::EventName => span.events.iter().for_each(|e| f(IVal::Str(Cow::Borrowed(&e.name)))),
        Intrinsic::LinkTraceId => span
            .links
            .iter()
            .for_each(|l| f(IVal::Str(Cow::Owned(hex(&l.trace_id))))),
        Intrinsic::LinkSpanId => span
            .links
            .iter()
            .for_each(|l| f(IVal::Str(Cow::Owned(hex(&l.span_id))))),
        Intrinsic::ScopeName if span.scope.name.is_empty() => {}
        Intrinsic::ScopeName => f(IVal::Str(Cow::Borrowed(&span.scope.name))),
        Intrinsic::ScopeVersion if span.scope.version.is_empty() => {}
        Intrinsic::ScopeVersion => f(IVal::Str(Cow::Borrowed(&span.scope.version))),
    }
}

/// An intrinsic's TraceQL spelling.
pub(super) fn intrinsic_name(i: Intrinsic) -> &'static str {
    match i {
        Intrinsic::Name => "name",
        Intrinsic::Status => "status",
        Intrinsic::StatusMessage => "statusMessage",
        Intrinsic::Kind => "kind",
        Intrinsic::Duration => "duration",
        Intrinsic::SpanId => "span:id",
        Intrinsic::ParentId => "span:parentID",
        Intrinsic::TraceId => "trace:id",
        Intrinsic::RootName => "rootName",
        Intrinsic::RootService => "rootServiceName",
        Intrinsic::TraceDuration => "traceDuration",
        Intrinsic::EventName => "event:name",
        Intrinsic::LinkTraceId => "link:traceID",
        Intrinsic::LinkSpanId => "link:spanID",
        Intrinsic::ScopeName => "instrumentation:name",
        Intrinsic::ScopeVersion => "instrumentation:version",
    }
}

/// The key and value Tempo lists on a matched span for a field the query used: attributes
/// by name, `status`, `kind` and `statusMessage` as strings; other intrinsics are shown
/// elsewhere (name, duration) or not at all.
pub(super) fn shown_value(field: &Field, span: &Span) -> Option<(String, AttrValue)> {
    match field {
        Field::Attr(scope, name) => {
            let mut first = None;
            attr_values(*scope, name, span, &mut |v| {
                if first.is_none() {
                    first = Some(v.clone());
                }
            });
            first.map(|v| (name.clone(), v))
        }
        Field::Intrinsic(Intrinsic::Status) => {
            Some(("status".into(), AttrValue::Str(span.status_code.as_str().into())))
        }
        Field::Intrinsic(Intrinsic::Kind) => Some(("kind".into(), AttrValue::Str(span.kind.as_str().into()))),
        Field::Intrinsic(Intrinsic::StatusMessage) if !span.status_message.is_empty() => {
            Some(("statusMessage".into(), AttrValue::Str(span.status_message.clone())))
        }
        Field::Intrinsic(_) => None,
    }
}
