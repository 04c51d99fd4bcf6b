//! Metrics generated from ingested spans, named and labelled as Tempo's metrics-generator
//! names them, so Grafana's Tempo service graph, RED panels and trace-to-metrics links work
//! against nerve's own TSDB with no configuration:
//!
//! - span metrics, by `service`, `span_name`, `span_kind` (`SPAN_KIND_SERVER`, …) and
//!   `status_code` (`STATUS_CODE_UNSET|OK|ERROR`): `traces_spanmetrics_calls_total` and the
//!   histogram `traces_spanmetrics_latency_{bucket,sum,count}` (seconds);
//! - service-graph edges ([`servicegraph`]), by `client`, `server` and `connection_type`:
//!   `traces_service_graph_request_total`, `…_request_failed_total`,
//!   `…_request_server_seconds_*`, `…_request_client_seconds_*`, and
//!   `traces_service_graph_unpaired_spans_total`.
//!
//! Every counter and bucket carries, as an exemplar, the trace and span id of the newest span
//! it counted since the last flush. Like Tempo's generator, nerve keeps the counters in memory
//! and writes their values into the TSDB every `interval` with the wall-clock time (a new
//! series starts with a 0 one millisecond earlier, so `rate` and `increase` see its first
//! spans); series that see no span for `stale_after` are dropped and end with a stale marker.
//! Counters restart from 0 when nerve restarts, which PromQL's counter functions handle as a
//! reset. Spans are counted when their export is accepted, before tail sampling, so sampled
//! traces do not distort the rates.

mod series;
pub mod servicegraph;

use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nerve_storage::Labels;
use nerve_storage::metrics::{Exemplar, Tsdb};
use nerve_storage::traces::{Span, SpanKind, StatusCode};
use parking_lot::Mutex;

use crate::config::traces::SpanMetricsPolicy;
use crate::shutdown::{FirstPass, Shutdown, periodic};
use series::{write_counter, write_histogram};
use servicegraph::{EdgeKey, Pairing};

/// Tempo's default span-latency buckets (seconds).
pub const DEFAULT_LATENCY_BUCKETS: [f64; 14] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384,
];
/// Tempo's default service-graph buckets (seconds).
pub const DEFAULT_GRAPH_BUCKETS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];

/// The OTLP name of a span kind, as the generator labels it.
pub fn kind_label(k: SpanKind) -> &'static str {
    match k {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

/// The OTLP name of a status code, as the generator labels it.
pub fn status_label(s: StatusCode) -> &'static str {
    match s {
        StatusCode::Unset => "STATUS_CODE_UNSET",
        StatusCode::Ok => "STATUS_CODE_OK",
        StatusCode::Error => "STATUS_CODE_ERROR",
    }
}

/// The newest span behind a counter: becomes the series' exemplar at the next flush.
#[derive(Clone, Debug)]
struct Witness {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    value: f64,
    t_ms: i64,
}

/// A cumulative histogram with an exemplar per bucket.
#[derive(Debug)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last one is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    /// The newest span per bucket that saw one since the last flush (sparse: few buckets
    /// get spans between flushes, and a batch holds one of these per label set).
    witnesses: Vec<(usize, Witness)>,
}

impl Histogram {
    fn new(buckets: usize) -> Self {
        Histogram {
            counts: vec![0; buckets + 1],
            sum: 0.0,
            witnesses: Vec::new(),
        }
    }

