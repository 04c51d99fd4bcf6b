//! nerve-query: query front ends over nerve-storage.
//!
//! - [`selector`] turns PromQL series selectors (the `match[]` parameter of the Prometheus
//!   series/labels APIs) into storage matchers.
//! - [`promql`] is the PromQL engine (instant and range queries, Prometheus 2.42 semantics).
//!
//! - [`logql`] is the LogQL engine (own parser and evaluator, Loki 3 semantics).
//!
//! - [`traces`] is trace search: Jaeger-style filters and a TraceQL subset.
//!
//! - [`gotemplate`] is Go's `text/template` (alert templates, LogQL `line_format`), and
//!   [`gofmt`] Go's number, duration and time formatting, shared by all of the above.
#![warn(missing_docs)]

pub mod error;
pub mod gofmt;
pub mod gotemplate;
pub mod logql;
pub mod promql;
pub mod selector;
pub mod traces;

pub use error::{Error, Result};
