//! Immutable on-disk blocks: one directory per time range holding `meta.json`, `index`
//! (see [`crate::metrics::index`]) and `chunks`.
//!
//! `chunks` is a sequence of frames `[u32 crc32 LE][payload]`, payload in the dense
//! [`block_chunk`](crate::metrics::block_chunk) encoding; the index points at frames.
//! A block is written into `<id>.tmp`, every file fsynced, then renamed into place, so a crash
//! leaves either no block or a whole one. Deletion renames to `<id>.deleted` before removing,
//! and leftovers of both kinds are cleaned up at open.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::metrics::Sample;
use crate::metrics::block_chunk;
use crate::metrics::index::{ChunkMeta, IndexFile, write_index};

/// Samples per on-disk chunk at most; longer series get several chunks.
pub const BLOCK_CHUNK_MAX_SAMPLES: usize = 16_384;

/// Sample/series/chunk counts of a block.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// Samples stored.
    pub num_samples: u64,
    /// Series stored.
    pub num_series: u64,
    /// Chunks stored.
    pub num_chunks: u64,
}

/// Compaction lineage of a block.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockCompaction {
    /// 1 for blocks cut from the head, +1 per compaction.
    pub level: u32,
    /// Ids of the level-1 blocks whose data this block holds.
    pub sources: Vec<String>,
}

/// Contents of `meta.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// Unique, time-sortable block id (also the directory name).
    pub ulid: String,
    /// Inclusive lower bound of sample times (ms).
    pub min_time: i64,
    /// Exclusive upper bound of sample times (ms).
    pub max_time: i64,
    /// Counts.
    pub stats: BlockStats,
    /// Lineage.
    pub compaction: BlockCompaction,
    /// Format version.
    pub version: u32,
}

/// A new block id: a ULID (26 Crockford base32 characters: 48 bits of milliseconds since the
/// epoch, then 80 bits of entropy), as Prometheus names its blocks, so `promtool tsdb` tools
/// and humans read them alike and ids sort by creation time. The entropy mixes the clock's
/// nanoseconds, the process id, a process-wide counter and a per-process random seed.
pub fn new_block_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ms = (now.as_millis() as u64) & ((1 << 48) - 1);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(now.subsec_nanos());
    h.write_u32(std::process::id());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    h.write_u64(seq);
    let entropy_hi = h.finish() & 0xffff; // 16 bits
    let entropy_lo = (h.finish().rotate_left(17) & !0xffff) | (seq & 0xffff); // 64 bits
    let value: u128 = (u128::from(ms) << 80) | (u128::from(entropy_hi) << 64) | u128::from(entropy_lo);
    encode_ulid(value)
}

/// Crockford base32 of a 128-bit ULID value, most significant first (26 characters).
fn encode_ulid(v: u128) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    (0..26)
        .rev()
        .map(|i| ALPHABET[((v >> (i * 5)) & 0x1f) as usize] as char)
        .collect()
}

/// Writes `data` to `path` and fsyncs it.
pub fn write_file_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(data).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// Replaces `path` atomically and durably with `data`: written to `<path>.tmp`, fsynced,
/// renamed over `path`, and the directory fsynced. A crash leaves the old or the new file.
pub fn replace_file(path: &Path, data: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    write_file_synced(&tmp, data)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => Ok(()),
    }
}

/// Reads a JSON file written by [`replace_file`]; `Ok(None)` when it does not exist, a
/// corruption error naming `what` when it does not parse.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::corruption(path, 0, format!("{what}: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Fsyncs a directory so renames and creations inside it are durable.
pub fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Streams series (in label order) into a new block.
pub struct BlockWriter {
    parent: PathBuf,
    tmp: PathBuf,
    chunks: BufWriter<File>,
    chunks_path: PathBuf,
    off: u64,
    /// Labels of each series added and the end of its chunks in `metas`.
    series: Vec<(Labels, u32)>,
    /// Chunks of all series, in order.
    metas: Vec<ChunkMeta>,
    meta: BlockMeta,
    buf: Vec<u8>,
    /// Set once the block was renamed into place (or deliberately removed).
    done: bool,
}

