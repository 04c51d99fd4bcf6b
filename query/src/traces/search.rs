//! Trace search over the span store: Jaeger's filters ([`find_jaeger`]) and TraceQL
//! ([`find_traceql`]).
//!
//! Both scan the spans overlapping the time range once (the store skips blocks by time,
//! service and longest duration), keep per trace only what the answer needs, and return the
//! most recent matching traces first. The caller reads the full traces it shows by id.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Instant;

use nerve_storage::traces::{AttrValue, KeyValue, ScanHint, Span, SpanId, SpanStore, StatusCode, TraceId};

use super::traceql::{Query, TraceFacts};
use crate::error::{Error, Result};

/// Spans visited between deadline checks.
const DEADLINE_EVERY: u32 = 4096;

/// A Jaeger `/api/traces` search: a trace matches when one of its spans satisfies every
/// condition (as Jaeger's storage backends define it).
#[derive(Clone, Debug, Default)]
pub struct JaegerQuery {
    /// The span's service.
    pub service: String,
    /// The span's name, when given.
    pub operation: Option<String>,
    /// Tags the span must carry, compared as text (span, resource, event and derived tags).
    pub tags: Vec<(String, String)>,
    /// Shortest span duration (ns).
    pub min_duration_ns: u64,
    /// Longest span duration (ns), when given.
    pub max_duration_ns: Option<u64>,
    /// Range start (ns); spans overlapping `[start_ns, end_ns]` are searched.
    pub start_ns: u64,
    /// Range end (ns).
    pub end_ns: u64,
    /// Most traces returned.
    pub limit: usize,
}

/// The tags Jaeger shows for a span beyond its attributes, derived from the OTLP fields the
/// way OpenTelemetry's Jaeger translation does: `span.kind`, `otel.status_code`,
/// `otel.status_description`, `error`, `otel.scope.name`, `otel.scope.version`,
/// `w3c.tracestate`.
pub fn derived_tags(span: &Span) -> Vec<KeyValue> {
    let mut out = Vec::new();
    if span.kind as u8 != 0 {
        out.push(KeyValue::str("span.kind", span.kind.as_str()));
    }
    match span.status_code {
        StatusCode::Error => {
            out.push(KeyValue::str("otel.status_code", "ERROR"));
            out.push(KeyValue {
                key: "error".into(),
                value: AttrValue::Bool(true),
            });
        }
        StatusCode::Ok => out.push(KeyValue::str("otel.status_code", "OK")),
        StatusCode::Unset => {}
    }
    if !span.status_message.is_empty() {
        out.push(KeyValue::str("otel.status_description", span.status_message.clone()));
    }
    if !span.scope.name.is_empty() {
        out.push(KeyValue::str("otel.scope.name", span.scope.name.clone()));
    }
    if !span.scope.version.is_empty() {
        out.push(KeyValue::str("otel.scope.version", span.scope.version.clone()));
    }
    if !span.trace_state.is_empty() {
        out.push(KeyValue::str("w3c.tracestate", span.trace_state.clone()));
    }
    out
}

/// True when `span` has tag `key` with text `value` among its attributes, its resource's,
/// its events' or its [`derived_tags`].
fn has_tag(span: &Span, key: &str, value: &str) -> bool {
    let eq = |kv: &KeyValue| kv.key == key && text_eq(&kv.value, value);
    span.attributes.iter().any(eq)
        || span.resource.attributes.iter().any(eq)
        || span
            .events
            .iter()
            .any(|e| e.attributes.iter().any(eq) || (key == "event" && e.name == value))
        || derived_tags(span).iter().any(eq)
}

fn text_eq(v: &AttrValue, want: &str) -> bool {
    match v {
        AttrValue::Str(s) => s == want,
        v => v.to_text() == want,
    }
}

/// A deadline checked every few thousand spans.
struct Deadline {
    at: Option<Instant>,
    n: u32,
}

impl Deadline {
    fn new(at: Option<Instant>) -> Self {
        Deadline { at, n: 0 }
    }

    fn passed(&mut self) -> bool {
        self.n += 1;
        if self.n < DEADLINE_EVERY {
            return false;
        }
        self.n = 0;
        self.at.is_some_and(|d| Instant::now() >= d)
    }
}

