//! The head: the in-memory, writable part of the TSDB.
//!
//! Each series appends its recent samples to an open [`DecChunk`] (closed every
//! [`MAX_CHUNK_SAMPLES`] samples and at every block-range boundary, so whole chunks move to a
//! block when the head is cut; closed chunks are re-encoded densely and kept in files, see
//! [`SealedChunk`]) plus, when the out-of-order window is open, a sorted buffer of
//! out-of-order samples. Series are found by label hash (sharded maps) or id; postings map
//! label pairs to ids. The head never touches the WAL: the appender logs first, then applies.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::labels::{Label, Labels};
use crate::matcher::Matcher;
use crate::metrics::block_chunk;
use crate::metrics::chunk::DecChunk;
use crate::metrics::postings::{IndexReader, postings_for_matchers};
use crate::metrics::{Exemplar, Sample};

/// A head chunk is closed after this many samples (as Prometheus does).
pub const MAX_CHUNK_SAMPLES: usize = 120;
const SHARDS: usize = 16;

/// Consecutive sealed chunks of one block range are merged up to this many samples: a sealed
/// chunk costs two allocations whatever its size, and the dense encoding packs longer runs
/// tighter, so a few large chunks take far less memory than many 120-sample ones.
pub const MAX_SEALED_SAMPLES: usize = 960;

/// A closed head chunk, re-encoded with the dense block encoding (about a third of the Gorilla
/// size on typical data) and written to a head chunk file (see [`chunk_file`]): closed chunks
/// are most of the head's data, they are immutable from here on (a merge stores a new chunk), and
/// in a file they cost the heap only this reference.
#[derive(Clone)]
pub(crate) struct SealedChunk {
    pub mint: i64,
    pub maxt: i64,
    /// Number of samples held.
    pub samples: u32,
    pub bytes: ChunkBytes,
}

impl SealedChunk {
    fn from_samples(samples: &[Sample], files: &ChunkFiles) -> Option<SealedChunk> {
        let (first, last) = (samples.first()?, samples.last()?);
        let mut data = Vec::with_capacity(samples.len() * 2);
        block_chunk::encode(samples, &mut data);
        Some(SealedChunk {
            mint: first.t,
            maxt: last.t,
            samples: u32::try_from(samples.len()).unwrap_or(u32::MAX),
            bytes: files.store(&data),
        })
    }

    /// Appends the chunk's samples to `out`.
    pub fn decode(&self, out: &mut Vec<Sample>) -> Result<()> {
        let mut buf = Vec::new();
        block_chunk::decode(self.bytes.read(&mut buf)?, out)
    }
}

/// Mutable state of one series, behind its own lock.
#[derive(Default)]
pub(crate) struct SeriesData {
    /// Closed chunks, oldest first; immutable once here.
    pub closed: Vec<SealedChunk>,
    /// The chunk being appended to.
    pub open: Option<DecChunk>,
    /// Newest in-order timestamp, `i64::MIN` when empty.
    pub last_t: i64,
    /// Value bits of the newest in-order sample.
    pub last_v: u64,
    /// Out-of-order samples within the window, sorted by time, unique timestamps.
    pub ooo: Vec<Sample>,
    /// Most recent exemplars, oldest first, bounded.
    pub exemplars: VecDeque<Exemplar>,
}

/// One series of the head.
pub(crate) struct MemSeries {
    pub id: u32,
    pub labels: Labels,
    pub data: Mutex<SeriesData>,
    /// Set once a WAL series record for this id has been written.
    pub logged: AtomicBool,
    /// Appenders holding this series without having committed; GC skips such series.
    pub pending: AtomicU32,
}

/// Outcome of applying one sample to a series.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Stored.
    Stored,
    /// Same timestamp and identical value: ignored, as Prometheus does.
    Duplicate,
}

impl SeriesData {
    fn new() -> Self {
        SeriesData {
            last_t: i64::MIN,
            ..Default::default()
        }
    }

