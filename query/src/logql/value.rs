//! Query results and limits.

use std::time::Instant;

use nerve_storage::Labels;

/// The result of a LogQL query.
#[derive(Clone, Debug, PartialEq)]
pub enum LogValue {
    /// Log lines, in the requested direction (log queries).
    Streams(Vec<LogLine>),
    /// One value per series at one time (instant metric queries), sorted by labels unless the
    /// query ends in `sort`/`sort_desc`.
    Vector(Vec<Sample>),
    /// Series over time (range metric queries), sorted by labels.
    Matrix(Vec<SeriesOut>),
    /// A scalar at a time in nanoseconds (instant queries of literal expressions).
    Scalar(i64, f64),
}

/// One log line with its labels split the way Loki categorises them.
///
/// Loki's `categorize-labels` encoding flag (HTTP header `X-Loki-Response-Encoding-Flags:
/// categorize-labels`) groups lines by [`LogLine::stream`] only, and sends the other two sets
/// per entry as `{"structuredMetadata": {...}, "parsed": {...}}`. Without the flag (the legacy
/// encoding) a line's stream is its full label set, [`LogLine::full_labels`] =
/// stream ∪ structured metadata ∪ parsed, so one stored stream may become several.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// Indexed (stream) labels, after `drop`/`keep`/`label_format` renames.
    pub stream: Labels,
    /// Structured metadata of the entry (sorted by name), after `drop`/`keep`.
    pub structured_metadata: Vec<(String, String)>,
    /// Labels added by parsers and `label_format`, plus `__error__`/`__error_details__`
    /// (sorted by name).
    pub parsed: Vec<(String, String)>,
    /// Timestamp in nanoseconds.
    pub ts_ns: i64,
    /// The line, after `line_format`/`decolorize`/`unpack`.
    pub line: String,
}

impl LogLine {
    /// The full label set used by the legacy encoding: stream ∪ metadata ∪ parsed.
    pub fn full_labels(&self) -> Labels {
        let pairs = self
            .stream
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .chain(self.structured_metadata.iter().cloned())
            .chain(self.parsed.iter().cloned());
        let mut v: Vec<(String, String)> = pairs.collect();
        // Names are unique across categories by construction; keep the last if not.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|b, a| a.0 == b.0);
        Labels::from_pairs(v).unwrap_or_default()
    }
}

/// One sample of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Series labels.
    pub labels: Labels,
    /// Timestamp in nanoseconds.
    pub ts_ns: i64,
    /// Value.
    pub value: f64,
}

/// One series of a matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesOut {
    /// Series labels.
    pub labels: Labels,
    /// `(timestamp ns, value)` points in time order.
    pub points: Vec<(i64, f64)>,
}

/// Per-query limits. Zero means unlimited.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Most series a metric result may hold (Loki `max_query_series`).
    pub max_series: usize,
    /// Largest `limit` a log query may ask for (Loki `max_entries_limit_per_query`).
    pub max_entries: usize,
    /// Most samples a metric query may extract from log lines before stepping; each costs 16
    /// bytes while the query runs, so this bounds its memory.
    pub max_samples: usize,
    /// The query fails with a timeout once this instant has passed.
    pub deadline: Option<Instant>,
}
