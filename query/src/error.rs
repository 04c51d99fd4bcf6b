//! The one error type of nerve-query.

/// Result alias of nerve-query.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Query errors, split the way the Prometheus API reports them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query text does not parse or is not allowed where it was used (HTTP 400 `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// The storage layer failed while answering.
    #[error(transparent)]
    Storage(#[from] nerve_storage::Error),
}
