//! Network servers and what they share: the HTTP router, the error type, authentication.
//! (OTLP gRPC joins here in a later issue.)

pub mod auth;
pub mod error;
pub mod http;
