//! Trace queries over the span store: TraceQL ([`traceql`]), trace search ([`search`]) and
//! service dependencies ([`dependencies`]), the engine behind the Jaeger and Tempo APIs.

pub mod dependencies;
pub mod search;
pub mod traceql;
