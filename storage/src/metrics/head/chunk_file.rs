//! Closed head chunks kept in files instead of on the heap (the role of Prometheus'
//! `chunks_head/`).
//!
//! A closed head chunk never changes, so the head does not need its bytes in anonymous memory:
//! [`ChunkFiles::store`] writes them with one positioned write into the current segment file
//! and hands back a [`ChunkBytes`] reference (segment, offset, length) that is read back with
//! positioned reads when the chunk is queried, merged or cut into a block. The bytes then live in
//! the kernel's page cache, which the kernel can write back and drop under memory pressure,
//! rather than in the process's resident heap.
//!
//! The files are a cache, not a durability mechanism: the WAL holds every acknowledged sample
//! and replay rebuilds the head. So each segment file is unlinked right after it is created and
//! lives only as long as an open descriptor: the current segment, and every [`ChunkBytes`] that
//! points into it (each holds an `Arc` of its segment). A segment's disk space is given back when
//! the last chunk in it is dropped (the head truncated past it), and a crash or restart leaves
//! nothing behind. The directory exists so the files land on the data directory's filesystem.
//!
//! When a file cannot be created or written (a full disk, for example), the chunk is kept in
//! memory instead and a warning is logged once; nothing is lost.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};

/// Default size at which a new segment file is started.
pub(crate) const SEGMENT_SIZE: u64 = 64 << 20;

/// One segment file, already unlinked: readable and writable while a descriptor is open.
pub(crate) struct Segment {
    seq: u32,
    file: File,
    /// Bytes reserved so far (writes go to disjoint reserved ranges).
    len: AtomicU64,
}

/// Where the bytes of one closed head chunk are.
#[derive(Clone)]
pub(crate) enum ChunkBytes {
    /// `len` bytes at `off` in a segment file.
    File {
        /// The segment; holding it keeps the file open.
        seg: Arc<Segment>,
        /// Offset in the segment.
        off: u32,
        /// Length in bytes.
        len: u32,
    },
    /// On the heap (no chunk directory, or the file write failed).
    Mem(Arc<[u8]>),
}

impl ChunkBytes {
    /// The chunk's bytes: borrowed when in memory, else read into `buf`.
    pub fn read<'a>(&'a self, buf: &'a mut Vec<u8>) -> Result<&'a [u8]> {
        match self {
            ChunkBytes::Mem(b) => Ok(b),
            ChunkBytes::File { seg, off, len } => {
                buf.clear();
                buf.resize(*len as usize, 0);
                seg.file
                    .read_exact_at(buf, u64::from(*off))
                    .map_err(|e| Error::io(format!("<head chunk segment {}>", seg.seq), e))?;
                Ok(buf)
            }
        }
    }

    /// Length of the chunk in bytes.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        match self {
            ChunkBytes::Mem(b) => b.len(),
            ChunkBytes::File { len, .. } => *len as usize,
        }
    }

    /// True when the bytes are held in memory rather than in a file.
    #[cfg(test)]
    pub fn in_memory(&self) -> bool {
        matches!(self, ChunkBytes::Mem(_))
    }
}

/// The writer of head chunk segment files. Thread-safe: writers reserve disjoint ranges of the
/// current segment with an atomic add and write without a lock.
pub(crate) struct ChunkFiles {
    /// `None`: every chunk stays in memory (tests, or no usable directory).
    dir: Option<PathBuf>,
    segment_size: u64,
    cur: RwLock<Option<Arc<Segment>>>,
    rotate: Mutex<()>,
    next_seq: AtomicU32,
    /// Bytes written to files since start.
    written: AtomicU64,
    /// Chunks kept in memory because a file write failed.
    fallbacks: AtomicU64,
    warned: AtomicBool,
}

