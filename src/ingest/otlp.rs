//! The OTLP/HTTP export handler shared by the three signals ([`super::otlp_metrics`],
//! [`super::otlp_logs`], [`super::otlp_traces`]): one implementation of the steps every
//! export takes, generic over the signal's request message and its ingest function.
//!
//! Steps: the `Content-Type` picks the encoding (protobuf or JSON; anything else 415) →
//! the signal's store must be open and memory below `limits.max_memory` (503) → the body
//! is read and its `Content-Encoding` undone within the signal's [`BodyLimits`] (413) →
//! the signal decodes and stores it → 200 with the export response in the request's
//! encoding (its `partial_success` set when something was refused), or an error as a
//! `google.rpc.Status` ([`status_response`]).

use std::future::Future;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nerve_proto::otlp_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use nerve_proto::otlp_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use nerve_proto::otlp_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use nerve_proto::{OtlpEncoding, RpcStatus, otlp};

use crate::ingest::body::{BodyLimits, read_decoded};
use crate::servers::error::{ApiError, ErrorKind, RETRY_AFTER_SECS};
use crate::state::AppState;

/// Largest OTLP request accepted, after decompression (the OTLP specification's
/// recommended 64 MiB); larger → 413 (gRPC: RESOURCE_EXHAUSTED).
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// Body bounds of the OTLP/HTTP metrics and traces paths: [`MAX_BODY_BYTES`] as sent and
/// decompressed (logs have their own, from `limits:`).
pub const OTLP_BODY_LIMITS: BodyLimits = BodyLimits {
    max_body: MAX_BODY_BYTES,
    max_decoded: MAX_BODY_BYTES,
    decoded_limit: "the OTLP request limit of 64MiB",
    allow_snappy: false,
};

/// A request body decoder, run on a blocking thread by the signal.
pub type Decoder<R> = Box<dyn FnOnce() -> Result<R, ApiError> + Send>;

/// The answer to an export request of signal `S`.
pub type Answer<S> = Result<<<S as OtlpSignal>::Request as ExportRequest>::Response, ApiError>;

/// One OTLP signal, as [`http_export`] drives it.
pub trait OtlpSignal: 'static {
    /// The export request message.
    type Request: ExportRequest;

    /// Checks that the signal's store is open (503 while it opens).
    fn ready(state: &AppState) -> Result<(), ApiError>;

    /// The bounds of the signal's bodies; [`OTLP_BODY_LIMITS`] unless overridden.
    fn body_limits(state: &AppState) -> BodyLimits {
        let _ = state;
        OTLP_BODY_LIMITS
    }

    /// Stores the request `decode` yields from a body of `len` decoded bytes. The default
    /// decodes on a blocking thread, then calls [`OtlpSignal::store`]; a signal that must
    /// admit the bytes before decoding them overrides it.
    fn ingest(
        state: &AppState,
        _len: usize,
        decode: Decoder<Self::Request>,
    ) -> impl Future<Output = Answer<Self>> + Send {
        async move {
            let req = tokio::task::spawn_blocking(decode).await??;
            Self::store(state, req).await
        }
    }

    /// Stores one decoded request (both transports) and answers it.
    fn store(state: &AppState, req: Self::Request) -> impl Future<Output = Answer<Self>> + Send;
}

/// An OTLP export request message: the response it gets and the signal's name.
pub trait ExportRequest: prost::Message + Default + serde::de::DeserializeOwned + Send + 'static {
    /// The export response message.
    type Response: ExportResponse;
    /// The signal's name in messages (`logs`, `metrics`, `traces`).
    const SIGNAL: &'static str;
}

/// An OTLP export response: empty, or with a `partial_success` counting what was refused.
pub trait ExportResponse: prost::Message + serde::Serialize + Sized {
    /// The answer for `rejected` refused items, the first refusal saying why.
    fn new(rejected: u64, first_error: Option<&str>) -> Self;
    /// Whether `partial_success` is unset (everything was stored).
    fn is_complete(&self) -> bool;
}

