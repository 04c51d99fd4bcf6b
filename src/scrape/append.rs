//! Turning one scrape body into TSDB writes, as Prometheus' scrape loop does
//! (`scrape/scrape.go` `append` and `report`): target labels merged into each series
//! (`honor_labels`), `metric_relabel_configs`, limits, timestamps per `honor_timestamps`,
//! exemplars, metadata, staleness markers, and the five synthetic series.
//!
//! Synchronous (it calls the storage appender); the scrape task runs it on a blocking
//! thread. A [`SeriesCache`] lives as long as its target and remembers, per raw series text
//! of the body, the final labels (or that relabeling dropped it), so a steady target costs a
//! hash lookup per sample rather than a label rebuild.

use std::collections::{HashMap, HashSet};

use nerve_proto::exposition::{self, Entry, Format, Parser};
use nerve_storage::metrics::{Appender, Exemplar, MetricMetadata, MetricType, STALE_NAN, Tsdb};
use nerve_storage::{Error as StorageError, Labels};

use super::relabel::{self, LabelMap, Rule};

/// Per-job settings that shape how samples are written.
#[derive(Clone, Debug, Default)]
pub struct AppendSettings {
    /// Keep the target's own labels on conflict (`honor_labels`).
    pub honor_labels: bool,
    /// Use timestamps the target exposes (`honor_timestamps`, default true).
    pub honor_timestamps: bool,
    /// Write staleness markers also for series with explicit timestamps.
    pub track_timestamps_staleness: bool,
    /// Compiled `metric_relabel_configs`.
    pub metric_relabel: Vec<Rule>,
    /// Max samples per scrape after relabeling (0 = none).
    pub sample_limit: u64,
    /// Max labels per series (0 = none).
    pub label_limit: u64,
    /// Max label name length in bytes (0 = none).
    pub label_name_length_limit: u64,
    /// Max label value length in bytes (0 = none).
    pub label_value_length_limit: u64,
}

/// Counts of one scrape, reported as synthetic series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Samples in the body (`scrape_samples_scraped`).
    pub scraped: u64,
    /// Samples written after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub post_relabel: u64,
    /// Series not seen in the previous scrape (`scrape_series_added`).
    pub series_added: u64,
}

struct CacheEntry {
    /// Final labels, `None` when metric relabeling dropped the series.
    labels: Option<Labels>,
    /// Scrape number in which the series was last seen.
    seen: u64,
    /// Seen in the last successful scrape.
    prev: bool,
    /// Whether a staleness marker is written when it disappears.
    tracked: bool,
}

type FamilyMeta = (MetricType, String, String);

/// The memory of one target between scrapes. Not thread-safe; owned by its scrape task.
pub struct SeriesCache {
    target: Labels,
    entries: HashMap<Box<str>, CacheEntry>,
    iteration: u64,
    metadata: HashMap<String, FamilyMeta>,
    report: [Labels; 5],
}

/// Names of the synthetic series, in the order [`SeriesCache::report`] writes them.
pub const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

impl SeriesCache {
    /// A cache for a target with these (final) labels.
    pub fn new(target: Labels) -> Result<Self, String> {
        let mk = |name: &str| {
            Labels::from_pairs(
                target
                    .iter()
                    .filter(|(k, _)| *k != "__name__")
                    .chain(std::iter::once(("__name__", name))),
            )
            .map_err(|e| e.to_string())
        };
        let report = [
            mk(REPORT_SERIES[0])?,
            mk(REPORT_SERIES[1])?,
            mk(REPORT_SERIES[2])?,
            mk(REPORT_SERIES[3])?,
            mk(REPORT_SERIES[4])?,
        ];
        Ok(SeriesCache {
            target,
            entries: HashMap::new(),
            iteration: 0,
            metadata: HashMap::new(),
            report,
        })
    }

    /// Parses `body` and writes its samples at `t_ms` (unless they carry honoured
    /// timestamps), plus staleness markers for series that vanished since the last scrape.
    /// All or nothing: on any error (parse error, a limit, an invalid series) nothing of the
    /// body is kept, staleness markers are written for every series of the previous scrape,
    /// and the error is returned with the counts so far (as Prometheus reports them).
    pub fn append_scrape(
        &mut self,
        tsdb: &Tsdb,
        body: &[u8],
        format: Format,
        t_ms: i64,
        s: &AppendSettings,
    ) -> (Counts, Result<(), String>) {
        self.iteration += 1;
        let mut counts = Counts::default();
        let mut app = tsdb.appender();
        match self.append_body(&mut app, body, format, t_ms, s, &mut counts) {
            Ok(()) => {
                self.write_vanished(&mut app, t_ms);
                match app.commit() {
                    Ok(()) => (counts, Ok(())),
                    Err(e) => {
                        self.entries.clear();
                        (counts, Err(format!("writing samples: {e}")))
                    }
                }
            }
            Err(e) => {
                app.rollback();
                self.append_failure(tsdb, t_ms);
                (counts, Err(e))
            }
        }
    }