    fn observe(&mut self, bounds: &[f64], w: Witness) {
        let i = bounds.partition_point(|b| *b < w.value);
        self.counts[i] += 1;
        self.sum += w.value;
        self.witness(i, w);
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn witness(&mut self, bucket: usize, w: Witness) {
        match self.witnesses.iter_mut().find(|(b, _)| *b == bucket) {
            Some(slot) => slot.1 = w,
            None => self.witnesses.push((bucket, w)),
        }
    }

    fn merge(&mut self, other: Histogram) {
        for (mine, n) in self.counts.iter_mut().zip(other.counts) {
            *mine += n;
        }
        for (b, w) in other.witnesses {
            self.witness(b, w);
        }
        self.sum += other.sum;
    }
}

/// A counter with its exemplar.
#[derive(Debug, Default)]
struct Counter {
    value: u64,
    witness: Option<Witness>,
}

/// State shared by every series of one label set.
#[derive(Debug)]
struct Entry<T> {
    value: T,
    last_update: Instant,
    /// Not yet written: the first flush writes a 0 before the value.
    fresh: bool,
}

impl<T> Entry<T> {
    fn new(value: T, now: Instant) -> Self {
        Entry {
            value,
            last_update: now,
            fresh: true,
        }
    }
}

/// One edge's counters.
#[derive(Debug)]
struct EdgeSeries {
    requests: Counter,
    failed: Counter,
    server: Histogram,
    client: Histogram,
}

/// The generator's registry.
#[derive(Debug, Default)]
struct Registry {
    calls: HashMap<[String; 4], Entry<(Counter, Histogram)>, foldhash::fast::RandomState>,
    edges: HashMap<EdgeKey, Entry<EdgeSeries>, foldhash::fast::RandomState>,
    unpaired: HashMap<(&'static str, String), Entry<Counter>, foldhash::fast::RandomState>,
    /// Label sets refused because `max_series` was reached.
    refused: u64,
}

/// The span-metrics and service-graph generator. Cheap to share.
#[derive(Debug)]
pub struct Generator {
    policy: SpanMetricsPolicy,
    registry: Mutex<Registry>,
    pairing: Mutex<Pairing>,
}

/// The generator's figures for `/metrics`.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    /// Label sets kept.
    pub series: usize,
    /// Spans or edges refused for `max_series`.
    pub refused: u64,
    /// Client/server halves waiting for their pair.
    pub pending_pairs: usize,
}

/// Spans of one export, aggregated (see [`Generator::prepare`]).
#[derive(Debug, Default)]
pub struct Batch {
    calls: Vec<([String; 4], Counter, Histogram)>,
    /// Hash of a label set → its slots in `calls`.
    index: HashMap<u64, Vec<usize>, foldhash::fast::RandomState>,
    hasher: foldhash::fast::RandomState,
    halves: Vec<servicegraph::HalfSpan>,
}

/// One flush: the samples and exemplars to append.
#[derive(Debug, Default)]
pub struct Flush {
    /// `(labels, t_ms, value)`.
    pub samples: Vec<(Labels, i64, f64)>,
    /// `(series labels, exemplar)`.
    pub exemplars: Vec<(Labels, Exemplar)>,
}

impl Generator {
    /// A generator with `policy`'s buckets, interval and bounds.
    pub fn new(policy: SpanMetricsPolicy) -> Arc<Self> {
        Arc::new(Generator {
            policy,
            registry: Mutex::new(Registry::default()),
            pairing: Mutex::new(Pairing::default()),
        })
    }

    /// The configured flush interval.
    pub fn interval(&self) -> Duration {
        self.policy.interval
    }

    /// Counts accepted spans; `now_ms` is the wall-clock time exemplars get.
    #[cfg(test)]
    pub fn observe(&self, spans: &[Span], now: Instant, now_ms: i64) {
        self.commit(self.prepare(spans, now_ms), now);
    }

    /// Aggregates `spans` into a batch without touching the registry, so the caller can
    /// [`Generator::commit`] it only once the export is accepted (a refused export is
    /// retried and must not count twice). Cheaper than keeping the spans: one entry per
    /// distinct label set, one small record per client or server span.
    pub fn prepare(&self, spans: &[Span], now_ms: i64) -> Batch {
        let mut batch = Batch::default();
        let buckets = self.policy.latency_buckets.len();
        // Spans of one resource come together: find its service name once per run of them.
        let mut last: Option<(&Arc<nerve_storage::traces::Resource>, &str)> = None;
        for s in spans {
            let service = match last {
                Some((r, name)) if Arc::ptr_eq(r, &s.resource) => name,
                _ => {
                    let name = s.service_name();
                    last = Some((&s.resource, name));
                    name
                }
            };
            let parts = [
                service,
                s.name.as_str(),
                kind_label(s.kind),
                status_label(s.status_code),
            ];
            let w = Witness {
                trace_id: s.trace_id,
                span_id: s.span_id,
                value: s.duration_ns() as f64 / 1e9,
                t_ms: now_ms,
            };
            let h = batch.hasher.hash_one(parts);
            let slots = batch.index.entry(h).or_default();
            let found = slots
                .iter()
                .copied()
                .find(|&i| batch.calls[i].0.iter().zip(parts).all(|(a, b)| a == b));
            let i = found.unwrap_or_else(|| {
                batch
                    .calls
                    .push((parts.map(str::to_owned), Counter::default(), Histogram::new(buckets)));
                slots.push(batch.calls.len() - 1);
                batch.calls.len() - 1
            });
            let (_, c, h) = &mut batch.calls[i];
            c.value += 1;
            c.witness = Some(w.clone());
            h.observe(&self.policy.latency_buckets, w);
            if let Some(half) = servicegraph::HalfSpan::of(s, service) {
                batch.halves.push(half);
            }
        }
        batch
    }

