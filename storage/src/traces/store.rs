//! [`SpanStore`]: append, trace lookup, scans, catalog, flush, retention.

use std::collections::{BTreeMap, HashSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use super::codec;
use super::head::Head;
use super::model::{AttrValue, Span, SpanKind, TraceId};
use super::recovery;
use super::segment::{Catalog, Segment};
use crate::error::{Error, Result};
use crate::wal::{SyncPolicy, Wal, WalOptions};

/// How a [`SpanStore`] behaves.
#[derive(Clone, Debug)]
pub struct SpanStoreOptions {
    /// Spans starting before now minus this are refused; partitions ending before it are
    /// deleted (7 d).
    pub retention: Duration,
    /// Most bytes of segment files kept: past it the oldest partitions are deleted, the
    /// newest one never (`None`: no size limit).
    pub retention_bytes: Option<u64>,
    /// Time span of one partition (1 d).
    pub partition: Duration,
    /// Spans starting further than this in the future are refused (1 d).
    pub future_grace: Duration,
    /// The head is flushed into a segment once it holds this many bytes (64 MiB)…
    pub head_max_bytes: usize,
    /// …or once its oldest span arrived this long ago (5 min).
    pub head_max_age: Duration,
    /// Spans per compressed block (2048).
    pub block_spans: usize,
    /// Most spans of one trace held unflushed (head); more are refused (0 = no limit).
    /// Default 50000.
    pub max_spans_per_trace: usize,
    /// zstd level of flushed segments (3); compaction uses `compaction_level`.
    pub flush_level: i32,
    /// zstd level of compacted segments (9).
    pub compaction_level: i32,
    /// A partition with this many segments is compacted into one (8).
    pub compact_at: usize,
    /// WAL fsync policy.
    pub sync: SyncPolicy,
    /// WAL segment size in bytes (64 MiB).
    pub wal_segment_size: u64,
    /// Run the background flush/retention thread (tests call [`SpanStore::maintain`]).
    pub background: bool,
}

impl Default for SpanStoreOptions {
    fn default() -> Self {
        SpanStoreOptions {
            retention: Duration::from_secs(7 * 86_400),
            retention_bytes: None,
            partition: Duration::from_secs(86_400),
            future_grace: Duration::from_secs(86_400),
            head_max_bytes: 64 << 20,
            head_max_age: Duration::from_secs(300),
            block_spans: 2048,
            max_spans_per_trace: 50_000,
            flush_level: 3,
            compaction_level: 9,
            compact_at: 8,
            sync: SyncPolicy::default(),
            wal_segment_size: 64 << 20,
            background: true,
        }
    }
}

/// What [`SpanStore::append`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Spans stored.
    pub accepted: usize,
    /// Spans refused.
    pub rejected: usize,
    /// Why (the first few reasons).
    pub errors: Vec<String>,
}

/// Blocks a scan may skip: a block is read only if it can hold a span of `service` lasting
/// at least `min_duration_ns`. The caller still checks every span it is given.
#[derive(Clone, Debug, Default)]
pub struct ScanHint {
    /// Only spans of this service can match.
    pub service: Option<String>,
    /// Only spans at least this long can match.
    pub min_duration_ns: u64,
}

/// Attribute keys seen, by scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttributeKeys {
    /// Resource attribute keys.
    pub resource: Vec<String>,
    /// Span attribute keys.
    pub span: Vec<String>,
}

/// Where an attribute is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrScope {
    /// Resource attributes.
    Resource,
    /// Span attributes.
    Span,
    /// Span attributes, then resource attributes.
    Any,
}

/// Counters for self-metrics and the status page.
#[derive(Clone, Debug, Default)]
pub struct SpanStats {
    /// Spans accepted since start.
    pub accepted: u64,
    /// Spans refused since start.
    pub rejected: u64,
    /// Spans in the head (not yet in segments).
    pub head_spans: u64,
    /// Spans in segments.
    pub segment_spans: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of segment files.
    pub segment_bytes: u64,
    /// Bytes of the WAL.
    pub wal_bytes: u64,
}

/// One time partition: the segments whose spans start in `[start, start + partition)`.
#[derive(Debug, Default)]
pub(super) struct Partition {
    pub(super) segments: Vec<Arc<Segment>>,
    /// Highest WAL sequence number flushed into this partition.
    pub(super) max_seq: u64,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) head: Head,
    /// Heads being written to segments; still visible to readers.
    pub(super) frozen: Vec<Arc<Head>>,
    pub(super) partitions: BTreeMap<u64, Partition>,
}

