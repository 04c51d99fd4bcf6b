//! Files on disk: partition directories, writing and compacting segments, WAL replay.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::codec;
use super::damage::Quarantined;
use super::segment::{Catalog, Segment, SegmentWriter};
use super::store::{Partition, SpanStore, SpanStoreOptions, State};
use crate::error::{Error, Result};
use crate::quarantine::{self, Signal};
use crate::wal;

/// `partitions/<start_ns>` under the store directory.
pub fn partition_dir(store_dir: &Path, start: u64) -> PathBuf {
    store_dir.join("partitions").join(start.to_string())
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}.seg"))
}

/// Opens every partition and segment under `parts_dir`; returns them and the next free
/// segment id. Leftover `.tmp` files (a crash while writing) are removed; a segment that
/// does not validate is quarantined (see [`crate::quarantine`]), not a reason to refuse to start.
pub fn open_partitions(parts_dir: &Path) -> Result<(BTreeMap<u64, Partition>, u64, Vec<Quarantined>)> {
    let mut parts = BTreeMap::new();
    let mut damaged = Vec::new();
    let mut next = 0u64;
    let entries = std::fs::read_dir(parts_dir).map_err(|e| Error::io(parts_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(parts_dir, e))?;
        let Some(start) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        let dir = entry.path();
        let mut p = Partition::default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for f in files {
            match f.extension().and_then(|x| x.to_str()) {
                Some("tmp") => {
                    std::fs::remove_file(&f).map_err(|e| Error::io(&f, e))?;
                }
                Some("seg") => {
                    if let Some(id) = f
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .and_then(|s| u64::from_str_radix(s, 16).ok())
                    {
                        next = next.max(id + 1);
                    }
                    match Segment::open(&f) {
                        Ok(seg) => {
                            p.max_seq = p.max_seq.max(seg.max_seq);
                            p.segments.push(Arc::new(seg));
                        }
                        Err(e) => {
                            let store = parts_dir.parent().unwrap_or(parts_dir);
                            quarantine::move_in(store, Signal::Traces, &f, &e.to_string())?;
                            damaged.push(Quarantined::at_open(start, &f, &e.to_string()));
                        }
                    }
                }
                _ => {}
            }
        }
        parts.insert(start, p);
    }
    Ok((parts, next, damaged))
}

/// Replays the WAL into the head, skipping spans whose partition already flushed their
/// record and spans past retention. Returns the last sequence number seen.
pub fn replay(wal_dir: &Path, opts: &SpanStoreOptions, state: &mut State, catalog: &mut Catalog) -> Result<u64> {
    let width = opts.partition.as_nanos().max(1) as u64;
    let min = (crate::logs::now_ns().max(0) as u64).saturating_sub(opts.retention.as_nanos() as u64);
    let mut last = 0u64;
    let mut records = 0u64;
    let mut spans_kept = 0u64;
    let mut undecodable = 0u64;
    let report = wal::replay(wal_dir, |rec| {
        let Some((seq, body)) = rec.split_first_chunk::<8>() else {
            undecodable += 1;
            tracing::error!(dir = %wal_dir.display(), "skipping span WAL record shorter than its sequence number");
            return Ok(());
        };
        let seq = u64::from_le_bytes(*seq);
        let spans = match codec::decode(body) {
            Ok(spans) => spans,
            Err(e) => {
                undecodable += 1;
                tracing::error!(dir = %wal_dir.display(), offset = e.offset, what = e.what, "skipping undecodable span WAL record");
                return Ok(());
            }
        };
        last = last.max(seq);
        records += 1;
        let keep: Vec<_> = spans
            .into_iter()
            .filter(|s| {
                let p = s.start_ns / width * width;
                s.start_ns >= min && state.partitions.get(&p).is_none_or(|p| p.max_seq < seq)
            })
            .collect();
        for s in &keep {
            catalog.add(s);
        }
        spans_kept += keep.len() as u64;
        state.head.add(keep, seq);
        Ok(())
    })?;
    if let Some(t) = &report.truncated {
        tracing::warn!(?t, "span WAL had a torn tail; truncated");
    }
    if undecodable > 0 {
        tracing::error!(undecodable, "span WAL replay skipped undecodable records");
    }
    quarantine::note(Signal::Traces, report.quarantined.len() as u64);
    tracing::info!(records, spans = spans_kept, "span WAL replayed");
    // Sequence numbers continue after the highest ever flushed, even if the WAL is empty.
    let flushed = state.partitions.values().map(|p| p.max_seq).max().unwrap_or(0);
    Ok(last.max(flushed))
}

