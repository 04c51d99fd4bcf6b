//! The span store: OTLP spans on local disk.
//!
//! [`model`] is the span model (OTLP's, without wire types).
pub mod model;

pub use model::{
    AttrValue, Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId, find_attr, hex,
    parse_trace_id,
};
