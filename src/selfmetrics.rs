//! nerve's own metrics, served at `/metrics` in the OpenMetrics text format (which Prometheus
//! and nerve's future scraper both read) via prometheus-client.
//!
//! Counters updated by handlers live in [`SelfMetrics`]; TSDB figures (series, WAL size, ...)
//! are read from [`Tsdb::stats`](nerve_storage::metrics::Tsdb::stats) at scrape time by
//! [`TsdbCollector`], so they are never stale and cost nothing between scrapes.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::db::{Db, LogsDb, TracesDb};
use crate::ingest::otlp_traces::sampling::TailSampler;

mod forward;
mod memory;
mod storage;
mod traces;

/// The content type of [`SelfMetrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Buckets of the request duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Labels of ingestion counters: which path the data came in on (`remote_write`, later
/// `scrape`, `otlp`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// Ingestion path.
    pub source: &'static str,
}

/// Labels of the HTTP request histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route pattern (e.g. `/api/v1/label/{name}/values`), never the raw path, to bound
    /// cardinality.
    pub handler: String,
    /// HTTP method.
    pub method: String,
    /// Status code.
    pub code: u16,
}

/// Labels of notification counters: the Alertmanager (or webhook) URL.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabels {
    /// Where the alerts were sent.
    pub alertmanager: String,
}

/// Labels of rule evaluation counters: `file;group`, as Prometheus names groups.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleGroupLabels {
    /// `<file>;<group name>`.
    pub rule_group: String,
}

