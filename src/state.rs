//! What every HTTP handler can reach: the TSDB handle, self-metrics, limits and the
//! ingestion back-pressure gate. Cheap to clone (all `Arc`s).

use std::sync::Arc;

use crate::config::limits::LimitsConfig;
use crate::db::Db;
use crate::ingest::backpressure::InflightLimiter;
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
}

impl AppState {
    /// Builds the state for a TSDB handle and the configured limits.
    pub fn new(db: Arc<Db>, limits: LimitsConfig) -> Self {
        let metrics = Arc::new(SelfMetrics::new(db.clone()));
        let remote_write_gate = Arc::new(InflightLimiter::new(
            limits.remote_write_max_inflight_requests(),
            limits.remote_write_max_inflight_bytes(),
            metrics.remote_write_inflight_bytes.clone(),
        ));
        let scrape = Arc::new(ScrapeManager::new(db.clone()));
        AppState {
            db,
            metrics,
            scrape,
            limits: Arc::new(limits),
            remote_write_gate,
        }
    }
}

#[cfg(test)]
impl AppState {
    /// State over a fresh TSDB in `dir`, ready at once (router and handler tests).
    pub fn for_tests(dir: &std::path::Path, limits: LimitsConfig) -> (AppState, Arc<nerve_storage::metrics::Tsdb>) {
        let tsdb = nerve_storage::metrics::Tsdb::open(dir, nerve_storage::metrics::TsdbOptions::default())
            .expect("open test TSDB");
        (AppState::new(Arc::new(Db::with(tsdb.clone())), limits), tsdb)
    }
}