    fn append_body(
        &mut self,
        app: &mut Appender<'_>,
        body: &[u8],
        format: Format,
        t_ms: i64,
        s: &AppendSettings,
        counts: &mut Counts,
    ) -> Result<(), String> {
        let it = self.iteration;
        let mut parser = Parser::new(body, format).map_err(|e| e.to_string())?;
        let mut families: HashMap<&str, FamilyMeta> = HashMap::new();
        loop {
            let entry = parser.next_entry().map_err(|e| e.to_string())?;
            let Some(entry) = entry else { break };
            let sample = match entry {
                Entry::Sample(sample) => sample,
                Entry::Type { name, kind } => {
                    families.entry(name).or_insert_with(empty_meta).0 = metric_type(kind);
                    continue;
                }
                Entry::Help { name, help } => {
                    families.entry(name).or_insert_with(empty_meta).1 = help.into_owned();
                    continue;
                }
                Entry::Unit { name, unit } => {
                    unit.clone_into(&mut families.entry(name).or_insert_with(empty_meta).2);
                    continue;
                }
            };
            counts.scraped += 1;
            if let Some(entry) = self.entries.get_mut(sample.series) {
                write_sample(app, entry, &sample, it, t_ms, s, counts)?;
            } else {
                let labels = build_labels(&self.target, sample.name, sample.labels, s)?;
                counts.series_added += u64::from(labels.is_some());
                let entry = self.entries.entry(sample.series.into()).or_insert(CacheEntry {
                    labels,
                    seen: 0,
                    prev: false,
                    tracked: true,
                });
                write_sample(app, entry, &sample, it, t_ms, s, counts)?;
            }
        }
        for (family, meta) in families {
            if self.metadata.get(family) != Some(&meta) {
                app.update_metadata(
                    family,
                    MetricMetadata {
                        kind: meta.0,
                        help: meta.1.clone(),
                        unit: meta.2.clone(),
                    },
                );
                self.metadata.insert(family.to_owned(), meta);
            }
        }
        Ok(())
    }

    /// Stale markers for tracked series of the previous scrape missing from this one; then
    /// this scrape becomes the previous one.
    fn write_vanished(&mut self, app: &mut Appender<'_>, t_ms: i64) {
        let it = self.iteration;
        let vanished: Vec<&Labels> = self
            .entries
            .values()
            .filter(|e| e.prev && e.seen != it && e.tracked)
            .filter_map(|e| e.labels.as_ref())
            .collect();
        if !vanished.is_empty() {
            // Two raw series can map to one label set after relabeling: only mark it stale
            // when no line of this scrape still produces it.
            let current: HashSet<&Labels> = self
                .entries
                .values()
                .filter(|e| e.seen == it)
                .filter_map(|e| e.labels.as_ref())
                .collect();
            for l in vanished.into_iter().filter(|l| !current.contains(l)) {
                let _ = app.append(l, t_ms, STALE_NAN);
            }
        }
        self.entries.retain(|_, e| e.seen == it);
        for e in self.entries.values_mut() {
            e.prev = true;
        }
    }

    /// A failed scrape: stale markers for every tracked series of the previous scrape.
    pub fn append_failure(&mut self, tsdb: &Tsdb, t_ms: i64) {
        let mut app = tsdb.appender();
        for l in self
            .entries
            .values()
            .filter(|e| e.prev && e.tracked)
            .filter_map(|e| e.labels.as_ref())
        {
            let _ = app.append(l, t_ms, STALE_NAN);
        }
        self.entries.clear();
        if let Err(e) = app.commit() {
            tracing::warn!(target = %self.target, error = %e, "writing staleness markers failed");
        }
    }

    /// Writes the synthetic series of one scrape at `t_ms`.
    pub fn report(&self, tsdb: &Tsdb, t_ms: i64, up: bool, duration_s: f64, c: Counts) {
        let values = [
            if up { 1.0 } else { 0.0 },
            duration_s,
            c.scraped as f64,
            c.post_relabel as f64,
            c.series_added as f64,
        ];
        self.write_report(tsdb, t_ms, values);
    }

    /// The target went away: stale markers for all its series, synthetic ones included.
    pub fn end_of_run(&mut self, tsdb: &Tsdb, t_ms: i64) {
        self.append_failure(tsdb, t_ms);
        self.write_report(tsdb, t_ms, [STALE_NAN; 5]);
    }

    fn write_report(&self, tsdb: &Tsdb, t_ms: i64, values: [f64; 5]) {
        let mut app = tsdb.appender();
        for (l, v) in self.report.iter().zip(values) {
            if let Err(e) = app.append(l, t_ms, v) {
                tracing::debug!(series = %l, error = %e, "synthetic sample rejected");
            }
        }
        if let Err(e) = app.commit() {
            tracing::warn!(target = %self.target, error = %e, "writing scrape report failed");
        }
    }
}

