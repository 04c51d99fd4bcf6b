//! nerve-query: query front ends over nerve-storage.
//!
//! Today it holds [`selector`], which turns PromQL series selectors (the `match[]` parameter of
//! the Prometheus series/labels APIs) into storage matchers. The PromQL evaluator, LogQL and
//! trace search are separate, later pieces of work and are not here yet.
#![warn(missing_docs)]

pub mod error;
pub mod selector;

pub use error::{Error, Result};
