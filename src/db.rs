//! The handle through which handlers reach the metrics TSDB.
//!
//! The HTTP port is bound before the TSDB is opened (WAL replay can take a while), so the
//! handle starts empty: `/-/ready` answers 503 and storage-backed endpoints answer
//! 503 + Retry-After until [`Db::set`] is called.

use std::sync::{Arc, OnceLock};

use nerve_storage::metrics::Tsdb;

use crate::servers::error::ApiError;

/// The metrics TSDB once it is open. Thread-safe; shared through an `Arc`.
#[derive(Default)]
pub struct Db {
    tsdb: OnceLock<Arc<Tsdb>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("ready", &self.is_ready()).finish()
    }
}

impl Db {
    /// An empty handle (not ready).
    pub fn new() -> Self {
        Db::default()
    }

    /// A handle that is ready at once (tests).
    #[cfg(test)]
    pub fn with(tsdb: Arc<Tsdb>) -> Self {
        let db = Db::new();
        db.set(tsdb);
        db
    }

    /// Publishes the opened TSDB; later calls are ignored (it is opened once per process).
    pub fn set(&self, tsdb: Arc<Tsdb>) {
        if self.tsdb.set(tsdb).is_err() {
            tracing::warn!("BUG: TSDB handle set twice; keeping the first");
        }
    }

    /// The TSDB if it is open.
    pub fn get(&self) -> Option<Arc<Tsdb>> {
        self.tsdb.get().cloned()
    }

    /// True once WAL replay has finished and the TSDB accepts reads and writes.
    pub fn is_ready(&self) -> bool {
        self.tsdb.get().is_some()
    }

    /// The TSDB, or the 503 answer handlers give while it is still opening.
    pub fn ready(&self) -> Result<Arc<Tsdb>, ApiError> {
        self.get().ok_or_else(ApiError::not_ready)
    }
}