impl Drop for BlockWriter {
    /// A writer dropped before [`finish`](Self::finish) succeeded (an I/O error such as a full
    /// disk, or an abandoned compaction) removes its `.tmp` directory, so failed attempts do not
    /// pile up and keep the disk full.
    fn drop(&mut self) {
        if !self.done
            && let Err(e) = std::fs::remove_dir_all(&self.tmp)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.tmp.display(), error = %e, "could not remove unfinished block");
        }
    }
}

impl BlockWriter {
    /// Starts a block covering `[mint, maxt)` inside `parent`.
    pub fn new(parent: &Path, mint: i64, maxt: i64, compaction: BlockCompaction) -> Result<Self> {
        let ulid = new_block_id();
        let tmp = parent.join(format!("{ulid}.tmp"));
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let chunks_path = tmp.join("chunks");
        let f = File::create(&chunks_path).map_err(|e| Error::io(&chunks_path, e))?;
        let mut compaction = compaction;
        if compaction.sources.is_empty() {
            compaction.sources.push(ulid.clone());
        }
        Ok(BlockWriter {
            parent: parent.to_owned(),
            tmp,
            chunks: BufWriter::with_capacity(1 << 20, f),
            chunks_path,
            off: 0,
            series: Vec::new(),
            metas: Vec::new(),
            meta: BlockMeta {
                ulid,
                min_time: mint,
                max_time: maxt,
                stats: BlockStats::default(),
                compaction,
                version: 1,
            },
            buf: Vec::new(),
            done: false,
        })
    }

    /// Makes room for `series` more series of one chunk each, so adding them does not grow (and
    /// briefly double) the writer's tables.
    pub fn reserve(&mut self, series: usize) {
        self.series.reserve_exact(series);
        self.metas.reserve_exact(series);
    }

    /// Adds one series. Calls must come in strictly increasing label order; `samples` sorted
    /// by time with unique timestamps. A series without samples is skipped.
    pub fn add_series(&mut self, labels: Labels, samples: &[Sample]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        if self.series.last().is_some_and(|(l, _)| *l >= labels) {
            return Err(Error::InvalidInput(format!(
                "BUG: block series out of order at {labels}"
            )));
        }
        for part in samples.chunks(BLOCK_CHUNK_MAX_SAMPLES) {
            self.buf.clear();
            self.buf.extend_from_slice(&[0; 4]);
            block_chunk::encode(part, &mut self.buf);
            let crc = crc32fast::hash(&self.buf[4..]);
            self.buf[..4].copy_from_slice(&crc.to_le_bytes());
            self.chunks
                .write_all(&self.buf)
                .map_err(|e| Error::io(&self.chunks_path, e))?;
            self.metas.push(ChunkMeta {
                mint: part[0].t,
                maxt: part[part.len() - 1].t,
                offset: self.off,
                len: self.buf.len() as u64,
            });
            self.off += self.buf.len() as u64;
            self.meta.stats.num_chunks += 1;
        }
        self.meta.stats.num_samples += samples.len() as u64;
        self.meta.stats.num_series += 1;
        let end = u32::try_from(self.metas.len())
            .map_err(|_| Error::InvalidInput("block holds more than 2^32 chunks".into()))?;
        self.series.push((labels, end));
        Ok(())
    }

