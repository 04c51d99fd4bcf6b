//! Appending decoded metric series to the TSDB: the one path by which pushed samples reach
//! storage, shared by remote write (its generic path and the zero-copy 1.0 path in
//! `remote_write::fast_v1`) and OTLP metrics (both transports).
//!
//! Per-series refusals (label limits, bad or unsorted labels) and per-sample refusals (out of
//! order, too old, too far ahead) are counted and the first reason kept; the rest of the batch
//! is still stored. Storage failures roll the whole batch back and become 500/503.

use std::sync::Arc;

use nerve_proto::{DecodedMetadata, DecodedSeries, MetricKind};
use nerve_storage::Labels;
use nerve_storage::metrics::{Appender, Exemplar, MetricMetadata, MetricType, Tsdb};

use crate::config::limits::LimitsConfig;
use crate::ingest::ratelimit::ByteRateLimiter;
use crate::selfmetrics::{SelfMetrics, SourceLabels};
use crate::servers::error::{ApiError, ErrorKind};

/// What appending one request did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// Samples stored.
    pub samples_written: u64,
    /// Samples storage refused (out of order, too old, bad labels, limits).
    pub samples_rejected: u64,
    /// Exemplars stored.
    pub exemplars_written: u64,
    /// Native histogram samples counted and dropped (not stored yet).
    pub histograms_dropped: u64,
    /// The first per-sample or per-series refusal.
    pub first_error: Option<String>,
}

impl Outcome {
    /// Adds the stored and refused counts to the ingest self-metrics of `source`.
    pub fn record(&self, metrics: &SelfMetrics, source: &SourceLabels) {
        metrics
            .ingested_samples
            .get_or_create(source)
            .inc_by(self.samples_written);
        metrics
            .rejected_samples
            .get_or_create(source)
            .inc_by(self.samples_rejected);
        metrics
            .ingested_exemplars
            .get_or_create(source)
            .inc_by(self.exemplars_written);
    }

    /// Counts a refused series of `samples` samples.
    pub(crate) fn reject_series(&mut self, samples: usize, why: String) {
        self.samples_rejected += samples as u64;
        self.first_error.get_or_insert(why);
    }

