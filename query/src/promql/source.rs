//! The storage the engine reads: one small trait, implemented for the TSDB, so evaluator tests
//! can run against an in-memory source or a TSDB in a temp dir.

use std::time::Instant;

use nerve_storage::metrics::{Sample, Tsdb};
use nerve_storage::{Labels, Matcher};

use crate::error::{Error, Result};

/// Bounds of one selection.
#[derive(Clone, Copy, Debug)]
pub struct SelectHints {
    /// First millisecond wanted (inclusive).
    pub mint_ms: i64,
    /// Last millisecond wanted (inclusive).
    pub maxt_ms: i64,
    /// The selection fails with [`Error::TooManySamples`] once it would hold more samples.
    pub max_samples: usize,
    /// The selection fails with [`Error::Timeout`] when it runs past this instant.
    pub deadline: Option<Instant>,
}

/// One selected series with every sample (stale markers included) in the hinted range.
#[derive(Clone, Debug)]
pub struct SelectedSeries {
    /// Labels, `__name__` included.
    pub labels: Labels,
    /// Samples in time order.
    pub samples: Vec<Sample>,
}

/// Read access to metric series, as the engine needs it.
pub trait Queryable: Sync {
    /// Series matching all `matchers` with samples in `[mint_ms, maxt_ms]`, sorted by labels.
    fn select(&self, matchers: &[Matcher], hints: SelectHints) -> Result<Vec<SelectedSeries>>;
}

fn check_deadline(deadline: Option<Instant>) -> Result<()> {
    match deadline {
        Some(d) if Instant::now() > d => Err(Error::Timeout("query execution")),
        _ => Ok(()),
    }
}

impl Queryable for Tsdb {
    fn select(&self, matchers: &[Matcher], hints: SelectHints) -> Result<Vec<SelectedSeries>> {
        let q = self.querier(hints.mint_ms, hints.maxt_ms)?;
        let mut out = Vec::new();
        let mut total = 0usize;
        // Series of one selection tend to hold about as many samples as each other.
        let mut expect = 0usize;
        for s in q.select(matchers)? {
            check_deadline(hints.deadline)?;
            let mut it = s.iter();
            let mut samples = Vec::with_capacity(expect);
            while let Some(x) = it.next() {
                samples.push(x);
            }
            if let Some(e) = it.err() {
                return Err(Error::Execution(format!("reading series {}: {e}", s.labels)));
            }
            total += samples.len();
            expect = samples.len() + samples.len() / 8 + 1;
            if total > hints.max_samples {
                return Err(Error::TooManySamples("query execution"));
            }
            if !samples.is_empty() {
                out.push(SelectedSeries {
                    labels: s.labels,
                    samples,
                });
            }
        }
        Ok(out)
    }
}

/// The TSDB as a [`Queryable`] that also gathers the storage's warnings (damaged blocks, see
/// [`Tsdb::damage_warnings`]) for every range selected through it, for the API's `warnings`.
pub struct WarnedTsdb<'a> {
    tsdb: &'a Tsdb,
    warnings: std::sync::Mutex<Vec<String>>,
}

impl<'a> WarnedTsdb<'a> {
    /// Wraps `tsdb` with no warnings yet.
    pub fn new(tsdb: &'a Tsdb) -> Self {
        WarnedTsdb {
            tsdb,
            warnings: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The distinct warnings gathered, in the order first seen.
    pub fn into_warnings(self) -> Vec<String> {
        self.warnings
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Queryable for WarnedTsdb<'_> {
    fn select(&self, matchers: &[Matcher], hints: SelectHints) -> Result<Vec<SelectedSeries>> {
        let out = self.tsdb.select(matchers, hints);
        let found = self.tsdb.damage_warnings(hints.mint_ms, hints.maxt_ms);
        if !found.is_empty() {
            let mut w = self.warnings.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for f in found {
                if !w.contains(&f) {
                    w.push(f);
                }
            }
        }
        out
    }
}

/// An in-memory [`Queryable`] (tests and small fixed data sets).
#[derive(Clone, Debug, Default)]
pub struct MemSource {
    series: Vec<SelectedSeries>,
}

impl MemSource {
    /// Adds a series; samples must be in time order.
    pub fn add(&mut self, labels: Labels, samples: Vec<Sample>) {
        self.series.push(SelectedSeries { labels, samples });
        self.series.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
}

impl Queryable for MemSource {
    fn select(&self, matchers: &[Matcher], hints: SelectHints) -> Result<Vec<SelectedSeries>> {
        let mut out = Vec::new();
        for s in &self.series {
            if !matchers.iter().all(|m| m.matches(s.labels.get(&m.name).unwrap_or(""))) {
                continue;
            }
            let samples: Vec<Sample> = s
                .samples
                .iter()
                .copied()
                .filter(|x| x.t >= hints.mint_ms && x.t <= hints.maxt_ms)
                .collect();
            if !samples.is_empty() {
                out.push(SelectedSeries {
                    labels: s.labels.clone(),
                    samples,
                });
            }
        }
        Ok(out)
    }
}