    /// Checks whether `s` could be appended, without changing anything.
    pub fn check(&self, s: Sample, ooo_window: i64, labels: &Labels) -> Result<Applied> {
        self.check_against(self.last_t, self.last_v, s, ooo_window, labels)
    }

    /// Like [`SeriesData::check`] but against a newest sample `(last_t, last_v)` that may still
    /// be pending in an appender.
    pub fn check_against(
        &self,
        last_t: i64,
        last_v: u64,
        s: Sample,
        ooo_window: i64,
        labels: &Labels,
    ) -> Result<Applied> {
        if s.t > last_t {
            return Ok(Applied::Stored);
        }
        if s.t == last_t {
            if s.v.to_bits() == last_v {
                return Ok(Applied::Duplicate);
            }
            return Err(Error::Duplicate {
                series: labels.to_string(),
                ts_ms: s.t,
            });
        }
        if ooo_window > 0 && s.t >= last_t.saturating_sub(ooo_window) {
            if let Ok(i) = self.ooo.binary_search_by_key(&s.t, |x| x.t) {
                if self.ooo[i].v.to_bits() == s.v.to_bits() {
                    return Ok(Applied::Duplicate);
                }
                return Err(Error::Duplicate {
                    series: labels.to_string(),
                    ts_ms: s.t,
                });
            }
            return Ok(Applied::Stored);
        }
        Err(Error::OutOfOrder {
            series: labels.to_string(),
            ts_ms: s.t,
            newest_ms: last_t,
        })
    }

    /// Appends `s`; `chunk_range` aligns chunk cuts with block boundaries.
    /// Closed chunks are stored through `files`.
    pub fn apply(
        &mut self,
        s: Sample,
        ooo_window: i64,
        chunk_range: i64,
        labels: &Labels,
        files: &ChunkFiles,
    ) -> Result<Applied> {
        let res = self.check(s, ooo_window, labels)?;
        if res == Applied::Duplicate {
            return Ok(res);
        }
        if s.t < self.last_t {
            let i = self.ooo.partition_point(|x| x.t < s.t);
            self.ooo.insert(i, s);
            return Ok(Applied::Stored);
        }
        let cut = match &self.open {
            None => true,
            Some(c) => {
                c.num_samples() >= MAX_CHUNK_SAMPLES
                    || c.min_time()
                        .is_some_and(|m| m.div_euclid(chunk_range) != s.t.div_euclid(chunk_range))
            }
        };
        if cut && let Some(c) = self.open.take() {
            self.seal(&c, chunk_range, files);
        }
        self.open.get_or_insert_with(DecChunk::new).append(s.t, s.v);
        self.last_t = s.t;
        self.last_v = s.v.to_bits();
        Ok(Applied::Stored)
    }

    /// Closes the open chunk `c`: merged into the newest sealed chunk when both lie in the same
    /// block range and the result stays within [`MAX_SEALED_SAMPLES`], else sealed on its own.
    fn seal(&mut self, c: &DecChunk, chunk_range: i64, files: &ChunkFiles) {
        let mut samples: Vec<Sample> = c.iter().collect();
        let Some(first) = samples.first().copied() else { return };
        if let Some(prev) = self.closed.last_mut()
            && prev.mint.div_euclid(chunk_range) == first.t.div_euclid(chunk_range)
            && prev.samples as usize + samples.len() <= MAX_SEALED_SAMPLES
        {
            let mut all = Vec::with_capacity(prev.samples as usize + samples.len());
            if prev.decode(&mut all).is_ok() {
                all.append(&mut samples);
                if let Some(merged) = SealedChunk::from_samples(&all, files) {
                    *prev = merged;
                }
                return;
            }
        }
        if let Some(sealed) = SealedChunk::from_samples(&samples, files) {
            self.closed.push(sealed);
        }
    }

