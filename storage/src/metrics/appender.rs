//! Batched writes into the TSDB: validate on `append`, log to the WAL and apply on `commit`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::metrics::db::Tsdb;
use crate::metrics::head::{Applied, MemSeries};
use crate::metrics::record;
use crate::metrics::{Exemplar, MetricMetadata, Sample, TimeWindow, now_ms};

/// Prometheus's limit on the combined length of an exemplar's label names and values.
pub const EXEMPLAR_MAX_LABEL_RUNES: usize = 128;

/// A batch of writes. Nothing is visible to queriers, nor durable, before [`Appender::commit`],
/// which writes the batch to the WAL (so it survives a crash once `commit` returns) and then
/// applies it to the head. A per-sample error from [`Appender::append`] rejects only that
/// sample; the appender stays usable. Dropping an appender without committing rolls it back.
pub struct Appender<'a> {
    db: &'a Tsdb,
    samples: Vec<(Arc<MemSeries>, Sample)>,
    /// Series touched by this batch (each pinned once) with the newest pending sample.
    pinned: HashMap<u32, (Arc<MemSeries>, i64, u64)>,
    exemplars: Vec<(Arc<MemSeries>, Exemplar)>,
    metadata: Vec<(String, MetricMetadata)>,
    /// The accepted time range, fixed when the batch starts.
    window: TimeWindow,
    /// Samples and exemplars this batch refused for lying outside `window`, and the first
    /// such refusal's message (counted and logged when the batch ends).
    out_of_bounds: (u64, Option<String>),
}

impl<'a> Appender<'a> {
    pub(crate) fn new(db: &'a Tsdb) -> Self {
        Appender {
            db,
            samples: Vec::new(),
            pinned: HashMap::new(),
            exemplars: Vec::new(),
            metadata: Vec::new(),
            window: db.bounds().window(now_ms()),
            out_of_bounds: (0, None),
        }
    }

    /// Refuses `t_ms` outside the batch's time window, counting the refusal.
    fn check_bounds(&mut self, t_ms: i64, what: &str, series: impl FnOnce() -> String) -> Result<()> {
        self.window.check(t_ms, what, series).inspect_err(|e| {
            self.out_of_bounds.0 += 1;
            self.out_of_bounds.1.get_or_insert_with(|| e.to_string());
        })
    }

    fn series(&mut self, labels: &Labels) -> Result<Arc<MemSeries>> {
        let (s, _) = self.db.head.get_or_create(labels, None, true)?;
        Ok(self.track(s))
    }

    /// Records a freshly pinned series in this batch (dropping the extra pin if already held).
    fn track(&mut self, s: Arc<MemSeries>) -> Arc<MemSeries> {
        match self.pinned.entry(s.id) {
            std::collections::hash_map::Entry::Occupied(_) => {
                s.pending.fetch_sub(1, Ordering::AcqRel);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((s.clone(), i64::MIN, 0));
            }
        }
        s
    }

    /// Like [`Appender::append`] for labels given as raw pairs sorted by name (as remote write
    /// carries them). An existing series is found without allocating; a new one is validated
    /// and created as `append` would.
    pub fn append_pairs(&mut self, pairs: &[(&str, &str)], t_ms: i64, v: f64) -> Result<()> {
        match self.db.head.find_by_pairs(pairs, true) {
            Some(s) => {
                let s = self.track(s);
                self.append_to(s, t_ms, v)
            }
            None => {
                let labels = Labels::from_pairs(pairs.iter().copied())?;
                self.append(&labels, t_ms, v)
            }
        }
    }

    /// Queues one sample. Errors: `InvalidInput` (labels), `OutOfBounds` (outside
    /// [`TsdbOptions::bounds`](crate::metrics::TsdbOptions::bounds)), `TooOld` (before the head's range),
    /// `OutOfOrder` and `Duplicate` (against stored and already queued samples). Samples at an
    /// existing timestamp with the identical value are silently ignored, as in Prometheus.
    pub fn append(&mut self, labels: &Labels, t_ms: i64, v: f64) -> Result<()> {
        labels.validate_series()?;
        self.check_bounds(t_ms, "sample", || labels.to_string())?;
        let min_valid = self.db.head.min_valid_time.load(Ordering::Acquire);
        if t_ms < min_valid {
            return Err(Error::TooOld {
                series: labels.to_string(),
                ts_ms: t_ms,
                min_ms: min_valid,
            });
        }
        let s = self.series(labels)?;
        self.append_to(s, t_ms, v)
    }

