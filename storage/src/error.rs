//! The one error type of nerve-storage.

use std::path::PathBuf;

/// Result alias used throughout nerve-storage.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside the storage engines.
///
/// Variants are split by who is at fault: `InvalidInput`, `OutOfOrder`, `TooOld`, `OutOfBounds` and
/// `Duplicate` are the caller's data (an HTTP layer answers them with 4xx); `Io` and `Corruption` are ours or
/// the disk's (5xx); `Overloaded` asks the caller to retry later (503).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// File or directory the operation was on.
        path: PathBuf,
        /// Underlying OS error.
        #[source]
        source: std::io::Error,
    },
    /// On-disk data does not have the expected shape.
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corruption {
        /// File holding the bad bytes.
        path: PathBuf,
        /// Byte offset where decoding failed.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The caller passed data that can never be stored (bad labels, bad values).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A sample is older than the newest sample of its series and outside the out-of-order window.
    #[error("out of order sample for series {series}: timestamp {ts_ms} is before {newest_ms}")]
    OutOfOrder {
        /// Series labels in PromQL notation.
        series: String,
        /// The rejected sample timestamp.
        ts_ms: i64,
        /// Newest timestamp already stored for the series.
        newest_ms: i64,
    },
    /// A sample at an existing timestamp with a different value.
    #[error("duplicate sample for timestamp {ts_ms} of series {series} with a different value")]
    Duplicate {
        /// Series labels in PromQL notation.
        series: String,
        /// The timestamp.
        ts_ms: i64,
    },
    /// A sample older than what the head accepts (already cut into blocks or past retention).
    #[error("sample for series {series} is too old: timestamp {ts_ms} is before {min_ms}")]
    TooOld {
        /// Series labels in PromQL notation.
        series: String,
        /// The rejected sample timestamp.
        ts_ms: i64,
        /// Oldest timestamp the head accepts.
        min_ms: i64,
    },
    /// A sample or exemplar outside the time range the database accepts relative to the
    /// wall clock (see [`SampleBounds`](crate::metrics::SampleBounds)); `bound` says which
    /// end was crossed and where it lies.
    #[error("{what} for series {series} is out of bounds: timestamp {ts_ms} is {bound}")]
    OutOfBounds {
        /// `sample` or `exemplar`.
        what: String,
        /// Series labels in PromQL notation.
        series: String,
        /// The rejected timestamp.
        ts_ms: i64,
        /// The bound that was crossed, e.g. `more than max_future (10m) ahead of ...`.
        bound: String,
    },
    /// A configured cardinality limit refused a new series (the message names the limit);
    /// the samples of series that already exist are still accepted.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// A limit was hit; the caller may retry later.
    #[error("overloaded: {0}")]
    Overloaded(String),
    /// The database has been closed.
    #[error("storage is closed")]
    Closed,
}

impl Error {
    /// Wraps an `io::Error` with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds a `Corruption` error.
    pub fn corruption(path: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corruption {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// True when the error is the caller's data and retrying the same data cannot help (a
    /// cardinality limit included: Mimir answers those with 400 too).
    pub fn is_bad_data(&self) -> bool {
        matches!(
            self,
            Error::InvalidInput(_)
                | Error::OutOfOrder { .. }
                | Error::Duplicate { .. }
                | Error::TooOld { .. }
                | Error::OutOfBounds { .. }
                | Error::LimitExceeded(_)
        )
    }

    /// Whether this is the filesystem being full (`ENOSPC`) or a disk quota being exceeded
    /// (`EDQUOT`): a condition that goes away when space is freed, so writers should refuse
    /// with "retry later" rather than report an internal fault.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Io { source, .. } => io_is_disk_full(source),
            _ => false,
        }
    }
}

/// Whether `e` (or an I/O error it wraps, as tantivy does) says the disk or quota is full.
pub fn io_is_disk_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    if matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded) {
        return true;
    }
    let mut inner: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
    while let Some(err) = inner {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(io.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
        {
            return true;
        }
        inner = err.source();
    }
    false
}

/// Reports a failure that a background loop meets again and again (a full disk makes every
/// maintenance pass fail): the first one and then at most one a minute, with how many were
/// suppressed in between, and a line when the loop succeeds again.
#[derive(Debug, Default)]
pub(crate) struct RepeatedFailure {
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl RepeatedFailure {
    /// Logs `e` (as an error about `what`) unless one was logged less than a minute ago.
    pub(crate) fn failed(&mut self, what: &str, e: &Error) {
        let now = std::time::Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < std::time::Duration::from_secs(60))
        {
            self.suppressed += 1;
            return;
        }
        tracing::error!(error = %e, suppressed = self.suppressed, "{what} failed");
        self.last = Some(now);
        self.suppressed = 0;
    }

    /// Notes a success; logs the recovery when failures were reported.
    pub(crate) fn succeeded(&mut self, what: &str) {
        if self.last.take().is_some() {
            tracing::info!(suppressed = self.suppressed, "{what} works again");
        }
        self.suppressed = 0;
    }

    /// Records the outcome of one attempt.
    pub(crate) fn record<T>(&mut self, what: &str, r: &Result<T>) {
        match r {
            Ok(_) => self.succeeded(what),
            Err(e) => self.failed(what, e),
        }
    }
}
