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
    /// A LogQL query does not parse (HTTP 400 `bad_data`). Displays like Loki's `ParseError`:
    /// `parse error at line 1, col 17: syntax error: ...`, or `parse error : ...` when the
    /// problem has no position (line and col both 0).
    #[error("{}", logql_parse_error_text(*.line, *.col, .msg))]
    LogqlParse {
        /// 1-based line of the offending token (0 when unknown or, as in Loki, for range tokens).
        line: usize,
        /// 1-based column (in characters) of the offending token; 0 when unknown.
        col: usize,
        /// The message after the position, e.g. `syntax error: unexpected IDENTIFIER`.
        msg: String,
    },
}

fn logql_parse_error_text(line: usize, col: usize, msg: &str) -> String {
    if line == 0 && col == 0 {
        format!("parse error : {msg}")
    } else {
        format!("parse error at line {line}, col {col}: {msg}")
    }
}

impl Error {
    /// The Prometheus API `errorType` of this error (`storage` errors are decided by the caller).
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::BadData(_) | Error::NotSupported(_) | Error::LogqlParse { .. } => "bad_data",
            Error::Execution(_) | Error::TooManySamples(_) => "execution",
            Error::Timeout(_) => "timeout",
            Error::Canceled(_) => "canceled",
            Error::Storage(_) => "internal",
        }
    }
}