    /// Every stored sample with `mint <= t <= maxt`, sorted, out-of-order ones merged in.
    pub fn samples_in(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let start = out.len();
        let mut buf = Vec::new();
        for c in self.closed.iter().filter(|c| c.maxt >= mint && c.mint <= maxt) {
            buf.clear();
            if let Err(e) = c.decode(&mut buf) {
                tracing::error!(error = %e, "BUG: undecodable sealed head chunk");
            }
            out.extend(buf.iter().copied().filter(|s| s.t >= mint && s.t <= maxt));
        }
        if let Some(c) = &self.open
            && let (Some(a), Some(b)) = (c.min_time(), c.max_time())
            && b >= mint
            && a <= maxt
        {
            out.extend(c.iter().filter(|s| s.t >= mint && s.t <= maxt));
        }
        let ooo: Vec<Sample> = self
            .ooo
            .iter()
            .copied()
            .filter(|s| s.t >= mint && s.t <= maxt)
            .collect();
        if !ooo.is_empty() {
            out.extend(ooo);
            // Stable sort keeps in-order samples first for equal timestamps; dedup keeps them.
            out[start..].sort_by_key(|s| s.t);
            let mut tail: Vec<Sample> = out.split_off(start);
            tail.dedup_by_key(|s| s.t);
            out.extend(tail);
        }
    }

    /// Drops everything older than `t`; returns true when nothing is left.
    fn truncate_before(&mut self, t: i64) -> bool {
        self.closed.retain(|c| c.maxt >= t);
        if self.open.as_ref().is_some_and(|c| c.max_time().is_none_or(|m| m < t)) {
            self.open = None;
        }
        self.ooo.retain(|s| s.t >= t);
        self.exemplars.retain(|e| e.t >= t);
        self.closed.is_empty() && self.open.is_none() && self.ooo.is_empty()
    }

    /// Time of the oldest stored sample, if any.
    fn oldest(&self) -> Option<i64> {
        let closed = self.closed.iter().map(|c| c.mint).min();
        let open = self.open.as_ref().and_then(|c| c.min_time());
        let ooo = self.ooo.first().map(|s| s.t);
        [closed, open, ooo].into_iter().flatten().min()
    }
}

mod chunk_file;
mod limits;
mod series_map;
mod stats;
pub(crate) use chunk_file::{ChunkBytes, ChunkFiles, SEGMENT_SIZE as CHUNK_SEGMENT_SIZE};
use series_map::SeriesMap;
pub use stats::{HeadCardinality, Stat};

#[derive(Default)]
struct MemPostings {
    map: HashMap<Arc<str>, HashMap<Arc<str>, RoaringBitmap>>,
    all: RoaringBitmap,
}

/// Head tuning fixed at open.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadOptions {
    pub chunk_range: i64,
    pub ooo_window: i64,
    pub max_exemplars: usize,
    /// Most series (0 = no limit); see [`limits`].
    pub max_series: u64,
    /// Most series per metric name (0 = no limit).
    pub max_series_per_metric: u64,
}

/// The in-memory head. Thread-safe; see the module docs.
pub(crate) struct Head {
    pub opts: HeadOptions,
    /// Where closed chunks are stored.
    pub chunk_files: ChunkFiles,
    by_hash: SeriesMap,
    by_id: Vec<RwLock<HashMap<u32, Arc<MemSeries>>>>,
    postings: RwLock<MemPostings>,
    symbols: Mutex<std::collections::HashSet<Arc<str>>>,
    next_id: AtomicU32,
    num_series: AtomicU64,
    pub min_time: AtomicI64,
    pub max_time: AtomicI64,
    /// Samples older than this are refused: they belong to ranges already cut into blocks.
    pub min_valid_time: AtomicI64,
    pub samples_appended: AtomicU64,
    /// New series refused by the series limits since start.
    pub series_refused: AtomicU64,
}

