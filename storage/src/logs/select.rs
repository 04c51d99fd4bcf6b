//! Reading entries: [`LogStore::select`] walks the partitions overlapping the range and, in each,
//! merges the matching entries of its candidate chunks and of its head in timestamp order,
//! skipping entries covered by deletion requests.
//!
//! Chunks are opened lazily: a chunk is decoded only once the merge reaches its first (forward)
//! or last (backward) timestamp, so memory holds the chunks that overlap in time, not the
//! whole range, and a query that stops early decodes little.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::chunk::Chunk;
use super::damage;
use super::deletes::deleted;
use super::partition::{Partition, Snapshot};
use super::search::{self, Candidates, Plan};
use super::{Direction, EntryView, LogStore, Select};
use crate::error::{Error, Result};
use crate::labels::Labels;

/// Matching entries of one source, in ascending timestamp order.
enum Source {
    Chunk { stream: u64, chunk: Chunk, hits: Vec<u32> },
    Head { hits: Vec<(i64, u32, u32)> },
}

impl Source {
    fn len(&self) -> usize {
        match self {
            Source::Chunk { hits, .. } => hits.len(),
            Source::Head { hits } => hits.len(),
        }
    }

    fn ts(&self, k: usize) -> i64 {
        match self {
            Source::Chunk { chunk, hits, .. } => chunk.ts[hits[k] as usize],
            Source::Head { hits } => hits[k].0,
        }
    }
}

/// Heap key: timestamp, then source order, then position (the forward order; backward is its
/// exact reverse).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    ts: i64,
    order: usize,
    pos: usize,
}

/// A max-heap in the direction of the visit: forward pops the smallest key.
enum Heap {
    Forward(BinaryHeap<Reverse<(Key, usize)>>),
    Backward(BinaryHeap<(Key, usize)>),
}

impl Heap {
    fn push(&mut self, key: Key, slot: usize) {
        match self {
            Heap::Forward(h) => h.push(Reverse((key, slot))),
            Heap::Backward(h) => h.push((key, slot)),
        }
    }

    fn peek_ts(&self) -> Option<i64> {
        match self {
            Heap::Forward(h) => h.peek().map(|r| r.0.0.ts),
            Heap::Backward(h) => h.peek().map(|r| r.0.ts),
        }
    }

    fn pop(&mut self) -> Option<(Key, usize)> {
        match self {
            Heap::Forward(h) => h.pop().map(|r| r.0),
            Heap::Backward(h) => h.pop(),
        }
    }
}