    /// Checks and queues a sample for a series already tracked by this batch.
    fn append_to(&mut self, s: Arc<MemSeries>, t_ms: i64, v: f64) -> Result<()> {
        self.check_bounds(t_ms, "sample", || s.labels.to_string())?;
        let min_valid = self.db.head.min_valid_time.load(Ordering::Acquire);
        if t_ms < min_valid {
            return Err(Error::TooOld {
                series: s.labels.to_string(),
                ts_ms: t_ms,
                min_ms: min_valid,
            });
        }
        let sample = Sample { t: t_ms, v };
        let (pt, pv) = self.pinned.get(&s.id).map(|p| (p.1, p.2)).unwrap_or((i64::MIN, 0));
        let res = {
            let d = s.data.lock();
            let (lt, lv) = if pt > d.last_t { (pt, pv) } else { (d.last_t, d.last_v) };
            d.check_against(lt, lv, sample, self.db.head.opts.ooo_window, &s.labels)?
        };
        if res == Applied::Duplicate {
            return Ok(());
        }
        if let Some(p) = self.pinned.get_mut(&s.id)
            && t_ms > p.1
        {
            p.1 = t_ms;
            p.2 = v.to_bits();
        }
        self.samples.push((s, sample));
        Ok(())
    }

    /// Queues an exemplar for the series `series`.
    pub fn append_exemplar(&mut self, series: &Labels, ex: Exemplar) -> Result<()> {
        series.validate_series()?;
        let runes: usize = ex
            .labels
            .iter()
            .map(|(n, v)| n.chars().count() + v.chars().count())
            .sum();
        if runes > EXEMPLAR_MAX_LABEL_RUNES {
            return Err(Error::InvalidInput(format!(
                "exemplar labels of {series} have {runes} characters, more than the limit of {EXEMPLAR_MAX_LABEL_RUNES}"
            )));
        }
        self.check_bounds(ex.t, "exemplar", || series.to_string())?;
        let s = self.series(series)?;
        self.exemplars.push((s, ex));
        Ok(())
    }

    /// Records TYPE/HELP/UNIT for a metric family (applied at commit).
    pub fn update_metadata(&mut self, metric_family: &str, md: MetricMetadata) {
        self.metadata.push((metric_family.to_owned(), md));
    }

