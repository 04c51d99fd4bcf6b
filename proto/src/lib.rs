//! Wire formats nerve speaks.
//!
//! Prometheus text exposition 0.0.4 and OpenMetrics 1.0 are parsed by [`exposition`].
//!
//! Prometheus remote write 1.0 ([`prompb`]) and 2.0 ([`write_v2`]),
//! generated at build time from nerve's own `.proto` files (see `build.rs`),
//! plus the decoders, encoders and content negotiation in [`remote_write`].
//!
//! The usual receiver flow is [`negotiate`] on the request headers, then
//! [`decode_v1`] + [`flatten_v1`] or [`decode_v2`] + [`flatten_v2`], which
//! give the same [`DecodedSeries`] view for both protocol versions.
//!
//! OTLP messages come from the `opentelemetry-proto` crate (re-exported as [`otlp_proto`]);
//! [`otlp`] holds the OTLP/HTTP encodings and [`otlp_metrics`] translates OTLP metrics into
//! the same [`DecodedSeries`] view, the way Prometheus' OTLP receiver names them.
//!
//! Logs: [`loki`] decodes Loki push bodies (JSON and snappy protobuf, [`logproto`]) into a
//! [`PushRequest`] and holds Loki's ingest-time enrichment (`service_name`,
//! `detected_level`) and trace-id extraction; [`otlp_logs`] decodes OTLP/HTTP logs bodies
//! and translates them into the same [`PushRequest`] the way Loki's OTLP endpoint does.
#![warn(missing_docs)]

pub mod error;
pub mod exposition;
pub mod loki;
pub mod otlp;
pub mod otlp_logs;
pub mod otlp_metrics;
pub mod remote_write;

/// The OTLP protobuf types (with their gRPC services and the OTLP JSON mapping).
pub use opentelemetry_proto as otlp_proto;

pub use error::Error;
pub use loki::{
    PushEntry, PushRequest, PushStream, decode_push, detect_level, encode_push_protobuf, ensure_service_name,
    extract_span_id, extract_trace_id, parse_labels,
};
pub use otlp::{OtlpEncoding, RpcStatus};
pub use otlp_logs::{decode_logs_request, translate_logs};
pub use otlp_metrics::{MetricsBatch, decode_and_translate, translate_metrics};
pub use remote_write::{
    DecodedExemplar, DecodedMetadata, DecodedSeries, MetricKind, RemoteWriteVersion, decode_v1, decode_v2, encode_v1,
    encode_v2, flatten_v1, flatten_v2, negotiate, v1_to_v2,
};

/// Prometheus remote-write 1.0 messages (protobuf package `prometheus`).
///
/// The request body is a snappy block of a serialized [`prompb::WriteRequest`].
pub mod prompb {
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
}

/// Prometheus remote-write 2.0 messages (protobuf package `io.prometheus.write.v2`).
///
/// The request body is a snappy block of a serialized [`write_v2::Request`];
/// strings are interned in `Request::symbols` and referenced by index.
pub mod write_v2 {
    include!(concat!(env!("OUT_DIR"), "/io.prometheus.write.v2.rs"));
}

/// Loki push messages (protobuf package `logproto`).
///
/// The protobuf push body is a snappy block of a serialized [`logproto::PushRequest`];
/// [`loki`] decodes it into the validated [`PushRequest`] view.
pub mod logproto {
    include!(concat!(env!("OUT_DIR"), "/logproto.rs"));
}