impl Head {
    pub fn new(opts: HeadOptions, min_valid_time: i64, chunk_files: ChunkFiles) -> Self {
        Head {
            opts,
            chunk_files,
            by_hash: SeriesMap::new(),
            by_id: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            postings: RwLock::new(MemPostings::default()),
            symbols: Mutex::new(Default::default()),
            next_id: AtomicU32::new(1),
            num_series: AtomicU64::new(0),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(min_valid_time),
            samples_appended: AtomicU64::new(0),
            series_refused: AtomicU64::new(0),
        }
    }

    pub fn num_series(&self) -> u64 {
        self.num_series.load(Ordering::Relaxed)
    }

    fn intern(&self, l: &Labels) -> Labels {
        let mut sym = self.symbols.lock();
        let mut get = |s: &Arc<str>| -> Arc<str> {
            if let Some(x) = sym.get(s) {
                return x.clone();
            }
            sym.insert(s.clone());
            s.clone()
        };
        Labels::from_sorted_unchecked(
            l.as_slice()
                .iter()
                .map(|x| Label {
                    name: get(&x.name),
                    value: get(&x.value),
                })
                .collect(),
        )
    }

    /// Finds the series with these labels, creating it (with a fresh id, or `want_id` during
    /// replay) when absent. When `pin` is set the series' pending counter is raised under the
    /// shard lock, so GC cannot remove it before the caller commits.
    pub fn get_or_create(&self, labels: &Labels, want_id: Option<u32>, pin: bool) -> Result<(Arc<MemSeries>, bool)> {
        let h = labels.hash64();
        let shard = self.by_hash.shard(h);
        {
            let m = shard.read();
            if let Some(s) = m.find(h, |s| s.labels == *labels) {
                if pin {
                    s.pending.fetch_add(1, Ordering::AcqRel);
                }
                return Ok((s.clone(), false));
            }
        }
        let mut m = shard.write();
        if let Some(s) = m.find(h, |s| s.labels == *labels) {
            if pin {
                s.pending.fetch_add(1, Ordering::AcqRel);
            }
            return Ok((s.clone(), false));
        }
        if want_id.is_none() {
            // New series from writers are limited; replay restores what was accepted before.
            self.check_series_limits(labels)?;
        }
        let id = match want_id.filter(|id| !self.by_id[(*id as usize) % SHARDS].read().contains_key(id)) {
            Some(id) => {
                self.next_id.fetch_max(id.saturating_add(1), Ordering::AcqRel);
                id
            }
            None => {
                let id = self.next_id.fetch_add(1, Ordering::AcqRel);
                if id == u32::MAX {
                    return Err(Error::Overloaded(
                        "head series id space exhausted; restart to compact ids".into(),
                    ));
                }
                id
            }
        };
        let labels = self.intern(labels);
        let s = Arc::new(MemSeries {
            id,
            labels,
            data: Mutex::new(SeriesData::new()),
            logged: AtomicBool::new(false),
            pending: AtomicU32::new(u32::from(pin)),
        });
        m.insert(h, s.clone());
        self.by_id[(id as usize) % SHARDS].write().insert(id, s.clone());
        {
            let mut p = self.postings.write();
            for l in s.labels.as_slice() {
                p.map
                    .entry(l.name.clone())
                    .or_default()
                    .entry(l.value.clone())
                    .or_default()
                    .insert(id);
            }
            p.all.insert(id);
        }
        self.num_series.fetch_add(1, Ordering::Relaxed);
        Ok((s, true))
    }

    /// Finds an existing series by raw label pairs (sorted by name) without allocating; pins
    /// it like [`Head::get_or_create`] when `pin` is set.
    pub fn find_by_pairs(&self, pairs: &[(&str, &str)], pin: bool) -> Option<Arc<MemSeries>> {
        let h = crate::labels::hash_pairs(pairs.iter().copied());
        let m = self.by_hash.shard(h).read();
        let s = m.find(h, |s| s.labels.eq_pairs(pairs.iter().copied()))?;
        if pin {
            s.pending.fetch_add(1, Ordering::AcqRel);
        }
        Some(s.clone())
    }

