//! The metrics TSDB.
//!
//! Write path: [`Appender`] → WAL (fsync policy) → head (compressed chunks, postings).
//! Every `block_duration` the head's oldest range is written as an immutable block
//! (see [`block`]), blocks are compacted and deleted by retention.
//! Read path: [`Querier`] merges head and blocks over `[mint, maxt]`.

mod appender;
pub mod block;
pub mod block_chunk;
mod bounds;
pub mod chunk;
pub mod compact;
mod damage;
mod db;
mod head;
pub mod index;
mod observer;
pub mod postings;
pub mod querier;
pub mod record;
mod recovery;
mod snapshot;
pub mod tombstones;

use crate::labels::Labels;

pub use crate::wal::SyncPolicy;
pub use appender::Appender;
pub use bounds::{SampleBounds, TimeWindow, now_ms};
pub use db::{Tsdb, TsdbOptions, TsdbStats};
pub use head::{HeadCardinality, Stat as CardinalityStat};
pub use observer::{CommitObserver, CommittedBatch};
pub use querier::{Querier, Series, SeriesIter};

/// One float sample: a millisecond timestamp and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value; may be the stale marker [`STALE_NAN`].
    pub v: f64,
}

/// Bit pattern of the Prometheus staleness marker (a signalling NaN).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// Bit pattern of the NaN Prometheus uses for an ordinary NaN value.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;
/// The staleness marker as an f64. Compare with [`is_stale_nan`], never with `==`.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True when `v` is exactly the staleness marker.
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// An exemplar: a sample of a series tagged with extra labels (typically `trace_id`).
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// Exemplar labels (e.g. `trace_id`, `span_id`).
    pub labels: Labels,
    /// Milliseconds since the epoch.
    pub t: i64,
    /// Observed value.
    pub v: f64,
}

/// Metric type as carried by exposition formats and remote write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MetricType {
    /// Type not given.
    Unknown = 0,
    /// Monotonic counter.
    Counter = 1,
    /// Gauge.
    Gauge = 2,
    /// Classic histogram.
    Histogram = 3,
    /// Gauge histogram.
    GaugeHistogram = 4,
    /// Summary.
    Summary = 5,
    /// Info metric.
    Info = 6,
    /// State set.
    StateSet = 7,
}

impl MetricType {
    /// Decodes the on-disk byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => MetricType::Unknown,
            1 => MetricType::Counter,
            2 => MetricType::Gauge,
            3 => MetricType::Histogram,
            4 => MetricType::GaugeHistogram,
            5 => MetricType::Summary,
            6 => MetricType::Info,
            7 => MetricType::StateSet,
            _ => return None,
        })
    }

    /// The lower-case name the Prometheus metadata API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
        }
    }
}

/// TYPE/HELP/UNIT of a metric family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricMetadata {
    /// Metric type.
    pub kind: MetricType,
    /// Help text.
    pub help: String,
    /// Unit (may be empty).
    pub unit: String,
}