impl LogStore {
    /// Visits every entry matching `req` in timestamp order (`req.direction`) across streams;
    /// stops when `visit` breaks.
    pub fn select(&self, req: &Select, visit: &mut dyn FnMut(EntryView<'_>) -> ControlFlow<()>) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let (labels, ids) = self.matching(&req.matchers);
        if ids.is_empty() || req.start_ns >= req.end_ns {
            return Ok(());
        }
        let deleted = self.deletes.for_streams(&labels, &ids);
        let mut parts = self.overlapping(req.start_ns, req.end_ns);
        if req.direction == Direction::Backward {
            parts.reverse();
        }
        for p in parts {
            let here: Vec<u64> = ids.iter().copied().filter(|&id| p.has_stream(id)).collect();
            let snap = p.snapshot();
            let plan = Plan {
                streams: &here,
                start_ns: req.start_ns.max(p.start_ns),
                end_ns: req.end_ns.min(p.end_ns),
                contains: &req.contains,
                trace_id: req.trace_id.as_deref(),
            };
            let ctx = Merge {
                p: &p,
                snap: &snap,
                plan: &plan,
                labels: &labels,
                deleted: &deleted,
                forward: req.direction == Direction::Forward,
            };
            if ctx.run(visit)?.is_break() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The merge of one partition.
struct Merge<'a> {
    p: &'a Partition,
    snap: &'a Snapshot,
    plan: &'a Plan<'a>,
    labels: &'a [Arc<Labels>],
    deleted: &'a HashMap<u64, Vec<(i64, i64)>>,
    forward: bool,
}

impl Merge<'_> {
    fn run(&self, visit: &mut dyn FnMut(EntryView<'_>) -> ControlFlow<()>) -> Result<ControlFlow<()>> {
        let cands = if self.p.index_damaged() {
            None
        } else {
            damage::guarded(self.p, true, || search::candidates(self.snap, self.p.fields, self.plan))?
        };
        let cands = cands.unwrap_or_default();
        // Chunks in the order the merge reaches them; `order` is the forward tie-break.
        let mut pending: Vec<usize> = (0..cands.chunks.len()).collect();
        if !self.forward {
            pending.sort_by_key(|&i| Reverse(cands.chunks[i].max_ts));
        }
        let mut sources: Vec<Option<(usize, Source)>> = Vec::new();
        let mut heap = if self.forward {
            Heap::Forward(BinaryHeap::new())
        } else {
            Heap::Backward(BinaryHeap::new())
        };
        let head = search::head_hits(self.snap, self.plan)
            .into_iter()
            .filter(|&(ts, b, e)| {
                let stream = self.snap.head.batches[b as usize].entries[e as usize].stream;
                !deleted(self.deleted.get(&stream), ts)
            })
            .collect();
        self.add(&mut sources, &mut heap, usize::MAX, Source::Head { hits: head });
        let mut next = 0;
        loop {
            // Open every chunk that may hold an entry at or before (forward) the next one.
            while let Some(&i) = pending.get(next) {
                let c = &cands.chunks[i];
                let reached = match heap.peek_ts() {
                    None => true,
                    Some(ts) if self.forward => c.min_ts <= ts,
                    Some(ts) => c.max_ts >= ts,
                };
                if !reached {
                    break;
                }
                next += 1;
                if let Some(src) = self.open(&cands, c)? {
                    self.add(&mut sources, &mut heap, i, src);
                }
            }
            let Some((key, slot)) = heap.pop() else {
                return Ok(ControlFlow::Continue(()));
            };
            let Some((order, src)) = sources[slot].as_ref() else {
                continue;
            };
            if self.emit(src, key.pos, visit)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
            let more = if self.forward {
                (key.pos + 1 < src.len()).then(|| key.pos + 1)
            } else {
                key.pos.checked_sub(1)
            };
            match more {
                Some(pos) => heap.push(
                    Key {
                        ts: src.ts(pos),
                        order: *order,
                        pos,
                    },
                    slot,
                ),
                None => sources[slot] = None,
            }
        }
    }

    /// Registers a source and pushes its first entry in the visit's direction.
    fn add(&self, sources: &mut Vec<Option<(usize, Source)>>, heap: &mut Heap, order: usize, src: Source) {
        let n = src.len();
        if n == 0 {
            return;
        }
        let pos = if self.forward { 0 } else { n - 1 };
        let key = Key {
            ts: src.ts(pos),
            order,
            pos,
        };
        let slot = match sources.iter().position(Option::is_none) {
            Some(free) => {
                sources[free] = Some((order, src));
                free
            }
            None => {
                sources.push(Some((order, src)));
                sources.len() - 1
            }
        };
        heap.push(key, slot);
    }

    /// Decodes a candidate chunk and keeps the positions of its matching entries.
    fn open(&self, cands: &Candidates, c: &search::ChunkRef) -> Result<Option<Source>> {
        let Some(Some(chunk)) = damage::guarded(self.p, false, || cands.open(self.p, c))? else {
            return Ok(None);
        };
        let del = self.deleted.get(&c.stream);
        let hits: Vec<u32> = (0..chunk.len())
            .filter(|&i| {
                let ts = chunk.ts[i];
                self.plan.matches(ts, chunk.line(i), chunk.trace(i)) && !deleted(del, ts)
            })
            .map(|i| i as u32)
            .collect();
        Ok((!hits.is_empty()).then_some(Source::Chunk {
            stream: c.stream,
            chunk,
            hits,
        }))
    }

    fn emit(
        &self,
        src: &Source,
        pos: usize,
        visit: &mut dyn FnMut(EntryView<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        match src {
            Source::Chunk { stream, chunk, hits } => {
                let i = hits[pos] as usize;
                let Some(l) = self.labels.get(*stream as usize) else {
                    return Err(Error::corruption(
                        self.p.dir(),
                        0,
                        format!("unknown stream id {stream}"),
                    ));
                };
                Ok(visit(EntryView {
                    labels: l,
                    ts_ns: chunk.ts[i],
                    line: chunk.line(i),
                    metadata: chunk.metadata(i),
                }))
            }
            Source::Head { hits } => {
                let (_, b, e) = hits[pos];
                let he = &self.snap.head.batches[b as usize].entries[e as usize];
                let Some(l) = self.labels.get(he.stream as usize) else {
                    return Ok(ControlFlow::Continue(()));
                };
                Ok(visit(EntryView {
                    labels: l,
                    ts_ns: he.entry.ts_ns,
                    line: &he.entry.line,
                    metadata: &he.entry.metadata,
                }))
            }
        }
    }
}
