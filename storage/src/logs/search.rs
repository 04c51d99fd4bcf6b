//! Candidate search in one partition: which chunks may hold matching lines (index query, then
//! bloom filter), and which head entries match.
//!
//! # Substrings and tokens
//! A required substring `s` is split into tokens like the lines (see [`super::tokens`]). A
//! token with a non-alphanumeric character on both sides inside `s` (an *interior* token) is a
//! whole token of every line that contains `s`: a word must be in the chunk's index document, a
//! hex id in its bloom filter. Without interior tokens, the edge tokens may be the end or the
//! start of a longer token of the line: a fragment that holds a character outside `[0-9a-f]`
//! can only be part of a word (or a token too long to index), so it becomes a suffix / prefix /
//! infix match on the term dictionary OR'ed with the chunk's long-token flag; an all-hex
//! fragment may be part of a hex id and does not narrow the search. Every line of a candidate
//! chunk is verified against the raw substrings by the caller, so results equal a scan.

use super::bloom;
use super::chunk::{self, Chunk};
use super::head::HeadEntry;
use super::partition::{Partition, Snapshot};
use super::schema::Fields;
use super::tokens::{self, Class};
use crate::error::{Error, Result};
use std::ops::Bound;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, RegexQuery, TermQuery, TermSetQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader, Term};

/// What to look for in a partition.
#[derive(Debug)]
pub(super) struct Plan<'a> {
    /// Stream ids, ascending.
    pub streams: &'a [u64],
    pub start_ns: i64,
    pub end_ns: i64,
    pub contains: &'a [String],
    pub trace_id: Option<&'a str>,
}

impl Plan<'_> {
    /// Whether an entry with these properties matches (the stream is checked by the caller).
    pub fn matches(&self, ts: i64, line: &str, trace: Option<&str>) -> bool {
        ts >= self.start_ns
            && ts < self.end_ns
            && self.contains.iter().all(|s| line.contains(s.as_str()))
            && self.trace_id.is_none_or(|t| trace == Some(t))
    }
}

/// An index document: where a chunk is and what it spans.
#[derive(Clone, Copy, Debug)]
pub(super) struct ChunkRef {
    pub stream: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub file: u64,
    pub offset: u64,
    pub entries: u64,
    pub bytes: u64,
}

/// Candidate chunks of a plan and the bloom keys each must hold.
#[derive(Default)]
pub(super) struct Candidates {
    pub chunks: Vec<ChunkRef>,
    bloom: Vec<u64>,
    /// Decompression context reused across the chunks read.
    dz: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>>,
}

impl Candidates {
    /// Reads and decodes chunk `c` of partition `p`, or `None` when its bloom filter rules it
    /// out.
    pub fn open(&self, p: &Partition, c: &ChunkRef) -> Result<Option<Chunk>> {
        self.read(p, c).inspect_err(|e| {
            if matches!(e, Error::Corruption { .. }) {
                p.quarantine_chunk_file(c.file, e);
            }
        })
    }

    fn read(&self, p: &Partition, c: &ChunkRef) -> Result<Option<Chunk>> {
        let file = p.file(c.file)?;
        let corrupt = |e: crate::encoding::DecodeError| {
            Error::corruption(
                p.dir(),
                c.offset + e.offset as u64,
                format!("log chunk file {}: {}", c.file, e.what),
            )
        };
        let at = usize::try_from(c.offset).unwrap_or(usize::MAX);
        let rec = chunk::record(file.get(at..).unwrap_or(&[])).map_err(corrupt)?;
        if !self.bloom.iter().all(|&h| bloom::may_contain(rec.bloom, h)) {
            return Ok(None);
        }
        let mut dz = self.dz.borrow_mut();
        let dz = match &mut *dz {
            Some(d) => d,
            None => dz.insert(zstd::bulk::Decompressor::new().map_err(|e| Error::io(p.dir(), e))?),
        };
        chunk::decode(&rec, dz).map(Some).map_err(corrupt)
    }
}

fn tantivy(e: tantivy::TantivyError) -> Error {
    Error::io("log index", std::io::Error::other(e.to_string()))
}

