//! Reading entries: [`LogStore::select`] walks the partitions overlapping the range, asks each
//! one's index (and unindexed head) for candidates, and hands matching entries to the visitor
//! in timestamp order, skipping entries covered by deletion requests.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;

use tantivy::TantivyDocument;
use tantivy::schema::Value;

use super::search::{self, Hit, Plan};
use super::{Direction, EntryView, LogStore, Select, record};
use crate::error::{Error, Result};

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
            let hits = search::candidates(&snap, p.fields, &plan)?;
            let mut each = |h: &Hit| -> Result<ControlFlow<()>> {
                match *h {
                    Hit::Doc { ts, stream, addr } => {
                        if super::deletes::deleted(deleted.get(&stream), ts) {
                            return Ok(ControlFlow::Continue(()));
                        }
                        let doc: TantivyDocument = snap
                            .searcher
                            .doc(addr)
                            .map_err(|e| Error::io(p.dir(), std::io::Error::other(e.to_string())))?;
                        let line = doc.get_first(p.fields.line).and_then(|v| v.as_str()).unwrap_or("");
                        if !req.contains.iter().all(|s| line.contains(s.as_str())) {
                            return Ok(ControlFlow::Continue(()));
                        }
                        let raw = doc
                            .get_first(p.fields.metadata)
                            .and_then(|v| v.as_bytes())
                            .unwrap_or(&[]);
                        let md = record::decode_metadata(raw)
                            .map_err(|e| Error::corruption(p.dir(), e.offset as u64, e.what))?;
                        let Some(l) = labels.get(stream as usize) else {
                            return Err(Error::corruption(p.dir(), 0, format!("unknown stream id {stream}")));
                        };
                        Ok(visit(EntryView {
                            labels: l,
                            ts_ns: ts,
                            line,
                            metadata: &md,
                        }))
                    }
                    Hit::Head { batch, entry, .. } => {
                        let he = &snap.head.batches[batch as usize].entries[entry as usize];
                        if super::deletes::deleted(deleted.get(&he.stream), he.entry.ts_ns) {
                            return Ok(ControlFlow::Continue(()));
                        }
                        let Some(l) = labels.get(he.stream as usize) else {
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
            };
            let order: Box<dyn Iterator<Item = &Hit>> = match req.direction {
                Direction::Forward => Box::new(hits.iter()),
                Direction::Backward => Box::new(hits.iter().rev()),
            };
            for h in order {
                if each(h)?.is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
