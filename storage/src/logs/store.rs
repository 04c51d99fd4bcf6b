//! [`LogStore`]: push, select, label queries, commit, retention and recovery.

use super::head::{HeadBatch, HeadEntry};
use super::partition::Partition;
use super::recovery::{dir_size, open_partitions, replay};
use super::search::{self, Plan};
use super::streams::Registry;
use super::{LogEntry, LogStream, PushOutcome, RejectReason, Rejection, record};
use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::wal::{SyncPolicy, Wal, WalOptions};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How a [`LogStore`] behaves.
#[derive(Clone, Debug)]
pub struct LogStoreOptions {
    /// Entries older than this are refused and partitions ending before it are deleted (7 d).
    pub retention: Duration,
    /// Most bytes of partition directories kept: past it the oldest partitions are deleted,
    /// the newest one never (`None`: no size limit; the WAL is not counted).
    pub retention_bytes: Option<u64>,
    /// Time span of one partition (1 d).
    pub partition: Duration,
    /// Longest time pushed entries wait in the head (answered by scanning) before they are
    /// flushed to compressed, indexed chunks (1 min).
    pub commit_interval: Duration,
    /// Heads are flushed earlier once together they hold this many bytes (64 MiB).
    pub flush_bytes: usize,
    /// An entry may be this much older than its stream's newest entry (1 h, Loki's default
    /// window for unordered writes).
    pub out_of_order_window: Duration,
    /// Entries further than this in the future are refused (10 min, Loki's creation grace).
    pub future_grace: Duration,
    /// WAL fsync policy.
    pub sync: SyncPolicy,
    /// WAL segment size in bytes.
    pub wal_segment_size: u64,
    /// Memory budget of one partition's index writer (bytes, at least 15 MB).
    pub writer_memory: usize,
    /// Run the background commit/retention thread (tests may drive [`LogStore::maintain`]).
    pub background: bool,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        LogStoreOptions {
            retention: Duration::from_secs(7 * 86_400),
            retention_bytes: None,
            partition: Duration::from_secs(86_400),
            commit_interval: Duration::from_secs(60),
            flush_bytes: 64 << 20,
            out_of_order_window: Duration::from_secs(3600),
            future_grace: Duration::from_secs(600),
            sync: SyncPolicy::default(),
            wal_segment_size: 64 << 20,
            writer_memory: 32 << 20,
            background: true,
        }
    }
}

/// Counters for self-metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Registered streams.
    pub streams: usize,
    /// Partitions on disk.
    pub partitions: usize,
    /// Entries not yet committed to an index.
    pub head_entries: usize,
    /// Entries committed to indexes.
    pub indexed_entries: u64,
    /// Entries accepted since start.
    pub accepted_entries: u64,
    /// Line bytes accepted since start.
    pub accepted_bytes: u64,
    /// Entries refused since start.
    pub rejected_entries: u64,
    /// Bytes on disk (WAL, registry and partitions).
    pub disk_bytes: u64,
}

/// Entry count and bytes of one stream over a time range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamStats {
    /// The stream.
    pub labels: Arc<Labels>,
    /// Entries.
    pub entries: u64,
    /// Line bytes.
    pub bytes: u64,
}

struct WriteState {
    /// Last WAL sequence number handed out.
    last_seq: u64,
    registry: Registry,
}

/// The log store. Thread-safe; share it in an `Arc`.
pub struct LogStore {
    dir: PathBuf,
    opts: LogStoreOptions,
    wal: Wal,
    write: Mutex<WriteState>,
    /// Immutable view of the registry's labels for readers: id → labels.
    labels: RwLock<Vec<Arc<Labels>>>,
    partitions: RwLock<BTreeMap<i64, Arc<Partition>>>,
    /// Accepted deletion requests, applied while reading.
    pub(super) deletes: super::deletes::Deletes,
    maint: Mutex<()>,
    stop: Mutex<bool>,
    wake: Condvar,
    bg: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(super) closed: AtomicBool,
    accepted: AtomicU64,
    accepted_bytes: AtomicU64,
    rejected: AtomicU64,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").field("dir", &self.dir).finish()
    }
}

/// A duration in nanoseconds, saturating.
pub(super) fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Nanoseconds since the Unix epoch now.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, ns)
}

