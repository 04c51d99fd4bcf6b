//! One version-neutral view of remote-write 1.0 and 2.0 requests.

use crate::{Error, prompb, write_v2};

/// The metric-name label.
const METRIC_NAME: &str = "__name__";

/// One series of a remote-write request with its strings resolved, the same
/// for both protocol versions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedSeries {
    /// Label name/value pairs in the order the sender gave them (senders are
    /// supposed to sort them; this is not checked). `__name__` carries the
    /// metric name. Not validated: empty or duplicate names are left for the
    /// caller to reject.
    pub labels: Vec<(String, String)>,
    /// Float samples as `(timestamp in ms, value)`, in the order sent.
    pub samples: Vec<(i64, f64)>,
    /// Exemplars attached to the series.
    pub exemplars: Vec<DecodedExemplar>,
    /// Number of native histogram samples (counted, not decoded further).
    pub histograms: usize,
    /// Metadata carried by the series itself (2.0 only, and only when it says
    /// something: a type, a help text or a unit). Always `None` for 1.0, whose
    /// metadata comes per family next to the series (see [`flatten_v1`]).
    pub metadata: Option<DecodedMetadata>,
}

/// An exemplar with its labels resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedExemplar {
    /// The exemplar's labels, e.g. `trace_id`; may be empty.
    pub labels: Vec<(String, String)>,
    /// The observed value.
    pub value: f64,
    /// Milliseconds since the Unix epoch; `None` when the sender sent 0.
    pub timestamp: Option<i64>,
}

/// Type, help and unit of a metric family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedMetadata {
    /// The metric family name. For 2.0, which carries no family name, this is
    /// the series' `__name__` value ("" if it has none).
    pub metric_family: String,
    /// The family's kind.
    pub kind: MetricKind,
    /// Help text ("" when not given).
    pub help: String,
    /// Unit ("" when not given).
    pub unit: String,
}

/// The kind of a metric family, as remote write and the exposition formats
/// know it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Monotonic counter.
    Counter,
    /// Gauge.
    Gauge,
    /// Classic or native histogram.
    Histogram,
    /// Gauge histogram.
    GaugeHistogram,
    /// Summary.
    Summary,
    /// Info metric.
    Info,
    /// State set.
    StateSet,
    /// Unknown or untyped (also any value this crate does not know).
    #[default]
    Unknown,
}

