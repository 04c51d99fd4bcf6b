//! nerve-storage: the storage engines behind nerve.
//!
//! The crate is synchronous and knows nothing about HTTP, gRPC or wire formats; the binary maps
//! wire types to the domain types here ([`Labels`], [`metrics::Sample`]) and calls in through
//! `spawn_blocking`.
//!
//! - [`metrics`]: the time-series database (head + WAL + immutable mmapped blocks).
//! - [`logs`]: the log store (WAL + memory head + time-partitioned tantivy indexes).
//! - [`traces`]: the span store (WAL + head + time-partitioned compressed span segments).
//! - [`wal`]: the segmented write-ahead log both stores write through.
#![warn(missing_docs)]

pub mod encoding;
pub mod error;
pub mod labels;
pub mod logs;
pub mod matcher;
pub mod metrics;
pub mod quarantine;
pub mod traces;
pub mod wal;

pub use error::{Error, Result};
pub use labels::{Label, Labels};
pub use matcher::{MatchOp, Matcher};
