//! The one error type of every HTTP handler, and the one place storage and query errors are
//! mapped to HTTP statuses (and gRPC codes).
//!
//! Prometheus API errors render as its JSON envelope
//! (`{"status":"error","errorType":"bad_data","error":"..."}`); ingestion endpoints render
//! plain text, as Prometheus' remote-write receiver does (`http.Error`).

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Seconds a client is asked to wait when nerve is overloaded or not ready yet.
pub const RETRY_AFTER_SECS: u64 = 5;

/// What went wrong, in the vocabulary of the Prometheus API's `errorType`. Each kind has
/// exactly one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400 `bad_data`: the request is wrong; retrying cannot help.
    BadData,
    /// 422 `execution`: the query failed while running.
    Execution,
    /// 503 `timeout`.
    Timeout,
    /// 499 `canceled`.
    Canceled,
    /// 500 `internal`: our fault or the disk's.
    Internal,
    /// 404 `not_found`.
    NotFound,
    /// 503 `unavailable` + `Retry-After`: back-pressure or not ready yet; retry later.
    Unavailable,
    /// 413: a body exceeds a configured limit.
    PayloadTooLarge,
    /// 415: an unsupported content type, message or encoding.
    UnsupportedMediaType,
    /// 401: credentials missing or wrong.
    Unauthorized,
    /// 403: authenticated, but not for this route class.
    Forbidden,
    /// 429 + `Retry-After`: a rate or count limit was hit; retry later.
    TooManyRequests,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadData => StatusCode::BAD_REQUEST,
            ErrorKind::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Timeout | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            // 499 is nginx's "client closed request"; always a valid status code.
            ErrorKind::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The gRPC code of this kind: retryable kinds map to UNAVAILABLE (what OTLP clients
    /// retry), the caller's mistakes to INVALID_ARGUMENT (never retried).
    pub fn grpc_code(self) -> tonic::Code {
        match self {
            ErrorKind::BadData | ErrorKind::Execution | ErrorKind::UnsupportedMediaType => tonic::Code::InvalidArgument,
            ErrorKind::Timeout | ErrorKind::Unavailable => tonic::Code::Unavailable,
            ErrorKind::Canceled => tonic::Code::Cancelled,
            ErrorKind::Internal => tonic::Code::Internal,
            ErrorKind::NotFound => tonic::Code::NotFound,
            ErrorKind::PayloadTooLarge => tonic::Code::ResourceExhausted,
            ErrorKind::Unauthorized => tonic::Code::Unauthenticated,
            ErrorKind::Forbidden => tonic::Code::PermissionDenied,
            ErrorKind::TooManyRequests => tonic::Code::ResourceExhausted,
        }
    }

    /// The Prometheus API `errorType` string.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorKind::BadData | ErrorKind::PayloadTooLarge | ErrorKind::UnsupportedMediaType => "bad_data",
            ErrorKind::Execution => "execution",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Internal => "internal",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::TooManyRequests => "too_many_requests",
        }
    }
}

/// How the error body is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// The Prometheus JSON envelope.
    Json,
    /// A plain-text line.
    Text,
}

/// An HTTP handler error: a kind (→ status), a message for the client, and the body format.
#[derive(Debug)]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
    format: Format,
}

impl ApiError {
    /// An error of `kind` with a client-facing message, rendered as Prometheus JSON.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            format: Format::Json,
        }
    }

    /// 400 `bad_data`.
    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::BadData, message)
    }

    /// 500 `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Internal, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::NotFound, message)
    }

    /// 503 + `Retry-After`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Unavailable, message)
    }

    /// The answer while the TSDB is still being opened (WAL replay).
    pub fn not_ready() -> Self {
        ApiError::unavailable("nerve is starting up (replaying the WAL); retry shortly")
    }

    /// Renders the body as plain text instead of JSON (ingestion endpoints).
    pub fn plain(mut self) -> Self {
        self.format = Format::Text;
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The client-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The gRPC status of this error (see [`ErrorKind::grpc_code`]).
    pub fn into_grpc_status(self) -> tonic::Status {
        if self.kind == ErrorKind::Internal {
            tracing::error!(error = %self.message, "internal error answering gRPC call");
        }
        tonic::Status::new(self.kind.grpc_code(), self.message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.error_type(), self.message)
    }
}