/// Writes one sample of a known series (and its exemplar); enforces the sample limit.
fn write_sample(
    app: &mut Appender<'_>,
    entry: &mut CacheEntry,
    sample: &exposition::Sample<'_, '_>,
    it: u64,
    t_ms: i64,
    s: &AppendSettings,
    counts: &mut Counts,
) -> Result<(), String> {
    let explicit_ts = s.honor_timestamps && sample.timestamp_ms.is_some();
    entry.seen = it;
    entry.tracked = !explicit_ts || s.track_timestamps_staleness;
    let Some(labels) = &entry.labels else { return Ok(()) };
    let t = if explicit_ts {
        sample.timestamp_ms.unwrap_or(t_ms)
    } else {
        t_ms
    };
    match app.append(labels, t, sample.value) {
        Ok(()) => counts.post_relabel += 1,
        Err(StorageError::InvalidInput(m)) => return Err(format!("invalid series {labels}: {m}")),
        // Out of order, duplicate or too old: the sample is skipped, the scrape goes on.
        Err(e) => tracing::debug!(series = %labels, error = %e, "scraped sample rejected"),
    }
    if s.sample_limit > 0 && counts.post_relabel > s.sample_limit {
        return Err("sample limit exceeded".to_owned());
    }
    if let Some(ex) = sample.exemplar
        && let Ok(ex_labels) = Labels::from_pairs(ex.labels.iter().map(|l| (l.name, l.value.as_ref())))
    {
        let ex = Exemplar {
            labels: ex_labels,
            t: ex.timestamp_ms.unwrap_or(t),
            v: ex.value,
        };
        if let Err(e) = app.append_exemplar(labels, ex) {
            tracing::debug!(series = %labels, error = %e, "exemplar rejected");
        }
    }
    Ok(())
}

/// The final labels of a new series: sample labels, target labels (with `exported_`
/// renaming unless `honor_labels`), metric relabeling, then validity and limits.
fn build_labels(
    target: &Labels,
    name: &str,
    sample_labels: &[exposition::Label<'_>],
    s: &AppendSettings,
) -> Result<Option<Labels>, String> {
    let mut lb = LabelMap::new();
    lb.insert("__name__".to_owned(), name.to_owned());
    for l in sample_labels {
        if l.name == "__name__" || lb.contains_key(l.name) {
            return Err(format!("label name {:?} is not unique in series {name}", l.name));
        }
        if !l.value.is_empty() {
            lb.insert(l.name.to_owned(), l.value.to_string());
        }
    }
    if s.honor_labels {
        for (k, v) in target.iter() {
            lb.entry(k.to_owned()).or_insert_with(|| v.to_owned());
        }
    } else {
        let mut conflicts: Vec<(String, String)> = Vec::new();
        for (k, v) in target.iter() {
            if let Some(old) = lb.insert(k.to_owned(), v.to_owned()) {
                conflicts.push((k.to_owned(), old));
            }
        }
        conflicts.sort_by_key(|(k, _)| k.len());
        for (k, v) in conflicts {
            let mut name = format!("exported_{k}");
            while lb.contains_key(&name) {
                name = format!("exported_{name}");
            }
            lb.insert(name, v);
        }
    }
    if !relabel::process(&mut lb, &s.metric_relabel) {
        return Ok(None);
    }
    lb.retain(|_, v| !v.is_empty());
    let metric = lb.get("__name__").cloned().unwrap_or_default();
    if metric.is_empty() {
        return Err("__name__ label is missing".to_owned());
    }
    check_limits(&metric, &lb, s)?;
    let labels = Labels::from_pairs(lb).map_err(|e| e.to_string())?;
    labels
        .validate_series()
        .map_err(|e| format!("invalid metric name or label names: {e}"))?;
    Ok(Some(labels))
}

fn empty_meta() -> FamilyMeta {
    (MetricType::Unknown, String::new(), String::new())
}

fn metric_type(t: exposition::MetricType) -> MetricType {
    use exposition::MetricType as E;
    match t {
        E::Counter => MetricType::Counter,
        E::Gauge => MetricType::Gauge,
        E::Histogram => MetricType::Histogram,
        E::GaugeHistogram => MetricType::GaugeHistogram,
        E::Summary => MetricType::Summary,
        E::Info => MetricType::Info,
        E::StateSet => MetricType::StateSet,
        E::Unknown => MetricType::Unknown,
    }
}

/// `label_limit`, `label_name_length_limit`, `label_value_length_limit`, with Prometheus'
/// messages.
fn check_limits(metric: &str, lb: &LabelMap, s: &AppendSettings) -> Result<(), String> {
    let short = |x: &str| x.chars().take(50).collect::<String>();
    if s.label_limit > 0 && lb.len() as u64 > s.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
            short(metric),
            lb.len(),
            s.label_limit
        ));
    }
    for (k, v) in lb {
        if s.label_name_length_limit > 0 && k.len() as u64 > s.label_name_length_limit {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                short(metric),
                short(k),
                k.len(),
                s.label_name_length_limit
            ));
        }
        if s.label_value_length_limit > 0 && v.len() as u64 > s.label_value_length_limit {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {}, label name: {}, value: {:?}, length: {}, limit: {})",
                short(metric),
                short(k),
                short(v),
                v.len(),
                s.label_value_length_limit
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
