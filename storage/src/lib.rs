//! nerve-storage: the storage engines behind nerve.
//!
//! The crate is synchronous and knows nothing about HTTP, gRPC or wire formats; the binary maps
//! wire types to the domain types here ([`Labels`], [`metrics::Sample`]) and calls in through
//! `spawn_blocking`.
//!
//! - [`metrics`]: the time-series database (head + WAL + immutable mmapped blocks).
#![warn(missing_docs)]

pub mod error;
pub mod labels;
pub mod matcher;
pub mod metrics;

pub use error::{Error, Result};
pub use labels::{Label, Labels};
pub use matcher::{MatchOp, Matcher};
