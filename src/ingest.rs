//! Ingestion: decoding wire formats (via nerve-proto) into storage writes, with bounded
//! memory.

pub mod append;
pub mod backpressure;
pub mod body;
pub mod grpc_body;
pub mod loki;
pub mod memory;
pub mod otlp;
pub mod otlp_logs;
pub mod otlp_metrics;
pub mod otlp_traces;
pub mod ratelimit;
pub mod remote_write;
