//! A segmented, checksummed write-ahead log of opaque byte records.
//!
//! The head decides what a record holds (see `record`); the WAL only promises that a record
//! handed to [`Wal::log`] comes back from [`replay`] after a crash, bit for bit, in order.
//!
//! # On-disk invariants
//!
//! - The WAL directory holds *segments*, files named by their number as 8 zero-padded decimal
//!   digits (`00000000`, `00000001`, …). Numbers are consecutive: a gap is corruption.
//! - A segment is a sequence of records, each framed as
//!   `[u32 LE payload length][u32 LE crc32 of (length bytes ‖ payload)][payload]`. The checksum
//!   covers the length too, so a zero-filled tail (what some filesystems leave after a crash) is
//!   never mistaken for an empty record.
//! - A record never spans two segments. A batch goes into one segment unless it alone exceeds
//!   the segment size; a single record larger than a segment gets a segment of its own.
//! - A *checkpoint* `checkpoint.NNNNNNNN` is a directory holding, in the same framing (files named
//!   like segments), the records the head chose to keep from all segments `<= NNNNNNNN` and any
//!   older checkpoint. It is built in `checkpoint.NNNNNNNN.tmp`, fsynced, and renamed into place;
//!   only then are the segments `<= NNNNNNNN` and older checkpoints deleted.
//!
//! # Crash safety
//!
//! A crash at any moment leaves a replayable directory: a leftover `.tmp` directory is an
//! unfinished checkpoint and is removed by [`Wal::open`] and [`replay`]; segments `<=` the newest
//! checkpoint and older checkpoints are leftovers of an unfinished cleanup and are deleted the
//! same way. A torn tail (the unfinished last record of the last segment) is cut off and
//! reported ([`ReplayReport::truncated`]). A damaged record anywhere else does not end the log:
//! [`replay`] resynchronises at the next valid frame, replays everything after it, keeps a copy
//! of the damaged file in the store's quarantine and reports the records and bytes it skipped.
//!
//! # Usage
//!
//! Call [`replay`] first, then [`Wal::open`], which always starts a fresh segment after the last
//! one. [`Wal::log`] returns once the bytes are in the OS page cache (safe against `kill -9`);
//! [`SyncPolicy`] decides when they are fsynced (safe against power loss).

mod checkpoint;
mod resync;
mod segment;
#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use parking_lot::Mutex;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use checkpoint::CheckpointStats;
pub use segment::{ReplayReport, replay};

/// Bytes of framing before each record's payload: length and checksum.
pub const RECORD_HEADER_LEN: u64 = 8;

/// When the WAL fsyncs appended records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every [`Wal::log`] call fsyncs before returning: no loss on power failure, slow.
    Always,
    /// The caller's background thread calls [`Wal::sync`] at this period: power loss loses at
    /// most that window. The default, with 1 s.
    Interval(Duration),
    /// Never fsync (tests, benchmarks, throwaway data); `kill -9` is still safe.
    Never,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy::Interval(Duration::from_secs(1))
    }
}

/// How a [`Wal`] writes.
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// Size in bytes after which a new segment is started (default 128 MiB, at least 64).
    pub segment_size: u64,
    /// When appended records are fsynced.
    pub sync: SyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 128 << 20,
            sync: SyncPolicy::default(),
        }
    }
}

/// An open write-ahead log, appending to its newest segment.
///
/// Thread-safe: all methods take `&self`; appends are serialised by an internal mutex, and a
/// checkpoint runs without blocking appends.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    inner: Mutex<Inner>,
    /// Serialises checkpoints (which run outside `inner`).
    checkpointing: Mutex<()>,
}

#[derive(Debug)]
struct Inner {
    /// `None` once closed.
    file: Option<Arc<File>>,
    /// Number of the segment being appended to.
    current: u64,
    /// Bytes in the current segment.
    size: u64,
    /// Oldest segment still on disk.
    first: u64,
    /// Set when a failed write could not be undone: the segment tail is unknown.
    broken: bool,
    /// Reused frame buffer, so a batch is one `write` call.
    buf: Vec<u8>,
}

