//! Segment files: naming, record framing, directory listing and replay.

use super::RECORD_HEADER_LEN;
use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

/// Prefix of checkpoint directory names, followed by the 8-digit segment number.
pub(super) const CHECKPOINT_PREFIX: &str = "checkpoint.";
/// Suffix of a checkpoint directory still being written.
pub(super) const TMP_SUFFIX: &str = ".tmp";

/// What [`replay`] read and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records passed to the callback, checkpoint included.
    pub records: u64,
    /// Payload bytes of those records.
    pub bytes: u64,
    /// Segment files read (not counting the checkpoint).
    pub segments: u64,
    /// Number of the checkpoint that was read first, if any.
    pub checkpoint: Option<u64>,
    /// Segment and byte offset where a torn or corrupt record (or a gap in the segment numbers)
    /// ended the log; the segment was truncated there and later segments deleted.
    pub truncated: Option<(PathBuf, u64)>,
    /// Segments deleted because they came after `truncated`.
    pub dropped_segments: u64,
    /// File and offset of a corrupt record inside the checkpoint; the checkpoint was truncated
    /// there and replay went on with the segments.
    pub checkpoint_truncated: Option<(PathBuf, u64)>,
}

/// Reads the newest checkpoint, then every later segment in order, calling `f` per record.
///
/// A torn or corrupt tail is repaired, not reported as an error: the segment is truncated at the
/// start of the bad record, all later segments are deleted, a warning names the file and offset,
/// and [`ReplayReport::truncated`] says so. Leftovers of an interrupted checkpoint are removed.
/// A missing `dir` is an empty log. Errors from `f` and I/O errors propagate.
#[tracing::instrument(skip_all, fields(dir = %dir.display()))]
pub fn replay(dir: &Path, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<ReplayReport> {
    let mut report = ReplayReport::default();
    if !dir.exists() {
        return Ok(report);
    }
    let listing = Listing::read(dir)?;
    listing.remove_leftovers()?;
    let checkpoint = listing.checkpoint();
    if let Some((n, cdir)) = &checkpoint {
        report.checkpoint = Some(*n);
        let files = numbered_files(cdir)?;
        for (i, &file) in files.iter().enumerate() {
            if let Some(at) = read_file(&path(cdir, file), &mut f, &mut report)? {
                truncate(&at.0, at.1, &at.2)?;
                remove_files(cdir, &files[i + 1..])?;
                report.checkpoint_truncated = Some((at.0, at.1));
                break;
            }
        }
    }
    let after = checkpoint.map(|(n, _)| n);
    let live: Vec<u64> = listing
        .segments
        .iter()
        .copied()
        .filter(|&s| after.is_none_or(|c| s > c))
        .collect();
    let mut expected = after.map(|c| c + 1);
    for (i, &seg) in live.iter().enumerate() {
        let torn = if expected.is_some_and(|e| e != seg) {
            let reason = format!(
                "segment {seg} follows {:?}: segments are missing",
                expected.map(|e| e - 1)
            );
            // Nothing of this segment can be trusted after a gap: drop it whole.
            remove_files(dir, &live[i..i + 1])?;
            Some((path(dir, seg), 0, reason))
        } else {
            report.segments += 1;
            read_file(&path(dir, seg), &mut f, &mut report)?
        };
        if let Some((p, offset, reason)) = torn {
            truncate(&p, offset, &reason)?;
            remove_files(dir, &live[i + 1..])?;
            report.dropped_segments = (live.len() - i - 1) as u64;
            report.truncated = Some((p, offset));
            break;
        }
        expected = Some(seg + 1);
    }
    tracing::info!(records = report.records, segments = report.segments, "WAL replayed");
    Ok(report)
}

/// Reads every record of one file into `f`; returns where and why it is torn, if it is.
fn read_file(
    p: &Path,
    f: &mut impl FnMut(&[u8]) -> Result<()>,
    report: &mut ReplayReport,
) -> Result<Option<(PathBuf, u64, String)>> {
    let mut reader = RecordReader::open(p)?;
    loop {
        match reader.next()? {
            Next::Record => {
                f(reader.record())?;
                report.records += 1;
                report.bytes += reader.record().len() as u64;
            }
            Next::End => return Ok(None),
            Next::Torn(reason) => return Ok(Some((p.to_path_buf(), reader.offset(), reason))),
        }
    }
}

/// Cuts `p` at `offset` (a missing file is fine) and logs why.
fn truncate(p: &Path, offset: u64, reason: &str) -> Result<()> {
    tracing::warn!(file = %p.display(), offset, reason, "WAL: torn or corrupt record, truncating the log here");
    match OpenOptions::new().write(true).open(p) {
        Ok(file) => {
            file.set_len(offset).map_err(|e| Error::io(p, e))?;
            file.sync_all().map_err(|e| Error::io(p, e))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// Path of segment `n` in `dir`.
pub(super) fn path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:08}"))
}

/// The number a segment file name stands for: at least 8 ASCII digits.
fn parse_number(name: &str) -> Option<u64> {
    (name.len() >= 8 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// Creates segment `n` for appending; fsyncs the directory entry when `durable`.
pub(super) fn create(dir: &Path, n: u64, durable: bool) -> Result<File> {
    let p = path(dir, n);
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&p)
        .map_err(|e| Error::io(&p, e))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(file)
}

/// Fsyncs a directory so renames, creations and deletions in it are durable.
pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Appends the framed `record` to `buf`.
pub(super) fn frame(record: &[u8], buf: &mut Vec<u8>) {
    let len = (record.len() as u32).to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(record);
    buf.extend_from_slice(&len);
    buf.extend_from_slice(&crc.finalize().to_le_bytes());
    buf.extend_from_slice(record);
}

/// Sorted numbers of the segment-named files in `dir`.
pub(super) fn numbered_files(dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if let Some(n) = entry.file_name().to_str().and_then(parse_number) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Deletes the numbered files `ns` in `dir` (missing ones are fine) and fsyncs `dir`.
pub(super) fn remove_files(dir: &Path, ns: &[u64]) -> Result<()> {
    for &n in ns {
        let p = path(dir, n);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(Error::io(&p, e)),
            _ => {}
        }
    }
    if ns.is_empty() { Ok(()) } else { sync_dir(dir) }
}

/// The entries of a WAL directory that matter.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// The WAL directory.
    pub dir: PathBuf,
    /// Segment numbers, ascending.
    pub segments: Vec<u64>,
    /// Checkpoint numbers, ascending.
    pub checkpoints: Vec<u64>,
    /// Unfinished checkpoint directories.
    pub tmp: Vec<PathBuf>,
}

impl Listing {
    pub fn read(dir: &Path) -> Result<Listing> {
        let mut l = Listing {
            dir: dir.to_path_buf(),
            segments: numbered_files(dir)?,
            ..Listing::default()
        };
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(CHECKPOINT_PREFIX)) else {
                continue;
            };
            if rest.ends_with(TMP_SUFFIX) {
                l.tmp.push(entry.path());
            } else if let Some(n) = parse_number(rest) {
                l.checkpoints.push(n);
            }
        }
        l.checkpoints.sort_unstable();
        Ok(l)
    }

    /// The newest checkpoint: number and directory.
    pub fn checkpoint(&self) -> Option<(u64, PathBuf)> {
        self.checkpoints.last().map(|&n| (n, checkpoint_dir(&self.dir, n)))
    }

    /// Removes unfinished checkpoints, superseded checkpoints and checkpointed segments.
    pub fn remove_leftovers(&self) -> Result<()> {
        let dir = &self.dir;
        let newest = self.checkpoints.last().copied();
        let old_checkpoints = self.checkpoints.iter().filter(|&&n| Some(n) != newest);
        let dirs: Vec<PathBuf> = self
            .tmp
            .iter()
            .cloned()
            .chain(old_checkpoints.map(|&n| checkpoint_dir(dir, n)))
            .collect();
        for d in &dirs {
            fs::remove_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        let stale: Vec<u64> = self
            .segments
            .iter()
            .copied()
            .filter(|&s| newest.is_some_and(|c| s <= c))
            .collect();
        remove_files(dir, &stale)?;
        if !dirs.is_empty() && stale.is_empty() {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Bytes of segments and checkpoints (0 for what cannot be read).
    pub fn size_bytes(&self) -> u64 {
        let dir = &self.dir;
        let len = |p: PathBuf| fs::metadata(p).map_or(0, |m| m.len());
        let segs: u64 = self.segments.iter().map(|&n| len(path(dir, n))).sum();
        let checkpoints = self
            .checkpoints
            .iter()
            .map(|&n| checkpoint_dir(dir, n))
            .map(|d| numbered_files(&d).map_or(0, |fs| fs.iter().map(|&n| len(path(&d, n))).sum::<u64>()));
        segs + checkpoints.sum::<u64>()
    }
}

/// Directory of checkpoint `n`.
pub(super) fn checkpoint_dir(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{n:08}"))
}

/// Outcome of [`RecordReader::next`].
pub(super) enum Next {
    /// A valid record is in [`RecordReader::record`].
    Record,
    /// Clean end of file.
    End,
    /// The bytes at [`RecordReader::offset`] are not a valid record; why.
    Torn(String),
}

/// Sequential reader of the records of one file, reusing one buffer.
pub(super) struct RecordReader {
    file: BufReader<File>,
    path: PathBuf,
    offset: u64,
    len: u64,
    buf: Vec<u8>,
}

impl RecordReader {
    pub fn open(p: &Path) -> Result<RecordReader> {
        let file = File::open(p).map_err(|e| Error::io(p, e))?;
        let len = file.metadata().map_err(|e| Error::io(p, e))?.len();
        let file = BufReader::with_capacity(256 << 10, file);
        Ok(RecordReader {
            file,
            path: p.to_path_buf(),
            offset: 0,
            len,
            buf: Vec::new(),
        })
    }

    /// Start of the next (or the torn) record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Payload of the record last returned as [`Next::Record`].
    pub fn record(&self) -> &[u8] {
        &self.buf
    }

    pub fn next(&mut self) -> Result<Next> {
        let left = self.len - self.offset;
        if left == 0 {
            return Ok(Next::End);
        }
        if left < RECORD_HEADER_LEN {
            return Ok(Next::Torn(format!(
                "{left} trailing bytes, shorter than a record header"
            )));
        }
        let mut head = [0u8; RECORD_HEADER_LEN as usize];
        if let Some(torn) = self.read_exact_or_torn(&mut head)? {
            return Ok(torn);
        }
        let (len, crc) = head.split_at(4);
        let (len, crc) = (
            u32::from_le_bytes([len[0], len[1], len[2], len[3]]),
            u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]),
        );
        if u64::from(len) > left - RECORD_HEADER_LEN {
            return Ok(Next::Torn(format!(
                "record length {len} exceeds the {} bytes left",
                left - RECORD_HEADER_LEN
            )));
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.resize(len as usize, 0);
        let torn = self.read_exact_or_torn(&mut buf);
        self.buf = buf;
        if let Some(torn) = torn? {
            return Ok(torn);
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&len.to_le_bytes());
        h.update(&self.buf);
        if h.finalize() != crc {
            return Ok(Next::Torn("checksum mismatch".to_string()));
        }
        self.offset += RECORD_HEADER_LEN + u64::from(len);
        Ok(Next::Record)
    }

    /// `read_exact`, with a file that shrank underneath counted as a torn record.
    fn read_exact_or_torn(&mut self, dst: &mut [u8]) -> Result<Option<Next>> {
        match self.file.read_exact(dst) {
            Ok(()) => Ok(None),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(Some(Next::Torn("short read".to_string()))),
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }
}