    /// Adds a prepared batch to the registry and pairs its client and server spans.
    pub fn commit(&self, batch: Batch, now: Instant) {
        let mut edges = Vec::new();
        let now_ms = batch
            .calls
            .first()
            .and_then(|(_, c, _)| c.witness.as_ref())
            .map_or(0, |w| w.t_ms);
        {
            let mut pairing = self.pairing.lock();
            for h in batch.halves {
                pairing.offer(h, now, self.policy.pairing_wait, &mut edges);
            }
        }
        let mut reg = self.registry.lock();
        let max = self.policy.max_series;
        let buckets = self.policy.latency_buckets.len();
        for (key, c, h) in batch.calls {
            let Some(e) = entry(&mut reg.calls, key, max, now, || {
                (Counter::default(), Histogram::new(buckets))
            }) else {
                reg.refused += c.value;
                continue;
            };
            e.value.0.value += c.value;
            if c.witness.is_some() {
                e.value.0.witness = c.witness;
            }
            e.value.1.merge(h);
        }
        self.record_edges(&mut reg, edges, now, now_ms);
    }

    /// Expires unpaired edge halves (virtual nodes or unpaired counts), as `observe` does for
    /// pairs. Called before every flush.
    pub fn expire(&self, now: Instant, now_ms: i64) {
        let edges = self.pairing.lock().expire(now);
        let mut reg = self.registry.lock();
        self.record_edges(&mut reg, edges, now, now_ms);
    }

    fn record_edges(&self, reg: &mut Registry, edges: Vec<servicegraph::Outcome>, now: Instant, now_ms: i64) {
        let max = self.policy.max_series;
        let gb = self.policy.graph_buckets.len();
        for o in edges {
            match o {
                servicegraph::Outcome::Edge(edge) => {
                    let w = |value: f64| Witness {
                        trace_id: edge.trace_id,
                        span_id: edge.span_id,
                        value,
                        t_ms: now_ms,
                    };
                    let Some(e) = entry(&mut reg.edges, edge.key.clone(), max, now, || EdgeSeries {
                        requests: Counter::default(),
                        failed: Counter::default(),
                        server: Histogram::new(gb),
                        client: Histogram::new(gb),
                    }) else {
                        reg.refused += 1;
                        continue;
                    };
                    let v = &mut e.value;
                    v.requests.value += 1;
                    v.requests.witness = Some(w(1.0));
                    if edge.failed {
                        v.failed.value += 1;
                        v.failed.witness = Some(w(1.0));
                    }
                    if let Some(d) = edge.server_seconds {
                        v.server.observe(&self.policy.graph_buckets, w(d));
                    }
                    if let Some(d) = edge.client_seconds {
                        v.client.observe(&self.policy.graph_buckets, w(d));
                    }
                }
                servicegraph::Outcome::Unpaired { side, service } => {
                    let Some(e) = entry(&mut reg.unpaired, (side, service), max, now, Counter::default) else {
                        reg.refused += 1;
                        continue;
                    };
                    e.value.value += 1;
                }
            }
        }
    }

    /// Figures for nerve's own metrics.
    pub fn counts(&self) -> Counts {
        let pending_pairs = self.pairing.lock().pending();
        let reg = self.registry.lock();
        Counts {
            series: reg.calls.len() + reg.edges.len() + reg.unpaired.len(),
            refused: reg.refused,
            pending_pairs,
        }
    }

