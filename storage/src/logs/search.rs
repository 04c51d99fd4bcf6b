//! Candidate search in one partition: index query + head scan.
//!
//! # Substrings and tokens
//! A required substring `s` is split with the indexing analyzer. A token with a non-alphanumeric
//! character on both sides inside `s` (an *interior* token) is a whole token of every line that
//! contains `s`, so the line must hold that exact term. A token touching the start of `s` may be
//! the end of a longer token of the line, one touching the end may be its beginning: those
//! become suffix / prefix / infix matches on the term dictionary, OR'ed with the flag of lines
//! holding a token too long to index. Interior tokens are used when present (cheapest, most
//! selective); otherwise the prefix of the last token, else the suffix of the first, else an
//! infix match of a single token of at least 3 bytes; else the substring does not narrow the
//! search. Candidates are always verified against the raw line by the caller.

use super::head::HeadEntry;
use super::partition::Snapshot;
use super::schema::{Fields, analyzer};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::ops::Bound;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, RegexQuery, TermQuery, TermSetQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader, Term};

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

/// A candidate: in the index or in the head.
#[derive(Clone, Copy, Debug)]
pub(super) enum Hit {
    Doc { ts: i64, stream: u64, addr: DocAddress },
    Head { ts: i64, batch: u32, entry: u32 },
}

impl Hit {
    /// Timestamp, ns.
    pub fn ts(&self) -> i64 {
        match *self {
            Hit::Doc { ts, .. } | Hit::Head { ts, .. } => ts,
        }
    }
}

fn tantivy(e: tantivy::TantivyError) -> Error {
    Error::io("log index", std::io::Error::other(e.to_string()))
}

/// The index query for `plan`.
fn build_query(f: Fields, plan: &Plan<'_>) -> Result<BooleanQuery> {
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
                Bound::Included(Term::from_field_i64(f.ts, plan.start_ns)),
                Bound::Excluded(Term::from_field_i64(f.ts, plan.end_ns)),
            )),
        ),
    ];
    for s in plan.contains {
        clauses.extend(substring_clauses(f, s)?.into_iter().map(|q| (Occur::Must, q)));
    }
    if let Some(t) = plan.trace_id {
        clauses.push((
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(f.trace, t),
                IndexRecordOption::Basic,
            )),
        ));
    }
    Ok(BooleanQuery::new(clauses))
}

/// Queries every line containing `s` matches (see the module doc).
fn substring_clauses(f: Fields, s: &str) -> Result<Vec<Box<dyn Query>>> {
    let mut tokens = Vec::new();
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(s);
    while let Some(t) = stream.next() {
        tokens.push((t.offset_from, t.offset_to, t.text.clone()));
    }
    let interior: Vec<Box<dyn Query>> = tokens
        .iter()
        .filter(|(from, to, _)| *from > 0 && *to < s.len())
        .map(|(_, _, t)| {
            Box::new(TermQuery::new(
                Term::from_field_text(f.line, t),
                IndexRecordOption::Basic,
            )) as Box<dyn Query>
        })
        .collect();
    if !interior.is_empty() {
        return Ok(interior);
    }
    let pattern = match tokens.as_slice() {
        [] => return Ok(Vec::new()),
        [(0, to, t)] if *to == s.len() => {
            if t.len() < 3 {
                return Ok(Vec::new());
            }
            format!(".*{}.*", regex::escape(t))
        }
        [.., (_, to, t)] if *to == s.len() && t.len() >= 2 => format!("{}.*", regex::escape(t)),
        [(0, _, t), ..] => format!(".*{}", regex::escape(t)),
        // Every token is interior or dropped: handled above.
        _ => return Ok(Vec::new()),
    };
    let edge = RegexQuery::from_pattern(&pattern, f.line).map_err(tantivy)?;
    let long = TermQuery::new(Term::from_field_u64(f.long, 1), IndexRecordOption::Basic);
    Ok(vec![Box::new(BooleanQuery::new(vec![
        (Occur::Should, Box::new(edge) as Box<dyn Query>),
        (Occur::Should, Box::new(long)),
    ]))])
}

/// Whether a head entry matches the plan (streams are checked by the caller).
fn head_matches(e: &HeadEntry, plan: &Plan<'_>) -> bool {
    let en = &e.entry;
    en.ts_ns >= plan.start_ns
        && en.ts_ns < plan.end_ns
        && plan.contains.iter().all(|s| en.line.contains(s.as_str()))
        && plan.trace_id.is_none_or(|t| en.trace_id.as_deref() == Some(t))
        && plan.streams.binary_search(&e.stream).is_ok()
}