/// The span store. See the module documentation of [`crate::traces`].
pub struct SpanStore {
    pub(super) dir: PathBuf,
    pub(super) opts: SpanStoreOptions,
    pub(super) wal: Wal,
    /// Serializes WAL appends with head insertion; holds the last sequence number.
    pub(super) write: Mutex<u64>,
    pub(super) state: RwLock<State>,
    pub(super) catalog: RwLock<Catalog>,
    /// One flush/compaction/retention pass at a time.
    pub(super) maint: Mutex<()>,
    pub(super) next_segment: AtomicU64,
    pub(super) stop: Mutex<bool>,
    pub(super) wake: Condvar,
    pub(super) bg: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(super) closed: AtomicBool,
    pub(super) accepted: AtomicU64,
    pub(super) rejected: AtomicU64,
    /// Accepted deletions, applied while reading.
    pub(super) deletes: super::deletes::Deletes,
    /// Segments quarantined after a read found them damaged (see `damage`).
    pub(super) damaged: Mutex<Vec<super::damage::Quarantined>>,
}

impl std::fmt::Debug for SpanStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanStore").field("dir", &self.dir).finish()
    }
}

impl SpanStore {
    /// Opens (or creates) the store in `dir`: opens the segments, replays the WAL (spans
    /// already flushed are skipped, a torn tail is truncated and logged) and starts the
    /// background thread when `opts.background`.
    pub fn open(dir: &Path, opts: SpanStoreOptions) -> Result<Arc<SpanStore>> {
        let wal_dir = dir.join("wal");
        let parts_dir = dir.join("partitions");
        for d in [dir, &wal_dir, &parts_dir] {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        let (partitions, next_segment, damaged) = recovery::open_partitions(&parts_dir)?;
        let mut catalog = Catalog::default();
        for p in partitions.values() {
            for s in &p.segments {
                catalog.merge(&s.catalog);
            }
        }
        let mut state = State {
            partitions,
            ..Default::default()
        };
        let last_seq = recovery::replay(&wal_dir, &opts, &mut state, &mut catalog)?;
        let wal = Wal::open(
            &wal_dir,
            WalOptions {
                segment_size: opts.wal_segment_size.max(64),
                sync: opts.sync,
            },
        )?;
        let store = Arc::new(SpanStore {
            dir: dir.to_owned(),
            opts,
            wal,
            write: Mutex::new(last_seq),
            state: RwLock::new(state),
            catalog: RwLock::new(catalog),
            maint: Mutex::new(()),
            next_segment: AtomicU64::new(next_segment),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            bg: Mutex::new(None),
            closed: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            deletes: super::deletes::Deletes::open(dir)?,
            rejected: AtomicU64::new(0),
            damaged: Mutex::new(damaged),
        });
        if store.opts.background {
            let weak = Arc::downgrade(&store);
            let h = std::thread::Builder::new()
                .name("traces-maint".into())
                .spawn(move || super::maintain::background(weak))
                .map_err(|e| Error::io(dir, e))?;
            *store.bg.lock() = Some(h);
        }
        Ok(store)
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Validates and stores `spans`; `now_ns` is the wall clock for the retention and future
    /// checks. Accepted spans are in the WAL when this returns `Ok`. A span with an all-zero
    /// trace or span id, or starting outside `[now - retention, now + future_grace]`, is
    /// refused and counted in the outcome; an end before the start is set to the start.
    /// [`Error::Overloaded`] when unflushed spans exceed twice the head budget.
    pub fn append(&self, spans: Vec<Span>, now_ns: i64) -> Result<AppendOutcome> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let now = now_ns.max(0) as u64;
        let min = now.saturating_sub(self.opts.retention.as_nanos() as u64);
        let max = now.saturating_add(self.opts.future_grace.as_nanos() as u64);
        let mut out = AppendOutcome::default();
        let mut keep = Vec::with_capacity(spans.len());
        for mut s in spans {
            let reason = if s.trace_id == [0; 16] || s.span_id == [0; 8] {
                Some("span with an all-zero trace or span id".to_owned())
            } else if s.start_ns < min {
                Some(format!(
                    "span starts at {} ns, before the retention limit {min}",
                    s.start_ns
                ))
            } else if s.start_ns > max {
                Some(format!(
                    "span starts at {} ns, more than {:?} in the future",
                    s.start_ns, self.opts.future_grace
                ))
            } else {
                None
            };
            match reason {
                Some(r) => {
                    out.rejected += 1;
                    if out.errors.len() < 3 {
                        out.errors.push(r);
                    }
                }
                None => {
                    s.end_ns = s.end_ns.max(s.start_ns);
                    keep.push(s);
                }
            }
        }
        self.limit_spans_per_trace(&mut keep, &mut out);
        self.rejected.fetch_add(out.rejected as u64, Ordering::Relaxed);
        if keep.is_empty() {
            return Ok(out);
        }
        {
            let st = self.state.read();
            let pending = st.head.bytes + st.frozen.iter().map(|h| h.bytes).sum::<usize>();
            if pending > self.opts.head_max_bytes.saturating_mul(2) {
                drop(st);
                self.wake.notify_all();
                return Err(Error::Overloaded(format!(
                    "{pending} bytes of spans wait to be written to disk; retry later"
                )));
            }
        }
        let mut record = Vec::with_capacity(keep.len() * 64);
        record.extend_from_slice(&[0u8; 8]);
        record.extend_from_slice(&codec::encode(&keep));
        out.accepted = keep.len();
        {
            let mut seq = self.write.lock();
            let next = *seq + 1;
            record[..8].copy_from_slice(&next.to_le_bytes());
            self.wal.log(&[&record])?;
            *seq = next;
            self.catalog.write().add_all(&keep);
            self.state.write().head.add(keep, next);
        }
        self.accepted.fetch_add(out.accepted as u64, Ordering::Relaxed);
        Ok(out)
    }

    /// Refuses the spans of traces that would hold more than `max_spans_per_trace` spans in the
    /// head (counting what the head already holds), keeping the first ones.
    fn limit_spans_per_trace(&self, keep: &mut Vec<Span>, out: &mut AppendOutcome) {
        let max = self.opts.max_spans_per_trace;
        if max == 0 || keep.is_empty() {
            return;
        }
        let st = self.state.read();
        let mut counts: std::collections::HashMap<TraceId, usize> = std::collections::HashMap::new();
        keep.retain(|s| {
            let c = counts.entry(s.trace_id).or_insert_with(|| {
                std::iter::once(&st.head)
                    .chain(st.frozen.iter().map(|h| &**h))
                    .map(|h| h.trace(&s.trace_id).count())
                    .sum()
            });
            if *c >= max {
                out.rejected += 1;
                if out.errors.len() < 3 {
                    out.errors.push(format!(
                        "trace {} has more than {max} spans (limits.traces_max_spans_per_trace)",
                        crate::traces::model::hex(&s.trace_id)
                    ));
                }
                return false;
            }
            *c += 1;
            true
        });
    }

    /// The spans of `trace` starting in `[start_ns, end_ns]`, sorted by start, duplicates
    /// (same span id and start) removed. Empty when the trace is unknown.
    pub fn trace(&self, trace: &TraceId, start_ns: u64, end_ns: u64) -> Result<Vec<Span>> {
        let mut out: Vec<Span> = Vec::new();
        let segments = {
            let st = self.state.read();
            for h in std::iter::once(&st.head).chain(st.frozen.iter().map(|h| &**h)) {
                out.extend(
                    h.trace(trace)
                        .filter(|s| (start_ns..=end_ns).contains(&s.start_ns))
                        .map(|s| (**s).clone()),
                );
            }
            self.segments_in(&st, start_ns, end_ns)
        };
        for seg in segments {
            for b in seg.blocks_of(trace) {
                let meta = &seg.blocks[b as usize];
                if meta.max_end < start_ns || meta.min_start > end_ns {
                    continue;
                }
                for s in seg.read_block_or_skip(b as usize)? {
                    if s.trace_id == *trace && (start_ns..=end_ns).contains(&s.start_ns) {
                        out.push(s);
                    }
                }
            }
        }
        out.sort_by_key(|s| (s.start_ns, s.span_id));
        out.dedup_by(|a, b| a.span_id == b.span_id && a.start_ns == b.start_ns);
        let deleted = self.deletes.filter();
        out.retain(|s| !deleted(s));
        Ok(out)
    }

    /// Segments of partitions that can hold spans starting in `[start_ns, end_ns]`.
    fn segments_in(&self, st: &State, start_ns: u64, end_ns: u64) -> Vec<Arc<Segment>> {
        let width = self.opts.partition.as_nanos() as u64;
        let lo = start_ns.saturating_sub(width.saturating_sub(1));
        st.partitions
            .range(lo..=end_ns)
            .flat_map(|(_, p)| p.segments.iter().cloned())
            .collect()
    }

    /// Visits every stored span overlapping `[start_ns, end_ns]`, in no particular order, until
    /// `visit` breaks. `hint` lets the store skip blocks that cannot match.
    pub fn scan(
        &self,
        start_ns: u64,
        end_ns: u64,
        hint: &ScanHint,
        visit: &mut dyn FnMut(&Span) -> ControlFlow<()>,
    ) -> Result<()> {
        let overlaps = |s: &Span| s.start_ns <= end_ns && s.end_ns >= start_ns;
        let deleted = self.deletes.filter();
        let wanted = |s: &Span| {
            overlaps(s)
                && !deleted(s)
                && s.duration_ns() >= hint.min_duration_ns
                && hint.service.as_deref().is_none_or(|svc| s.service_name() == svc)
        };
        let (head, segments) = {
            let st = self.state.read();
            let head: Vec<Arc<Span>> = std::iter::once(&st.head)
                .chain(st.frozen.iter().map(|h| &**h))
                .flat_map(|h| h.spans.iter())
                .filter(|s| wanted(s))
                .cloned()
                .collect();
            // A span overlapping the range may have started up to a partition earlier… or
            // earlier still for very long spans; partitions are pruned by block bounds below.
            let segments: Vec<Arc<Segment>> = st
                .partitions
                .range(..=end_ns)
                .flat_map(|(_, p)| p.segments.iter().cloned())
                .collect();
            (head, segments)
        };
        for s in &head {
            if visit(s).is_break() {
                return Ok(());
            }
        }
        for seg in segments {
            let svc = hint
                .service
                .as_deref()
                .map(|name| seg.services.iter().position(|s| s == name).map(|i| i as u32));
            if svc == Some(None) {
                continue;
            }
            for (i, b) in seg.blocks.iter().enumerate() {
                if b.min_start > end_ns || b.max_end < start_ns || b.max_duration < hint.min_duration_ns {
                    continue;
                }
                if let Some(Some(id)) = svc
                    && !b.services.contains(&id)
                {
                    continue;
                }
                for s in seg.read_block_or_skip(i)? {
                    if wanted(&s) && visit(&s).is_break() {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Service names seen (sorted).
    pub fn services(&self) -> Vec<String> {
        self.catalog.read().services.iter().cloned().collect()
    }

    /// Operations (span name and kind) of `service`, sorted by name.
    pub fn operations(&self, service: &str) -> Vec<(String, SpanKind)> {
        self.catalog
            .read()
            .operations
            .get(service)
            .map(|ops| ops.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Distinct span names over all services (sorted).
    pub fn span_names(&self) -> Vec<String> {
        let cat = self.catalog.read();
        let mut names: Vec<String> = cat.operations.values().flatten().map(|(n, _)| n.clone()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Attribute keys seen.
    pub fn attribute_keys(&self) -> AttributeKeys {
        let cat = self.catalog.read();
        AttributeKeys {
            resource: cat.resource_keys.iter().cloned().collect(),
            span: cat.span_keys.iter().cloned().collect(),
        }
    }

    /// Up to `limit` distinct values of attribute `key` among spans overlapping
    /// `[start_ns, end_ns]` (a scan; keep the range short).
    pub fn attribute_values(
        &self,
        scope: AttrScope,
        key: &str,
        start_ns: u64,
        end_ns: u64,
        limit: usize,
    ) -> Result<Vec<AttrValue>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        self.scan(start_ns, end_ns, &ScanHint::default(), &mut |s| {
            let span = || super::model::find_attr(&s.attributes, key);
            let res = || super::model::find_attr(&s.resource.attributes, key);
            let v = match scope {
                AttrScope::Span => span(),
                AttrScope::Resource => res(),
                AttrScope::Any => span().or_else(res),
            };
            if let Some(v) = v
                && seen.insert(format!("{v:?}"))
            {
                out.push(v.clone());
            }
            if out.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(out)
    }

    /// Counters and sizes.
    pub fn stats(&self) -> SpanStats {
        let st = self.state.read();
        let segs = st.partitions.values().flat_map(|p| p.segments.iter());
        let (mut n, mut spans, mut bytes) = (0, 0, 0);
        for s in segs {
            n += 1;
            spans += s.spans;
            bytes += s.size_bytes();
        }
        SpanStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            head_spans: (st.head.spans.len() + st.frozen.iter().map(|h| h.spans.len()).sum::<usize>()) as u64,
            segment_spans: spans,
            segments: n,
            segment_bytes: bytes,
            wal_bytes: self.wal.size_bytes(),
        }
    }

    /// Fsyncs the WAL (the background thread does this every second under the default
    /// policy).
    pub fn sync(&self) -> Result<()> {
        self.wal.sync()
    }

    /// Stops the background thread, flushes the head into segments and closes the WAL. An
    /// error means the WAL could not be synced; a failed final flush is only logged.
    /// Idempotent.
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        *self.stop.lock() = true;
        self.wake.notify_all();
        if let Some(h) = self.bg.lock().take() {
            let _ = h.join();
        }
        let flushed = self.flush();
        self.wal.close()?;
        // As for logs: the WAL keeps what a failed flush did not write, until a flush succeeds.
        if let Err(e) = flushed {
            tracing::warn!(error = %e, "flushing the span head on close failed; the WAL holds its spans for the next start");
        }
        Ok(())
    }
}

impl Drop for SpanStore {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire) {
            let _ = self.wal.close();
        }
    }
}
