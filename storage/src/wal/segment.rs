//! Segment files: naming, record framing, directory listing and replay.

use super::{RECORD_HEADER_LEN, resync};
use crate::error::{Error, Result};
use crate::quarantine;
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
    /// File and offset where a torn tail (an unfinished last record of the last segment) was
    /// cut off.
    pub truncated: Option<(PathBuf, u64)>,
    /// Records in damaged ranges that were skipped (walked by their length fields, so an
    /// estimate when a length field itself was damaged; at least one per range).
    pub skipped_records: u64,
    /// Bytes in damaged ranges that were skipped.
    pub skipped_bytes: u64,
    /// Copies of damaged files, kept in the store's quarantine before they were repaired.
    pub quarantined: Vec<PathBuf>,
    /// Segment numbers missing between the first and the last segment.
    pub missing_segments: u64,
}

/// Reads the newest checkpoint, then every later segment in order, calling `f` per record.
///
/// Damage does not end the log. A bad record in the middle of a file (checksum mismatch,
/// impossible length, a gap of garbage) is skipped: replay resynchronises at the next valid
/// frame and goes on with it and with every later segment. The damaged file is copied to
/// `<dir>/../quarantine/`, rewritten without the damaged bytes, and an ERROR line states the
/// records and bytes skipped ([`ReplayReport::skipped_records`], [`ReplayReport::skipped_bytes`]).
/// A torn tail — the unfinished last record of the last segment — is cut off and logged as a
/// warning ([`ReplayReport::truncated`]). Missing segment numbers are logged and counted; the
/// segments after the gap are still replayed. Leftovers of an interrupted checkpoint or repair
/// are removed. A missing `dir` is an empty log. Errors from `f` and I/O errors propagate.
#[tracing::instrument(skip_all, fields(dir = %dir.display()))]
pub fn replay(dir: &Path, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<ReplayReport> {
    let mut report = ReplayReport::default();
    if !dir.exists() {
        return Ok(report);
    }
    let listing = Listing::read(dir)?;
    listing.remove_leftovers()?;
    resync::remove_leftovers(dir)?;
    let checkpoint = listing.checkpoint();
    if let Some((n, cdir)) = &checkpoint {
        report.checkpoint = Some(*n);
        resync::remove_leftovers(cdir)?;
        for file in numbered_files(cdir)? {
            // A checkpoint is never being appended to: any damage in it is damage, not a tail.
            let name = format!("{CHECKPOINT_PREFIX}{n:08}.{file:08}");
            read_or_repair(&path(cdir, file), &name, false, &mut f, &mut report)?;
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
        if let Some(e) = expected
            && e != seg
        {
            tracing::error!(
                dir = %dir.display(),
                first_missing = e,
                last_missing = seg - 1,
                "WAL segments are missing; their records are lost, replaying the later segments"
            );
            report.missing_segments += seg - e;
        }
        report.segments += 1;
        let name = format!("{seg:08}");
        read_or_repair(&path(dir, seg), &name, i + 1 == live.len(), &mut f, &mut report)?;
        expected = Some(seg + 1);
    }
    tracing::info!(records = report.records, segments = report.segments, "WAL replayed");
    Ok(report)
}

/// Replays one file; on damage, resynchronises, quarantines a copy (as `name`) and repairs it
/// (see [`replay`]). `last` marks the last segment, whose damaged end is a torn tail.
fn read_or_repair(
    p: &Path,
    name: &str,
    last: bool,
    f: &mut impl FnMut(&[u8]) -> Result<()>,
    report: &mut ReplayReport,
) -> Result<()> {
    let Some((first_bad, reason, largest)) = read_file(p, f, report)? else {
        return Ok(());
    };
    let scan = resync::scan(p, first_bad, largest, f)?;
    report.records += scan.records;
    report.bytes += scan.bytes;
    let mut damaged = scan.damaged;
    let tail = if last && damaged.last().is_some_and(|r| r.end == scan.len) {
        damaged.pop()
    } else {
        None
    };
    if damaged.is_empty() {
        if let Some(t) = tail {
            truncate(p, t.start, &reason)?;
            report.truncated = Some((p.to_path_buf(), t.start));
        }
        return Ok(());
    }
    let copy = quarantine::copy_in(p, name)?;
    let (mut records, mut exact, mut bytes) = (0u64, true, 0u64);
    for r in &damaged {
        let (n, ex) = resync::records_in(p, *r)?;
        records += n;
        exact &= ex;
        bytes += r.end - r.start;
    }
    resync::rewrite(p, &scan.keep)?;
    report.skipped_records += records;
    report.skipped_bytes += bytes;
    report.quarantined.push(copy.clone());
    tracing::error!(
        file = %p.display(),
        offset = first_bad,
        reason,
        ranges = damaged.len(),
        skipped_records = records,
        records_exact = exact,
        skipped_bytes = bytes,
        recovered_after = scan.records,
        quarantined_copy = %copy.display(),
        "WAL: damaged records skipped; the valid records after them were replayed and the file repaired"
    );
    if let Some(t) = tail {
        let kept: u64 = scan.keep.iter().map(|r| r.end - r.start).sum();
        tracing::warn!(file = %p.display(), offset = t.start, "WAL: torn tail cut off");
        report.truncated = Some((p.to_path_buf(), kept));
    }
    Ok(())
}

/// Reads every record of one file into `f`; if a record is bad, returns its offset, why, and
/// the largest payload read before it.
fn read_file(
    p: &Path,
    f: &mut impl FnMut(&[u8]) -> Result<()>,
    report: &mut ReplayReport,
) -> Result<Option<(u64, String, u64)>> {
    let mut reader = RecordReader::open(p)?;
    let mut largest = 0u64;
    loop {
        match reader.next()? {
            Next::Record => {
                f(reader.record())?;
                let n = reader.record().len() as u64;
                report.records += 1;
                report.bytes += n;
                largest = largest.max(n);
            }
            Next::End => return Ok(None),
            Next::Torn(reason) => return Ok(Some((reader.offset(), reason, largest))),
        }
    }
}

/// Cuts `p` at `offset` (a missing file is fine) and logs why.
fn truncate(p: &Path, offset: u64, reason: &str) -> Result<()> {
    tracing::warn!(file = %p.display(), offset, reason, "WAL: torn tail, truncating the last segment here");
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