/// Every metric nerve exposes about itself. Thread-safe; shared through an `Arc`.
#[derive(Debug)]
pub struct SelfMetrics {
    registry: Registry,
    /// The tail sampler whose counts are exported, once trace ingest has one.
    trace_sampler: Arc<std::sync::OnceLock<Arc<TailSampler>>>,
    /// The span-metrics generator whose counts are exported, when enabled.
    span_metrics: Arc<std::sync::OnceLock<Arc<crate::spanmetrics::Generator>>>,
    /// The forwarder whose destinations are exported.
    forwarder: Arc<std::sync::OnceLock<Arc<crate::forward::Forwarder>>>,
    /// The memory guard whose figures are exported.
    memory: Arc<std::sync::OnceLock<Arc<crate::ingest::memory::MemoryGuard>>>,
    /// Float samples committed to storage.
    pub ingested_samples: Family<SourceLabels, Counter>,
    /// Samples refused (out of order, duplicate, too old, invalid labels).
    pub rejected_samples: Family<SourceLabels, Counter>,
    /// Exemplars stored.
    pub ingested_exemplars: Family<SourceLabels, Counter>,
    /// Native histogram samples received and dropped (not stored yet).
    pub dropped_histograms: Family<SourceLabels, Counter>,
    /// Requests refused with 503 because the in-flight limits were reached.
    pub throttled_requests: Family<SourceLabels, Counter>,
    /// Decompressed bytes of remote-write requests being processed right now.
    pub remote_write_inflight_bytes: Gauge,
    /// HTTP request latency.
    pub http_request_duration: Family<RequestLabels, Histogram>,
    /// Log lines stored.
    pub log_ingested_lines: Counter,
    /// Bytes of log lines stored.
    pub log_ingested_bytes: Counter,
    /// Log lines refused by validation or the store.
    pub log_rejected_lines: Counter,
    /// Log lines refused by the ingestion rate limit.
    pub log_rejected_rate: Counter,
    /// Alerts delivered, per target.
    pub notifications_sent: Family<NotifyLabels, Counter>,
    /// Alerts whose delivery failed after retries, per target.
    pub notifications_errors: Family<NotifyLabels, Counter>,
    /// Alerts dropped because the queue was full.
    pub notifications_dropped: Counter,
    /// Alerts waiting to be sent.
    pub notifications_queue_length: Gauge,
    /// Rule evaluations, per group.
    pub rule_evaluations: Family<RuleGroupLabels, Counter>,
    /// Failed rule evaluations, per group.
    pub rule_evaluation_failures: Family<RuleGroupLabels, Counter>,
    /// Scheduled group evaluations skipped because the previous one ran too long, per group.
    pub rule_group_iterations_missed: Family<RuleGroupLabels, Counter>,
    /// How long the last evaluation of each group took, in seconds.
    pub rule_group_last_duration: Family<RuleGroupLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl SelfMetrics {
    /// Registers every metric, plus the collectors reading the TSDB, the log store and the
    /// span store.
    pub fn new(db: Arc<Db>, logs: Arc<LogsDb>, traces: Arc<TracesDb>) -> Self {
        let mut registry = Registry::default();
        let trace_sampler = Arc::new(std::sync::OnceLock::new());
        let span_metrics = Arc::new(std::sync::OnceLock::new());
        registry.register_collector(Box::new(traces::TracesCollector {
            traces,
            sampler: trace_sampler.clone(),
            span_metrics: span_metrics.clone(),
        }));
        registry.register_collector(Box::new(storage::StorageCollector));
        let memory = Arc::new(std::sync::OnceLock::new());
        registry.register_collector(Box::new(memory::MemoryCollector { guard: memory.clone() }));
        let forwarder = Arc::new(std::sync::OnceLock::new());
        registry.register_collector(Box::new(forward::ForwardCollector {
            forwarder: forwarder.clone(),
        }));
        let log_ingested_lines = Counter::default();
        let log_ingested_bytes = Counter::default();
        let log_rejected_lines = Counter::default();
        let log_rejected_rate = Counter::default();
        registry.register(
            "nerve_log_ingested_lines",
            "Log lines stored",
            log_ingested_lines.clone(),
        );
        registry.register(
            "nerve_log_ingested_bytes",
            "Bytes of log lines stored",
            log_ingested_bytes.clone(),
        );
        registry.register(
            "nerve_log_rejected_lines",
            "Log lines refused by validation or the store (too old, too long, bad labels)",
            log_rejected_lines.clone(),
        );
        registry.register(
            "nerve_log_rate_limited_lines",
            "Log lines refused with 429 by the ingestion rate limit",
            log_rejected_rate.clone(),
        );
        registry.register_collector(Box::new(LogsCollector { logs }));
        let ingested_samples = Family::<SourceLabels, Counter>::default();
        let rejected_samples = Family::<SourceLabels, Counter>::default();
        let ingested_exemplars = Family::<SourceLabels, Counter>::default();
        let dropped_histograms = Family::<SourceLabels, Counter>::default();
        let throttled_requests = Family::<SourceLabels, Counter>::default();
        let remote_write_inflight_bytes = Gauge::default();
        let http_request_duration = Family::<RequestLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(DURATION_BUCKETS)) as fn() -> Histogram,
        );
        registry.register(
            "nerve_ingested_samples",
            "Float samples committed to storage",
            ingested_samples.clone(),
        );
        registry.register(
            "nerve_rejected_samples",
            "Samples refused (out of order, duplicate, too old, invalid labels)",
            rejected_samples.clone(),
        );
        registry.register(
            "nerve_ingested_exemplars",
            "Exemplars stored",
            ingested_exemplars.clone(),
        );
        registry.register(
            "nerve_dropped_native_histograms",
            "Native histogram samples received and not stored (unsupported yet)",
            dropped_histograms.clone(),
        );
        registry.register(
            "nerve_throttled_requests",
            "Requests answered 503 because in-flight limits were reached",
            throttled_requests.clone(),
        );
        registry.register(
            "nerve_remote_write_inflight_bytes",
            "Decompressed bytes of remote-write requests being processed",
            remote_write_inflight_bytes.clone(),
        );
        registry.register(
            "nerve_http_request_duration_seconds",
            "HTTP request latency by route, method and status",
            http_request_duration.clone(),
        );
        let notifications_sent = Family::<NotifyLabels, Counter>::default();
        let notifications_errors = Family::<NotifyLabels, Counter>::default();
        let notifications_dropped = Counter::default();
        let notifications_queue_length = Gauge::default();
        let rule_evaluations = Family::<RuleGroupLabels, Counter>::default();
        let rule_evaluation_failures = Family::<RuleGroupLabels, Counter>::default();
        let rule_group_iterations_missed = Family::<RuleGroupLabels, Counter>::default();
        let rule_group_last_duration = Family::<RuleGroupLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "nerve_notifications_sent",
            "Alerts delivered to an Alertmanager or webhook",
            notifications_sent.clone(),
        );
        registry.register(
            "nerve_notifications_errors",
            "Alerts whose delivery failed after retries",
            notifications_errors.clone(),
        );
        registry.register(
            "nerve_notifications_dropped",
            "Alerts dropped because the notification queue was full",
            notifications_dropped.clone(),
        );
        registry.register(
            "nerve_notifications_queue_length",
            "Alerts waiting to be sent",
            notifications_queue_length.clone(),
        );
        registry.register("nerve_rule_evaluations", "Rule evaluations", rule_evaluations.clone());
        registry.register(
            "nerve_rule_evaluation_failures",
            "Rule evaluations that failed",
            rule_evaluation_failures.clone(),
        );
        registry.register(
            "nerve_rule_group_iterations_missed",
            "Scheduled rule group evaluations skipped because the previous one ran too long",
            rule_group_iterations_missed.clone(),
        );
        registry.register(
            "nerve_rule_group_last_duration_seconds",
            "Duration of the last evaluation of the rule group",
            rule_group_last_duration.clone(),
        );
        registry.register_collector(Box::new(TsdbCollector { db }));
        registry.register_collector(Box::new(BuildInfoCollector));
        SelfMetrics {
            registry,
            trace_sampler,
            span_metrics,
            memory,
            forwarder,
            ingested_samples,
            rejected_samples,
            ingested_exemplars,
            dropped_histograms,
            throttled_requests,
            remote_write_inflight_bytes,
            http_request_duration,
            log_ingested_lines,
            log_ingested_bytes,
            log_rejected_lines,
            log_rejected_rate,
            notifications_sent,
            notifications_errors,
            notifications_dropped,
            notifications_queue_length,
            rule_evaluations,
            rule_evaluation_failures,
            rule_group_iterations_missed,
            rule_group_last_duration,
        }
    }

    /// Records one finished HTTP request.
    pub fn observe_request(&self, handler: &str, method: &str, code: u16, elapsed: Duration) {
        let labels = RequestLabels {
            handler: handler.to_owned(),
            method: method.to_owned(),
            code,
        };
        self.http_request_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Exports `sampler`'s counts from now on (set once; later calls are ignored).
    pub fn set_trace_sampler(&self, sampler: Arc<TailSampler>) {
        let _ = self.trace_sampler.set(sampler);
    }

    /// Exports the forwarding destinations' figures from now on (set once).
    pub fn set_forwarder(&self, f: Arc<crate::forward::Forwarder>) {
        let _ = self.forwarder.set(f);
    }

    /// Exports the memory guard's figures from now on (set once).
    pub fn set_memory_guard(&self, guard: Arc<crate::ingest::memory::MemoryGuard>) {
        let _ = self.memory.set(guard);
    }

    /// Exports the span-metrics generator's counts.
    pub fn set_span_metrics(&self, generator: Arc<crate::spanmetrics::Generator>) {
        let _ = self.span_metrics.set(generator);
    }

    /// The exposition text (OpenMetrics, ending in `# EOF`).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8 << 10);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Reads TSDB figures at scrape time; emits nothing while the TSDB is still opening.
#[derive(Debug)]
struct TsdbCollector {
    db: Arc<Db>,
}

impl Collector for TsdbCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let ready = self.db.get();
        gauge(
            &mut encoder,
            "nerve_ready",
            "1 once the TSDB is open (WAL replayed), else 0",
            i64::from(ready.is_some()),
        )?;
        let Some(tsdb) = ready else { return Ok(()) };
        let s = tsdb.stats();
        gauge(
            &mut encoder,
            "nerve_tsdb_head_series",
            "Series in the in-memory head",
            to_i64(s.head_series),
        )?;
        gauge(
            &mut encoder,
            "nerve_tsdb_wal_size_bytes",
            "Bytes in WAL segment files",
            to_i64(s.wal_bytes),
        )?;
        gauge(&mut encoder, "nerve_tsdb_blocks", "Persisted blocks", to_i64(s.blocks))?;
        gauge(
            &mut encoder,
            "nerve_tsdb_blocks_size_bytes",
            "Bytes of persisted blocks",
            to_i64(s.blocks_bytes),
        )?;
        gauge(
            &mut encoder,
            "nerve_tsdb_head_min_time_ms",
            "Oldest timestamp in the head, in ms",
            s.head_min_time,
        )?;
        gauge(
            &mut encoder,
            "nerve_tsdb_head_max_time_ms",
            "Newest timestamp in the head, in ms",
            s.head_max_time,
        )?;
        counter(
            &mut encoder,
            "nerve_tsdb_head_samples_appended",
            "Samples appended to the head",
            s.samples_appended_total,
        )?;
        counter(
            &mut encoder,
            "nerve_tsdb_head_chunk_file_written_bytes",
            "Bytes of closed head chunks written to head chunk files",
            s.head_chunk_file_bytes_written_total,
        )?;
        counter(
            &mut encoder,
            "nerve_tsdb_head_chunk_file_fallbacks",
            "Closed head chunks kept in memory because the head chunk file write failed",
            s.head_chunk_file_fallbacks_total,
        )?;
        counter(
            &mut encoder,
            "nerve_tsdb_out_of_bound_samples",
            "Samples and exemplars refused for lying outside now + limits.max_future or the retention",
            s.samples_out_of_bounds_total,
        )?;
        counter(
            &mut encoder,
            "nerve_tsdb_series_limit_refused",
            "New series refused by limits.max_series or limits.max_series_per_metric",
            s.series_refused_total,
        )?;
        counter(
            &mut encoder,
            "nerve_tsdb_compactions",
            "Block compactions run",
            s.compactions_total,
        )?;
        Ok(())
    }
}