/// The narrowing a plan's substrings and trace id give: index clauses and bloom keys.
/// Index clauses and bloom keys.
type Narrowing = (Vec<Box<dyn Query>>, Vec<u64>);

fn narrowing(f: Fields, plan: &Plan<'_>) -> Result<Narrowing> {
    let mut clauses = Vec::new();
    let mut bloom = Vec::new();
    for s in plan.contains {
        substring(f, s, &mut clauses, &mut bloom)?;
    }
    if let Some(t) = plan.trace_id {
        bloom.push(tokens::hash64(t.as_bytes()));
    }
    Ok((clauses, bloom))
}

/// Adds what every chunk holding a line that contains `s` must satisfy (see the module doc).
fn substring(f: Fields, s: &str, clauses: &mut Vec<Box<dyn Query>>, bloom: &mut Vec<u64>) -> Result<()> {
    let mut toks: Vec<(usize, usize, String)> = Vec::new();
    tokens::for_each_token(s, |t| toks.push((t.from, t.to, t.text.to_owned())));
    let mut narrowed = false;
    for (_, _, t) in toks.iter().filter(|(from, to, _)| *from > 0 && *to < s.len()) {
        match tokens::class(t) {
            Class::Word => {
                clauses.push(Box::new(TermQuery::new(
                    Term::from_field_text(f.words, t),
                    IndexRecordOption::Basic,
                )));
                narrowed = true;
            }
            Class::HexId => {
                bloom.push(tokens::hash64(t.as_bytes()));
                narrowed = true;
            }
            Class::Long => {}
        }
    }
    if narrowed {
        return Ok(());
    }
    // Edge fragments: only those that cannot be part of a hex id.
    let usable = |t: &str| !tokens::is_hex(t) && t.len() < tokens::MAX_TOKEN_LEN;
    let pattern = match toks.as_slice() {
        [] => return Ok(()),
        [(0, to, t)] if *to == s.len() => {
            if t.len() < 3 || !usable(t) {
                return Ok(());
            }
            format!(".*{}.*", regex::escape(t))
        }
        [.., (_, to, t)] if *to == s.len() && t.len() >= 2 && usable(t) => format!("{}.*", regex::escape(t)),
        [(0, _, t), ..] if usable(t) => format!(".*{}", regex::escape(t)),
        _ => return Ok(()),
    };
    let edge = RegexQuery::from_pattern(&pattern, f.words).map_err(tantivy)?;
    let long = TermQuery::new(Term::from_field_u64(f.long, 1), IndexRecordOption::Basic);
    clauses.push(Box::new(BooleanQuery::new(vec![
        (Occur::Should, Box::new(edge) as Box<dyn Query>),
        (Occur::Should, Box::new(long)),
    ])));
    Ok(())
}

/// Chunks of `snap`'s index that may hold entries of `plan`, oldest first.
pub(super) fn candidates(snap: &Snapshot, f: Fields, plan: &Plan<'_>) -> Result<Candidates> {
    if plan.streams.is_empty() || plan.start_ns >= plan.end_ns || snap.searcher.num_docs() == 0 {
        return Ok(Candidates::default());
    }
    let (narrow, bloom) = narrowing(f, plan)?;
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
        (
            Occur::Must,
            Box::new(TermSetQuery::new(
                plan.streams.iter().map(|&id| Term::from_field_u64(f.stream, id)),
            )),
        ),
        (
            Occur::Must,
            Box::new(RangeQuery::new(
                Bound::Unbounded,
                Bound::Excluded(Term::from_field_i64(f.min_ts, plan.end_ns)),
            )),
        ),
        (
            Occur::Must,
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_i64(f.max_ts, plan.start_ns)),
                Bound::Unbounded,
            )),
        ),
    ];
    clauses.extend(narrow.into_iter().map(|q| (Occur::Must, q)));
    let mut chunks = snap
        .searcher
        .search(&BooleanQuery::new(clauses), &ChunkCollector)
        .map_err(tantivy)?;
    chunks.sort_unstable_by_key(|c| (c.min_ts, c.file, c.offset));
    Ok(Candidates {
        chunks,
        bloom,
        dz: Default::default(),
    })
}

