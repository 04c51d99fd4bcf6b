//! What every HTTP handler can reach: the store handles, self-metrics, limits and the
//! ingestion back-pressure gate. Cheap to clone (all `Arc`s).

use std::sync::Arc;

use crate::config::limits::LimitsConfig;
use crate::db::{Db, LogsDb, TracesDb};
use crate::ingest::backpressure::InflightLimiter;
use crate::ingest::memory::MemoryGuard;
use crate::ingest::otlp_traces::sampling::TailSampler;
use crate::ingest::ratelimit::ByteRateLimiter;
use crate::rules::Manager as RuleManager;
use crate::scrape::Manager as ScrapeManager;
use crate::selfmetrics::SelfMetrics;

/// Shared state of the HTTP router.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The metrics TSDB (empty until WAL replay is done).
    pub db: Arc<Db>,
    /// nerve's own metrics.
    pub metrics: Arc<SelfMetrics>,
    /// Input limits from the config.
    pub limits: Arc<LimitsConfig>,
    /// In-flight bounds for remote write.
    pub remote_write_gate: Arc<InflightLimiter>,
    /// The scrape manager (targets API, reload).
    pub scrape: Arc<ScrapeManager>,
    /// The log store (empty until its WAL replay is done).
    pub logs: Arc<LogsDb>,
    /// The span store (empty until its WAL replay is done).
    pub traces: Arc<TracesDb>,
    /// Log ingestion rate limit.
    pub log_rate: Arc<ByteRateLimiter>,
    /// Remote-write samples-per-second bucket, when `limits.remote_write_ingestion_rate` is set.
    pub remote_write_rate: Option<Arc<ByteRateLimiter>>,
    /// Refuses ingest while resident memory is above `limits.max_memory`.
    pub memory: Arc<MemoryGuard>,
    /// Start time, configuration and reload state for the status endpoints.
    pub status: Arc<crate::api::prom::runtime::RuntimeStatus>,
    /// The data directory when `server.enable_admin_api` is on (snapshots go below it).
    pub admin_dir: Option<std::path::PathBuf>,
    /// The PromQL engine and query gate, with the configured query limits.
    pub query: Arc<crate::api::prom::query::QueryRuntime>,
    /// Forwarding destinations, when configured.
    pub forwarder: Option<Arc<crate::forward::Forwarder>>,
    /// Rule groups and the alert notifier.
    pub rules: Arc<RuleManager>,
    /// The tail sampler of trace ingest, when `traces.sampling.enabled`.
    pub trace_sampler: Option<Arc<TailSampler>>,
    /// The span-metrics generator, unless `traces.span_metrics.enabled: false`.
    pub span_metrics: Option<Arc<crate::spanmetrics::Generator>>,
    /// What `/-/quit` triggers, when `server.enable_quit`.
    pub quit: Option<crate::shutdown::Shutdown>,
}

impl AppState {
    /// Builds the state for a TSDB handle and the configured limits.
    pub fn new(db: Arc<Db>, limits: LimitsConfig) -> Self {
        let logs = Arc::new(LogsDb::new());
        let traces = Arc::new(TracesDb::new());
        let metrics = Arc::new(SelfMetrics::new(db.clone(), logs.clone(), traces.clone()));
        let remote_write_gate = Arc::new(InflightLimiter::new(
            limits.remote_write_max_inflight_requests(),
            limits.remote_write_max_inflight_bytes(),
            metrics.remote_write_inflight_bytes.clone(),
        ));
        let scrape = Arc::new(ScrapeManager::new(db.clone()));
        let (rate, burst) = limits.logs_rate();
        let memory = MemoryGuard::start(
            limits.max_memory(crate::ingest::memory::total_memory()),
            limits.max_inflight_decompressed(),
        );
        metrics.set_memory_guard(memory.clone());
        let rules = Arc::new(RuleManager::new(db.clone(), logs.clone(), metrics.clone()));
        AppState {
            rules,
            db,
            metrics,
            scrape,
            logs,
            traces,
            log_rate: Arc::new(ByteRateLimiter::new(rate, burst)),
            remote_write_rate: limits
                .remote_write_rate()
                .map(|(rate, burst)| Arc::new(ByteRateLimiter::new(rate, burst))),
            memory,
            forwarder: None,
            query: Arc::new(crate::api::prom::query::QueryRuntime::new(&limits)),
            admin_dir: None,
            status: Arc::new(crate::api::prom::runtime::RuntimeStatus::new(&Default::default())),
            limits: Arc::new(limits),
            remote_write_gate,
            trace_sampler: None,
            span_metrics: None,
            quit: None,
        }
    }
}

#[cfg(test)]
impl AppState {
    /// State over a fresh TSDB in `dir`, ready at once (router and handler tests).
    pub fn for_tests(dir: &std::path::Path, limits: LimitsConfig) -> (AppState, Arc<nerve_storage::metrics::Tsdb>) {
        let tsdb = nerve_storage::metrics::Tsdb::open(dir, nerve_storage::metrics::TsdbOptions::default())
            .expect("open test TSDB");
        let state = AppState::new(Arc::new(Db::with(tsdb.clone())), limits);
        let logs = nerve_storage::logs::LogStore::open(
            &dir.join("logs"),
            nerve_storage::logs::LogStoreOptions {
                sync: nerve_storage::metrics::SyncPolicy::Never,
                ..Default::default()
            },
        )
        .expect("open test log store");
        state.logs.set(logs);
        let traces = nerve_storage::traces::SpanStore::open(
            &dir.join("traces"),
            nerve_storage::traces::SpanStoreOptions {
                sync: nerve_storage::metrics::SyncPolicy::Never,
                background: false,
                ..Default::default()
            },
        )
        .expect("open test span store");
        state.traces.set(traces);
        (state, tsdb)
    }
}
