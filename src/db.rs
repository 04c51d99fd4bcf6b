//! The handles through which handlers reach the stores.
//!
//! The HTTP port is bound before the stores are opened (WAL replay can take a while), so a
//! handle starts empty: `/-/ready` answers 503 and storage-backed endpoints answer
//! 503 + Retry-After until [`Opening::set`] is called.

use std::sync::{Arc, OnceLock};

use nerve_storage::logs::LogStore;
use nerve_storage::metrics::Tsdb;
use nerve_storage::traces::SpanStore;

use crate::servers::error::ApiError;

/// A store that is being opened: empty until [`set`](Self::set). Thread-safe; shared through
/// an `Arc`.
pub struct Opening<T> {
    tsdb: OnceLock<Arc<T>>,
}

/// The metrics TSDB handle.
pub type Db = Opening<Tsdb>;
/// The log store handle.
pub type LogsDb = Opening<LogStore>;
/// The span store handle.
pub type TracesDb = Opening<SpanStore>;

impl<T> Default for Opening<T> {
    fn default() -> Self {
        Opening { tsdb: OnceLock::new() }
    }
}

impl<T> std::fmt::Debug for Opening<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opening").field("ready", &self.is_ready()).finish()
    }
}

impl<T> Opening<T> {
    /// An empty handle (not ready).
    pub fn new() -> Self {
        Opening::default()
    }

    /// A handle that is ready at once (tests).
    #[cfg(test)]
    pub fn with(tsdb: Arc<T>) -> Self {
        let db = Opening::new();
        db.set(tsdb);
        db
    }

    /// Publishes the opened TSDB; later calls are ignored (it is opened once per process).
    pub fn set(&self, tsdb: Arc<T>) {
        if self.tsdb.set(tsdb).is_err() {
            tracing::warn!("BUG: store handle set twice; keeping the first");
        }
    }

    /// The TSDB if it is open.
    pub fn get(&self) -> Option<Arc<T>> {
        self.tsdb.get().cloned()
    }

    /// True once WAL replay has finished and the TSDB accepts reads and writes.
    pub fn is_ready(&self) -> bool {
        self.tsdb.get().is_some()
    }

    /// The TSDB, or the 503 answer handlers give while it is still opening.
    pub fn ready(&self) -> Result<Arc<T>, ApiError> {
        self.get().ok_or_else(ApiError::not_ready)
    }
}