    /// Counts one `append` result; a storage failure is returned for the caller to abort.
    pub(crate) fn count_sample(&mut self, appended: nerve_storage::Result<()>) -> Result<bool, ApiError> {
        match appended {
            Ok(()) => {
                self.samples_written += 1;
                Ok(true)
            }
            Err(e) if e.is_bad_data() => {
                self.samples_rejected += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Appends one exemplar of `series`; refusals are logged and dropped (Prometheus does not
    /// fail a request for them), storage failures returned.
    pub(crate) fn append_exemplar<N, V, I>(
        &mut self,
        app: &mut Appender<'_>,
        series: &Labels,
        labels: I,
        t: i64,
        v: f64,
    ) -> Result<(), ApiError>
    where
        N: Into<Arc<str>>,
        V: Into<Arc<str>>,
        I: IntoIterator<Item = (N, V)>,
    {
        let stored =
            Labels::from_pairs(labels).and_then(|labels| app.append_exemplar(series, Exemplar { labels, t, v }));
        match stored {
            Ok(()) => self.exemplars_written += 1,
            Err(e) if e.is_bad_data() => tracing::debug!(series = %series, error = %e, "exemplar dropped"),
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

/// The checks a pushed series passes before its samples are appended.
#[derive(Clone, Debug)]
pub struct SeriesLimits {
    /// `limits.max_labels_per_series` (0 = unbounded).
    max_labels: usize,
    /// `limits.max_label_name_length` (0 = unbounded).
    max_name_len: usize,
    /// `limits.max_label_value_length` (0 = unbounded).
    max_value_len: usize,
    /// Whether label names must come sorted and unique (remote write: the sender's label set
    /// is the series identity, so an unsorted or duplicated one is a sender bug).
    sorted: bool,
    /// Samples-per-second bucket; a batch takes its samples at commit or is refused whole.
    rate: Option<Arc<ByteRateLimiter>>,
}

impl SeriesLimits {
    /// The label bounds of `limits:`; `sorted` requires sorted unique label names.
    pub fn new(l: &LimitsConfig, sorted: bool, rate: Option<Arc<ByteRateLimiter>>) -> Self {
        SeriesLimits {
            max_labels: l.max_labels_per_series.unwrap_or(0),
            max_name_len: l.max_label_name_length.unwrap_or(0),
            max_value_len: l.max_label_value_length.unwrap_or(0),
            sorted,
            rate,
        }
    }

    /// Checks the label bounds and, when required, the label order of one series.
    pub fn check<N: AsRef<str>, V: AsRef<str>>(&self, labels: &[(N, V)]) -> Result<(), String> {
        if self.max_labels > 0 && labels.len() > self.max_labels {
            return Err(format!(
                "series has {} labels, more than limits.max_labels_per_series ({})",
                labels.len(),
                self.max_labels
            ));
        }
        for (n, v) in labels {
            let (n, v) = (n.as_ref(), v.as_ref());
            if self.max_name_len > 0 && n.len() > self.max_name_len {
                return Err(format!(
                    "label name {n:?} is longer than limits.max_label_name_length ({})",
                    self.max_name_len
                ));
            }
            if self.max_value_len > 0 && v.len() > self.max_value_len {
                return Err(format!(
                    "value of label {n:?} is {} bytes, more than limits.max_label_value_length ({})",
                    v.len(),
                    self.max_value_len
                ));
            }
        }
        if self.sorted {
            check_label_order(labels)?;
        }
        Ok(())
    }
}

/// Label names must be sorted and unique.
fn check_label_order<N: AsRef<str>, V: AsRef<str>>(labels: &[(N, V)]) -> Result<(), String> {
    for w in labels.windows(2) {
        let (a, b) = (w[0].0.as_ref(), w[1].0.as_ref());
        match a.cmp(b) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => return Err(format!("duplicate label name {a:?} in series")),
            std::cmp::Ordering::Greater => {
                return Err(format!("labels are not sorted by name: {b:?} comes after {a:?}"));
            }
        }
    }
    Ok(())
}

/// Appends everything that can be stored and commits it (see the module docs). Metadata
/// comes from `metadata` and from the series themselves; entries without a family name are
/// skipped.
pub fn store(
    tsdb: &Tsdb,
    series: Vec<DecodedSeries>,
    metadata: &[DecodedMetadata],
    limits: &SeriesLimits,
) -> Result<Outcome, ApiError> {
    let mut out = Outcome::default();
    let mut app = tsdb.appender();
    update_metadata(
        &mut app,
        metadata.iter().chain(series.iter().filter_map(|s| s.metadata.as_ref())),
    );
    for s in series {
        if let Err(e) = append_series(&mut app, s, limits, &mut out) {
            app.rollback();
            return Err(e);
        }
    }
    commit(app, out, limits)
}

/// Appends one series' samples and exemplars.
fn append_series(
    app: &mut Appender<'_>,
    s: DecodedSeries,
    limits: &SeriesLimits,
    out: &mut Outcome,
) -> Result<(), ApiError> {
    out.histograms_dropped += s.histograms as u64;
    let labels = match limits
        .check(&s.labels)
        .and_then(|()| Labels::from_pairs(s.labels).map_err(|e| e.to_string()))
        .and_then(|l| l.validate_series().map(|()| l).map_err(|e| e.to_string()))
    {
        Ok(l) => l,
        Err(msg) => {
            out.reject_series(s.samples.len(), msg);
            return Ok(());
        }
    };
    let mut newest = None;
    for &(t, v) in &s.samples {
        if out.count_sample(app.append(&labels, t, v))? {
            newest = newest.max(Some(t));
        }
    }
    for ex in s.exemplars {
        if let Some(t) = ex.timestamp.or(newest) {
            out.append_exemplar(app, &labels, ex.labels, t, ex.value)?;
        }
    }
    Ok(())
}

/// Records the metadata of every named family.
pub(crate) fn update_metadata<'a>(app: &mut Appender<'_>, metadata: impl Iterator<Item = &'a DecodedMetadata>) {
    for md in metadata.filter(|m| !m.metric_family.is_empty()) {
        app.update_metadata(&md.metric_family, to_metadata(md));
    }
}

/// Commits a batch, taking its samples from the rate limit first, and folds a commit-time
/// refusal into the outcome.
pub(crate) fn commit(app: Appender<'_>, mut out: Outcome, limits: &SeriesLimits) -> Result<Outcome, ApiError> {
    if let Some(rate) = &limits.rate
        && !app.is_empty()
        && !rate.try_take(app.len() as u64)
    {
        app.rollback();
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            format!(
                "remote write of {} samples over limits.remote_write_ingestion_rate ({} samples/s); retry later",
                out.samples_written,
                rate.rate()
            ),
        ));
    }
    match app.commit() {
        Ok(()) => Ok(out),
        // A concurrent writer got in between `append` and `commit` and the head refused a
        // sample (the rest was stored). The head reports only the first refusal, so the
        // counts are off by the number of further refusals, if any.
        Err(e) if e.is_bad_data() => {
            out.samples_written = out.samples_written.saturating_sub(1);
            out.samples_rejected += 1;
            out.first_error.get_or_insert_with(|| e.to_string());
            Ok(out)
        }
        Err(e) => Err(e.into()),
    }
}

/// Test support: the samples stored for the series `matchers` select, as `(t, v)`.
#[cfg(test)]
pub(crate) fn stored_samples(tsdb: &Tsdb, matchers: &[nerve_storage::Matcher]) -> Vec<(i64, f64)> {
    let q = tsdb.querier(i64::MIN, i64::MAX).unwrap();
    q.select(matchers)
        .unwrap()
        .iter()
        .flat_map(|s| s.samples().unwrap())
        .map(|s| (s.t, s.v))
        .collect()
}

fn to_metadata(md: &DecodedMetadata) -> MetricMetadata {
    let kind = match md.kind {
        MetricKind::Counter => MetricType::Counter,
        MetricKind::Gauge => MetricType::Gauge,
        MetricKind::Histogram => MetricType::Histogram,
        MetricKind::GaugeHistogram => MetricType::GaugeHistogram,
        MetricKind::Summary => MetricType::Summary,
        MetricKind::Info => MetricType::Info,
        MetricKind::StateSet => MetricType::StateSet,
        MetricKind::Unknown => MetricType::Unknown,
    };
    MetricMetadata {
        kind,
        help: md.help.clone(),
        unit: md.unit.clone(),
    }
}
