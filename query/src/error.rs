//! The one error type of nerve-query.
//!
//! Variants follow the Prometheus API's `errorType` split so the HTTP layer can map each one
//! to exactly one status (see [`Error::error_type`]).

/// Result alias of nerve-query.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Query errors, split the way the Prometheus API reports them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query text does not parse or is not allowed where it was used (HTTP 400 `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// The query parsed but uses something this engine does not implement yet (HTTP 400
    /// `bad_data`, so clients never mistake it for a result).
    #[error("not supported yet: {0}")]
    NotSupported(String),
    /// The query failed while being evaluated, e.g. many-to-many matching (HTTP 422 `execution`).
    #[error("{0}")]
    Execution(String),
    /// The query loaded more samples than allowed (HTTP 422 `execution`, as in Prometheus).
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// The query ran past its deadline (HTTP 503 `timeout`).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query was canceled by its caller (HTTP 499 `canceled`).
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    /// The storage layer failed while answering.
    #[error(transparent)]
    Storage(#[from] nerve_storage::Error),
}

impl Error {
    /// The Prometheus API `errorType` of this error (`storage` errors are decided by the caller).
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::BadData(_) | Error::NotSupported(_) => "bad_data",
            Error::Execution(_) | Error::TooManySamples(_) => "execution",
            Error::Timeout(_) => "timeout",
            Error::Canceled(_) => "canceled",
            Error::Storage(_) => "internal",
        }
    }
}
