//! Maintenance of a [`SpanStore`]: flushing the head into segments, retention, compaction,
//! and the background thread that drives them.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::head::Head;
use super::model::Span;
use super::recovery;
use super::segment::{Catalog, Segment};
use super::store::SpanStore;
use crate::error::{Error, Result};
use crate::wal::SyncPolicy;

impl SpanStore {
    /// Flushes the head when it is over budget or old, compacts one partition that needs it
    /// and applies retention. The background thread calls this every second.
    pub fn maintain(&self, now_ns: i64) -> Result<()> {
        let _one = self.maint.lock();
        let due = {
            let st = self.state.read();
            st.head.bytes >= self.opts.head_max_bytes
                || st.head.since.is_some_and(|t| t.elapsed() >= self.opts.head_max_age)
        };
        if due {
            self.flush_locked()?;
        }
        self.retain(now_ns)?;
        // A compaction that met a damaged input marked it; take it out before trying again.
        self.quarantine_damaged();
        self.compact_one()?;
        Ok(())
    }

    /// Writes the whole head into segments now.
    pub fn flush(&self) -> Result<()> {
        let _one = self.maint.lock();
        self.flush_locked()
    }

    fn flush_locked(&self) -> Result<()> {
        let (head, cut) = {
            let _w = self.write.lock();
            let mut st = self.state.write();
            if st.head.is_empty() {
                return Ok(());
            }
            let head = Arc::new(std::mem::take(&mut st.head));
            st.frozen.push(head.clone());
            (head, self.wal.cut_segment()?)
        };
        let written = self.write_head(&head);
        let mut st = self.state.write();
        st.frozen.retain(|h| !Arc::ptr_eq(h, &head));
        match written {
            Ok(segments) => {
                for (start, seg) in segments {
                    let p = st.partitions.entry(start).or_default();
                    p.max_seq = p.max_seq.max(seg.max_seq);
                    p.segments.push(Arc::new(seg));
                }
                drop(st);
                let (first, _) = self.wal.segment_range();
                if cut > first {
                    self.wal.checkpoint(cut - 1, |_| None)?;
                }
                Ok(())
            }
            Err(e) => {
                // Keep the spans readable and flush them with the next head; the WAL still
                // holds them.
                let spans: Vec<Span> = head.spans.iter().map(|s| (**s).clone()).collect();
                st.head.add(spans, head.max_seq);
                Err(e)
            }
        }
    }

    /// Sorts the head's spans by partition and trace and writes one segment per partition.
    fn write_head(&self, head: &Head) -> Result<Vec<(u64, Segment)>> {
        let width = self.opts.partition.as_nanos().max(1) as u64;
        let mut by_part: BTreeMap<u64, Vec<&Span>> = BTreeMap::new();
        for s in &head.spans {
            by_part.entry(s.start_ns / width * width).or_default().push(s);
        }
        let mut out = Vec::new();
        for (start, mut spans) in by_part {
            spans.sort_by_key(|s| (s.trace_id, s.start_ns));
            let seg = recovery::write_segment(self, start, &spans, head.max_seq, self.opts.flush_level)?;
            out.push((start, seg));
        }
        Ok(out)
    }

    /// Deletes partitions that ended before the retention limit, then, with
    /// `retention_bytes`, the oldest ones while the segments take more than that (never the
    /// newest partition).
    fn retain(&self, now_ns: i64) -> Result<()> {
        let width = self.opts.partition.as_nanos() as u64;
        let limit = (now_ns.max(0) as u64).saturating_sub(self.opts.retention.as_nanos() as u64);
        let expired: Vec<u64> = {
            let mut st = self.state.write();
            let mut keys: Vec<u64> = st
                .partitions
                .range(..limit.saturating_sub(width))
                .map(|(k, _)| *k)
                .collect();
            for k in &keys {
                st.partitions.remove(k);
            }
            if let Some(max) = self.opts.retention_bytes {
                let size = |p: &super::store::Partition| p.segments.iter().map(|s| s.size_bytes()).sum::<u64>();
                let mut total: u64 = st.partitions.values().map(size).sum();
                while total > max && st.partitions.len() > 1 {
                    let Some((&k, p)) = st.partitions.iter().next() else {
                        break;
                    };
                    total -= size(p);
                    tracing::info!(
                        partition = k,
                        "deleting span partition past storage.traces.retention_size"
                    );
                    st.partitions.remove(&k);
                    keys.push(k);
                }
            }
            keys
        };
        if expired.is_empty() {
            return Ok(());
        }
        for k in expired {
            let dir = recovery::partition_dir(&self.dir, k);
            tracing::info!(partition = k, "deleting span partition past retention");
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        let mut cat = Catalog::default();
        let st = self.state.read();
        for p in st.partitions.values() {
            for s in &p.segments {
                cat.merge(&s.catalog);
            }
        }
        for h in std::iter::once(&st.head).chain(st.frozen.iter().map(|h| &**h)) {
            for s in &h.spans {
                cat.add(s);
            }
        }
        *self.catalog.write() = cat;
        Ok(())
    }

    /// Merges the segments of the first partition that has `compact_at` of them.
    fn compact_one(&self) -> Result<()> {
        let job = {
            let st = self.state.read();
            st.partitions
                .iter()
                .find(|(_, p)| p.segments.len() >= self.opts.compact_at.max(2))
                .map(|(k, p)| (*k, p.segments.clone()))
        };
        let Some((start, inputs)) = job else {
            return Ok(());
        };
        let merged = recovery::compact(self, start, &inputs)?;
        {
            let mut st = self.state.write();
            if let Some(p) = st.partitions.get_mut(&start) {
                p.segments.retain(|s| !inputs.iter().any(|i| Arc::ptr_eq(i, s)));
                p.segments.push(Arc::new(merged));
            }
        }
        for s in inputs {
            std::fs::remove_file(s.path()).map_err(|e| Error::io(s.path(), e))?;
        }
        Ok(())
    }
}

/// Background loop: fsync (interval policy), flush, retention, compaction.
pub(super) fn background(weak: Weak<SpanStore>) {
    let tick = Duration::from_secs(1);
    let mut failures = crate::error::RepeatedFailure::default();
    loop {
        let Some(store) = weak.upgrade() else { return };
        {
            let mut stop = store.stop.lock();
            if *stop {
                return;
            }
            store.wake.wait_for(&mut stop, tick);
            if *stop {
                return;
            }
        }
        if store.opts.sync != SyncPolicy::Never
            && let Err(e) = store.wal.sync()
        {
            tracing::error!(error = %e, "span WAL fsync failed");
        }
        failures.record("span store maintenance", &store.maintain(crate::logs::now_ns()));
    }
}
