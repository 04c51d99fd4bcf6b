//! [`Tsdb`]: the head, its WAL and the blocks, plus the background work that keeps them in
//! shape (WAL fsync, cutting the head into blocks, compaction, retention).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::metrics::appender::Appender;
use crate::metrics::block::{Block, BlockCompaction, BlockWriter, delete_block_dir};
use crate::metrics::bounds::{cut_range, span_exceeds};
use crate::metrics::head::{CHUNK_SEGMENT_SIZE, ChunkFiles, Head, HeadOptions, MemSeries};
use crate::metrics::querier::Querier;
use crate::metrics::record::{self, Record};
use crate::metrics::recovery::{open_blocks, replay_into};
use crate::metrics::{Exemplar, MetricMetadata, Sample, compact};
use crate::wal::{SyncPolicy, Wal, WalOptions};

/// TSDB settings.
#[derive(Clone, Debug)]
pub struct TsdbOptions {
    /// Blocks entirely older than this (relative to the newest sample) are deleted.
    pub retention: Duration,
    /// Oldest blocks are deleted while blocks + WAL exceed this many bytes.
    pub max_bytes: Option<u64>,
    /// Range of blocks cut from the head (Prometheus: 2 h).
    pub block_duration: Duration,
    /// Samples up to this much older than a series' newest are accepted (0 = in order only).
    pub out_of_order_window: Duration,
    /// WAL segment size in bytes.
    pub wal_segment_size: u64,
    /// When the WAL is fsynced.
    pub sync: SyncPolicy,
    /// Exemplars kept per series (ring buffer).
    pub max_exemplars_per_series: usize,
    /// Most series in the head; appends creating more fail with
    /// [`Error::LimitExceeded`](crate::Error::LimitExceeded) (0 = no limit).
    pub max_series: u64,
    /// Most head series per metric name, same refusal (0 = no limit).
    pub max_series_per_metric: u64,
    /// Timestamps accepted relative to the wall clock; samples and exemplars outside are
    /// refused with [`Error::OutOfBounds`](crate::Error::OutOfBounds). Default: unbounded.
    pub bounds: crate::metrics::SampleBounds,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        TsdbOptions {
            retention: Duration::from_secs(15 * 24 * 3600),
            max_bytes: None,
            block_duration: Duration::from_secs(2 * 3600),
            out_of_order_window: Duration::ZERO,
            wal_segment_size: 128 << 20,
            sync: SyncPolicy::Interval(Duration::from_secs(1)),
            max_exemplars_per_series: 16,
            max_series: 0,
            max_series_per_metric: 0,
            bounds: crate::metrics::SampleBounds::default(),
        }
    }
}

/// Point-in-time figures for self-metrics and status pages.
#[derive(Clone, Debug, Default)]
pub struct TsdbStats {
    /// Series in the head.
    pub head_series: u64,
    /// Samples appended since start (after WAL replay).
    pub samples_appended_total: u64,
    /// Samples refused at commit (raced out of order / too old).
    pub samples_rejected_total: u64,
    /// Samples and exemplars refused for lying outside [`TsdbOptions::bounds`] since start.
    pub samples_out_of_bounds_total: u64,
    /// New series refused by `max_series` / `max_series_per_metric` since start.
    pub series_refused_total: u64,
    /// WAL bytes on disk.
    pub wal_bytes: u64,
    /// Number of blocks.
    pub blocks: u64,
    /// Bytes of all blocks.
    pub blocks_bytes: u64,
    /// Samples in blocks.
    pub blocks_samples: u64,
    /// Oldest head sample time (ms), `i64::MAX` when empty.
    pub head_min_time: i64,
    /// Newest head sample time (ms), `i64::MIN` when empty.
    pub head_max_time: i64,
    /// Head cuts and compactions done since start.
    pub compactions_total: u64,
    /// Bytes of closed head chunks written to head chunk files since start.
    pub head_chunk_file_bytes_written_total: u64,
    /// Closed head chunks kept in memory because writing them to a file failed.
    pub head_chunk_file_fallbacks_total: u64,
}

