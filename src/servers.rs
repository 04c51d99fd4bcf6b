//! Network servers and what they share: the HTTP router, the error type, authentication.
//! `grpc` serves OTLP over gRPC.

pub mod auth;
pub mod error;
pub mod grpc;
pub mod http;