/// Reads log store figures at scrape time; nothing while the store is opening.
#[derive(Debug)]
struct LogsCollector {
    logs: Arc<LogsDb>,
}

impl Collector for LogsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(logs) = self.logs.get() else { return Ok(()) };
        let s = logs.stats();
        gauge(
            &mut encoder,
            "nerve_log_streams",
            "Log streams",
            to_i64(s.streams as u64),
        )?;
        gauge(
            &mut encoder,
            "nerve_log_partitions",
            "Log index partitions on disk",
            to_i64(s.partitions as u64),
        )?;
        gauge(
            &mut encoder,
            "nerve_log_head_entries",
            "Log lines not yet committed to the full-text index",
            to_i64(s.head_entries as u64),
        )?;
        gauge(
            &mut encoder,
            "nerve_log_indexed_entries",
            "Log lines in the full-text index",
            to_i64(s.indexed_entries),
        )?;
        gauge(
            &mut encoder,
            "nerve_log_disk_bytes",
            "Bytes of the log store on disk (WAL and indexes)",
            to_i64(s.disk_bytes),
        )?;
        Ok(())
    }
}

/// `nerve_build_info{version,revision} 1`.
#[derive(Debug)]
struct BuildInfoCollector;

impl Collector for BuildInfoCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let g = ConstGauge::new(1i64);
        let mut m = encoder.encode_descriptor("nerve_build_info", "Build information", None, g.metric_type())?;
        let labels = [
            ("version", crate::buildinfo::VERSION),
            ("revision", crate::buildinfo::REVISION),
        ];
        let fam = m.encode_family(&labels)?;
        g.encode(fam)
    }
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    let m = encoder.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    let m = encoder.encode_descriptor(name, help, None, c.metric_type())?;
    c.encode(m)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_without_tsdb() {
        let m = SelfMetrics::new(Arc::new(Db::new()), Arc::new(LogsDb::new()), Arc::new(TracesDb::new()));
        m.ingested_samples
            .get_or_create(&SourceLabels { source: "remote_write" })
            .inc_by(3);
        m.observe_request("/api/v1/write", "POST", 204, Duration::from_millis(3));
        let text = m.encode().unwrap();
        assert!(
            text.contains("nerve_ingested_samples_total{source=\"remote_write\"} 3"),
            "{text}"
        );
        assert!(text.contains("nerve_ready 0"), "{text}");
        assert!(
            text.contains("handler=\"/api/v1/write\",method=\"POST\",code=\"204\""),
            "{text}"
        );
        assert!(text.contains("nerve_build_info{"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
