//! The LogQL engine: a hand-written parser and an evaluator with Loki 3 semantics, reading
//! logs through the [`LogSource`] trait.
//!
//! # Entry points (for the HTTP layer)
//!
//! - [`parse`]`(query) -> Result<Expr>`: parse errors are
//!   [`Error::BadData`](crate::Error::BadData) (HTTP 400) whose text is Loki's
//!   (`parse error at line 1, col 17: syntax error: unexpected ...`).
//! - [`eval_instant`]`(src, query, time_ns, limit, direction, &limits)`: `/loki/api/v1/query`.
//!   Metric queries give [`LogValue::Vector`] (or [`LogValue::Scalar`] for literals); log
//!   queries are refused with Loki 3's "log queries are not supported as an instant query
//!   type" (HTTP 400).
//! - [`eval_range`]`(src, query, start_ns, end_ns, step_ns, interval_ns, limit, direction,
//!   &limits)`: `/loki/api/v1/query_range`. Log queries give [`LogValue::Streams`]: up to
//!   `limit` lines in `[start, end)`, in `direction` order. Metric queries give
//!   [`LogValue::Matrix`] with steps `start, start + step, ...` up to and including `end`;
//!   each step `t` aggregates entries in `(t - offset - range, t - offset]`.
//! - [`eval_instant_expr`] / [`eval_range_expr`] take an already parsed [`Expr`].
//! - [`pushdown_contains`]`(&Expr)`: the substrings every raw line must contain (what the
//!   evaluator puts in [`Select::contains`]).
//! - [`selector_matchers`]`(&Expr)`: the stream selectors, for the labels/series endpoints.
//!
//! # Labels of log lines
//!
//! Each [`LogLine`] carries its labels split the way Loki categorises them: stream (indexed)
//! labels, structured metadata, and parsed labels (from parsers, `label_format`, and the error
//! labels `__error__`/`__error_details__`). With the `categorize-labels` encoding flag Loki
//! groups lines by stream labels only and sends the other two per entry; the legacy encoding
//! uses the full set, [`LogLine::full_labels`].
//!
//! # Errors
//!
//! Stages that fail on a line add `__error__` (`JSONParserErr`, `LogfmtParserErr`,
//! `LabelFilterErr`, `TemplateFormatErr`, `SampleExtractionErr`) and `__error_details__`;
//! `| __error__=""` or `| drop __error__` remove them. A metric query whose series still carry
//! `__error__` fails with Loki's "pipeline error" message. Limits ([`Limits`]) fail with Loki's
//! messages; a passed deadline fails with [`Error::Timeout`](crate::Error::Timeout).

mod ast;
mod binary;
mod eval;
mod extract;
mod json;
mod labels_builder;
mod lexer;
mod logfmt;
mod parse_pipeline;
mod parser;
mod parsers;
mod pattern;
mod pushdown;
mod source;
mod stages;
mod step;
mod template;
mod template_funcs;
mod units;
mod value;

pub use ast::*;
pub use eval::{INSTANT_LOG_QUERY_ERR, eval_instant, eval_instant_expr, eval_range, eval_range_expr};
pub use parser::parse;
pub use pattern::Pattern;
pub use pushdown::{pushdown_contains, pushdown_trace_id, selector_matchers};
pub use source::{Direction, EntryView, LogSource, MemEntry, MemSource, Select};
pub use template::Template;
pub use units::{parse_duration, parse_go_duration};
pub use value::{Limits, LogLine, LogValue, Sample, SeriesOut};