    /// Number of queued samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.exemplars.is_empty() && self.metadata.is_empty()
    }

    /// Writes the batch to the WAL, then makes it visible. Returns once the WAL bytes are in the
    /// operating system (fsync follows the configured policy).
    pub fn commit(mut self) -> Result<()> {
        let res = self.commit_inner();
        self.unpin();
        res
    }

    fn commit_inner(&mut self) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        if self.db.is_closed() {
            return Err(Error::Closed);
        }
        // Shared with other commits; a head cut takes it exclusively to move the valid range.
        let _gate = self.db.gate.read();
        let min_valid = self.db.head.min_valid_time.load(Ordering::Acquire);
        let mut first_err = None;
        self.samples.retain(|(s, x)| {
            let ok = x.t >= min_valid;
            if !ok && first_err.is_none() {
                first_err = Some(Error::TooOld {
                    series: s.labels.to_string(),
                    ts_ms: x.t,
                    min_ms: min_valid,
                });
            }
            ok
        });
        let new_series: Vec<&Arc<MemSeries>> = self
            .pinned
            .values()
            .map(|p| &p.0)
            .filter(|s| !s.logged.load(Ordering::Acquire))
            .collect();
        let mut bufs: Vec<Vec<u8>> = Vec::with_capacity(4);
        if !new_series.is_empty() {
            let list: Vec<(u32, &Labels)> = new_series.iter().map(|s| (s.id, &s.labels)).collect();
            let mut b = Vec::with_capacity(list.len() * 64);
            record::encode_series(&mut b, &list);
            bufs.push(b);
        }
        if !self.samples.is_empty() {
            let list: Vec<(u32, Sample)> = self.samples.iter().map(|(s, x)| (s.id, *x)).collect();
            let mut b = Vec::with_capacity(list.len() * 14 + 16);
            record::encode_samples(&mut b, &list);
            bufs.push(b);
        }
        if !self.exemplars.is_empty() {
            let list: Vec<(u32, &Exemplar)> = self.exemplars.iter().map(|(s, e)| (s.id, e)).collect();
            let mut b = Vec::new();
            record::encode_exemplars(&mut b, &list);
            bufs.push(b);
        }
        if !self.metadata.is_empty() {
            let list: Vec<(&str, &MetricMetadata)> = self.metadata.iter().map(|(f, m)| (f.as_str(), m)).collect();
            let mut b = Vec::new();
            record::encode_metadata(&mut b, &list);
            bufs.push(b);
        }
        let refs: Vec<&[u8]> = bufs.iter().map(Vec::as_slice).collect();
        self.db.wal.log(&refs)?;
        for s in new_series {
            s.logged.store(true, Ordering::Release);
        }
        if let Err(e) = self.db.apply_samples(self.samples.iter().map(|(s, x)| (s, *x))) {
            first_err.get_or_insert(e);
        }
        if let Some(obs) = self.db.observer.get() {
            let mut samples = self.samples.iter().map(|(s, x)| (&s.labels, *x));
            let mut exemplars = self.exemplars.iter().map(|(s, e)| (&s.labels, e));
            obs.committed(crate::metrics::CommittedBatch {
                samples: &mut samples,
                exemplars: &mut exemplars,
            });
        }
        let max_ex = self.db.head.opts.max_exemplars;
        for (s, e) in self.exemplars.drain(..) {
            push_exemplar(&mut s.data.lock().exemplars, e, max_ex);
        }
        if !self.metadata.is_empty() {
            let mut md = self.db.metadata.write();
            for (f, m) in self.metadata.drain(..) {
                md.insert(f, m);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Discards the batch.
    pub fn rollback(mut self) {
        self.unpin();
    }

    fn unpin(&mut self) {
        self.report_out_of_bounds();
        for (_, (s, _, _)) in self.pinned.drain() {
            s.pending.fetch_sub(1, Ordering::AcqRel);
        }
        self.samples.clear();
        self.exemplars.clear();
        self.metadata.clear();
    }
}

impl Appender<'_> {
    /// Adds this batch's out-of-bounds refusals to the database's count and logs them (at
    /// most one line every [`OUT_OF_BOUNDS_LOG_EVERY_MS`] per database, so a sender with a
    /// broken clock cannot flood the log).
    fn report_out_of_bounds(&mut self) {
        let (n, first) = std::mem::take(&mut self.out_of_bounds);
        if n == 0 {
            return;
        }
        self.db.out_of_bounds.fetch_add(n, Ordering::Relaxed);
        let now = now_ms();
        let last = self.db.out_of_bounds_logged.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= OUT_OF_BOUNDS_LOG_EVERY_MS
            && self
                .db
                .out_of_bounds_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                refused = n,
                first = first.unwrap_or_default(),
                "samples outside the accepted time range refused"
            );
        }
    }
}

/// Least time between two out-of-bounds log lines of one database.
const OUT_OF_BOUNDS_LOG_EVERY_MS: i64 = 10_000;

impl Drop for Appender<'_> {
    fn drop(&mut self) {
        self.unpin();
    }
}

/// Adds `e` to a bounded exemplar ring, skipping an exact repeat of the newest one.
pub(crate) fn push_exemplar(ring: &mut std::collections::VecDeque<Exemplar>, e: Exemplar, max: usize) {
    if max == 0
        || ring
            .back()
            .is_some_and(|b| b.t == e.t && b.v.to_bits() == e.v.to_bits() && b.labels == e.labels)
    {
        return;
    }
    while ring.len() >= max {
        ring.pop_front();
    }
    ring.push_back(e);
}