impl MetricKind {
    /// The name Prometheus uses for this kind in its APIs and text formats:
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`, `info`,
    /// `stateset` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::GaugeHistogram => "gaugehistogram",
            MetricKind::Summary => "summary",
            MetricKind::Info => "info",
            MetricKind::StateSet => "stateset",
            MetricKind::Unknown => "unknown",
        }
    }

    /// From the 1.0 wire value (`prompb::metric_metadata::MetricType`).
    pub fn from_v1(value: i32) -> Self {
        use prompb::metric_metadata::MetricType as T;
        match T::try_from(value) {
            Ok(T::Counter) => MetricKind::Counter,
            Ok(T::Gauge) => MetricKind::Gauge,
            Ok(T::Histogram) => MetricKind::Histogram,
            Ok(T::Gaugehistogram) => MetricKind::GaugeHistogram,
            Ok(T::Summary) => MetricKind::Summary,
            Ok(T::Info) => MetricKind::Info,
            Ok(T::Stateset) => MetricKind::StateSet,
            Ok(T::Unknown) | Err(_) => MetricKind::Unknown,
        }
    }

    /// From the 2.0 wire value (`write_v2::metadata::MetricType`).
    pub fn from_v2(value: i32) -> Self {
        use write_v2::metadata::MetricType as T;
        match T::try_from(value) {
            Ok(T::Counter) => MetricKind::Counter,
            Ok(T::Gauge) => MetricKind::Gauge,
            Ok(T::Histogram) => MetricKind::Histogram,
            Ok(T::Gaugehistogram) => MetricKind::GaugeHistogram,
            Ok(T::Summary) => MetricKind::Summary,
            Ok(T::Info) => MetricKind::Info,
            Ok(T::Stateset) => MetricKind::StateSet,
            Ok(T::Unspecified) | Err(_) => MetricKind::Unknown,
        }
    }

    /// To the 1.0 wire value.
    pub fn to_v1(self) -> prompb::metric_metadata::MetricType {
        use prompb::metric_metadata::MetricType as T;
        match self {
            MetricKind::Counter => T::Counter,
            MetricKind::Gauge => T::Gauge,
            MetricKind::Histogram => T::Histogram,
            MetricKind::GaugeHistogram => T::Gaugehistogram,
            MetricKind::Summary => T::Summary,
            MetricKind::Info => T::Info,
            MetricKind::StateSet => T::Stateset,
            MetricKind::Unknown => T::Unknown,
        }
    }

    /// To the 2.0 wire value.
    pub fn to_v2(self) -> write_v2::metadata::MetricType {
        use write_v2::metadata::MetricType as T;
        match self {
            MetricKind::Counter => T::Counter,
            MetricKind::Gauge => T::Gauge,
            MetricKind::Histogram => T::Histogram,
            MetricKind::GaugeHistogram => T::Gaugehistogram,
            MetricKind::Summary => T::Summary,
            MetricKind::Info => T::Info,
            MetricKind::StateSet => T::Stateset,
            MetricKind::Unknown => T::Unspecified,
        }
    }
}

fn exemplar_timestamp(ts: i64) -> Option<i64> {
    (ts != 0).then_some(ts)
}

/// Flattens a 1.0 request into series and the request's per-family metadata.
///
/// Strings are moved, not copied. Every [`DecodedSeries::metadata`] is `None`:
/// 1.0 sends metadata per family in `WriteRequest.metadata`, returned as the
/// second element. Cannot fail today; returns `Result` for symmetry with
/// [`flatten_v2`].
pub fn flatten_v1(req: prompb::WriteRequest) -> Result<(Vec<DecodedSeries>, Vec<DecodedMetadata>), Error> {
    fn pairs(labels: Vec<prompb::Label>) -> Vec<(String, String)> {
        labels.into_iter().map(|l| (l.name, l.value)).collect()
    }
    let series = req
        .timeseries
        .into_iter()
        .map(|ts| DecodedSeries {
            labels: pairs(ts.labels),
            samples: ts.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
            exemplars: ts
                .exemplars
                .into_iter()
                .map(|e| DecodedExemplar {
                    labels: pairs(e.labels),
                    value: e.value,
                    timestamp: exemplar_timestamp(e.timestamp),
                })
                .collect(),
            histograms: ts.histograms.len(),
            metadata: None,
        })
        .collect();
    let metadata = req
        .metadata
        .into_iter()
        .map(|m| DecodedMetadata {
            metric_family: m.metric_family_name,
            kind: MetricKind::from_v1(m.r#type),
            help: m.help,
            unit: m.unit,
        })
        .collect();
    Ok((series, metadata))
}

/// Flattens a 2.0 request, resolving every symbol reference.
///
/// Errors (naming the series index) when a reference points past the end of
/// `symbols` or a `labels_refs` list has an odd length, and when `symbols[0]` is not
/// `""` as the specification requires (a sender that gets this wrong has every
/// reference off by one). A help/unit reference of 0 into an empty table reads as `""`.
/// [`DecodedSeries::metadata`] is `Some` only when the series' metadata has a
/// type, a help text or a unit; its family name is the `__name__` label value.
pub fn flatten_v2(req: write_v2::Request) -> Result<Vec<DecodedSeries>, Error> {
    let write_v2::Request { symbols, timeseries } = req;
    if let Some(first) = symbols.first().filter(|s| !s.is_empty()) {
        return Err(Error::Malformed(format!(
            "symbols[0] must be the empty string, got {first:?} (remote write 2.0 specification)"
        )));
    }
    let table = Symbols(&symbols);
    let mut out = Vec::with_capacity(timeseries.len());
    for (index, ts) in timeseries.into_iter().enumerate() {
        let labels = table.pairs(index, &ts.labels_refs, || "labels_refs".to_owned())?;
        let mut exemplars = Vec::with_capacity(ts.exemplars.len());
        for (i, e) in ts.exemplars.iter().enumerate() {
            let field = || format!("exemplars[{i}].labels_refs");
            exemplars.push(DecodedExemplar {
                labels: table.pairs(index, &e.labels_refs, field)?,
                value: e.value,
                timestamp: exemplar_timestamp(e.timestamp),
            });
        }
        let metadata = match &ts.metadata {
            Some(m) => table.metadata(index, m, &labels)?,
            None => None,
        };
        out.push(DecodedSeries {
            labels,
            samples: ts.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
            exemplars,
            histograms: ts.histograms.len(),
            metadata,
        });
    }
    Ok(out)
}

/// A 2.0 symbols table with checked lookups.
struct Symbols<'a>(&'a [String]);

impl Symbols<'_> {
    fn get(&self, series: usize, reference: u32, field: impl FnOnce() -> String) -> Result<&str, Error> {
        usize::try_from(reference)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(String::as_str)
            .ok_or_else(|| Error::SymbolOutOfRange {
                series,
                field: field(),
                reference,
                symbols: self.0.len(),
            })
    }

    /// Like [`Symbols::get`], but reference 0 into an empty table is `""`
    /// (0 is the proto3 default, i.e. "not set").
    fn get_optional(&self, series: usize, reference: u32, field: &'static str) -> Result<&str, Error> {
        if reference == 0 && self.0.is_empty() {
            return Ok("");
        }
        self.get(series, reference, || field.to_owned())
    }

    fn pairs(&self, series: usize, refs: &[u32], field: impl Fn() -> String) -> Result<Vec<(String, String)>, Error> {
        if !refs.len().is_multiple_of(2) {
            return Err(Error::OddLabelRefs {
                series,
                field: field(),
                len: refs.len(),
            });
        }
        refs.chunks_exact(2)
            .map(|pair| {
                let name = self.get(series, pair[0], &field)?;
                let value = self.get(series, pair[1], &field)?;
                Ok((name.to_owned(), value.to_owned()))
            })
            .collect()
    }

    fn metadata(
        &self,
        series: usize,
        m: &write_v2::Metadata,
        labels: &[(String, String)],
    ) -> Result<Option<DecodedMetadata>, Error> {
        let help = self.get_optional(series, m.help_ref, "metadata.help_ref")?;
        let unit = self.get_optional(series, m.unit_ref, "metadata.unit_ref")?;
        let kind = MetricKind::from_v2(m.r#type);
        if kind == MetricKind::Unknown && help.is_empty() && unit.is_empty() {
            return Ok(None);
        }
        let metric_family = labels
            .iter()
            .find(|(name, _)| name == METRIC_NAME)
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        Ok(Some(DecodedMetadata {
            metric_family,
            kind,
            help: help.to_owned(),
            unit: unit.to_owned(),
        }))
    }
}
