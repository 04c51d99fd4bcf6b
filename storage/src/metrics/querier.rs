//! Reading the TSDB: a [`Querier`] over `[mint, maxt]` merges the head and every overlapping
//! block into [`Series`], each read through a resettable [`SeriesIter`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::metrics::Sample;
use crate::metrics::block::Block;
use crate::metrics::chunk::DecIter;
use crate::metrics::head::{Head, SealedChunk};
use crate::metrics::index::ChunkMeta;
use crate::metrics::postings::postings_for_matchers;
use crate::metrics::tombstones::{Deleted, Tombstone, deleted_for};

/// Where one chunk of a selected series comes from.
#[derive(Clone)]
enum ChunkSrc {
    /// A closed, immutable head chunk.
    Head(SealedChunk),
    /// A copy of the head's open chunk taken at select time.
    HeadOpen(Arc<[u8]>),
    /// A chunk of a block.
    Block(Arc<Block>, ChunkMeta),
    /// Decoded samples (the head's out-of-order buffer).
    Samples(Arc<[Sample]>),
}

#[derive(Clone)]
struct ChunkRef {
    src: ChunkSrc,
    mint: i64,
    maxt: i64,
    /// Higher wins when two sources hold the same timestamp (head > newer block > older block).
    prio: u32,
}

/// One selected series: its labels and where its samples in the querier's range live.
#[derive(Clone)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    chunks: Vec<ChunkRef>,
    /// Tombstoned intervals, skipped while reading.
    deleted: Deleted,
    mint: i64,
    maxt: i64,
}

impl Series {
    /// A fresh iterator over the series' samples in the querier's range, in time order with
    /// unique timestamps. Stale markers are returned as stored.
    pub fn iter(&self) -> SeriesIter<'_> {
        SeriesIter::new(self)
    }

    /// Reads every sample into a vector (convenience for tests and small series).
    pub fn samples(&self) -> Result<Vec<Sample>> {
        let mut it = self.iter();
        let mut v = Vec::new();
        while let Some(s) = it.next() {
            v.push(s);
        }
        match it.err.take() {
            Some(e) => Err(e),
            None => Ok(v),
        }
    }
}

/// Iterator over one series. `next` advances; `seek(t)` moves to the first sample at or after
/// `t` (never backwards) and returns it; `reset` starts over. Decoding errors end iteration and
/// are reported by [`SeriesIter::err`].
pub struct SeriesIter<'a> {
    series: &'a Series,
    order: Vec<usize>,
    merged: bool,
    next_chunk: usize,
    buf: Vec<Sample>,
    pos: usize,
    cur: Option<Sample>,
    err: Option<Error>,
}

impl<'a> SeriesIter<'a> {
    fn new(series: &'a Series) -> Self {
        let mut order: Vec<usize> = (0..series.chunks.len()).collect();
        order.sort_by_key(|&i| (series.chunks[i].mint, series.chunks[i].maxt));
        let merged = order
            .windows(2)
            .any(|w| series.chunks[w[1]].mint <= series.chunks[w[0]].maxt);
        let mut it = SeriesIter {
            series,
            order,
            merged,
            next_chunk: 0,
            buf: Vec::new(),
            pos: 0,
            cur: None,
            err: None,
        };
        it.reset();
        it
    }

    /// Restarts from the first sample.
    pub fn reset(&mut self) {
        self.next_chunk = 0;
        self.buf.clear();
        self.pos = 0;
        self.cur = None;
        self.err = None;
        if self.merged {
            self.load_all();
        }
    }