impl std::error::Error for ApiError {}

/// The Prometheus error envelope.
#[derive(Serialize)]
struct ErrorBody<'a> {
    status: &'static str,
    #[serde(rename = "errorType")]
    error_type: &'static str,
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        if self.kind == ErrorKind::Internal {
            tracing::error!(error = %self.message, "internal error answering request");
        } else {
            tracing::debug!(status = status.as_u16(), error = %self.message, "request failed");
        }
        let mut resp = match self.format {
            Format::Json => {
                let body = ErrorBody {
                    status: "error",
                    error_type: self.kind.error_type(),
                    error: &self.message,
                };
                let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"status\":\"error\"}".to_vec());
                (
                    status,
                    [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                    json,
                )
                    .into_response()
            }
            Format::Text => {
                let text = format!("{}\n", self.message);
                (
                    status,
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    )],
                    text,
                )
                    .into_response()
            }
        };
        match self.kind {
            ErrorKind::Unavailable | ErrorKind::TooManyRequests => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            ErrorKind::Unauthorized => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"nerve\""),
                );
            }
            _ => {}
        }
        resp
    }
}

impl From<nerve_storage::Error> for ApiError {
    /// The single storage → HTTP mapping: the caller's data is 400; overload, shutdown and a
    /// full disk are 503 + Retry-After (every remote-write, Loki and OTLP client retries those);
    /// everything else (I/O, corruption) is 500.
    fn from(e: nerve_storage::Error) -> Self {
        use nerve_storage::Error as E;
        if e.is_disk_full() {
            return ApiError::new(
                ErrorKind::Unavailable,
                format!("disk full, nerve refuses writes until space is freed: {e}"),
            );
        }
        let kind = match &e {
            _ if e.is_bad_data() => ErrorKind::BadData,
            E::Overloaded(_) | E::Closed => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        ApiError::new(kind, e.to_string())
    }
}

impl From<nerve_query::Error> for ApiError {
    fn from(e: nerve_query::Error) -> Self {
        use nerve_query::Error as E;
        let kind = match &e {
            E::BadData(_) | E::NotSupported(_) => ErrorKind::BadData,
            E::Execution(_) | E::TooManySamples(_) => ErrorKind::Execution,
            E::Timeout(_) => ErrorKind::Timeout,
            E::Canceled(_) => ErrorKind::Canceled,
            E::Storage(_) => match e {
                E::Storage(s) => return s.into(),
                _ => ErrorKind::Internal,
            },
        };
        ApiError::new(kind, e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("background task failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> String {
        let b = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn json_envelope() {
        let resp = ApiError::bad_data("no match[] parameter provided").into_response();
        assert_eq!(resp.status(), 400);
        assert_eq!(
            body(resp).await,
            r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#
        );
    }

    #[tokio::test]
    async fn storage_mapping() {
        use nerve_storage::Error as E;
        let cases = [
            (E::InvalidInput("x".into()), 400),
            (
                E::OutOfOrder {
                    series: "a".into(),
                    ts_ms: 1,
                    newest_ms: 2,
                },
                400,
            ),
            (
                E::Duplicate {
                    series: "a".into(),
                    ts_ms: 1,
                },
                400,
            ),
            (
                E::TooOld {
                    series: "a".into(),
                    ts_ms: 1,
                    min_ms: 2,
                },
                400,
            ),
            (E::Overloaded("busy".into()), 503),
            (E::corruption("/x", 3, "bad"), 500),
            (E::io("/x", std::io::Error::other("disk")), 500),
        ];
        for (e, status) in cases {
            let resp = ApiError::from(e).into_response();
            assert_eq!(resp.status(), status);
            if status == 503 {
                assert_eq!(resp.headers()[header::RETRY_AFTER], "5");
            }
        }
    }

    #[tokio::test]
    async fn plain_text() {
        let resp = ApiError::new(ErrorKind::PayloadTooLarge, "too big")
            .plain()
            .into_response();
        assert_eq!(resp.status(), 413);
        assert_eq!(body(resp).await, "too big\n");
    }
}
