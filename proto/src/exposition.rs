//! Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text format: a zero-copy,
//! pull-style parser that yields samples, metadata (TYPE/HELP/UNIT) and exemplars.
//!
//! The scrape loop asks for a body with [`ACCEPT_HEADER`], picks the [`Format`] from the
//! response's `Content-Type` ([`Format::from_content_type`]) and then calls
//! [`Parser::next_entry`] until it returns `Ok(None)`. Entries borrow from the body (names,
//! unescaped label values) and from the parser (the label slice, reused between lines), so a
//! body of plain samples is parsed without allocating per sample.
//!
//! Differences between the formats that the parser enforces:
//! - text 0.0.4: timestamps are integer milliseconds; `#` lines other than `HELP`/`TYPE` are
//!   comments; blank lines are skipped.
//! - OpenMetrics 1.0: timestamps are float seconds; the body must end with `# EOF` and nothing
//!   may follow it; every `#` line is `HELP`, `TYPE`, `UNIT` or `EOF`; blank lines are errors;
//!   a sample may carry an exemplar `# {labels} value [timestamp]` whose labels are at most
//!   128 characters. `_created` samples are returned as ordinary samples, as Prometheus 2.x
//!   stores them.
//!
//! Errors name the 1-based line and what was wrong. The parser never panics on any input
//! (property-tested, and fuzzed by `proto/fuzz`'s `exposition` target).

mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

pub use parser::Parser;

/// The `Accept` header Prometheus sends when scraping (api-contracts §1.5).
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// Longest exemplar label set (names plus values, in characters) OpenMetrics allows.
pub const EXEMPLAR_MAX_LABEL_CHARS: usize = 128;

/// Which text format a body is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 (`application/openmetrics-text`).
    OpenMetrics,
}

impl Format {
    /// Picks the parser for a response `Content-Type`. A missing, empty or unknown type means
    /// the Prometheus text format (Prometheus 3 rejects those unless a fallback is configured;
    /// nerve assumes text). Returns `None` only for protobuf exposition, which nerve does not
    /// parse.
    pub fn from_content_type(content_type: Option<&str>) -> Option<Format> {
        let ct = content_type.unwrap_or("");
        let media = ct.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Some(Format::OpenMetrics)
        } else if media.eq_ignore_ascii_case("application/vnd.google.protobuf") {
            None
        } else {
            Some(Format::PrometheusText)
        }
    }
}

/// Metric family type from a `# TYPE` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram` (OpenMetrics only).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics only).
    Info,
    /// `stateset` (OpenMetrics only).
    StateSet,
    /// `untyped` (text) or `unknown` (OpenMetrics).
    Unknown,
}

impl MetricType {
    /// The lower-case name as written on a `# TYPE` line (`unknown` for untyped).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// One `name="value"` pair of a sample or exemplar. The value is borrowed from the body
/// unless it contained escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label<'a> {
    /// Label name.
    pub name: &'a str,
    /// Unescaped label value.
    pub value: Cow<'a, str>,
}

/// An exemplar attached to a sample (OpenMetrics only).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exemplar<'p, 'a> {
    /// Exemplar labels, e.g. `trace_id`.
    pub labels: &'p [Label<'a>],
    /// The observed value.
    pub value: f64,
    /// Milliseconds since the epoch, if the exemplar carried a timestamp.
    pub timestamp_ms: Option<i64>,
}

/// One sample line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample<'p, 'a> {
    /// The metric name as written (e.g. `http_requests_total`, `rpc_seconds_bucket`).
    pub name: &'a str,
    /// Labels in the order written (not sorted, may contain duplicates: callers check).
    pub labels: &'p [Label<'a>],
    /// The raw text of the name and label set (`name{a="b"}`), usable as a cache key: two
    /// lines with the same `series` text describe the same series.
    pub series: &'a str,
    /// The value (`NaN`, `+Inf`, `-Inf` allowed).
    pub value: f64,
    /// Milliseconds since the epoch, if the line carried a timestamp.
    pub timestamp_ms: Option<i64>,
    /// The exemplar on this line, if any.
    pub exemplar: Option<Exemplar<'p, 'a>>,
}

/// What one line of a body describes.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<'p, 'a> {
    /// A sample.
    Sample(Sample<'p, 'a>),
    /// `# HELP name text` (text unescaped).
    Help {
        /// Metric family name.
        name: &'a str,
        /// Help text.
        help: Cow<'a, str>,
    },
    /// `# TYPE name type`.
    Type {
        /// Metric family name.
        name: &'a str,
        /// The declared type.
        kind: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics only).
    Unit {
        /// Metric family name.
        name: &'a str,
        /// The unit, e.g. `seconds`.
        unit: &'a str,
    },
}

/// Why a body could not be parsed: the 1-based line and what was wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}