impl LogStore {
    /// Opens (or creates) the store in `dir`: opens partitions, replays the stream registry and
    /// the WAL (entries already committed are skipped; a torn tail is truncated and logged), and
    /// starts the background thread when `opts.background`.
    pub fn open(dir: &Path, opts: LogStoreOptions) -> Result<Arc<LogStore>> {
        let wal_dir = dir.join("wal");
        let parts_dir = dir.join("partitions");
        for d in [dir, &wal_dir, &parts_dir] {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        let wal_opts = WalOptions {
            segment_size: opts.wal_segment_size.max(64),
            sync: opts.sync,
        };
        let mut registry = Registry::open(&dir.join("streams"), wal_opts.clone())?;
        let mut partitions = open_partitions(&parts_dir, &opts)?;
        let started = Instant::now();
        let (last_seq, report) = replay(&wal_dir, &parts_dir, &opts, &mut registry, &mut partitions)?;
        tracing::info!(
            records = report.records,
            streams = registry.len(),
            partitions = partitions.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "log WAL replayed"
        );
        let wal = Wal::open(&wal_dir, wal_opts)?;
        let labels = registry.all_labels();
        let store = Arc::new(LogStore {
            dir: dir.to_owned(),
            opts,
            wal,
            write: Mutex::new(WriteState { last_seq, registry }),
            labels: RwLock::new(labels),
            partitions: RwLock::new(partitions),
            deletes: super::deletes::Deletes::open(dir)?,
            maint: Mutex::new(()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            bg: Mutex::new(None),
            closed: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            accepted_bytes: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        });
        if store.opts.background {
            let weak = Arc::downgrade(&store);
            let h = std::thread::Builder::new()
                .name("logs-maint".into())
                .spawn(move || background(weak))
                .map_err(|e| Error::io(dir, e))?;
            *store.bg.lock() = Some(h);
        }
        Ok(store)
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Validates and stores `streams`; `now_ns` is the wall clock for the retention and future
    /// checks. Accepted entries are in the WAL when this returns `Ok`; refused ones are listed
    /// in the outcome. An empty label set is [`Error::InvalidInput`].
    pub fn push(&self, streams: Vec<LogStream>, now_ns: i64) -> Result<PushOutcome> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if let Some(s) = streams.iter().find(|s| s.labels.is_empty()) {
            return Err(Error::InvalidInput(format!(
                "stream with {} entries has no labels",
                s.entries.len()
            )));
        }
        let min_keep = now_ns.saturating_sub(ns(self.opts.retention));
        let max_ns = now_ns.saturating_add(ns(self.opts.future_grace));
        let window = ns(self.opts.out_of_order_window);
        let mut out = PushOutcome::default();
        let mut w = self.write.lock();
        // Decide per entry, tracking each stream's newest timestamp through the push.
        let mut keep: Vec<Vec<bool>> = Vec::with_capacity(streams.len());
        let mut newest: Vec<i64> = Vec::with_capacity(streams.len());
        for s in &streams {
            let mut top = w
                .registry
                .get(&s.labels)
                .and_then(|id| w.registry.info(id))
                .map_or(i64::MIN, |i| i.newest_ns);
            let mut flags = Vec::with_capacity(s.entries.len());
            for e in &s.entries {
                let reason = if e.ts_ns < min_keep {
                    Some(RejectReason::TooOld { min_ns: min_keep })
                } else if e.ts_ns > max_ns {
                    Some(RejectReason::TooNew { max_ns })
                } else if top != i64::MIN && e.ts_ns < top.saturating_sub(window) {
                    Some(RejectReason::TooFarBehind {
                        min_ns: top.saturating_sub(window),
                    })
                } else {
                    None
                };
                match reason {
                    Some(reason) => {
                        out.rejected.push(Rejection {
                            stream: s.labels.to_string(),
                            ts_ns: e.ts_ns,
                            reason,
                        });
                        flags.push(false);
                    }
                    None => {
                        top = top.max(e.ts_ns);
                        out.accepted += 1;
                        out.accepted_bytes += e.line.len();
                        flags.push(true);
                    }
                }
            }
            keep.push(flags);
            newest.push(top);
        }
        self.rejected.fetch_add(out.rejected.len() as u64, Ordering::Relaxed);
        if out.accepted == 0 {
            return Ok(out);
        }
        let seq = w.last_seq + 1;
        let mut buf = Vec::with_capacity(out.accepted_bytes + 64 * out.accepted);
        {
            let parts: Vec<(&Labels, Vec<&LogEntry>)> = streams
                .iter()
                .zip(&keep)
                .map(|(s, k)| {
                    (
                        &s.labels,
                        s.entries.iter().zip(k).filter(|(_, k)| **k).map(|(e, _)| e).collect(),
                    )
                })
                .filter(|(_, v): &(&Labels, Vec<&LogEntry>)| !v.is_empty())
                .collect();
            record::encode_push(&mut buf, seq, &parts);
        }
        self.wal.log(&[&buf])?;
        w.last_seq = seq;
        let mut by_part: BTreeMap<i64, Vec<HeadEntry>> = BTreeMap::new();
        let mut new_labels = Vec::new();
        for ((s, k), top) in streams.into_iter().zip(keep).zip(newest) {
            if !k.iter().any(|k| *k) {
                continue;
            }
            let before = w.registry.len();
            let id = w.registry.get_or_create(&s.labels)?;
            if w.registry.len() > before {
                new_labels.extend(w.registry.info(id).map(|i| i.labels.clone()));
            }
            if let Some(info) = w.registry.info_mut(id) {
                info.newest_ns = info.newest_ns.max(top);
            }
            for (e, k) in s.entries.into_iter().zip(k) {
                if k {
                    by_part
                        .entry(self.partition_start(e.ts_ns))
                        .or_default()
                        .push(HeadEntry { stream: id, entry: e });
                }
            }
        }
        if !new_labels.is_empty() {
            self.labels.write().extend(new_labels);
        }
        for (start, entries) in by_part {
            self.partition(start)?.add(Arc::new(HeadBatch::new(seq, entries)));
        }
        drop(w);
        self.accepted.fetch_add(out.accepted as u64, Ordering::Relaxed);
        self.accepted_bytes
            .fetch_add(out.accepted_bytes as u64, Ordering::Relaxed);
        Ok(out)
    }

    /// Registered streams (cheap, unlike [`LogStore::stats`], which walks the data directory).
    pub fn stream_count(&self) -> usize {
        self.labels.read().len()
    }

    /// Approximate heap bytes of entries pushed but not yet committed to a partition index:
    /// what ingestion may run ahead of indexing by. The HTTP layer refuses pushes (503) while
    /// this is above its limit, so memory stays bounded when pushes outpace indexing.
    pub fn head_bytes(&self) -> usize {
        self.partitions.read().values().map(|p| p.head_bytes()).sum()
    }

    /// How many of `labels` are not registered streams yet (duplicates counted once).
    pub fn count_new_streams<'a>(&self, labels: impl IntoIterator<Item = &'a Labels>) -> usize {
        let w = self.write.lock();
        let mut seen = std::collections::HashSet::new();
        labels
            .into_iter()
            .filter(|l| w.registry.get(l).is_none() && seen.insert(l.hash64()))
            .count()
    }

    fn partition_start(&self, ts_ns: i64) -> i64 {
        let span = ns(self.opts.partition).max(1);
        ts_ns.div_euclid(span) * span
    }

    /// The partition starting at `start`, created when missing.
    fn partition(&self, start: i64) -> Result<Arc<Partition>> {
        if let Some(p) = self.partitions.read().get(&start) {
            return Ok(p.clone());
        }
        let mut parts = self.partitions.write();
        if let Some(p) = parts.get(&start) {
            return Ok(p.clone());
        }
        let span = ns(self.opts.partition).max(1);
        let dir = self.dir.join("partitions").join(start.to_string());
        let p = Arc::new(Partition::open(
            &dir,
            start,
            start.saturating_add(span),
            self.opts.writer_memory,
        )?);
        parts.insert(start, p.clone());
        Ok(p)
    }

    /// Ids of the streams matching `matchers`.
    pub(super) fn matching(&self, matchers: &[Matcher]) -> (Vec<Arc<Labels>>, Vec<u64>) {
        let labels = self.labels.read().clone();
        let ids = (0..labels.len() as u64)
            .filter(|&id| {
                let l = &labels[id as usize];
                matchers.iter().all(|m| m.matches(l.get(&m.name).unwrap_or("")))
            })
            .collect();
        (labels, ids)
    }

    /// Partitions overlapping `[start_ns, end_ns)`, oldest first.
    pub(super) fn overlapping(&self, start_ns: i64, end_ns: i64) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .values()
            .filter(|p| p.start_ns < end_ns && p.end_ns > start_ns)
            .cloned()
            .collect()
    }