    /// The error that ended iteration, if any.
    pub fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }

    fn decode(&mut self, c: &ChunkRef, out: &mut Vec<Sample>) -> Result<()> {
        let (mint, maxt) = (self.series.mint, self.series.maxt);
        let start = out.len();
        match &c.src {
            ChunkSrc::Head(x) => x.decode(out)?,
            ChunkSrc::HeadOpen(b) => push_open(b, out)?,
            ChunkSrc::Block(b, m) => match b.read_chunk(m, out) {
                // The block is now marked damaged: the TSDB quarantines it and queries report
                // a warning for its range (`Tsdb::damage_warnings`); the rest still reads.
                Err(Error::Corruption { .. }) if b.damage().is_some() => {}
                r => r?,
            },
            ChunkSrc::Samples(s) => out.extend_from_slice(s),
        }
        let mut w = start;
        let deleted = &self.series.deleted;
        for r in start..out.len() {
            if out[r].t >= mint && out[r].t <= maxt && (deleted.is_empty() || !deleted.contains(out[r].t)) {
                out[w] = out[r];
                w += 1;
            }
        }
        out.truncate(w);
        Ok(())
    }

    fn load_all(&mut self) {
        let mut all: Vec<(i64, u32, f64)> = Vec::new();
        let mut tmp = Vec::new();
        for i in 0..self.series.chunks.len() {
            let c = self.series.chunks[i].clone();
            tmp.clear();
            if let Err(e) = self.decode(&c, &mut tmp) {
                self.err = Some(e);
                return;
            }
            all.extend(tmp.iter().map(|s| (s.t, c.prio, s.v)));
        }
        // Highest priority first within a timestamp, then keep the first of each timestamp.
        all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        all.dedup_by_key(|x| x.0);
        self.buf = all.into_iter().map(|(t, _, v)| Sample { t, v }).collect();
        self.next_chunk = self.order.len();
    }

    fn fill(&mut self) -> bool {
        while self.pos >= self.buf.len() {
            if self.merged || self.err.is_some() || self.next_chunk >= self.order.len() {
                return false;
            }
            let c = self.series.chunks[self.order[self.next_chunk]].clone();
            self.next_chunk += 1;
            self.buf.clear();
            self.pos = 0;
            let mut buf = std::mem::take(&mut self.buf);
            let r = self.decode(&c, &mut buf);
            self.buf = buf;
            if let Err(e) = r {
                self.err = Some(e);
                return false;
            }
        }
        true
    }

    /// Advances to and returns the next sample.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Sample> {
        if !self.fill() {
            self.cur = None;
            return None;
        }
        let s = self.buf[self.pos];
        self.pos += 1;
        self.cur = Some(s);
        Some(s)
    }

    /// Moves to the first sample with timestamp ≥ `t` and returns it; stays put when the
    /// current sample already qualifies.
    pub fn seek(&mut self, t: i64) -> Option<Sample> {
        if let Some(c) = self.cur
            && c.t >= t
        {
            return Some(c);
        }
        if !self.merged {
            // Skip whole chunks that end before t without decoding them.
            if self.pos >= self.buf.len() || self.buf.last().is_some_and(|s| s.t < t) {
                self.buf.clear();
                self.pos = 0;
                while self.next_chunk < self.order.len() && self.series.chunks[self.order[self.next_chunk]].maxt < t {
                    self.next_chunk += 1;
                }
            }
        }
        if self.pos < self.buf.len() {
            let skip = self.buf[self.pos..].partition_point(|s| s.t < t);
            self.pos += skip;
        }
        while let Some(s) = self.next() {
            if s.t >= t {
                return Some(s);
            }
        }
        None
    }

    /// The sample last returned by `next` or `seek`.
    pub fn at(&self) -> Option<Sample> {
        self.cur
    }
}

fn push_open(bytes: &[u8], out: &mut Vec<Sample>) -> Result<()> {
    let mut it = DecIter::new(bytes);
    out.extend(it.by_ref());
    match it.err() {
        Some(e) => Err(Error::corruption("<head chunk>", 0, e.to_string())),
        None => Ok(()),
    }
}

/// A consistent view of the TSDB over `[mint, maxt]` (ms, inclusive).
pub struct Querier {
    pub(crate) head: Arc<Head>,
    pub(crate) blocks: Vec<Arc<Block>>,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    /// Deletions to apply while reading.
    pub(crate) tombstones: Arc<Vec<Tombstone>>,
}