/// Candidates of `plan` in `snap`, sorted by timestamp ascending (index hits before head hits
/// at equal timestamps, in insertion order).
pub(super) fn candidates(snap: &Snapshot, f: Fields, plan: &Plan<'_>) -> Result<Vec<Hit>> {
    if plan.streams.is_empty() || plan.start_ns >= plan.end_ns {
        return Ok(Vec::new());
    }
    let mut hits = if snap.searcher.num_docs() == 0 {
        Vec::new()
    } else {
        let q = build_query(f, plan)?;
        snap.searcher.search(&q, &HitCollector).map_err(tantivy)?
    };
    for (bi, b) in snap.head.batches.iter().enumerate() {
        for (ei, e) in b.entries.iter().enumerate() {
            if head_matches(e, plan) {
                hits.push(Hit::Head {
                    ts: e.entry.ts_ns,
                    batch: bi as u32,
                    entry: ei as u32,
                });
            }
        }
    }
    hits.sort_by_key(|h| h.ts());
    Ok(hits)
}

/// Per-stream entry count and line bytes of `plan`'s candidates. Exact when `plan.contains` is
/// empty (the index alone decides); otherwise an upper bound, like Loki's index stats.
pub(super) fn stream_stats(snap: &Snapshot, f: Fields, plan: &Plan<'_>) -> Result<HashMap<u64, (u64, u64)>> {
    let mut out: HashMap<u64, (u64, u64)> = HashMap::new();
    if plan.streams.is_empty() || plan.start_ns >= plan.end_ns {
        return Ok(out);
    }
    if snap.searcher.num_docs() > 0 {
        let q = build_query(f, plan)?;
        for (stream, n, bytes) in snap.searcher.search(&q, &StatsCollector).map_err(tantivy)? {
            let s = out.entry(stream).or_default();
            s.0 += n;
            s.1 += bytes;
        }
    }
    for e in snap.head.entries() {
        if head_matches(e, plan) {
            let s = out.entry(e.stream).or_default();
            s.0 += 1;
            s.1 += e.entry.line.len() as u64;
        }
    }
    Ok(out)
}

/// Collects `(ts, stream, address)` of every match from the fast fields.
struct HitCollector;

struct HitSegment {
    seg: SegmentOrdinal,
    ts: Column<i64>,
    stream: Column<u64>,
    out: Vec<Hit>,
}

impl Collector for HitCollector {
    type Fruit = Vec<Hit>;
    type Child = HitSegment;

    fn for_segment(&self, seg: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<HitSegment> {
        Ok(HitSegment {
            seg,
            ts: reader.fast_fields().i64("ts")?,
            stream: reader.fast_fields().u64("stream")?,
            out: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Hit>>) -> tantivy::Result<Vec<Hit>> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for HitSegment {
    type Fruit = Vec<Hit>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let (Some(ts), Some(stream)) = (self.ts.first(doc), self.stream.first(doc)) {
            self.out.push(Hit::Doc {
                ts,
                stream,
                addr: DocAddress::new(self.seg, doc),
            });
        }
    }

    fn harvest(self) -> Vec<Hit> {
        self.out
    }
}

/// Sums `(entries, bytes)` per stream from the fast fields.
struct StatsCollector;

struct StatsSegment {
    stream: Column<u64>,
    bytes: Column<u64>,
    out: HashMap<u64, (u64, u64)>,
}

impl Collector for StatsCollector {
    type Fruit = Vec<(u64, u64, u64)>;
    type Child = StatsSegment;

    fn for_segment(&self, _seg: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<StatsSegment> {
        Ok(StatsSegment {
            stream: reader.fast_fields().u64("stream")?,
            bytes: reader.fast_fields().u64("bytes")?,
            out: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(u64, u64, u64)>>) -> tantivy::Result<Vec<(u64, u64, u64)>> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for StatsSegment {
    type Fruit = Vec<(u64, u64, u64)>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let Some(stream) = self.stream.first(doc) {
            let s = self.out.entry(stream).or_default();
            s.0 += 1;
            s.1 += self.bytes.first(doc).unwrap_or(0);
        }
    }

    fn harvest(self) -> Vec<(u64, u64, u64)> {
        self.out.into_iter().map(|(k, (n, b))| (k, n, b)).collect()
    }
}