    /// Writes index and meta, fsyncs and renames the block into place. Returns `None` (and
    /// leaves nothing behind) when no series was added.
    pub fn finish(mut self) -> Result<Option<BlockMeta>> {
        if self.series.is_empty() {
            self.done = true;
            std::fs::remove_dir_all(&self.tmp).map_err(|e| Error::io(&self.tmp, e))?;
            return Ok(None);
        }
        self.chunks.flush().map_err(|e| Error::io(&self.chunks_path, e))?;
        self.chunks
            .get_ref()
            .sync_all()
            .map_err(|e| Error::io(&self.chunks_path, e))?;
        let metas = &self.metas;
        let series = self.series.iter().scan(0usize, |start, (l, end)| {
            let chunks = &metas[*start..*end as usize];
            *start = *end as usize;
            Some((l, chunks))
        });
        write_index(&self.tmp.join("index"), series)?;
        let meta_json =
            serde_json::to_vec_pretty(&self.meta).map_err(|e| Error::InvalidInput(format!("BUG: meta.json: {e}")))?;
        write_file_synced(&self.tmp.join("meta.json"), &meta_json)?;
        sync_dir(&self.tmp)?;
        let dst = self.parent.join(&self.meta.ulid);
        std::fs::rename(&self.tmp, &dst).map_err(|e| Error::io(&dst, e))?;
        self.done = true;
        sync_dir(&self.parent)?;
        Ok(Some(self.meta.clone()))
    }
}

/// An open block: meta, mapped index and mapped chunks.
pub struct Block {
    /// `meta.json`.
    pub meta: BlockMeta,
    /// Block directory.
    pub dir: PathBuf,
    index: IndexFile,
    chunks: Mmap,
    /// Bytes on disk (all files).
    pub size_bytes: u64,
    /// Why a read found the block damaged (first reason); set once, then the TSDB quarantines it.
    damage: std::sync::OnceLock<String>,
}

impl Block {
    /// Opens the block in `dir`, validating meta and index.
    pub fn open(dir: &Path) -> Result<Self> {
        let mp = dir.join("meta.json");
        let raw = std::fs::read(&mp).map_err(|e| Error::io(&mp, e))?;
        let meta: BlockMeta =
            serde_json::from_slice(&raw).map_err(|e| Error::corruption(&mp, e.column() as u64, e.to_string()))?;
        let index = IndexFile::open(&dir.join("index"))?;
        let cp = dir.join("chunks");
        let f = File::open(&cp).map_err(|e| Error::io(&cp, e))?;
        // SAFETY: block files are never modified after the block is renamed into place.
        let chunks = unsafe { Mmap::map(&f) }.map_err(|e| Error::io(&cp, e))?;
        let mut size_bytes = raw.len() as u64 + chunks.len() as u64;
        size_bytes += std::fs::metadata(dir.join("index")).map(|m| m.len()).unwrap_or(0);
        Ok(Block {
            meta,
            dir: dir.to_owned(),
            index,
            chunks,
            size_bytes,
            damage: std::sync::OnceLock::new(),
        })
    }

    /// Why the block was found damaged, once a read failed its checks.
    pub fn damage(&self) -> Option<&str> {
        self.damage.get().map(String::as_str)
    }

    /// Records that a read found the block damaged (logged once, the first reason kept).
    fn mark_damaged(&self, e: &Error) {
        if self.damage.set(e.to_string()).is_ok() {
            tracing::error!(block = %self.meta.ulid, error = %e, "metrics block is damaged; it will be quarantined");
        }
    }

    /// The label index.
    pub fn index(&self) -> &IndexFile {
        &self.index
    }

    /// Decodes the chunk `m` into `out` (appending), verifying its checksum. A chunk failing
    /// its checks marks the block damaged (see [`Block::damage`]).
    pub fn read_chunk(&self, m: &ChunkMeta, out: &mut Vec<Sample>) -> Result<()> {
        let start = out.len();
        let r = self.read_chunk_unchecked(m, out);
        if let Err(e) = &r {
            out.truncate(start);
            if matches!(e, Error::Corruption { .. }) {
                self.mark_damaged(e);
            }
        }
        r
    }