/// The most recent traces (by latest matching span start) with a span matching `q`, at most
/// `q.limit`. [`Error::Timeout`] past `deadline`.
pub fn find_jaeger(store: &SpanStore, q: &JaegerQuery, deadline: Option<Instant>) -> Result<Vec<TraceId>> {
    let hint = ScanHint {
        service: Some(q.service.clone()),
        min_duration_ns: q.min_duration_ns,
    };
    let mut latest: HashMap<TraceId, u64> = HashMap::new();
    let mut dl = Deadline::new(deadline);
    let mut timed_out = false;
    store.scan(q.start_ns, q.end_ns, &hint, &mut |s| {
        if dl.passed() {
            timed_out = true;
            return ControlFlow::Break(());
        }
        let ok = s.service_name() == q.service
            && q.operation.as_deref().is_none_or(|op| s.name == op)
            && s.duration_ns() >= q.min_duration_ns
            && q.max_duration_ns.is_none_or(|m| s.duration_ns() <= m)
            && q.tags.iter().all(|(k, v)| has_tag(s, k, v));
        if ok {
            let e = latest.entry(s.trace_id).or_insert(s.start_ns);
            *e = (*e).max(s.start_ns);
        }
        ControlFlow::Continue(())
    })?;
    if timed_out {
        return Err(Error::Timeout("trace search"));
    }
    Ok(most_recent(latest.into_iter(), q.limit))
}

/// Ids sorted by time descending (ties by id), cut at `limit`.
fn most_recent(it: impl Iterator<Item = (TraceId, u64)>, limit: usize) -> Vec<TraceId> {
    let mut v: Vec<(TraceId, u64)> = it.collect();
    v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(limit);
    v.into_iter().map(|(id, _)| id).collect()
}

/// One span of a TraceQL result spanset.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchedSpan {
    /// Span id.
    pub span_id: SpanId,
    /// Span name.
    pub name: String,
    /// Start (ns).
    pub start_ns: u64,
    /// Duration (ns).
    pub duration_ns: u64,
    /// The attributes the query references, as Tempo reports them.
    pub attributes: Vec<(String, AttrValue)>,
}

/// A trace matching a TraceQL query.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceQlHit {
    /// Trace id.
    pub trace_id: TraceId,
    /// Spans in the result spanset (the earliest `spss`).
    pub spans: Vec<MatchedSpan>,
    /// How many spans are in the result spanset.
    pub matched: usize,
}

/// What a TraceQL search keeps per trace while scanning.
#[derive(Default)]
struct Acc {
    /// Spans per filter mask (bit i: filter i matched).
    masks: Vec<(u64, u32)>,
    /// The earliest few spans per mask.
    kept: Vec<(u64, MatchedSpan)>,
    latest_start: u64,
}

impl Acc {
    fn add(&mut self, mask: u64, s: &Span, q: &Query, spss: usize) {
        match self.masks.iter_mut().find(|(m, _)| *m == mask) {
            Some((_, n)) => *n += 1,
            None => self.masks.push((mask, 1)),
        }
        self.latest_start = self.latest_start.max(s.start_ns);
        let same: Vec<usize> = (0..self.kept.len()).filter(|&i| self.kept[i].0 == mask).collect();
        let span = || MatchedSpan {
            span_id: s.span_id,
            name: s.name.clone(),
            start_ns: s.start_ns,
            duration_ns: s.duration_ns(),
            attributes: q.matched_attributes(s),
        };
        if same.len() < spss {
            self.kept.push((mask, span()));
        } else if let Some(&latest) = same.iter().max_by_key(|&&i| self.kept[i].1.start_ns)
            && self.kept[latest].1.start_ns > s.start_ns
        {
            self.kept[latest] = (mask, span());
        }
    }

    fn finish(mut self, trace_id: TraceId, q: &Query, spss: usize) -> Option<(TraceQlHit, u64)> {
        let any = self.masks.iter().fold(0u64, |a, (m, _)| a | m);
        let contributing = q.contributing(&|i| i < 64 && any & (1u64 << i) != 0);
        if contributing == 0 {
            return None;
        }
        let matched = self
            .masks
            .iter()
            .filter(|(m, _)| m & contributing != 0)
            .map(|(_, n)| *n as usize)
            .sum();
        self.kept.retain(|(m, _)| m & contributing != 0);
        self.kept.sort_by_key(|(_, s)| (s.start_ns, s.span_id));
        let spans = self.kept.into_iter().take(spss).map(|(_, s)| s).collect();
        Some((
            TraceQlHit {
                trace_id,
                spans,
                matched,
            },
            self.latest_start,
        ))
    }
}