    /// The samples to write now: every live series' value at `now_ms` (new ones preceded by a
    /// 0), exemplars of the spans counted since the last flush, and stale markers for series
    /// idle longer than `stale_after` (which are then forgotten).
    pub fn flush(&self, now: Instant, now_ms: i64) -> Flush {
        self.expire(now, now_ms);
        let mut out = Flush::default();
        let stale_after = self.policy.stale_after;
        let mut reg = self.registry.lock();
        let lb = &self.policy.latency_buckets;
        let gb = &self.policy.graph_buckets;
        reg.calls.retain(|[service, span_name, kind, status], e| {
            let base = [
                ("service", service.as_str()),
                ("span_name", span_name.as_str()),
                ("span_kind", kind.as_str()),
                ("status_code", status.as_str()),
            ];
            let live = now.duration_since(e.last_update) < stale_after;
            write_counter(
                &mut out,
                "traces_spanmetrics_calls_total",
                &base,
                &mut e.value.0,
                e.fresh,
                live,
                now_ms,
            );
            write_histogram(
                &mut out,
                "traces_spanmetrics_latency",
                &base,
                lb,
                &mut e.value.1,
                e.fresh,
                live,
                now_ms,
            );
            e.fresh = false;
            live
        });
        reg.edges.retain(|k, e| {
            let base = k.labels();
            let base: Vec<(&str, &str)> = base.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let live = now.duration_since(e.last_update) < stale_after;
            let v = &mut e.value;
            write_counter(
                &mut out,
                "traces_service_graph_request_total",
                &base,
                &mut v.requests,
                e.fresh,
                live,
                now_ms,
            );
            write_counter(
                &mut out,
                "traces_service_graph_request_failed_total",
                &base,
                &mut v.failed,
                e.fresh,
                live,
                now_ms,
            );
            write_histogram(
                &mut out,
                "traces_service_graph_request_server_seconds",
                &base,
                gb,
                &mut v.server,
                e.fresh,
                live,
                now_ms,
            );
            write_histogram(
                &mut out,
                "traces_service_graph_request_client_seconds",
                &base,
                gb,
                &mut v.client,
                e.fresh,
                live,
                now_ms,
            );
            e.fresh = false;
            live
        });
        reg.unpaired.retain(|(side, service), e| {
            let live = now.duration_since(e.last_update) < stale_after;
            let base = [(*side, service.as_str())];
            write_counter(
                &mut out,
                "traces_service_graph_unpaired_spans_total",
                &base,
                &mut e.value,
                e.fresh,
                live,
                now_ms,
            );
            e.fresh = false;
            live
        });
        out
    }

    /// Appends a flush to the TSDB; per-sample refusals (e.g. a clock step backwards) are
    /// logged, not fatal.
    pub fn write(&self, tsdb: &Tsdb, flush: Flush) {
        let mut app = tsdb.appender();
        let mut refused = 0usize;
        for (labels, t, v) in &flush.samples {
            if app.append(labels, *t, *v).is_err() {
                refused += 1;
            }
        }
        for (labels, ex) in flush.exemplars {
            let _ = app.append_exemplar(&labels, ex);
        }
        if refused > 0 {
            tracing::debug!(refused, "span-metrics samples refused by the TSDB");
        }
        if let Err(e) = app.commit() {
            tracing::warn!(error = %e, "writing span metrics failed");
        }
    }
}

/// The registry entry for `key`, created (and touched) at `now`; `None` when it is new and
/// the registry already holds `max` label sets.
fn entry<K: std::hash::Hash + Eq, T>(
    map: &mut HashMap<K, Entry<T>, foldhash::fast::RandomState>,
    key: K,
    max: usize,
    now: Instant,
    make: impl FnOnce() -> T,
) -> Option<&mut Entry<T>> {
    let len = map.len();
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(o) => {
            let e = o.into_mut();
            e.last_update = now;
            Some(e)
        }
        std::collections::hash_map::Entry::Vacant(v) => (len < max).then(|| v.insert(Entry::new(make(), now))),
    }
}

/// Writes the generator's series every interval until shutdown, then once more.
pub fn run(generator: Arc<Generator>, db: Arc<crate::db::Db>, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
    let period = generator.interval();
    periodic(
        period,
        FirstPass::AfterOnePeriod,
        shutdown,
        "span-metrics flush",
        move |_| {
            if let Some(tsdb) = db.get() {
                let flush = generator.flush(Instant::now(), nerve_storage::logs::now_ns() as i64 / 1_000_000);
                generator.write(&tsdb, flush);
            }
        },
    )
}

#[cfg(test)]
mod tests;
