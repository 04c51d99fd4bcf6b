//! nerve-query: query front ends over nerve-storage.
//!
//! - [`selector`] turns PromQL series selectors (the `match[]` parameter of the Prometheus
//!   series/labels APIs) into storage matchers.
//! - [`promql`] is the PromQL engine (instant and range queries, Prometheus 2.42 semantics).
//!
//! LogQL and trace search are separate, later pieces of work and are not here yet.
#![warn(missing_docs)]

pub mod error;
pub mod promql;
pub mod selector;

pub use error::{Error, Result};