impl Querier {
    /// Series matching every matcher, sorted by labels, with at least one sample in range.
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>> {
        let (mint, maxt) = (self.mint, self.maxt);
        let mut map: BTreeMap<Labels, Vec<ChunkRef>> = BTreeMap::new();
        for (prio, b) in self.blocks.iter().enumerate() {
            let ids = postings_for_matchers(b.index(), matchers)?;
            for id in ids {
                let (labels, metas) = b.index().series(id)?;
                let refs = map.entry(labels).or_default();
                for m in metas.into_iter().filter(|m| m.maxt >= mint && m.mint <= maxt) {
                    refs.push(ChunkRef {
                        src: ChunkSrc::Block(b.clone(), m),
                        mint: m.mint,
                        maxt: m.maxt,
                        prio: prio as u32,
                    });
                }
            }
        }
        let head_prio = self.blocks.len() as u32 + 1;
        for id in self.head.select_ids(matchers)? {
            let Some(s) = self.head.by_id(id) else { continue };
            let d = s.data.lock();
            let refs = map.entry(s.labels.clone()).or_default();
            for c in d.closed.iter().filter(|c| c.maxt >= mint && c.mint <= maxt) {
                refs.push(ChunkRef {
                    src: ChunkSrc::Head(c.clone()),
                    mint: c.mint,
                    maxt: c.maxt,
                    prio: head_prio,
                });
            }
            if let Some(c) = &d.open
                && let (Some(a), Some(b)) = (c.min_time(), c.max_time())
                && b >= mint
                && a <= maxt
            {
                refs.push(ChunkRef {
                    src: ChunkSrc::HeadOpen(Arc::from(c.bytes())),
                    mint: a,
                    maxt: b,
                    prio: head_prio,
                });
            }
            let ooo: Vec<Sample> = d.ooo.iter().copied().filter(|x| x.t >= mint && x.t <= maxt).collect();
            if let (Some(f), Some(l)) = (ooo.first(), ooo.last()) {
                let (a, b) = (f.t, l.t);
                refs.push(ChunkRef {
                    src: ChunkSrc::Samples(Arc::from(ooo)),
                    mint: a,
                    maxt: b,
                    prio: head_prio + 1,
                });
            }
        }
        Ok(map
            .into_iter()
            .filter(|(_, c)| !c.is_empty())
            .filter_map(|(labels, chunks)| {
                let deleted = deleted_for(&self.tombstones, &labels);
                // A series whose every chunk is deleted (within the range) is not there at all.
                let gone = !deleted.is_empty()
                    && chunks
                        .iter()
                        .all(|c| deleted.covers(c.mint.max(mint), c.maxt.min(maxt)));
                (!gone).then_some(Series {
                    labels,
                    chunks,
                    deleted,
                    mint,
                    maxt,
                })
            })
            .collect())
    }

    /// True when the head holds samples inside the querier's range.
    fn head_overlaps(&self) -> bool {
        use std::sync::atomic::Ordering;
        let (a, b) = (
            self.head.min_time.load(Ordering::Acquire),
            self.head.max_time.load(Ordering::Acquire),
        );
        a <= b && a <= self.maxt && b >= self.mint
    }

    /// Sorted label names of the series matching `matchers` (all series when empty). Without
    /// matchers the answer is per source (head, block) that overlaps the range, as in Prometheus.
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut out = BTreeSet::new();
        if matchers.is_empty() {
            if self.head_overlaps() {
                out.extend(self.head.label_names());
            }
            for b in &self.blocks {
                out.extend(b.index().label_names()?);
            }
        } else {
            for s in self.select(matchers)? {
                out.extend(s.labels.iter().map(|(n, _)| n.to_owned()));
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Sorted values of label `name` over the series matching `matchers` (all when empty).
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut out = BTreeSet::new();
        if matchers.is_empty() {
            if self.head_overlaps() {
                out.extend(self.head.label_values(name));
            }
            for b in &self.blocks {
                use crate::metrics::postings::IndexReader;
                b.index().for_each_value(name, &mut |v| {
                    out.insert(v.to_owned());
                })?;
            }
        } else {
            for s in self.select(matchers)? {
                if let Some(v) = s.labels.get(name) {
                    out.insert(v.to_owned());
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// The querier's time range.
    pub fn range(&self) -> (i64, i64) {
        (self.mint, self.maxt)
    }
}