/// Trace-level facts of the traces with spans overlapping the range, for queries using
/// `rootName`, `rootServiceName` or `traceDuration` (from the spans in range).
fn trace_facts(
    store: &SpanStore,
    start_ns: u64,
    end_ns: u64,
    dl: &mut Deadline,
) -> Result<HashMap<TraceId, TraceFacts>> {
    // Per trace: earliest start, latest end, root span (name, service).
    type Bounds = (u64, u64, Option<(String, String)>);
    let mut bounds: HashMap<TraceId, Bounds> = HashMap::new();
    let mut timed_out = false;
    store.scan(start_ns, end_ns, &ScanHint::default(), &mut |s| {
        if dl.passed() {
            timed_out = true;
            return ControlFlow::Break(());
        }
        let e = bounds.entry(s.trace_id).or_insert((u64::MAX, 0, None));
        e.0 = e.0.min(s.start_ns);
        e.1 = e.1.max(s.end_ns);
        if s.is_root() {
            e.2 = Some((s.name.clone(), s.service_name().to_owned()));
        }
        ControlFlow::Continue(())
    })?;
    if timed_out {
        return Err(Error::Timeout("trace search"));
    }
    Ok(bounds
        .into_iter()
        .map(|(id, (lo, hi, root))| {
            let (root_name, root_service) = root.map_or((None, None), |(n, s)| (Some(n), Some(s)));
            (
                id,
                TraceFacts {
                    root_name,
                    root_service,
                    duration_ns: hi.saturating_sub(lo),
                },
            )
        })
        .collect())
}

/// The most recent traces (by latest matching span start) matching `q` among spans
/// overlapping `[start_ns, end_ns]`, at most `limit`, each with up to `spss` spans of its
/// result spanset. [`Error::Timeout`] past `deadline`.
pub fn find_traceql(
    store: &SpanStore,
    q: &Query,
    start_ns: u64,
    end_ns: u64,
    limit: usize,
    spss: usize,
    deadline: Option<Instant>,
) -> Result<Vec<TraceQlHit>> {
    let mut dl = Deadline::new(deadline);
    let facts = if q.needs_trace() {
        Some(trace_facts(store, start_ns, end_ns, &mut dl)?)
    } else {
        None
    };
    let (service, min_duration_ns) = q.hint();
    let hint = ScanHint {
        service,
        min_duration_ns,
    };
    let filters = q.filters();
    let mut accs: HashMap<TraceId, Acc> = HashMap::new();
    let mut timed_out = false;
    let spss = spss.max(1);
    store.scan(start_ns, end_ns, &hint, &mut |s| {
        if dl.passed() {
            timed_out = true;
            return ControlFlow::Break(());
        }
        let f = facts.as_ref().and_then(|f| f.get(&s.trace_id));
        let mut mask = 0u64;
        for (i, filter) in filters.iter().enumerate().take(64) {
            if filter.matches(s, f) {
                mask |= 1 << i;
            }
        }
        if mask != 0 {
            accs.entry(s.trace_id).or_default().add(mask, s, q, spss);
        }
        ControlFlow::Continue(())
    })?;
    if timed_out {
        return Err(Error::Timeout("trace search"));
    }
    let mut hits: Vec<(TraceQlHit, u64)> = accs
        .into_iter()
        .filter_map(|(id, acc)| acc.finish(id, q, spss))
        .collect();
    hits.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.trace_id.cmp(&b.0.trace_id)));
    hits.truncate(limit);
    Ok(hits.into_iter().map(|(h, _)| h).collect())
}

/// Per-trace facts Tempo's search results show, computed from all of a trace's spans.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceSummary {
    /// The root span's service, when the root span is stored.
    pub root_service: Option<String>,
    /// The root span's name, when the root span is stored.
    pub root_name: Option<String>,
    /// Earliest span start (ns).
    pub start_ns: u64,
    /// Latest span end minus earliest start (ns).
    pub duration_ns: u64,
    /// Spans and error spans per service, sorted by service.
    pub services: Vec<(String, usize, usize)>,
}

/// Summarizes the spans of one trace (any order).
pub fn summarize(spans: &[Span]) -> TraceSummary {
    let mut out = TraceSummary::default();
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    let mut services: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for s in spans {
        lo = lo.min(s.start_ns);
        hi = hi.max(s.end_ns);
        let e = services.entry(s.service_name()).or_default();
        e.0 += 1;
        e.1 += usize::from(s.status_code == StatusCode::Error);
        // The earliest parentless span is the root (a trace may have several).
        if s.is_root() && out.root_name.is_none() {
            out.root_name = Some(s.name.clone());
            out.root_service = Some(s.service_name().to_owned());
        }
    }
    if !spans.is_empty() {
        out.start_ns = lo;
        out.duration_ns = hi.saturating_sub(lo);
    }
    out.services = services.into_iter().map(|(k, (n, e))| (k.to_owned(), n, e)).collect();
    out
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