impl ChunkFiles {
    /// Chunk files in `dir`, which is created, and emptied of files a previous run left; a new
    /// segment starts once one holds `segment_size` bytes.
    pub fn open(dir: &Path, segment_size: u64) -> Result<ChunkFiles> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(ChunkFiles {
            dir: Some(dir.to_owned()),
            segment_size: segment_size.max(1),
            ..ChunkFiles::in_memory()
        })
    }

    /// A store that keeps every chunk in memory.
    pub fn in_memory() -> ChunkFiles {
        ChunkFiles {
            dir: None,
            segment_size: SEGMENT_SIZE,
            cur: RwLock::new(None),
            rotate: Mutex::new(()),
            next_seq: AtomicU32::new(0),
            written: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// Bytes written to segment files since open.
    pub fn bytes_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Chunks kept in memory because writing them to a file failed.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Stores `bytes`, in a file when possible, else in memory.
    pub fn store(&self, bytes: &[u8]) -> ChunkBytes {
        if self.dir.is_none() {
            return ChunkBytes::Mem(Arc::from(bytes));
        }
        match self.write(bytes) {
            Ok(c) => c,
            Err(e) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "cannot write head chunks to disk; keeping them in memory");
                }
                ChunkBytes::Mem(Arc::from(bytes))
            }
        }
    }

    fn write(&self, bytes: &[u8]) -> Result<ChunkBytes> {
        let len = bytes.len() as u64;
        let len32 = u32::try_from(len).map_err(|_| Error::InvalidInput("head chunk over 4 GiB".into()))?;
        // Two attempts: the second runs on a fresh segment, where any chunk fits.
        for _ in 0..2 {
            let seg = self.current()?;
            let off = seg.len.fetch_add(len, Ordering::AcqRel);
            let fits = off.saturating_add(len) <= self.segment_size || off == 0;
            if fits && let Ok(off32) = u32::try_from(off) {
                seg.file
                    .write_all_at(bytes, off)
                    .map_err(|e| Error::io(format!("<head chunk segment {}>", seg.seq), e))?;
                self.written.fetch_add(len, Ordering::Relaxed);
                return Ok(ChunkBytes::File {
                    seg,
                    off: off32,
                    len: len32,
                });
            }
            self.rotate_from(&seg)?;
        }
        Err(Error::InvalidInput(
            "BUG: head chunk did not fit a fresh segment".into(),
        ))
    }

    /// The segment being written, created on first use.
    fn current(&self) -> Result<Arc<Segment>> {
        if let Some(s) = self.cur.read().as_ref() {
            return Ok(s.clone());
        }
        let _r = self.rotate.lock();
        if let Some(s) = self.cur.read().as_ref() {
            return Ok(s.clone());
        }
        let s = self.new_segment()?;
        *self.cur.write() = Some(s.clone());
        Ok(s)
    }

    /// Replaces `full` as the current segment (unless another writer already did).
    fn rotate_from(&self, full: &Arc<Segment>) -> Result<()> {
        let _r = self.rotate.lock();
        if self.cur.read().as_ref().is_some_and(|c| !Arc::ptr_eq(c, full)) {
            return Ok(());
        }
        let s = self.new_segment()?;
        *self.cur.write() = Some(s);
        Ok(())
    }

    fn new_segment(&self) -> Result<Arc<Segment>> {
        let Some(dir) = &self.dir else {
            return Err(Error::InvalidInput("BUG: no head chunk directory".into()));
        };
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{seq:08}"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // Unlinked at once: the descriptor keeps the data, and nothing outlives the process.
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Arc::new(Segment {
            seq,
            file,
            len: AtomicU64::new(0),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(&dir.path().join("chunks_head"), 100).unwrap();
        let stored: Vec<(Vec<u8>, ChunkBytes)> = (0..50u8)
            .map(|i| {
                let b: Vec<u8> = (0..(i as usize % 40 + 1)).map(|k| i ^ k as u8).collect();
                let c = files.store(&b);
                (b, c)
            })
            .collect();
        let mut buf = Vec::new();
        for (b, c) in &stored {
            assert!(!c.in_memory());
            assert_eq!(c.len(), b.len());
            assert_eq!(c.read(&mut buf).unwrap(), &b[..]);
        }
        let segs: std::collections::HashSet<u32> = stored
            .iter()
            .filter_map(|(_, c)| match c {
                ChunkBytes::File { seg, .. } => Some(seg.seq),
                ChunkBytes::Mem(_) => None,
            })
            .collect();
        assert!(segs.len() > 5, "{segs:?}");
        // Nothing is visible in the directory: the segments are unlinked.
        assert_eq!(std::fs::read_dir(dir.path().join("chunks_head")).unwrap().count(), 0);
        assert_eq!(
            files.bytes_written(),
            stored.iter().map(|(b, _)| b.len() as u64).sum::<u64>()
        );
    }

    #[test]
    fn oversized_chunk_gets_its_own_segment() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(&dir.path().join("c"), 10).unwrap();
        let big = vec![7u8; 1000];
        let c = files.store(&big);
        let mut buf = Vec::new();
        assert_eq!(c.read(&mut buf).unwrap(), &big[..]);
        assert!(!c.in_memory());
    }

    #[test]
    fn unwritable_directory_falls_back_to_memory() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(&dir.path().join("gone"), SEGMENT_SIZE).unwrap();
        std::fs::remove_dir(dir.path().join("gone")).unwrap();
        let c = files.store(b"abc");
        assert!(c.in_memory());
        assert_eq!(files.fallbacks(), 1);
        let mut buf = Vec::new();
        assert_eq!(c.read(&mut buf).unwrap(), b"abc");
    }

    #[test]
    fn open_clears_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("chunks_head");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("00000001"), b"old").unwrap();
        let _files = ChunkFiles::open(&d, SEGMENT_SIZE).unwrap();
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
    }
}