    pub fn by_id(&self, id: u32) -> Option<Arc<MemSeries>> {
        self.by_id[(id as usize) % SHARDS].read().get(&id).cloned()
    }

    /// Widens the head's time bounds to include `t`.
    pub fn observe_time(&self, t: i64) {
        self.min_time.fetch_min(t, Ordering::AcqRel);
        self.max_time.fetch_max(t, Ordering::AcqRel);
    }

    /// Series ids matching `ms`.
    pub fn select_ids(&self, ms: &[Matcher]) -> Result<RoaringBitmap> {
        let p = self.postings.read();
        postings_for_matchers(&HeadIndex(&p), ms)
    }

    /// Label names present in the head (all series).
    pub fn label_names(&self) -> Vec<String> {
        self.postings.read().map.keys().map(|k| k.to_string()).collect()
    }

    /// Values of label `name` in the head (all series).
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.postings
            .read()
            .map
            .get(name)
            .map(|m| m.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default()
    }

    /// All series, for block cutting and checkpoints.
    pub fn all_series(&self) -> Vec<Arc<MemSeries>> {
        let mut v: Vec<Arc<MemSeries>> = self
            .by_id
            .iter()
            .flat_map(|m| m.read().values().cloned().collect::<Vec<_>>())
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// Removes data older than `t` and series left empty (unless an appender holds them).
    /// Returns the number of series removed.
    pub fn truncate(&self, t: i64) -> usize {
        self.min_valid_time.fetch_max(t, Ordering::AcqRel);
        let mut removed = Vec::new();
        for shard in self.by_hash.shards() {
            shard.write().retain(|s| {
                let empty = s.data.lock().truncate_before(t);
                let keep = !empty || s.pending.load(Ordering::Acquire) > 0;
                if !keep {
                    removed.push(s.clone());
                }
                keep
            });
        }
        if !removed.is_empty() {
            for s in &removed {
                self.by_id[(s.id as usize) % SHARDS].write().remove(&s.id);
            }
            let mut p = self.postings.write();
            for s in &removed {
                for l in s.labels.as_slice() {
                    if let Some(vals) = p.map.get_mut(&l.name) {
                        if let Some(b) = vals.get_mut(&l.value) {
                            b.remove(s.id);
                            if b.is_empty() {
                                vals.remove(&l.value);
                            }
                        }
                        if vals.is_empty() {
                            p.map.remove(&l.name);
                        }
                    }
                }
                p.all.remove(s.id);
            }
            drop(p);
            let mut sym = self.symbols.lock();
            sym.retain(|a| Arc::strong_count(a) > 1);
            self.num_series.fetch_sub(removed.len() as u64, Ordering::Relaxed);
        }
        let cur = self.min_time.load(Ordering::Acquire);
        if cur < t {
            self.min_time.store(t, Ordering::Release);
        }
        removed.len()
    }

    /// Time of the oldest sample held by any series, if any. Callers that act on it hold
    /// the commit gate exclusively, so no sample lands meanwhile.
    pub(crate) fn oldest_sample(&self) -> Option<i64> {
        self.all_series().iter().filter_map(|s| s.data.lock().oldest()).min()
    }
}

struct HeadIndex<'a>(&'a MemPostings);

impl IndexReader for HeadIndex<'_> {
    fn all_postings(&self) -> Result<RoaringBitmap> {
        Ok(self.0.all.clone())
    }
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) -> Result<()> {
        if let Some(m) = self.0.map.get(name) {
            for v in m.keys() {
                f(v);
            }
        }
        Ok(())
    }
    fn postings(&self, name: &str, value: &str) -> Result<RoaringBitmap> {
        Ok(self
            .0
            .map
            .get(name)
            .and_then(|m| m.get(value))
            .cloned()
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests;