/// The metrics database. Cheap to share (`Arc`); every method is thread-safe.
pub struct Tsdb {
    dir: PathBuf,
    pub(crate) blocks_dir: PathBuf,
    opts: TsdbOptions,
    pub(crate) head: Arc<Head>,
    pub(crate) wal: Wal,
    pub(crate) blocks: RwLock<Vec<Arc<Block>>>,
    pub(crate) metadata: RwLock<HashMap<String, MetricMetadata>>,
    /// Commits hold it shared; a head cut holds it exclusively while moving the valid range.
    pub(crate) gate: RwLock<()>,
    pub(crate) maint: Mutex<()>,
    stop: Mutex<bool>,
    wake: Condvar,
    bg: Mutex<Option<std::thread::JoinHandle<()>>>,
    closed: AtomicBool,
    rejected: AtomicU64,
    /// Samples and exemplars refused by `opts.bounds`.
    pub(crate) out_of_bounds: AtomicU64,
    /// Wall-clock ms of the last out-of-bounds log line (they are logged at most every 10 s).
    pub(crate) out_of_bounds_logged: std::sync::atomic::AtomicI64,
    compactions: AtomicU64,
    /// Deletions applied when reading (see `tombstones`).
    pub(crate) tombstones: RwLock<Arc<Vec<crate::metrics::tombstones::Tombstone>>>,
    /// Sees every committed batch (forwarding), once set.
    pub(crate) observer: std::sync::OnceLock<Arc<dyn crate::metrics::CommitObserver>>,
    /// Blocks quarantined after a read found them damaged (see `damage`).
    pub(crate) damaged: Mutex<Vec<crate::metrics::damage::Quarantined>>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Tsdb {
    /// Opens (or creates) the database in `dir`: cleans up interrupted block writes and
    /// deletions, opens blocks, replays the WAL (a torn tail is truncated and logged), and
    /// starts the background thread.
    pub fn open(dir: &Path, opts: TsdbOptions) -> Result<Arc<Tsdb>> {
        let blocks_dir = dir.join("blocks");
        let wal_dir = dir.join("wal");
        for d in [dir, &blocks_dir, &wal_dir] {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        let (blocks, damaged) = open_blocks(&blocks_dir)?;
        let tombstones = crate::metrics::tombstones::load(dir)?;
        let min_valid = blocks.iter().map(|b| b.meta.max_time).max().unwrap_or(i64::MIN);
        let chunk_range = ms(opts.block_duration).max(1);
        let head = Arc::new(Head::new(
            HeadOptions {
                chunk_range,
                ooo_window: ms(opts.out_of_order_window),
                max_exemplars: opts.max_exemplars_per_series,
                max_series: opts.max_series,
                max_series_per_metric: opts.max_series_per_metric,
            },
            min_valid,
            ChunkFiles::open(&dir.join("chunks_head"), CHUNK_SEGMENT_SIZE)?,
        ));
        let mut metadata = HashMap::new();
        let started = Instant::now();
        let report = replay_into(&wal_dir, &head, &mut metadata)?;
        tracing::info!(
            records = report.records,
            series = head.num_series(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "metrics WAL replayed"
        );
        let wal = Wal::open(
            &wal_dir,
            WalOptions {
                segment_size: opts.wal_segment_size,
                sync: opts.sync,
            },
        )?;
        let db = Arc::new(Tsdb {
            dir: dir.to_owned(),
            blocks_dir,
            opts,
            head,
            wal,
            blocks: RwLock::new(blocks),
            metadata: RwLock::new(metadata),
            gate: RwLock::new(()),
            maint: Mutex::new(()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            bg: Mutex::new(None),
            closed: AtomicBool::new(false),
            rejected: AtomicU64::new(0),
            out_of_bounds: AtomicU64::new(0),
            out_of_bounds_logged: std::sync::atomic::AtomicI64::new(i64::MIN),
            compactions: AtomicU64::new(0),
            observer: std::sync::OnceLock::new(),
            tombstones: RwLock::new(Arc::new(tombstones)),
            damaged: Mutex::new(damaged),
        });
        let weak = Arc::downgrade(&db);
        let h = std::thread::Builder::new()
            .name("tsdb-maint".into())
            .spawn(move || background(weak))
            .map_err(|e| Error::io(dir, e))?;
        *db.bg.lock() = Some(h);
        Ok(db)
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts a write batch.
    pub fn appender(&self) -> Appender<'_> {
        Appender::new(self)
    }

    /// A reader over `[mint_ms, maxt_ms]`.
    pub fn querier(&self, mint_ms: i64, maxt_ms: i64) -> Result<Querier> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.quarantine_damaged();
        let blocks = self
            .blocks
            .read()
            .iter()
            .filter(|b| b.overlaps(mint_ms, maxt_ms))
            .cloned()
            .collect();
        Ok(Querier {
            head: self.head.clone(),
            blocks,
            mint: mint_ms,
            maxt: maxt_ms,
            tombstones: self.tombstones.read().clone(),
        })
    }

    /// Metadata of every metric family seen, sorted by family name.
    pub fn metadata(&self) -> Vec<(String, MetricMetadata)> {
        let mut v: Vec<_> = self
            .metadata
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Exemplars in `[mint, maxt]` of head series matching `matchers`, sorted by series.
    pub fn exemplars(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<(Labels, Vec<Exemplar>)>> {
        let mut out = Vec::new();
        for id in self.head.select_ids(matchers)? {
            let Some(s) = self.head.by_id(id) else { continue };
            let ex: Vec<Exemplar> = s
                .data
                .lock()
                .exemplars
                .iter()
                .filter(|e| e.t >= mint && e.t <= maxt)
                .cloned()
                .collect();
            if !ex.is_empty() {
                out.push((s.labels.clone(), ex));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Installs the observer that sees every committed batch from now on; only the first call
    /// has an effect (returns false otherwise).
    pub fn set_commit_observer(&self, observer: Arc<dyn crate::metrics::CommitObserver>) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// Current figures.
    pub fn stats(&self) -> TsdbStats {
        let blocks = self.blocks.read();
        TsdbStats {
            head_series: self.head.num_series(),
            samples_appended_total: self.head.samples_appended.load(Ordering::Relaxed),
            samples_rejected_total: self.rejected.load(Ordering::Relaxed),
            samples_out_of_bounds_total: self.out_of_bounds.load(Ordering::Relaxed),
            series_refused_total: self.head.series_refused.load(Ordering::Relaxed),
            wal_bytes: self.wal.size_bytes(),
            blocks: blocks.len() as u64,
            blocks_bytes: blocks.iter().map(|b| b.size_bytes).sum(),
            blocks_samples: blocks.iter().map(|b| b.meta.stats.num_samples).sum(),
            head_min_time: self.head.min_time.load(Ordering::Relaxed),
            head_max_time: self.head.max_time.load(Ordering::Relaxed),
            compactions_total: self.compactions.load(Ordering::Relaxed),
            head_chunk_file_bytes_written_total: self.head.chunk_files.bytes_written(),
            head_chunk_file_fallbacks_total: self.head.chunk_files.fallbacks(),
        }
    }

    /// The head's cardinality figures (`/api/v1/status/tsdb`), each top list cut to `limit`.
    pub fn head_cardinality(&self, limit: usize) -> crate::metrics::head::HeadCardinality {
        self.head.cardinality(limit)
    }

    /// Applies committed samples (already in the WAL) to the head; returns the first refusal.
    pub(crate) fn apply_samples<'s>(&self, it: impl Iterator<Item = (&'s Arc<MemSeries>, Sample)>) -> Result<()> {
        let (window, range) = (self.head.opts.ooo_window, self.head.opts.chunk_range);
        let mut first_err = None;
        let mut n = 0u64;
        for (s, x) in it {
            match s.data.lock().apply(x, window, range, &s.labels, &self.head.chunk_files) {
                Ok(_) => {
                    self.head.observe_time(x.t);
                    n += 1;
                }
                Err(e) => {
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                    first_err.get_or_insert(e);
                }
            }
        }
        self.head.samples_appended.fetch_add(n, Ordering::Relaxed);
        first_err.map_or(Ok(()), Err)
    }

    /// Cuts every complete block range out of the head, compacts and applies retention.
    /// Runs in the background every second; public so tests and admin calls can force it.
    pub fn maintain(&self) -> Result<()> {
        let _g = self.maint.lock();
        while self.cut_head_once(false)? {}
        // A compaction that met a damaged input marked it; take it out before trying again.
        self.quarantine_damaged();
        self.compact_all()?;
        self.apply_retention()
    }

    /// Cuts the head's oldest block range into a block when the head spans more than 1.5
    /// ranges (or, with `force`, whenever it holds any complete range older than its newest).
    fn cut_head_once(&self, force: bool) -> Result<bool> {
        let (hmin, hmax) = (
            self.head.min_time.load(Ordering::Acquire),
            self.head.max_time.load(Ordering::Acquire),
        );
        if hmin == i64::MAX || hmax < hmin {
            return Ok(false);
        }
        let r = self.head.opts.chunk_range;
        let (a, b) = cut_range(hmin, r);
        let due = if force {
            b <= hmax
        } else {
            span_exceeds(hmin, hmax, r / 2 * 3) && b <= hmax
        };
        if !due {
            return Ok(false);
        }
        let (a, b) = {
            // No commit is in flight while the valid range moves: commits that started
            // earlier are applied (and so land in the block), later ones see the new bound.
            let _w = self.gate.write();
            // `min_time` only falls between cuts; after a truncation it may lie far below
            // the oldest sample left. Start at the data, so a gap of any length costs one
            // cut rather than one per empty range.
            let Some(oldest) = self.head.oldest_sample() else {
                return Ok(false);
            };
            if oldest > hmin {
                self.head.min_time.store(oldest, Ordering::Release);
                let (a, b) = cut_range(oldest, r);
                let due = if force {
                    b <= hmax
                } else {
                    span_exceeds(oldest, hmax, r / 2 * 3) && b <= hmax
                };
                if !due {
                    return Ok(false);
                }
                self.head.min_valid_time.fetch_max(b, Ordering::AcqRel);
                (a, b)
            } else {
                self.head.min_valid_time.fetch_max(b, Ordering::AcqRel);
                (a, b)
            }
        };
        let mut w = BlockWriter::new(
            &self.blocks_dir,
            a,
            b,
            BlockCompaction {
                level: 1,
                sources: vec![],
            },
        )?;
        let mut buf = Vec::new();
        let all = self.head.all_series();
        w.reserve(all.len());
        for s in all {
            buf.clear();
            s.data.lock().samples_in(a, b - 1, &mut buf);
            w.add_series(s.labels.clone(), &buf)?;
        }
        if let Some(meta) = w.finish()? {
            let blk = Arc::new(Block::open(&self.blocks_dir.join(&meta.ulid))?);
            tracing::info!(block = %meta.ulid, mint = a, maxt = b, series = meta.stats.num_series, samples = meta.stats.num_samples, "head cut into block");
            let mut bl = self.blocks.write();
            bl.push(blk);
            bl.sort_by_key(|b| (b.meta.min_time, b.meta.max_time));
        }
        let removed = self.head.truncate(b);
        self.compactions.fetch_add(1, Ordering::Relaxed);
        self.checkpoint_wal(b)?;
        tracing::debug!(removed, "head truncated");
        Ok(true)
    }

    /// Moves all but the newest WAL segment into a checkpoint that keeps only what the head
    /// still holds (live series, samples at or after `min_t`, current metadata).
    fn checkpoint_wal(&self, min_t: i64) -> Result<()> {
        let cur = self.wal.cut_segment()?;
        if cur == 0 {
            return Ok(());
        }
        let head = &self.head;
        let md_snapshot: Vec<(String, MetricMetadata)> = self.metadata();
        let mut md_done = false;
        let alive = |id: u32| head.by_id(id).is_some();
        self.wal.checkpoint(cur - 1, |raw| {
            let mut out = Vec::new();
            match record::decode(raw) {
                Ok(Record::Series(v)) => {
                    let keep: Vec<(u32, &Labels)> = v
                        .iter()
                        .filter(|(id, l)| head.by_id(*id).is_some_and(|s| s.labels == *l))
                        .map(|(id, l)| (*id, l))
                        .collect();
                    if keep.is_empty() {
                        return None;
                    }
                    record::encode_series(&mut out, &keep);
                }
                Ok(Record::Samples(v)) => {
                    let keep: Vec<(u32, Sample)> = v.into_iter().filter(|(id, s)| s.t >= min_t && alive(*id)).collect();
                    if keep.is_empty() {
                        return None;
                    }
                    record::encode_samples(&mut out, &keep);
                }
                Ok(Record::Exemplars(v)) => {
                    let keep: Vec<(u32, &Exemplar)> = v
                        .iter()
                        .filter(|(id, e)| e.t >= min_t && alive(*id))
                        .map(|(id, e)| (*id, e))
                        .collect();
                    if keep.is_empty() {
                        return None;
                    }
                    record::encode_exemplars(&mut out, &keep);
                }
                Ok(Record::Metadata(_)) => {
                    if md_done || md_snapshot.is_empty() {
                        return None;
                    }
                    md_done = true;
                    let list: Vec<(&str, &MetricMetadata)> = md_snapshot.iter().map(|(f, m)| (f.as_str(), m)).collect();
                    record::encode_metadata(&mut out, &list);
                }
                Err(_) => return None,
            }
            Some(out)
        })?;
        Ok(())
    }

    fn compact_all(&self) -> Result<()> {
        let max_range = (ms(self.opts.retention) / 10).clamp(self.head.opts.chunk_range, 31 * 24 * 3_600_000);
        let ranges = compact::ranges(self.head.opts.chunk_range, max_range);
        loop {
            let blocks: Vec<Arc<Block>> = self.blocks.read().clone();
            let metas: Vec<_> = blocks.iter().map(|b| &b.meta).collect();
            let sealed = self.head.min_valid_time.load(Ordering::Acquire);
            let Some(pick) = compact::plan(&metas, &ranges, sealed) else {
                return Ok(());
            };
            let inputs: Vec<Arc<Block>> = pick.iter().map(|&i| blocks[i].clone()).collect();
            let started = Instant::now();
            let meta = compact::merge(&self.blocks_dir, &inputs)?;
            let mut bl = self.blocks.write();
            bl.retain(|b| !inputs.iter().any(|x| Arc::ptr_eq(x, b)));
            if let Some(m) = &meta {
                bl.push(Arc::new(Block::open(&self.blocks_dir.join(&m.ulid))?));
                bl.sort_by_key(|b| (b.meta.min_time, b.meta.max_time));
            }
            drop(bl);
            for b in &inputs {
                delete_block_dir(&b.dir)?;
            }
            self.compactions.fetch_add(1, Ordering::Relaxed);
            tracing::info!(inputs = inputs.len(), elapsed_ms = started.elapsed().as_millis() as u64, block = ?meta.map(|m| m.ulid), "blocks compacted");
        }
    }

    fn apply_retention(&self) -> Result<()> {
        let newest = {
            let bl = self.blocks.read();
            bl.iter()
                .map(|b| b.meta.max_time)
                .max()
                .unwrap_or(i64::MIN)
                .max(self.head.max_time.load(Ordering::Acquire))
        };
        let cutoff = newest.saturating_sub(ms(self.opts.retention));
        let mut doomed: Vec<Arc<Block>> = Vec::new();
        {
            let mut bl = self.blocks.write();
            bl.retain(|b| {
                let keep = b.meta.max_time > cutoff;
                if !keep {
                    doomed.push(b.clone());
                }
                keep
            });
            if let Some(max) = self.opts.max_bytes {
                let wal = self.wal.size_bytes();
                while !bl.is_empty() && bl.iter().map(|b| b.size_bytes).sum::<u64>() + wal > max {
                    doomed.push(bl.remove(0));
                }
            }
        }
        for b in doomed {
            tracing::info!(block = %b.meta.ulid, maxt = b.meta.max_time, "block deleted by retention");
            delete_block_dir(&b.dir)?;
        }
        Ok(())
    }

    /// Cuts every complete range of the head into blocks now, regardless of the 1.5× rule.
    /// For tests and the admin API.
    pub fn flush_head(&self) -> Result<()> {
        let _g = self.maint.lock();
        while self.cut_head_once(true)? {}
        Ok(())
    }

    /// Merges blocks now if the compaction planner finds work. For tests and the admin API.
    pub fn compact_now(&self) -> Result<()> {
        let _g = self.maint.lock();
        self.compact_all()
    }

    /// Fsyncs the WAL and stops the background thread. Further writes are refused.
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
        self.wal.close()
    }

    /// The bounds the appender enforces (see [`TsdbOptions::bounds`]).
    pub(crate) fn bounds(&self) -> crate::metrics::SampleBounds {
        self.opts.bounds
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl Drop for Tsdb {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing TSDB");
        }
    }
}

fn background(db: Weak<Tsdb>) {
    let mut last_sync = Instant::now();
    let mut failures = crate::error::RepeatedFailure::default();
    loop {
        let Some(db) = db.upgrade() else { return };
        {
            let mut stop = db.stop.lock();
            if *stop {
                return;
            }
            db.wake.wait_for(&mut stop, Duration::from_secs(1));
            if *stop {
                return;
            }
        }
        if let SyncPolicy::Interval(every) = db.opts.sync
            && last_sync.elapsed() >= every
        {
            if let Err(e) = db.wal.sync() {
                tracing::error!(error = %e, "WAL fsync failed");
            }
            last_sync = Instant::now();
        }
        failures.record("TSDB maintenance", &db.maintain());
    }
}