    fn read_chunk_unchecked(&self, m: &ChunkMeta, out: &mut Vec<Sample>) -> Result<()> {
        let path = || self.dir.join("chunks");
        let (o, l) = (
            usize::try_from(m.offset).unwrap_or(usize::MAX),
            usize::try_from(m.len).unwrap_or(usize::MAX),
        );
        let frame = self
            .chunks
            .get(o..o.saturating_add(l))
            .filter(|f| f.len() >= 4)
            .ok_or_else(|| Error::corruption(path(), m.offset, "chunk out of bounds"))?;
        let crc = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
        if crc32fast::hash(&frame[4..]) != crc {
            return Err(Error::corruption(path(), m.offset, "chunk checksum mismatch"));
        }
        block_chunk::decode(&frame[4..], out).map_err(|e| match e {
            Error::Corruption { reason, offset, .. } => Error::corruption(path(), m.offset + offset, reason),
            other => other,
        })
    }

    /// True when the block's range intersects `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.min_time <= maxt && self.meta.max_time > mint
    }
}

/// Removes a block directory crash-safely (rename, then delete).
pub fn delete_block_dir(dir: &Path) -> Result<()> {
    let mut gone = dir.as_os_str().to_owned();
    gone.push(".deleted");
    let gone = PathBuf::from(gone);
    std::fs::rename(dir, &gone).map_err(|e| Error::io(dir, e))?;
    if let Some(p) = dir.parent() {
        sync_dir(p)?;
    }
    std::fs::remove_dir_all(&gone).map_err(|e| Error::io(&gone, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::postings::IndexReader;

    #[test]
    fn write_open_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = BlockWriter::new(
            dir.path(),
            0,
            7_200_000,
            BlockCompaction {
                level: 1,
                sources: vec![],
            },
        )
        .unwrap();
        let a = Labels::from_pairs([("__name__", "a")]).unwrap();
        let b = Labels::from_pairs([("__name__", "b")]).unwrap();
        let sa: Vec<Sample> = (0..40_000).map(|i| Sample { t: i * 15, v: i as f64 }).collect();
        w.add_series(a.clone(), &sa).unwrap();
        w.add_series(
            b.clone(),
            &[Sample {
                t: 1,
                v: crate::metrics::STALE_NAN,
            }],
        )
        .unwrap();
        assert!(w.add_series(a.clone(), &sa).is_err());
        let meta = w.finish().unwrap().unwrap();
        assert_eq!(meta.stats.num_samples, 40_001);
        let blk = Block::open(&dir.path().join(&meta.ulid)).unwrap();
        assert_eq!(meta.ulid.len(), 26, "{}", meta.ulid);
        assert!(
            meta.ulid
                .bytes()
                .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
        );
        assert_eq!(blk.index().all_postings().unwrap().len(), 2);
        let (l, chunks) = blk.index().series(0).unwrap();
        assert_eq!(l, a);
        assert_eq!(chunks.len(), 3);
        let mut out = Vec::new();
        for c in &chunks {
            blk.read_chunk(c, &mut out).unwrap();
        }
        assert_eq!(out.len(), sa.len());
        assert!(
            out.iter()
                .zip(&sa)
                .all(|(x, y)| x.t == y.t && x.v.to_bits() == y.v.to_bits())
        );
        delete_block_dir(&blk.dir).unwrap();
        assert!(!blk.dir.exists());
    }

    #[test]
    fn unfinished_writer_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let compaction = || BlockCompaction {
            level: 1,
            sources: vec![],
        };
        let mut w = BlockWriter::new(dir.path(), 0, 1000, compaction()).unwrap();
        let a = Labels::from_pairs([("__name__", "a")]).unwrap();
        w.add_series(a, &[Sample { t: 1, v: 1.0 }]).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the .tmp dir exists");
        drop(w);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "dropped writer cleaned up"
        );
        let w = BlockWriter::new(dir.path(), 0, 1000, compaction()).unwrap();
        assert_eq!(w.finish().unwrap(), None);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "empty block removed");
    }
}