/// Writes `spans` (sorted by trace id) as a new segment of partition `start`.
pub fn write_segment(
    store: &SpanStore,
    start: u64,
    spans: &[&super::model::Span],
    max_seq: u64,
    level: i32,
) -> Result<Segment> {
    let dir = partition_dir(&store.dir, start);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let id = store.next_segment.fetch_add(1, Ordering::Relaxed);
    let mut w = SegmentWriter::create(&segment_path(&dir, id), level)?;
    let mut block = Vec::with_capacity(store.opts.block_spans);
    for chunk in spans.chunks(store.opts.block_spans.max(1)) {
        block.clear();
        block.extend(chunk.iter().map(|s| (*s).clone()));
        if let Err(e) = w.add_block(&block) {
            w.abort();
            return Err(e);
        }
    }
    let durable = store.opts.sync != wal::SyncPolicy::Never;
    let path = w.finish(max_seq, durable)?;
    Segment::open(&path)
}

/// Merges `inputs` (each sorted by trace id) into one segment of partition `start`, block
/// by block, so memory stays at one decoded block per input.
pub fn compact(store: &SpanStore, start: u64, inputs: &[Arc<Segment>]) -> Result<Segment> {
    let dir = partition_dir(&store.dir, start);
    let id = store.next_segment.fetch_add(1, Ordering::Relaxed);
    let mut w = SegmentWriter::create(&segment_path(&dir, id), store.opts.compaction_level)?;
    let result = merge_into(store, inputs, &mut w);
    if let Err(e) = result {
        w.abort();
        return Err(e);
    }
    let max_seq = inputs.iter().map(|s| s.max_seq).max().unwrap_or(0);
    let durable = store.opts.sync != wal::SyncPolicy::Never;
    let path = w.finish(max_seq, durable)?;
    tracing::info!(partition = start, inputs = inputs.len(), path = %path.display(), "compacted span segments");
    Segment::open(&path)
}

/// One input of the k-way merge: the current decoded block and the position in it.
struct Cursor<'a> {
    seg: &'a Segment,
    block: usize,
    spans: std::vec::IntoIter<super::model::Span>,
}

fn merge_into(store: &SpanStore, inputs: &[Arc<Segment>], w: &mut SegmentWriter) -> Result<()> {
    let mut cursors: Vec<Cursor<'_>> = inputs
        .iter()
        .map(|s| Cursor {
            seg: s,
            block: 0,
            spans: Vec::new().into_iter(),
        })
        .collect();
    let mut heap = BinaryHeap::new();
    let mut heads: Vec<Option<super::model::Span>> = vec![None; cursors.len()];
    let advance = |c: &mut Cursor<'_>| -> Result<Option<super::model::Span>> {
        loop {
            if let Some(s) = c.spans.next() {
                return Ok(Some(s));
            }
            if c.block >= c.seg.blocks.len() {
                return Ok(None);
            }
            c.spans = c.seg.read_block(c.block)?.into_iter();
            c.block += 1;
        }
    };
    for (i, c) in cursors.iter_mut().enumerate() {
        if let Some(s) = advance(c)? {
            heap.push(Reverse((s.trace_id, s.start_ns, i)));
            heads[i] = Some(s);
        }
    }
    let mut block = Vec::with_capacity(store.opts.block_spans);
    while let Some(Reverse((_, _, i))) = heap.pop() {
        if let Some(s) = heads[i].take() {
            block.push(s);
        }
        if let Some(next) = advance(&mut cursors[i])? {
            heap.push(Reverse((next.trace_id, next.start_ns, i)));
            heads[i] = Some(next);
        }
        if block.len() >= store.opts.block_spans.max(1) {
            w.add_block(&block)?;
            block.clear();
        }
    }
    w.add_block(&block)
}