/// Implements [`ExportRequest`] and [`ExportResponse`] for a signal's messages: the request,
/// the response, its partial-success message and the field counting refused items.
macro_rules! export_messages {
    ($signal:literal, $request:ty, $response:ty, $partial:ident, $count:ident) => {
        impl ExportRequest for $request {
            type Response = $response;
            const SIGNAL: &'static str = $signal;
        }

        impl ExportResponse for $response {
            fn new(rejected: u64, first_error: Option<&str>) -> Self {
                Self {
                    partial_success: (rejected > 0).then(|| $partial {
                        $count: i64::try_from(rejected).unwrap_or(i64::MAX),
                        error_message: first_error.unwrap_or_default().to_owned(),
                    }),
                }
            }

            fn is_complete(&self) -> bool {
                self.partial_success.is_none()
            }
        }
    };
}

export_messages!(
    "logs",
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    ExportLogsPartialSuccess,
    rejected_log_records
);
export_messages!(
    "metrics",
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
    ExportMetricsPartialSuccess,
    rejected_data_points
);
export_messages!(
    "traces",
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    ExportTracePartialSuccess,
    rejected_spans
);

/// `POST /v1/{logs,metrics,traces}` (and the Loki and Prometheus OTLP paths): see the module
/// docs.
#[tracing::instrument(skip_all)]
pub async fn http_export<S: OtlpSignal>(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(encoding) = OtlpEncoding::from_content_type(content_type) else {
        let e = ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!("unsupported content type {content_type:?}; use application/x-protobuf or application/json"),
        );
        return status_response(&e, OtlpEncoding::Protobuf);
    };
    let result = async {
        S::ready(&state)?;
        state.memory.check()?;
        let limits = S::body_limits(&state);
        let body = read_decoded(&state.memory, &headers, body, limits).await?;
        let len = body.bytes.len();
        let decode = move || {
            let req = encoding
                .decode::<S::Request>(&body.bytes)
                .map_err(|e| ApiError::bad_data(format!("decoding OTLP {} request: {e}", S::Request::SIGNAL)));
            drop(body);
            req
        };
        S::ingest(&state, len, Box::new(decode)).await
    }
    .await;
    match result {
        Ok(resp) => {
            // The generated JSON mapping writes `{"partialSuccess":null}`; send the canonical
            // empty message instead.
            let body = if encoding == OtlpEncoding::Json && resp.is_complete() {
                b"{}".to_vec()
            } else {
                encoding.encode(&resp)
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, HeaderValue::from_static(encoding.content_type()))],
                body,
            )
                .into_response()
        }
        Err(e) => status_response(&e, encoding),
    }
}

/// An error as OTLP/HTTP wants it: the status of its kind, a `google.rpc.Status` body in
/// the request's encoding, `Retry-After` when the client should come back.
pub(crate) fn status_response(e: &ApiError, encoding: OtlpEncoding) -> Response {
    let kind = e.kind();
    if kind == ErrorKind::Internal {
        tracing::error!(error = %e.message(), "OTLP request failed");
    } else {
        tracing::debug!(error = %e.message(), "OTLP request refused");
    }
    let code = match kind {
        ErrorKind::Unavailable | ErrorKind::Timeout => otlp::CODE_UNAVAILABLE,
        ErrorKind::PayloadTooLarge | ErrorKind::TooManyRequests => otlp::CODE_RESOURCE_EXHAUSTED,
        ErrorKind::Internal => otlp::CODE_INTERNAL,
        _ => otlp::CODE_INVALID_ARGUMENT,
    };
    let status = RpcStatus {
        code,
        message: e.message().to_owned(),
    };
    let mut resp = (
        kind.status(),
        [(header::CONTENT_TYPE, HeaderValue::from_static(encoding.content_type()))],
        status.encode(encoding),
    )
        .into_response();
    if matches!(kind, ErrorKind::Unavailable | ErrorKind::TooManyRequests) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    resp
}