    /// Streams matching `matchers` with entries in partitions overlapping `[start_ns, end_ns)`.
    pub fn series(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<Arc<Labels>> {
        let (labels, ids) = self.matching(matchers);
        let parts = self.overlapping(start_ns, end_ns);
        ids.into_iter()
            .filter(|&id| parts.iter().any(|p| p.has_stream(id)))
            .map(|id| labels[id as usize].clone())
            .collect()
    }

    /// Label names of [`series`](Self::series), sorted.
    pub fn label_names(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<String> {
        let mut names = BTreeSet::new();
        for l in self.series(matchers, start_ns, end_ns) {
            for (n, _) in l.iter() {
                if !names.contains(n) {
                    names.insert(n.to_owned());
                }
            }
        }
        names.into_iter().collect()
    }

    /// Values of label `name` over [`series`](Self::series), sorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<String> {
        let mut values = BTreeSet::new();
        for l in self.series(matchers, start_ns, end_ns) {
            if let Some(v) = l.get(name)
                && !values.contains(v)
            {
                values.insert(v.to_owned());
            }
        }
        values.into_iter().collect()
    }

    /// Entries and bytes per matching stream in `[start_ns, end_ns)` (streams without entries
    /// omitted), for `index/stats` and `index/volume`.
    pub fn stream_stats(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<Vec<StreamStats>> {
        let (labels, ids) = self.matching(matchers);
        let mut acc: HashMap<u64, (u64, u64)> = HashMap::new();
        for p in self.overlapping(start_ns, end_ns) {
            let here: Vec<u64> = ids.iter().copied().filter(|&id| p.has_stream(id)).collect();
            let plan = Plan {
                streams: &here,
                start_ns: start_ns.max(p.start_ns),
                end_ns: end_ns.min(p.end_ns),
                contains: &[],
                trace_id: None,
            };
            search::stream_stats(&p, &p.snapshot(), &plan, &mut acc)?;
        }
        let mut out: Vec<StreamStats> = acc
            .into_iter()
            .filter_map(|(id, (entries, bytes))| {
                Some(StreamStats {
                    labels: labels.get(id as usize)?.clone(),
                    entries,
                    bytes,
                })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Flushes the heads to chunks once the oldest has waited `commit_interval` or together they
    /// hold `flush_bytes`, drops fully flushed WAL segments, applies retention and releases idle
    /// index writers, and verifies one partition's index checksums (each once per process).
    /// Called by the background thread about once a second.
    pub fn maintain(&self, now_ns: i64) -> Result<()> {
        let _one = self.maint.lock();
        let due = {
            let parts = self.partitions.read();
            let bytes: usize = parts.values().map(|p| p.head_bytes()).sum();
            bytes >= self.opts.flush_bytes
                || parts
                    .values()
                    .filter_map(|p| p.head_age())
                    .any(|age| age >= self.opts.commit_interval)
        };
        if due {
            self.flush_locked()?;
        }
        self.apply_retention(now_ns)?;
        let parts: Vec<_> = self.partitions.read().values().cloned().collect();
        for p in &parts {
            p.close_idle_writer(Duration::from_secs(120));
        }
        // One partition's index checksums per pass, so the check costs little at a time.
        let _ = parts.iter().any(|p| p.verify_index_once());
        Ok(())
    }

    /// Flushes every head to chunks now and drops the WAL segments that only held them.
    pub fn flush(&self) -> Result<()> {
        let _one = self.maint.lock();
        self.flush_locked()
    }

    /// [`flush`](Self::flush) with the maintenance lock held.
    fn flush_locked(&self) -> Result<()> {
        let (upto, cut) = {
            let w = self.write.lock();
            let dirty = self.partitions.read().values().any(|p| p.counts().0 > 0);
            if dirty {
                w.registry.sync()?;
                (w.last_seq, Some(self.wal.cut_segment()?))
            } else {
                (w.last_seq, None)
            }
        };
        if let Some(cut) = cut {
            let parts: Vec<Arc<Partition>> = self.partitions.read().values().cloned().collect();
            for p in &parts {
                p.commit(upto)?;
            }
            let (first, _) = self.wal.segment_range();
            if cut > first {
                self.wal.checkpoint(cut - 1, |_| None)?;
            }
        }
        Ok(())
    }

    fn apply_retention(&self, now_ns: i64) -> Result<()> {
        let cutoff = now_ns.saturating_sub(ns(self.opts.retention));
        let expired: Vec<Arc<Partition>> = {
            let mut parts = self.partitions.write();
            let keys: Vec<i64> = parts
                .values()
                .filter(|p| p.end_ns <= cutoff)
                .map(|p| p.start_ns)
                .collect();
            let mut out: Vec<Arc<Partition>> = keys.iter().filter_map(|k| parts.remove(k)).collect();
            if let Some(max) = self.opts.retention_bytes {
                let mut sizes: Vec<(i64, u64)> = parts.iter().map(|(k, p)| (*k, dir_size(p.dir()))).collect();
                let mut total: u64 = sizes.iter().map(|(_, b)| b).sum();
                sizes.reverse();
                while total > max && parts.len() > 1 {
                    let Some((k, b)) = sizes.pop() else { break };
                    total = total.saturating_sub(b);
                    if let Some(p) = parts.remove(&k) {
                        tracing::info!(dir = %p.dir().display(), "log partition past storage.logs.retention_size");
                        out.push(p);
                    }
                }
            }
            out
        };
        for p in expired {
            p.close();
            tracing::info!(dir = %p.dir().display(), "log partition past retention deleted");
            std::fs::remove_dir_all(p.dir()).map_err(|e| Error::io(p.dir(), e))?;
        }
        Ok(())
    }

    /// Current counters.
    pub fn stats(&self) -> LogStats {
        let parts = self.partitions.read();
        let (head, indexed) = parts
            .values()
            .map(|p| p.counts())
            .fold((0, 0), |a, (h, i)| (a.0 + h, a.1 + i));
        LogStats {
            streams: self.labels.read().len(),
            partitions: parts.len(),
            head_entries: head,
            indexed_entries: indexed,
            accepted_entries: self.accepted.load(Ordering::Relaxed),
            accepted_bytes: self.accepted_bytes.load(Ordering::Relaxed),
            rejected_entries: self.rejected.load(Ordering::Relaxed),
            disk_bytes: dir_size(&self.dir),
        }
    }

    /// Stops the background thread, commits everything, fsyncs and closes. Idempotent. An error
    /// means the WAL could not be synced; a failed final flush is only logged (the WAL keeps
    /// those lines).
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        *self.stop.lock() = true;
        self.wake.notify_all();
        if let Some(h) = self.bg.lock().take()
            && h.thread().id() != std::thread::current().id()
        {
            let _ = h.join();
        }
        let res = self.flush().and_then(|()| self.maintain(now_ns()));
        for p in self.partitions.read().values() {
            p.close();
        }
        self.wal.close()?;
        self.write.lock().registry.close()?;
        // The WAL is synced and keeps every line the flush did not write (it is checkpointed
        // only after a flush succeeds), so a failed flush (a full disk) loses nothing: the
        // next start replays it.
        if let Err(e) = res {
            tracing::warn!(error = %e, "flushing the log head on close failed; the WAL holds its lines for the next start");
        }
        Ok(())
    }
}

impl Drop for LogStore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing log store");
        }
    }
}

fn background(store: Weak<LogStore>) {
    let mut last_sync = Instant::now();
    let mut failures = crate::error::RepeatedFailure::default();
    loop {
        let Some(s) = store.upgrade() else { return };
        {
            let mut stop = s.stop.lock();
            if *stop {
                return;
            }
            s.wake
                .wait_for(&mut stop, s.opts.commit_interval.min(Duration::from_secs(1)));
            if *stop {
                return;
            }
        }
        if let SyncPolicy::Interval(every) = s.opts.sync
            && last_sync.elapsed() >= every
        {
            if let Err(e) = s.wal.sync() {
                tracing::error!(error = %e, "log WAL fsync failed");
            }
            last_sync = Instant::now();
        }
        failures.record("log store maintenance", &s.maintain(now_ns()));
    }
}