/// Head entries matching `plan` as `(ts, batch, entry)`, sorted by timestamp (insertion order
/// at equal timestamps).
pub(super) fn head_hits(snap: &Snapshot, plan: &Plan<'_>) -> Vec<(i64, u32, u32)> {
    let mut hits = Vec::new();
    if plan.streams.is_empty() {
        return hits;
    }
    for (bi, b) in snap.head.batches.iter().enumerate() {
        for (ei, e) in b.entries.iter().enumerate() {
            if head_matches(e, plan) {
                hits.push((e.entry.ts_ns, bi as u32, ei as u32));
            }
        }
    }
    hits.sort_by_key(|h| h.0);
    hits
}

fn head_matches(e: &HeadEntry, plan: &Plan<'_>) -> bool {
    plan.matches(e.entry.ts_ns, &e.entry.line, e.entry.trace_id.as_deref())
        && plan.streams.binary_search(&e.stream).is_ok()
}

/// Per-stream entry count and line bytes of the entries of `plan` in `p` (exact).
pub(super) fn stream_stats(
    p: &Partition,
    snap: &Snapshot,
    plan: &Plan<'_>,
    out: &mut std::collections::HashMap<u64, (u64, u64)>,
) -> Result<()> {
    // Damage is skipped and noted (query warnings), as in `select`.
    let cands = if p.index_damaged() {
        None
    } else {
        super::damage::guarded(p, true, || candidates(snap, p.fields, plan))?
    };
    let cands = cands.unwrap_or_default();
    let whole = plan.contains.is_empty() && plan.trace_id.is_none();
    for c in &cands.chunks {
        let s = out.entry(c.stream).or_default();
        if whole && c.min_ts >= plan.start_ns && c.max_ts < plan.end_ns {
            s.0 += c.entries;
            s.1 += c.bytes;
            continue;
        }
        let Some(Some(chunk)) = super::damage::guarded(p, false, || cands.open(p, c))? else {
            continue;
        };
        for i in 0..chunk.len() {
            let line = chunk.line(i);
            if plan.matches(chunk.ts[i], line, chunk.trace(i)) {
                s.0 += 1;
                s.1 += line.len() as u64;
            }
        }
    }
    for e in snap.head.entries() {
        if head_matches(e, plan) {
            let s = out.entry(e.stream).or_default();
            s.0 += 1;
            s.1 += e.entry.line.len() as u64;
        }
    }
    Ok(())
}

/// Collects every matching document's [`ChunkRef`] from the fast fields.
struct ChunkCollector;

struct ChunkSegment {
    cols: [Column<u64>; 5],
    min_ts: Column<i64>,
    max_ts: Column<i64>,
    out: Vec<ChunkRef>,
}

impl Collector for ChunkCollector {
    type Fruit = Vec<ChunkRef>;
    type Child = ChunkSegment;

    fn for_segment(&self, _seg: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<ChunkSegment> {
        let ff = reader.fast_fields();
        Ok(ChunkSegment {
            cols: [
                ff.u64("stream")?,
                ff.u64("file")?,
                ff.u64("offset")?,
                ff.u64("entries")?,
                ff.u64("bytes")?,
            ],
            min_ts: ff.i64("min_ts")?,
            max_ts: ff.i64("max_ts")?,
            out: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<ChunkRef>>) -> tantivy::Result<Vec<ChunkRef>> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for ChunkSegment {
    type Fruit = Vec<ChunkRef>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let [stream, file, offset, entries, bytes] = &self.cols;
        if let (Some(stream), Some(file), Some(offset), Some(min_ts), Some(max_ts)) = (
            stream.first(doc),
            file.first(doc),
            offset.first(doc),
            self.min_ts.first(doc),
            self.max_ts.first(doc),
        ) {
            self.out.push(ChunkRef {
                stream,
                min_ts,
                max_ts,
                file,
                offset,
                entries: entries.first(doc).unwrap_or(0),
                bytes: bytes.first(doc).unwrap_or(0),
            });
        }
    }

    fn harvest(self) -> Vec<ChunkRef> {
        self.out
    }
}
