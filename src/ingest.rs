//! Ingestion: decoding wire formats (via nerve-proto) into storage writes, with bounded
//! memory.

pub mod backpressure;
pub mod otlp_metrics;
pub mod remote_write;