impl Wal {
    /// Opens the WAL in `dir` (created if missing) and starts a new segment after the last one.
    ///
    /// Run [`replay`] before: records already on disk are not read here, and a torn tail left in
    /// an older segment would make a later replay drop everything written after it.
    #[tracing::instrument(skip_all, fields(dir = %dir.display()))]
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal> {
        if opts.segment_size < 64 {
            return Err(Error::InvalidInput(format!(
                "WAL segment size {} is below 64 bytes",
                opts.segment_size
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let listing = segment::Listing::read(dir)?;
        listing.remove_leftovers()?;
        let checkpoint = listing.checkpoint().map(|(n, _)| n);
        let live: Vec<u64> = listing
            .segments
            .iter()
            .copied()
            .filter(|&s| checkpoint.is_none_or(|c| s > c))
            .collect();
        let next = live.last().copied().or(checkpoint).map_or(0, |n| n + 1);
        let first = live.first().copied().unwrap_or(next);
        let file = segment::create(dir, next, opts.sync != SyncPolicy::Never)?;
        let inner = Inner {
            file: Some(Arc::new(file)),
            current: next,
            size: 0,
            first,
            broken: false,
            buf: Vec::new(),
        };
        Ok(Wal {
            dir: dir.to_path_buf(),
            opts,
            inner: Mutex::new(inner),
            checkpointing: Mutex::new(()),
        })
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `records` in order; returns once they are in the OS (and on disk under
    /// [`SyncPolicy::Always`]).
    ///
    /// The batch is one `write` call into one segment when it fits; a new segment is cut first
    /// when the current one would overflow. A record longer than `u32::MAX` bytes is
    /// [`Error::InvalidInput`]. When a batch larger than a segment fails half-way, the records
    /// before the failure may stay logged; a failed write inside a segment is cut off again.
    pub fn log(&self, records: &[&[u8]]) -> Result<()> {
        if let Some(r) = records.iter().find(|r| u32::try_from(r.len()).is_err()) {
            return Err(Error::InvalidInput(format!(
                "WAL record of {} bytes exceeds 4 GiB",
                r.len()
            )));
        }
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        if inner.file.is_none() {
            return Err(Error::Closed);
        }
        let total: u64 = records.iter().map(|r| RECORD_HEADER_LEN + r.len() as u64).sum();
        if inner.size > 0 && inner.size + total > self.opts.segment_size {
            self.cut(inner)?;
        }
        let mut buf = std::mem::take(&mut inner.buf);
        buf.clear();
        let mut res = Ok(());
        for r in records {
            let frame = RECORD_HEADER_LEN + r.len() as u64;
            let used = inner.size + buf.len() as u64;
            if used > 0 && used + frame > self.opts.segment_size {
                // Only when the batch alone exceeds a segment: split it at record boundaries.
                res = self.write(inner, &buf).and_then(|()| self.cut(inner).map(drop));
                buf.clear();
                if res.is_err() {
                    break;
                }
            }
            segment::frame(r, &mut buf);
        }
        if res.is_ok() && !buf.is_empty() {
            res = self.write(inner, &buf);
        }
        inner.buf = buf;
        res
    }

    /// Fsyncs the current segment. Called periodically under [`SyncPolicy::Interval`]; does not
    /// block appends while the disk works.
    pub fn sync(&self) -> Result<()> {
        let (file, n) = {
            let inner = self.inner.lock();
            (inner.file.clone(), inner.current)
        };
        match file {
            Some(f) => f.sync_data().map_err(|e| Error::io(segment::path(&self.dir, n), e)),
            None => Ok(()),
        }
    }

    /// Closes the current segment (fsynced unless [`SyncPolicy::Never`]) and starts the next one,
    /// whose number is returned.
    pub fn cut_segment(&self) -> Result<u64> {
        let mut inner = self.inner.lock();
        if inner.file.is_none() {
            return Err(Error::Closed);
        }
        self.cut(&mut inner)
    }

    /// `(first, last)` segment numbers on disk; `last` is the one being appended to.
    pub fn segment_range(&self) -> (u64, u64) {
        let inner = self.inner.lock();
        (inner.first, inner.current)
    }

    /// Total bytes of segments and checkpoint on disk (0 for what cannot be read).
    pub fn size_bytes(&self) -> u64 {
        segment::Listing::read(&self.dir).map_or(0, |l| l.size_bytes())
    }

    /// Compacts segments `<= upto` (and the previous checkpoint) into checkpoint `upto`.
    ///
    /// `keep` sees every record in log order and returns what to keep (possibly rewritten), or
    /// `None` to drop it. `upto` must be at least the first segment and below the current one
    /// (see [`cut_segment`](Self::cut_segment)). Appends continue meanwhile. See the module doc
    /// for crash safety.
    pub fn checkpoint(&self, upto: u64, keep: impl FnMut(&[u8]) -> Option<Vec<u8>>) -> Result<CheckpointStats> {
        let _one_at_a_time = self.checkpointing.lock();
        let (first, current) = self.segment_range();
        if upto < first || upto >= current {
            return Err(Error::InvalidInput(format!(
                "WAL checkpoint up to segment {upto}: must be within {first}..{current}"
            )));
        }
        let stats = checkpoint::write(&self.dir, first, upto, self.opts.sync != SyncPolicy::Never, keep)?;
        self.inner.lock().first = upto + 1;
        Ok(stats)
    }

    /// Fsyncs and closes the current segment; later [`log`](Self::log) calls fail with
    /// [`Error::Closed`]. Idempotent.
    pub fn close(&self) -> Result<()> {
        let mut inner = self.inner.lock();
        match inner.file.take() {
            Some(f) => f
                .sync_all()
                .map_err(|e| Error::io(segment::path(&self.dir, inner.current), e)),
            None => Ok(()),
        }
    }

    /// Writes `bytes` at the end of the current segment; on failure tries to cut the partial
    /// write off so the segment stays replayable.
    fn write(&self, inner: &mut Inner, bytes: &[u8]) -> Result<()> {
        let n = inner.current;
        let path = || segment::path(&self.dir, n);
        if inner.broken {
            return Err(Error::io(
                path(),
                std::io::Error::other("WAL segment tail unknown after a failed write"),
            ));
        }
        let Some(file) = inner.file.as_deref() else {
            return Err(Error::Closed);
        };
        let mut f = file;
        if let Err(e) = f.write_all(bytes) {
            inner.broken = file.set_len(inner.size).is_err();
            return Err(Error::io(path(), e));
        }
        if self.opts.sync == SyncPolicy::Always {
            file.sync_data().map_err(|e| Error::io(path(), e))?;
        }
        inner.size += bytes.len() as u64;
        Ok(())
    }

    fn cut(&self, inner: &mut Inner) -> Result<u64> {
        let durable = self.opts.sync != SyncPolicy::Never;
        if durable && let Some(f) = &inner.file {
            f.sync_data()
                .map_err(|e| Error::io(segment::path(&self.dir, inner.current), e))?;
        }
        let next = inner.current + 1;
        let file = segment::create(&self.dir, next, durable)?;
        inner.file = Some(Arc::new(file));
        inner.current = next;
        inner.size = 0;
        inner.broken = false;
        Ok(next)
    }
}
